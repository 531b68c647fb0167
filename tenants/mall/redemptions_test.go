package mall_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

// race sends n requests at once and returns the responses in order.
func race(n int, send func(i int) *routertest.Response) []*routertest.Response {
	out := make([]*routertest.Response, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-gate
			out[i] = send(i)
		}(i)
	}
	close(gate)
	wg.Wait()
	return out
}

// TestFlashSaleNeverOversells races buyers for a scarce item: exactly the
// stock succeeds, everyone else gets out_of_stock, stock ends at 0, and
// points move only for the winners, once each.
func TestFlashSaleNeverOversells(t *testing.T) {
	cases := []struct {
		name                     string
		members, perMember       int
		stock, price, startsWith int64
	}{
		{"60 requests by 30 members for 10", 30, 2, 10, 100, 200},
		{"300 buyers for 50", 300, 1, 50, 100, 100},
	}
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, db)
				item := e.item(map[string]any{"name": "限量杯", "stock": tc.stock, "points_price": tc.price})
				ms := make([]string, tc.members)
				for i := range ms {
					ms[i] = e.member(tc.startsWith)
				}
				n := tc.members * tc.perMember
				res := race(n, func(i int) *routertest.Response {
					// Half the requests carry an idempotency key, whose
					// transaction the redemption then joins.
					if i%2 == 0 {
						return e.redeem(ms[i%tc.members], item, 1, "Idempotency-Key", fmt.Sprintf("flash-%d", i))
					}
					return e.redeem(ms[i%tc.members], item, 1)
				})
				won := map[string]int64{}
				var ok, sold int64
				for i, r := range res {
					switch {
					case r.Status == 201:
						ok++
						won[ms[i%tc.members]]++
					case r.Status == 409 && r.ErrorCode() == platform.EOutOfStock:
						sold++
					default:
						t.Fatalf("request %d: got %d %s, want 201 or 409 out_of_stock", i, r.Status, r.Body)
					}
				}
				if ok != tc.stock || sold != int64(n)-tc.stock {
					t.Fatalf("got %d successes and %d out_of_stock, want %d and %d", ok, sold, tc.stock, int64(n)-tc.stock)
				}
				if got := e.stock(item); got != 0 {
					t.Fatalf("stock: got %d, want 0", got)
				}
				var spent int64
				for _, m := range ms {
					paid := tc.startsWith - e.points(m)
					if paid != won[m]*tc.price {
						t.Fatalf("member %s: paid %d for %d wins, want %d", m, paid, won[m], won[m]*tc.price)
					}
					spent += paid
				}
				if spent != tc.stock*tc.price {
					t.Fatalf("points spent: got %d, want %d", spent, tc.stock*tc.price)
				}
				if got := e.count("mall_redemptions", "item_id = ?", item); got != tc.stock {
					t.Fatalf("redemptions stored: got %d, want %d", got, tc.stock)
				}
				if got := e.count("ledger_entries", "kind = ?", "redeem"); got != tc.stock {
					t.Fatalf("redeem entries: got %d, want %d", got, tc.stock)
				}
			})
		}
	})
}

