package mall_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

// couponOf redeems a coupon item and returns the coupon's code and the
// redemption's id.
func (e *env) couponOf(memberID, itemID string) (code, rid string) {
	e.t.Helper()
	r := e.redeem(memberID, itemID, 1)
	if r.Status != 201 {
		e.t.Fatalf("redeem coupon: got %d %s", r.Status, r.Body)
	}
	m := r.Map(e.t)
	if m["status"] != "fulfilled" {
		e.t.Fatalf("coupon redemption status: got %v, want fulfilled", m["status"])
	}
	cs := m["grants"].(map[string]any)["coupons"].([]any)
	if len(cs) != 1 {
		e.t.Fatalf("coupons granted: got %d, want 1", len(cs))
	}
	return cs[0].(map[string]any)["code"].(string), m["id"].(string)
}

func (e *env) verify(code string, amount int64) *routerResponse {
	e.t.Helper()
	return e.do("POST", "/coupons/verify", platform.RoleOperator, map[string]any{"code": code, "order_amount_cents": amount, "order_ref": "POS-1"})
}

func TestCouponVerification(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		tpl := e.template(nil) // 20 yuan off orders of at least 100 yuan, 30 days
		item := e.item(map[string]any{"kind": "coupon", "coupon_template_id": tpl, "points_price": 300, "stock": 10})
		m := e.member(3000)

		t.Run("below threshold", func(t *testing.T) {
			code, _ := e.couponOf(m, item)
			d := wantError(t, e.verify(code, 9999), 422, platform.EValidation)
			if num(d["min_order_cents"]) != 10000 || d["order_amount_cents"] == nil {
				t.Fatalf("details: got %v, want the threshold", d)
			}
			got := e.must(200, "POST", "/coupons/verify", platform.RoleOperator, map[string]any{"code": strings.ToLower(code[:8]) + "-" + code[8:], "order_amount_cents": 12000})
			if num(got["discount_cents"]) != 2000 || num(got["payable_cents"]) != 10000 {
				t.Fatalf("verification: got %v, want 2000 off, 10000 payable", got)
			}
		})
		t.Run("used twice", func(t *testing.T) {
			code, rid := e.couponOf(m, item)
			res := race(8, func(int) *routerResponse { return e.verify(code, 20000) })
			ok := 0
			for _, r := range res {
				if r.Status == 200 {
					ok++
					continue
				}
				d := wantError(t, r, 409, platform.EConflict)
				if d["coupon_status"] != "used" || d["used_at"] == nil {
					t.Fatalf("details: got %v, want coupon_status used and used_at", d)
				}
			}
			if ok != 1 {
				t.Fatalf("successful verifications: got %d, want 1", ok)
			}
			// The redemption completes once its coupon is used, and can no
			// longer be cancelled.
			if got := e.must(200, "GET", "/mall/redemptions/"+rid, platform.RoleViewer, nil)["status"]; got != "completed" {
				t.Fatalf("redemption: got %v, want completed", got)
			}
			wantError(t, e.do("POST", "/mall/redemptions/"+rid+"/cancel", platform.RoleOperator, nil), 409, platform.EConflict)
		})
		t.Run("unknown and foreign codes are not found", func(t *testing.T) {
			o := e.other()
			otpl := o.template(nil)
			oitem := o.item(map[string]any{"kind": "coupon", "coupon_template_id": otpl, "points_price": 1})
			foreign, _ := o.couponOf(o.member(10), oitem)
			wantError(t, e.verify(foreign, 20000), 404, platform.ENotFound)
			wantError(t, e.verify("ABCDEFGHJKLMNPQR", 20000), 404, platform.ENotFound)
			wantError(t, e.verify("short", 20000), 404, platform.ENotFound)
			wantError(t, e.do("POST", "/coupons/verify", platform.RoleOperator, map[string]any{"code": ""}), 422, platform.EValidation)
			wantError(t, e.do("POST", "/coupons/verify", platform.RoleViewer, map[string]any{"code": foreign, "order_amount_cents": 1}), 403, platform.EForbidden)
			// The foreign coupon is untouched.
			if got := o.must(200, "POST", "/coupons/verify", platform.RoleOperator, map[string]any{"code": foreign, "order_amount_cents": 10000}); num(got["discount_cents"]) != 2000 {
				t.Fatalf("foreign verification in its tenant: got %v", got)
			}
		})
		t.Run("voided by cancellation", func(t *testing.T) {
			code, rid := e.couponOf(m, item)
			e.must(200, "POST", "/mall/redemptions/"+rid+"/cancel", platform.RoleOperator, nil)
			d := wantError(t, e.verify(code, 20000), 409, platform.EConflict)
			if d["coupon_status"] != "void" {
				t.Fatalf("details: got %v, want coupon_status void", d)
			}
		})
		t.Run("expired", func(t *testing.T) {
			code, _ := e.couponOf(m, item)
			e.clock.Advance(30*24*time.Hour + time.Second)
			d := wantError(t, e.verify(code, 20000), 409, platform.EConflict)
			if d["coupon_status"] != "expired" || d["valid_until"] == nil {
				t.Fatalf("details: got %v, want coupon_status expired and valid_until", d)
			}
			list := e.must(200, "GET", "/members/"+m+"/coupons?status=expired", platform.RoleViewer, nil)["items"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["status"] != "expired" || list[0].(map[string]any)["code"] != code {
				t.Fatalf("expired coupons: got %v, want the one coupon shown expired", list)
			}
			all := e.must(200, "GET", "/members/"+m+"/coupons", platform.RoleViewer, nil)["items"].([]any)
			statuses := map[string]int{}
			for _, c := range all {
				statuses[c.(map[string]any)["status"].(string)]++
			}
			if statuses["used"] != 2 || statuses["void"] != 1 || statuses["expired"] != 1 {
				t.Fatalf("statuses: got %v, want 2 used, 1 void, 1 expired", statuses)
			}
		})
	})
}

