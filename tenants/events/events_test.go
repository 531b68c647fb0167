package events_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/events"
	"jifen/tenants/ledger"
)

func TestOrderPaidAwardsByRules(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		tests := []struct {
			name       string
			mult       events.Multiplier
			amount     int64
			wantPoints int64
			wantGrowth int64
		}{
			{"1 point per 10 yuan, 1 growth per yuan", nil, 12800, 12, 128},
			{"the remainder earns nothing", nil, 999, 0, 9},
			{"a 1.5x tier multiplies points, not growth", fixedMultiplier{1500, "Gold"}, 12800, 18, 128},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, db, tc.mult)
				f.rule(t, `{"template":"points_per_amount"}`)
				mid := f.member(t, "u1")
				res := f.ingest(t, order(mid, fmt.Sprintf("A%d", i), tc.amount))
				if res.PointsDelta != tc.wantPoints || res.GrowthDelta != tc.wantGrowth {
					t.Errorf("got points %d growth %d, want %d and %d", res.PointsDelta, res.GrowthDelta, tc.wantPoints, tc.wantGrowth)
				}
				if got := f.standing(t, mid); got != (standing{Available: tc.wantPoints, Growth: tc.wantGrowth}) {
					t.Errorf("got standing %+v, want %d available and %d growth", got, tc.wantPoints, tc.wantGrowth)
				}
				var ev events.Event
				r := f.get(t, "/events/"+res.EventID)
				r.JSON(t, &ev)
				if r.Status != http.StatusOK || len(ev.Awards) != 1 || ev.Awards[0].Points != tc.wantPoints || ev.OrderID != fmt.Sprintf("A%d", i) {
					t.Errorf("got event %d %s, want 200 with one award of %d points", r.Status, r.Body, tc.wantPoints)
				}
			})
		}
	})
}

func TestOrderPaidPendingWindow(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"points_per_amount"}`)
		f.setTenant(t, "points_pending_days", 7)
		mid := f.member(t, "u1")
		res := f.ingest(t, order(mid, "A1", 12800))
		if got, want := f.standing(t, mid), (standing{Pending: 12, Growth: 128}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		var ev events.Event
		f.get(t, "/events/"+res.EventID).JSON(t, &ev)
		if want := epoch.AddDate(0, 0, 7); ev.Details.Order == nil || ev.Details.Order.PendingUntil == nil || !ev.Details.Order.PendingUntil.Equal(want) {
			t.Errorf("got order details %+v, want pending until %v", ev.Details.Order, want)
		}
	})
}

func TestIdempotentReplay(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"points_per_amount"}`)
		mid := f.member(t, "u1")
		first := f.post(t, order(mid, "A1", 12800), "Idempotency-Key", "k-1")
		again := f.post(t, order(mid, "A1", 12800), "Idempotency-Key", "k-1")
		if first.Status != http.StatusCreated || again.Status != first.Status || string(again.Body) != string(first.Body) {
			t.Errorf("got replay %d %s, want the first answer %d %s", again.Status, again.Body, first.Status, first.Body)
		}
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("got no Idempotent-Replayed header on the replay")
		}
		if got := f.standing(t, mid); got.Available != 12 {
			t.Errorf("got %d points after a replay, want 12 (one credit)", got.Available)
		}
		other := f.post(t, order(mid, "A2", 100), "Idempotency-Key", "k-1")
		if other.Status != http.StatusConflict || other.ErrorCode() != "idempotency_key_reused" {
			t.Errorf("got %d %s for another body under the key, want 409 idempotency_key_reused", other.Status, other.ErrorCode())
		}
	})
}

