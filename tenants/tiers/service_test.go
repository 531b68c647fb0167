package tiers_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/tiers"
)

func TestUpgradeAtTheThresholdExactly(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		e.ladder(t)
		tests := []struct {
			name     string
			steps    []int64
			want     string
			upgrades int
		}{
			{"one below the first tier", []int64{99}, "", 0},
			{"exactly the first tier", []int64{100}, "银卡 Silver", 1},
			{"crossing it in two steps", []int64{99, 1}, "银卡 Silver", 1},
			{"one below the second tier", []int64{499}, "银卡 Silver", 1},
			{"exactly the second tier, one tier at a time", []int64{250, 250}, "金卡 Gold", 2},
			{"far past the top at once", []int64{100000}, "金卡 Gold", 1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				m := e.member(t, "")
				for _, n := range tc.steps {
					e.grow(t, m, n)
				}
				if got := e.tierOf(t, m); got != tc.want {
					t.Fatalf("tier: got %q, want %q", got, tc.want)
				}
				if got := len(e.historyKinds(t, m)); got != tc.upgrades {
					t.Errorf("history entries: got %d, want %d", got, tc.upgrades)
				}
			})
		}
	})
}

func TestUpgradeIssuesTheCouponInsideTheTransaction(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		_, gold := e.ladder(t)
		couponRecords := func(memberID string) int {
			t.Helper()
			list, _, err := e.audit.List(e.ctx, audit.Filter{Action: "coupon.issue", TargetID: memberID, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}

		t.Run("issued once on reaching the tier", func(t *testing.T) {
			m := e.member(t, "")
			e.grow(t, m, 100) // Silver has no coupon
			e.grow(t, m, 400)
			e.grow(t, m, 100) // already Gold: nothing more
			var calls []couponCall
			for _, c := range e.coupons.calls {
				if c.memberID == m {
					calls = append(calls, c)
				}
			}
			if len(calls) != 1 {
				t.Fatalf("coupon calls: got %d, want 1", len(calls))
			}
			if calls[0].templateID != gold.Benefits.UpgradeCouponTemplateID || !calls[0].inTx {
				t.Errorf("coupon call: got %+v, want template %s inside a transaction", calls[0], gold.Benefits.UpgradeCouponTemplateID)
			}
			if got := couponRecords(m); got != 1 {
				t.Errorf("coupons issued: got %d, want 1", got)
			}
		})

		t.Run("rolled back with the growth change's transaction", func(t *testing.T) {
			m := e.member(t, "")
			boom := errors.New("the credit failed after the growth changed")
			err := db.Tx(e.ctx, func(ctx context.Context) error {
				if err := e.svc.GrowthChanged(ctx, m, 500); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("got %v, want %v", err, boom)
			}
			if got := e.tierOf(t, m); got != "" {
				t.Errorf("tier after rollback: got %q, want none", got)
			}
			if got := couponRecords(m); got != 0 {
				t.Errorf("coupons after rollback: got %d, want 0", got)
			}
			if got := e.historyKinds(t, m); len(got) != 0 {
				t.Errorf("history after rollback: got %v, want none", got)
			}
		})

		t.Run("a coupon the mall refuses is left out, the upgrade stands", func(t *testing.T) {
			m := e.member(t, "")
			e.coupons.fail = platform.Errorf(platform.EConflict, "The coupon template is inactive.")
			defer func() { e.coupons.fail = nil }()
			e.grow(t, m, 500)
			if got := e.tierOf(t, m); got != gold.Name {
				t.Fatalf("tier: got %q, want %q", got, gold.Name)
			}
			if got := couponRecords(m); got != 0 {
				t.Errorf("coupons: got %d, want 0 (the refused issue's writes undone)", got)
			}
			items, _, err := e.svc.History(e.ctx, m, 10, "")
			if err != nil || len(items) != 1 || !strings.Contains(items[0].Reason, "coupon not issued") {
				t.Errorf("history: got %+v %v, want the upgrade noting the coupon was not issued", items, err)
			}
		})

		t.Run("an issuer's internal error fails the upgrade", func(t *testing.T) {
			m := e.member(t, "")
			e.coupons.fail = errors.New("connection reset")
			defer func() { e.coupons.fail = nil }()
			err := db.Tx(e.ctx, func(ctx context.Context) error { return e.svc.GrowthChanged(ctx, m, 500) })
			wantCode(t, err, platform.EInternal)
			if got := e.tierOf(t, m); got != "" {
				t.Errorf("tier after a failed coupon: got %q, want none", got)
			}
			if got := couponRecords(m); got != 0 {
				t.Errorf("coupons: got %d, want 0", got)
			}
		})
	})
}

func TestNoDowngradeMidPeriod(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		e.ladder(t)
		e.settings(t, tiers.SettingsInput{GraceDays: ptr(0)})
		m := e.member(t, "")
		e.grow(t, m, 500)
		e.growth.add(m, -200) // a refund claws growth back: 300 < keep 400

		res := e.evaluate(t, local(2026, time.January, 20, 9, 0))
		if !res.AlreadyEvaluated || res.Downgraded != 0 {
			t.Fatalf("mid-period evaluation: got %+v, want already evaluated and nothing moved", res)
		}
		if got := e.tierOf(t, m); got != "金卡 Gold" {
			t.Fatalf("tier mid-period: got %q, want Gold", got)
		}
		mt, err := e.svc.MemberTier(e.ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		feb := local(2026, time.February, 1, 0, 0)
		p := mt.Progress
		if !p.AtRisk || p.KeepGrowthNeeded != 100 || p.DowngradeAt == nil || !p.DowngradeAt.Equal(feb) {
			t.Fatalf("progress: got at_risk=%v keep_needed=%d downgrade_at=%v, want true 100 %s", p.AtRisk, p.KeepGrowthNeeded, p.DowngradeAt, feb)
		}

		res = e.evaluate(t, feb.Add(5*time.Minute))
		if res.AlreadyEvaluated || res.Downgraded != 1 || !res.PeriodStart.Equal(feb) {
			t.Fatalf("evaluation at the boundary: got %+v, want one downgrade for the period starting %s", res, feb)
		}
		if got := e.tierOf(t, m); got != "银卡 Silver" {
			t.Fatalf("tier after the boundary: got %q, want Silver", got)
		}

		e.growth.add(m, -250) // 50 < Silver's keep 80, but mid-period again
		res = e.evaluate(t, local(2026, time.February, 15, 12, 0))
		if !res.AlreadyEvaluated {
			t.Fatalf("second run in a period: got %+v, want already evaluated", res)
		}
		if got := e.tierOf(t, m); got != "银卡 Silver" {
			t.Fatalf("tier mid-period after a second drop: got %q, want Silver", got)
		}
		if got, want := e.historyKinds(t, m), []string{tiers.KindDowngrade, tiers.KindUpgrade}; !slices.Equal(got, want) {
			t.Errorf("history: got %v, want %v", got, want)
		}
	})
}

