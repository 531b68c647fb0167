package main

import (
	"sync/atomic"
	"time"
)

// The helpers in this file give a route fixture (routeFixture) a real
// resource, made through the API with the owner's session, for every path
// parameter and body reference the rows of tenantRoutes use. Each helper
// stores the ids under the keys the rows name; destructive rows get
// resources of their own so that they can't break another row's. No id is
// stored under "rid": rules and mall redemptions both call their id :rid,
// so each of their rows says which it means.

// memberKeys are the fixture keys that hold member ids.
var memberKeys = []string{"mid", "receiver", "member_erase"}

// holdKeys are the fixture keys that hold checkout hold ids.
var holdKeys = []string{"hid", "hold_capture", "hold_release"}

// batchKeys are the fixture keys that hold exchange-code batch ids.
var batchKeys = []string{"bid", "grant_batch"}

// startingPoints is what the fixture's member holds before the rows run:
// enough for every redemption, draw, hold, spend and transfer the role
// matrix makes.
const startingPoints = 100_000

// shippingAddress is a valid address for physical goods.
var shippingAddress = map[string]any{"name": "张三", "phone": "13800000000", "address": "上海市静安区南京西路 1 号"}

// future is an RFC 3339 time the given number of days from now, for
// windows and overrides that must lie ahead (the program runs on the real
// clock).
func future(days int) string {
	return time.Now().UTC().AddDate(0, 0, days).Format(time.RFC3339)
}

// tierRanks hands out ranks for tiers created by the role matrix, above the
// fixture's own (1 and 2), so two creations in one tenant never collide.
var tierRanks atomic.Int64

// newTierBody is a valid new tier: a fresh name and rank, and a growth
// threshold that rises with the rank above every fixture tier's.
func newTierBody(*fixture) any {
	rank := 10 + tierRanks.Add(1)%80
	return map[string]any{"name": "等级 " + uniq(), "rank": rank, "growth_threshold": rank * 10_000_000, "multiplier_permille": 1500}
}

// str reads a string field of a response, failing the test when it is
// missing.
func str(c *client, m map[string]any, key string) string {
	c.t.Helper()
	s, ok := m[key].(string)
	if !ok || s == "" {
		c.t.Fatalf("response %v: got no %q, want a string", m, key)
	}
	return s
}

// addMembers adds a second member (a transfer's receiver) and one to erase,
// enables transfers and gives the fixture's member points.
func addMembers(c *client, f *fixture) {
	c.t.Helper()
	for _, key := range []string{"receiver", "member_erase"} {
		m := c.must(201, "POST", f.path("/members"), f.Owner, map[string]any{"external_id": key + "-" + uniq(), "name": "李四"})
		f.IDs[key] = str(c, m, "id")
	}
	c.must(200, "PATCH", f.path("/settings"), f.Owner, map[string]any{"transfers_enabled": true})
	c.must(200, "POST", f.path("/members/"+f.IDs["mid"]+"/points/adjust"), f.Owner, map[string]any{"delta": startingPoints, "reason": "开业赠送"})
}

// addLedger adds a cause and three checkout holds: one to read, one to
// capture and one to release.
func addLedger(c *client, f *fixture) {
	c.t.Helper()
	f.IDs["cid"] = str(c, c.must(201, "POST", f.path("/causes"), f.Owner, map[string]any{"name": "希望小学 " + uniq(), "description": "捐积分助学"}), "id")
	for _, key := range holdKeys {
		h := c.must(201, "POST", f.path("/checkout/holds"), f.Owner, map[string]any{"member_id": f.IDs["mid"], "order_id": "order-" + uniq(), "points": 100})
		f.IDs[key] = str(c, h, "id")
	}
}

// addRules adds a rule to read and change and one to delete.
func addRules(c *client, f *fixture) {
	c.t.Helper()
	for _, key := range []string{"rule", "rule_delete"} {
		r := c.must(201, "POST", f.path("/rules"), f.Owner, map[string]any{"name": "到店 " + key, "event": "store_visit", "points": "10", "growth": "1"})
		f.IDs[key] = str(c, r, "id")
	}
}

// addEvents posts an event for the member.
func addEvents(c *client, f *fixture) {
	c.t.Helper()
	e := c.must(201, "POST", f.path("/events"), f.Owner, map[string]any{"type": "store_visit", "member_id": f.IDs["mid"]})
	f.IDs["eid"] = str(c, e, "event_id")
}