func TestOrderCountsOnce(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"points_per_amount"}`)
		mid := f.member(t, "u1")
		f.post(t, order(mid, "A1", 12800), "Idempotency-Key", "k-1")

		t.Run("same order under another key or none", func(t *testing.T) {
			for _, headers := range [][]string{{"Idempotency-Key", "k-2"}, nil} {
				r := f.post(t, order(mid, "A1", 12800), headers...)
				if r.Status != http.StatusConflict || r.ErrorCode() != "conflict" {
					t.Errorf("got %d %s, want 409 conflict", r.Status, r.Body)
				}
			}
			if got := f.standing(t, mid); got.Available != 12 {
				t.Errorf("got %d points, want 12", got.Available)
			}
		})

		t.Run("racing members with one order id", func(t *testing.T) {
			const n = 8
			ids := make([]string, n)
			for i := range ids {
				ids[i] = f.member(t, fmt.Sprintf("race%d", i))
			}
			var wg sync.WaitGroup
			statuses := make([]int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i] = f.post(t, order(ids[i], "RACE", 5000)).Status
				}()
			}
			wg.Wait()
			created, conflicts := 0, 0
			for _, s := range statuses {
				switch s {
				case http.StatusCreated:
					created++
				case http.StatusConflict:
					conflicts++
				}
			}
			if created != 1 || conflicts != n-1 {
				t.Errorf("got statuses %v, want one 201 and %d 409", statuses, n-1)
			}
			var total int64
			for _, id := range ids {
				total += f.standing(t, id).Available
			}
			if total != 5 {
				t.Errorf("got %d points credited in all, want 5", total)
			}
		})
	})
}

func TestRefunds(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"points_per_amount"}`)
		mid := f.member(t, "u1")

		t.Run("full refund reverses everything", func(t *testing.T) {
			f.ingest(t, order(mid, "F1", 12800))
			res := f.ingest(t, refund(mid, "F1", "", 0))
			if res.PointsDelta != -12 || res.GrowthDelta != -128 {
				t.Errorf("got %d/%d, want -12/-128", res.PointsDelta, res.GrowthDelta)
			}
			if got := f.standing(t, mid); got != (standing{}) {
				t.Errorf("got %+v, want nothing left", got)
			}
			again := f.post(t, refund(mid, "F1", "", 0))
			if again.Status != http.StatusConflict {
				t.Errorf("got %d %s for a second full refund, want 409", again.Status, again.Body)
			}
		})

		t.Run("two partial refunds summing to the order reverse it exactly", func(t *testing.T) {
			// 12800 cents earned 12 points and 128 growth: 5000 cents is
			// 4.68 points (4) and 50 growth; the rest takes 8 and 78.
			f.ingest(t, order(mid, "P1", 12800))
			first := f.ingest(t, refund(mid, "P1", "r1", 5000))
			if first.PointsDelta != -4 || first.GrowthDelta != -50 {
				t.Errorf("got first refund %d/%d, want -4/-50", first.PointsDelta, first.GrowthDelta)
			}
			if r := f.post(t, refund(mid, "P1", "r1", 5000)); r.Status != http.StatusConflict {
				t.Errorf("got %d for refund r1 again, want 409", r.Status)
			}
			if r := f.post(t, refund(mid, "P1", "r2", 7801)); r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "attributes.amount_cents") {
				t.Errorf("got %d %s for a refund beyond the order, want 422 naming attributes.amount_cents", r.Status, r.Body)
			}
			second := f.ingest(t, refund(mid, "P1", "r2", 7800))
			if second.PointsDelta != -8 || second.GrowthDelta != -78 {
				t.Errorf("got second refund %d/%d, want -8/-78", second.PointsDelta, second.GrowthDelta)
			}
			if got := f.standing(t, mid); got != (standing{}) {
				t.Errorf("got %+v, want nothing left", got)
			}
			if r := f.post(t, refund(mid, "P1", "r3", 0)); r.Status != http.StatusConflict {
				t.Errorf("got %d for a refund of a refunded order, want 409", r.Status)
			}
		})

		t.Run("points paid at checkout come back in proportion", func(t *testing.T) {
			body := order(mid, "U1", 10000)
			body["attributes"].(map[string]any)["points_used"] = 300
			f.ingest(t, body)
			before := f.standing(t, mid)
			half := f.ingest(t, refund(mid, "U1", "h1", 5000))
			if half.PointsDelta != 150-5 {
				t.Errorf("got %d for half a refund, want 145 (150 returned, 5 reversed)", half.PointsDelta)
			}
			rest := f.ingest(t, refund(mid, "U1", "h2", 0))
			if rest.PointsDelta != 150-5 {
				t.Errorf("got %d for the rest, want 145", rest.PointsDelta)
			}
			if got := f.standing(t, mid).Available - before.Available; got != 290 {
				t.Errorf("got %d points back in all, want 290", got)
			}
		})

		t.Run("refunds that can't apply", func(t *testing.T) {
			other := f.member(t, "u2")
			f.ingest(t, order(mid, "X1", 1000))
			tests := []struct {
				name   string
				body   map[string]any
				status int
				code   string
			}{
				{"unknown order", refund(mid, "NOPE", "", 0), 404, "not_found"},
				{"another member's order", refund(other, "X1", "", 0), 422, "validation_failed"},
				{"no order id", map[string]any{"type": "order_refunded", "member_id": mid, "attributes": map[string]any{}}, 422, "validation_failed"},
				{"zero amount", refund(mid, "X1", "z", -1), 422, "validation_failed"},
			}
			tests[3].body["attributes"].(map[string]any)["amount_cents"] = 0
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := f.post(t, tc.body)
					if r.Status != tc.status || r.ErrorCode() != tc.code {
						t.Errorf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
					}
				})
			}
		})
	})
}