func TestDowngradeAfterGrace(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		e.ladder(t)
		e.settings(t, tiers.SettingsInput{GraceDays: ptr(30)})
		lapsing, recovering := e.member(t, ""), e.member(t, "")
		for _, m := range []string{lapsing, recovering} {
			e.grow(t, m, 500)
			e.growth.add(m, -200)
		}
		feb, mar, apr := local(2026, time.February, 1, 0, 0), local(2026, time.March, 1, 0, 0), local(2026, time.April, 1, 0, 0)

		res := e.evaluate(t, feb.Add(time.Minute))
		if res.AtRisk != 2 || res.Downgraded != 0 {
			t.Fatalf("first evaluation: got %+v, want 2 at risk and none moved", res)
		}
		mt, err := e.svc.MemberTier(e.ctx, lapsing)
		if err != nil {
			t.Fatal(err)
		}
		// 1 February + 30 days is 3 March; the next boundary after it is 1 April.
		if p := mt.Progress; !p.AtRisk || p.DowngradeAt == nil || !p.DowngradeAt.Equal(apr) || p.KeepGrowthNeeded != 100 {
			t.Fatalf("progress while at risk: got at_risk=%v downgrade_at=%v keep_needed=%d, want true %s 100", p.AtRisk, p.DowngradeAt, p.KeepGrowthNeeded, apr)
		}
		if got := e.tierOf(t, lapsing); got != "金卡 Gold" {
			t.Fatalf("tier while at risk: got %q, want Gold", got)
		}

		e.clock.Set(feb.AddDate(0, 0, 10))
		e.grow(t, recovering, 100) // back to 400, the keep threshold

		res = e.evaluate(t, mar.Add(time.Minute))
		if res.Downgraded != 0 || res.AtRisk != 1 || res.Kept != 1 {
			t.Fatalf("evaluation inside the grace period: got %+v, want 1 at risk, 1 kept, none moved", res)
		}
		if got := e.tierOf(t, lapsing); got != "金卡 Gold" {
			t.Fatalf("tier inside the grace period: got %q, want Gold", got)
		}
		if mt, _ := e.svc.MemberTier(e.ctx, recovering); mt.Progress.AtRisk || mt.Progress.DowngradeAt != nil {
			t.Fatalf("recovered member: got at_risk=%v downgrade_at=%v, want false and none", mt.Progress.AtRisk, mt.Progress.DowngradeAt)
		}

		res = e.evaluate(t, apr.Add(time.Minute))
		if res.Downgraded != 1 {
			t.Fatalf("evaluation after the grace period: got %+v, want one downgrade", res)
		}
		if got := e.tierOf(t, lapsing); got != "银卡 Silver" {
			t.Fatalf("tier after the grace period: got %q, want Silver", got)
		}
		if got := e.tierOf(t, recovering); got != "金卡 Gold" {
			t.Fatalf("recovered member's tier: got %q, want Gold", got)
		}
		if got, want := e.historyKinds(t, lapsing), []string{tiers.KindDowngrade, tiers.KindAtRisk, tiers.KindUpgrade}; !slices.Equal(got, want) {
			t.Errorf("history: got %v, want %v", got, want)
		}
	})
}

