package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// routeCase is one tenant route with the least role that may call it and a
// valid body. Path parameters (":mid") are filled from the fixture's ids:
// by default the id stored under the parameter's name, or the one keys
// names. keys serves two routes that call different resources ":rid"
// (rules and mall redemptions), and destructive rows that take a resource
// of their own so that no other row loses its.
type routeCase struct {
	method, path string
	min          string
	body         func(f *fixture) any
	keys         params
}

// params maps a path parameter to the fixture key of the id that fills it.
type params map[string]string

func body(v map[string]any) func(*fixture) any { return func(*fixture) any { return v } }

// csvBody is a request body sent as text/csv instead of JSON.
type csvBody string

// tenantRoutes lists every route under /api/v1/tenants/:tid, as the contract
// and the role descriptions give them. TestRouteTableComplete fails when a
// mounted route is missing here.
var tenantRoutes = []routeCase{
	// Settings, staff, API keys and the audit log (platform).
	{"GET", "/settings", "viewer", nil, nil},
	{"PATCH", "/settings", "manager", body(map[string]any{"points_expiry_months": 12}), nil},
	{"POST", "/staff", "owner", func(*fixture) any {
		return map[string]any{"email": "s-" + uniq() + "@shop.test", "password": "staff-password", "role": "viewer"}
	}, nil},
	{"GET", "/staff", "owner", nil, nil},
	{"PATCH", "/staff/:uid", "owner", body(map[string]any{"role": "operator"}), nil},
	{"DELETE", "/staff/:uid", "owner", nil, nil},
	{"POST", "/api-keys", "owner", body(map[string]any{"name": "k", "role": "viewer"}), nil},
	{"GET", "/api-keys", "owner", nil, nil},
	{"DELETE", "/api-keys/:kid", "owner", nil, nil},
	{"GET", "/audit", "manager", nil, nil},

	// Members (tenants/members).
	{"POST", "/members", "operator", func(*fixture) any { return map[string]any{"external_id": "x-" + uniq()} }, nil},
	{"POST", "/members/import", "operator", func(*fixture) any {
		return csvBody("external_id,name,phone\nimp-" + uniq() + ",王小二,13900000000\n")
	}, nil},
	{"GET", "/members", "viewer", nil, nil},
	{"GET", "/members/:mid", "viewer", nil, nil},
	{"PATCH", "/members/:mid", "operator", body(map[string]any{"name": "王五"}), nil},
	{"POST", "/members/:mid/erase", "manager", nil, params{"mid": "member_erase"}},

	// Points, checkout deduction, transfers and donations (tenants/ledger).
	{"POST", "/members/:mid/points/adjust", "manager", body(map[string]any{"delta": 10, "reason": "客服补偿"}), nil},
	{"POST", "/members/:mid/points/spend", "operator", body(map[string]any{"points": 10, "reason": "门店抵扣"}), nil},
	{"GET", "/members/:mid/points", "viewer", nil, nil},
	{"GET", "/members/:mid/ledger", "viewer", nil, nil},
	{"POST", "/checkout/quote", "viewer", func(f *fixture) any {
		return map[string]any{"member_id": f.IDs["mid"], "order_amount_cents": 12800}
	}, nil},
	{"POST", "/checkout/holds", "operator", func(f *fixture) any {
		return map[string]any{"member_id": f.IDs["mid"], "order_id": "order-" + uniq(), "points": 100}
	}, nil},
	{"GET", "/checkout/holds/:hid", "viewer", nil, nil},
	{"POST", "/checkout/holds/:hid/capture", "operator", nil, params{"hid": "hold_capture"}},
	{"POST", "/checkout/holds/:hid/release", "operator", nil, params{"hid": "hold_release"}},
	{"POST", "/points/transfers", "operator", func(f *fixture) any {
		return map[string]any{"from_member_id": f.IDs["mid"], "to_member_id": f.IDs["receiver"], "points": 10, "reason": "转赠"}
	}, nil},
	{"POST", "/causes", "manager", func(*fixture) any { return map[string]any{"name": "公益 " + uniq()} }, nil},
	{"GET", "/causes", "viewer", nil, nil},
	{"POST", "/causes/:cid/donations", "operator", func(f *fixture) any {
		return map[string]any{"member_id": f.IDs["mid"], "points": 10}
	}, nil},

	// Earning rules (tenants/rules).
	{"GET", "/rules/templates", "viewer", nil, nil},
	{"POST", "/rules/simulate", "viewer", body(map[string]any{"event": map[string]any{"type": "store_visit"}}), nil},
	{"POST", "/rules", "manager", body(map[string]any{"name": "签到有礼", "event": "check_in", "points": "5"}), nil},
	{"GET", "/rules", "viewer", nil, nil},
	{"GET", "/rules/:rid", "viewer", nil, params{"rid": "rule"}},
	{"PATCH", "/rules/:rid", "manager", body(map[string]any{"name": "到店有礼"}), params{"rid": "rule"}},
	{"DELETE", "/rules/:rid", "manager", nil, params{"rid": "rule_delete"}},

	// Events (tenants/events).
	{"POST", "/events", "operator", func(f *fixture) any {
		return map[string]any{"type": "store_visit", "member_id": f.IDs["mid"]}
	}, nil},
	{"GET", "/events", "viewer", nil, nil},
	{"GET", "/events/:eid", "viewer", nil, nil},

	// Tiers (tenants/tiers).
	{"GET", "/tiers/settings", "viewer", nil, nil},
	{"PUT", "/tiers/settings", "manager", body(map[string]any{"grace_days": 30}), nil},
	{"POST", "/tiers/evaluate", "manager", nil, nil},
	{"POST", "/tiers", "manager", newTierBody, nil},
	{"GET", "/tiers", "viewer", nil, nil},
	{"GET", "/tiers/:tierid", "viewer", nil, nil},
	{"PATCH", "/tiers/:tierid", "manager", body(map[string]any{"benefits": map[string]any{"perks": "生日双倍积分"}}), nil},
	{"DELETE", "/tiers/:tierid", "manager", nil, params{"tierid": "tier_delete"}},
	{"GET", "/members/:mid/tier", "viewer", nil, nil},
	{"GET", "/members/:mid/tier-history", "viewer", nil, nil},
	{"POST", "/members/:mid/tier-override", "manager", func(f *fixture) any {
		return map[string]any{"tier_id": f.IDs["tierid"], "until": future(30), "reason": "大客户补偿"}
	}, nil},
	{"DELETE", "/members/:mid/tier-override", "manager", nil, nil},

	// Mall items (tenants/mall).
	// A lottery whose prizes name a coupon template and an item, so that the
	// isolation suite offers another tenant's.
	{"POST", "/mall/items", "manager", func(f *fixture) any {
		return map[string]any{"name": "周末转盘", "kind": "lottery", "points_price": 20, "stock": 100, "lottery": map[string]any{"prizes": []any{
			map[string]any{"name": "满100减20", "kind": "coupon", "coupon_template_id": f.IDs["ctid"], "weight_bp": 1000, "stock": 10},
			map[string]any{"name": "保温杯", "kind": "item", "item_id": f.IDs["iid"], "weight_bp": 10, "stock": 2, "value_points": 8000},
		}}}
	}, nil},
	{"GET", "/mall/items", "viewer", nil, nil},
	{"GET", "/mall/items/:iid", "viewer", nil, nil},
	{"PATCH", "/mall/items/:iid", "manager", body(map[string]any{"description": "304 不锈钢，500 毫升"}), nil},
	{"POST", "/mall/items/:iid/stock", "manager", body(map[string]any{"delta": 5, "reason": "到货"}), nil},

	// Mall redemptions and their fulfilment (tenants/mall).
	{"POST", "/mall/redemptions", "operator", func(f *fixture) any {
		return map[string]any{"member_id": f.IDs["mid"], "item_id": f.IDs["iid"], "quantity": 1, "shipping_address": shippingAddress}
	}, nil},
	{"GET", "/mall/redemptions", "viewer", nil, nil},
	{"GET", "/mall/redemptions/:rid", "viewer", nil, params{"rid": "redemption"}},
	{"PATCH", "/mall/redemptions/:rid", "operator", body(map[string]any{"shipping_address": shippingAddress}), params{"rid": "redemption"}},
	{"POST", "/mall/redemptions/:rid/fulfil", "operator", nil, params{"rid": "redemption_fulfil"}},
	{"POST", "/mall/redemptions/:rid/ship", "operator", body(map[string]any{"carrier": "顺丰速运", "tracking_number": "SF1234567890"}),
		params{"rid": "redemption_ship"}},
	{"POST", "/mall/redemptions/:rid/complete", "operator", nil, params{"rid": "redemption_complete"}},
	{"POST", "/mall/redemptions/:rid/cancel", "operator", body(map[string]any{"reason": "买错了"}), params{"rid": "redemption_cancel"}},

	// Coupons (tenants/mall).
	{"POST", "/coupon-templates", "manager", body(map[string]any{"name": "无门槛 5 元", "kind": "amount_off", "amount_off_cents": 500, "valid_days": 30}), nil},
	{"GET", "/coupon-templates", "viewer", nil, nil},
	{"GET", "/coupon-templates/:ctid", "viewer", nil, nil},
	{"PATCH", "/coupon-templates/:ctid", "manager", body(map[string]any{"name": "满100减20（会员日）"}), nil},
	{"POST", "/members/:mid/coupons", "manager", func(f *fixture) any {
		return map[string]any{"template_id": f.IDs["ctid"], "reason": "客服补偿"}
	}, nil},
	{"GET", "/members/:mid/coupons", "viewer", nil, nil},
	{"POST", "/coupons/verify", "operator", func(f *fixture) any {
		return map[string]any{"code": f.IDs["coupon_code"], "order_amount_cents": 12800, "order_ref": "order-" + uniq()}
	}, nil},

	// Exchange codes (tenants/mall).
	{"POST", "/mall/code-batches", "manager", func(f *fixture) any {
		return map[string]any{"name": "补充批次", "item_id": f.IDs["exchange_item"], "quantity": 2, "ends_at": future(90)}
	}, nil},
	{"GET", "/mall/code-batches", "viewer", nil, nil},
	{"GET", "/mall/code-batches/:bid", "viewer", nil, nil},
	{"GET", "/mall/code-batches/:bid/codes", "manager", nil, nil},
	{"POST", "/mall/codes/redeem", "operator", func(f *fixture) any {
		return map[string]any{"code": f.IDs["grant_code"], "member_id": f.IDs["mid"]}
	}, nil},
	{"POST", "/mall/codes/verify", "operator", func(f *fixture) any { return map[string]any{"code": f.IDs["alloc_code"]} }, nil},

	// Points lottery (tenants/mall).
	{"POST", "/mall/lottery/:iid/draw", "operator", func(f *fixture) any { return map[string]any{"member_id": f.IDs["mid"]} },
		params{"iid": "lottery"}},
	{"GET", "/mall/lottery/:iid/draws", "viewer", nil, params{"iid": "lottery"}},
}