func TestRefundPolicies(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		// The member earns 12 points on an order, spends 10, and the order is
		// refunded in full: the policy decides what can be taken back.
		tests := []struct {
			policy      string
			pendingDays int
			wantDelta   int64
			wantLeft    standing
		}{
			{ledger.PolicyToZero, 0, -2, standing{}},
			{ledger.PolicyAllowNegative, 0, -12, standing{Available: -10}},
			{ledger.PolicyPendingOnly, 0, 0, standing{Available: 2}},
		}
		for _, tc := range tests {
			t.Run(tc.policy, func(t *testing.T) {
				f := newFixture(t, db, nil)
				f.rule(t, `{"template":"points_per_amount","params":{"spend_per_growth_cents":0}}`)
				f.setTenant(t, "refund_policy", tc.policy)
				mid := f.member(t, "u1")
				f.ingest(t, order(mid, "A1", 12800))
				if _, _, err := f.ledger.Debit(f.ctx, ledger.Debit{MemberID: mid, Points: 10, Kind: ledger.KindSpend, Reason: "test"}); err != nil {
					t.Fatal(err)
				}
				res := f.ingest(t, refund(mid, "A1", "", 0))
				if res.PointsDelta != tc.wantDelta {
					t.Errorf("got points delta %d, want %d", res.PointsDelta, tc.wantDelta)
				}
				if got := f.standing(t, mid); got != tc.wantLeft {
					t.Errorf("got %+v, want %+v", got, tc.wantLeft)
				}
				var ev events.Event
				f.get(t, "/events/"+res.EventID).JSON(t, &ev)
				if d := ev.Details.Refund; d == nil || d.PointsReversed != 12 || d.PointsTaken != -tc.wantDelta {
					t.Errorf("got refund details %+v, want 12 reversed and %d taken", d, -tc.wantDelta)
				}
			})
		}
		t.Run(ledger.PolicyPendingOnly+" while pending", func(t *testing.T) {
			f := newFixture(t, db, nil)
			f.rule(t, `{"template":"points_per_amount","params":{"spend_per_growth_cents":0}}`)
			f.setTenant(t, "refund_policy", ledger.PolicyPendingOnly)
			f.setTenant(t, "points_pending_days", 7)
			mid := f.member(t, "u1")
			f.ingest(t, order(mid, "A1", 12800))
			res := f.ingest(t, refund(mid, "A1", "", 0))
			if res.PointsDelta != -12 || f.standing(t, mid) != (standing{}) {
				t.Errorf("got delta %d and %+v, want -12 and nothing left", res.PointsDelta, f.standing(t, mid))
			}
		})
	})
}