// addTiers adds a tier that the member holds by a manual override and a
// tier no member can reach, to delete.
func addTiers(c *client, f *fixture) {
	c.t.Helper()
	t := c.must(201, "POST", f.path("/tiers"), f.Owner, map[string]any{"name": "银卡", "rank": 1, "growth_threshold": 1000, "multiplier_permille": 1500})
	f.IDs["tierid"] = str(c, t, "id")
	t = c.must(201, "POST", f.path("/tiers"), f.Owner, map[string]any{"name": "待删除", "rank": 2, "growth_threshold": 10_000_000})
	f.IDs["tier_delete"] = str(c, t, "id")
	c.must(200, "POST", f.path("/members/"+f.IDs["mid"]+"/tier-override"), f.Owner,
		map[string]any{"tier_id": f.IDs["tierid"], "until": future(30), "reason": "大客户补偿"})
}

// addMall adds a coupon template and a coupon of it, an item of each kind
// the rows need (physical goods, a virtual item whose codes grant it, an
// exchange-code item with a batch, a lottery with prizes), a code of each
// mode, and physical redemptions in each status a fulfilment row starts
// from.
func addMall(c *client, f *fixture) {
	c.t.Helper()
	mid := f.IDs["mid"]
	ct := c.must(201, "POST", f.path("/coupon-templates"), f.Owner,
		map[string]any{"name": "满100减20", "kind": "amount_off", "amount_off_cents": 2000, "min_order_cents": 10000, "valid_days": 30})
	f.IDs["ctid"] = str(c, ct, "id")
	cp := c.must(201, "POST", f.path("/members/"+mid+"/coupons"), f.Owner, map[string]any{"template_id": f.IDs["ctid"], "reason": "补偿"})
	f.IDs["coupon_code"] = str(c, cp, "code")

	item := func(key string, body map[string]any) {
		c.t.Helper()
		f.IDs[key] = str(c, c.must(201, "POST", f.path("/mall/items"), f.Owner, body), "id")
	}
	item("iid", map[string]any{"name": "保温杯", "kind": "physical", "points_price": 100, "stock": 100})
	item("virtual_item", map[string]any{"name": "视频会员月卡", "kind": "virtual", "points_price": 100, "stock": 100})
	item("exchange_item", map[string]any{"name": "门店咖啡兑换码", "kind": "exchange_code", "points_price": 100, "stock": 0})
	item("lottery", map[string]any{"name": "幸运转盘", "kind": "lottery", "points_price": 10, "stock": 1000,
		"lottery": map[string]any{"prizes": []any{
			map[string]any{"name": "50 积分", "kind": "points", "points": 50, "weight_bp": 2000, "stock": 1000},
			map[string]any{"name": "满100减20", "kind": "coupon", "coupon_template_id": f.IDs["ctid"], "weight_bp": 1000, "stock": 100},
		}}})

	batch := func(key, itemKey string) {
		c.t.Helper()
		b := c.must(201, "POST", f.path("/mall/code-batches"), f.Owner,
			map[string]any{"name": "批次 " + key, "item_id": f.IDs[itemKey], "quantity": 5, "ends_at": future(90)})
		f.IDs[key] = str(c, b, "id")
	}
	batch("bid", "exchange_item")
	batch("grant_batch", "virtual_item")
	codes := c.must(200, "GET", f.path("/mall/code-batches/"+f.IDs["grant_batch"]+"/codes"), f.Owner, nil)["items"].([]any)
	f.IDs["grant_code"] = str(c, codes[0].(map[string]any), "code")

	// Redeeming the exchange-code item allocates one of its codes, which
	// the merchant then verifies in store.
	r := c.must(201, "POST", f.path("/mall/redemptions"), f.Owner, map[string]any{"member_id": mid, "item_id": f.IDs["exchange_item"], "quantity": 1})
	grants := r["grants"].(map[string]any)["codes"].([]any)
	if len(grants) != 1 {
		c.t.Fatalf("exchange-code redemption: got codes %v, want 1", grants)
	}
	f.IDs["alloc_code"] = str(c, grants[0].(map[string]any), "code")

	c.must(201, "POST", f.path("/mall/lottery/"+f.IDs["lottery"]+"/draw"), f.Owner, map[string]any{"member_id": mid})

	redeem := func(key string) string {
		c.t.Helper()
		r := c.must(201, "POST", f.path("/mall/redemptions"), f.Owner,
			map[string]any{"member_id": mid, "item_id": f.IDs["iid"], "quantity": 1, "shipping_address": shippingAddress})
		f.IDs[key] = str(c, r, "id")
		return f.IDs[key]
	}
	redeem("redemption")
	redeem("redemption_fulfil")
	redeem("redemption_cancel")
	ship := redeem("redemption_ship")
	c.must(200, "POST", f.path("/mall/redemptions/"+ship+"/fulfil"), f.Owner, nil)
	done := redeem("redemption_complete")
	c.must(200, "POST", f.path("/mall/redemptions/"+done+"/fulfil"), f.Owner, nil)
	c.must(200, "POST", f.path("/mall/redemptions/"+done+"/ship"), f.Owner, map[string]any{"carrier": "顺丰速运", "tracking_number": "SF" + uniq()})
}
