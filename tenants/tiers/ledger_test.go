package tiers_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/ledger"
	"jifen/tenants/members"
	"jifen/tenants/tiers"
)

// withLedger wires the real ledger the way main does: the ledger tells the
// tier service about growth, and the tier service reads growth from it.
func (e *env) withLedger() *ledger.Service {
	l := &ledger.Service{DB: e.db, Members: &members.Store{DB: e.db}, Clock: e.clock, Audit: e.audit, OnGrowth: e.svc}
	e.svc.Growth = l
	return l
}

func credit(ctx context.Context, l *ledger.Service, memberID string, points, growth int64, orderID string) error {
	_, _, err := l.Credit(ctx, ledger.Credit{MemberID: memberID, Points: points, Growth: growth, Kind: ledger.KindEarn,
		Reason: "order paid", OrderID: orderID})
	return err
}

func TestWithTheLedger(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		l := e.withLedger()
		_, gold := e.ladder(t)
		coupons := func(memberID string) int {
			t.Helper()
			list, _, err := e.audit.List(e.ctx, audit.Filter{Action: "coupon.issue", TargetID: memberID, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}
		available := func(memberID string) int64 {
			t.Helper()
			v, err := l.PointsOf(e.ctx, memberID)
			if err != nil {
				t.Fatal(err)
			}
			return v.Available
		}

		t.Run("a credit reaching the threshold exactly upgrades at once", func(t *testing.T) {
			m := e.member(t, "")
			if err := credit(e.ctx, l, m, 10, 99, ""); err != nil {
				t.Fatal(err)
			}
			if got := e.tierOf(t, m); got != "" {
				t.Fatalf("at 99: got %q, want none", got)
			}
			if err := credit(e.ctx, l, m, 10, 1, ""); err != nil {
				t.Fatal(err)
			}
			if got := e.tierOf(t, m); got != "银卡 Silver" {
				t.Fatalf("at 100: got %q, want Silver", got)
			}
		})

		t.Run("the upgrade coupon is issued inside the credit's transaction", func(t *testing.T) {
			m := e.member(t, "")
			if err := credit(e.ctx, l, m, 50, 500, ""); err != nil {
				t.Fatal(err)
			}
			if got := e.tierOf(t, m); got != gold.Name {
				t.Fatalf("tier: got %q, want %q", got, gold.Name)
			}
			if got := coupons(m); got != 1 {
				t.Fatalf("coupons: got %d, want 1", got)
			}
			last := e.coupons.calls[len(e.coupons.calls)-1]
			if last.memberID != m || !last.inTx {
				t.Errorf("coupon call: got %+v, want member %s inside the transaction", last, m)
			}
		})

		t.Run("a failed credit transaction takes the upgrade and the coupon back", func(t *testing.T) {
			m := e.member(t, "")
			boom := errors.New("the order's other writes failed")
			err := db.Tx(e.ctx, func(ctx context.Context) error {
				if err := credit(ctx, l, m, 50, 500, ""); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("got %v, want %v", err, boom)
			}
			if got := e.tierOf(t, m); got != "" {
				t.Errorf("tier: got %q, want none", got)
			}
			if got := coupons(m); got != 0 {
				t.Errorf("coupons: got %d, want 0", got)
			}
			if got := available(m); got != 0 {
				t.Errorf("points: got %d, want 0", got)
			}
		})

		t.Run("a coupon the mall refuses does not block the credit", func(t *testing.T) {
			m := e.member(t, "")
			e.coupons.fail = platform.NotFound("coupon template")
			defer func() { e.coupons.fail = nil }()
			if err := credit(e.ctx, l, m, 50, 500, ""); err != nil {
				t.Fatalf("credit: %v", err)
			}
			if got := available(m); got != 50 {
				t.Errorf("points: got %d, want 50", got)
			}
			if got := e.tierOf(t, m); got != gold.Name {
				t.Errorf("tier: got %q, want %q", got, gold.Name)
			}
			if got := coupons(m); got != 0 {
				t.Errorf("coupons: got %d, want 0", got)
			}
		})

		t.Run("an issuer's internal error fails the credit", func(t *testing.T) {
			m := e.member(t, "")
			e.coupons.fail = errors.New("connection reset")
			defer func() { e.coupons.fail = nil }()
			wantCode(t, credit(e.ctx, l, m, 50, 500, ""), platform.EInternal)
			if got := available(m); got != 0 {
				t.Errorf("points: got %d, want 0", got)
			}
			if got := e.tierOf(t, m); got != "" {
				t.Errorf("tier: got %q, want none", got)
			}
		})
	})
}

func TestWithTheLedgerRefundAndRollingWindow(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		t.Run("a refund's claw-back moves down only at the next boundary", func(t *testing.T) {
			e := newEnv(t, db)
			l := e.withLedger()
			e.ladder(t)
			e.settings(t, tiers.SettingsInput{GraceDays: ptr(0)})
			m := e.member(t, "")
			if err := credit(e.ctx, l, m, 100, 500, "A1001"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := l.ClawBack(e.ctx, ledger.ClawBack{MemberID: m, OrderID: "A1001", Points: 40, Growth: 200, Reason: "partial refund"}); err != nil {
				t.Fatal(err)
			}
			if got := e.tierOf(t, m); got != "金卡 Gold" {
				t.Fatalf("right after the refund: got %q, want Gold", got)
			}
			e.evaluate(t, local(2026, time.February, 1, 0, 5))
			if got := e.tierOf(t, m); got != "银卡 Silver" {
				t.Fatalf("after the boundary: got %q, want Silver", got)
			}
		})

		t.Run("the rolling window drops old growth", func(t *testing.T) {
			e := newEnv(t, db)
			l := e.withLedger()
			e.clock.Set(local(2025, time.January, 10, 10, 0))
			e.ladder(t)
			e.settings(t, tiers.SettingsInput{Basis: ptr(tiers.BasisRolling), WindowMonths: ptr(12), GraceDays: ptr(0)})
			m := e.member(t, "")
			if err := credit(e.ctx, l, m, 0, 100, ""); err != nil {
				t.Fatal(err)
			}
			if got := e.tierOf(t, m); got != "银卡 Silver" {
				t.Fatalf("after earning: got %q, want Silver", got)
			}
			if res := e.evaluate(t, local(2026, time.January, 1, 0, 5)); res.Downgraded != 0 {
				t.Fatalf("January: got %+v, want nothing moved (the growth is inside the window)", res)
			}
			res := e.evaluate(t, local(2026, time.February, 1, 0, 5))
			if res.Downgraded != 1 {
				t.Fatalf("February: got %+v, want one downgrade", res)
			}
			if got := e.tierOf(t, m); got != "" {
				t.Fatalf("after the window passed the growth: got %q, want none", got)
			}
			if err := credit(e.ctx, l, m, 0, 99, ""); err != nil {
				t.Fatal(err)
			}
			if got := e.tierOf(t, m); got != "" {
				t.Fatalf("199 in all but 99 in the window: got %q, want none", got)
			}
		})
	})
}

