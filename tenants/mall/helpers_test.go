package mall_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/audit"
	httpx "jifen/platform/http"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/ledger"
	"jifen/tenants/mall"
	"jifen/tenants/members"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// start is the fake clock's first moment: 10:00 on a Tuesday in Shanghai.
var start = time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)

// env is one test tenant with the mall served through the real router,
// middleware and idempotency, on a fake clock.
type env struct {
	t      testing.TB
	db     *storage.DB
	clock  *clock.Fake
	svc    *mall.Service
	ledger *ledger.Service
	tiers  *tierRanks
	tenant string
	ctx    context.Context
	router *routertest.Env
}

// tierRanks is a TierRanker with ranks set by the test.
type tierRanks struct {
	mu    sync.Mutex
	ranks map[string]int
}

func (r *tierRanks) MemberTierRank(_ context.Context, memberID string) (int, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rank := r.ranks[memberID]
	if rank == 0 {
		return 0, "", nil
	}
	return rank, fmt.Sprintf("tier-%d", rank), nil
}

func (r *tierRanks) set(memberID string, rank int) {
	r.mu.Lock()
	r.ranks[memberID] = rank
	r.mu.Unlock()
}

func newEnv(t testing.TB, db *storage.DB) *env {
	t.Helper()
	tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
	fc := clock.NewFake(start)
	ms := &members.Store{DB: db}
	al := &audit.Log{DB: db}
	led := &ledger.Service{DB: db, Members: ms, Clock: fc, Audit: al}
	tiers := &tierRanks{ranks: map[string]int{}}
	svc := &mall.Service{DB: db, Members: ms, Ledger: led, Clock: fc, Audit: al, Tiers: tiers}
	rt := routertest.New(t, db)
	mall.Routes(rt.Tenant, rt.Can, svc, httpx.Idempotent(db))
	return &env{t: t, db: db, clock: fc, svc: svc, ledger: led, tiers: tiers, tenant: tid, ctx: routertest.TenantContext(t, db, tid), router: rt}
}

// other returns a second tenant served by the same router and services.
func (e *env) other() *env {
	e.t.Helper()
	o := *e
	o.tenant = routertest.CreateTenant(e.t, e.db, routertest.TenantOptions{})
	o.ctx = routertest.TenantContext(e.t, e.db, o.tenant)
	return &o
}

// member creates a member holding points.
func (e *env) member(points int64) string {
	e.t.Helper()
	now := e.clock.Now()
	m := members.Member{TenantID: e.tenant, ID: ids.NewAt(now), ExternalID: "ext-" + ids.New(), CreatedAt: now, UpdatedAt: now}
	if err := (&members.Store{DB: e.db}).CreateMember(e.ctx, &m); err != nil {
		e.t.Fatalf("create member: %v", err)
	}
	if points > 0 {
		if _, _, err := e.ledger.Credit(e.ctx, ledger.Credit{MemberID: m.ID, Points: points, Kind: ledger.KindEarn, Reason: "test"}); err != nil {
			e.t.Fatalf("credit %d: %v", points, err)
		}
	}
	return m.ID
}

// points returns a member's available points.
func (e *env) points(memberID string) int64 {
	e.t.Helper()
	v, err := e.ledger.PointsOf(e.ctx, memberID)
	if err != nil {
		e.t.Fatalf("points of %s: %v", memberID, err)
	}
	return v.Available
}

// do sends a request to the tenant's path (after /api/v1/tenants/{tid}).
func (e *env) do(method, path, role string, body any, headers ...string) *routertest.Response {
	e.t.Helper()
	return e.router.Do(e.t, method, "/api/v1/tenants/"+e.tenant+path, role, body, headers...)
}

// must sends a request and fails unless the status is want; it returns the
// decoded body.
func (e *env) must(want int, method, path, role string, body any, headers ...string) map[string]any {
	e.t.Helper()
	r := e.do(method, path, role, body, headers...)
	if r.Status != want {
		e.t.Fatalf("%s %s: got status %d, want %d; body %s", method, path, r.Status, want, r.Body)
	}
	return r.Map(e.t)
}

// wantError fails unless the response is an error with the status and code.
func wantError(t testing.TB, r *routertest.Response, status int, code string) map[string]any {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code {
		t.Fatalf("got status %d code %q, want %d %q; body %s", r.Status, r.ErrorCode(), status, code, r.Body)
	}
	var b struct {
		Error struct {
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	r.JSON(t, &b)
	return b.Error.Details
}

// item creates an item with defaults for what fields leaves out and
// returns its id.
func (e *env) item(fields map[string]any) string {
	e.t.Helper()
	body := map[string]any{"name": "Mug", "kind": "virtual", "points_price": 100, "stock": 10}
	for k, v := range fields {
		body[k] = v
	}
	return e.must(201, "POST", "/mall/items", platform.RoleManager, body)["id"].(string)
}

// stock returns an item's current stock.
func (e *env) stock(itemID string) int64 {
	e.t.Helper()
	return num(e.must(200, "GET", "/mall/items/"+itemID, platform.RoleViewer, nil)["stock"])
}

// template creates a coupon template and returns its id.
func (e *env) template(fields map[string]any) string {
	e.t.Helper()
	body := map[string]any{"name": "20 off 100", "kind": "amount_off", "amount_off_cents": 2000, "min_order_cents": 10000, "valid_days": 30}
	for k, v := range fields {
		body[k] = v
	}
	return e.must(201, "POST", "/coupon-templates", platform.RoleManager, body)["id"].(string)
}

// redeem posts a redemption.
func (e *env) redeem(memberID, itemID string, qty int, extra ...string) *routertest.Response {
	e.t.Helper()
	return e.do("POST", "/mall/redemptions", platform.RoleOperator,
		map[string]any{"member_id": memberID, "item_id": itemID, "quantity": qty}, extra...)
}

// count counts the tenant's rows of a table matching a condition.
func (e *env) count(table, where string, args ...any) int64 {
	e.t.Helper()
	var n int64
	q := "SELECT COUNT(*) FROM " + table + " WHERE tenant_id = ?"
	if where != "" {
		q += " AND " + where
	}
	if err := e.db.Conn(context.Background()).Raw(q, append([]any{e.tenant}, args...)...).Row().Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// num reads a JSON number.
func num(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return -1 << 62
}

// address is a valid shipping address.
var address = map[string]any{"name": "张三", "phone": "13800138000", "province": "上海", "city": "上海", "address": "人民路 1 号"}

// routerResponse is a recorded answer of the router.
type routerResponse = routertest.Response
