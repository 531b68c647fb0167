package events

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/storage"
	"jifen/tenants/ledger"
	"jifen/tenants/members"
	"jifen/tenants/rules"
)

// Service processes and lists events.
type Service struct {
	DB      *storage.DB
	Members *members.Store
	Ledger  *ledger.Service
	Rules   *rules.Service
	// Multiplier gives the member's tier and multiplier; nil means every
	// member earns 1x and has no tier.
	Multiplier Multiplier
	Clock      platform.Clock
}

// maxReasonRunes bounds the reason written on ledger entries.
const maxReasonRunes = 200

// Ingest validates an event and processes it in one transaction (joining
// the context's, such as the one of an Idempotency-Key): it takes the
// member's lock, evaluates the tenant's rules, credits the awards, and
// stores the event and its awards. It returns validation_failed for a bad
// event, not_found for a member (or refunded order) not in the tenant, and
// conflict for an order already paid, a refund already made or a second
// member_registered.
func (s *Service) Ingest(ctx context.Context, req Request) (Result, error) {
	now := s.Clock.Now()
	p, err := parse(req, now)
	if err != nil {
		return Result{}, err
	}
	var out Result
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		m, err := s.resolveMember(ctx, req)
		if err != nil {
			return err
		}
		if p.typ == TypeOrderRefunded {
			out, err = s.refund(ctx, m, p, now)
		} else {
			out, err = s.process(ctx, m, p, now)
		}
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return out, nil
}

// resolveMember finds the member the request names; both ids must agree
// when both are given.
func (s *Service) resolveMember(ctx context.Context, req Request) (members.Member, error) {
	id, ext := strings.TrimSpace(req.MemberID), strings.TrimSpace(req.ExternalID)
	if id == "" {
		return s.Members.FindMemberByExternalID(ctx, ext)
	}
	m, err := s.Members.FindMemberByID(ctx, id)
	if err != nil {
		return members.Member{}, err
	}
	if ext != "" && m.ExternalID != ext {
		return members.Member{}, platform.FieldErrors{"external_id": "names another member than member_id; send one of them"}.Err()
	}
	return m, nil
}

// lockMembers takes the members' locks in id order, so two transactions
// that lock the same pair can't deadlock, and returns them by id.
func (s *Service) lockMembers(ctx context.Context, idList ...string) (map[string]members.Member, error) {
	sorted := append([]string(nil), idList...)
	sort.Strings(sorted)
	out := make(map[string]members.Member, len(sorted))
	for _, id := range sorted {
		if _, ok := out[id]; ok {
			continue
		}
		m, err := s.Members.LockMember(ctx, id)
		if err != nil {
			return nil, err
		}
		out[id] = m
	}
	return out, nil
}