func TestCheckInStreak(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"checkin_streak","params":{"awards":[1,2,3,5,8,13,20]}}`)
		mid := f.member(t, "u1")
		shanghai, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			t.Fatal(err)
		}
		at := func(day, hour, minute int) string {
			return time.Date(2026, 11, day, hour, minute, 0, 0, shanghai).UTC().Format(time.RFC3339)
		}
		f.clk.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		// 23:30 on the 1st and 00:10 on the 2nd are the same UTC day but
		// two local days.
		steps := []struct {
			when       string
			wantPoints int64
			wantStreak int64
			repeated   bool
		}{
			{at(1, 23, 30), 1, 1, false},
			{at(2, 0, 10), 2, 2, false},
			{at(2, 20, 0), 0, 2, true},
			{at(3, 9, 0), 3, 3, false},
			{at(5, 9, 0), 1, 1, false}, // the 4th was missed
			{at(6, 9, 0), 2, 2, false},
			{at(7, 9, 0), 3, 3, false},
			{at(8, 9, 0), 5, 4, false},
		}
		for i, s := range steps {
			res := f.ingest(t, map[string]any{"type": "check_in", "member_id": mid, "occurred_at": s.when})
			var ev events.Event
			f.get(t, "/events/"+res.EventID).JSON(t, &ev)
			ci := ev.Details.CheckIn
			if res.PointsDelta != s.wantPoints || ci == nil || ci.Streak != s.wantStreak || ci.Repeated != s.repeated {
				t.Errorf("step %d (%s): got %d points, check-in %+v, want %d points, streak %d, repeated %v",
					i+1, s.when, res.PointsDelta, ci, s.wantPoints, s.wantStreak, s.repeated)
			}
			if s.repeated && !strings.Contains(res.Note, "Already checked in") {
				t.Errorf("step %d: got note %q, want it to say the member already checked in", i+1, res.Note)
			}
		}
		if got := f.standing(t, mid).Available; got != 1+2+3+1+2+3+5 {
			t.Errorf("got %d points, want 17", got)
		}
	})
}

// TestOtherEventsSeeTheStreakAsItStands checks member.checkin_streak as
// an order (read with the order's other facts) and any other event see it:
// the streak of a check-in that local day or the day before, else 0.
func TestOtherEventsSeeTheStreakAsItStands(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		for _, event := range []string{"order_paid", "review_posted"} {
			f.rule(t, `{"name":"streak bonus","event":"`+event+`","points":"member.checkin_streak * 10"}`)
		}
		mid := f.member(t, "u1")
		shanghai, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			t.Fatal(err)
		}
		at := func(day, hour int) string {
			return time.Date(2026, 11, day, hour, 0, 0, 0, shanghai).UTC().Format(time.RFC3339)
		}
		f.clk.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		for _, day := range []int{2, 3} {
			f.ingest(t, map[string]any{"type": "check_in", "member_id": mid, "occurred_at": at(day, 9)})
		}
		tests := []struct {
			name       string
			when       string
			wantStreak int64
		}{
			{"before any check-in", at(1, 12), 0},
			{"the day of the first check-in", at(2, 12), 1},
			{"the day of a check-in", at(3, 12), 2},
			{"the day after a check-in", at(4, 12), 2},
			{"a day was missed", at(5, 12), 0},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				body := order(mid, fmt.Sprintf("S%d", i), 100)
				body["occurred_at"] = tc.when
				if got := f.ingest(t, body).PointsDelta; got != tc.wantStreak*10 {
					t.Errorf("order_paid: got %d points, want %d (streak %d)", got, tc.wantStreak*10, tc.wantStreak)
				}
				review := map[string]any{"type": "review_posted", "member_id": mid, "occurred_at": tc.when}
				if got := f.ingest(t, review).PointsDelta; got != tc.wantStreak*10 {
					t.Errorf("review_posted: got %d points, want %d (streak %d)", got, tc.wantStreak*10, tc.wantStreak)
				}
			})
		}
	})
}

func TestReferral(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"referral","params":{"referrer_points":500,"referee_points":200}}`)
		f.rule(t, `{"template":"registration","params":{"points":100}}`)
		referrer := f.member(t, "r1")
		referee := f.member(t, "e1")

		reg := f.ingest(t, map[string]any{"type": "member_registered", "member_id": referee,
			"attributes": map[string]any{"referrer_external_id": "r1"}})
		if reg.PointsDelta != 100 {
			t.Errorf("got %d for registering, want 100", reg.PointsDelta)
		}
		if r := f.post(t, map[string]any{"type": "member_registered", "member_id": referee}); r.Status != http.StatusConflict {
			t.Errorf("got %d for a second registration, want 409", r.Status)
		}

		first := f.ingest(t, order(referee, "E1", 5000))
		if len(first.Related) != 2 {
			t.Fatalf("got %d related events on the first order, want 2: %+v", len(first.Related), first.Related)
		}
		got := map[string]int64{}
		for _, rel := range first.Related {
			if rel.Type != events.TypeReferralCompleted {
				t.Errorf("got related type %s, want referral_completed", rel.Type)
			}
			got[rel.MemberID] = rel.PointsDelta
		}
		if got[referrer] != 500 || got[referee] != 200 {
			t.Errorf("got referral points %v, want referrer 500 and referee 200", got)
		}
		second := f.ingest(t, order(referee, "E2", 5000))
		if len(second.Related) != 0 {
			t.Errorf("got %d related events on the second order, want 0", len(second.Related))
		}
		if s := f.standing(t, referrer); s.Available != 500 {
			t.Errorf("got referrer %d points, want 500", s.Available)
		}
		if s := f.standing(t, referee); s.Available != 300 {
			t.Errorf("got referee %d points, want 300", s.Available)
		}

		var list struct{ Items []events.Event }
		f.get(t, "/events?type=referral_completed&member_id="+referrer).JSON(t, &list)
		if len(list.Items) != 1 || list.Items[0].Details.Referral == nil || list.Items[0].Details.Referral.Role != events.RoleReferrer ||
			list.Items[0].ParentEventID != first.EventID {
			t.Errorf("got referrer's referral events %+v, want one with role referrer from the order event", list.Items)
		}

		t.Run("a referee who had paid before registering earns no referral", func(t *testing.T) {
			late := f.member(t, "e2")
			f.ingest(t, order(late, "L1", 5000))
			f.ingest(t, map[string]any{"type": "member_registered", "member_id": late,
				"attributes": map[string]any{"referrer_member_id": referrer}})
			if res := f.ingest(t, order(late, "L2", 5000)); len(res.Related) != 0 {
				t.Errorf("got %d related events, want 0", len(res.Related))
			}
		})

		t.Run("links that can't be made", func(t *testing.T) {
			tests := []struct {
				name  string
				attrs map[string]any
				field string
			}{
				{"self", map[string]any{"referrer_member_id": referrer}, "attributes.referrer_member_id"},
				{"unknown", map[string]any{"referrer_external_id": "nobody"}, "attributes.referrer_external_id"},
				{"both ids", map[string]any{"referrer_external_id": "e1", "referrer_member_id": referee}, "attributes.referrer_external_id"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := f.post(t, map[string]any{"type": "member_registered", "member_id": referrer, "attributes": tc.attrs})
					var body struct {
						Error struct{ Details map[string]any }
					}
					r.JSON(t, &body)
					if r.Status != http.StatusUnprocessableEntity || body.Error.Details[tc.field] == nil {
						t.Errorf("got %d %s, want 422 naming %s", r.Status, r.Body, tc.field)
					}
				})
			}
		})
	})
}