var roleRank = map[string]int{"owner": 0, "manager": 1, "operator": 2, "viewer": 3}

// routeFixture is a tenant with a real resource, made through the API, for
// every path parameter and body reference of tenantRoutes.
func routeFixture(c *client) *fixture {
	c.t.Helper()
	f := newTenant(c)
	st := c.must(201, "POST", f.path("/staff"), f.Owner, map[string]any{"email": "u-" + uniq() + "@shop.test", "password": "staff-password", "role": "viewer"})
	f.IDs["uid"] = st["id"].(string)
	k := c.must(201, "POST", f.path("/api-keys"), f.Owner, map[string]any{"name": "spare", "role": "viewer"})
	f.IDs["kid"] = k["id"].(string)
	addMembers(c, f)
	addLedger(c, f)
	addRules(c, f)
	addEvents(c, f)
	addTiers(c, f)
	addMall(c, f)
	return f
}

var paramPattern = regexp.MustCompile(`:[a-z]+`)

func (rc routeCase) url(t *testing.T, tenant string, ids map[string]string) string {
	t.Helper()
	p := paramPattern.ReplaceAllStringFunc(rc.path, func(name string) string {
		key := name[1:]
		if k, ok := rc.keys[key]; ok {
			key = k
		}
		id, ok := ids[key]
		if !ok {
			t.Fatalf("%s %s: the fixture has no id %q for %s", rc.method, rc.path, key, name)
		}
		return id
	})
	return "/api/v1/tenants/" + tenant + p
}

