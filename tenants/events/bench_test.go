package events_test

import (
	"context"
	"fmt"
	"jifen/pkg/benchrun"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/events"
)

// benchTarget is a member of a tenant that benchmark events go to.
type benchTarget struct {
	f        *fixture
	ctx      context.Context
	memberID string
}

// benchScenario is a population of tenants and members.
type benchScenario struct {
	name             string
	tenants, members int
}

var benchScenarios = []benchScenario{
	{"one_hot_member", 1, 1},
	{"many_members", 1, 500},
	{"many_tenants", 20, 25},
}

// benchParallelism is how many goroutines per GOMAXPROCS send events.
const benchParallelism = 4

// BenchmarkIngest measures processing one order_paid event (one rule, one
// ledger credit) through the HTTP handler with an Idempotency-Key, through
// the service, and as the same transaction written in raw SQL, so the
// overhead of each layer is visible. Each reports events/s and the p50 and
// p99 latency of one event; on MariaDB the service and raw SQL also report
// stmts/event, the statements the server received per event (transaction
// control included), so the round trips each pays are visible.
func BenchmarkIngest(b *testing.B) {
	var seq atomic.Int64
	for _, dialect := range storagetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			for _, sc := range benchScenarios {
				targets := benchSetup(b, db, sc)
				// Raw SQL keeps a balance of its own making, so it gets
				// members of its own.
				rawTargets := benchSetup(b, db, sc)
				b.Run(sc.name+"/http", func(b *testing.B) {
					runIngest(b, targets, func(tg benchTarget) error {
						n := seq.Add(1)
						body := fmt.Sprintf(`{"type":"order_paid","member_id":%q,"attributes":{"order_id":"H%d","amount_cents":12800}}`, tg.memberID, n)
						req := httptest.NewRequest(http.MethodPost, "/api/v1/tenants/"+tg.f.tid+"/events", strings.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set(routertest.RoleHeader, platform.RoleOperator)
						req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", n))
						w := httptest.NewRecorder()
						tg.f.env.Engine.ServeHTTP(w, req)
						if w.Code != http.StatusCreated {
							return fmt.Errorf("got %d %s", w.Code, w.Body)
						}
						return nil
					})
				})
				b.Run(sc.name+"/service", func(b *testing.B) {
					countStatements(b, db, func() {
						runIngest(b, targets, func(tg benchTarget) error {
							_, err := tg.f.svc.Ingest(tg.ctx, events.Request{Type: "order_paid", MemberID: tg.memberID,
								Attributes: map[string]any{"order_id": fmt.Sprintf("S%d", seq.Add(1)), "amount_cents": 12800}})
							return err
						})
					})
				})
				b.Run(sc.name+"/raw_sql", func(b *testing.B) {
					countStatements(b, db, func() {
						runIngest(b, rawTargets, func(tg benchTarget) error {
							return rawIngest(tg.ctx, db, tg.memberID, fmt.Sprintf("R%d", seq.Add(1)), 12800)
						})
					})
				})
			}
		})
	}
}

// countStatements runs fn and, on MySQL, reports "stmts/event": how much
// the server's Questions counter grew per operation. The counter is the
// server's, so it assumes nothing else talks to the server meanwhile (make
// bench runs one package at a time); the few statements the pool sends
// when it opens a connection are spread over b.N.
func countStatements(b *testing.B, db *storage.DB, fn func()) {
	if db.Dialect != storage.MySQL {
		fn()
		return
	}
	questions := func() int64 {
		var name string
		var n int64
		if err := db.SQL().QueryRow("SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &n); err != nil {
			b.Fatalf("read the Questions counter: %v", err)
		}
		return n
	}
	before := questions()
	fn()
	// The second SHOW counts itself.
	b.ReportMetric(float64(questions()-before-1)/float64(b.N), "stmts/event")
}

// benchSetup creates the scenario's tenants, each with the points-per-amount
// rule, and their members.
func benchSetup(b *testing.B, db *storage.DB, sc benchScenario) []benchTarget {
	b.Helper()
	var out []benchTarget
	for range sc.tenants {
		f := newFixture(b, db, nil)
		f.clk.Set(time.Now())
		f.rule(b, `{"template":"points_per_amount"}`)
		for i := range sc.members {
			out = append(out, benchTarget{f: f, ctx: f.ctx, memberID: f.member(b, fmt.Sprintf("m%d", i))})
		}
	}
	return out
}

