package mall_test

import (
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

// TestTenantsCantReachEachOther sends tenant B's requests at everything of
// tenant A's: each is not_found and nothing of A's changes.
func TestTenantsCantReachEachOther(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newEnv(t, db)
		b := a.other()
		tpl := a.template(nil)
		item := a.item(map[string]any{"kind": "coupon", "coupon_template_id": tpl, "stock": 5})
		gift := a.item(map[string]any{"kind": "virtual", "stock": 5})
		lottery := a.lottery(nil, map[string]any{"prizes": []map[string]any{{"name": "谢谢参与", "kind": "nothing", "weight_bp": 100}}})
		am := a.member(1000)
		code, rid := a.couponOf(am, item)
		batch := a.batch(gift, 2, start.Add(time.Hour))["id"].(string)
		grant := a.codes(batch, "available")[0]
		a.draw(lottery, am)
		bm := b.member(1000)

		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/mall/items/" + item, nil},
			{"PATCH", "/mall/items/" + item, map[string]any{"name": "mine now"}},
			{"POST", "/mall/items/" + item + "/stock", map[string]any{"delta": -5}},
			{"POST", "/mall/redemptions", map[string]any{"member_id": bm, "item_id": gift}},
			{"POST", "/mall/redemptions", map[string]any{"member_id": am, "item_id": b.item(nil)}},
			{"GET", "/mall/redemptions/" + rid, nil},
			{"PATCH", "/mall/redemptions/" + rid, map[string]any{"shipping_address": address}},
			{"POST", "/mall/redemptions/" + rid + "/cancel", nil},
			{"POST", "/mall/redemptions/" + rid + "/fulfil", nil},
			{"POST", "/mall/redemptions/" + rid + "/ship", map[string]any{"carrier": "SF", "tracking_number": "1"}},
			{"POST", "/mall/redemptions/" + rid + "/complete", nil},
			{"GET", "/coupon-templates/" + tpl, nil},
			{"PATCH", "/coupon-templates/" + tpl, map[string]any{"active": false}},
			{"POST", "/members/" + am + "/coupons", map[string]any{"template_id": tpl}},
			{"POST", "/members/" + bm + "/coupons", map[string]any{"template_id": tpl}},
			{"GET", "/members/" + am + "/coupons", nil},
			{"POST", "/coupons/verify", map[string]any{"code": code, "order_amount_cents": 20000}},
			{"GET", "/mall/code-batches/" + batch, nil},
			{"GET", "/mall/code-batches/" + batch + "/codes", nil},
			{"POST", "/mall/code-batches", map[string]any{"name": "x", "item_id": gift, "quantity": 1, "ends_at": start.Add(time.Hour)}},
			{"POST", "/mall/codes/redeem", map[string]any{"code": grant, "member_id": bm}},
			{"POST", "/mall/codes/verify", map[string]any{"code": grant}},
			{"POST", "/mall/lottery/" + lottery + "/draw", map[string]any{"member_id": bm}},
			{"GET", "/mall/lottery/" + lottery + "/draws", nil},
			{"GET", "/mall/items?member_id=" + am, nil},
		} {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				r := b.do(tc.method, tc.path, platform.RoleOwner, tc.body)
				if r.Status != 404 && !(r.Status == 422 && tc.path == "/mall/code-batches") {
					t.Fatalf("got %d %s, want 404", r.Status, r.Body)
				}
			})
		}
		mine := map[any]bool{item: true, gift: true, lottery: true, rid: true, tpl: true, batch: true}
		for _, list := range []string{"/mall/items", "/mall/redemptions", "/coupon-templates", "/mall/code-batches"} {
			for _, it := range b.must(200, "GET", list, platform.RoleOwner, nil)["items"].([]any) {
				if mine[it.(map[string]any)["id"]] {
					t.Fatalf("%s of tenant B lists tenant A's %v", list, it)
				}
			}
		}
		got := a.must(200, "GET", "/mall/items/"+item, platform.RoleViewer, nil)
		if got["name"] != "Mug" || num(got["stock"]) != 4 {
			t.Fatalf("tenant A's item: got %v, want it unchanged", got)
		}
		if st := a.must(200, "GET", "/mall/redemptions/"+rid, platform.RoleViewer, nil)["status"]; st != "fulfilled" {
			t.Fatalf("tenant A's redemption: got %v, want fulfilled", st)
		}
		if a.points(am) != 1000-100-10 || b.points(bm) != 1000 {
			t.Fatalf("points: got A %d, B %d; want 890 and 1000", a.points(am), b.points(bm))
		}
		if r := a.do("POST", "/mall/codes/redeem", platform.RoleOperator, map[string]any{"code": grant, "member_id": am}); r.Status != 201 {
			t.Fatalf("tenant A's code in tenant A: got %d %s, want 201", r.Status, r.Body)
		}
	})
}

// TestPermissions checks each route's least role through the real policy
// table.
func TestPermissions(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		item := e.item(nil)
		m := e.member(1000)
		for _, tc := range []struct {
			method, path, denied, allowed string
			body                          any
		}{
			{"POST", "/mall/items", platform.RoleOperator, platform.RoleManager, map[string]any{"name": "x", "kind": "virtual", "points_price": 1}},
			{"GET", "/mall/items/" + item, "", platform.RoleViewer, nil},
			{"POST", "/mall/items/" + item + "/stock", platform.RoleOperator, platform.RoleManager, map[string]any{"delta": 1}},
			{"POST", "/mall/redemptions", platform.RoleViewer, platform.RoleOperator, map[string]any{"member_id": m, "item_id": item}},
			{"GET", "/mall/redemptions", "", platform.RoleViewer, nil},
			{"POST", "/coupon-templates", platform.RoleOperator, platform.RoleManager, map[string]any{"name": "x", "kind": "amount_off", "amount_off_cents": 1, "valid_days": 1}},
			{"GET", "/coupon-templates", "", platform.RoleViewer, nil},
			{"GET", "/members/" + m + "/coupons", "", platform.RoleViewer, nil},
			{"POST", "/mall/code-batches", platform.RoleOperator, platform.RoleManager, map[string]any{"name": "x", "item_id": item, "quantity": 1, "ends_at": start.Add(time.Hour)}},
		} {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				if tc.denied != "" {
					wantError(t, e.do(tc.method, tc.path, tc.denied, tc.body), 403, platform.EForbidden)
				}
				if r := e.do(tc.method, tc.path, tc.allowed, tc.body); r.Status >= 300 {
					t.Fatalf("%s: got %d %s, want success", tc.allowed, r.Status, r.Body)
				}
			})
		}
		wantError(t, e.do("POST", "/coupons/verify", platform.RoleViewer, map[string]any{"code": "x", "order_amount_cents": 1}), 403, platform.EForbidden)
		wantError(t, e.do("POST", "/mall/codes/verify", platform.RoleViewer, map[string]any{"code": "x"}), 403, platform.EForbidden)
		wantError(t, e.do("GET", "/mall/code-batches/x/codes", platform.RoleOperator, nil), 403, platform.EForbidden)
	})
}
