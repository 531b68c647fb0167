package rules

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"jifen/pkg/clock"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

// api is the rules API of one test tenant.
type api struct {
	env    *routertest.Env
	svc    *Service
	clk    *clock.Fake
	tenant string
	base   string
}

func newAPI(t *testing.T, db *storage.DB) *api {
	t.Helper()
	env := routertest.New(t, db)
	clk := clock.NewFake(epoch)
	svc := NewService(db, &audit.Log{DB: db}, clk)
	Routes(env.Tenant, env.Can, svc)
	tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
	return &api{env: env, svc: svc, clk: clk, tenant: tid, base: "/api/v1/tenants/" + tid + "/rules"}
}

func (a *api) do(t *testing.T, method, path, role string, body any, headers ...string) *routertest.Response {
	t.Helper()
	return a.env.Do(t, method, a.base+path, role, body, headers...)
}

func wantStatus(t *testing.T, r *routertest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got status %d (%s), want %d", r.Status, r.Body, status)
	}
}

// createRule creates a rule a second after the one before, so their
// creation order is certain.
func (a *api) createRule(t *testing.T, body string) Rule {
	t.Helper()
	a.clk.Advance(time.Second)
	r := a.do(t, http.MethodPost, "", platform.RoleManager, body)
	wantStatus(t, r, http.StatusCreated)
	var rule Rule
	r.JSON(t, &rule)
	return rule
}

