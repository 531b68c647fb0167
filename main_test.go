package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"jifen/pkg/clock"
	"jifen/pkg/ids"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

const (
	adminEmail    = "admin@jifen.test"
	adminPassword = "admin-password-1"
)

var (
	appsMu sync.Mutex
	apps   = map[string]*app{}
)

// testApp returns the wired program on the dialect, built once per test
// binary; tests isolate themselves with their own tenants.
func testApp(t *testing.T, dialect string) *app {
	t.Helper()
	appsMu.Lock()
	defer appsMu.Unlock()
	if a, ok := apps[dialect]; ok {
		return a
	}
	env := map[string]string{
		"JIFEN_ADMIN_EMAIL": adminEmail, "JIFEN_ADMIN_PASSWORD": adminPassword,
		"JIFEN_DB_DRIVER": dialect, "JIFEN_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}
	switch dialect {
	case storage.SQLite:
		// Not t.TempDir: the app outlives the test that first asked for it.
		dir, err := os.MkdirTemp("", "jifen-main-test")
		if err != nil {
			t.Fatal(err)
		}
		removeAfter = append(removeAfter, dir)
		env["JIFEN_DB_DSN"] = dir + "/jifen.db"
	case storage.MySQL:
		dsn, name, err := storagetest.CreateMySQLDatabase("jifen_t_main")
		if err != nil {
			if storagetest.Required() {
				t.Fatalf("MariaDB is required: %v", err)
			}
			t.Skipf("MariaDB not reachable: %v", err)
		}
		dropAfter = append(dropAfter, name)
		env["JIFEN_DB_DSN"] = dsn
	}
	s, err := loadSettings(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := build(context.Background(), s, slog.New(slog.NewTextHandler(io.Discard, nil)), clock.Real{})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	apps[dialect] = a
	return a
}

var (
	dropAfter   []string
	removeAfter []string
)

func init() {
	storagetest.AfterAll(func() {
		for _, a := range apps {
			a.close()
		}
		for _, n := range dropAfter {
			storagetest.DropMySQLDatabase(n)
		}
		for _, d := range removeAfter {
			os.RemoveAll(d)
		}
	})
}

// forEachDB runs fn against the program on SQLite and on MariaDB.
func forEachDB(t *testing.T, fn func(t *testing.T, c *client)) {
	for _, d := range storagetest.Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, &client{t: t, h: testApp(t, d).engine})
		})
	}
}

// client calls the API in-process through the real router.
type client struct {
	t *testing.T
	h http.Handler
}

type resp struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r resp) code() string {
	var b struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

func (r resp) m(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("response %d %q is not a JSON object: %v", r.Status, r.Body, err)
	}
	return v
}

func (c *client) do(method, path, token string, body any, headers ...string) resp {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, req)
	return resp{Status: w.Code, Body: w.Body.Bytes(), Header: w.Header()}
}

// must sends a request and fails the test unless the status is want.
func (c *client) must(want int, method, path, token string, body any, headers ...string) map[string]any {
	c.t.Helper()
	r := c.do(method, path, token, body, headers...)
	if r.Status != want {
		c.t.Fatalf("%s %s: got %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.m(c.t)
}

func (c *client) login(email, password string) string {
	c.t.Helper()
	return c.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": password})["token"].(string)
}

// fixture is a tenant with an owner session and one API key per role.
type fixture struct {
	ID    string
	Owner string            // owner session token
	Keys  map[string]string // role → API key
	IDs   map[string]string // path parameter → an id of this tenant
}

func uniq() string { return ids.New() }

// newTenant creates a tenant through the platform API.
func newTenant(c *client) *fixture {
	c.t.Helper()
	admin := c.login(adminEmail, adminPassword)
	email := "owner-" + uniq() + "@shop.test"
	t := c.must(201, "POST", "/api/v1/platform/tenants", admin, map[string]any{
		"name": "店铺 " + email, "owner": map[string]any{"email": email, "password": "owner-password-1"},
	})
	f := &fixture{ID: t["id"].(string), Keys: map[string]string{}, IDs: map[string]string{}}
	f.Owner = c.login(email, "owner-password-1")
	for _, role := range []string{"owner", "manager", "operator", "viewer"} {
		k := c.must(201, "POST", f.path("/api-keys"), f.Owner, map[string]any{"name": role + " key", "role": role})
		f.Keys[role] = k["key"].(string)
	}
	m := c.must(201, "POST", f.path("/members"), f.Owner, map[string]any{"external_id": "m-" + uniq(), "name": "张三", "phone": "13800000000", "birthday": "1990-01-02"})
	f.IDs["mid"] = m["id"].(string)
	return f
}

func (f *fixture) path(p string) string { return "/api/v1/tenants/" + f.ID + p }
