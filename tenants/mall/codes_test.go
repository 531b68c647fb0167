package mall_test

import (
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

// batch creates a code batch for an item and returns it.
func (e *env) batch(itemID string, quantity int, ends time.Time) map[string]any {
	e.t.Helper()
	return e.must(201, "POST", "/mall/code-batches", platform.RoleManager, map[string]any{
		"name": "spring", "item_id": itemID, "quantity": quantity, "ends_at": ends,
	})
}

// codes lists a batch's codes with a status.
func (e *env) codes(batchID, status string) []string {
	e.t.Helper()
	var out []string
	for _, c := range e.must(200, "GET", "/mall/code-batches/"+batchID+"/codes?status="+status, platform.RoleManager, nil)["items"].([]any) {
		out = append(out, c.(map[string]any)["code"].(string))
	}
	return out
}

func TestExchangeCodeItems(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		item := e.item(map[string]any{"kind": "exchange_code", "name": "门店咖啡", "points_price": 50, "stock": 0})
		ends := start.Add(7 * 24 * time.Hour)
		b := e.batch(item, 3, ends)
		if b["mode"] != "allocate" || num(b["counts"].(map[string]any)["available"]) != 3 {
			t.Fatalf("batch: got %v, want mode allocate with 3 available", b)
		}
		if got := e.stock(item); got != 3 {
			t.Fatalf("stock: got %d, want 3 (the codes)", got)
		}
		m := e.member(1000)
		var codes, rids []string
		for i := 0; i < 3; i++ {
			r := e.redeem(m, item, 1)
			if r.Status != 201 {
				t.Fatalf("redeem %d: got %d %s", i, r.Status, r.Body)
			}
			red := r.Map(t)
			cs := red["grants"].(map[string]any)["codes"].([]any)
			if red["status"] != "fulfilled" || len(cs) != 1 || cs[0].(map[string]any)["valid_until"] != ends.Format(time.RFC3339) {
				t.Fatalf("redemption: got %v, want fulfilled with one code valid until %s", red, ends)
			}
			codes, rids = append(codes, cs[0].(map[string]any)["code"].(string)), append(rids, red["id"].(string))
		}
		if codes[0] == codes[1] || codes[1] == codes[2] || codes[0] == codes[2] {
			t.Fatalf("codes: got %v, want three different codes", codes)
		}
		wantError(t, e.redeem(m, item, 1), 409, platform.EOutOfStock)
		wantError(t, e.do("POST", "/mall/items/"+item+"/stock", platform.RoleManager, map[string]any{"delta": 5}), 422, platform.EValidation)

		verify := func(code string) *routerResponse {
			return e.do("POST", "/mall/codes/verify", platform.RoleOperator, map[string]any{"code": code})
		}
		got := e.must(200, "POST", "/mall/codes/verify", platform.RoleOperator, map[string]any{"code": codes[0]})
		if got["status"] != "used" || got["member_id"] != m {
			t.Fatalf("verified: got %v", got)
		}
		if st := e.must(200, "GET", "/mall/redemptions/"+rids[0], platform.RoleViewer, nil)["status"]; st != "completed" {
			t.Fatalf("redemption after verification: got %v, want completed", st)
		}
		if d := wantError(t, verify(codes[0]), 409, platform.EConflict); d["code_status"] != "used" {
			t.Fatalf("details: got %v, want code_status used", d)
		}
		// Cancelling voids the member's code and puts a fresh one in stock.
		e.must(200, "POST", "/mall/redemptions/"+rids[1]+"/cancel", platform.RoleOperator, nil)
		if d := wantError(t, verify(codes[1]), 409, platform.EConflict); d["code_status"] != "void" {
			t.Fatalf("details: got %v, want code_status void", d)
		}
		if e.stock(item) != 1 || len(e.codes(b["id"].(string), "available")) != 1 || e.points(m) != 900 {
			t.Fatalf("after cancelling: stock %d, available codes %d, points %d; want 1, 1, 900", e.stock(item), len(e.codes(b["id"].(string), "available")), e.points(m))
		}
		// A code can't be cancelled out from under a verified redemption.
		wantError(t, e.do("POST", "/mall/redemptions/"+rids[0]+"/cancel", platform.RoleOperator, nil), 409, platform.EConflict)
		// After the batch's window the codes are expired.
		e.clock.Set(ends)
		if d := wantError(t, verify(codes[2]), 409, platform.EConflict); d["code_status"] != "expired" {
			t.Fatalf("details: got %v, want code_status expired", d)
		}
		wantError(t, e.redeem(m, item, 1), 409, platform.EOutOfStock)
	})
}

