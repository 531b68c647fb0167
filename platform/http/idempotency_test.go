package http_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"jifen/platform"
	"jifen/platform/audit"
	httpx "jifen/platform/http"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// idemEnv mounts a handler that writes one audit record per call, so the
// tests can count how many times a change was really made.
func idemEnv(t *testing.T, db *storage.DB) (*routertest.Env, string, func() int64) {
	env := routertest.New(t, db)
	log := &audit.Log{DB: db}
	env.Tenant.POST("/things", env.Can("settings", "write"), httpx.Idempotent(db), func(c *gin.Context) {
		var in struct {
			Name string `json:"name"`
			Fail string `json:"fail"`
		}
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		ctx := c.Request.Context()
		err := db.Tx(ctx, func(ctx context.Context) error {
			if err := log.Record(ctx, "thing.create", "thing", in.Name, nil); err != nil {
				return err
			}
			switch in.Fail {
			case "client":
				return platform.Errorf(platform.EConflict, "refused after writing")
			case "server":
				return errors.New("boom")
			}
			return nil
		})
		httpx.Respond(c, http.StatusCreated, gin.H{"name": in.Name, "n": c.GetHeader("X-N")}, err)
	})
	tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
	count := func() int64 {
		var n int64
		db.Conn(context.Background()).Table("audit_log").Where("tenant_id = ? AND action = ?", tid, "thing.create").Count(&n)
		return n
	}
	return env, "/api/v1/tenants/" + tid + "/things", count
}

func TestIdempotencyKeys(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		env, path, count := idemEnv(t, db)
		first := env.Do(t, "POST", path, "owner", map[string]any{"name": "a"}, "Idempotency-Key", "k-1", "X-N", "1")
		if first.Status != 201 {
			t.Fatalf("first: got %d %s", first.Status, first.Body)
		}
		again := env.Do(t, "POST", path, "owner", map[string]any{"name": "a"}, "Idempotency-Key", "k-1", "X-N", "2")
		if again.Status != 201 || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: got %d %s, want the first answer %s", again.Status, again.Body, first.Body)
		}
		if n := count(); n != 1 {
			t.Fatalf("changes after a replay: got %d, want 1", n)
		}
		reused := env.Do(t, "POST", path, "owner", map[string]any{"name": "b"}, "Idempotency-Key", "k-1")
		if reused.Status != 409 || reused.ErrorCode() != platform.EIdempotencyReused {
			t.Fatalf("other body: got %d %s, want 409 idempotency_key_reused", reused.Status, reused.Body)
		}
		// A client error rolls the change back but is remembered.
		c1 := env.Do(t, "POST", path, "owner", map[string]any{"name": "c", "fail": "client"}, "Idempotency-Key", "k-2")
		c2 := env.Do(t, "POST", path, "owner", map[string]any{"name": "c", "fail": "client"}, "Idempotency-Key", "k-2")
		if c1.Status != 409 || c2.Status != 409 || string(c1.Body) != string(c2.Body) || c2.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("client error replay: got %d then %d %s", c1.Status, c2.Status, c2.Body)
		}
		// A server error is not remembered: the key may be retried.
		s1 := env.Do(t, "POST", path, "owner", map[string]any{"name": "d", "fail": "server"}, "Idempotency-Key", "k-3")
		if s1.Status != 500 || s1.ErrorCode() != "internal" {
			t.Fatalf("server error: got %d %s", s1.Status, s1.Body)
		}
		s2 := env.Do(t, "POST", path, "owner", map[string]any{"name": "d"}, "Idempotency-Key", "k-3")
		if s2.Status != 201 {
			t.Fatalf("retry after a server error: got %d %s, want 201", s2.Status, s2.Body)
		}
		if n := count(); n != 2 {
			t.Fatalf("changes: got %d, want 2 (a and d)", n)
		}
		for _, bad := range []string{"", "é", string(make([]byte, 256))} {
			if bad == "" {
				continue
			}
			r := env.Do(t, "POST", path, "owner", map[string]any{"name": "e"}, "Idempotency-Key", bad)
			if r.Status != 422 {
				t.Errorf("key %q: got %d, want 422", bad, r.Status)
			}
		}
		// Keys are per tenant: another tenant's same key is a new request.
		env2, path2, count2 := idemEnv(t, db)
		if r := env2.Do(t, "POST", path2, "owner", map[string]any{"name": "a"}, "Idempotency-Key", "k-1"); r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("same key in another tenant: got %d replayed=%q", r.Status, r.Header.Get("Idempotent-Replayed"))
		}
		if count2() != 1 {
			t.Fatal("another tenant's key did not make its change")
		}
	})
}

// TestIdempotencyRace sends one key many times at once: one change, and
// every answer equal to the first.
func TestIdempotencyRace(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		env, path, count := idemEnv(t, db)
		var wg sync.WaitGroup
		bodies := make([]string, 20)
		statuses := make([]int, 20)
		for i := range bodies {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := env.Do(t, "POST", path, "owner", map[string]any{"name": "raced"}, "Idempotency-Key", "race-1")
				bodies[i], statuses[i] = string(r.Body), r.Status
			}(i)
		}
		wg.Wait()
		for i := range bodies {
			if statuses[i] != 201 || bodies[i] != bodies[0] {
				t.Fatalf("answer %d: got %d %s, want 201 %s", i, statuses[i], bodies[i], bodies[0])
			}
		}
		if n := count(); n != 1 {
			t.Fatalf("changes: got %d, want 1", n)
		}
	})
}

func TestBindErrors(t *testing.T) {
	db := storagetest.OpenSQLite(t)
	env := routertest.New(t, db)
	env.Tenant.POST("/echo", func(c *gin.Context) {
		var in struct {
			N int64  `json:"n"`
			S string `json:"s"`
		}
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		c.JSON(200, in)
	})
	tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
	path := "/api/v1/tenants/" + tid + "/echo"
	cases := []struct {
		body   string
		status int
		code   string
	}{
		{`{"n": 1, "s": "x"}`, 200, ""},
		{`{"n": "1"}`, 422, "validation_failed"},
		{`{"n": 1.5}`, 422, "validation_failed"},
		{`[1,2]`, 400, "invalid_json"},
		{`{"n": 1} {"n": 2}`, 400, "invalid_json"},
		{`{`, 400, "invalid_json"},
		{` `, 400, "invalid_json"},
	}
	for _, tc := range cases {
		r := env.Do(t, "POST", path, "viewer", tc.body)
		if r.Status != tc.status || r.ErrorCode() != tc.code {
			t.Errorf("%s: got %d %s, want %d %s", tc.body, r.Status, r.Body, tc.status, tc.code)
		}
	}
}
