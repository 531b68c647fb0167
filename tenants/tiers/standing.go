package tiers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/tenants/members"
)

// tierGrowth returns the member's growth that counts for tiers at t under
// the settings: all of it, or what the rolling window ending at t holds
// (growth gained after t counts too, in the member's favour).
func (s *Service) tierGrowth(ctx context.Context, set settingsRow, memberID string, t time.Time) (int64, error) {
	if set.Basis == BasisRolling {
		return s.Growth.GrowthSince(ctx, memberID, windowStart(t, set.WindowMonths, location(ctx)))
	}
	return s.Growth.GrowthOf(ctx, memberID)
}

// growthAt returns the growth of a member that counts for tiers at t.
type growthAt func(memberID string, t time.Time) (int64, error)

// growthOneByOne reads the growth that counts for tiers one member at a
// time, with the settings' basis.
func (s *Service) growthOneByOne(ctx context.Context, set settingsRow) growthAt {
	return func(memberID string, t time.Time) (int64, error) {
		return s.tierGrowth(ctx, set, memberID, t)
	}
}

// pageGrowth reads the growth that counts for tiers of a page of members
// (rows holds their tier states) in as few queries as it can: when the
// GrowthReader is a GrowthBatchReader, one query for all of them under the
// lifetime basis; under a rolling window, one for the window ending now and,
// when any member has an earned tier to keep, one for the window ending at
// the next evaluation, the only two times standing asks about. Otherwise
// each member's growth is read on its own.
func (s *Service) pageGrowth(ctx context.Context, ladder Ladder, set settingsRow, rows map[string]memberTierRow, memberIDs []string, now time.Time) (growthAt, error) {
	batch, ok := s.Growth.(GrowthBatchReader)
	if !ok {
		return s.growthOneByOne(ctx, set), nil
	}
	if set.Basis != BasisRolling {
		g, err := batch.GrowthOfMembers(ctx, memberIDs)
		if err != nil {
			return nil, err
		}
		return func(memberID string, _ time.Time) (int64, error) { return g[memberID], nil }, nil
	}
	times := []time.Time{now}
	for _, id := range memberIDs {
		if ladder.earned(rows[id].TierID) != nil {
			times = append(times, nextEvaluation(ctx, set, now))
			break
		}
	}
	growth := make([]map[string]int64, len(times))
	for i, t := range times {
		g, err := batch.GrowthSinceMembers(ctx, memberIDs, windowStart(t, set.WindowMonths, location(ctx)))
		if err != nil {
			return nil, err
		}
		growth[i] = g
	}
	return func(memberID string, t time.Time) (int64, error) {
		for i, at := range times {
			if at.Equal(t) {
				return growth[i][memberID], nil
			}
		}
		return 0, fmt.Errorf("tiers: growth at %s was not read for the page", t.Format(time.RFC3339))
	}, nil
}

// nextEvaluation returns when the tenant's next evaluation is due, the time
// at which a member's standing projects the growth that keeps a tier.
func nextEvaluation(ctx context.Context, set settingsRow, now time.Time) time.Time {
	return schedule{set.EvaluationPeriod, location(ctx)}.nextEvaluation(set.EvaluatedThrough, now)
}

// GrowthChanged implements the ledger's GrowthObserver: inside the
// transaction that changed the member's growth (the ledger holds the
// member's lock), it moves the member up at once when the growth that
// counts reaches a higher tier. It never moves anyone down; that happens
// only at the periodic evaluation.
func (s *Service) GrowthChanged(ctx context.Context, memberID string, growth int64) error {
	return s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		ladder, err := s.Store.FindLadder(ctx)
		if err != nil || len(ladder) == 0 {
			return err
		}
		set, _, err := s.Store.FindSettings(ctx)
		if err != nil {
			return err
		}
		now := s.Clock.Now()
		g := growth
		if set.Basis == BasisRolling {
			if g, err = s.tierGrowth(ctx, set, memberID, now); err != nil {
				return err
			}
		}
		r, err := s.Store.FindMemberTier(ctx, memberID)
		if err != nil {
			return err
		}
		if up := ladder.upgradeTo(ladder.earned(r.TierID), g); up != nil {
			return s.upgrade(ctx, ladder, &r, up, g, now)
		}
		return nil
	})
}