func TestCouponTemplates(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		t.Run("percent off with a cap", func(t *testing.T) {
			tpl := e.template(map[string]any{"name": "12% off, at most 30", "kind": "percent_off", "amount_off_cents": nil, "percent_off": 12, "max_off_cents": 3000, "min_order_cents": 0, "valid_days": 7})
			m := e.member(0)
			cases := []struct{ amount, off int64 }{{10000, 1200}, {50000, 3000}, {5, 0}}
			for _, tc := range cases {
				c := e.must(201, "POST", "/members/"+m+"/coupons", platform.RoleManager, map[string]any{"template_id": tpl, "reason": "goodwill"})
				got := e.must(200, "POST", "/coupons/verify", platform.RoleOperator, map[string]any{"code": c["code"], "order_amount_cents": tc.amount})
				if num(got["discount_cents"]) != tc.off {
					t.Fatalf("order %d: got %v off, want %d", tc.amount, got["discount_cents"], tc.off)
				}
			}
		})
		t.Run("validation", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				body  map[string]any
				field string
			}{
				{"no validity", map[string]any{"name": "x", "kind": "amount_off", "amount_off_cents": 100}, "valid_days"},
				{"percent above 99", map[string]any{"name": "x", "kind": "percent_off", "percent_off": 100, "valid_days": 1}, "percent_off"},
				{"amount with percent", map[string]any{"name": "x", "kind": "amount_off", "amount_off_cents": 100, "percent_off": 5, "valid_days": 1}, "percent_off"},
				{"unknown kind", map[string]any{"name": "x", "kind": "free", "valid_days": 1}, "kind"},
				{"negative threshold", map[string]any{"name": "x", "kind": "amount_off", "amount_off_cents": 100, "min_order_cents": -1, "valid_days": 1}, "min_order_cents"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					d := wantError(t, e.do("POST", "/coupon-templates", platform.RoleManager, tc.body), 422, platform.EValidation)
					if _, ok := d[tc.field]; !ok {
						t.Fatalf("details: got %v, want %s named", d, tc.field)
					}
				})
			}
		})
		t.Run("terms are fixed; inactive templates issue nothing", func(t *testing.T) {
			tpl := e.template(nil)
			wantError(t, e.do("PATCH", "/coupon-templates/"+tpl, platform.RoleManager, map[string]any{"amount_off_cents": 1}), 422, platform.EValidation)
			got := e.must(200, "PATCH", "/coupon-templates/"+tpl, platform.RoleManager, map[string]any{"active": false, "name": "retired"})
			if got["active"] != false || got["name"] != "retired" {
				t.Fatalf("patched: got %v", got)
			}
			m := e.member(0)
			wantError(t, e.do("POST", "/members/"+m+"/coupons", platform.RoleManager, map[string]any{"template_id": tpl}), 409, platform.EConflict)
			wantError(t, e.do("POST", "/members/nope/coupons", platform.RoleManager, map[string]any{"template_id": tpl}), 404, platform.ENotFound)
		})
		t.Run("IssueCoupon joins the caller's transaction", func(t *testing.T) {
			tpl := e.template(nil)
			m := e.member(0)
			boom := errors.New("tier upgrade failed later")
			err := db.Tx(e.ctx, func(ctx context.Context) error {
				if err := e.svc.IssueCoupon(ctx, m, tpl, "tier upgrade"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) || e.count("coupons", "member_id = ?", m) != 0 {
				t.Fatalf("got %v and %d coupons, want the caller's error and none", err, e.count("coupons", "member_id = ?", m))
			}
			if err := e.svc.IssueCoupon(e.ctx, m, tpl, "tier upgrade"); err != nil {
				t.Fatal(err)
			}
			list := e.must(200, "GET", "/members/"+m+"/coupons?status=active", platform.RoleViewer, nil)["items"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["reason"] != "tier upgrade" || list[0].(map[string]any)["template"] == nil {
				t.Fatalf("coupons: got %v, want one with the reason and its template", list)
			}
			if got := platform.ErrorCode(e.svc.IssueCoupon(e.ctx, "nope", tpl, "x")); got != platform.ENotFound {
				t.Fatalf("unknown member: got %q, want not_found", got)
			}
			if got := platform.ErrorCode(e.svc.IssueCoupon(e.ctx, m, "nope", "x")); got != platform.ENotFound {
				t.Fatalf("unknown template: got %q, want not_found", got)
			}
		})
	})
}
