package ledger_test

import (
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/ledger"
	"jifen/tenants/members"
)

const day = 24 * time.Hour

func TestDefaultExpiryIsEndOfTheLocalDay(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		cases := []struct {
			name   string
			now    time.Time
			months int
			want   time.Time
		}{
			{"a year later", start, 12, time.Date(2027, 3, 10, 15, 59, 59, 0, time.UTC)},
			{"after local midnight the local date counts", time.Date(2026, 3, 10, 17, 0, 0, 0, time.UTC), 12, time.Date(2027, 3, 11, 15, 59, 59, 0, time.UTC)},
			{"a day the month lacks is its last day", time.Date(2026, 1, 31, 4, 0, 0, 0, time.UTC), 1, time.Date(2026, 2, 28, 15, 59, 59, 0, time.UTC)},
			{"never when the tenant's points don't expire", start, 0, time.Time{}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, db)
				e.set("points_expiry_months", tc.months)
				e.clock.Set(tc.now)
				m := e.member()
				e.earn(m, 100)
				v := e.points(m)
				if tc.want.IsZero() {
					if len(v.Expiring) != 0 {
						t.Fatalf("expiring: got %+v, want none", v.Expiring)
					}
					return
				}
				if len(v.Expiring) != 1 || v.Expiring[0].Points != 100 || !v.Expiring[0].ExpiresAt.Equal(tc.want) {
					t.Fatalf("expiring: got %+v, want 100 at %s", v.Expiring, tc.want)
				}
			})
		}
	})
}

func TestSpendingTakesTheLotsThatExpireFirst(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m := e.member()
		d30, d60, d90 := start.Add(30*day), start.Add(60*day), start.Add(90*day)
		e.earn(m, 100, expiresAt(d90))
		e.earn(m, 50, expiresAt(d30))
		e.earn(m, 70, expiresAt(d60))
		e.spend(m, 80)
		v := e.wantPoints(m, 140, 0)
		want := []members.Expiring{{Points: 40, ExpiresAt: localEnd(d60)}, {Points: 100, ExpiresAt: localEnd(d90)}}
		if len(v.Expiring) != 2 || v.Expiring[0] != want[0] || v.Expiring[1] != want[1] {
			t.Fatalf("expiring: got %+v, want %+v", v.Expiring, want)
		}
		_, _, err := e.svc.Debit(e.ctx, ledger.Debit{MemberID: m, Points: 141, Kind: ledger.KindRedeem})
		wantCode(t, err, platform.EInsufficientPoints)
		e.wantPoints(m, 140, 0)
		e.checkInvariants(m)
	})
}

func TestExpiryTakesExactlyTheRemainders(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m := e.member()
		d10, d20 := start.Add(10*day), start.Add(20*day)
		e.earn(m, 100, expiresAt(d10))
		e.earn(m, 100, expiresAt(d20))
		e.spend(m, 150) // all of the first lot, 50 of the second

		e.clock.Set(d10.Add(time.Hour))
		n, err := e.svc.ExpireDue(e.ctx, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("expired after the first date: got %d, want 0 (the lot was spent)", n)
		}
		e.wantPoints(m, 50, 0)

		e.clock.Set(d20.Add(time.Hour))
		if n, err = e.svc.ExpireDue(e.ctx, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if n != 50 {
			t.Fatalf("expired after the second date: got %d, want 50", n)
		}
		e.wantPoints(m, 0, 0)
		items, _, err := e.svc.ListEntries(e.ctx, m, ledger.EntryFilter{Kind: ledger.KindExpire})
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 || items[0].Points != -50 || items[0].BalanceAfter != 0 {
			t.Fatalf("expire entries: got %+v, want one of -50 leaving 0", items)
		}
		if n, _ = e.svc.ExpireDue(e.ctx, e.clock.Now()); n != 0 {
			t.Fatalf("second sweep: got %d expired, want 0", n)
		}
		e.checkInvariants(m)
	})
}