// runIngest runs op over the targets from parallel goroutines and reports
// throughput and latency percentiles.
func runIngest(b *testing.B, targets []benchTarget, op func(benchTarget) error) {
	benchrun.Parallel(b, benchParallelism, "events", func(seq int64) error {
		return op(targets[int(seq)%len(targets)])
	})
}

// rawIngest is the transaction Ingest runs for an order_paid event that one
// rule turns into points, written by hand in SQL: lock the member, read the
// rules, the balance and the order, credit a lot and an entry, record the
// growth, and store the event, its award and the order. It is for
// measuring only: it skips the CEL evaluation, the limits and the checks.
func rawIngest(ctx context.Context, db *storage.DB, memberID, orderID string, amount int64) error {
	tid := platform.TenantID(ctx)
	return db.Tx(ctx, func(ctx context.Context) error {
		c := db.Conn(ctx)
		lock := "SELECT id FROM members WHERE tenant_id = ? AND id = ?"
		if db.Dialect == storage.MySQL {
			lock += " FOR UPDATE"
		}
		var id string
		if err := c.Raw(lock, tid, memberID).Row().Scan(&id); err != nil {
			return err
		}
		var ruleID, ruleName string
		if err := c.Raw("SELECT id, name FROM rules WHERE tenant_id = ? AND event_type = ? AND active = ? AND deleted_at IS NULL ORDER BY priority DESC, id LIMIT 1",
			tid, "order_paid", true).Row().Scan(&ruleID, &ruleName); err != nil {
			return err
		}
		var orders int64
		if err := c.Raw("SELECT COUNT(*) FROM event_orders WHERE tenant_id = ? AND order_id = ?", tid, orderID).Row().Scan(&orders); err != nil {
			return err
		}
		if orders > 0 {
			return fmt.Errorf("order %s exists", orderID)
		}
		now := time.Now().UTC()
		points, growth := amount/1000, amount/100
		res := c.Exec(`UPDATE point_balances SET available = available + ?, lifetime_earned = lifetime_earned + ?,
			growth = growth + ?, seq = seq + 1, updated_at = ? WHERE tenant_id = ? AND member_id = ?`,
			points, points, growth, now, tid, memberID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if err := c.Exec(`INSERT INTO point_balances (tenant_id, member_id, available, pending, debt, lifetime_earned,
				growth, seq, created_at, updated_at) VALUES (?,?,?,0,0,?,?,1,?,?)`,
				tid, memberID, points, points, growth, now, now).Error; err != nil {
				return err
			}
		}
		var bseq, avail int64
		if err := c.Raw("SELECT seq, available FROM point_balances WHERE tenant_id = ? AND member_id = ?", tid, memberID).Row().Scan(&bseq, &avail); err != nil {
			return err
		}
		entryID, eventID := ids.New(), ids.New()
		stmts := []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO ledger_entries (tenant_id, id, member_id, seq, kind, points, balance_after, reason, ref, order_id,
				source, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
				[]any{tid, entryID, memberID, bseq, "earn", points, avail, "order_paid: " + ruleName, "event:" + eventID, orderID, "raw", now}},
			{`INSERT INTO point_lots (tenant_id, id, member_id, entry_id, order_id, points, remaining, state, expires_at,
				created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
				[]any{tid, ids.New(), memberID, entryID, orderID, points, points, "open", now.AddDate(1, 0, 0), now, now}},
			{`INSERT INTO growth_changes (tenant_id, id, member_id, delta, entry_id, ref, created_at) VALUES (?,?,?,?,?,?,?)`,
				[]any{tid, ids.New(), memberID, growth, entryID, "event:" + eventID, now}},
			{`INSERT INTO events (tenant_id, id, member_id, type, occurred_at, received_at, attributes, points_delta,
				growth_delta, order_id, note, details, rule_errors) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
				[]any{tid, eventID, memberID, "order_paid", now, now, fmt.Sprintf(`{"amount_cents":%d,"order_id":%q}`, amount, orderID),
					points, growth, orderID, "", "{}", "[]"}},
			{`INSERT INTO event_awards (tenant_id, event_id, rule_id, member_id, rule_name, points, growth, capped, note,
				awarded_at) VALUES (?,?,?,?,?,?,?,?,?,?)`,
				[]any{tid, eventID, ruleID, memberID, ruleName, points, growth, false, "", now}},
			{`INSERT INTO event_orders (tenant_id, order_id, member_id, event_id, amount_cents, points, growth,
				created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)`,
				[]any{tid, orderID, memberID, eventID, amount, points, growth, now, now}},
		}
		for _, s := range stmts {
			if err := c.Exec(s.sql, s.args...).Error; err != nil {
				return err
			}
		}
		return nil
	})
}