// process handles every event but refunds: the rules decide what it earns.
func (s *Service) process(ctx context.Context, m members.Member, p parsed, now time.Time) (Result, error) {
	st := store{s.DB}
	// A referee's paid order may complete the referral and credit the
	// referrer too, so both locks are taken up front, in order.
	lockIDs := []string{m.ID}
	var link *referralRow
	if p.typ == TypeOrderPaid {
		var err error
		if link, err = st.findReferral(ctx, m.ID); err != nil {
			return Result{}, err
		}
		if link != nil && link.Status == referralPending {
			lockIDs = append(lockIDs, link.ReferrerMemberID)
		}
	}
	locked, err := s.lockMembers(ctx, lockIDs...)
	if err != nil {
		return Result{}, err
	}
	m = locked[m.ID]

	sp := earnSpec{typ: p.typ, occurredAt: p.occurredAt, attrs: p.attrs}
	var firstOrder bool
	switch p.typ {
	case TypeOrderPaid:
		// The referral link is read again under the lock: it may have been
		// made meanwhile.
		o, err := st.findOrderFacts(ctx, m.ID, p.orderID, localDate(ctx, p.occurredAt))
		if err != nil {
			return Result{}, err
		}
		if o.paidEventID != "" {
			return Result{}, orderConflict(p.orderID, o.paidEventID)
		}
		link = o.link
		sp.streak = &o.streak
		if link != nil && link.Status == referralPending {
			has, err := st.memberHasOrders(ctx, m.ID)
			if err != nil {
				return Result{}, err
			}
			firstOrder = !has
			if _, ok := locked[link.ReferrerMemberID]; !ok {
				more, err := s.lockMembers(ctx, link.ReferrerMemberID)
				if err != nil {
					return Result{}, err
				}
				locked[link.ReferrerMemberID] = more[link.ReferrerMemberID]
			}
		}
		sp.orderID = p.orderID
		sp.details.Order = &OrderDetails{AmountCents: p.amountCents}
		days, err := s.Ledger.PointsPendingDays(ctx)
		if err != nil {
			return Result{}, err
		}
		if days > 0 {
			if until := p.occurredAt.AddDate(0, 0, days); until.After(now) {
				sp.pendingUntil = until
				sp.details.Order.PendingUntil = &until
			}
		}
	case TypeMemberRegistered:
		sp.uniqueKey = "member_registered:" + m.ID
		if id, err := st.findByUniqueKey(ctx, sp.uniqueKey); err != nil {
			return Result{}, err
		} else if id != "" {
			return Result{}, (&platform.Error{Code: platform.EConflict,
				Message: "This member's member_registered event was already processed."}).
				WithDetails(map[string]any{"event_id": id})
		}
	case TypeBirthday:
		// One birthday award per member per year, in the tenant's zone,
		// whether the scheduler or the merchant's system sends it.
		loc := tenantLocation(ctx)
		year := p.occurredAt.In(loc).Year()
		sp.uniqueKey = fmt.Sprintf("birthday:%s:%d", m.ID, year)
		if id, err := st.findByUniqueKey(ctx, sp.uniqueKey); err != nil {
			return Result{}, err
		} else if id != "" {
			return Result{}, (&platform.Error{Code: platform.EConflict,
				Message: fmt.Sprintf("This member's birthday in %d was already processed.", year)}).
				WithDetails(map[string]any{"event_id": id})
		}
	case TypeCheckIn:
		ci, err := s.checkIn(ctx, m.ID, p.occurredAt)
		if err != nil {
			return Result{}, err
		}
		sp.details.CheckIn = ci
		sp.streak = &ci.Streak
		if ci.Repeated {
			sp.skipRules = true
			sp.note = "Already checked in on " + ci.LocalDate + " (the tenant's local day); a second check-in on one day earns nothing."
		}
	}

	var referrer *members.Member
	if p.typ == TypeMemberRegistered && (p.referrerMemberID != "" || p.referrerExternalID != "") {
		r, err := s.validReferrer(ctx, m, p)
		if err != nil {
			return Result{}, err
		}
		referrer = &r
		sp.details.Referral = &ReferralDetails{ReferrerMemberID: r.ID, RefereeMemberID: m.ID}
	}

	res, err := s.earn(ctx, m, sp, "", now)
	if err != nil {
		return Result{}, err
	}

	switch p.typ {
	case TypeOrderPaid:
		o := orderRow{
			TenantID: platform.TenantID(ctx), OrderID: p.orderID, MemberID: m.ID, EventID: res.EventID,
			AmountCents: p.amountCents, Points: res.PointsDelta, Growth: res.GrowthDelta,
			CreatedAt: now, UpdatedAt: now,
		}
		if p.hasUsed {
			o.PointsUsed = &p.pointsUsed
		}
		if err := st.insert(ctx, "order", &o); err != nil {
			if platform.IsCode(err, platform.EConflict) {
				// Another member's event for the same order won the race.
				return Result{}, orderConflict(p.orderID, "")
			}
			return Result{}, err
		}
		if link != nil && link.Status == referralPending {
			related, err := s.completeReferral(ctx, link, locked, firstOrder, res.EventID, p, now)
			if err != nil {
				return Result{}, err
			}
			res.Related = related
		}
	case TypeMemberRegistered:
		if referrer != nil {
			has, err := st.memberHasOrders(ctx, m.ID)
			if err != nil {
				return Result{}, err
			}
			status := referralPending
			if has {
				status = referralLapsed
			}
			err = st.insert(ctx, "referral", &referralRow{
				TenantID: platform.TenantID(ctx), RefereeMemberID: m.ID, ReferrerMemberID: referrer.ID,
				Status: status, RegisteredEventID: res.EventID, CreatedAt: now, UpdatedAt: now,
			})
			if err != nil {
				return Result{}, err
			}
		}
	case TypeCheckIn:
		if ci := sp.details.CheckIn; !ci.Repeated {
			err := st.insert(ctx, "check-in", &checkinRow{
				TenantID: platform.TenantID(ctx), MemberID: m.ID, LocalDate: ci.LocalDate, Streak: ci.Streak, EventID: res.EventID,
			})
			if err != nil {
				return Result{}, err
			}
		}
	}
	return res, nil
}

func orderConflict(orderID, eventID string) error {
	d := map[string]any{"order_id": orderID}
	if eventID != "" {
		d["event_id"] = eventID
	}
	return (&platform.Error{Code: platform.EConflict,
		Message: "An order_paid event for this order_id was already processed; an order earns once."}).WithDetails(d)
}

// earnSpec says how to process one event that the rules evaluate.
type earnSpec struct {
	typ        string
	occurredAt time.Time
	attrs      map[string]any
	// streak is the member's check-in streak for the rules when the
	// caller read it already (a check-in, a paid order); nil: work it out
	// from the member's check-ins.
	streak *int64
	// skipRules records the event without evaluating (a repeated check-in).
	skipRules    bool
	note         string
	orderID      string
	pendingUntil time.Time
	uniqueKey    string
	details      Details
}