func TestLapsedPointsCantBeSpentBeforeTheSweep(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m := e.member()
		e.earn(m, 100, expiresAt(start.Add(day)))
		e.earn(m, 20, expiresAt(start.Add(10*day)))
		e.clock.Advance(2 * day)
		_, _, err := e.svc.Debit(e.ctx, ledger.Debit{MemberID: m, Points: 50, Kind: ledger.KindSpend})
		wantCode(t, err, platform.EInsufficientPoints)
		v := e.wantPoints(m, 20, 0)
		if len(v.Expiring) != 1 || v.Expiring[0].Points != 20 {
			t.Fatalf("expiring: got %+v, want only the 20 still valid", v.Expiring)
		}
		items, _, _ := e.svc.ListEntries(e.ctx, m, ledger.EntryFilter{})
		if len(items) != 3 || items[0].Kind != ledger.KindExpire || items[0].Points != -100 {
			t.Fatalf("ledger: got %+v, want the expire entry of -100 on top", items)
		}
		e.checkInvariants(m)
	})
}

func TestPendingPointsBecomeAvailableWhenDue(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		lazy, swept, listed := e.member(), e.member(), e.member()
		for _, m := range []string{lazy, swept, listed} {
			e.earn(m, 100, pendingUntil(start.Add(7*day)))
			e.earn(m, 10)
		}
		e.wantPoints(lazy, 10, 100)
		_, _, err := e.svc.Debit(e.ctx, ledger.Debit{MemberID: lazy, Points: 50, Kind: ledger.KindSpend})
		wantCode(t, err, platform.EInsufficientPoints)

		e.clock.Advance(7 * day)
		e.wantPoints(lazy, 110, 0)
		e.spend(lazy, 110)

		st, err := e.svc.MemberStandings(e.ctx, []string{listed})
		if err != nil {
			t.Fatal(err)
		}
		if p := st[listed].Points; p.Available != 110 || p.Pending != 0 {
			t.Fatalf("standing: got available %d pending %d, want 110 and 0", p.Available, p.Pending)
		}

		released, err := e.svc.ReleaseDuePending(e.ctx, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if released != 100 {
			t.Fatalf("released: got %d, want 100 (only the swept member was still pending)", released)
		}
		if s := e.state(swept); s.Available != 110 || s.Pending != 0 {
			t.Fatalf("swept member's row: got available %d pending %d, want 110 and 0", s.Available, s.Pending)
		}
		for _, m := range []string{lazy, swept, listed} {
			e.checkInvariants(m)
		}
	})
}

func TestReverseRestoresTheLotsOnce(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m, other := e.member(), e.member()
		d30 := start.Add(30 * day)
		earn := e.earn(m, 100, expiresAt(d30))
		spent := e.spend(m, 60)

		rev, v, err := e.svc.Reverse(e.ctx, m, spent.ID, "order cancelled")
		if err != nil {
			t.Fatal(err)
		}
		if rev.Kind != ledger.KindReverse || rev.Points != 60 || rev.ReversesID != spent.ID {
			t.Fatalf("reverse entry: got %+v, want +60 reversing %s", rev, spent.ID)
		}
		if v.Available != 100 || len(v.Expiring) != 1 || !v.Expiring[0].ExpiresAt.Equal(localEnd(d30)) {
			t.Fatalf("points: got %+v, want 100 expiring %s as before", v, localEnd(d30))
		}

		cases := []struct {
			name          string
			member, entry string
			code          string
		}{
			{"a second time", m, spent.ID, platform.EConflict},
			{"a credit", m, earn.ID, platform.EConflict},
			{"a reverse entry", m, rev.ID, platform.EConflict},
			{"another member's entry", other, spent.ID, platform.ENotFound},
			{"an unknown entry", m, "01jzzzzzzzzzzzzzzzzzzzzzzz", platform.ENotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := e.svc.Reverse(e.ctx, tc.member, tc.entry, "again")
				wantCode(t, err, tc.code)
			})
		}
		e.wantPoints(m, 100, 0)
		e.checkInvariants(m)
	})
}