func (rc routeCase) payload(f *fixture) any {
	if rc.body == nil {
		return nil
	}
	return rc.body(f)
}

// send calls the route in tenant with token, its path parameters filled
// from ids and its body built from bodyFrom.
func (rc routeCase) send(t *testing.T, c *client, token, tenant string, ids map[string]string, bodyFrom *fixture) resp {
	t.Helper()
	u := rc.url(t, tenant, ids)
	b := rc.payload(bodyFrom)
	if csv, ok := b.(csvBody); ok {
		return c.do(rc.method, u, token, string(csv), "Content-Type", "text/csv")
	}
	return c.do(rc.method, u, token, b)
}

// fixtureIDMark marks the ids of the probe fixture that bodyRefs builds a
// body from.
const fixtureIDMark = "fixture-id-probe:"

// bodyRefs returns the fixture keys whose ids the row's body names (a
// member, an item, a code): building the body from ids that can occur
// nowhere else shows them.
func (rc routeCase) bodyRefs(f *fixture) []string {
	probe := &fixture{ID: f.ID, Owner: f.Owner, Keys: f.Keys, IDs: map[string]string{}}
	for k := range f.IDs {
		probe.IDs[k] = fixtureIDMark + k + "."
	}
	raw, _ := json.Marshal(rc.payload(probe))
	var refs []string
	for k := range f.IDs {
		if bytes.Contains(raw, []byte(fixtureIDMark+k+".")) {
			refs = append(refs, k)
		}
	}
	sort.Strings(refs)
	return refs
}