// count returns the rows of a table for the tenant.
func count(t *testing.T, db *storage.DB, table, tenant string) int64 {
	t.Helper()
	var n int64
	if err := db.Conn(t.Context()).Table(table).Where("tenant_id = ?", tenant).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRulesAPI(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newAPI(t, db)

		t.Run("create", func(t *testing.T) {
			r := a.do(t, http.MethodPost, "", platform.RoleManager, `{"name":"1 point per 10 yuan","event":"order_paid",
				"condition":"event.attributes.amount_cents >= 1000","points":"event.attributes.amount_cents / 1000",
				"growth":"event.attributes.amount_cents / 100","limits":{"per_member_per_day":500,"per_member_per_month":0},"active":true}`)
			wantStatus(t, r, http.StatusCreated)
			m := r.Map(t)
			for _, k := range []string{"id", "name", "event", "condition", "points", "growth", "limits", "priority", "exclusive",
				"active", "starts_at", "ends_at", "created_at", "updated_at", "version"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("the rule has no %q: %s", k, r.Body)
				}
			}
			if m["version"] != float64(1) || m["starts_at"] != nil || m["limits"].(map[string]any)["per_member_per_day"] != float64(500) {
				t.Fatalf("got %s", r.Body)
			}
			got := a.do(t, http.MethodGet, "/"+m["id"].(string), platform.RoleViewer, nil)
			wantStatus(t, got, http.StatusOK)
			if got.Map(t)["points"] != "event.attributes.amount_cents / 1000" {
				t.Fatalf("got %s", got.Body)
			}
		})

		t.Run("bad input", func(t *testing.T) {
			for _, c := range []struct {
				name, body  string
				status      int
				code, field string
				detail      string
			}{
				{"not JSON", `{"name":`, 400, platform.EInvalidJSON, "", ""},
				{"wrong type", `{"name":"n","event":"order_paid","points":"1","priority":"high"}`, 422, platform.EValidation, "priority", "must be an integer"},
				{"wrong limit type", `{"name":"n","event":"order_paid","points":"1","limits":{"per_rule_per_day":"x"}}`, 422, platform.EValidation, "limits.per_rule_per_day", "must be an integer"},
				{"compile error with its position", `{"name":"n","event":"order_paid","points":"event.attributes.amount_cents / / 1000"}`,
					422, platform.EValidation, "points", "line 1, column 33: Syntax error"},
				{"double formula", `{"name":"n","event":"order_paid","points":"event.attributes.amount_cents * 0.1"}`,
					422, platform.EValidation, "points", "evaluates to a double"},
				{"unknown template", `{"template":"nope"}`, 422, platform.EValidation, "template", "is not a template"},
			} {
				t.Run(c.name, func(t *testing.T) {
					r := a.do(t, http.MethodPost, "", platform.RoleManager, c.body)
					wantStatus(t, r, c.status)
					if r.ErrorCode() != c.code {
						t.Fatalf("got code %q, want %q", r.ErrorCode(), c.code)
					}
					if c.field == "" {
						return
					}
					details, _ := r.Map(t)["error"].(map[string]any)["details"].(map[string]any)
					if got, _ := details[c.field].(string); !strings.HasPrefix(got, c.detail) {
						t.Fatalf("details[%q]: got %q, want it to start with %q (%s)", c.field, got, c.detail, r.Body)
					}
				})
			}
		})

		t.Run("roles", func(t *testing.T) {
			body := `{"name":"n","event":"check_in","points":"1"}`
			for _, c := range []struct {
				role   string
				status int
			}{
				{platform.RoleViewer, http.StatusForbidden},
				{platform.RoleOperator, http.StatusForbidden},
				{platform.RoleManager, http.StatusCreated},
				{platform.RoleOwner, http.StatusCreated},
			} {
				wantStatus(t, a.do(t, http.MethodPost, "", c.role, body), c.status)
			}
			rule := a.createRule(t, body)
			wantStatus(t, a.do(t, http.MethodPatch, "/"+rule.ID, platform.RoleViewer, `{"points":"2"}`), http.StatusForbidden)
			wantStatus(t, a.do(t, http.MethodDelete, "/"+rule.ID, platform.RoleOperator, nil), http.StatusForbidden)
			for _, path := range []string{"", "/" + rule.ID, "/templates"} {
				wantStatus(t, a.do(t, http.MethodGet, path, platform.RoleViewer, nil), http.StatusOK)
			}
			wantStatus(t, a.do(t, http.MethodPost, "/simulate", platform.RoleViewer, `{"event":{"type":"check_in"}}`), http.StatusOK)
			wantStatus(t, a.do(t, http.MethodGet, "", "", nil), http.StatusUnauthorized)
		})

		t.Run("unknown rule", func(t *testing.T) {
			for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
				r := a.do(t, m, "/01jzzzzzzzzzzzzzzzzzzzzzzz", platform.RoleManager, `{"points":"1"}`)
				wantStatus(t, r, http.StatusNotFound)
				if r.ErrorCode() != platform.ENotFound {
					t.Fatalf("%s: got code %q, want not_found", m, r.ErrorCode())
				}
			}
		})

		t.Run("update and delete", func(t *testing.T) {
			rule := a.createRule(t, `{"name":"window","event":"order_paid","points":"1","starts_at":"2026-11-11T00:00:00+08:00"}`)
			r := a.do(t, http.MethodPatch, "/"+rule.ID, platform.RoleManager, `{"points":"event.attributes.amount_cents / 500","starts_at":null,"priority":5}`)
			wantStatus(t, r, http.StatusOK)
			var got Rule
			r.JSON(t, &got)
			if got.Version != 2 || got.Points != "event.attributes.amount_cents / 500" || got.StartsAt != nil || got.Priority != 5 || got.Name != "window" {
				t.Fatalf("got %+v", got)
			}
			bad := a.do(t, http.MethodPatch, "/"+rule.ID, platform.RoleManager, `{"points":"event.attributes.amount_cents /","condtion":"true"}`)
			wantStatus(t, bad, http.StatusUnprocessableEntity)
			if !strings.Contains(string(bad.Body), "condtion") {
				t.Fatalf("the unknown field is not named: %s", bad.Body)
			}
			after := a.do(t, http.MethodGet, "/"+rule.ID, platform.RoleViewer, nil)
			if after.Map(t)["version"] != float64(2) {
				t.Fatalf("a refused patch changed the rule: %s", after.Body)
			}
			wantStatus(t, a.do(t, http.MethodDelete, "/"+rule.ID, platform.RoleManager, nil), http.StatusNoContent)
			wantStatus(t, a.do(t, http.MethodGet, "/"+rule.ID, platform.RoleViewer, nil), http.StatusNotFound)
			wantStatus(t, a.do(t, http.MethodDelete, "/"+rule.ID, platform.RoleManager, nil), http.StatusNotFound)

			entries, _, err := (&audit.Log{DB: db}).List(routertest.TenantContext(t, db, a.tenant), audit.Filter{TargetID: rule.ID, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range entries {
				actions = append(actions, e.Action)
			}
			sort.Strings(actions) // records made in one millisecond list in any order
			if fmt.Sprint(actions) != "[rule.created rule.deleted rule.updated]" {
				t.Fatalf("audit: got %v", actions)
			}
		})

		t.Run("idempotent create", func(t *testing.T) {
			before := count(t, db, "rules", a.tenant)
			body := `{"name":"once","event":"content_shared","points":"5"}`
			first := a.do(t, http.MethodPost, "", platform.RoleManager, body, "Idempotency-Key", "create-once")
			again := a.do(t, http.MethodPost, "", platform.RoleManager, body, "Idempotency-Key", "create-once")
			wantStatus(t, first, http.StatusCreated)
			wantStatus(t, again, http.StatusCreated)
			if string(first.Body) != string(again.Body) {
				t.Fatalf("replay: got %s, want %s", again.Body, first.Body)
			}
			if n := count(t, db, "rules", a.tenant); n != before+1 {
				t.Fatalf("got %d new rules, want 1", n-before)
			}
		})
	})
}