func TestReverseAfterTheLotLapsedGivesAFreshLot(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m := e.member()
		e.earn(m, 100, expiresAt(start.Add(5*day)))
		spent := e.spend(m, 100)
		e.clock.Advance(6 * day)
		if _, _, err := e.svc.Reverse(e.ctx, m, spent.ID, "cancelled late"); err != nil {
			t.Fatal(err)
		}
		v := e.wantPoints(m, 100, 0)
		want := localEnd(e.clock.Now().AddDate(1, 0, 0))
		if len(v.Expiring) != 1 || !v.Expiring[0].ExpiresAt.Equal(want) {
			t.Fatalf("expiring: got %+v, want 100 at %s", v.Expiring, want)
		}
		e.checkInvariants(m)
	})
}

func TestClawBackFollowsTheRefundPolicy(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		type want struct{ points, shortfall, available, pending int64 }
		cases := []struct {
			name   string
			policy string
			// setup runs before the claw-back of 100 points of order A.
			setup func(e *env, m string)
			want  want
			// after checks more of the points afterwards, when set.
			after func(t *testing.T, v members.PointsView)
		}{
			{"pending_only takes pending points", ledger.PolicyPendingOnly, func(e *env, m string) {
				e.earn(m, 100, forOrder("A"), pendingUntil(start.Add(7*day)))
				e.earn(m, 50)
			}, want{-100, 0, 50, 0}, nil},
			{"pending_only takes nothing once available", ledger.PolicyPendingOnly, func(e *env, m string) {
				e.earn(m, 100, forOrder("A"))
			}, want{0, 100, 100, 0}, nil},
			{"to_zero takes the order's lot before earlier-expiring ones", ledger.PolicyToZero, func(e *env, m string) {
				e.earn(m, 100, forOrder("A"), expiresAt(start.Add(90*day)))
				e.earn(m, 100, expiresAt(start.Add(30*day)))
			}, want{-100, 0, 100, 0}, func(t *testing.T, v members.PointsView) {
				if len(v.Expiring) != 1 || !v.Expiring[0].ExpiresAt.Equal(localEnd(start.Add(30*day))) {
					t.Fatalf("expiring: got %+v, want only the other lot (day 30) left", v.Expiring)
				}
			}},
			{"to_zero stops at zero", ledger.PolicyToZero, func(e *env, m string) {
				e.earn(m, 100, forOrder("A"))
				e.earn(m, 30)
				e.spend(m, 100)
			}, want{-30, 70, 0, 0}, nil},
			{"to_zero takes pending order points too", ledger.PolicyToZero, func(e *env, m string) {
				e.earn(m, 100, forOrder("A"), pendingUntil(start.Add(7*day)))
			}, want{-100, 0, 0, 0}, nil},
			{"allow_negative leaves a debt", ledger.PolicyAllowNegative, func(e *env, m string) {
				e.earn(m, 100, forOrder("A"))
				e.spend(m, 80)
			}, want{-100, 0, -80, 0}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, db)
				e.set("refund_policy", tc.policy)
				m := e.member()
				tc.setup(e, m)
				en, v, err := e.svc.ClawBack(e.ctx, ledger.ClawBack{MemberID: m, OrderID: "A", Points: 100, Reason: "refund", Ref: "refund:A"})
				if err != nil {
					t.Fatal(err)
				}
				got := want{en.Points, en.Shortfall, v.Available, v.Pending}
				if got != tc.want {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
				if tc.after != nil {
					tc.after(t, v)
				}
				if en.Kind != ledger.KindReverse || en.OrderID != "A" {
					t.Fatalf("entry: got kind %q order %q, want reverse for order A", en.Kind, en.OrderID)
				}
				e.checkInvariants(m)
			})
		}
	})
}