// TestRoleMatrix calls every tenant route with an API key of every role,
// least powerful first, and checks that exactly the roles at or above the
// route's least role get past authorisation, and that the least role's
// call succeeds, which proves the row's body and fixture valid.
func TestRoleMatrix(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := routeFixture(c)
		for _, rc := range tenantRoutes {
			t.Run(rc.method+" "+rc.path, func(t *testing.T) {
				for _, role := range []string{"viewer", "operator", "manager", "owner"} {
					r := rc.send(t, c, f.Keys[role], f.ID, f.IDs, f)
					denied := roleRank[role] > roleRank[rc.min]
					switch {
					case denied && (r.Status != 403 || r.code() != "forbidden"):
						t.Errorf("%s: got %d %s, want 403 forbidden", role, r.Status, r.Body)
					case !denied && (r.Status == 401 || r.Status == 403 || r.Status >= 500):
						t.Errorf("%s: got %d %s, want it allowed", role, r.Status, r.Body)
					case role == rc.min && r.Status >= 300:
						t.Errorf("%s, the least role: got %d %s, want a success with the row's body and fixture", role, r.Status, r.Body)
					}
				}
			})
		}
	})
}

// volatileFields change without anyone changing the tenant (reading with a
// key marks it used); snapshots leave them out.
var volatileFields = map[string]bool{"last_used_at": true}

func dropVolatile(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if volatileFields[k] {
				delete(x, k)
			} else {
				dropVolatile(e)
			}
		}
	case []any:
		for _, e := range x {
			dropVolatile(e)
		}
	}
}

// snapshot reads what a tenant's owner can see of the tenant, to prove
// another tenant's calls changed nothing: settings, staff, keys and audit
// log; every fixture member with points, ledger, tier and coupons; rules;
// tiers; mall items with stock, redemptions, coupon templates, code batches
// with their codes, lottery draws; events, causes and checkout holds.
func snapshot(c *client, f *fixture) string {
	c.t.Helper()
	paths := []string{"/settings", "/staff", "/api-keys", "/audit?limit=200", "/members?limit=200",
		"/rules?limit=200", "/tiers", "/tiers/settings", "/events?limit=200", "/causes?limit=200",
		"/mall/items?limit=200", "/mall/redemptions?limit=200", "/coupon-templates?limit=200",
		"/mall/code-batches?limit=200", "/mall/lottery/" + f.IDs["lottery"] + "/draws?limit=200"}
	for _, k := range memberKeys {
		m := "/members/" + f.IDs[k]
		paths = append(paths, m, m+"/points", m+"/ledger?limit=200", m+"/tier", m+"/tier-history?limit=200", m+"/coupons?limit=200")
	}
	for _, k := range holdKeys {
		paths = append(paths, "/checkout/holds/"+f.IDs[k])
	}
	for _, k := range batchKeys {
		paths = append(paths, "/mall/code-batches/"+f.IDs[k], "/mall/code-batches/"+f.IDs[k]+"/codes?limit=200")
	}
	var parts []string
	for _, p := range paths {
		r := c.do("GET", f.path(p), f.Owner, nil)
		if r.Status != 200 {
			c.t.Fatalf("snapshot GET %s: got %d %s, want 200", p, r.Status, r.Body)
		}
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			c.t.Fatalf("snapshot GET %s: %v", p, err)
		}
		dropVolatile(v)
		raw, _ := json.Marshal(v)
		parts = append(parts, p+" "+string(raw))
	}
	return strings.Join(parts, "\n")
}