// upgrade moves the member's earned tier up to to, issues the tier's
// upgrade coupon and records the change, all in the context's transaction. A coupon the
// mall refuses (a template removed or switched off) is left out and noted
// in the history rather than failing the change of growth that caused the
// upgrade: a coupon setting must never block members' points. Any other
// error fails it all.
func (s *Service) upgrade(ctx context.Context, ladder Ladder, r *memberTierRow, to *Tier, g int64, now time.Time) error {
	from := ladder.earned(r.TierID)
	r.TierID, r.TierSince, r.AtRiskSince, r.DowngradeAt, r.UpdatedAt = to.ID, &now, nil, nil, now
	if err := s.Store.SaveMemberTier(ctx, r); err != nil {
		return err
	}
	reason := fmt.Sprintf("growth %d reached %d", g, to.GrowthThreshold)
	if tpl := to.Benefits.UpgradeCouponTemplateID; tpl != "" && s.Coupons != nil {
		err := s.Store.DB.Savepoint(ctx, "tier_upgrade_coupon", func(ctx context.Context) error {
			return s.Coupons.IssueCoupon(ctx, r.MemberID, tpl, truncate("tier upgrade: "+to.Name, maxReasonLen))
		})
		switch platform.ErrorCode(err) {
		case "":
		case platform.EInternal:
			return err
		default:
			reason += "; upgrade coupon not issued: " + platform.ErrorMessage(err)
			slog.WarnContext(ctx, "tier upgrade coupon not issued", "tenant_id", platform.TenantID(ctx),
				"member_id", r.MemberID, "tier_id", to.ID, "template_id", tpl, "err", err.Error())
		}
	}
	return s.addHistory(ctx, r.MemberID, KindUpgrade, from, to, g, truncate(reason, maxReasonLen), nil, now)
}

// addHistory appends to the member's tier history. The caller holds the
// member's lock, so entries written in one instant still list in the order
// they happened: a new id sorts after the member's last one.
func (s *Service) addHistory(ctx context.Context, memberID, kind string, from, to *Tier, g int64, reason string, until *time.Time, now time.Time) error {
	id := ids.NewAt(now)
	last, err := s.Store.LastHistoryID(ctx, memberID)
	if err != nil {
		return err
	}
	if id <= last {
		u, err := ulid.ParseStrict(strings.ToUpper(last))
		if err != nil {
			return fmt.Errorf("tier history id %q: %w", last, err)
		}
		id = ids.NewAt(ulid.Time(u.Time()).Add(time.Millisecond))
	}
	return s.Store.AddHistory(ctx, HistoryEntry{
		ID: id, MemberID: memberID, Kind: kind, From: ref(from), To: ref(to),
		Growth: g, Reason: reason, Until: until, CreatedAt: now,
	})
}

// MemberTiers implements members.TierReader: the tier and progress of each
// member of the context's tenant. A tenant without a ladder returns an
// empty map; with one, every member is present (with a nil tier and the
// road to the first tier when it holds none).
func (s *Service) MemberTiers(ctx context.Context, memberIDs []string) (map[string]members.TierStanding, error) {
	out := make(map[string]members.TierStanding, len(memberIDs))
	if len(memberIDs) == 0 {
		return out, nil
	}
	ladder, err := s.Store.FindLadder(ctx)
	if err != nil || len(ladder) == 0 {
		return out, err
	}
	set, _, err := s.Store.FindSettings(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.Store.FindMemberTiers(ctx, memberIDs)
	if err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	growth, err := s.pageGrowth(ctx, ladder, set, rows, memberIDs, now)
	if err != nil {
		return nil, err
	}
	for _, id := range memberIDs {
		r, ok := rows[id]
		if !ok {
			r = memberTierRow{MemberID: id}
		}
		mt, err := s.standing(ctx, ladder, set, r, now, growth)
		if err != nil {
			return nil, err
		}
		st := members.TierStanding{Progress: mt.Progress}
		if mt.Tier != nil {
			st.Tier = &members.TierRef{ID: mt.Tier.ID, Name: mt.Tier.Name}
		}
		out[id] = st
	}
	return out, nil
}

// standing describes a member's place on the ladder at now, with the
// growth that counts read through growth.
func (s *Service) standing(ctx context.Context, ladder Ladder, set settingsRow, r memberTierRow, now time.Time, growth growthAt) (MemberTier, error) {
	out := MemberTier{MemberID: r.MemberID, Tier: brief(ladder.effective(r, now))}
	if ov := ladder.byID(r.overrideAt(now)); ov != nil {
		until := r.OverrideUntil.UTC()
		out.Override = &Override{TierID: ov.ID, TierName: ov.Name, Until: until, Reason: r.OverrideReason}
		out.Progress.OverrideUntil = &until
	}
	g, err := growth(r.MemberID, now)
	if err != nil {
		return MemberTier{}, err
	}
	earned := ladder.earned(r.TierID)
	p := &out.Progress
	p.EarnedTier, p.TierGrowth = brief(earned), g
	if next := ladder.above(earned); next != nil {
		p.NextTier = &NextTier{ID: next.ID, Name: next.Name, GrowthNeeded: max(0, next.GrowthThreshold-g)}
	}
	if earned == nil {
		return out, nil
	}
	// What counts at the next evaluation: under a rolling window, growth
	// older than the window then has dropped out.
	sch := schedule{set.EvaluationPeriod, location(ctx)}
	nextEval := nextEvaluation(ctx, set, now)
	projected := g
	if set.Basis == BasisRolling {
		if projected, err = growth(r.MemberID, nextEval); err != nil {
			return MemberTier{}, err
		}
	}
	if projected >= earned.KeepThreshold {
		return out, nil
	}
	p.AtRisk, p.KeepGrowthNeeded = true, earned.KeepThreshold-projected
	at := sch.atOrAfter(nextEval.AddDate(0, 0, set.GraceDays))
	if r.DowngradeAt != nil {
		at = r.DowngradeAt.UTC()
	}
	p.DowngradeAt = &at
	return out, nil
}

// MemberTier returns the member's place on the ladder; not_found when the
// member is not in the tenant.
func (s *Service) MemberTier(ctx context.Context, memberID string) (MemberTier, error) {
	if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
		return MemberTier{}, err
	}
	ladder, err := s.Store.FindLadder(ctx)
	if err != nil {
		return MemberTier{}, err
	}
	set, _, err := s.Store.FindSettings(ctx)
	if err != nil {
		return MemberTier{}, err
	}
	r, err := s.Store.FindMemberTier(ctx, memberID)
	if err != nil {
		return MemberTier{}, err
	}
	return s.standing(ctx, ladder, set, r, s.Clock.Now(), s.growthOneByOne(ctx, set))
}