func TestCustomEventAndLimits(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"fixed_points","params":{"event":"level_completed","points":7}}`)
		f.rule(t, `{"template":"review","params":{"points":10,"daily_cap_points":25}}`)
		mid := f.member(t, "u1")

		if res := f.ingest(t, map[string]any{"type": "level_completed", "external_id": "u1", "attributes": map[string]any{"level": 3}}); res.PointsDelta != 7 {
			t.Errorf("got %d for a custom event, want 7", res.PointsDelta)
		}
		if res := f.ingest(t, map[string]any{"type": "unknown_custom", "member_id": mid}); res.PointsDelta != 0 || len(res.Awards) != 0 {
			t.Errorf("got %d points %v for an event no rule names, want nothing", res.PointsDelta, res.Awards)
		}
		// The daily cap of 25 allows 10, 10, 5, then nothing.
		var got []int64
		for range 4 {
			got = append(got, f.ingest(t, map[string]any{"type": "review_posted", "member_id": mid}).PointsDelta)
		}
		if fmt.Sprint(got) != "[10 10 5 0]" {
			t.Errorf("got review points %v, want [10 10 5 0]", got)
		}
		f.clk.Advance(24 * time.Hour)
		if res := f.ingest(t, map[string]any{"type": "review_posted", "member_id": mid}); res.PointsDelta != 10 {
			t.Errorf("got %d the next day, want 10", res.PointsDelta)
		}
	})
}

func TestInvalidEvents(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"points_per_amount"}`)
		mid := f.member(t, "u1")
		tests := []struct {
			name   string
			body   any
			status int
			field  string
		}{
			{"type not lower_snake", map[string]any{"type": "Order-Paid", "member_id": mid}, 422, "type"},
			{"no type", map[string]any{"member_id": mid}, 422, "type"},
			{"no member", map[string]any{"type": "check_in"}, 422, "member_id"},
			{"time not RFC 3339", map[string]any{"type": "check_in", "member_id": mid, "occurred_at": "2026-11-22 10:00"}, 422, "occurred_at"},
			{"time in the future", map[string]any{"type": "check_in", "member_id": mid, "occurred_at": epoch.Add(time.Hour).Format(time.RFC3339)}, 422, "occurred_at"},
			{"attributes not an object", map[string]any{"type": "check_in", "member_id": mid, "attributes": []int{1}}, 422, "attributes"},
			{"order without order_id", map[string]any{"type": "order_paid", "member_id": mid, "attributes": map[string]any{"amount_cents": 100}}, 422, "attributes.order_id"},
			{"amount not whole cents", map[string]any{"type": "order_paid", "member_id": mid, "attributes": map[string]any{"order_id": "A", "amount_cents": 12.5}}, 422, "attributes.amount_cents"},
			{"amount as text", map[string]any{"type": "order_paid", "member_id": mid, "attributes": map[string]any{"order_id": "A", "amount_cents": "100"}}, 422, "attributes.amount_cents"},
			{"ids that disagree", map[string]any{"type": "check_in", "member_id": mid, "external_id": "someone"}, 422, "external_id"},
			{"not JSON", "{", 400, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := f.post(t, tc.body)
				var body struct {
					Error struct{ Details map[string]any }
				}
				r.JSON(t, &body)
				if r.Status != tc.status || (tc.field != "" && body.Error.Details[tc.field] == nil) {
					t.Errorf("got %d %s, want %d naming %q", r.Status, r.Body, tc.status, tc.field)
				}
			})
		}
		var list struct{ Items []events.Event }
		f.get(t, "/events").JSON(t, &list)
		if len(list.Items) != 0 || f.standing(t, mid) != (standing{}) {
			t.Errorf("got %d events and %+v after refused events, want none", len(list.Items), f.standing(t, mid))
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newFixture(t, db, nil)
		b := newFixture(t, db, nil)
		mA := a.member(t, "u1")
		b.member(t, "u1")
		evA := a.ingest(t, map[string]any{"type": "check_in", "member_id": mA})

		if r := b.post(t, map[string]any{"type": "check_in", "member_id": mA}); r.Status != http.StatusNotFound || r.ErrorCode() != "not_found" {
			t.Errorf("got %d %s for another tenant's member, want 404", r.Status, r.Body)
		}
		if r := b.get(t, "/events/"+evA.EventID); r.Status != http.StatusNotFound {
			t.Errorf("got %d for another tenant's event, want 404", r.Status)
		}
		var list struct{ Items []events.Event }
		b.get(t, "/events?member_id="+mA).JSON(t, &list)
		if len(list.Items) != 0 {
			t.Errorf("got %d of another tenant's events, want 0", len(list.Items))
		}
		// The same external id in tenant B is B's own member.
		res := b.ingest(t, map[string]any{"type": "check_in", "external_id": "u1"})
		if res.MemberID == mA {
			t.Errorf("got tenant A's member for tenant B's external id")
		}
	})
}

