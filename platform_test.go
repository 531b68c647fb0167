package main

import (
	"strings"
	"testing"
)

func TestLoginAndSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		r := c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": adminEmail, "password": "wrong-password"})
		if r.Status != 401 || r.code() != "unauthenticated" {
			t.Fatalf("wrong password: got %d %s, want 401 unauthenticated", r.Status, r.Body)
		}
		r = c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "nobody@jifen.test", "password": "whatever-password"})
		if r.Status != 401 {
			t.Fatalf("unknown user: got %d, want 401", r.Status)
		}
		res := c.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": strings.ToUpper(adminEmail), "password": adminPassword})
		user := res["user"].(map[string]any)
		if user["email"] != adminEmail || user["id"] == "" {
			t.Fatalf("login user: got %v", user)
		}
		token := res["token"].(string)
		c.must(200, "GET", "/api/v1/platform/tenants", token, nil)
		c.must(204, "POST", "/api/v1/auth/logout", token, nil)
		if r := c.do("GET", "/api/v1/platform/tenants", token, nil); r.Status != 401 {
			t.Fatalf("after logout: got %d, want 401", r.Status)
		}
		for _, h := range []string{"", "Bearer", "Bearer nonsense", "Basic abc"} {
			req := c.do("GET", "/api/v1/platform/tenants", "", nil, "Authorization", h)
			if req.Status != 401 || req.code() != "unauthenticated" {
				t.Fatalf("Authorization %q: got %d %s, want 401", h, req.Status, req.Body)
			}
		}
	})
}

func TestPasswordChangeRevokesSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		email := "staff-" + uniq() + "@shop.test"
		c.must(201, "POST", f.path("/staff"), f.Owner, map[string]any{"email": email, "password": "first-password", "role": "viewer"})
		s1 := c.login(email, "first-password")
		s2 := c.login(email, "first-password")
		if r := c.do("POST", "/api/v1/auth/password", s1, map[string]any{"current_password": "nope-nope-nope", "new_password": "second-password"}); r.Status != 422 {
			t.Fatalf("wrong current password: got %d, want 422", r.Status)
		}
		c.must(204, "POST", "/api/v1/auth/password", s1, map[string]any{"current_password": "first-password", "new_password": "second-password"})
		for _, s := range []string{s1, s2} {
			if r := c.do("GET", f.path("/settings"), s, nil); r.Status != 401 {
				t.Fatalf("old session after password change: got %d, want 401", r.Status)
			}
		}
		if r := c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "first-password"}); r.Status != 401 {
			t.Fatalf("old password: got %d, want 401", r.Status)
		}
		c.login(email, "second-password")
	})
}

func TestLoginThrottle(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		email := "victim-" + uniq() + "@shop.test"
		c.must(201, "POST", f.path("/staff"), f.Owner, map[string]any{"email": email, "password": "right-password", "role": "viewer"})
		for i := 0; i < 5; i++ {
			if r := c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "guess-" + uniq()}); r.Status != 401 {
				t.Fatalf("guess %d: got %d, want 401", i, r.Status)
			}
		}
		r := c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "right-password"})
		if r.Status != 429 || r.code() != "rate_limited" {
			t.Fatalf("after 5 failures: got %d %s, want 429 rate_limited even with the right password", r.Status, r.Body)
		}
	})
}

func TestTenantLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		admin := c.login(adminEmail, adminPassword)
		f := newTenant(c)
		got := c.must(200, "GET", "/api/v1/platform/tenants/"+f.ID, admin, nil)
		if got["status"] != "active" {
			t.Fatalf("status: got %v, want active", got["status"])
		}
		// A tenant owner is not a platform admin.
		if r := c.do("GET", "/api/v1/platform/tenants", f.Owner, nil); r.Status != 403 || r.code() != "forbidden" {
			t.Fatalf("owner listing tenants: got %d %s, want 403 forbidden", r.Status, r.Body)
		}
		if r := c.do("POST", "/api/v1/platform/tenants", f.Keys["owner"], map[string]any{"name": "x"}); r.Status != 403 {
			t.Fatalf("API key creating a tenant: got %d, want 403", r.Status)
		}
		c.must(200, "POST", "/api/v1/platform/tenants/"+f.ID+"/suspend", admin, nil)
		for _, tok := range []string{f.Owner, f.Keys["viewer"]} {
			r := c.do("GET", f.path("/members/"+f.IDs["mid"]), tok, nil)
			if r.Status != 403 || r.code() != "tenant_suspended" {
				t.Fatalf("suspended tenant: got %d %s, want 403 tenant_suspended", r.Status, r.Body)
			}
		}
		c.must(200, "POST", "/api/v1/platform/tenants/"+f.ID+"/reactivate", admin, nil)
		c.must(200, "GET", f.path("/members/"+f.IDs["mid"]), f.Owner, nil)
		trail := c.must(200, "GET", "/api/v1/platform/audit?target_id="+f.ID, admin, nil)["items"].([]any)
		var actions []string
		for _, e := range trail {
			actions = append(actions, e.(map[string]any)["action"].(string))
		}
		if strings.Join(actions, ",") != "tenant.active,tenant.suspended,tenant.create" {
			t.Fatalf("platform audit of the tenant: got %v", actions)
		}
		if r := c.do("GET", "/api/v1/platform/audit", f.Owner, nil); r.Status != 403 {
			t.Fatalf("owner reading the platform audit: got %d, want 403", r.Status)
		}

		// Validation: every bad field named, nothing created.
		r := c.do("POST", "/api/v1/platform/tenants", admin, map[string]any{"name": "", "time_zone": "Mars/Base", "owner": map[string]any{"email": "not-an-email", "password": "short"}})
		if r.Status != 422 || r.code() != "validation_failed" {
			t.Fatalf("bad tenant: got %d %s, want 422", r.Status, r.Body)
		}
		details := r.m(t)["error"].(map[string]any)["details"].(map[string]any)
		for _, k := range []string{"name", "time_zone", "owner.email", "owner.password"} {
			if _, ok := details[k]; !ok {
				t.Errorf("details: %s missing in %v", k, details)
			}
		}
		// Paging through tenants.
		newTenant(c)
		page := c.must(200, "GET", "/api/v1/platform/tenants?limit=1", admin, nil)
		if len(page["items"].([]any)) != 1 || page["next_cursor"] == "" {
			t.Fatalf("first page: got %v", page)
		}
		next := c.must(200, "GET", "/api/v1/platform/tenants?limit=1&cursor="+page["next_cursor"].(string), admin, nil)
		if next["items"].([]any)[0].(map[string]any)["id"] == page["items"].([]any)[0].(map[string]any)["id"] {
			t.Fatal("second page repeats the first")
		}
		for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=not-a-cursor!"} {
			if r := c.do("GET", "/api/v1/platform/tenants?"+q, admin, nil); r.Status != 422 {
				t.Errorf("?%s: got %d, want 422", q, r.Status)
			}
		}
	})
}

func TestStaffRolesAndLastOwner(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		var ownerID string
		staff := c.must(200, "GET", f.path("/staff"), f.Owner, nil)["items"].([]any)
		if len(staff) != 1 {
			t.Fatalf("staff: got %d, want the owner alone", len(staff))
		}
		ownerID = staff[0].(map[string]any)["id"].(string)
		r := c.do("PATCH", f.path("/staff/"+ownerID), f.Owner, map[string]any{"role": "manager"})
		if r.Status != 409 {
			t.Fatalf("demoting the last owner: got %d %s, want 409", r.Status, r.Body)
		}
		if r := c.do("DELETE", f.path("/staff/"+ownerID), f.Owner, nil); r.Status != 409 {
			t.Fatalf("removing the last owner: got %d, want 409", r.Status)
		}
		email := "mgr-" + uniq() + "@shop.test"
		m := c.must(201, "POST", f.path("/staff"), f.Owner, map[string]any{"email": email, "password": "manager-password", "role": "manager"})
		if m["role"] != "manager" || m["email"] != email {
			t.Fatalf("added staff: got %v", m)
		}
		if r := c.do("POST", f.path("/staff"), f.Owner, map[string]any{"email": email, "password": "manager-password", "role": "viewer"}); r.Status != 409 {
			t.Fatalf("adding staff twice: got %d, want 409", r.Status)
		}
		mgr := c.login(email, "manager-password")
		if r := c.do("GET", f.path("/staff"), mgr, nil); r.Status != 403 {
			t.Fatalf("manager listing staff: got %d, want 403", r.Status)
		}
		c.must(200, "PATCH", f.path("/staff/"+m["id"].(string)), f.Owner, map[string]any{"role": "owner"})
		c.must(200, "GET", f.path("/staff"), mgr, nil) // the new role applies at once
		c.must(200, "PATCH", f.path("/staff/"+ownerID), mgr, map[string]any{"role": "viewer"})
		c.must(204, "DELETE", f.path("/staff/"+ownerID), mgr, nil)
		if r := c.do("GET", f.path("/settings"), f.Owner, nil); r.Status != 404 {
			t.Fatalf("removed staff: got %d, want 404", r.Status)
		}
		audit := c.must(200, "GET", f.path("/audit?target_type=user"), mgr, nil)["items"].([]any)
		actions := map[string]bool{}
		for _, e := range audit {
			actions[e.(map[string]any)["action"].(string)] = true
		}
		for _, a := range []string{"staff.add", "staff.role", "staff.remove"} {
			if !actions[a] {
				t.Errorf("audit log lacks %s: %v", a, actions)
			}
		}
	})
}