func TestDebtIsRepaidByTheNextCredits(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		e.set("refund_policy", ledger.PolicyAllowNegative)
		m := e.member()
		e.earn(m, 100, forOrder("A"))
		e.spend(m, 100)
		if _, _, err := e.svc.ClawBack(e.ctx, ledger.ClawBack{MemberID: m, OrderID: "A", Points: 100}); err != nil {
			t.Fatal(err)
		}
		e.wantPoints(m, -100, 0)
		_, _, err := e.svc.Debit(e.ctx, ledger.Debit{MemberID: m, Points: 1, Kind: ledger.KindSpend})
		wantCode(t, err, platform.EInsufficientPoints)

		e.earn(m, 30)
		e.wantPoints(m, -70, 0)
		e.checkInvariants(m)

		e.earn(m, 50, pendingUntil(start.Add(3*day)))
		e.wantPoints(m, -70, 50) // pending points don't pay until they are available
		e.clock.Advance(3 * day)
		e.wantPoints(m, -20, 0)
		e.checkInvariants(m)

		e.earn(m, 100)
		v := e.wantPoints(m, 80, 0)
		if len(v.Expiring) != 1 || v.Expiring[0].Points != 80 {
			t.Fatalf("expiring: got %+v, want the 80 left of the last lot", v.Expiring)
		}
		if s := e.state(m); s.Debt != 0 {
			t.Fatalf("debt: got %d, want 0", s.Debt)
		}
		e.spend(m, 80)
		e.checkInvariants(m)
	})
}

func TestGrowthIsASeparateCounter(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m := e.member()
		e.earn(m, 100, func(c *ledger.Credit) { c.Growth = 30 })
		e.spend(m, 100)
		e.clock.Advance(10 * day)
		if en, _, err := e.svc.Credit(e.ctx, ledger.Credit{MemberID: m, Growth: 20, Kind: ledger.KindEarn}); err != nil || en.ID != "" {
			t.Fatalf("growth-only credit: got entry %+v err %v, want no entry", en, err)
		}
		g, err := e.svc.GrowthOf(e.ctx, m)
		if err != nil || g != 50 {
			t.Fatalf("growth: got %d (%v), want 50 (spending never lowers growth)", g, err)
		}
		if g, _ := e.svc.GrowthSince(e.ctx, m, start.Add(5*day)); g != 20 {
			t.Fatalf("growth since day 5: got %d, want 20", g)
		}
		if _, _, err := e.svc.ClawBack(e.ctx, ledger.ClawBack{MemberID: m, OrderID: "none", Growth: 80}); err != nil {
			t.Fatal(err)
		}
		if g, _ := e.svc.GrowthOf(e.ctx, m); g != 0 {
			t.Fatalf("growth after a claw-back of 80: got %d, want 0 (never negative)", g)
		}
		calls := e.growth.calls[m]
		if want := []int64{30, 50, 0}; len(calls) != 3 || calls[0] != want[0] || calls[1] != want[1] || calls[2] != want[2] {
			t.Fatalf("growth observer: got %v, want %v", calls, want)
		}
		_, err = e.svc.GrowthOf(e.ctx, "01jzzzzzzzzzzzzzzzzzzzzzzz")
		wantCode(t, err, platform.ENotFound)
		e.checkInvariants(m)
	})
}