// earn evaluates the rules for one event of m, credits the total, and
// stores the event with its awards.
func (s *Service) earn(ctx context.Context, m members.Member, sp earnSpec, parentID string, now time.Time) (Result, error) {
	res := Result{EventID: ids.NewAt(now), MemberID: m.ID, Type: sp.typ, Note: sp.note,
		Awards: []rules.Award{}, RuleErrors: []rules.RuleError{}}
	if !sp.skipRules {
		facts, permille, err := s.facts(ctx, m, sp)
		if err != nil {
			return Result{}, err
		}
		awards, ruleErrs, err := s.Rules.Evaluate(ctx, rules.Input{
			EventType: sp.typ, OccurredAt: sp.occurredAt, Attributes: sp.attrs, Member: facts, Now: now,
		}, permille, Usage{DB: s.DB})
		if err != nil {
			return Result{}, err
		}
		if ruleErrs != nil {
			res.RuleErrors = ruleErrs
		}
		for _, a := range awards {
			// A formula can compute a negative number; an award never takes
			// points away (refunds and adjustments do), so it is reported.
			if a.Points < 0 || a.Growth < 0 {
				res.RuleErrors = append(res.RuleErrors, rules.RuleError{RuleID: a.RuleID, Message: fmt.Sprintf(
					"the rule computed points %d and growth %d; an award can't be negative, so it was skipped", a.Points, a.Growth)})
				continue
			}
			res.Awards = append(res.Awards, a)
		}
	}
	names := make([]string, 0, len(res.Awards))
	for _, a := range res.Awards {
		res.PointsDelta += a.Points
		res.GrowthDelta += a.Growth
		if a.Points > 0 || a.Growth > 0 {
			names = append(names, a.RuleName)
		}
	}
	if res.PointsDelta > 0 || res.GrowthDelta > 0 {
		_, err := s.Ledger.CreditEntry(ctx, ledger.Credit{
			MemberID: m.ID, Points: res.PointsDelta, Growth: res.GrowthDelta, Kind: ledger.KindEarn,
			Reason: clip(sp.typ+": "+strings.Join(names, ", "), maxReasonRunes), Ref: "event:" + res.EventID,
			OrderID: sp.orderID, PendingUntil: sp.pendingUntil,
		})
		if err != nil {
			return Result{}, err
		}
	}
	row := eventRow{
		TenantID: platform.TenantID(ctx), ID: res.EventID, MemberID: m.ID, Type: sp.typ,
		OccurredAt: sp.occurredAt, ReceivedAt: now, PointsDelta: res.PointsDelta, GrowthDelta: res.GrowthDelta,
		OrderID: optional(sp.orderID), ParentEventID: optional(parentID), UniqueKey: optional(sp.uniqueKey),
		Note: clip(sp.note, 500),
	}
	if err := s.insertEvent(ctx, &row, sp.attrs, sp.details, res.RuleErrors); err != nil {
		return Result{}, err
	}
	for _, a := range res.Awards {
		err := store{s.DB}.insert(ctx, "award", &awardRow{
			TenantID: row.TenantID, EventID: row.ID, RuleID: a.RuleID, MemberID: m.ID, RuleName: clip(a.RuleName, 200),
			Points: a.Points, Growth: a.Growth, Capped: a.Capped, Note: clip(a.Note, 500), AwardedAt: now,
		})
		if err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// insertEvent stores an event row with its JSON columns.
func (s *Service) insertEvent(ctx context.Context, row *eventRow, attrs map[string]any, d Details, ruleErrs []rules.RuleError) error {
	var err error
	if row.Attributes, err = encodeStored(attrs); err != nil {
		return err
	}
	if row.Details, err = encodeStored(d); err != nil {
		return err
	}
	if row.RuleErrors, err = encodeStored(ruleErrs); err != nil {
		return err
	}
	return store{s.DB}.insert(ctx, "event", row)
}

// facts gathers what the rules may know of the member, and the member's
// multiplier at the time of the event.
func (s *Service) facts(ctx context.Context, m members.Member, sp earnSpec) (rules.MemberFacts, int64, error) {
	bal, err := s.Ledger.BalanceOf(ctx, m.ID)
	if err != nil {
		return rules.MemberFacts{}, 0, err
	}
	permille, tier := int64(1000), ""
	if s.Multiplier != nil {
		if permille, tier, err = s.Multiplier.MultiplierOf(ctx, m.ID, sp.occurredAt); err != nil {
			return rules.MemberFacts{}, 0, err
		}
	}
	var streak int64
	if sp.streak != nil {
		streak = *sp.streak
	} else if streak, err = s.currentStreak(ctx, m.ID, sp.occurredAt); err != nil {
		return rules.MemberFacts{}, 0, err
	}
	return rules.MemberFacts{
		ID: m.ID, Tier: tier, Growth: bal.Growth, Points: bal.Available, Birthday: m.Birthday,
		CreatedAt: m.CreatedAt.UTC(), CheckinStreak: streak,
	}, permille, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// clip cuts s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// GetEvent returns one event with its awards and rule errors; not_found
// when it is not in the tenant.
func (s *Service) GetEvent(ctx context.Context, id string) (Event, error) {
	return store{s.DB}.findEvent(ctx, id)
}

// FindEvents lists the tenant's events, newest first, with their awards.
func (s *Service) FindEvents(ctx context.Context, f Filter) ([]Event, string, error) {
	return store{s.DB}.findEvents(ctx, f)
}