func TestAPIKeys(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		list := c.must(200, "GET", f.path("/api-keys"), f.Owner, nil)["items"].([]any)
		if len(list) != 4 {
			t.Fatalf("keys: got %d, want 4", len(list))
		}
		for _, k := range list {
			if _, ok := k.(map[string]any)["key"]; ok {
				t.Fatal("a listed key shows its secret")
			}
		}
		c.must(200, "GET", f.path("/members/"+f.IDs["mid"]), f.Keys["viewer"], nil)
		var viewerKeyID string
		for _, k := range list {
			if k.(map[string]any)["role"] == "viewer" {
				viewerKeyID = k.(map[string]any)["id"].(string)
			}
		}
		c.must(200, "DELETE", f.path("/api-keys/"+viewerKeyID), f.Owner, nil)
		if r := c.do("GET", f.path("/members/"+f.IDs["mid"]), f.Keys["viewer"], nil); r.Status != 401 {
			t.Fatalf("revoked key: got %d, want 401", r.Status)
		}
		if r := c.do("POST", f.path("/api-keys"), f.Owner, map[string]any{"name": "", "role": "king"}); r.Status != 422 {
			t.Fatalf("bad key: got %d, want 422", r.Status)
		}
	})
}

func TestSettings(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		got := c.must(200, "PATCH", f.path("/settings"), f.Keys["manager"], map[string]any{"points_expiry_months": 24, "refund_policy": "allow_negative", "time_zone": "Europe/Berlin"})
		if got["points_expiry_months"] != float64(24) || got["refund_policy"] != "allow_negative" || got["time_zone"] != "Europe/Berlin" {
			t.Fatalf("settings: got %v", got)
		}
		r := c.do("PATCH", f.path("/settings"), f.Keys["manager"], map[string]any{"points_expiry_months": 0, "refund_policy": "never", "max_deduction_percent": 150})
		if r.Status != 422 {
			t.Fatalf("bad settings: got %d, want 422", r.Status)
		}
		after := c.must(200, "GET", f.path("/settings"), f.Keys["viewer"], nil)
		if after["points_expiry_months"] != float64(24) {
			t.Fatalf("a rejected change was half-applied: %v", after)
		}
		if r := c.do("PATCH", f.path("/settings"), f.Keys["operator"], map[string]any{"name": "x"}); r.Status != 403 {
			t.Fatalf("operator changing settings: got %d, want 403", r.Status)
		}
	})
}

