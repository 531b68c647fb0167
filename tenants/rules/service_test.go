package rules

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

// TestCreateRefusesBadRules checks the field errors of rules that must not
// be saved. Validation happens before any database work, so no database is
// needed.
func TestCreateRefusesBadRules(t *testing.T) {
	svc := NewService(nil, nil, clock.NewFake(epoch))
	long := strings.Repeat("1 + ", 1100) + "1"
	for _, c := range []struct {
		name  string
		body  string
		field string
		want  string // the start of the problem, or "…" around a part of it
	}{
		{"syntax error at its position", `{"name":"n","event":"order_paid","points":"event.attributes.amount_cents /"}`,
			"points", "line 1, column 32: Syntax error"},
		{"undeclared variable", `{"name":"n","event":"order_paid","points":"amount_cents / 1000"}`,
			"points", "line 1, column 1: undeclared reference to 'amount_cents'"},
		{"unknown member field on line 2", "{\"name\":\"n\",\"event\":\"order_paid\",\"points\":\"1\",\"condition\":\"event.attributes.amount_cents >= 1000 &&\\n  member.teir == 'gold'\"}",
			"condition", `line 2, column 9: member has no field "teir"; it has id, tier, growth, points, birthday, created_at, checkin_streak`},
		{"unknown event field", `{"name":"n","event":"order_paid","points":"event.amount_cents / 1000"}`,
			"points", `line 1, column 6: event has no field "amount_cents"; it has type, occurred_at, attributes`},
		{"no matching overload", `{"name":"n","event":"order_paid","points":"10 + 'x'"}`,
			"points", "line 1, column 4: found no matching overload for '_+_' applied to '(int, string)'"},
		{"double formula", `{"name":"n","event":"order_paid","points":"event.attributes.amount_cents * 0.1"}`,
			"points", "evaluates to a double (a fractional number), but points are whole numbers: use integer arithmetic"},
		{"double growth", `{"name":"n","event":"order_paid","points":"1","growth":"2.5"}`,
			"growth", "evaluates to a double (a fractional number), but growth are whole numbers: use integer arithmetic"},
		{"uint formula", `{"name":"n","event":"order_paid","points":"5u"}`,
			"points", "evaluates to an unsigned integer (uint)"},
		{"string formula", `{"name":"n","event":"order_paid","points":"'50'"}`,
			"points", "must evaluate to an integer, but it evaluates to string"},
		{"condition not a bool", `{"name":"n","event":"order_paid","points":"1","condition":"1 + 1"}`,
			"condition", "must be true or false (a bool), but it evaluates to int"},
		{"nested loops over a large list", `{"name":"n","event":"order_paid","points":"1","condition":"event.attributes.items.all(a, event.attributes.items.all(b, a != b))"}`,
			"condition", "is too expensive: it may cost up to"},
		{"nested loops over a literal list", `{"name":"n","event":"order_paid","points":"[` + strings.Repeat("1,", 500) + `1].map(a, [` + strings.Repeat("1,", 500) + `1].filter(b, b == a).size()).size()"}`,
			"points", "is too expensive"},
		{"too long", `{"name":"n","event":"order_paid","points":"` + long + `"}`,
			"points", "is 4401 characters long; the most is 4096"},
		{"nothing to award", `{"name":"n","event":"order_paid"}`,
			"points", "points and growth are both 0"},
		{"missing name", `{"event":"order_paid","points":"1"}`, "name", "is required"},
		{"missing event", `{"name":"n","points":"1"}`, "event", "is required"},
		{"bad event", `{"name":"n","event":"Order-Paid","points":"1"}`, "event", "must be a lower_snake name"},
		{"negative limit", `{"name":"n","event":"order_paid","points":"1","limits":{"per_member_per_day":-1}}`,
			"limits.per_member_per_day", "must be 0 (no limit) or more"},
		{"priority out of range", `{"name":"n","event":"order_paid","points":"1","priority":2000000}`, "priority", "must be from"},
		{"bad time", `{"name":"n","event":"order_paid","points":"1","starts_at":"tomorrow"}`, "starts_at", "must be an RFC 3339 time"},
		{"window backwards", `{"name":"n","event":"order_paid","points":"1","starts_at":"2026-11-12T00:00:00Z","ends_at":"2026-11-11T00:00:00Z"}`,
			"ends_at", "must be after starts_at"},
		{"a typo in a field name", `{"name":"n","event":"order_paid","points":"1","condtion":"false"}`, "condtion", "is not a field of a rule"},
		{"params without a template", `{"name":"n","event":"order_paid","points":"1","params":{"points":1}}`, "params", "is only used with a template"},
		{"unknown template", `{"template":"lottery"}`, "template", "is not a template; use one of points_per_amount"},
		{"template with a formula", `{"template":"review","points":"5"}`, "points", "can't be given with a template"},
		{"unknown template param", `{"template":"review","params":{"pionts":5}}`, "params.pionts", "is not a parameter of template review"},
		{"negative template param", `{"template":"review","params":{"points":-5}}`, "params.points", "must be at least 0"},
		{"fractional template param", `{"template":"review","params":{"points":1.5}}`, "params.points", "must be an integer"},
		{"missing template param", `{"template":"fixed_points","params":{"points":5}}`, "params.event", "is required"},
		{"zero spend per point", `{"template":"points_per_amount","params":{"spend_per_point_cents":0}}`, "params.spend_per_point_cents", "must be at least 1"},
		{"empty streak cycle", `{"template":"checkin_streak","params":{"awards":[]}}`, "params.awards", "must be a list of 1 to 31"},
		{"window template without its window", `{"template":"double_points"}`, "params.starts_at", "is required"},
		{"window template backwards", `{"template":"double_points","params":{"starts_at":"2026-11-12T00:00:00Z","ends_at":"2026-11-11T00:00:00Z"}}`,
			"params.ends_at", "must be after starts_at"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var req CreateRule
			if err := json.Unmarshal([]byte(c.body), &req); err != nil {
				t.Fatalf("decode: %v", err)
			}
			_, err := svc.CreateRules(t.Context(), req)
			details := fieldErrors(t, err)
			got, _ := details[c.field].(string)
			if !strings.HasPrefix(got, c.want) {
				t.Fatalf("details[%q]: got %q, want it to start with %q (all details: %v)", c.field, got, c.want, details)
			}
		})
	}
}

