package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// These tests hold the contract's "Members and points", "Events", "Earning
// rules" and "Mall" sections against the real router, on both databases.

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func points(t *testing.T, c *client, f *fixture, mid string) map[string]any {
	t.Helper()
	return c.must(200, "GET", f.path("/members/"+mid), f.Owner, nil)["points"].(map[string]any)
}

// ledgerSum adds up every entry of the member's ledger, page by page.
func ledgerSum(t *testing.T, c *client, f *fixture, mid string) int64 {
	t.Helper()
	var sum int64
	cur := ""
	for {
		page := c.must(200, "GET", f.path("/members/"+mid+"/ledger?limit=200&cursor="+cur), f.Owner, nil)
		for _, e := range page["items"].([]any) {
			sum += num(e.(map[string]any)["points"])
		}
		if cur = page["next_cursor"].(string); cur == "" {
			return sum
		}
	}
}

func checkInvariant(t *testing.T, c *client, f *fixture, mid string) {
	t.Helper()
	p := points(t, c, f, mid)
	if got, want := num(p["available"])+num(p["pending"]), ledgerSum(t, c, f, mid); got != want {
		t.Fatalf("available + pending = %d, ledger sum = %d", got, want)
	}
}

func TestContractPoints(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		mid := f.IDs["mid"]
		adj := c.must(200, "POST", f.path("/members/"+mid+"/points/adjust"), f.Keys["manager"], map[string]any{"delta": 500, "reason": "welcome gift"})
		entry := adj["entry"].(map[string]any)
		for _, k := range []string{"id", "kind", "points", "balance_after", "reason", "ref", "created_at"} {
			if _, ok := entry[k]; !ok {
				t.Errorf("entry lacks %s: %v", k, entry)
			}
		}
		if entry["kind"] != "adjust" || num(entry["points"]) != 500 || num(entry["balance_after"]) != 500 {
			t.Fatalf("adjust entry: got %v", entry)
		}
		if num(adj["points"].(map[string]any)["available"]) != 500 {
			t.Fatalf("points after adjust: got %v", adj["points"])
		}
		if r := c.do("POST", f.path("/members/"+mid+"/points/adjust"), f.Keys["operator"], map[string]any{"delta": 5, "reason": "x"}); r.Status != 403 {
			t.Fatalf("operator adjusting: got %d, want 403", r.Status)
		}
		for _, bad := range []map[string]any{{"delta": 0, "reason": "x"}, {"reason": "x"}, {"delta": 5}} {
			if r := c.do("POST", f.path("/members/"+mid+"/points/adjust"), f.Keys["manager"], bad); r.Status != 422 || r.code() != "validation_failed" {
				t.Errorf("adjust %v: got %d %s, want 422 validation_failed", bad, r.Status, r.Body)
			}
		}
		r := c.do("POST", f.path("/members/"+mid+"/points/adjust"), f.Keys["manager"], map[string]any{"delta": -501, "reason": "too much"})
		if r.Status != 422 || r.code() != "insufficient_points" {
			t.Fatalf("adjust beyond the balance: got %d %s, want 422 insufficient_points", r.Status, r.Body)
		}
		sp := c.must(200, "POST", f.path("/members/"+mid+"/points/spend"), f.Keys["operator"], map[string]any{"points": 120, "reason": "奶茶一杯"})
		if e := sp["entry"].(map[string]any); e["kind"] != "spend" || num(e["points"]) != -120 || num(e["balance_after"]) != 380 {
			t.Fatalf("spend entry: got %v", e)
		}
		for _, bad := range []map[string]any{{"points": 0}, {"points": -5}, {"points": "ten"}} {
			if r := c.do("POST", f.path("/members/"+mid+"/points/spend"), f.Keys["operator"], bad); r.Status != 422 {
				t.Errorf("spend %v: got %d, want 422", bad, r.Status)
			}
		}
		if r := c.do("POST", f.path("/members/"+mid+"/points/spend"), f.Keys["operator"], map[string]any{"points": 381, "reason": "x"}); r.code() != "insufficient_points" {
			t.Fatalf("overspend: got %d %s", r.Status, r.Body)
		}
		items := c.must(200, "GET", f.path("/members/"+mid+"/ledger"), f.Keys["viewer"], nil)["items"].([]any)
		if len(items) != 2 || items[0].(map[string]any)["kind"] != "spend" || items[1].(map[string]any)["kind"] != "adjust" {
			t.Fatalf("ledger newest first: got %v", items)
		}
		p := points(t, c, f, mid)
		if exp := p["expiring"].([]any); len(exp) != 1 || num(exp[0].(map[string]any)["points"]) != 380 {
			t.Fatalf("expiring: got %v, want the 380 left of the lot", p["expiring"])
		}
		checkInvariant(t, c, f, mid)
		audit := c.must(200, "GET", f.path("/audit?action=points.adjust"), f.Owner, nil)["items"].([]any)
		if len(audit) != 1 {
			t.Fatalf("audit of adjustments: got %d, want 1", len(audit))
		}
	})
}

