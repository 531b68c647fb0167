package rules

import (
	"testing"
	"time"

	"github.com/google/cel-go/common/types"

	"jifen/pkg/clock"
	"jifen/platform"
)

// TestDocExamples compiles and runs the expressions docs/rules.md shows
// merchants, so the guide can't drift from the language.
func TestDocExamples(t *testing.T) {
	svc := NewService(nil, nil, clock.NewFake(epoch))
	now := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC) // a Sunday, 09:00 in Shanghai
	in := Input{
		EventType: EventOrderPaid, OccurredAt: now, Now: now,
		Attributes: NormalizeAttributes(map[string]any{
			"amount_cents": 12800, "rating": 4.5, "channel": "wx_mini",
			"items": []any{map[string]any{"sku": "TEA-01", "category": "tea"}, map[string]any{"sku": "CUP-2", "category": "ware"}, map[string]any{"sku": "TEA-02", "category": "tea"}},
		}),
		Member: MemberFacts{ID: "m1", Tier: "gold", Birthday: "1990-11-03", CreatedAt: now.Add(-24 * time.Hour), CheckinStreak: 3},
	}
	act, err := activation(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  string
		want any
	}{
		{"event.attributes.amount_cents / 1000", int64(12)},
		{"event.attributes.amount_cents / 100", int64(128)},
		{"event.attributes.amount_cents * 3 / 1000", int64(38)},
		{"int(double(event.attributes.rating) * 10.0)", int64(45)},
		{"has(event.attributes.coupon_cents) ? event.attributes.coupon_cents / 100 : 0", int64(0)},
		{`member.tier in ["gold", "diamond"]`, true},
		{`member.tier == "gold" ? 20 : 10`, int64(20)},
		{"math.least(event.attributes.amount_cents / 1000, 200)", int64(12)},
		{"math.greatest(1, 2)", int64(2)},
		{`event.attributes.channel.startsWith("wx")`, true},
		{"size(event.attributes.items) >= 3", true},
		{`event.attributes.items.exists(i, i.sku == "TEA-01")`, true},
		{`event.attributes.items.filter(i, i.category == "tea").size()`, int64(2)},
		{`event.occurred_at.getHours("Asia/Shanghai") < 10`, true},
		{`now.getDayOfWeek("Asia/Shanghai") == 0`, true},
		{`member.birthday != "" && int(member.birthday.substring(5, 7)) == now.getMonth("Asia/Shanghai") + 1`, true},
		{`now - member.created_at < duration("720h")`, true},
		{"[1, 2, 3, 5, 8, 13, 20][(member.checkin_streak - 1) % 7]", int64(3)},
		{`event.attributes.amount_cents / 1000 * 2`, int64(24)},
	} {
		x, msg := svc.compileExpr("points", c.src, types.DynType)
		if msg != "" {
			t.Fatalf("%s: %s", c.src, msg)
		}
		got, err := x.eval(t.Context(), act, time.Second, DefaultCostLimit)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if got.Value() != c.want {
			t.Fatalf("%s: got %v, want %v", c.src, got.Value(), c.want)
		}
	}
	// The error shown in the guide.
	_, err = svc.CreateRules(platform.WithTenant(t.Context(), platform.Tenant{ID: "t"}),
		CreateRule{RuleFields: RuleFields{Name: new("n"), Event: new("order_paid"), Points: new("event.attributes.amount_cents /")}})
	if got := fieldErrors(t, err)["points"]; got != "line 1, column 32: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}" {
		t.Fatalf("got %q", got)
	}
}
