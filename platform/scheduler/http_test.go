package scheduler

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"jifen/platform"
	"jifen/platform/audit"
	httpx "jifen/platform/http"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

// Test roles of the fake platform guard.
const (
	roleAdmin  = "platform_admin" // holds jobs read and write
	roleReader = "jobs_reader"    // holds jobs read only
)

// fakePerm stands in for Guard.Platform: the X-Test-Role header names the
// caller's platform role.
func fakePerm(obj, act string) gin.HandlerFunc {
	return func(c *gin.Context) {
		role := c.GetHeader(routertest.RoleHeader)
		switch {
		case role == "":
			httpx.Error(c, platform.Errorf(platform.EUnauthenticated, "no test role"))
			return
		case obj == "jobs" && (role == roleAdmin || (role == roleReader && act == "read")):
			c.Request = c.Request.WithContext(platform.WithPrincipal(c.Request.Context(), platform.Principal{UserID: "admin-" + role}))
			c.Next()
			return
		}
		httpx.Error(c, platform.Errorf(platform.EForbidden, "Only platform admins may do this."))
	}
}

// jobsEnv serves the job routes of s.
func jobsEnv(t *testing.T, db *storage.DB, s *Scheduler) *routertest.Env {
	t.Helper()
	env := routertest.New(t, db)
	PlatformRoutes(env.Engine.Group("/api/v1"), fakePerm, s)
	return env
}