func TestKeepThreshold(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		tests := []struct {
			name   string
			growth int64 // after the claw-back; Gold's keep threshold is 400
			want   string
		}{
			{"exactly the keep threshold keeps the tier", 400, "金卡 Gold"},
			{"below the entry threshold but above keep keeps it", 450, "金卡 Gold"},
			{"one below the keep threshold loses it", 399, "银卡 Silver"},
			{"below every keep threshold loses them all", 79, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, db)
				e.ladder(t)
				e.settings(t, tiers.SettingsInput{GraceDays: ptr(0)})
				m := e.member(t, "")
				e.grow(t, m, 500)
				e.growth.add(m, tc.growth-500)
				e.evaluate(t, local(2026, time.February, 1, 0, 1))
				if got := e.tierOf(t, m); got != tc.want {
					t.Fatalf("tier: got %q, want %q", got, tc.want)
				}
			})
		}
	})
}

func TestOverrideAppliesUntilItEnds(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		silver, gold := e.ladder(t)
		m := e.member(t, "")
		e.grow(t, m, 100)
		until := local(2026, time.March, 1, 0, 0)

		mt, err := e.svc.SetOverride(e.ctx, m, tiers.OverrideInput{TierID: ptr(gold.ID), Until: ptr(until.Format(time.RFC3339)), Reason: ptr("VIP 客户")})
		if err != nil {
			t.Fatal(err)
		}
		if mt.Tier == nil || mt.Tier.ID != gold.ID || mt.Progress.EarnedTier == nil || mt.Progress.EarnedTier.ID != silver.ID {
			t.Fatalf("after override: got tier %v earned %v, want Gold over Silver", mt.Tier, mt.Progress.EarnedTier)
		}
		if mt.Progress.OverrideUntil == nil || !mt.Progress.OverrideUntil.Equal(until) {
			t.Errorf("override_until: got %v, want %s", mt.Progress.OverrideUntil, until)
		}
		if rank, id, err := e.svc.MemberTierRank(e.ctx, m); err != nil || rank != 2 || id != gold.ID {
			t.Errorf("rank under override: got %d %s %v, want 2 %s", rank, id, err, gold.ID)
		}
		if p, name, _ := e.svc.MultiplierOf(e.ctx, m, e.clock.Now()); p != 2000 || name != gold.Name {
			t.Errorf("multiplier under override: got %d %q, want 2000 %q", p, name, gold.Name)
		}
		rec, _, err := e.audit.List(e.ctx, audit.Filter{Action: "tier.override.set", TargetID: m, Limit: 5})
		if err != nil || len(rec) != 1 || rec[0].Details["reason"] != "VIP 客户" {
			t.Fatalf("audit: got %+v %v, want one override record with its reason", rec, err)
		}
		wantCode(t, e.svc.DeleteTier(e.ctx, gold.ID), platform.EConflict)

		e.clock.Set(until)
		if got := e.tierOf(t, m); got != silver.Name {
			t.Fatalf("tier when the override ends: got %q, want %q", got, silver.Name)
		}
		if rank, _, _ := e.svc.MemberTierRank(e.ctx, m); rank != 1 {
			t.Errorf("rank after the override: got %d, want 1", rank)
		}
		if p, _, _ := e.svc.MultiplierOf(e.ctx, m, e.clock.Now()); p != 1500 {
			t.Errorf("multiplier after the override: got %d, want 1500", p)
		}
		_, err = e.svc.RemoveOverride(e.ctx, m)
		wantCode(t, err, platform.ENotFound)
		if err := e.svc.DeleteTier(e.ctx, gold.ID); err != nil {
			t.Fatalf("delete a tier only an expired override named: %v", err)
		}
	})
}