// TestCancelRefundsAndRestocksOnce cancels one redemption twice in a row
// and many times at once: one cancellation wins, the others get conflict
// naming the status, and points and stock come back exactly once.
func TestCancelRefundsAndRestocksOnce(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		for _, concurrent := range []bool{false, true} {
			t.Run(fmt.Sprintf("concurrent=%v", concurrent), func(t *testing.T) {
				e := newEnv(t, db)
				item := e.item(map[string]any{"stock": 5, "points_price": 120})
				m := e.member(500)
				r := e.redeem(m, item, 2)
				if r.Status != 201 {
					t.Fatalf("redeem: got %d %s, want 201", r.Status, r.Body)
				}
				rid := r.Map(t)["id"].(string)
				if e.points(m) != 260 || e.stock(item) != 3 {
					t.Fatalf("after redeeming: got points %d stock %d, want 260 and 3", e.points(m), e.stock(item))
				}
				tries := 2
				if concurrent {
					tries = 12
				}
				var res []*routertest.Response
				send := func(i int) *routertest.Response {
					return e.do("POST", "/mall/redemptions/"+rid+"/cancel", platform.RoleOperator, map[string]any{"reason": "changed mind"})
				}
				if concurrent {
					res = race(tries, send)
				} else {
					for i := 0; i < tries; i++ {
						res = append(res, send(i))
					}
				}
				ok := 0
				for _, r := range res {
					switch r.Status {
					case 200:
						ok++
						if got := r.Map(t)["status"]; got != "cancelled" {
							t.Fatalf("status: got %v, want cancelled", got)
						}
					case 409:
						d := wantError(t, r, 409, platform.EConflict)
						if d["status"] != "cancelled" {
							t.Fatalf("conflict details: got %v, want status cancelled", d)
						}
					default:
						t.Fatalf("cancel: got %d %s, want 200 or 409", r.Status, r.Body)
					}
				}
				if ok != 1 {
					t.Fatalf("successful cancellations: got %d, want 1", ok)
				}
				if e.points(m) != 500 || e.stock(item) != 5 {
					t.Fatalf("after cancelling: got points %d stock %d, want 500 and 5", e.points(m), e.stock(item))
				}
				if got := e.count("ledger_entries", "member_id = ? AND kind = ?", m, "reverse"); got != 1 {
					t.Fatalf("reverse entries: got %d, want 1", got)
				}
				got := e.must(200, "GET", "/mall/redemptions/"+rid, platform.RoleViewer, nil)
				if got["refund_entry_id"] == "" || got["cancel_reason"] != "changed mind" {
					t.Fatalf("cancelled redemption: got %v, want a refund entry and the reason", got)
				}
			})
		}
	})
}

