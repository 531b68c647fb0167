package rules

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/google/cel-go/cel"

	"jifen/platform"
)

// permilleOne is the tier multiplier of 1x, in permille.
const permilleOne = 1000

// Evaluate runs the tenant's active rules for the event type in priority
// order (higher priority first, then creation order), stops after an
// exclusive rule that awarded, applies the tier multiplier
// (multiplierPermille, 1000 = 1x, 1500 = 1.5x; rounding down; 0 or less
// means 1x) to points after the formula, then the limits (cap the award at
// what is left of each limit, never below 0) using usage (nil counts
// nothing as awarded yet) and the tenant time zone from
// platform.TenantFrom(ctx).Location(). A rule that fails at run time is
// skipped and reported in errs, never fails the call. Awards with 0 points
// and 0 growth are left out.
//
// err is set only when the rules or the usage can't be read, or ctx ends.
// Evaluate writes nothing; it reads through ctx's transaction when there
// is one.
func (s *Service) Evaluate(ctx context.Context, in Input, multiplierPermille int64, usage Usage) (awards []Award, errs []RuleError, err error) {
	return s.evaluate(ctx, in, multiplierPermille, usage, false)
}

// evaluate is Evaluate; keepCapped keeps awards that limits brought to
// nothing, so the simulator can show why.
func (s *Service) evaluate(ctx context.Context, in Input, multiplierPermille int64, usage Usage, keepCapped bool) ([]Award, []RuleError, error) {
	s.init()
	t, ok := platform.TenantFrom(ctx)
	if !ok || t.ID == "" {
		return nil, nil, errors.New("rules: Evaluate needs a tenant in the context")
	}
	rules, err := s.activeRules(ctx, in.EventType)
	if err != nil {
		return nil, nil, err
	}
	return s.evaluateRules(ctx, t, rules, in, multiplierPermille, usage, keepCapped)
}

// evaluateRules runs rules, already in order, against in.
func (s *Service) evaluateRules(ctx context.Context, t platform.Tenant, rules []Rule, in Input, multiplierPermille int64, usage Usage, keepCapped bool) ([]Award, []RuleError, error) {
	if len(rules) == 0 {
		return nil, nil, nil
	}
	if multiplierPermille <= 0 {
		multiplierPermille = permilleOne
	}
	if usage == nil {
		usage = noUsage{}
	}
	if in.Now.IsZero() {
		in.Now = s.Clock.Now()
	}
	if in.OccurredAt.IsZero() {
		in.OccurredAt = in.Now
	}
	act, err := activation(in)
	if err != nil {
		return nil, nil, err
	}
	periods := periodsOf(in.Now, t.Location())
	var awards []Award
	var errs []RuleError
	for i := range rules {
		r := &rules[i]
		if !r.appliesAt(in.OccurredAt) {
			continue
		}
		a, err := s.run(ctx, t.ID, r, act)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			errs = append(errs, RuleError{RuleID: r.ID, Message: err.Error()})
			continue
		}
		if a.Points == 0 && a.Growth == 0 {
			continue
		}
		if a.Points, err = multiply(a.Points, multiplierPermille); err != nil {
			errs = append(errs, RuleError{RuleID: r.ID, Message: err.Error()})
			continue
		}
		if err := applyLimits(ctx, r, in.Member.ID, periods, usage, &a); err != nil {
			return nil, nil, err
		}
		if a.Points == 0 && a.Growth == 0 {
			if keepCapped && a.Capped {
				awards = append(awards, a)
			}
			continue
		}
		awards = append(awards, a)
		if r.Exclusive {
			break
		}
	}
	return awards, errs, nil
}

// run evaluates one rule's condition and formulas. It returns a zero award
// when the condition is false.
func (s *Service) run(ctx context.Context, tenantID string, r *Rule, act cel.Activation) (Award, error) {
	prg, err := s.program(tenantID, r)
	if err != nil {
		return Award{}, err
	}
	timeout, limit := s.evalTimeout(), s.costLimit()
	if prg.loops() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ok, err := prg.condition.evalBool(ctx, act, timeout, limit)
	if err != nil || !ok {
		return Award{}, err
	}
	a := Award{RuleID: r.ID, RuleName: r.Name}
	if a.Points, err = prg.points.evalInt(ctx, act, timeout, limit); err != nil {
		return Award{}, err
	}
	if a.Growth, err = prg.growth.evalInt(ctx, act, timeout, limit); err != nil {
		return Award{}, err
	}
	return a, nil
}

