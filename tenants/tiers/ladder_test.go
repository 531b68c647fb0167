package tiers

import (
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleBoundariesInTenantZone(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	tests := []struct {
		name, period, now, start, next string
	}{
		// 2026-02-28T16:30Z is 1 March 00:30 in Shanghai: already March there.
		{"monthly across the UTC date line", PeriodMonthly, "2026-02-28T16:30:00Z", "2026-02-28T16:00:00Z", "2026-03-31T16:00:00Z"},
		{"monthly just before local midnight", PeriodMonthly, "2026-02-28T15:59:59Z", "2026-01-31T16:00:00Z", "2026-02-28T16:00:00Z"},
		{"on the boundary itself", PeriodMonthly, "2026-02-28T16:00:00Z", "2026-02-28T16:00:00Z", "2026-03-31T16:00:00Z"},
		{"quarterly", PeriodQuarterly, "2026-05-15T00:00:00Z", "2026-03-31T16:00:00Z", "2026-06-30T16:00:00Z"},
		{"yearly", PeriodYearly, "2026-05-15T00:00:00Z", "2025-12-31T16:00:00Z", "2026-12-31T16:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := schedule{tc.period, sh}
			now := utc(tc.now)
			if got, want := s.start(now), utc(tc.start); !got.Equal(want) {
				t.Errorf("start: got %s, want %s", got, want)
			}
			if got, want := s.next(now), utc(tc.next); !got.Equal(want) {
				t.Errorf("next: got %s, want %s", got, want)
			}
		})
	}
	s := schedule{PeriodMonthly, sh}
	b := utc("2026-02-28T16:00:00Z")
	if got := s.atOrAfter(b); !got.Equal(b) {
		t.Errorf("atOrAfter a boundary: got %s, want %s", got, b)
	}
	if got, want := s.atOrAfter(b.Add(time.Second)), utc("2026-03-31T16:00:00Z"); !got.Equal(want) {
		t.Errorf("atOrAfter just past a boundary: got %s, want %s", got, want)
	}
}

func TestDecide(t *testing.T) {
	ladder := Ladder{
		{ID: "silver", Name: "Silver", Rank: 1, GrowthThreshold: 100, KeepThreshold: 80},
		{ID: "gold", Name: "Gold", Rank: 2, GrowthThreshold: 500, KeepThreshold: 400},
	}
	sch := schedule{PeriodMonthly, time.UTC}
	e := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	mar, apr := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		row      memberTierRow
		g        int64
		grace    int
		kind     string
		target   string
		flagDate time.Time
	}{
		{"no tier, below the first", memberTierRow{}, 99, 0, decideNothing, "", time.Time{}},
		{"no tier, reaches the first", memberTierRow{}, 100, 0, decideUpgrade, "silver", time.Time{}},
		{"reaches a higher tier", memberTierRow{TierID: "silver"}, 500, 0, decideUpgrade, "gold", time.Time{}},
		{"at the keep threshold keeps", memberTierRow{TierID: "gold"}, 400, 30, decideKeep, "", time.Time{}},
		{"recovered clears the flag", memberTierRow{TierID: "gold", AtRiskSince: &jan, DowngradeAt: &mar}, 450, 30, decideClear, "", time.Time{}},
		{"below keep without grace moves down at once", memberTierRow{TierID: "gold"}, 399, 0, decideDowngrade, "silver", time.Time{}},
		{"below keep with 28 days' grace is flagged to the next boundary", memberTierRow{TierID: "gold"}, 399, 28, decideFlag, "", mar},
		{"below keep with 30 days' grace is flagged past it", memberTierRow{TierID: "gold"}, 399, 30, decideFlag, "", apr},
		{"flagged, grace not over", memberTierRow{TierID: "gold", AtRiskSince: &jan, DowngradeAt: &mar}, 10, 30, decideStillRisk, "", time.Time{}},
		{"flagged, grace over, lands by keep thresholds", memberTierRow{TierID: "gold", AtRiskSince: &jan, DowngradeAt: &e}, 80, 30, decideDowngrade, "silver", time.Time{}},
		{"flagged, grace over, below every keep threshold", memberTierRow{TierID: "gold", AtRiskSince: &jan, DowngradeAt: &e}, 79, 30, decideDowngrade, "", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(ladder, tc.row, tc.g, e, sch, tc.grace)
			if d.kind != tc.kind {
				t.Fatalf("kind: got %s, want %s", d.kind, tc.kind)
			}
			got := ""
			if d.target != nil {
				got = d.target.ID
			}
			if got != tc.target {
				t.Errorf("target: got %q, want %q", got, tc.target)
			}
			if !d.downgradeAt.Equal(tc.flagDate) {
				t.Errorf("downgrade at: got %s, want %s", d.downgradeAt, tc.flagDate)
			}
		})
	}
}

func TestBaseTierIsHeldWithoutGrowth(t *testing.T) {
	ladder := Ladder{
		{ID: "base", Name: "普通", Rank: 1, GrowthThreshold: 0},
		{ID: "silver", Name: "银卡", Rank: 2, GrowthThreshold: 100, KeepThreshold: 50},
	}
	if got := ladder.earned(""); got == nil || got.ID != "base" {
		t.Fatalf("earned tier of a new member: got %v, want base", got)
	}
	silver := ladder.byID("silver")
	if got := ladder.landing(silver, 10); got == nil || got.ID != "base" {
		t.Fatalf("landing below silver: got %v, want base", got)
	}
	if got := ladder.above(ladder.earned("")); got == nil || got.ID != "silver" {
		t.Fatalf("next tier: got %v, want silver", got)
	}
}

func TestIsBirthday(t *testing.T) {
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 12, 0, 0, 0, time.UTC) }
	tests := []struct {
		birthday string
		at       time.Time
		want     bool
	}{
		{"1990-05-20", d(2026, 5, 20), true},
		{"1990-05-20", d(2026, 5, 21), false},
		{"2000-02-29", d(2026, 2, 28), true},
		{"2000-02-29", d(2028, 2, 28), false},
		{"2000-02-29", d(2028, 2, 29), true},
		{"", d(2026, 5, 20), false},
	}
	for _, tc := range tests {
		if got := isBirthday(tc.birthday, tc.at); got != tc.want {
			t.Errorf("isBirthday(%q, %s): got %v, want %v", tc.birthday, tc.at.Format(time.DateOnly), got, tc.want)
		}
	}
}