func TestRedeemRefusals(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		t.Run("insufficient points change nothing", func(t *testing.T) {
			e := newEnv(t, db)
			item := e.item(map[string]any{"stock": 3, "points_price": 300})
			m := e.member(299)
			wantError(t, e.redeem(m, item, 1), 422, platform.EInsufficientPoints)
			if e.stock(item) != 3 || e.points(m) != 299 || e.count("mall_redemptions", "") != 0 {
				t.Fatalf("got stock %d points %d redemptions %d, want 3, 299, 0", e.stock(item), e.points(m), e.count("mall_redemptions", ""))
			}
		})
		t.Run("per-member limits", func(t *testing.T) {
			e := newEnv(t, db)
			item := e.item(map[string]any{"stock": 100, "points_price": 10, "per_member_limit": 3, "per_member_daily_limit": 2})
			m := e.member(1000)
			if r := e.redeem(m, item, 2); r.Status != 201 {
				t.Fatalf("first: got %d %s", r.Status, r.Body)
			}
			d := wantError(t, e.redeem(m, item, 1), 409, platform.EConflict)
			if d["limit"] != "per_member_daily_limit" {
				t.Fatalf("details: got %v, want the daily limit named", d)
			}
			// The next local day (Shanghai) opens the daily limit again,
			// but the total limit still counts.
			e.clock.Advance(14 * time.Hour)
			if r := e.redeem(m, item, 1); r.Status != 201 {
				t.Fatalf("next day: got %d %s", r.Status, r.Body)
			}
			d = wantError(t, e.redeem(m, item, 1), 409, platform.EConflict)
			if d["limit"] != "per_member_limit" {
				t.Fatalf("details: got %v, want the total limit named", d)
			}
			if e.points(m) != 970 || e.stock(item) != 97 {
				t.Fatalf("got points %d stock %d, want 970 and 97", e.points(m), e.stock(item))
			}
			// A cancelled redemption no longer counts.
			rid := e.must(200, "GET", "/mall/redemptions?member_id="+m+"&limit=1", platform.RoleViewer, nil)["items"].([]any)[0].(map[string]any)["id"].(string)
			e.must(200, "POST", "/mall/redemptions/"+rid+"/cancel", platform.RoleOperator, nil)
			if r := e.redeem(m, item, 1); r.Status != 201 {
				t.Fatalf("after cancelling: got %d %s", r.Status, r.Body)
			}
		})
		t.Run("monthly limit in the tenant's zone", func(t *testing.T) {
			e := newEnv(t, db)
			item := e.item(map[string]any{"stock": 100, "points_price": 10, "per_member_monthly_limit": 1})
			m := e.member(1000)
			e.clock.Set(time.Date(2026, 3, 31, 15, 0, 0, 0, time.UTC)) // 23:00 on 31 March in Shanghai
			if r := e.redeem(m, item, 1); r.Status != 201 {
				t.Fatalf("March: got %d %s", r.Status, r.Body)
			}
			wantError(t, e.redeem(m, item, 1), 409, platform.EConflict)
			e.clock.Advance(90 * time.Minute) // 00:30 on 1 April in Shanghai, still March in UTC
			if r := e.redeem(m, item, 1); r.Status != 201 {
				t.Fatalf("April: got %d %s", r.Status, r.Body)
			}
		})
		t.Run("window, activity and tier", func(t *testing.T) {
			e := newEnv(t, db)
			opens := start.Add(time.Hour)
			flash := e.item(map[string]any{"points_price": 10, "starts_at": opens, "ends_at": opens.Add(10 * time.Minute)})
			gold := e.item(map[string]any{"points_price": 10, "min_tier_rank": 2})
			off := e.item(map[string]any{"points_price": 10, "active": false})
			m := e.member(1000)
			d := wantError(t, e.redeem(m, flash, 1), 409, platform.EConflict)
			if d["starts_at"] == nil {
				t.Fatalf("details: got %v, want starts_at", d)
			}
			e.clock.Set(opens)
			if r := e.redeem(m, flash, 1); r.Status != 201 {
				t.Fatalf("in the window: got %d %s", r.Status, r.Body)
			}
			e.clock.Set(opens.Add(10 * time.Minute))
			wantError(t, e.redeem(m, flash, 1), 409, platform.EConflict)
			wantError(t, e.redeem(m, off, 1), 409, platform.EConflict)
			d = wantError(t, e.redeem(m, gold, 1), 409, platform.EConflict)
			if num(d["min_tier_rank"]) != 2 || num(d["member_tier_rank"]) != 0 {
				t.Fatalf("details: got %v, want min 2 member 0", d)
			}
			e.tiers.set(m, 2)
			if r := e.redeem(m, gold, 1); r.Status != 201 {
				t.Fatalf("with the tier: got %d %s", r.Status, r.Body)
			}
		})
		t.Run("bad input", func(t *testing.T) {
			e := newEnv(t, db)
			item := e.item(nil)
			phys := e.item(map[string]any{"kind": "physical"})
			m := e.member(1000)
			for _, tc := range []struct {
				name  string
				body  any
				field string
			}{
				{"no member", map[string]any{"item_id": item}, "member_id"},
				{"zero quantity", map[string]any{"member_id": m, "item_id": item, "quantity": 0}, "quantity"},
				{"quantity as text", `{"member_id":"` + m + `","item_id":"` + item + `","quantity":"2"}`, "quantity"},
				{"physical without address", map[string]any{"member_id": m, "item_id": phys}, "shipping_address"},
				{"address without phone", map[string]any{"member_id": m, "item_id": phys, "shipping_address": map[string]any{"name": "a", "address": "b"}}, "shipping_address.phone"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					d := wantError(t, e.do("POST", "/mall/redemptions", platform.RoleOperator, tc.body), 422, platform.EValidation)
					if _, ok := d[tc.field]; !ok {
						t.Fatalf("details: got %v, want %s named", d, tc.field)
					}
				})
			}
			wantError(t, e.do("POST", "/mall/redemptions", platform.RoleOperator, "{"), 400, platform.EInvalidJSON)
			wantError(t, e.redeem(m, "nope", 1), 404, platform.ENotFound)
			wantError(t, e.redeem("nope", item, 1), 404, platform.ENotFound)
			wantError(t, e.redeem(m, item, 1, routertest.RoleHeader, platform.RoleViewer), 403, platform.EForbidden)
			if e.points(m) != 1000 || e.count("mall_redemptions", "") != 0 {
				t.Fatalf("bad input changed something: points %d, redemptions %d", e.points(m), e.count("mall_redemptions", ""))
			}
		})
	})
}