func TestListEvents(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		m1, m2 := f.member(t, "u1"), f.member(t, "u2")
		var want []string
		for i := range 5 {
			f.clk.Advance(time.Second)
			mid := m1
			if i%2 == 1 {
				mid = m2
			}
			want = append([]string{f.ingest(t, map[string]any{"type": "content_shared", "member_id": mid}).EventID}, want...)
		}
		var got []string
		cursor := ""
		for {
			var page struct {
				Items      []events.Event
				NextCursor string `json:"next_cursor"`
			}
			r := f.get(t, "/events?limit=2&cursor="+cursor)
			if r.Status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", r.Status, r.Body)
			}
			r.JSON(t, &page)
			for _, e := range page.Items {
				got = append(got, e.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %v, want newest first %v", got, want)
		}
		var mine struct{ Items []events.Event }
		f.get(t, "/events?member_id="+m2).JSON(t, &mine)
		if len(mine.Items) != 2 {
			t.Errorf("got %d events of u2, want 2", len(mine.Items))
		}
		if r := f.get(t, "/events?cursor=bogus!"); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("got %d for a bad cursor, want 422", r.Status)
		}
		if r := f.env.Do(t, http.MethodPost, "/api/v1/tenants/"+f.tid+"/events", "viewer", map[string]any{"type": "check_in", "member_id": m1}); r.Status != http.StatusForbidden {
			t.Errorf("got %d for a viewer posting, want 403", r.Status)
		}
	})
}

func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(events.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	allow := func(string, string) gin.HandlerFunc { return func(c *gin.Context) { c.Next() } }
	events.Routes(e.Group("/api/v1/tenants/:tid"), allow, nil, &events.Service{})
	for _, r := range e.Routes() {
		path := regexp.MustCompile(`:(\w+)`).ReplaceAllString(r.Path, "{$1}")
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("got no OpenAPI entry for %s %s, want one", r.Method, path)
		}
	}
}