func TestTemplatesExpandToValidRules(t *testing.T) {
	svc := NewService(nil, nil, clock.NewFake(epoch))
	for _, tp := range svc.Templates() {
		t.Run(tp.Name, func(t *testing.T) {
			given := map[string]any{}
			for _, p := range tp.Params {
				if !p.Required {
					continue
				}
				switch p.Type {
				case paramEvent:
					given[p.Name] = "custom_event"
				case paramInteger:
					given[p.Name] = json.Number("5")
				case paramTime:
					given[p.Name] = map[string]string{"starts_at": "2026-11-11T00:00:00+08:00", "ends_at": "2026-11-12T00:00:00+08:00"}[p.Name]
				}
			}
			fe := platform.FieldErrors{}
			rules := expandTemplate(CreateRule{Template: tp.Name, Params: given}, fe)
			if len(fe) != 0 {
				t.Fatalf("got field errors %v", fe)
			}
			if len(rules) != tp.Rules {
				t.Fatalf("got %d rules, want %d", len(rules), tp.Rules)
			}
			for _, r := range rules {
				svc.validate(&r, fe)
				if len(fe) != 0 {
					t.Fatalf("rule %+v: got field errors %v", r, fe)
				}
				if tp.Event != "" && r.Event != tp.Event {
					t.Fatalf("got event %q, want %q", r.Event, tp.Event)
				}
			}
		})
	}
}

func TestTemplateOverrides(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "UTC")
		r := f.createOne(t, `{"template":"review","name":"评价送积分","active":false,"priority":7,"limits":{"per_member_per_week":100}}`)
		if r.Name != "评价送积分" || r.Active || r.Priority != 7 || r.Limits.PerMemberPerWeek != 100 || r.Limits.PerMemberPerDay != 30 {
			t.Fatalf("got %+v, want the overrides on top of the template", r)
		}
		if params, _ := json.Marshal(r.Params); r.Template != "review" || string(params) != `{"daily_cap_points":30,"growth":0,"points":10}` {
			t.Fatalf("got template %q params %v, want review with defaults", r.Template, r.Params)
		}
		both := f.create(t, `{"template":"referral","name":"邀请有礼"}`)
		if len(both) != 2 || both[0].Name != "邀请有礼 (referrer)" || both[1].Name != "邀请有礼 (new member)" {
			t.Fatalf("got %+v, want two named parts", both)
		}
		stored, err := f.svc.FindRuleByID(f.ctx, both[1].ID)
		if err != nil || stored.Condition != `event.attributes.role == "referee"` || stored.Points != "200" {
			t.Fatalf("got %+v, %v; want the referee's rule", stored, err)
		}
	})
}

func TestUpdateRule(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "UTC")
		r := f.createOne(t, `{"name":"n","event":"order_paid","points":"1","starts_at":"2026-11-11T00:00:00+08:00"}`)
		patch := func(body string) (Rule, error) {
			var p RuleFields
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatal(err)
			}
			f.clk.Advance(time.Minute)
			return f.svc.UpdateRule(f.ctx, r.ID, p)
		}
		got, err := patch(`{"points":"2","limits":{"per_rule_per_day":9},"starts_at":null}`)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.Points != "2" || got.Limits.PerRulePerDay != 9 || got.StartsAt != nil || got.Name != "n" || !got.UpdatedAt.After(r.UpdatedAt) {
			t.Fatalf("got %+v, want version 2 with the new points and limit and no start", got)
		}
		stored, _ := f.svc.FindRuleByID(f.ctx, r.ID)
		if stored.Version != 2 || stored.Points != "2" || stored.StartsAt != nil || !stored.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("stored: got %+v", stored)
		}
		if _, err := patch(`{"points":"event.attributes.x * 1.5"}`); !platform.IsCode(err, platform.EValidation) {
			t.Fatalf("bad points: got %v, want validation_failed", err)
		}
		if same, err := patch(`{}`); err != nil || same.Version != 2 {
			t.Fatalf("empty patch: got %+v, %v; want version 2 unchanged", same, err)
		}
		// A stale version is a conflict, not a lost update.
		r2 := stored
		r2.Version = 3
		err = f.db.Tx(f.ctx, func(ctx context.Context) error { return f.svc.saveRule(ctx, f.tenant, &r2, 1, nil) })
		if !platform.IsCode(err, platform.EConflict) {
			t.Fatalf("stale save: got %v, want conflict", err)
		}
		if err := f.svc.DeleteRule(f.ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{
			func() error { _, err := f.svc.FindRuleByID(f.ctx, r.ID); return err }(),
			func() error { _, err := patch(`{"points":"3"}`); return err }(),
			f.svc.DeleteRule(f.ctx, r.ID),
		} {
			if !platform.IsCode(err, platform.ENotFound) {
				t.Fatalf("deleted rule: got %v, want not_found", err)
			}
		}
		awards, _ := f.evaluate(t, Input{EventType: EventOrderPaid}, 1000, nil)
		if len(awards) != 0 {
			t.Fatalf("a deleted rule awarded %+v", awards)
		}
	})
}
