package tiers

import (
	"context"
	"fmt"
	"time"

	"jifen/platform"
	"jifen/tenants/members"
)

// evaluationBatch is how many members an evaluation reads per page.
const evaluationBatch = 200

// EvaluateDowngrades runs the periodic evaluation of the context's tenant
// for the period that contains now. It does its work once per period: a
// call for a period already evaluated (or mid-way through the first period
// of a new ladder) changes nothing and says so, so tiers never move down
// mid-period. For each member it moves up anyone whose growth reaches a
// higher tier (after a ladder change, say); flags as at risk a member whose
// growth is below the keep threshold of the earned tier, with the downgrade
// due at the first boundary after the grace period; moves down a flagged
// member still below at that boundary; and clears the flag of a member who
// recovered. The scheduler calls it; POST /tiers/evaluate runs it by hand.
// A run that stops half-way can be repeated: each member's step depends
// only on the stored state and the period.
func (s *Service) EvaluateDowngrades(ctx context.Context, now time.Time) (Evaluation, error) {
	now = now.UTC()
	var set settingsRow
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		var err error
		set, err = s.Store.LockSettings(ctx, newSettings(ctx, now))
		return err
	})
	if err != nil {
		return Evaluation{}, err
	}
	sch := schedule{set.EvaluationPeriod, location(ctx)}
	e := sch.start(now)
	res := Evaluation{PeriodStart: e, NextEvaluationAt: sch.next(now)}
	if set.EvaluatedThrough != nil && !set.EvaluatedThrough.Before(e) {
		res.AlreadyEvaluated = true
		return res, nil
	}
	ladder, err := s.Store.FindLadder(ctx)
	if err != nil {
		return Evaluation{}, err
	}
	if len(ladder) > 0 {
		err := s.forEachMember(ctx, func(memberID string) error {
			kind, err := s.evaluateMember(ctx, ladder, set, sch, memberID, e, now)
			if err != nil {
				return fmt.Errorf("evaluate member %s: %w", memberID, err)
			}
			res.count(kind)
			return nil
		})
		if err != nil {
			return Evaluation{}, err
		}
	}
	err = s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		r, err := s.Store.LockSettings(ctx, newSettings(ctx, now))
		if err != nil {
			return err
		}
		if r.EvaluatedThrough == nil || r.EvaluatedThrough.Before(e) {
			r.EvaluatedThrough, r.UpdatedAt = &e, now
			if err := s.Store.SaveSettings(ctx, r); err != nil {
				return err
			}
		}
		return s.record(ctx, "tier.evaluate", "tier_settings", platform.TenantID(ctx), map[string]any{"result": res})
	})
	if err != nil {
		return Evaluation{}, err
	}
	return res, nil
}

// forEachMember calls fn with the id of every member of the tenant, a page
// at a time.
func (s *Service) forEachMember(ctx context.Context, fn func(memberID string) error) error {
	cur := ""
	for {
		page, next, err := s.Members.FindMembers(ctx, members.Filter{Limit: evaluationBatch, Cursor: cur})
		if err != nil {
			return err
		}
		for _, m := range page {
			if err := fn(m.ID); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cur = next
	}
}

func (e *Evaluation) count(kind string) {
	switch kind {
	case decideNothing:
		return
	case decideUpgrade:
		e.Upgraded++
	case decideDowngrade:
		e.Downgraded++
	case decideFlag, decideStillRisk:
		e.AtRisk++
	case decideKeep, decideClear:
		e.Kept++
	}
	e.Evaluated++
}

// evaluateMember evaluates one member at boundary e and returns the
// decision's kind. Most members change nothing, so the decision is first
// taken on a plain read and taken again under the member's lock only when
// it would write.
func (s *Service) evaluateMember(ctx context.Context, ladder Ladder, set settingsRow, sch schedule, memberID string, e, now time.Time) (string, error) {
	look := func(ctx context.Context) (memberTierRow, int64, decision, error) {
		r, err := s.Store.FindMemberTier(ctx, memberID)
		if err != nil {
			return r, 0, decision{}, err
		}
		g, err := s.tierGrowth(ctx, set, memberID, e)
		if err != nil {
			return r, 0, decision{}, err
		}
		return r, g, decide(ladder, r, g, e, sch, set.GraceDays), nil
	}
	_, _, d, err := look(ctx)
	if err != nil {
		return "", err
	}
	switch d.kind {
	case decideNothing, decideKeep, decideStillRisk:
		return d.kind, nil
	}
	err = s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		if _, err := s.Members.LockMember(ctx, memberID); err != nil {
			return err
		}
		var r memberTierRow
		var g int64
		var err error
		if r, g, d, err = look(ctx); err != nil {
			return err
		}
		return s.applyDecision(ctx, ladder, &r, d, g, now)
	})
	return d.kind, err
}

// applyDecision writes what decide decided for the member.
func (s *Service) applyDecision(ctx context.Context, ladder Ladder, r *memberTierRow, d decision, g int64, now time.Time) error {
	earned := ladder.earned(r.TierID)
	switch d.kind {
	case decideUpgrade:
		return s.upgrade(ctx, ladder, r, d.target, g, now)
	case decideClear:
		r.AtRiskSince, r.DowngradeAt, r.UpdatedAt = nil, nil, now
		return s.Store.SaveMemberTier(ctx, r)
	case decideFlag:
		at := d.downgradeAt
		r.AtRiskSince, r.DowngradeAt, r.UpdatedAt = &now, &at, now
		if err := s.Store.SaveMemberTier(ctx, r); err != nil {
			return err
		}
		reason := fmt.Sprintf("growth %d is below the %d that keeps %s; it moves down at %s unless it recovers",
			g, earned.KeepThreshold, earned.Name, at.Format(time.RFC3339))
		return s.addHistory(ctx, r.MemberID, KindAtRisk, earned, earned, g, truncate(reason, maxReasonLen), nil, now)
	case decideDowngrade:
		to := d.target
		// The base tier is held without being stored (see Ladder.base).
		r.TierID, r.TierSince = "", nil
		if b := ladder.base(); to != nil && (b == nil || to.ID != b.ID) {
			r.TierID, r.TierSince = to.ID, &now
		}
		r.AtRiskSince, r.DowngradeAt, r.UpdatedAt = nil, nil, now
		if err := s.Store.SaveMemberTier(ctx, r); err != nil {
			return err
		}
		reason := fmt.Sprintf("growth %d stayed below the %d that keeps %s", g, earned.KeepThreshold, earned.Name)
		return s.addHistory(ctx, r.MemberID, KindDowngrade, earned, to, g, truncate(reason, maxReasonLen), nil, now)
	}
	return nil
}
