package tiers_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/members"
	"jifen/tenants/tiers"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// shanghai is the zone routertest gives tenants.
var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// local returns a wall-clock time in Shanghai.
func local(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, shanghai).UTC()
}

func ptr[T any](v T) *T { return &v }

// grant is growth a member gained at a time.
type grant struct {
	at     time.Time
	amount int64
}

// fakeGrowth stands in for the ledger's growth counters: grants at the
// fake clock's time, negative ones for claw-backs.
type fakeGrowth struct {
	mu     sync.Mutex
	clock  *clock.Fake
	grants map[string][]grant
}

func (f *fakeGrowth) add(memberID string, n int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grants[memberID] = append(f.grants[memberID], grant{f.clock.Now(), n})
	var sum int64
	for _, g := range f.grants[memberID] {
		sum += g.amount
	}
	return sum
}

func (f *fakeGrowth) GrowthOf(ctx context.Context, memberID string) (int64, error) {
	return f.GrowthSince(ctx, memberID, time.Time{})
}

func (f *fakeGrowth) GrowthSince(_ context.Context, memberID string, t time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sum int64
	for _, g := range f.grants[memberID] {
		if !g.at.Before(t) {
			sum += g.amount
		}
	}
	return sum, nil
}

// couponSpy is a CouponIssuer that writes an audit record (so a rollback
// shows), remembers whether it ran inside a transaction, and fails with
// fail when set.
type couponSpy struct {
	audit *audit.Log
	fail  error
	mu    sync.Mutex
	calls []couponCall
}

type couponCall struct {
	memberID, templateID, reason string
	inTx                         bool
}

func (c *couponSpy) IssueCoupon(ctx context.Context, memberID, templateID, reason string) error {
	c.mu.Lock()
	c.calls = append(c.calls, couponCall{memberID, templateID, reason, storage.InTx(ctx)})
	c.mu.Unlock()
	// Written before failing too, to show that a failure's writes are undone.
	if err := c.audit.Record(ctx, "coupon.issue", "member", memberID, map[string]any{"template_id": templateID}); err != nil {
		return err
	}
	return c.fail
}

// env is one tenant with a tier service on a fake clock.
type env struct {
	db       *storage.DB
	clock    *clock.Fake
	growth   *fakeGrowth
	coupons  *couponSpy
	audit    *audit.Log
	svc      *tiers.Service
	members  *members.Service
	tenantID string
	ctx      context.Context
}

// start is 10 January 2026, 10:00 in Shanghai.
var start = local(2026, time.January, 10, 10, 0)

func newEnv(t *testing.T, db *storage.DB) *env {
	t.Helper()
	tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
	clk := clock.NewFake(start)
	al := &audit.Log{DB: db}
	ms := &members.Store{DB: db}
	e := &env{
		db: db, clock: clk, audit: al, tenantID: tid, ctx: routertest.TenantContext(t, db, tid),
		growth:  &fakeGrowth{clock: clk, grants: map[string][]grant{}},
		coupons: &couponSpy{audit: al},
	}
	e.svc = &tiers.Service{Store: &tiers.Store{DB: db}, Members: ms, Growth: e.growth, Clock: clk, Audit: al, Coupons: e.coupons}
	e.members = &members.Service{Store: ms, Clock: clk, Audit: al, Tiers: e.svc}
	return e
}

// member adds a member with a birthday ("" for none) and returns its id.
func (e *env) member(t *testing.T, birthday string) string {
	t.Helper()
	m, err := e.members.CreateMember(e.ctx, members.Input{ExternalID: ptr("ext-" + ids.New()), Birthday: ptr(birthday)})
	if err != nil {
		t.Fatalf("create member: %v", err)
	}
	return m.ID
}

// ladder creates Silver (100, keep 80, 1.5x, birthday 2x) and Gold (500,
// keep 400, 2x, an upgrade coupon) and returns them.
func (e *env) ladder(t *testing.T) (silver, gold tiers.Tier) {
	t.Helper()
	silver = e.tier(t, tiers.TierInput{Name: ptr("银卡 Silver"), Rank: ptr(1), GrowthThreshold: ptr[int64](100),
		KeepThreshold: ptr[int64](80), Multiplier: ptr[int64](1500),
		Benefits: &tiers.BenefitsInput{BirthdayMultiplier: ptr[int64](2000)}})
	gold = e.tier(t, tiers.TierInput{Name: ptr("金卡 Gold"), Rank: ptr(2), GrowthThreshold: ptr[int64](500),
		KeepThreshold: ptr[int64](400), Multiplier: ptr[int64](2000),
		Benefits: &tiers.BenefitsInput{BirthdayMultiplier: ptr[int64](1800), UpgradeCouponTemplateID: ptr("tpl-gold"),
			FreeShipping: ptr(true)}})
	return silver, gold
}

func (e *env) tier(t *testing.T, in tiers.TierInput) tiers.Tier {
	t.Helper()
	tr, err := e.svc.CreateTier(e.ctx, in)
	if err != nil {
		t.Fatalf("create tier: %v", err)
	}
	return tr
}

func (e *env) settings(t *testing.T, in tiers.SettingsInput) {
	t.Helper()
	if _, err := e.svc.UpdateSettings(e.ctx, in); err != nil {
		t.Fatalf("update settings: %v", err)
	}
}

// grow gives the member growth the way the ledger does: the counter
// changes and the observer is told inside the same transaction.
func (e *env) grow(t *testing.T, memberID string, n int64) {
	t.Helper()
	err := e.db.Tx(e.ctx, func(ctx context.Context) error {
		return e.svc.GrowthChanged(ctx, memberID, e.growth.add(memberID, n))
	})
	if err != nil {
		t.Fatalf("grow %d: %v", n, err)
	}
}

// tierOf returns the name of the tier that applies to the member now, ""
// for none.
func (e *env) tierOf(t *testing.T, memberID string) string {
	t.Helper()
	mt, err := e.svc.MemberTier(e.ctx, memberID)
	if err != nil {
		t.Fatalf("member tier: %v", err)
	}
	if mt.Tier == nil {
		return ""
	}
	return mt.Tier.Name
}

func (e *env) evaluate(t *testing.T, at time.Time) tiers.Evaluation {
	t.Helper()
	e.clock.Set(at)
	res, err := e.svc.EvaluateDowngrades(e.ctx, at)
	if err != nil {
		t.Fatalf("evaluate at %s: %v", at, err)
	}
	return res
}

// historyKinds lists the kinds of the member's tier history, newest first.
func (e *env) historyKinds(t *testing.T, memberID string) []string {
	t.Helper()
	items, _, err := e.svc.History(e.ctx, memberID, 200, "")
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	var out []string
	for _, h := range items {
		out = append(out, h.Kind)
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := platform.ErrorCode(err); got != code {
		t.Fatalf("error code: got %q (%v), want %q", got, err, code)
	}
}