func TestConcurrentCreditsAndEvaluations(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		l := e.withLedger()
		_, gold := e.ladder(t)
		e.settings(t, tiers.SettingsInput{GraceDays: ptr(0)})
		m := e.member(t, "")

		const credits = 20 // 50 growth each: crosses 100 and 500 once each
		errs := make(chan error, credits)
		for i := 0; i < credits; i++ {
			go func() { errs <- credit(e.ctx, l, m, 5, 50, "") }()
		}
		for i := 0; i < credits; i++ {
			if err := <-errs; err != nil {
				t.Fatalf("credit: %v", err)
			}
		}
		if got, want := e.historyKinds(t, m), []string{tiers.KindUpgrade, tiers.KindUpgrade}; !slices.Equal(got, want) {
			t.Fatalf("history: got %v, want two upgrades", got)
		}
		if got := e.tierOf(t, m); got != gold.Name {
			t.Fatalf("tier: got %q, want %q", got, gold.Name)
		}
		list, _, err := e.audit.List(e.ctx, audit.Filter{Action: "coupon.issue", TargetID: m, Limit: 10})
		if err != nil || len(list) != 1 {
			t.Fatalf("coupons: got %d %v, want 1", len(list), err)
		}

		if _, _, err := l.ClawBack(e.ctx, ledger.ClawBack{MemberID: m, OrderID: "none", Growth: 700, Reason: "refund"}); err != nil {
			t.Fatal(err)
		}
		at := local(2026, time.February, 1, 0, 5)
		e.clock.Set(at)
		results := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() {
				_, err := e.svc.EvaluateDowngrades(e.ctx, at)
				results <- err
			}()
		}
		for i := 0; i < 3; i++ {
			if err := <-results; err != nil {
				t.Fatalf("evaluate: %v", err)
			}
		}
		if got, want := e.historyKinds(t, m), []string{tiers.KindDowngrade, tiers.KindUpgrade, tiers.KindUpgrade}; !slices.Equal(got, want) {
			t.Fatalf("history after racing evaluations: got %v, want %v", got, want)
		}
	})
}