// TestGrowthOfManyMembers checks the batch reads of growth against the
// one-member reads: the same numbers, 0 (absent) for a member without
// growth, and nothing of another tenant's member.
func TestGrowthOfManyMembers(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e, other := newEnv(t, db), newEnv(t, db)
		a, b, none, stranger := e.member(), e.member(), e.member(), other.member()
		grow := func(env *env, m string, n int64) {
			t.Helper()
			if _, _, err := env.svc.Credit(env.ctx, ledger.Credit{MemberID: m, Growth: n, Kind: ledger.KindEarn}); err != nil {
				t.Fatal(err)
			}
		}
		grow(e, a, 30)
		grow(e, b, 70)
		grow(other, stranger, 500)
		e.clock.Advance(10 * day)
		grow(e, a, 20)
		if _, _, err := e.svc.ClawBack(e.ctx, ledger.ClawBack{MemberID: b, OrderID: "none", Growth: 25}); err != nil {
			t.Fatal(err)
		}
		ids := []string{a, b, none, stranger}

		got, err := e.svc.GrowthOfMembers(e.ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ids[:3] {
			want, err := e.svc.GrowthOf(e.ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if got[m] != want {
				t.Errorf("growth of %s: got %d, want %d", m, got[m], want)
			}
		}
		if g, ok := got[stranger]; ok {
			t.Errorf("growth of another tenant's member: got %d, want none", g)
		}

		tests := []struct {
			name  string
			since time.Time
			want  map[string]int64
		}{
			{"since the start", start, map[string]int64{a: 50, b: 45}},
			{"since day 5", start.Add(5 * day), map[string]int64{a: 20, b: -25}},
			{"since day 20", start.Add(20 * day), map[string]int64{}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.svc.GrowthSinceMembers(e.ctx, ids, tc.since)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range ids[:3] {
					one, err := e.svc.GrowthSince(e.ctx, m, tc.since)
					if err != nil {
						t.Fatal(err)
					}
					if got[m] != one || got[m] != tc.want[m] {
						t.Errorf("growth of %s: got %d, want %d (one by one: %d)", m, got[m], tc.want[m], one)
					}
				}
				if g, ok := got[stranger]; ok {
					t.Errorf("growth of another tenant's member: got %d, want none", g)
				}
			})
		}
	})
}

func TestTransfers(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		a, b := e.member(), e.member()
		d30, d60 := start.Add(30*day), start.Add(60*day)
		e.earn(a, 100, expiresAt(d30))
		e.earn(a, 100, expiresAt(d60))

		_, err := e.svc.Transfer(e.ctx, ledger.TransferInput{FromMemberID: a, ToMemberID: b, Points: 10})
		wantCode(t, err, platform.EConflict)

		e.set("transfers_enabled", true)
		tr, err := e.svc.Transfer(e.ctx, ledger.TransferInput{FromMemberID: a, ToMemberID: b, Points: 150, Reason: "gift"})
		if err != nil {
			t.Fatal(err)
		}
		if tr.TransferOut.Points != -150 || tr.TransferIn.Points != 150 || tr.TransferOut.Ref != tr.TransferIn.Ref {
			t.Fatalf("entries: got %+v and %+v, want -150 and +150 with one ref", tr.TransferOut, tr.TransferIn)
		}
		e.wantPoints(a, 50, 0)
		v := e.wantPoints(b, 150, 0)
		want := []members.Expiring{{Points: 100, ExpiresAt: localEnd(d30)}, {Points: 50, ExpiresAt: localEnd(d60)}}
		if len(v.Expiring) != 2 || v.Expiring[0] != want[0] || v.Expiring[1] != want[1] {
			t.Fatalf("receiver's expiring: got %+v, want the sender's dates %+v", v.Expiring, want)
		}
		_, _, err = e.svc.Reverse(e.ctx, a, tr.TransferOut.ID, "undo")
		wantCode(t, err, platform.EConflict)

		bad := []struct {
			name string
			in   ledger.TransferInput
			code string
		}{
			{"to oneself", ledger.TransferInput{FromMemberID: a, ToMemberID: a, Points: 1}, platform.EValidation},
			{"no points", ledger.TransferInput{FromMemberID: a, ToMemberID: b}, platform.EValidation},
			{"more than the sender has", ledger.TransferInput{FromMemberID: a, ToMemberID: b, Points: 51}, platform.EInsufficientPoints},
			{"to a stranger", ledger.TransferInput{FromMemberID: a, ToMemberID: "01jzzzzzzzzzzzzzzzzzzzzzzz", Points: 1}, platform.ENotFound},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.Transfer(e.ctx, tc.in)
				wantCode(t, err, tc.code)
			})
		}
		e.checkInvariants(a)
		e.checkInvariants(b)
	})
}

