package tiers

import "time"

// Ladder is a tenant's tiers, lowest rank first. Growth thresholds rise
// strictly with the rank, so the order by rank is also the order by
// threshold.
type Ladder []Tier

// byID returns the tier with the id, nil when the ladder has none.
func (l Ladder) byID(id string) *Tier {
	if id == "" {
		return nil
	}
	for i := range l {
		if l[i].ID == id {
			return &l[i]
		}
	}
	return nil
}

// base returns the lowest tier when its growth threshold is 0. Every member
// holds it without having to earn growth first, so it is never stored per
// member.
func (l Ladder) base() *Tier {
	if len(l) > 0 && l[0].GrowthThreshold == 0 {
		return &l[0]
	}
	return nil
}

// earned returns the tier a member's stored earned tier id stands for: that
// tier, else the base tier, else nil.
func (l Ladder) earned(storedID string) *Tier {
	if t := l.byID(storedID); t != nil {
		return t
	}
	return l.base()
}

// effective returns the tier that applies to the member at t: an override
// in force, else the earned tier.
func (l Ladder) effective(r memberTierRow, t time.Time) *Tier {
	if ov := l.byID(r.overrideAt(t)); ov != nil {
		return ov
	}
	return l.earned(r.TierID)
}

// qualifying returns the highest tier whose growth threshold g reaches, nil
// when g reaches none.
func (l Ladder) qualifying(g int64) *Tier {
	var out *Tier
	for i := range l {
		if g >= l[i].GrowthThreshold {
			out = &l[i]
		}
	}
	return out
}

// upgradeTo returns the tier growth g reaches when it ranks above the
// earned tier, else nil.
func (l Ladder) upgradeTo(earned *Tier, g int64) *Tier {
	if q := l.qualifying(g); q != nil && (earned == nil || q.Rank > earned.Rank) {
		return q
	}
	return nil
}

// above returns the tier right above t (the lowest tier when t is nil), nil
// at the top.
func (l Ladder) above(t *Tier) *Tier {
	for i := range l {
		if t == nil || l[i].Rank > t.Rank {
			return &l[i]
		}
	}
	return nil
}

// landing returns where a member who lost t moves to: the highest tier
// below t whose keep threshold g still meets, so two members with the same
// growth hold the same tier whichever way they came; nil for none.
func (l Ladder) landing(t *Tier, g int64) *Tier {
	var out *Tier
	for i := range l {
		if l[i].Rank < t.Rank && g >= l[i].KeepThreshold {
			out = &l[i]
		}
	}
	return out
}

// brief names a tier, nil for none.
func brief(t *Tier) *TierBrief {
	if t == nil {
		return nil
	}
	return &TierBrief{ID: t.ID, Name: t.Name, Rank: t.Rank}
}

// ref names a tier for history, nil for none.
func ref(t *Tier) *TierRef {
	if t == nil {
		return nil
	}
	return &TierRef{ID: t.ID, Name: t.Name}
}

// schedule places evaluation boundaries: the first instant of each month,
// quarter or year in the tenant's time zone.
type schedule struct {
	period string
	loc    *time.Location
}

func (s schedule) months() int {
	switch s.period {
	case PeriodQuarterly:
		return 3
	case PeriodYearly:
		return 12
	}
	return 1
}

// start returns the last boundary at or before t.
func (s schedule) start(t time.Time) time.Time {
	l := t.In(s.loc)
	m := l.Month()
	switch s.period {
	case PeriodQuarterly:
		m = (m-1)/3*3 + 1
	case PeriodYearly:
		m = time.January
	}
	return time.Date(l.Year(), m, 1, 0, 0, 0, 0, s.loc).UTC()
}

// next returns the first boundary after t.
func (s schedule) next(t time.Time) time.Time {
	return s.start(t).In(s.loc).AddDate(0, s.months(), 0).UTC()
}

// atOrAfter returns t when it is a boundary, else the first boundary after.
func (s schedule) atOrAfter(t time.Time) time.Time {
	if st := s.start(t); st.Equal(t) {
		return st
	}
	return s.next(t)
}

// nextEvaluation returns when the next evaluation is due: the current
// period's start while its evaluation has not run, else the next boundary.
func (s schedule) nextEvaluation(evaluatedThrough *time.Time, now time.Time) time.Time {
	if st := s.start(now); evaluatedThrough != nil && evaluatedThrough.Before(st) {
		return st
	}
	return s.next(now)
}

// windowStart returns where a rolling window of months ending at t starts.
func windowStart(t time.Time, months int, loc *time.Location) time.Time {
	return t.In(loc).AddDate(0, -months, 0).UTC()
}

// decision is what an evaluation does to one member.
type decision struct {
	kind   string // one of the decide* constants
	target *Tier  // the new earned tier for upgrades and downgrades
	// downgradeAt is the boundary a newly flagged member moves down at.
	downgradeAt time.Time
}

const (
	decideNothing   = "nothing"    // no tier and none reached
	decideKeep      = "keep"       // growth meets the keep threshold
	decideClear     = "clear"      // keeps the tier again after being at risk
	decideUpgrade   = "upgrade"    // reached a higher tier
	decideFlag      = "flag"       // below the keep threshold: at risk from now
	decideStillRisk = "still_risk" // still below, grace not over yet
	decideDowngrade = "downgrade"  // still below after the grace period
)

// decide is the evaluation of one member at boundary e with growth g. It
// depends only on the stored state and e, so running an evaluation twice
// for the same period changes nothing the second time.
func decide(l Ladder, r memberTierRow, g int64, e time.Time, sch schedule, graceDays int) decision {
	earned := l.earned(r.TierID)
	if up := l.upgradeTo(earned, g); up != nil {
		return decision{kind: decideUpgrade, target: up}
	}
	if earned == nil {
		return decision{kind: decideNothing}
	}
	if g >= earned.KeepThreshold {
		if r.AtRiskSince != nil || r.DowngradeAt != nil {
			return decision{kind: decideClear}
		}
		return decision{kind: decideKeep}
	}
	if r.DowngradeAt == nil {
		at := sch.atOrAfter(e.AddDate(0, 0, graceDays))
		if at.After(e) {
			return decision{kind: decideFlag, downgradeAt: at}
		}
	} else if r.DowngradeAt.After(e) {
		return decision{kind: decideStillRisk}
	}
	return decision{kind: decideDowngrade, target: l.landing(earned, g)}
}