// TestContractRacingSpends: 60 spends of 10 race against a balance of 200
// over HTTP: exactly 20 succeed, the rest are insufficient_points, none 5xx.
func TestContractRacingSpends(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		mid := f.IDs["mid"]
		c.must(200, "POST", f.path("/members/"+mid+"/points/adjust"), f.Owner, map[string]any{"delta": 200, "reason": "race"})
		var wg sync.WaitGroup
		var mu sync.Mutex
		counts := map[int]int{}
		for i := 0; i < 60; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := c.do("POST", f.path("/members/"+mid+"/points/spend"), f.Keys["operator"], map[string]any{"points": 10, "reason": "race"},
					"Idempotency-Key", fmt.Sprintf("spend-%d", i))
				mu.Lock()
				counts[r.Status]++
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		if counts[200] != 20 || counts[422] != 40 {
			t.Fatalf("got %v, want 20×200 and 40×422", counts)
		}
		if got := num(points(t, c, f, mid)["available"]); got != 0 {
			t.Fatalf("balance: got %d, want 0", got)
		}
		checkInvariant(t, c, f, mid)
	})
}

func TestContractRulesAndEvents(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		rule := c.must(201, "POST", f.path("/rules"), f.Keys["manager"], map[string]any{
			"name": "1 point per 10 yuan", "event": "order_paid",
			"condition": "event.attributes.amount_cents >= 1000",
			"points":    "event.attributes.amount_cents / 1000", "growth": "event.attributes.amount_cents / 100",
			"limits": map[string]any{"per_member_per_day": 0, "per_member_per_month": 0}, "active": true,
		})
		if rule["id"] == "" {
			t.Fatalf("rule: got %v", rule)
		}
		r := c.do("POST", f.path("/rules"), f.Keys["manager"], map[string]any{"name": "bad", "event": "order_paid", "points": "event.attributes.amount_cents / "})
		if r.Status != 422 || r.code() != "validation_failed" || !strings.Contains(string(r.Body), "column") {
			t.Fatalf("a formula that does not compile: got %d %s, want 422 naming the position", r.Status, r.Body)
		}
		if details := r.m(t)["error"].(map[string]any)["details"].(map[string]any); details["points"] == nil {
			t.Fatalf("details must name points: %v", details)
		}
		if r := c.do("POST", f.path("/rules"), f.Keys["operator"], map[string]any{"name": "x", "event": "check_in", "points": "5"}); r.Status != 403 {
			t.Fatalf("operator creating a rule: got %d, want 403", r.Status)
		}
		list := c.must(200, "GET", f.path("/rules"), f.Keys["viewer"], nil)["items"].([]any)
		if len(list) != 1 {
			t.Fatalf("rules: got %d, want 1", len(list))
		}
		ext := c.must(200, "GET", f.path("/members/"+f.IDs["mid"]), f.Owner, nil)["external_id"].(string)
		ev := map[string]any{"type": "order_paid", "external_id": ext, "occurred_at": "2026-11-22T10:00:00Z",
			"attributes": map[string]any{"order_id": "A1001", "amount_cents": 12800}}
		first := c.do("POST", f.path("/events"), f.Keys["operator"], ev, "Idempotency-Key", "evt-A1001")
		if first.Status != 201 {
			t.Fatalf("event: got %d %s", first.Status, first.Body)
		}
		got := first.m(t)
		if num(got["points_delta"]) != 12 || num(got["growth_delta"]) != 128 || got["event_id"] == "" {
			t.Fatalf("event answer: got %v, want 12 points and 128 growth", got)
		}
		aw := got["awards"].([]any)
		if len(aw) != 1 || aw[0].(map[string]any)["rule_id"] != rule["id"] || num(aw[0].(map[string]any)["points"]) != 12 {
			t.Fatalf("awards: got %v", aw)
		}
		again := c.do("POST", f.path("/events"), f.Keys["operator"], ev, "Idempotency-Key", "evt-A1001")
		if again.Status != 201 || string(again.Body) != string(first.Body) {
			t.Fatalf("replay: got %d %s, want the first answer", again.Status, again.Body)
		}
		ev["attributes"] = map[string]any{"order_id": "A1001", "amount_cents": 99900}
		if r := c.do("POST", f.path("/events"), f.Keys["operator"], ev, "Idempotency-Key", "evt-A1001"); r.Status != 409 || r.code() != "idempotency_key_reused" {
			t.Fatalf("same key, other body: got %d %s", r.Status, r.Body)
		}
		m := c.must(200, "GET", f.path("/members/"+f.IDs["mid"]), f.Owner, nil)
		if num(m["points"].(map[string]any)["available"]) != 12 || num(m["growth"]) != 128 {
			t.Fatalf("member after the event: got %v growth %v", m["points"], m["growth"])
		}
		// A partial refund of half the order takes back half the points.
		c.must(201, "POST", f.path("/events"), f.Keys["operator"], map[string]any{"type": "order_refunded", "external_id": ext,
			"attributes": map[string]any{"order_id": "A1001", "amount_cents": 6400, "refund_id": "R1"}})
		if got := num(points(t, c, f, f.IDs["mid"])["available"]); got != 6 {
			t.Fatalf("after refunding half: got %d points, want 6", got)
		}
		c.must(201, "POST", f.path("/events"), f.Keys["operator"], map[string]any{"type": "order_refunded", "external_id": ext,
			"attributes": map[string]any{"order_id": "A1001", "amount_cents": 6400, "refund_id": "R2"}})
		if got := num(points(t, c, f, f.IDs["mid"])["available"]); got != 0 {
			t.Fatalf("after refunding all: got %d points, want 0", got)
		}
		checkInvariant(t, c, f, f.IDs["mid"])
		for _, bad := range []map[string]any{
			{"type": "Order Paid", "external_id": ext},
			{"type": "order_paid", "external_id": ext, "occurred_at": "yesterday"},
			{"type": "order_paid"},
		} {
			if r := c.do("POST", f.path("/events"), f.Keys["operator"], bad); r.Status != 422 && r.Status != 404 {
				t.Errorf("event %v: got %d %s, want a 4xx naming the problem", bad, r.Status, r.Body)
			}
		}
		if r := c.do("POST", f.path("/events"), f.Keys["operator"], map[string]any{"type": "check_in", "external_id": "nobody"}); r.Status != 404 {
			t.Fatalf("event of an unknown member: got %d, want 404", r.Status)
		}
	})
}

