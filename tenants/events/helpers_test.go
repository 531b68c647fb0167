package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/platform/audit"
	httpx "jifen/platform/http"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/events"
	"jifen/tenants/ledger"
	"jifen/tenants/members"
	"jifen/tenants/rules"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// epoch is 2026-11-22 10:00 in Shanghai.
var epoch = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

// fixture serves the event routes for one tenant of its own.
type fixture struct {
	db      *storage.DB
	env     *routertest.Env
	clk     *clock.Fake
	svc     *events.Service
	rules   *rules.Service
	ledger  *ledger.Service
	members *members.Service
	tid     string
	ctx     context.Context
}

// fixedMultiplier gives every member the same tier.
type fixedMultiplier struct {
	permille int64
	tier     string
}

func (m fixedMultiplier) MultiplierOf(context.Context, string, time.Time) (int64, string, error) {
	return m.permille, m.tier, nil
}

func newFixture(t testing.TB, db *storage.DB, mult events.Multiplier) *fixture {
	t.Helper()
	clk := clock.NewFake(epoch)
	log := &audit.Log{DB: db}
	mstore := &members.Store{DB: db}
	led := &ledger.Service{DB: db, Members: mstore, Clock: clk, Audit: log}
	f := &fixture{
		db: db, env: routertest.New(t, db), clk: clk,
		rules:   rules.NewService(db, log, clk),
		ledger:  led,
		members: &members.Service{Store: mstore, Clock: clk, Audit: log, Points: led},
		tid:     routertest.CreateTenant(t, db, routertest.TenantOptions{TimeZone: "Asia/Shanghai"}),
	}
	f.svc = &events.Service{DB: db, Members: mstore, Ledger: led, Rules: f.rules, Multiplier: mult, Clock: clk}
	events.Routes(f.env.Tenant, f.env.Can, httpx.Idempotent(db), f.svc)
	f.ctx = routertest.TenantContext(t, db, f.tid)
	return f
}

// rule creates the rules of a JSON create body (a rule or a template).
func (f *fixture) rule(t testing.TB, body string) []rules.Rule {
	t.Helper()
	var req rules.CreateRule
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	out, err := f.rules.CreateRules(f.ctx, req)
	if err != nil {
		t.Fatalf("create rule %s: %v", body, err)
	}
	return out
}

// member creates a member with the external id.
func (f *fixture) member(t testing.TB, ext string) string {
	t.Helper()
	m, err := f.members.CreateMember(f.ctx, members.Input{ExternalID: &ext})
	if err != nil {
		t.Fatalf("create member %s: %v", ext, err)
	}
	return m.ID
}

// setTenant changes a tenant setting column.
func (f *fixture) setTenant(t testing.TB, column string, value any) {
	t.Helper()
	err := f.db.Tx(context.Background(), func(ctx context.Context) error {
		return f.db.Conn(ctx).Exec("UPDATE tenants SET "+column+" = ? WHERE id = ?", value, f.tid).Error
	})
	if err != nil {
		t.Fatalf("set %s: %v", column, err)
	}
}

// post sends an event as an operator; headers come in pairs.
func (f *fixture) post(t testing.TB, body any, headers ...string) *routertest.Response {
	t.Helper()
	return f.env.Do(t, http.MethodPost, "/api/v1/tenants/"+f.tid+"/events", "operator", body, headers...)
}

// ingest posts an event that must succeed and returns its result.
func (f *fixture) ingest(t testing.TB, body any) events.Result {
	t.Helper()
	r := f.post(t, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("post %v: got %d %s, want 201", body, r.Status, r.Body)
	}
	var res events.Result
	r.JSON(t, &res)
	return res
}

// get reads a path of the tenant as a viewer.
func (f *fixture) get(t testing.TB, path string) *routertest.Response {
	t.Helper()
	return f.env.Do(t, http.MethodGet, "/api/v1/tenants/"+f.tid+path, "viewer", nil)
}

// standing is a member's points and growth.
type standing struct {
	Available, Pending, Growth int64
}

func (f *fixture) standing(t testing.TB, memberID string) standing {
	t.Helper()
	pv, err := f.ledger.PointsOf(f.ctx, memberID)
	if err != nil {
		t.Fatalf("points of %s: %v", memberID, err)
	}
	g, err := f.ledger.GrowthOf(f.ctx, memberID)
	if err != nil {
		t.Fatalf("growth of %s: %v", memberID, err)
	}
	return standing{pv.Available, pv.Pending, g}
}

// order is an order_paid body.
func order(memberID, orderID string, amountCents int64) map[string]any {
	return map[string]any{"type": "order_paid", "member_id": memberID,
		"attributes": map[string]any{"order_id": orderID, "amount_cents": amountCents}}
}

// refund is an order_refunded body; amount 0 leaves amount_cents out.
func refund(memberID, orderID, refundID string, amountCents int64) map[string]any {
	attrs := map[string]any{"order_id": orderID}
	if refundID != "" {
		attrs["refund_id"] = refundID
	}
	if amountCents > 0 {
		attrs["amount_cents"] = amountCents
	}
	return map[string]any{"type": "order_refunded", "member_id": memberID, "attributes": attrs}
}