func TestGrantCodes(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		item := e.item(map[string]any{"kind": "physical", "name": "帆布袋", "points_price": 999, "stock": 5})
		b := e.batch(item, 2, start.Add(24*time.Hour))
		if b["mode"] != "grant" {
			t.Fatalf("mode: got %v, want grant", b["mode"])
		}
		codes := e.codes(b["id"].(string), "available")
		if len(codes) != 2 || len(codes[0]) != 16 {
			t.Fatalf("codes: got %v, want two 16-symbol codes", codes)
		}
		m := e.member(0)
		redeem := func(code string, addr any) *routerResponse {
			return e.do("POST", "/mall/codes/redeem", platform.RoleOperator, map[string]any{"code": code, "member_id": m, "shipping_address": addr})
		}
		wantError(t, redeem(codes[0], nil), 422, platform.EValidation)
		r := redeem(codes[0], address)
		if r.Status != 201 {
			t.Fatalf("redeem code: got %d %s", r.Status, r.Body)
		}
		red := r.Map(t)
		if red["source"] != "code" || num(red["points_spent"]) != 0 || red["status"] != "pending" {
			t.Fatalf("redemption: got %v, want source code, 0 points, pending", red)
		}
		if d := wantError(t, redeem(codes[0], address), 409, platform.EConflict); d["code_status"] != "used" {
			t.Fatalf("details: got %v, want code_status used", d)
		}
		if d := wantError(t, e.do("POST", "/mall/codes/verify", platform.RoleOperator, map[string]any{"code": codes[1]}), 409, platform.EConflict); d["mode"] != "grant" {
			t.Fatalf("verify a grant code: got %v, want mode grant", d)
		}
		if e.stock(item) != 4 {
			t.Fatalf("stock: got %d, want 4", e.stock(item))
		}
		wantError(t, e.do("GET", "/mall/code-batches/"+b["id"].(string)+"/codes", platform.RoleOperator, nil), 403, platform.EForbidden)
	})
}

// TestCodeGuessingIsRateLimited checks that wrong codes are counted per
// member (redeem) and per caller (verify) in the database and answered 429
// beyond the limit, even under a burst of parallel guesses.
func TestCodeGuessingIsRateLimited(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		item := e.item(map[string]any{"kind": "virtual", "stock": 10})
		good := e.codes(e.batch(item, 3, start.Add(24*time.Hour))["id"].(string), "available")
		// guess makes the i-th wrong code: well formed, never issued.
		guess := func(i int) string {
			const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
			b := []byte("ZZZZZZZZZZZZ")
			for k := 0; k < 4; k++ {
				b = append(b, alphabet[(i>>(5*k))&31])
			}
			return string(b)
		}
		redeem := func(m, code string) *routerResponse {
			return e.do("POST", "/mall/codes/redeem", platform.RoleOperator, map[string]any{"code": code, "member_id": m})
		}

		t.Run("per member", func(t *testing.T) {
			m, other := e.member(0), e.member(0)
			for i := 0; i < 10; i++ {
				wantError(t, redeem(m, guess(i)), 404, platform.ENotFound)
			}
			r := redeem(m, good[0])
			d := wantError(t, r, 429, platform.ERateLimited)
			if num(d["retry_after_seconds"]) <= 0 || r.Header.Get("Retry-After") == "" {
				t.Fatalf("got details %v and Retry-After %q, want a wait", d, r.Header.Get("Retry-After"))
			}
			if r := redeem(other, good[0]); r.Status != 201 {
				t.Fatalf("another member: got %d %s, want 201", r.Status, r.Body)
			}
			e.clock.Advance(15 * time.Minute)
			if r := redeem(m, good[1]); r.Status != 201 {
				t.Fatalf("after the window: got %d %s, want 201", r.Status, r.Body)
			}
		})
		t.Run("successes don't count", func(t *testing.T) {
			m := e.member(0)
			for i := 0; i < 9; i++ {
				wantError(t, redeem(m, guess(i)), 404, platform.ENotFound)
			}
			if r := redeem(m, good[2]); r.Status != 201 {
				t.Fatalf("a right code: got %d %s", r.Status, r.Body)
			}
			wantError(t, redeem(m, guess(99)), 404, platform.ENotFound)
			wantError(t, redeem(m, guess(98)), 429, platform.ERateLimited)
		})
		t.Run("parallel guesses", func(t *testing.T) {
			m := e.member(0)
			res := race(30, func(i int) *routerResponse { return redeem(m, guess(i)) })
			var notFound, limited int
			for _, r := range res {
				switch r.ErrorCode() {
				case platform.ENotFound:
					notFound++
				case platform.ERateLimited:
					limited++
				default:
					t.Fatalf("got %d %s, want 404 or 429", r.Status, r.Body)
				}
			}
			if notFound != 10 || limited != 20 {
				t.Fatalf("got %d answered and %d limited, want 10 and 20", notFound, limited)
			}
		})
		t.Run("per caller for verification", func(t *testing.T) {
			e.clock.Advance(15 * time.Minute)
			for i := 0; i < 10; i++ {
				wantError(t, e.do("POST", "/mall/codes/verify", platform.RoleOperator, map[string]any{"code": guess(i)}), 404, platform.ENotFound)
			}
			wantError(t, e.do("POST", "/mall/codes/verify", platform.RoleOperator, map[string]any{"code": guess(50)}), 429, platform.ERateLimited)
			// Another caller (here another role's user) is not held up.
			wantError(t, e.do("POST", "/mall/codes/verify", platform.RoleManager, map[string]any{"code": guess(51)}), 404, platform.ENotFound)
		})
	})
}
