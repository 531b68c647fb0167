package main

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// routeCase is one tenant route with the least role that may call it and a
// valid body. Path parameters (":mid") are filled from the fixture's ids.
type routeCase struct {
	method, path string
	min          string
	body         func(f *fixture) any
}

func body(v map[string]any) func(*fixture) any { return func(*fixture) any { return v } }

// tenantRoutes lists every route under /api/v1/tenants/:tid, as the contract
// and the role descriptions give them. TestRouteTableComplete fails when a
// mounted route is missing here.
var tenantRoutes = []routeCase{
	{"GET", "/settings", "viewer", nil},
	{"PATCH", "/settings", "manager", body(map[string]any{"points_expiry_months": 12})},
	{"POST", "/staff", "owner", func(*fixture) any {
		return map[string]any{"email": "s-" + uniq() + "@shop.test", "password": "staff-password", "role": "viewer"}
	}},
	{"GET", "/staff", "owner", nil},
	{"PATCH", "/staff/:uid", "owner", body(map[string]any{"role": "operator"})},
	{"DELETE", "/staff/:uid", "owner", nil},
	{"POST", "/api-keys", "owner", body(map[string]any{"name": "k", "role": "viewer"})},
	{"GET", "/api-keys", "owner", nil},
	{"DELETE", "/api-keys/:kid", "owner", nil},
	{"GET", "/audit", "manager", nil},
	{"POST", "/members", "operator", func(*fixture) any { return map[string]any{"external_id": "x-" + uniq()} }},
	{"GET", "/members", "viewer", nil},
	{"GET", "/members/:mid", "viewer", nil},
	{"PATCH", "/members/:mid", "operator", body(map[string]any{"name": "王五"})},
	{"POST", "/members/:mid/erase", "manager", nil},
}

var roleRank = map[string]int{"owner": 0, "manager": 1, "operator": 2, "viewer": 3}

// routeFixture is a tenant with an id for every path parameter.
func routeFixture(c *client) *fixture {
	c.t.Helper()
	f := newTenant(c)
	st := c.must(201, "POST", f.path("/staff"), f.Owner, map[string]any{"email": "u-" + uniq() + "@shop.test", "password": "staff-password", "role": "viewer"})
	f.IDs["uid"] = st["id"].(string)
	k := c.must(201, "POST", f.path("/api-keys"), f.Owner, map[string]any{"name": "spare", "role": "viewer"})
	f.IDs["kid"] = k["id"].(string)
	return f
}

var paramPattern = regexp.MustCompile(`:[a-z]+`)

func (rc routeCase) url(t *testing.T, tenant string, ids map[string]string) string {
	t.Helper()
	p := paramPattern.ReplaceAllStringFunc(rc.path, func(name string) string {
		id, ok := ids[name[1:]]
		if !ok {
			t.Fatalf("%s %s: the fixture has no id for %s", rc.method, rc.path, name)
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

// TestRoleMatrix calls every tenant route with an API key of every role,
// least powerful first, and checks that exactly the roles at or above the
// route's least role get past authorisation.
func TestRoleMatrix(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := routeFixture(c)
		for _, rc := range tenantRoutes {
			t.Run(rc.method+" "+rc.path, func(t *testing.T) {
				for _, role := range []string{"viewer", "operator", "manager", "owner"} {
					r := c.do(rc.method, rc.url(t, f.ID, f.IDs), f.Keys[role], rc.payload(f))
					denied := roleRank[role] > roleRank[rc.min]
					switch {
					case denied && (r.Status != 403 || r.code() != "forbidden"):
						t.Errorf("%s: got %d %s, want 403 forbidden", role, r.Status, r.Body)
					case !denied && (r.Status == 401 || r.Status == 403 || r.Status >= 500):
						t.Errorf("%s: got %d %s, want it allowed", role, r.Status, r.Body)
					}
				}
			})
		}
	})
}

// snapshot reads what a tenant's owner can see of the tenant, to prove
// another tenant's calls changed nothing.
func snapshot(c *client, f *fixture) string {
	c.t.Helper()
	var parts []string
	for _, p := range []string{"/settings", "/staff", "/members?limit=200", "/members/" + f.IDs["mid"], "/audit?limit=200"} {
		parts = append(parts, string(c.do("GET", f.path(p), f.Owner, nil).Body))
	}
	keys := c.do("GET", f.path("/api-keys"), f.Owner, nil)
	var kl struct {
		Items []map[string]any `json:"items"`
	}
	_ = json.Unmarshal(keys.Body, &kl)
	for _, k := range kl.Items {
		delete(k, "last_used_at")
	}
	raw, _ := json.Marshal(kl)
	return strings.Join(append(parts, string(raw)), "\n")
}

// TestTenantIsolation calls every tenant route with tenant B's credential
// against tenant A: first under A's tenant id, then under B's own id with
// A's resource ids. Every call must answer 404 and A must be unchanged.
func TestTenantIsolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		a := routeFixture(c)
		b := routeFixture(c)
		before := snapshot(c, a)
		for _, rc := range tenantRoutes {
			t.Run(rc.method+" "+rc.path, func(t *testing.T) {
				for _, tok := range []string{b.Owner, b.Keys["owner"]} {
					r := c.do(rc.method, rc.url(t, a.ID, a.IDs), tok, rc.payload(b))
					if r.Status != 404 || r.code() != "not_found" {
						t.Errorf("B under A's tenant id: got %d %s, want 404 not_found", r.Status, r.Body)
					}
				}
				if !strings.Contains(rc.path, ":") {
					return
				}
				r := c.do(rc.method, rc.url(t, b.ID, a.IDs), b.Keys["owner"], rc.payload(b))
				if r.Status != 404 || r.code() != "not_found" {
					t.Errorf("B with A's ids: got %d %s, want 404 not_found", r.Status, r.Body)
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
