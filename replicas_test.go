package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"jifen/pkg/clock"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

// twoReplicas builds the program twice on one fresh database of the dialect,
// as two replicas behind a load balancer.
func twoReplicas(t *testing.T, d string) (one, two *client) {
	t.Helper()
	env := map[string]string{
		"JIFEN_ADMIN_EMAIL": adminEmail, "JIFEN_ADMIN_PASSWORD": adminPassword, "JIFEN_DB_DRIVER": d,
		"JIFEN_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}
	if d == storage.SQLite {
		env["JIFEN_DB_DSN"] = t.TempDir() + "/shared.db"
	} else {
		dsn, name, err := storagetest.CreateMySQLDatabase("jifen_t_rep")
		if err != nil {
			if storagetest.Required() {
				t.Fatal(err)
			}
			t.Skip(err)
		}
		t.Cleanup(func() { storagetest.DropMySQLDatabase(name) })
		env["JIFEN_DB_DSN"] = dsn
	}
	s, err := loadSettings(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var replicas [2]*client
	for i := range replicas {
		a, err := build(context.Background(), s, slog.New(slog.NewTextHandler(io.Discard, nil)), clock.Real{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.close)
		replicas[i] = &client{t: t, h: a.engine}
	}
	return replicas[0], replicas[1]
}

// TestPolicyChangeSeenByAnotherReplica runs two replicas on one database:
// a role change or a revoked key on one applies at once on the other.
func TestPolicyChangeSeenByAnotherReplica(t *testing.T) {
	for _, d := range storagetest.Dialects {
		t.Run(d, func(t *testing.T) {
			one, two := twoReplicas(t, d)
			f := newTenant(one)
			email := "rep-" + uniq() + "@shop.test"
			st := one.must(201, "POST", f.path("/staff"), f.Owner, map[string]any{"email": email, "password": "staff-password", "role": "viewer"})
			tok := two.login(email, "staff-password")
			if r := two.do("PATCH", f.path("/settings"), tok, map[string]any{"points_expiry_months": 6}); r.Status != 403 {
				t.Fatalf("viewer on replica two: got %d, want 403", r.Status)
			}
			one.must(200, "PATCH", f.path("/staff/"+st["id"].(string)), f.Owner, map[string]any{"role": "manager"})
			two.must(200, "PATCH", f.path("/settings"), tok, map[string]any{"points_expiry_months": 6})

			one.must(204, "DELETE", f.path("/staff/"+st["id"].(string)), f.Owner, nil)
			if r := two.do("GET", f.path("/settings"), tok, nil); r.Status != 404 {
				t.Fatalf("removed staff on replica two: got %d, want 404", r.Status)
			}
			keys := two.must(200, "GET", f.path("/api-keys"), f.Owner, nil)["items"].([]any)
			viewerKey := ""
			for _, k := range keys {
				if k.(map[string]any)["role"] == "viewer" {
					viewerKey = k.(map[string]any)["id"].(string)
				}
			}
			one.must(200, "DELETE", f.path("/api-keys/"+viewerKey), f.Owner, nil)
			if r := two.do("GET", f.path("/settings"), f.Keys["viewer"], nil); r.Status != 401 {
				t.Fatalf("revoked key on replica two: got %d, want 401", r.Status)
			}
		})
	}
}

// TestLoginThrottleSharedByReplicas spreads five failed logins of one
// account over two replicas: the limit is the product's, not each
// replica's, so the next attempt is refused on both.
func TestLoginThrottleSharedByReplicas(t *testing.T) {
	for _, d := range storagetest.Dialects {
		t.Run(d, func(t *testing.T) {
			one, two := twoReplicas(t, d)
			f := newTenant(one)
			email := "victim-" + uniq() + "@shop.test"
			one.must(201, "POST", f.path("/staff"), f.Owner, map[string]any{"email": email, "password": "right-password", "role": "viewer"})
			for i, c := range []*client{one, two, one, two, one} {
				if r := c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "guess-" + uniq()}); r.Status != 401 {
					t.Fatalf("guess %d: got %d %s, want 401", i, r.Status, r.Body)
				}
			}
			for i, c := range []*client{one, two} {
				r := c.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "right-password"})
				if r.Status != 429 || r.code() != "rate_limited" {
					t.Fatalf("replica %d after 5 failures on both: got %d %s, want 429 rate_limited", i+1, r.Status, r.Body)
				}
			}
		})
	}
}