func TestRulesAPIList(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newAPI(t, db)
		var ids []string
		for i, ev := range []string{"order_paid", "check_in", "order_paid", "order_paid", "check_in"} {
			r := a.createRule(t, fmt.Sprintf(`{"name":"r%d","event":%q,"points":"1","active":%v}`, i, ev, i != 2))
			ids = append(ids, r.ID)
		}
		list := func(query string) ([]string, string) {
			r := a.do(t, http.MethodGet, query, platform.RoleViewer, nil)
			wantStatus(t, r, http.StatusOK)
			var page struct {
				Items      []Rule `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			r.JSON(t, &page)
			var got []string
			for _, it := range page.Items {
				got = append(got, it.ID)
			}
			return got, page.NextCursor
		}
		var all []string
		cur := ""
		for pages := 0; ; pages++ {
			got, next := list("?limit=2&cursor=" + cur)
			all = append(all, got...)
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("the pages never end")
			}
			cur = next
		}
		if fmt.Sprint(all) != fmt.Sprint(ids) {
			t.Fatalf("paged: got %v, want %v", all, ids)
		}
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"?event=order_paid", []string{ids[0], ids[2], ids[3]}},
			{"?event=order_paid&active=true", []string{ids[0], ids[3]}},
			{"?active=false", []string{ids[2]}},
			{"?event=birthday", nil},
		} {
			if got, _ := list(c.query); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("%s: got %v, want %v", c.query, got, c.want)
			}
		}
		for _, q := range []string{"?active=yes", "?limit=0", "?cursor=bm90LWpzb24", "?event=Order"} {
			r := a.do(t, http.MethodGet, q, platform.RoleViewer, nil)
			wantStatus(t, r, http.StatusUnprocessableEntity)
		}

		// Another tenant sees none of these rules.
		other := routertest.CreateTenant(t, db, routertest.TenantOptions{})
		r := a.env.Do(t, http.MethodGet, "/api/v1/tenants/"+other+"/rules", platform.RoleOwner, nil)
		wantStatus(t, r, http.StatusOK)
		if items := r.Map(t)["items"].([]any); len(items) != 0 {
			t.Fatalf("tenant B lists tenant A's rules: %s", r.Body)
		}
		for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			r := a.env.Do(t, m, "/api/v1/tenants/"+other+"/rules/"+ids[0], platform.RoleOwner, `{"points":"9"}`)
			wantStatus(t, r, http.StatusNotFound)
		}
		if got := a.do(t, http.MethodGet, "/"+ids[0], platform.RoleViewer, nil).Map(t)["points"]; got != "1" {
			t.Fatalf("tenant B changed tenant A's rule: points %v", got)
		}
	})
}

func TestRulesAPITemplates(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newAPI(t, db)
		r := a.do(t, http.MethodGet, "/templates", platform.RoleViewer, nil)
		wantStatus(t, r, http.StatusOK)
		var page struct {
			Items []Template `json:"items"`
		}
		r.JSON(t, &page)
		var names []string
		for _, tp := range page.Items {
			names = append(names, tp.Name)
			if len(tp.Params) == 0 || tp.Title == "" || tp.Description == "" {
				t.Fatalf("template %s is not described: %+v", tp.Name, tp)
			}
		}
		want := "[points_per_amount fixed_points checkin_streak registration review share birthday referral double_points]"
		if fmt.Sprint(names) != want {
			t.Fatalf("got %v, want %s", names, want)
		}

		one := a.createRule(t, `{"template":"points_per_amount","params":{"spend_per_point_cents":500}}`)
		if one.Template != "points_per_amount" || one.Points != "event.attributes.amount_cents / 500" || one.Name != "1 point per 5 yuan" {
			t.Fatalf("got %+v", one)
		}
		two := a.do(t, http.MethodPost, "", platform.RoleManager, `{"template":"referral","params":{"referrer_points":300}}`)
		wantStatus(t, two, http.StatusCreated)
		var rules struct {
			Items []Rule `json:"items"`
		}
		two.JSON(t, &rules)
		if len(rules.Items) != 2 || rules.Items[0].Points != "300" || rules.Items[1].Points != "200" {
			t.Fatalf("got %s", two.Body)
		}
		bad := a.do(t, http.MethodPost, "", platform.RoleManager, `{"template":"checkin_streak","params":{"awards":[1,"two"]}}`)
		wantStatus(t, bad, http.StatusUnprocessableEntity)
		if !strings.Contains(string(bad.Body), `"params.awards"`) {
			t.Fatalf("got %s, want params.awards named", bad.Body)
		}
	})
}

func TestRulesAPISimulate(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newAPI(t, db)
		base := a.createRule(t, `{"template":"points_per_amount"}`)
		capped := a.createRule(t, `{"name":"daily order bonus","event":"order_paid","points":"50","growth":"1","limits":{"per_member_per_day":50}}`)
		broken := a.createRule(t, `{"name":"broken","event":"order_paid","points":"event.attributes.coupon_cents / 100"}`)

		tables := []string{"rules", "audit_log", "idempotency_keys"}
		before := map[string]int64{}
		for _, tb := range tables {
			before[tb] = count(t, db, tb, a.tenant)
		}
		body := `{"event":{"type":"order_paid","occurred_at":"2026-11-22T10:00:00Z","attributes":{"order_id":"A1001","amount_cents":12800}},
			"member":{"id":"m1","tier":"gold","checkin_streak":3},"tier_multiplier_permille":1500}`
		r := a.do(t, http.MethodPost, "/simulate", platform.RoleViewer, body, "Idempotency-Key", "sim-1")
		wantStatus(t, r, http.StatusOK)
		var sim Simulation
		r.JSON(t, &sim)
		if sim.PointsDelta != 18+50 || sim.GrowthDelta != 128+1 || len(sim.Awards) != 2 || sim.Awards[0].RuleID != base.ID ||
			sim.Awards[1].RuleID != capped.ID || len(sim.Errors) != 1 || sim.Errors[0].RuleID != broken.ID {
			t.Fatalf("got %s", r.Body)
		}
		if !strings.Contains(string(r.Body), `"errors":[{"rule_id":"`+broken.ID+`","message":"points: no such key: coupon_cents"}]`) {
			t.Fatalf("got %s", r.Body)
		}
		for _, tb := range tables {
			if n := count(t, db, tb, a.tenant); n != before[tb] {
				t.Fatalf("the simulation wrote to %s: %d rows, want %d", tb, n, before[tb])
			}
		}

		// With the events service's usage, a used-up limit shows why.
		a.svc.SimulationUsage = &memUsage{awards: []usageRow{{capped.ID, "m1", 50, epoch}}}
		r = a.do(t, http.MethodPost, "/simulate", platform.RoleViewer, `{"event":{"type":"order_paid","attributes":{"amount_cents":12800}},"member":{"id":"m1"}}`)
		wantStatus(t, r, http.StatusOK)
		r.JSON(t, &sim)
		if sim.PointsDelta != 12 || len(sim.Awards) != 2 || !sim.Awards[1].Capped || sim.Awards[1].Points != 0 ||
			!strings.Contains(sim.Awards[1].Note, "per_member_per_day limit 50: 50 already awarded today, 0 left") {
			t.Fatalf("got %s", r.Body)
		}

		for _, c := range []struct{ body, field string }{
			{`{"event":{}}`, "event.type"},
			{`{"event":{"type":"Order Paid"}}`, "event.type"},
			{`{"event":{"type":"order_paid","occurred_at":"yesterday"}}`, "event.occurred_at"},
			{`{"event":{"type":"order_paid"},"tier_multiplier_permille":0}`, "tier_multiplier_permille"},
			{`{"event":{"type":"order_paid"},"member":{"birthday":"1990-13-01"}}`, "member.birthday"},
			{`{"event":{"type":"order_paid"},"member":{"checkin_streak":-1}}`, "member.checkin_streak"},
			{`{"event":{"type":"order_paid"},"member":{"growth":"lots"}}`, "member.growth"},
		} {
			r := a.do(t, http.MethodPost, "/simulate", platform.RoleViewer, c.body)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if !strings.Contains(string(r.Body), `"`+c.field+`"`) {
				t.Fatalf("%s: got %s, want %s named", c.body, r.Body, c.field)
			}
		}
	})
}

// TestOpenAPIDescribesEveryRoute checks the fragment against the routes
// Routes mounts.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	allow := func(string, string) gin.HandlerFunc { return func(c *gin.Context) { c.Next() } }
	Routes(e.Group("/api/v1/tenants/:tid"), allow, &Service{})
	routes := e.Routes()
	if len(routes) != 7 {
		t.Fatalf("got %d routes, want 7", len(routes))
	}
	for _, r := range routes {
		path := r.Path
		for _, p := range []string{"tid", "rid"} {
			path = strings.ReplaceAll(path, ":"+p, "{"+p+"}")
		}
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s is not in openapi.json", r.Method, path)
		}
	}
	raw := string(OpenAPI)
	for name := range doc.Components.Schemas {
		if !strings.HasPrefix(name, "Rule") {
			t.Errorf("schema %s: names start with Rule so fragments can't collide", name)
		}
	}
	for _, ref := range strings.Split(raw, `"$ref": "#/components/schemas/`)[1:] {
		name := ref[:strings.Index(ref, `"`)]
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("$ref to missing schema %s", name)
		}
	}
}