func TestErrorShapes(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		cases := []struct {
			name, method, path, body string
			headers                  []string
			status                   int
			code                     string
		}{
			{"broken JSON", "POST", f.path("/members"), `{"external_id":`, nil, 400, "invalid_json"},
			{"empty body", "POST", f.path("/members"), ``, nil, 400, "invalid_json"},
			{"wrong type", "POST", f.path("/members"), `{"external_id": 12}`, nil, 422, "validation_failed"},
			{"not JSON media", "POST", f.path("/members"), `external_id=1`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
			{"bad phone and birthday", "POST", f.path("/members"), `{"external_id":"e1","phone":"123","birthday":"1990-02-30"}`, nil, 422, "validation_failed"},
			{"unknown route", "GET", "/api/v1/nothing-here", ``, nil, 404, "not_found"},
			{"unknown member", "GET", f.path("/members/01nonexistent"), ``, nil, 404, "not_found"},
			{"wrong method", "DELETE", "/api/v1/healthz", ``, nil, 405, "method_not_allowed"},
			{"too large", "POST", f.path("/members"), `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "payload_too_large"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var body any
				if tc.body != "" {
					body = tc.body
				}
				r := c.do(tc.method, tc.path, f.Owner, body, tc.headers...)
				if r.Status != tc.status || r.code() != tc.code {
					t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
				}
				if msg := r.m(t)["error"].(map[string]any)["message"].(string); msg == "" {
					t.Fatal("error without a message")
				}
			})
		}
		r := c.do("POST", f.path("/members"), f.Owner, `{"external_id":"e1","phone":"123","birthday":"1990-02-30"}`)
		d := r.m(t)["error"].(map[string]any)["details"].(map[string]any)
		if d["phone"] == nil || d["birthday"] == nil {
			t.Fatalf("details must name phone and birthday: %v", d)
		}
		if got := c.must(200, "GET", f.path("/members?external_id=e1"), f.Owner, nil)["items"].([]any); len(got) != 0 {
			t.Fatal("a rejected member was created")
		}
	})
}

func TestMembersContract(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		f := newTenant(c)
		m := c.must(201, "POST", f.path("/members"), f.Keys["operator"], map[string]any{"external_id": "U-1", "name": "李四", "phone": "+8613912345678", "birthday": "1985-12-31"})
		for _, k := range []string{"id", "external_id", "name", "phone", "birthday", "tier", "growth", "points", "created_at"} {
			if _, ok := m[k]; !ok {
				t.Errorf("member lacks %s: %v", k, m)
			}
		}
		p := m["points"].(map[string]any)
		for _, k := range []string{"available", "pending", "lifetime_earned", "expiring"} {
			if _, ok := p[k]; !ok {
				t.Errorf("points lack %s: %v", k, p)
			}
		}
		r := c.do("POST", f.path("/members"), f.Keys["operator"], map[string]any{"external_id": "U-1"})
		if r.Status != 409 || r.code() != "conflict" {
			t.Fatalf("duplicate external_id: got %d %s, want 409 conflict", r.Status, r.Body)
		}
		byExt := c.must(200, "GET", f.path("/members?external_id=U-1"), f.Keys["viewer"], nil)["items"].([]any)
		if len(byExt) != 1 || byExt[0].(map[string]any)["id"] != m["id"] {
			t.Fatalf("lookup by external_id: got %v", byExt)
		}
		byPhone := c.must(200, "GET", f.path("/members?phone=%2B8613912345678"), f.Keys["viewer"], nil)["items"].([]any)
		if len(byPhone) != 1 {
			t.Fatalf("lookup by phone: got %d items, want 1", len(byPhone))
		}
		if none := c.must(200, "GET", f.path("/members?external_id=nope"), f.Keys["viewer"], nil)["items"].([]any); len(none) != 0 {
			t.Fatalf("lookup of an unknown external_id: got %v", none)
		}
		up := c.must(200, "PATCH", f.path("/members/"+m["id"].(string)), f.Keys["operator"], map[string]any{"name": "李四四"})
		if up["name"] != "李四四" || up["phone"] != "+8613912345678" {
			t.Fatalf("patch: got %v", up)
		}
		er := c.must(200, "POST", f.path("/members/"+m["id"].(string)+"/erase"), f.Keys["manager"], nil)
		if er["name"] != "" || er["phone"] != "" || er["birthday"] != "" || er["external_id"] != "U-1" {
			t.Fatalf("erased: got %v", er)
		}
	})
}

func TestScheduledJobs(t *testing.T) {
	forEachDB(t, func(t *testing.T, c *client) {
		admin := c.login(adminEmail, adminPassword)
		f := newTenant(c)
		if r := c.do("GET", "/api/v1/platform/jobs", f.Owner, nil); r.Status != 403 {
			t.Fatalf("tenant owner listing jobs: got %d, want 403", r.Status)
		}
		list := c.must(200, "GET", "/api/v1/platform/jobs", admin, nil)
		names := map[string]bool{}
		for _, j := range list["items"].([]any) {
			names[j.(map[string]any)["name"].(string)] = true
		}
		for _, want := range []string{"points.settle", "tiers.evaluate", "members.birthdays", "idempotency.purge", "scheduler.prune", "auth.login_failures.purge"} {
			if !names[want] {
				t.Errorf("job %s is not registered: %v", want, names)
			}
		}
		c.must(202, "POST", "/api/v1/platform/jobs/points.settle/run", admin, nil)
		if r := c.do("POST", "/api/v1/platform/jobs/no.such.job/run", admin, nil); r.Status != 404 {
			t.Fatalf("unknown job: got %d, want 404", r.Status)
		}
	})
}
