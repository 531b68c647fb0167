package events

import (
	"context"
	"time"

	"jifen/platform"
	"jifen/tenants/members"
)

// validReferrer finds the referrer a member_registered event names and
// checks the link may be made.
func (s *Service) validReferrer(ctx context.Context, m members.Member, p parsed) (members.Member, error) {
	field, find, key := "attributes.referrer_member_id", s.Members.FindMemberByID, p.referrerMemberID
	if key == "" {
		field, find, key = "attributes.referrer_external_id", s.Members.FindMemberByExternalID, p.referrerExternalID
	}
	r, err := find(ctx, key)
	if platform.IsCode(err, platform.ENotFound) {
		return members.Member{}, platform.FieldErrors{field: "names no member of this tenant"}.Err()
	}
	if err != nil {
		return members.Member{}, err
	}
	if r.ID == m.ID {
		return members.Member{}, platform.FieldErrors{field: "names the member itself; a member can't refer themselves"}.Err()
	}
	back, err := store{s.DB}.findReferral(ctx, r.ID)
	if err != nil {
		return members.Member{}, err
	}
	if back != nil && back.ReferrerMemberID == m.ID {
		return members.Member{}, platform.FieldErrors{field: "names a member this member referred; two members can't refer each other"}.Err()
	}
	return r, nil
}

// completeReferral closes a pending referral at the referee's paid order:
// on the referee's first paid order it emits a referral_completed event
// for the referrer and one for the referee, each evaluated by the rules;
// on a later order (the referee had paid before the link was made) the
// link lapses.
func (s *Service) completeReferral(ctx context.Context, link *referralRow, locked map[string]members.Member,
	firstOrder bool, orderEventID string, p parsed, now time.Time) ([]Result, error) {
	st := store{s.DB}
	if !firstOrder {
		return nil, st.closeReferral(ctx, link.RefereeMemberID, referralLapsed, nil, now)
	}
	var out []Result
	for _, side := range []struct {
		role     string
		memberID string
	}{
		{RoleReferrer, link.ReferrerMemberID},
		{RoleReferee, link.RefereeMemberID},
	} {
		d := ReferralDetails{ReferrerMemberID: link.ReferrerMemberID, RefereeMemberID: link.RefereeMemberID, Role: side.role}
		res, err := s.earn(ctx, locked[side.memberID], earnSpec{
			typ: TypeReferralCompleted, occurredAt: p.occurredAt,
			attrs: map[string]any{
				"role": side.role, "referrer_member_id": d.ReferrerMemberID, "referee_member_id": d.RefereeMemberID,
				"order_id": p.orderID,
			},
			uniqueKey: "referral_completed:" + link.RefereeMemberID + ":" + side.role,
			details:   Details{Referral: &d},
		}, orderEventID, now)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, st.closeReferral(ctx, link.RefereeMemberID, referralCompleted, &orderEventID, now)
}