// TestTenantIsolation calls every tenant route with tenant B's credential
// against tenant A: under A's tenant id; under B's own id with A's ids in
// the path; and under B's own id with one of A's ids at a time in the body
// where the body names resources (so one check that holds can't hide
// another that doesn't). The first two must answer 404; the third 404, or
// 422 naming the field that names nothing in B (the role matrix proves the
// same body valid with the tenant's own ids). A must be unchanged.
func TestTenantIsolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		a := routeFixture(c)
		b := routeFixture(c)
		before := snapshot(c, a)
		for _, rc := range tenantRoutes {
			t.Run(rc.method+" "+rc.path, func(t *testing.T) {
				for _, tok := range []string{b.Owner, b.Keys["owner"]} {
					r := rc.send(t, c, tok, a.ID, a.IDs, b)
					if r.Status != 404 || r.code() != "not_found" {
						t.Errorf("B under A's tenant id: got %d %s, want 404 not_found", r.Status, r.Body)
					}
				}
				if strings.Contains(rc.path, ":") {
					r := rc.send(t, c, b.Keys["owner"], b.ID, a.IDs, b)
					if r.Status != 404 || r.code() != "not_found" {
						t.Errorf("B with A's ids in the path: got %d %s, want 404 not_found", r.Status, r.Body)
					}
				}
				for _, k := range rc.bodyRefs(b) {
					ids := maps.Clone(b.IDs)
					ids[k] = a.IDs[k]
					r := rc.send(t, c, b.Keys["owner"], b.ID, b.IDs, &fixture{ID: b.ID, Owner: b.Owner, Keys: b.Keys, IDs: ids})
					if !(r.Status == 404 && r.code() == "not_found") && !(r.Status == 422 && r.code() == "validation_failed") {
						t.Errorf("B with A's %s in the body: got %d %s, want 404 not_found or 422 validation_failed", k, r.Status, r.Body)
					}
				}
			})
		}
		if after := snapshot(c, a); after != before {
			t.Fatalf("tenant A changed under tenant B's calls:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// TestRouteTableComplete fails when a tenant route is mounted without a row
// in tenantRoutes, so the matrix and the isolation suite cover every route.
func TestRouteTableComplete(t *testing.T) {
	a := testApp(t, "sqlite")
	listed := map[string]bool{}
	for _, rc := range tenantRoutes {
		listed[rc.method+" "+rc.path] = true
	}
	var missing []string
	for _, r := range a.engine.Routes() {
		p, ok := strings.CutPrefix(r.Path, "/api/v1/tenants/:tid")
		if !ok {
			continue
		}
		if !listed[r.Method+" "+p] {
			missing = append(missing, r.Method+" "+p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("tenant routes missing from tenantRoutes (role matrix and isolation suite):\n%s", strings.Join(missing, "\n"))
	}
}

// TestOpenAPIDescribesEveryRoute fails when a mounted route is missing from
// the served OpenAPI document.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		r := c.must(200, "GET", "/api/v1/openapi.json", "", nil)
		paths := r["paths"].(map[string]any)
		var missing []string
		for _, rt := range testApp(t, "sqlite").engine.Routes() {
			p := paramPattern.ReplaceAllStringFunc(rt.Path, func(s string) string { return "{" + s[1:] + "}" })
			ops, _ := paths[p].(map[string]any)
			if _, ok := ops[strings.ToLower(rt.Method)]; !ok {
				missing = append(missing, rt.Method+" "+p)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Fatalf("routes missing from the OpenAPI document:\n%s", strings.Join(missing, "\n"))
		}
	})
}