func TestRemoveOverride(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		_, gold := e.ladder(t)
		m := e.member(t, "")
		if _, err := e.svc.SetOverride(e.ctx, m, tiers.OverrideInput{TierID: ptr(gold.ID), Until: ptr("2027-01-01T00:00:00Z"), Reason: ptr("compensation")}); err != nil {
			t.Fatal(err)
		}
		mt, err := e.svc.RemoveOverride(e.ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if mt.Tier != nil || mt.Override != nil {
			t.Fatalf("after removal: got tier %v override %v, want none", mt.Tier, mt.Override)
		}
		if got, want := e.historyKinds(t, m), []string{tiers.KindOverrideRemoved, tiers.KindOverride}; !slices.Equal(got, want) {
			t.Errorf("history: got %v, want %v", got, want)
		}
	})
}

func TestRollingWindow(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		e.clock.Set(local(2025, time.January, 10, 10, 0))
		e.ladder(t)
		e.settings(t, tiers.SettingsInput{Basis: ptr(tiers.BasisRolling), WindowMonths: ptr(12), GraceDays: ptr(0)})
		kept, partial := e.member(t, ""), e.member(t, "")
		e.grow(t, kept, 100)
		e.grow(t, partial, 80)

		e.clock.Set(local(2025, time.December, 20, 10, 0))
		mt, err := e.svc.MemberTier(e.ctx, kept)
		if err != nil {
			t.Fatal(err)
		}
		// The January evaluation's window starts 1 January 2025: the grant
		// of 10 January still counts.
		if mt.Progress.AtRisk || mt.Progress.TierGrowth != 100 {
			t.Fatalf("in December: got at_risk=%v tier_growth=%d, want false 100", mt.Progress.AtRisk, mt.Progress.TierGrowth)
		}
		if res := e.evaluate(t, local(2026, time.January, 1, 0, 30)); res.Kept < 1 || res.Downgraded != 0 {
			t.Fatalf("January evaluation: got %+v, want the member kept", res)
		}

		e.clock.Set(local(2026, time.January, 20, 10, 0))
		mt, err = e.svc.MemberTier(e.ctx, kept)
		if err != nil {
			t.Fatal(err)
		}
		feb := local(2026, time.February, 1, 0, 0)
		if p := mt.Progress; !p.AtRisk || p.KeepGrowthNeeded != 80 || p.DowngradeAt == nil || !p.DowngradeAt.Equal(feb) || p.TierGrowth != 0 {
			t.Fatalf("in January: got at_risk=%v keep_needed=%d downgrade_at=%v tier_growth=%d, want true 80 %s 0",
				p.AtRisk, p.KeepGrowthNeeded, p.DowngradeAt, p.TierGrowth, feb)
		}
		e.evaluate(t, feb.Add(time.Minute))
		if got := e.tierOf(t, kept); got != "" {
			t.Fatalf("after the window rolled past the growth: got %q, want none", got)
		}

		t.Run("growth older than the window does not count for upgrades", func(t *testing.T) {
			e.clock.Set(local(2026, time.March, 1, 10, 0))
			e.grow(t, partial, 30) // 110 in all, 30 in the window
			if got := e.tierOf(t, partial); got != "" {
				t.Fatalf("tier: got %q, want none", got)
			}
			e.grow(t, partial, 70)
			if got := e.tierOf(t, partial); got != "银卡 Silver" {
				t.Fatalf("tier at 100 in the window: got %q, want Silver", got)
			}
		})
	})
}