// program returns the compiled rule version from the cache, compiling it on
// a miss.
func (s *Service) program(tenantID string, r *Rule) (*program, error) {
	if p, ok := s.cache.get(tenantID, r.ID, r.Version); ok {
		return p, nil
	}
	p, errs := s.compileRule(r)
	if errs != nil {
		// Rules are checked when saved, so this happens only when the
		// language changed under a stored rule.
		return nil, fmt.Errorf("%s: %s (edit the rule to fix it)", errs[0].field, errs[0].message)
	}
	s.cache.put(tenantID, r.ID, r.Version, p)
	return p, nil
}

// multiply applies a tier multiplier in permille to points, rounding down.
func multiply(points, permille int64) (int64, error) {
	if permille == permilleOne {
		return points, nil
	}
	// points and permille are positive, so the 128-bit product is exact and
	// its thousandth fits in int64 whenever the high half is 0.
	hi, lo := bits.Mul64(uint64(points), uint64(permille))
	if hi != 0 {
		return 0, fmt.Errorf("points: %d with the tier multiplier %d‰ is too large", points, permille)
	}
	return int64(lo / permilleOne), nil
}

// periods are the starts of the calendar periods limits count in.
type periods struct {
	day, week, month time.Time
}

// periodsOf returns the start of the day, the week (Monday) and the month
// that contain now, in loc.
func periodsOf(now time.Time, loc *time.Location) periods {
	l := now.In(loc)
	y, m, d := l.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, loc)
	back := (int(l.Weekday()) + 6) % 7 // days since Monday
	return periods{
		day:   day,
		week:  time.Date(y, m, d-back, 0, 0, 0, 0, loc),
		month: time.Date(y, m, 1, 0, 0, 0, 0, loc),
	}
}

// applyLimits caps a's points at what is left of each of the rule's limits.
// An award whose points a limit used up entirely gives no growth either:
// the action is over its cap.
func applyLimits(ctx context.Context, r *Rule, memberID string, p periods, usage Usage, a *Award) error {
	if a.Points == 0 {
		return nil
	}
	before := a.Points
	var notes []string
	for _, l := range []struct {
		name, period string
		limit        int64
		member       bool
		since        time.Time
	}{
		{"per_member_per_day", "today", r.Limits.PerMemberPerDay, true, p.day},
		{"per_member_per_week", "this week", r.Limits.PerMemberPerWeek, true, p.week},
		{"per_member_per_month", "this month", r.Limits.PerMemberPerMonth, true, p.month},
		{"per_rule_per_day", "today for all members", r.Limits.PerRulePerDay, false, p.day},
	} {
		if l.limit <= 0 {
			continue
		}
		var used int64
		if !l.member || memberID != "" {
			who := ""
			if l.member {
				who = memberID
			}
			var err error
			if used, err = usage.AwardedSince(ctx, r.ID, who, l.since.UTC()); err != nil {
				return fmt.Errorf("rules: read usage of rule %s: %w", r.ID, err)
			}
		}
		left := max(l.limit-used, 0)
		if a.Points > left {
			a.Points = left
			notes = append(notes, fmt.Sprintf("%s limit %d: %d already awarded %s, %d left", l.name, l.limit, used, l.period, left))
		}
	}
	if a.Points < before {
		a.Capped = true
		if a.Points == 0 && a.Growth > 0 {
			a.Growth = 0
			notes = append(notes, "no growth either, as the limit is used up")
		}
		a.Note = strings.Join(notes, "; ")
	}
	return nil
}

// activation binds the variables rules see. Keep it in step with
// memberFields and eventFields.
func activation(in Input) (cel.Activation, error) {
	m := in.Member
	return cel.NewActivation(map[string]any{
		"event": map[string]any{
			"type":        in.EventType,
			"occurred_at": in.OccurredAt.UTC(),
			"attributes":  NormalizeAttributes(in.Attributes),
		},
		"member": map[string]any{
			"id": m.ID, "tier": m.Tier, "growth": m.Growth, "points": m.Points,
			"birthday": m.Birthday, "created_at": m.CreatedAt.UTC(), "checkin_streak": m.CheckinStreak,
		},
		"now": in.Now.UTC(),
	})
}
