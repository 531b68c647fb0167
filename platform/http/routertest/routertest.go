// Package routertest runs a package's Gin handlers in tests through jifen's
// real middleware, real idempotency and a real database, with a stand-in
// for authentication: the request names its role in X-Test-Role, and the
// permission check uses the real policy table.
package routertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"jifen/pkg/ids"
	"jifen/platform"
	httpx "jifen/platform/http"
	"jifen/platform/rbac"
	"jifen/platform/storage"
)

// RoleHeader names the role a test request acts with.
const RoleHeader = "X-Test-Role"

// Env is a router for one package's routes.
type Env struct {
	DB     *storage.DB
	Engine *gin.Engine
	// Tenant is the group /api/v1/tenants/:tid, already scoped.
	Tenant *gin.RouterGroup
}

// New returns an Env on db.
func New(t testing.TB, db *storage.DB) *Env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := httpx.NewEngine(httpx.Config{}, log, prometheus.NewRegistry())
	g := e.Group("/api/v1/tenants/:tid", func(c *gin.Context) {
		role := c.GetHeader(RoleHeader)
		if role == "" {
			httpx.Error(c, platform.Errorf(platform.EUnauthenticated, "no test role"))
			return
		}
		ctx := c.Request.Context()
		var row struct {
			ID, Name, Status, TimeZone string
		}
		err := db.Conn(ctx).Raw("SELECT id, name, status, time_zone FROM tenants WHERE id = ?", c.Param("tid")).Scan(&row).Error
		if err != nil || row.ID == "" {
			httpx.Error(c, platform.NotFound("tenant"))
			return
		}
		ctx = platform.WithPrincipal(ctx, platform.Principal{UserID: "test-" + role})
		ctx = platform.WithTenant(ctx, platform.Tenant{ID: row.ID, Name: row.Name, Status: row.Status, TimeZone: row.TimeZone, Role: role})
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	})
	return &Env{DB: db, Engine: e, Tenant: g}
}

// Can is the permission check with the real policy table.
func (e *Env) Can(obj, act string) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, _ := platform.TenantFrom(c.Request.Context())
		if !rbac.RoleAllows(t.Role, obj, act) {
			httpx.Error(c, platform.Errorf(platform.EForbidden, "Your role may not %s %s in this tenant.", act, obj))
			return
		}
		c.Next()
	}
}

// TenantOptions sets up a test tenant.
type TenantOptions struct {
	TimeZone string
}

// CreateTenant inserts an active tenant directly and returns its id.
func CreateTenant(t testing.TB, db *storage.DB, o TenantOptions) string {
	t.Helper()
	if o.TimeZone == "" {
		o.TimeZone = "Asia/Shanghai"
	}
	id := ids.New()
	now := time.Now().UTC()
	err := db.Tx(context.Background(), func(ctx context.Context) error {
		return db.Conn(ctx).Exec(`INSERT INTO tenants (id, name, status, time_zone, currency, points_expiry_months,
			points_per_unit, max_deduction_percent, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)`,
			id, "Test tenant "+id[len(id)-6:], "active", o.TimeZone, "CNY", 12, 100, 50, now, now).Error
	})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return id
}

// TenantContext returns a context acting in the tenant, as a handler sees it.
func TenantContext(t testing.TB, db *storage.DB, tenantID string) context.Context {
	t.Helper()
	var tz string
	if err := db.Conn(context.Background()).Raw("SELECT time_zone FROM tenants WHERE id = ?", tenantID).Row().Scan(&tz); err != nil {
		t.Fatalf("load tenant: %v", err)
	}
	ctx := platform.WithPrincipal(context.Background(), platform.Principal{UserID: "test"})
	return platform.WithTenant(ctx, platform.Tenant{ID: tenantID, Status: "active", TimeZone: tz, Role: platform.RoleOwner})
}

// Response is a recorded answer.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into v, failing the test when it can't.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode response %q: %v", r.Body, err)
	}
}

// Map decodes the body into a map.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// ErrorCode returns the error code of an error body, or "".
func (r *Response) ErrorCode() string {
	var b httpx.ErrorBody
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

// Do sends a request with the role; body is JSON-encoded unless it is a
// string or []byte, which are sent as they are. Extra headers come in pairs.
func (e *Env) Do(t testing.TB, method, path, role string, body any, headers ...string) *Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set(RoleHeader, role)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.Engine.ServeHTTP(w, req)
	return &Response{Status: w.Code, Body: w.Body.Bytes(), Header: w.Header()}
}