func TestMultiplierOf(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		e.ladder(t)
		none, silver, gold := e.member(t, "1990-05-20"), e.member(t, "1990-05-20"), e.member(t, "1990-05-20")
		e.grow(t, silver, 100)
		e.grow(t, gold, 500)
		tests := []struct {
			name   string
			member string
			at     time.Time
			want   int64
			tier   string
		}{
			{"no tier", none, time.Date(2026, 5, 20, 4, 0, 0, 0, time.UTC), 1000, ""},
			{"an ordinary day", silver, time.Date(2026, 5, 10, 4, 0, 0, 0, time.UTC), 1500, "银卡 Silver"},
			// 2026-05-19T16:30Z is already 20 May, 00:30, in Shanghai.
			{"birthday begins at local midnight", silver, time.Date(2026, 5, 19, 16, 30, 0, 0, time.UTC), 2000, "银卡 Silver"},
			{"the evening before in Shanghai", silver, time.Date(2026, 5, 19, 15, 59, 0, 0, time.UTC), 1500, "银卡 Silver"},
			{"birthday's last local minute", silver, time.Date(2026, 5, 20, 15, 59, 0, 0, time.UTC), 2000, "银卡 Silver"},
			{"the local day after, still 20 May in UTC", silver, time.Date(2026, 5, 20, 16, 0, 0, 0, time.UTC), 1500, "银卡 Silver"},
			{"a smaller birthday multiplier does not lower it", gold, time.Date(2026, 5, 20, 4, 0, 0, 0, time.UTC), 2000, "金卡 Gold"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p, name, err := e.svc.MultiplierOf(e.ctx, tc.member, tc.at)
				if err != nil {
					t.Fatal(err)
				}
				if p != tc.want || name != tc.tier {
					t.Fatalf("got %d %q, want %d %q", p, name, tc.want, tc.tier)
				}
			})
		}
		t.Run("a member of another tenant", func(t *testing.T) {
			other := newEnv(t, db)
			_, _, err := other.svc.MultiplierOf(other.ctx, silver, time.Now())
			wantCode(t, err, platform.ENotFound)
		})
	})
}

func TestMallReadsTheTier(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		silver, gold := e.ladder(t)
		m := e.member(t, "")
		tests := []struct {
			name   string
			grow   int64
			rank   int
			tierID string
		}{
			{"no tier", 0, 0, ""},
			{"silver", 100, 1, silver.ID},
			{"gold", 400, 2, gold.ID},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if tc.grow > 0 {
					e.grow(t, m, tc.grow)
				}
				rank, id, err := e.svc.MemberTierRank(e.ctx, m)
				if err != nil || rank != tc.rank || id != tc.tierID {
					t.Fatalf("rank: got %d %q %v, want %d %q", rank, id, err, tc.rank, tc.tierID)
				}
			})
		}
		if r, err := e.svc.TierRank(e.ctx, gold.ID); err != nil || r != 2 {
			t.Errorf("TierRank: got %d %v, want 2", r, err)
		}
	})
}

func TestBaseTierAndProgress(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		base := e.tier(t, tiers.TierInput{Name: ptr("普通会员"), Rank: ptr(1), GrowthThreshold: ptr[int64](0)})
		silver := e.tier(t, tiers.TierInput{Name: ptr("银卡"), Rank: ptr(2), GrowthThreshold: ptr[int64](100)})
		m := e.member(t, "")
		e.grow(t, m, 30)
		got, err := e.members.GetMember(e.ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if got.Tier == nil || got.Tier.ID != base.ID {
			t.Fatalf("member object tier: got %v, want %s", got.Tier, base.Name)
		}
		p, ok := got.TierProgress.(tiers.Progress)
		if !ok || p.NextTier == nil || p.NextTier.ID != silver.ID || p.NextTier.GrowthNeeded != 70 || p.AtRisk {
			t.Fatalf("member object progress: got %+v, want 70 more to %s and not at risk", got.TierProgress, silver.Name)
		}
		if err := e.svc.DeleteTier(e.ctx, base.ID); err != nil {
			t.Fatalf("delete the base tier nobody holds explicitly: %v", err)
		}
	})
}
