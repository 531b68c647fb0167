package mall_test

import (
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestItems(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		t.Run("create and read", func(t *testing.T) {
			e := newEnv(t, db)
			tpl := e.template(nil)
			ends := start.Add(48 * time.Hour)
			got := e.must(201, "POST", "/mall/items", platform.RoleManager, map[string]any{
				"name": "星巴克券", "kind": "coupon", "points_price": 800, "cash_price_cents": 500, "stock": 20,
				"per_member_limit": 1, "category": "coupons", "description": "20 off", "image_urls": []string{"https://img.example/a.png"},
				"min_tier_rank": 1, "ends_at": ends, "coupon_template_id": tpl,
			})
			read := e.must(200, "GET", "/mall/items/"+got["id"].(string), platform.RoleViewer, nil)
			for field, want := range map[string]any{
				"name": "星巴克券", "kind": "coupon", "category": "coupons", "coupon_template_id": tpl, "active": true,
				"ends_at": ends.Format(time.RFC3339), "starts_at": nil, "on_sale": true,
			} {
				if read[field] != want {
					t.Fatalf("%s: got %v, want %v", field, read[field], want)
				}
			}
			for field, want := range map[string]int64{"points_price": 800, "cash_price_cents": 500, "stock": 20, "per_member_limit": 1, "min_tier_rank": 1} {
				if num(read[field]) != want {
					t.Fatalf("%s: got %v, want %d", field, read[field], want)
				}
			}
		})
		t.Run("validation", func(t *testing.T) {
			e := newEnv(t, db)
			for _, tc := range []struct {
				name  string
				body  map[string]any
				field string
			}{
				{"no name", map[string]any{"kind": "virtual", "points_price": 1, "stock": 1}, "name"},
				{"unknown kind", map[string]any{"name": "x", "kind": "car", "points_price": 1}, "kind"},
				{"zero price", map[string]any{"name": "x", "kind": "virtual", "points_price": 0}, "points_price"},
				{"negative stock", map[string]any{"name": "x", "kind": "virtual", "points_price": 1, "stock": -1}, "stock"},
				{"negative cash", map[string]any{"name": "x", "kind": "virtual", "points_price": 1, "cash_price_cents": -5}, "cash_price_cents"},
				{"coupon without template", map[string]any{"name": "x", "kind": "coupon", "points_price": 1}, "coupon_template_id"},
				{"foreign template", map[string]any{"name": "x", "kind": "coupon", "points_price": 1, "coupon_template_id": "nope"}, "coupon_template_id"},
				{"window backwards", map[string]any{"name": "x", "kind": "virtual", "points_price": 1, "starts_at": start, "ends_at": start.Add(-time.Hour)}, "ends_at"},
				{"bad time", map[string]any{"name": "x", "kind": "virtual", "points_price": 1, "starts_at": "tomorrow"}, "starts_at"},
				{"image not a URL", map[string]any{"name": "x", "kind": "virtual", "points_price": 1, "image_urls": []string{"ftp://x"}}, "image_urls"},
				{"exchange code with stock", map[string]any{"name": "x", "kind": "exchange_code", "points_price": 1, "stock": 5}, "stock"},
				{"lottery without prizes", map[string]any{"name": "x", "kind": "lottery", "points_price": 1}, "lottery"},
				{"prizes over 100%", map[string]any{"name": "x", "kind": "lottery", "points_price": 1, "lottery": map[string]any{"prizes": []map[string]any{
					{"name": "a", "kind": "points", "points": 5, "weight_bp": 6000, "stock": 1},
					{"name": "b", "kind": "points", "points": 5, "weight_bp": 6000, "stock": 1},
				}}}, "lottery.prizes"},
				{"points prize without points", map[string]any{"name": "x", "kind": "lottery", "points_price": 1, "lottery": map[string]any{"prizes": []map[string]any{
					{"name": "a", "kind": "points", "weight_bp": 100, "stock": 1},
				}}}, "lottery.prizes[0].points"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					d := wantError(t, e.do("POST", "/mall/items", platform.RoleManager, tc.body), 422, platform.EValidation)
					if _, ok := d[tc.field]; !ok {
						t.Fatalf("details: got %v, want %s named", d, tc.field)
					}
				})
			}
			wantError(t, e.do("POST", "/mall/items", platform.RoleOperator, map[string]any{"name": "x", "kind": "virtual", "points_price": 1}), 403, platform.EForbidden)
			if n := e.count("mall_items", ""); n != 0 {
				t.Fatalf("items after bad input: got %d, want 0", n)
			}
		})
		t.Run("patch", func(t *testing.T) {
			e := newEnv(t, db)
			id := e.item(map[string]any{"starts_at": start, "ends_at": start.Add(time.Hour)})
			got := e.must(200, "PATCH", "/mall/items/"+id, platform.RoleManager, map[string]any{"name": "Big mug", "points_price": 150, "ends_at": nil, "active": false})
			if got["name"] != "Big mug" || num(got["points_price"]) != 150 || got["ends_at"] != nil || got["starts_at"] == nil || got["active"] != false {
				t.Fatalf("patched: got %v", got)
			}
			wantError(t, e.do("PATCH", "/mall/items/"+id, platform.RoleManager, map[string]any{"kind": "physical"}), 422, platform.EValidation)
			wantError(t, e.do("PATCH", "/mall/items/"+id, platform.RoleManager, map[string]any{"stock": 99}), 422, platform.EValidation)
			wantError(t, e.do("PATCH", "/mall/items/nope", platform.RoleManager, map[string]any{"name": "x"}), 404, platform.ENotFound)
			if got := e.count("audit_log", "action = ? AND target_id = ?", "mall.item.update", id); got != 1 {
				t.Fatalf("audit records: got %d, want 1", got)
			}
		})
		t.Run("stock adjustments never go below zero", func(t *testing.T) {
			e := newEnv(t, db)
			id := e.item(map[string]any{"stock": 3})
			got := e.must(200, "POST", "/mall/items/"+id+"/stock", platform.RoleManager, map[string]any{"delta": 7, "reason": "delivery"})
			if num(got["stock"]) != 10 {
				t.Fatalf("stock: got %v, want 10", got["stock"])
			}
			d := wantError(t, e.do("POST", "/mall/items/"+id+"/stock", platform.RoleManager, map[string]any{"delta": -11}), 409, platform.EConflict)
			if num(d["stock"]) != 10 {
				t.Fatalf("details: got %v, want stock 10", d)
			}
			wantError(t, e.do("POST", "/mall/items/"+id+"/stock", platform.RoleManager, map[string]any{"delta": 0}), 422, platform.EValidation)
			e.must(200, "POST", "/mall/items/"+id+"/stock", platform.RoleManager, map[string]any{"delta": -10})
			if got := e.stock(id); got != 0 {
				t.Fatalf("stock: got %d, want 0", got)
			}
		})
		t.Run("list, filters and pages", func(t *testing.T) {
			e := newEnv(t, db)
			// Ids sort by creation time, so the clock moves between items.
			next := func(fields map[string]any) string {
				e.clock.Advance(time.Millisecond)
				return e.item(fields)
			}
			a := next(map[string]any{"name": "a", "category": "cups"})
			b := next(map[string]any{"name": "b", "category": "cups", "min_tier_rank": 3})
			c := next(map[string]any{"name": "c", "category": "bags", "stock": 0})
			d := next(map[string]any{"name": "d", "active": false})
			f := next(map[string]any{"name": "f", "ends_at": start.Add(time.Minute)})
			m := e.member(0)
			e.clock.Advance(time.Hour)
			ids := func(q string) []string {
				t.Helper()
				var out []string
				for _, it := range e.must(200, "GET", "/mall/items"+q, platform.RoleViewer, nil)["items"].([]any) {
					out = append(out, it.(map[string]any)["id"].(string))
				}
				return out
			}
			same := func(got []string, want ...string) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("got %v, want %v", got, want)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("got %v, want %v", got, want)
					}
				}
			}
			same(ids(""), f, d, c, b, a)
			same(ids("?category=cups"), b, a)
			same(ids("?active=false"), d)
			same(ids("?on_sale=true"), b, a)
			same(ids("?member_id="+m), c, a)
			e.tiers.set(m, 3)
			same(ids("?member_id="+m), c, b, a)
			page := e.must(200, "GET", "/mall/items?limit=2", platform.RoleViewer, nil)
			if len(page["items"].([]any)) != 2 || page["next_cursor"] == "" {
				t.Fatalf("first page: got %v", page)
			}
			same(ids("?limit=2&cursor="+page["next_cursor"].(string)), c, b)
			wantError(t, e.do("GET", "/mall/items?kind=car", platform.RoleViewer, nil), 422, platform.EValidation)
			wantError(t, e.do("GET", "/mall/items?cursor=zzz", platform.RoleViewer, nil), 422, platform.EValidation)
			wantError(t, e.do("GET", "/mall/items?member_id=nope", platform.RoleViewer, nil), 404, platform.ENotFound)
		})
	})
}