// TestRedeemIdempotency replays a redemption: the same answer, charged once.
func TestRedeemIdempotency(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		item := e.item(map[string]any{"stock": 5, "points_price": 100})
		m := e.member(1000)
		first := e.redeem(m, item, 1, "Idempotency-Key", "order-1")
		again := e.redeem(m, item, 1, "Idempotency-Key", "order-1")
		if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) {
			t.Fatalf("replay: got %d %s and %d %s, want the same 201", first.Status, first.Body, again.Status, again.Body)
		}
		wantError(t, e.redeem(m, item, 2, "Idempotency-Key", "order-1"), 409, platform.EIdempotencyReused)
		if e.points(m) != 900 || e.stock(item) != 4 {
			t.Fatalf("got points %d stock %d, want 900 and 4", e.points(m), e.stock(item))
		}
	})
}

// TestFulfilment walks a physical redemption through its states and
// checks that wrong moves name the current status and every move is
// audited.
func TestFulfilment(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		item := e.item(map[string]any{"kind": "physical", "points_price": 500, "cash_price_cents": 990, "stock": 2})
		m := e.member(2000)
		r := e.do("POST", "/mall/redemptions", platform.RoleOperator, map[string]any{"member_id": m, "item_id": item, "quantity": 2, "shipping_address": address})
		if r.Status != 201 {
			t.Fatalf("redeem: got %d %s", r.Status, r.Body)
		}
		red := r.Map(t)
		rid := red["id"].(string)
		if red["status"] != "pending" || num(red["points_spent"]) != 1000 || num(red["cash_due_cents"]) != 1980 {
			t.Fatalf("redemption: got %v, want pending, 1000 points, 1980 cents", red)
		}
		path := "/mall/redemptions/" + rid
		d := wantError(t, e.do("POST", path+"/ship", platform.RoleOperator, map[string]any{"carrier": "SF", "tracking_number": "SF1"}), 409, platform.EConflict)
		if d["status"] != "pending" {
			t.Fatalf("details: got %v, want status pending", d)
		}
		wantError(t, e.do("POST", path+"/complete", platform.RoleOperator, nil), 409, platform.EConflict)
		if got := e.must(200, "GET", "/mall/redemptions?status=pending", platform.RoleViewer, nil)["items"].([]any); len(got) != 1 {
			t.Fatalf("pending list: got %d, want 1", len(got))
		}
		e.must(200, "POST", path+"/fulfil", platform.RoleOperator, nil)
		wantError(t, e.do("POST", path+"/fulfil", platform.RoleOperator, nil), 409, platform.EConflict)
		wantError(t, e.do("POST", path+"/ship", platform.RoleOperator, map[string]any{"carrier": "SF"}), 422, platform.EValidation)
		shipped := e.must(200, "POST", path+"/ship", platform.RoleOperator, map[string]any{"carrier": "SF Express", "tracking_number": "SF100200"})
		if shipped["status"] != "shipped" || shipped["tracking_number"] != "SF100200" {
			t.Fatalf("shipped: got %v", shipped)
		}
		d = wantError(t, e.do("POST", path+"/cancel", platform.RoleOperator, nil), 409, platform.EConflict)
		if d["status"] != "shipped" {
			t.Fatalf("cancel details: got %v, want status shipped", d)
		}
		done := e.must(200, "POST", path+"/complete", platform.RoleOperator, nil)
		if done["status"] != "completed" || done["completed_at"] == nil {
			t.Fatalf("completed: got %v", done)
		}
		for _, action := range []string{"create", "fulfil", "ship", "complete"} {
			if got := e.count("audit_log", "action = ? AND target_id = ?", "mall.redemption."+action, rid); got != 1 {
				t.Fatalf("audit %s: got %d records, want 1", action, got)
			}
		}
		if e.points(m) != 1000 || e.stock(item) != 0 {
			t.Fatalf("got points %d stock %d, want 1000 and 0", e.points(m), e.stock(item))
		}
	})
}
