package ledger_test

import (
	"context"
	gosql "database/sql"
	"errors"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/ledger"
	"jifen/tenants/members"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// start is the fake clock's first moment: 10:00 in Shanghai.
var start = time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)

// env is one test tenant with a ledger service on a fake clock.
type env struct {
	t      testing.TB
	db     *storage.DB
	clock  *clock.Fake
	svc    *ledger.Service
	tenant string
	ctx    context.Context
	growth *growthSpy
}

// growthSpy records what the ledger tells the growth observer.
type growthSpy struct{ calls map[string][]int64 }

func (g *growthSpy) GrowthChanged(_ context.Context, memberID string, growth int64) error {
	g.calls[memberID] = append(g.calls[memberID], growth)
	return nil
}

func newEnv(t testing.TB, db *storage.DB) *env {
	t.Helper()
	tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
	fc := clock.NewFake(start)
	spy := &growthSpy{calls: map[string][]int64{}}
	svc := &ledger.Service{DB: db, Members: &members.Store{DB: db}, Clock: fc, Audit: &audit.Log{DB: db}, OnGrowth: spy}
	return &env{t: t, db: db, clock: fc, svc: svc, tenant: tid, ctx: routertest.TenantContext(t, db, tid), growth: spy}
}

// set changes a tenant setting column.
func (e *env) set(column string, value any) {
	e.t.Helper()
	err := e.db.Tx(context.Background(), func(ctx context.Context) error {
		return e.db.Conn(ctx).Exec("UPDATE tenants SET "+column+" = ? WHERE id = ?", value, e.tenant).Error
	})
	if err != nil {
		e.t.Fatalf("set %s: %v", column, err)
	}
}

func (e *env) member() string {
	e.t.Helper()
	now := e.clock.Now()
	m := members.Member{TenantID: e.tenant, ID: ids.NewAt(now), ExternalID: "ext-" + ids.New(), CreatedAt: now, UpdatedAt: now}
	if err := (&members.Store{DB: e.db}).CreateMember(e.ctx, &m); err != nil {
		e.t.Fatalf("create member: %v", err)
	}
	return m.ID
}

func (e *env) earn(memberID string, points int64, mods ...func(*ledger.Credit)) ledger.Entry {
	e.t.Helper()
	c := ledger.Credit{MemberID: memberID, Points: points, Kind: ledger.KindEarn, Reason: "test earn"}
	for _, m := range mods {
		m(&c)
	}
	en, _, err := e.svc.Credit(e.ctx, c)
	if err != nil {
		e.t.Fatalf("credit %d: %v", points, err)
	}
	return en
}

func (e *env) spend(memberID string, points int64) ledger.Entry {
	e.t.Helper()
	en, _, err := e.svc.Debit(e.ctx, ledger.Debit{MemberID: memberID, Points: points, Kind: ledger.KindSpend, Reason: "test spend"})
	if err != nil {
		e.t.Fatalf("spend %d: %v", points, err)
	}
	return en
}

func (e *env) points(memberID string) members.PointsView {
	e.t.Helper()
	v, err := e.svc.PointsOf(e.ctx, memberID)
	if err != nil {
		e.t.Fatalf("points of %s: %v", memberID, err)
	}
	return v
}

func expiresAt(t time.Time) func(*ledger.Credit) { return func(c *ledger.Credit) { c.ExpiresAt = t } }
func pendingUntil(t time.Time) func(*ledger.Credit) {
	return func(c *ledger.Credit) { c.PendingUntil = t }
}
func forOrder(id string) func(*ledger.Credit) { return func(c *ledger.Credit) { c.OrderID = id } }

// wantCode fails unless err carries the code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := platform.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

// wantPoints fails unless the member's available and pending points are
// as given.
func (e *env) wantPoints(memberID string, available, pending int64) members.PointsView {
	e.t.Helper()
	v := e.points(memberID)
	if v.Available != available || v.Pending != pending {
		e.t.Fatalf("points: got available %d pending %d, want available %d pending %d", v.Available, v.Pending, available, pending)
	}
	return v
}

// localEnd is the end of the Shanghai day of t, as the API shows expiries.
func localEnd(t time.Time) time.Time {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 23, 59, 59, 0, loc).UTC()
}

