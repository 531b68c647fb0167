package rules

import (
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/http/routertest"
	"jifen/platform/storage/storagetest"
)

// typicalRules is a tenant's usual set for order_paid: points per amount, a
// double-points window (outside it here), a tier bonus, a big-order bonus
// with a daily cap, and a rule that looks into the order's items.
var typicalRules = []string{
	`{"template":"points_per_amount"}`,
	`{"template":"double_points","params":{"starts_at":"2026-11-11T00:00:00+08:00","ends_at":"2026-11-12T00:00:00+08:00"}}`,
	`{"name":"gold bonus","event":"order_paid","condition":"member.tier in [\"gold\", \"diamond\"]","points":"event.attributes.amount_cents / 2000","priority":10}`,
	`{"name":"big order","event":"order_paid","condition":"event.attributes.amount_cents >= 100000","points":"100","limits":{"per_member_per_day":100}}`,
	`{"name":"new product","event":"order_paid","condition":"event.attributes.items.exists(i, i.sku.startsWith(\"NEW-\"))","points":"20"}`,
}

var typicalInput = Input{
	EventType: EventOrderPaid, OccurredAt: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC),
	Attributes: map[string]any{"order_id": "A1001", "amount_cents": int64(128000), "items": []any{
		map[string]any{"sku": "OLD-1", "price_cents": int64(64000)},
		map[string]any{"sku": "NEW-7", "price_cents": int64(64000)},
	}},
	Member: MemberFacts{ID: "m1", Tier: "gold", Growth: 1200, Points: 300, CheckinStreak: 2},
	Now:    time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC),
}

// BenchmarkEvaluate measures Evaluate of a typical rule set with cached
// programs on SQLite: loading the rules, running them, and the limits with
// an in-memory usage.
func BenchmarkEvaluate(b *testing.B) {
	db := storagetest.OpenSQLite(b)
	svc := NewService(db, &audit.Log{DB: db}, clock.NewFake(epoch))
	tid := routertest.CreateTenant(b, db, routertest.TenantOptions{})
	ctx := routertest.TenantContext(b, db, tid)
	for _, body := range typicalRules {
		var req CreateRule
		if err := req.UnmarshalJSON([]byte(body)); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.CreateRules(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	usage := &memUsage{}
	check := func() {
		awards, errs, err := svc.Evaluate(ctx, typicalInput, 1500, usage)
		if err != nil || len(errs) != 0 || len(awards) != 4 {
			b.Fatalf("got %+v, %+v, %v; want 4 awards", awards, errs, err)
		}
	}
	check() // compiles and caches the programs
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		check()
	}
}

// BenchmarkEvaluateRules measures the rule evaluation alone, without the
// database: the cached programs, the multiplier and the limits.
func BenchmarkEvaluateRules(b *testing.B) {
	svc := NewService(nil, nil, clock.NewFake(epoch))
	var rules []Rule
	for i, body := range typicalRules {
		var req CreateRule
		if err := req.UnmarshalJSON([]byte(body)); err != nil {
			b.Fatal(err)
		}
		fe := platform.FieldErrors{}
		drafts := []Rule{{Condition: "true", Points: "0", Growth: "0", Active: true}}
		if req.Template != "" {
			drafts = expandTemplate(req, fe)
		} else {
			req.RuleFields.apply(&drafts[0], fe)
		}
		if len(fe) != 0 {
			b.Fatal(fe)
		}
		r := drafts[0]
		r.ID, r.Version = string(rune('a'+i)), 1
		rules = append(rules, r)
	}
	tenant := platform.Tenant{ID: "t", TimeZone: "Asia/Shanghai"}
	ctx := platform.WithTenant(b.Context(), tenant)
	usage := &memUsage{}
	b.ReportAllocs()
	for b.Loop() {
		awards, errs, err := svc.evaluateRules(ctx, tenant, rules, typicalInput, 1500, usage, false)
		if err != nil || len(errs) != 0 || len(awards) != 4 {
			b.Fatalf("got %+v, %+v, %v; want 4 awards", awards, errs, err)
		}
	}
}