// effectiveTier returns the member and the tier that applies to it at t
// (nil for none); not_found when the member is not in the tenant.
func (s *Service) effectiveTier(ctx context.Context, memberID string, t time.Time) (members.Member, *Tier, error) {
	m, err := s.Members.FindMemberByID(ctx, memberID)
	if err != nil {
		return members.Member{}, nil, err
	}
	ladder, err := s.Store.FindLadder(ctx)
	if err != nil || len(ladder) == 0 {
		return m, nil, err
	}
	r, err := s.Store.FindMemberTier(ctx, memberID)
	if err != nil {
		return m, nil, err
	}
	return m, ladder.effective(r, t), nil
}

// MultiplierOf returns the points multiplier (in permille) and the tier
// name that apply to the member at t, for the rules engine: 1000 and "" for
// a member without a tier. On the member's birthday (the local date in the
// tenant's zone) the tier's birthday multiplier applies instead when it is
// larger. It returns not_found when the member is not in the tenant.
func (s *Service) MultiplierOf(ctx context.Context, memberID string, at time.Time) (permille int64, tierName string, err error) {
	m, t, err := s.effectiveTier(ctx, memberID, at)
	if err != nil {
		return 0, "", err
	}
	if t == nil {
		return BasePermille, "", nil
	}
	p := t.Multiplier
	if t.Benefits.BirthdayMultiplier > p && isBirthday(m.Birthday, at.In(location(ctx))) {
		p = t.Benefits.BirthdayMultiplier
	}
	return p, t.Name, nil
}