// state is what the database holds of one member's points, read directly.
type state struct {
	Available, Pending, Debt, LifetimeEarned, Growth, Seq int64
	EntrySum, EntryCount, MaxSeq, LastBalanceAfter        int64
	OpenSum, PendingSum, ClosedNonZero, NegativeLots      int64
	OverfullLots, EarnedFromEntries, GrowthChanges        int64
}

func (e *env) state(memberID string) state {
	e.t.Helper()
	var s state
	c := e.db.Conn(context.Background())
	q := func(sql string, dst ...any) {
		e.t.Helper()
		if err := c.Raw(sql, e.tenant, memberID).Row().Scan(dst...); err != nil && !errors.Is(err, gosql.ErrNoRows) {
			e.t.Fatalf("%s: %v", sql, err)
		}
	}
	q(`SELECT available, pending, debt, lifetime_earned, growth, seq FROM point_balances WHERE tenant_id = ? AND member_id = ?`,
		&s.Available, &s.Pending, &s.Debt, &s.LifetimeEarned, &s.Growth, &s.Seq)
	q(`SELECT COALESCE(SUM(points), 0), COUNT(*), COALESCE(MAX(seq), 0),
		COALESCE(SUM(CASE WHEN kind = 'earn' OR (kind = 'adjust' AND points > 0) OR source = 'clawback' THEN points ELSE 0 END), 0)
		FROM ledger_entries WHERE tenant_id = ? AND member_id = ?`,
		&s.EntrySum, &s.EntryCount, &s.MaxSeq, &s.EarnedFromEntries)
	q(`SELECT balance_after FROM ledger_entries WHERE tenant_id = ? AND member_id = ? ORDER BY seq DESC LIMIT 1`, &s.LastBalanceAfter)
	q(`SELECT COALESCE(SUM(CASE WHEN state = 'open' THEN remaining ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = 'pending' THEN remaining ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN (state = 'closed') <> (remaining = 0) THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN remaining < 0 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN remaining > points THEN 1 ELSE 0 END), 0)
		FROM point_lots WHERE tenant_id = ? AND member_id = ?`,
		&s.OpenSum, &s.PendingSum, &s.ClosedNonZero, &s.NegativeLots, &s.OverfullLots)
	q(`SELECT COALESCE(SUM(delta), 0) FROM growth_changes WHERE tenant_id = ? AND member_id = ?`, &s.GrowthChanges)
	return s
}

// checkInvariants fails when the member's points break a ledger invariant.
func (e *env) checkInvariants(memberID string) {
	e.t.Helper()
	s := e.state(memberID)
	var problems []string
	check := func(ok bool, msg string) {
		if !ok {
			problems = append(problems, msg)
		}
	}
	check(s.Available+s.Pending == s.EntrySum, "available + pending != sum of entries")
	check(s.OpenSum+s.PendingSum-s.Debt == s.EntrySum, "sum of live lot remainders - debt != sum of entries")
	check(s.OpenSum-s.Debt == s.Available, "open remainders - debt != available")
	check(s.PendingSum == s.Pending, "pending remainders != pending")
	check(s.Debt >= 0, "debt < 0")
	check(s.Debt == 0 || s.OpenSum == 0, "debt beside spendable lots")
	check(s.Available >= 0 || s.Debt > 0, "available < 0 without a debt")
	check(s.NegativeLots == 0, "a lot remainder < 0")
	check(s.OverfullLots == 0, "a lot remainder above its points")
	check(s.ClosedNonZero == 0, "a closed lot with points or an open lot without")
	check(s.EntryCount == s.MaxSeq && s.MaxSeq == s.Seq, "sequence numbers are not 1..n")
	check(s.EntryCount == 0 || s.LastBalanceAfter == s.EntrySum, "last balance_after != sum of entries")
	check(s.LifetimeEarned == s.EarnedFromEntries, "lifetime_earned != earn + positive adjust - claw-backs")
	check(s.Growth == s.GrowthChanges && s.Growth >= 0, "growth != sum of growth changes, or < 0")
	if len(problems) > 0 {
		e.t.Fatalf("member %s: %v; state %+v", memberID, problems, s)
	}
}

func asError(err error, target **platform.Error) bool { return errors.As(err, target) }