func TestTransferDailyCapCountsTheTenantsLocalDay(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		e.set("transfers_enabled", true)
		e.set("transfer_daily_cap", 100)
		a, b := e.member(), e.member()
		e.earn(a, 1000)
		e.clock.Set(time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC)) // 23:30 in Shanghai
		send := func(points int64) error {
			_, err := e.svc.Transfer(e.ctx, ledger.TransferInput{FromMemberID: a, ToMemberID: b, Points: points})
			return err
		}
		if err := send(80); err != nil {
			t.Fatal(err)
		}
		wantCode(t, send(30), platform.EValidation)
		e.clock.Advance(time.Hour) // 00:30 the next local day, still 10 March in UTC
		if err := send(30); err != nil {
			t.Fatalf("a new local day: got %v, want the transfer to pass", err)
		}
		if err := send(70); err != nil {
			t.Fatal(err)
		}
		wantCode(t, send(1), platform.EValidation)
		e.wantPoints(b, 180, 0)
	})
}

func TestHolds(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m := e.member()
		e.earn(m, 300)
		hold := func(order string, points int64) ledger.Hold {
			t.Helper()
			h, err := e.svc.CreateHold(e.ctx, ledger.HoldInput{MemberID: m, OrderID: order, Points: points})
			if err != nil {
				t.Fatalf("hold %s: %v", order, err)
			}
			return h
		}

		captured := hold("o1", 100)
		if captured.Status != ledger.HoldHeld || !captured.ExpiresAt.Equal(start.Add(15*time.Minute)) {
			t.Fatalf("hold: got %+v, want held until %s", captured, start.Add(15*time.Minute))
		}
		e.wantPoints(m, 200, 0)
		_, err := e.svc.CreateHold(e.ctx, ledger.HoldInput{MemberID: m, OrderID: "o1", Points: 10})
		wantCode(t, err, platform.EConflict)
		_, err = e.svc.CreateHold(e.ctx, ledger.HoldInput{MemberID: m, OrderID: "o-big", Points: 201})
		wantCode(t, err, platform.EInsufficientPoints)
		if h, err := e.svc.CaptureHold(e.ctx, captured.ID); err != nil || h.Status != ledger.HoldCaptured {
			t.Fatalf("capture: got %+v %v, want captured", h, err)
		}
		if h, err := e.svc.CaptureHold(e.ctx, captured.ID); err != nil || h.Status != ledger.HoldCaptured {
			t.Fatalf("capture twice: got %+v %v, want captured", h, err)
		}
		_, err = e.svc.ReleaseHold(e.ctx, captured.ID)
		wantCode(t, err, platform.EConflict)

		released := hold("o2", 50)
		e.wantPoints(m, 150, 0)
		for i := 0; i < 2; i++ {
			h, err := e.svc.ReleaseHold(e.ctx, released.ID)
			if err != nil || h.Status != ledger.HoldReleased {
				t.Fatalf("release %d: got %+v %v, want released", i+1, h, err)
			}
			e.wantPoints(m, 200, 0)
		}
		_, err = e.svc.CaptureHold(e.ctx, released.ID)
		wantCode(t, err, platform.EConflict)
		again := hold("o2", 20) // a released order may be held again
		e.wantPoints(m, 180, 0)

		other := e.member()
		e.earn(other, 40)
		swept, err := e.svc.CreateHold(e.ctx, ledger.HoldInput{MemberID: other, OrderID: "o3", Points: 40})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(16 * time.Minute)
		h, err := e.svc.GetHold(e.ctx, again.ID)
		if err != nil || h.Status != ledger.HoldExpired {
			t.Fatalf("expired hold: got %+v %v, want expired", h, err)
		}
		e.wantPoints(m, 200, 0)
		_, err = e.svc.CaptureHold(e.ctx, again.ID)
		wantCode(t, err, platform.EConflict)

		n, err := e.svc.ReleaseExpiredHolds(e.ctx, e.clock.Now())
		if err != nil || n != 1 {
			t.Fatalf("sweep: got %d holds (%v), want 1", n, err)
		}
		if h, _ := e.svc.GetHold(e.ctx, swept.ID); h.Status != ledger.HoldExpired {
			t.Fatalf("swept hold: got %s, want expired", h.Status)
		}
		e.wantPoints(other, 40, 0)
		e.checkInvariants(m)
		e.checkInvariants(other)
	})
}