// isBirthday reports whether the local date of at is the birthday
// (YYYY-MM-DD). A 29 February birthday falls on 28 February in other
// years.
func isBirthday(birthday string, at time.Time) bool {
	b, err := time.Parse("2006-01-02", birthday)
	if err != nil {
		return false
	}
	m, d := b.Month(), b.Day()
	if m == time.February && d == 29 && !isLeap(at.Year()) {
		d = 28
	}
	return at.Month() == m && at.Day() == d
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// MemberTierRank returns the rank of the tier that applies to the member
// now and its id, for the mall's items with a min_tier_rank: rank 0 and "" for a
// member without a tier, higher is better. It returns not_found when the
// member is not in the tenant.
func (s *Service) MemberTierRank(ctx context.Context, memberID string) (rank int, tierID string, err error) {
	_, t, err := s.effectiveTier(ctx, memberID, s.Clock.Now())
	if err != nil || t == nil {
		return 0, "", err
	}
	return t.Rank, t.ID, nil
}

// TierRank returns the rank of a tier; not_found when it is not in the
// tenant.
func (s *Service) TierRank(ctx context.Context, tierID string) (int, error) {
	t, err := s.Store.FindTierByID(ctx, tierID)
	if err != nil {
		return 0, err
	}
	return t.Rank, nil
}

// SetOverride puts the member on a tier by hand until a time, whatever the
// growth says; the earned tier keeps moving underneath and applies again
// when the override ends. Recorded in the audit log and the tier history.
// It returns validation_failed for bad fields or an unknown tier and
// not_found when the member is not in the tenant.
func (s *Service) SetOverride(ctx context.Context, memberID string, in OverrideInput) (MemberTier, error) {
	now := s.Clock.Now()
	fe := platform.FieldErrors{}
	tierID := strings.TrimSpace(deref(in.TierID))
	if tierID == "" {
		fe.Add("tier_id", "is required")
	}
	var until time.Time
	if in.Until == nil {
		fe.Add("until", "is required: an RFC 3339 time such as 2026-12-31T16:00:00Z")
	} else if u, err := time.Parse(time.RFC3339, *in.Until); err != nil {
		fe.Add("until", "must be an RFC 3339 time such as 2026-12-31T16:00:00Z")
	} else if until = u.UTC().Truncate(time.Microsecond); !until.After(now) {
		fe.Add("until", "must be in the future")
	} else if until.After(now.AddDate(maxOverrideYears, 0, 0)) {
		fe.Add("until", fmt.Sprintf("must be at most %d years ahead", maxOverrideYears))
	}
	reason := strings.TrimSpace(deref(in.Reason))
	if n := utf8.RuneCountInString(reason); n == 0 || n > maxReasonLen {
		fe.Add("reason", fmt.Sprintf("is required: 1 to %d characters", maxReasonLen))
	}
	if err := fe.Err(); err != nil {
		return MemberTier{}, err
	}
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		if _, err := s.Members.LockMember(ctx, memberID); err != nil {
			return err
		}
		ladder, err := s.Store.FindLadder(ctx)
		if err != nil {
			return err
		}
		to := ladder.byID(tierID)
		if to == nil {
			return platform.FieldErrors{"tier_id": "is not a tier of this tenant"}.Err()
		}
		r, err := s.Store.FindMemberTier(ctx, memberID)
		if err != nil {
			return err
		}
		from := ladder.effective(r, now)
		r.OverrideTierID, r.OverrideUntil, r.OverrideReason, r.UpdatedAt = to.ID, &until, reason, now
		if err := s.Store.SaveMemberTier(ctx, &r); err != nil {
			return err
		}
		if err := s.addHistory(ctx, memberID, KindOverride, from, to, 0, reason, &until, now); err != nil {
			return err
		}
		return s.record(ctx, "tier.override.set", "member", memberID,
			map[string]any{"tier_id": to.ID, "tier_name": to.Name, "until": until, "reason": reason})
	})
	if err != nil {
		return MemberTier{}, err
	}
	return s.MemberTier(ctx, memberID)
}

// RemoveOverride ends the member's override now; not_found when the member
// is not in the tenant or has no override in force.
func (s *Service) RemoveOverride(ctx context.Context, memberID string) (MemberTier, error) {
	now := s.Clock.Now()
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		if _, err := s.Members.LockMember(ctx, memberID); err != nil {
			return err
		}
		r, err := s.Store.FindMemberTier(ctx, memberID)
		if err != nil {
			return err
		}
		if r.overrideAt(now) == "" {
			return platform.NotFound("tier override")
		}
		ladder, err := s.Store.FindLadder(ctx)
		if err != nil {
			return err
		}
		from := ladder.effective(r, now)
		r.OverrideTierID, r.OverrideUntil, r.OverrideReason, r.UpdatedAt = "", nil, "", now
		if err := s.Store.SaveMemberTier(ctx, &r); err != nil {
			return err
		}
		to := ladder.earned(r.TierID)
		if err := s.addHistory(ctx, memberID, KindOverrideRemoved, from, to, 0, "override removed", nil, now); err != nil {
			return err
		}
		return s.record(ctx, "tier.override.remove", "member", memberID, map[string]any{"tier": ref(from)})
	})
	if err != nil {
		return MemberTier{}, err
	}
	return s.MemberTier(ctx, memberID)
}

// History lists the member's tier history, newest first; not_found when
// the member is not in the tenant.
func (s *Service) History(ctx context.Context, memberID string, limit int, cursor string) ([]HistoryEntry, string, error) {
	if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
		return nil, "", err
	}
	return s.Store.FindHistory(ctx, memberID, limit, cursor)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
