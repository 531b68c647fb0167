package rules

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// fixture is a service on a database with a tenant of its own.
type fixture struct {
	db     *storage.DB
	svc    *Service
	clk    *clock.Fake
	tenant string
	ctx    context.Context
}

var epoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, db *storage.DB, timeZone string) *fixture {
	t.Helper()
	clk := clock.NewFake(epoch)
	svc := NewService(db, &audit.Log{DB: db}, clk)
	tid := routertest.CreateTenant(t, db, routertest.TenantOptions{TimeZone: timeZone})
	return &fixture{db: db, svc: svc, clk: clk, tenant: tid, ctx: routertest.TenantContext(t, db, tid)}
}

// create saves the rules of a JSON create body, a second apart so their
// creation order is certain.
func (f *fixture) create(t *testing.T, body string) []Rule {
	t.Helper()
	var req CreateRule
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	f.clk.Advance(time.Second)
	rules, err := f.svc.CreateRules(f.ctx, req)
	if err != nil {
		t.Fatalf("create %s: %v", body, err)
	}
	return rules
}

func (f *fixture) createOne(t *testing.T, body string) Rule {
	t.Helper()
	rules := f.create(t, body)
	if len(rules) != 1 {
		t.Fatalf("got %d rules, want 1", len(rules))
	}
	return rules[0]
}

// memUsage is a Usage in memory, as the events service keeps in its awards
// table.
type memUsage struct {
	mu     sync.Mutex
	awards []usageRow
}

type usageRow struct {
	rule, member string
	points       int64
	at           time.Time
}

func (u *memUsage) AwardedSince(_ context.Context, ruleID, memberID string, since time.Time) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var sum int64
	for _, a := range u.awards {
		if a.rule == ruleID && (memberID == "" || a.member == memberID) && !a.at.Before(since) {
			sum += a.points
		}
	}
	return sum, nil
}

// store records awards as the events service would.
func (u *memUsage) store(member string, at time.Time, awards []Award) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range awards {
		u.awards = append(u.awards, usageRow{rule: a.RuleID, member: member, points: a.Points, at: at})
	}
}

// evaluate runs Evaluate and fails the test on a call error.
func (f *fixture) evaluate(t *testing.T, in Input, permille int64, usage Usage) ([]Award, []RuleError) {
	t.Helper()
	awards, errs, err := f.svc.Evaluate(f.ctx, in, permille, usage)
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	return awards, errs
}

func total(awards []Award) (points, growth int64) {
	for _, a := range awards {
		points += a.Points
		growth += a.Growth
	}
	return points, growth
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fieldErrors(t *testing.T, err error) map[string]any {
	t.Helper()
	e, ok := err.(*platform.Error)
	if !ok || e.Code != platform.EValidation {
		t.Fatalf("got %v, want validation_failed", err)
	}
	return e.Details
}