func TestJobRoutes(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		clk := newClock()
		tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
		u := uniq()
		settle, purge, off := "settle."+u, "purge."+u, "off."+u
		rec := newRecorder()
		s := newReplica(t, db, clk, "test-"+u,
			Job{Name: settle, Schedule: "@every 5m", PerTenant: true, LocalHour: 0, Run: rec.run(settle, nil)},
			Job{Name: purge, Schedule: "@every 1m", LocalHour: -1, Run: rec.run(purge, nil)},
			Job{Name: off, Schedule: "@daily", LocalHour: -1, Run: rec.run(off, nil)},
		)
		s.Config = map[string]JobConfig{off: {Disabled: true}}
		s.Audit = &audit.Log{DB: db}
		env := jobsEnv(t, db, s)
		// Three minutes of purges, 17:00 to 17:02.
		for i := range 3 {
			if i > 0 {
				clk.Advance(time.Minute)
			}
			tick(t, s)
		}

		t.Run("list", func(t *testing.T) {
			res := env.Do(t, "GET", "/api/v1/platform/jobs", roleReader, nil)
			if res.Status != http.StatusOK {
				t.Fatalf("status: got %d %s, want 200", res.Status, res.Body)
			}
			var body struct {
				Items []struct {
					Name        string     `json:"name"`
					Schedule    string     `json:"schedule"`
					PerTenant   bool       `json:"per_tenant"`
					LocalHour   *int       `json:"local_hour"`
					Enabled     bool       `json:"enabled"`
					Running     bool       `json:"running"`
					NextCheckAt *time.Time `json:"next_check_at"`
					LastRuns    []Run      `json:"last_runs"`
				} `json:"items"`
				NextCursor *string `json:"next_cursor"`
				Lease      *Lease  `json:"lease"`
			}
			res.JSON(t, &body)
			if len(body.Items) != 3 || body.NextCursor == nil || *body.NextCursor != "" {
				t.Fatalf("list: got %d items, next_cursor %v, want 3 and empty", len(body.Items), body.NextCursor)
			}
			st, pu, of := body.Items[0], body.Items[1], body.Items[2]
			if st.Name != settle || !st.PerTenant || st.LocalHour == nil || *st.LocalHour != 0 || !st.Enabled || st.Schedule != "@every 5m" {
				t.Errorf("settle: got %+v, want per-tenant, local hour 0, enabled, @every 5m", st)
			}
			if pu.Name != purge || pu.LocalHour != nil || pu.NextCheckAt == nil || !pu.NextCheckAt.Equal(clk.Now().Add(time.Minute)) {
				t.Errorf("purge: got %+v, want no local hour and the next check a minute from now", pu)
			}
			if len(pu.LastRuns) != 3 || pu.LastRuns[0].RunKey != "2026-12-01T17:02:00Z" || pu.LastRuns[0].Status != StatusSucceeded {
				t.Errorf("purge's last runs: got %+v, want 3, newest 2026-12-01T17:02:00Z succeeded", pu.LastRuns)
			}
			if of.Name != off || of.Enabled || of.NextCheckAt != nil || len(of.LastRuns) != 0 {
				t.Errorf("disabled job: got %+v, want disabled, no next check, no runs", of)
			}
			if body.Lease == nil || body.Lease.Holder != s.Holder() {
				t.Errorf("lease: got %+v, want held by %s", body.Lease, s.Holder())
			}
		})

		t.Run("runs page by page", func(t *testing.T) {
			var keys []string
			path := "/api/v1/platform/jobs/" + purge + "/runs?limit=2"
			for page := 0; ; page++ {
				res := env.Do(t, "GET", path, roleAdmin, nil)
				if res.Status != http.StatusOK {
					t.Fatalf("status: got %d %s, want 200", res.Status, res.Body)
				}
				var body httpx.PageBody[Run]
				res.JSON(t, &body)
				for _, r := range body.Items {
					keys = append(keys, r.RunKey)
				}
				if body.NextCursor == "" {
					break
				}
				if page > 3 {
					t.Fatal("more pages than runs")
				}
				path = "/api/v1/platform/jobs/" + purge + "/runs?limit=2&cursor=" + url.QueryEscape(body.NextCursor)
			}
			want := []string{"2026-12-01T17:02:00Z", "2026-12-01T17:01:00Z", "2026-12-01T17:00:00Z"}
			if strings.Join(keys, " ") != strings.Join(want, " ") {
				t.Fatalf("run keys: got %v, want %v", keys, want)
			}
		})

		t.Run("runs of one tenant", func(t *testing.T) {
			res := env.Do(t, "GET", "/api/v1/platform/jobs/"+settle+"/runs?tenant_id="+tid+"&status=succeeded", roleAdmin, nil)
			var body httpx.PageBody[Run]
			res.JSON(t, &body)
			if res.Status != http.StatusOK || len(body.Items) != 1 || body.Items[0].TenantID != tid || body.Items[0].RunKey != "2026-12-02" {
				t.Fatalf("got %d %s, want one run of the tenant for 2026-12-02 (its local date in Shanghai)", res.Status, res.Body)
			}
		})

		t.Run("bad requests", func(t *testing.T) {
			cases := []struct {
				name, method, path, role string
				status                   int
				code                     string
			}{
				{"no credential", "GET", "/api/v1/platform/jobs", "", 401, platform.EUnauthenticated},
				{"tenant owner", "GET", "/api/v1/platform/jobs", platform.RoleOwner, 403, platform.EForbidden},
				{"reader runs a job", "POST", "/api/v1/platform/jobs/" + purge + "/run", roleReader, 403, platform.EForbidden},
				{"unknown job's runs", "GET", "/api/v1/platform/jobs/nope/runs", roleAdmin, 404, platform.ENotFound},
				{"unknown job run", "POST", "/api/v1/platform/jobs/nope/run", roleAdmin, 404, platform.ENotFound},
				{"disabled job run", "POST", "/api/v1/platform/jobs/" + off + "/run", roleAdmin, 409, platform.EConflict},
				{"bad cursor", "GET", "/api/v1/platform/jobs/" + purge + "/runs?cursor=nonsense", roleAdmin, 422, platform.EValidation},
				{"bad limit", "GET", "/api/v1/platform/jobs/" + purge + "/runs?limit=0", roleAdmin, 422, platform.EValidation},
				{"bad status", "GET", "/api/v1/platform/jobs/" + purge + "/runs?status=done", roleAdmin, 422, platform.EValidation},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					res := env.Do(t, c.method, c.path, c.role, nil)
					if res.Status != c.status || res.ErrorCode() != c.code {
						t.Fatalf("got %d %s, want %d %s", res.Status, res.Body, c.status, c.code)
					}
				})
			}
		})

		t.Run("run now", func(t *testing.T) {
			before := len(rec.of(settle, tid))
			res := env.Do(t, "POST", "/api/v1/platform/jobs/"+settle+"/run", roleAdmin, nil)
			if res.Status != http.StatusAccepted {
				t.Fatalf("status: got %d %s, want 202", res.Status, res.Body)
			}
			var m ManualRun
			res.JSON(t, &m)
			if m.Job != settle || m.RunKey != "manual-2026-12-01T17:02:00.000000Z" || !m.StartedAt.Equal(clk.Now()) {
				t.Fatalf("manual run: got %+v, want key manual-2026-12-01T17:02:00.000000Z", m)
			}
			// Stop waits for the run in the background.
			if err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if got := len(rec.of(settle, tid)); got != before+1 {
				t.Fatalf("calls for the tenant: got %d, want %d (the local date was already done, the manual run ignores it)", got, before+1)
			}
			res = env.Do(t, "GET", "/api/v1/platform/jobs/"+settle+"/runs?tenant_id="+tid, roleAdmin, nil)
			var body httpx.PageBody[Run]
			res.JSON(t, &body)
			var keys []string
			for _, r := range body.Items {
				keys = append(keys, r.RunKey+":"+r.Status)
			}
			sort.Strings(keys)
			if want := []string{"2026-12-02:succeeded", m.RunKey + ":succeeded"}; strings.Join(keys, " ") != strings.Join(want, " ") {
				t.Fatalf("runs: got %v, want %v", keys, want)
			}
			var n int64
			db.Conn(ctx).Raw("SELECT COUNT(*) FROM audit_log WHERE tenant_id = '' AND action = 'job.run' AND target_id = ? AND actor = ?",
				settle, "user:admin-"+roleAdmin).Scan(&n)
			if n != 1 {
				t.Fatalf("audit records of the manual run: got %d, want 1", n)
			}
		})
	})
}

// TestOpenAPIDescribesEveryRoute fails when a route is missing from the
// package's OpenAPI fragment, or the fragment describes one that is gone.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	PlatformRoutes(e.Group("/api/v1"), fakePerm, New(nil, newClock(), nil))
	param := regexp.MustCompile(`:(\w+)`)
	var routes []string
	for _, r := range e.Routes() {
		routes = append(routes, strings.ToLower(r.Method)+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var described []string
	for p, ops := range doc.Paths {
		for m := range ops {
			described = append(described, m+" "+p)
		}
	}
	sort.Strings(routes)
	sort.Strings(described)
	if strings.Join(routes, "\n") != strings.Join(described, "\n") {
		t.Fatalf("routes:\n%s\ndescribed:\n%s", strings.Join(routes, "\n"), strings.Join(described, "\n"))
	}
}