func TestContractMall(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		item := c.must(201, "POST", f.path("/mall/items"), f.Keys["manager"], map[string]any{
			"name": "保温杯", "kind": "virtual", "points_price": 100, "cash_price_cents": 0, "stock": 10, "per_member_limit": 2,
		})
		iid := item["id"].(string)
		members := make([]string, 30)
		for i := range members {
			m := c.must(201, "POST", f.path("/members"), f.Keys["operator"], map[string]any{"external_id": "buyer-" + uniq()})
			members[i] = m["id"].(string)
			c.must(200, "POST", f.path("/members/"+members[i]+"/points/adjust"), f.Keys["manager"], map[string]any{"delta": 200, "reason": "flash sale"})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		counts := map[string]int{}
		var won []string
		for i := 0; i < 60; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := c.do("POST", f.path("/mall/redemptions"), f.Keys["operator"], map[string]any{"member_id": members[i%30], "item_id": iid, "quantity": 1},
					"Idempotency-Key", fmt.Sprintf("flash-%d", i))
				mu.Lock()
				defer mu.Unlock()
				counts[fmt.Sprintf("%d %s", r.Status, r.code())]++
				if r.Status == 201 {
					won = append(won, r.m(t)["id"].(string))
				}
			}(i)
		}
		wg.Wait()
		if counts["201 "] != 10 || counts["409 out_of_stock"] != 50 {
			t.Fatalf("flash sale: got %v, want 10×201 and 50×409 out_of_stock", counts)
		}
		if got := num(c.must(200, "GET", f.path("/mall/items/"+iid), f.Keys["viewer"], nil)["stock"]); got != 0 {
			t.Fatalf("stock: got %d, want 0", got)
		}
		var spent int64
		for _, mid := range members {
			spent += 200 - num(points(t, c, f, mid)["available"])
		}
		if spent != 1000 {
			t.Fatalf("points spent: got %d, want 10 × 100", spent)
		}
		// Cancelling twice gives points and stock back once.
		red := c.must(200, "GET", f.path("/mall/redemptions/"+won[0]), f.Keys["viewer"], nil)
		buyer := red["member_id"].(string)
		before := num(points(t, c, f, buyer)["available"])
		cancelled := c.must(200, "POST", f.path("/mall/redemptions/"+won[0]+"/cancel"), f.Keys["operator"], nil)
		if cancelled["status"] != "cancelled" {
			t.Fatalf("cancel: got %v", cancelled)
		}
		c.do("POST", f.path("/mall/redemptions/"+won[0]+"/cancel"), f.Keys["operator"], nil)
		if got := num(points(t, c, f, buyer)["available"]); got != before+100 {
			t.Fatalf("points after two cancels: got %d, want %d", got, before+100)
		}
		if got := num(c.must(200, "GET", f.path("/mall/items/"+iid), f.Keys["viewer"], nil)["stock"]); got != 1 {
			t.Fatalf("stock after two cancels: got %d, want 1", got)
		}
		// Too few points: 422 and the stock untouched; over the member limit: 409.
		poor := c.must(201, "POST", f.path("/members"), f.Keys["operator"], map[string]any{"external_id": "poor-" + uniq()})["id"].(string)
		if r := c.do("POST", f.path("/mall/redemptions"), f.Keys["operator"], map[string]any{"member_id": poor, "item_id": iid, "quantity": 1}); r.Status != 422 || r.code() != "insufficient_points" {
			t.Fatalf("poor member: got %d %s", r.Status, r.Body)
		}
		rich := c.must(201, "POST", f.path("/members"), f.Keys["operator"], map[string]any{"external_id": "rich-" + uniq()})["id"].(string)
		c.must(200, "POST", f.path("/members/"+rich+"/points/adjust"), f.Keys["manager"], map[string]any{"delta": 1000, "reason": "vip"})
		c.must(200, "POST", f.path("/mall/items/"+iid+"/stock"), f.Keys["manager"], map[string]any{"delta": 5})
		c.must(201, "POST", f.path("/mall/redemptions"), f.Keys["operator"], map[string]any{"member_id": rich, "item_id": iid, "quantity": 2})
		if r := c.do("POST", f.path("/mall/redemptions"), f.Keys["operator"], map[string]any{"member_id": rich, "item_id": iid, "quantity": 1}); r.Status != 409 || r.code() != "conflict" {
			t.Fatalf("over the member limit: got %d %s, want 409 conflict", r.Status, r.Body)
		}
		for _, bad := range []map[string]any{
			{"name": "x", "kind": "car", "points_price": 1, "stock": 1},
			{"name": "x", "kind": "virtual", "points_price": 0, "stock": 1},
			{"name": "x", "kind": "virtual", "points_price": 1, "stock": -1},
		} {
			if r := c.do("POST", f.path("/mall/items"), f.Keys["manager"], bad); r.Status != 422 {
				t.Errorf("item %v: got %d, want 422", bad, r.Status)
			}
		}
		checkInvariant(t, c, f, rich)
	})
}