func TestDonations(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m := e.member()
		e.earn(m, 100)
		c, err := e.svc.CreateCause(e.ctx, ledger.CauseInput{Name: "希望工程", Description: "School books"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.CreateCause(e.ctx, ledger.CauseInput{Name: "希望工程"})
		wantCode(t, err, platform.EConflict)
		for i, want := range []int64{30, 60} {
			d, err := e.svc.Donate(e.ctx, c.ID, ledger.DonationInput{MemberID: m, Points: 30})
			if err != nil {
				t.Fatal(err)
			}
			if d.Entry.Kind != ledger.KindSpend || d.Entry.Ref != "cause:"+c.ID || d.Cause.TotalPoints != want || d.Cause.Donations != int64(i+1) {
				t.Fatalf("donation %d: got entry %+v cause %+v, want a spend with ref cause:%s and total %d", i+1, d.Entry, d.Cause, c.ID, want)
			}
		}
		_, err = e.svc.Donate(e.ctx, c.ID, ledger.DonationInput{MemberID: m, Points: 41})
		wantCode(t, err, platform.EInsufficientPoints)
		_, err = e.svc.Donate(e.ctx, "01jzzzzzzzzzzzzzzzzzzzzzzz", ledger.DonationInput{MemberID: m, Points: 1})
		wantCode(t, err, platform.ENotFound)
		e.wantPoints(m, 40, 0)
		e.checkInvariants(m)
	})
}

func TestCreditValidation(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		m := e.member()
		cases := []struct {
			name  string
			c     ledger.Credit
			field string
		}{
			{"negative points", ledger.Credit{MemberID: m, Points: -1, Kind: ledger.KindEarn}, "points"},
			{"negative growth", ledger.Credit{MemberID: m, Growth: -1, Kind: ledger.KindEarn}, "growth"},
			{"a debit kind", ledger.Credit{MemberID: m, Points: 1, Kind: ledger.KindSpend}, "kind"},
			{"an expiry in the past", ledger.Credit{MemberID: m, Points: 1, Kind: ledger.KindEarn, ExpiresAt: start.Add(-time.Hour)}, "expires_at"},
			{"pending past the expiry", ledger.Credit{MemberID: m, Points: 1, Kind: ledger.KindEarn, ExpiresAt: start.Add(day), PendingUntil: start.Add(2 * day)}, "pending_until"},
			{"no member", ledger.Credit{Points: 1, Kind: ledger.KindEarn}, "member_id"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := e.svc.Credit(e.ctx, tc.c)
				wantCode(t, err, platform.EValidation)
				var pe *platform.Error
				if !asError(err, &pe) || pe.Details[tc.field] == nil {
					t.Fatalf("got details %v, want one naming %s", err, tc.field)
				}
			})
		}
		_, _, err := e.svc.Credit(e.ctx, ledger.Credit{MemberID: "01jzzzzzzzzzzzzzzzzzzzzzzz", Points: 1, Kind: ledger.KindEarn})
		wantCode(t, err, platform.ENotFound)
		e.wantPoints(m, 0, 0)
	})
}
