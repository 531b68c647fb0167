package ledger_test

import (
	"context"
	"database/sql"
	"jifen/pkg/benchrun"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/ledger"
)

// benchScenarios are the populations the benchmarks write to: every write
// on one member (they all queue on its lock) or spread over many.
var benchScenarios = []struct {
	name    string
	members int
}{
	{"one_hot_member", 1},
	{"many_members", 200},
}

// benchParallelism is how many goroutines per GOMAXPROCS write at once.
const benchParallelism = 4

// benchBalance is what each benchmark member starts with: enough for any
// b.N of spends.
const benchBalance = 1_000_000_000

// BenchmarkSpend measures one debit of 1 point through the service and the
// same statements written by hand with database/sql, on both databases,
// reporting ops/s and the p50 and p99 latency.
func BenchmarkSpend(b *testing.B) {
	benchWrites(b, func(e *env, m string) error {
		_, _, err := e.svc.Debit(e.ctx, ledger.Debit{MemberID: m, Points: 1, Kind: ledger.KindSpend, Reason: "bench"})
		return err
	}, rawSpend)
}

// BenchmarkCredit measures one credit of 1 point (a new lot with the
// tenant's default expiry) through the service and by hand.
func BenchmarkCredit(b *testing.B) {
	benchWrites(b, func(e *env, m string) error {
		_, _, err := e.svc.Credit(e.ctx, ledger.Credit{MemberID: m, Points: 1, Kind: ledger.KindEarn, Reason: "bench"})
		return err
	}, rawCredit)
}

func benchWrites(b *testing.B, service func(*env, string) error, raw func(*env, string) error) {
	for _, dialect := range storagetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			for _, sc := range benchScenarios {
				for _, impl := range []struct {
					name string
					op   func(*env, string) error
				}{{"service", service}, {"raw_sql", raw}} {
					// Set up once, not on each of b.Run's calls; the raw
					// writer gets members of its own.
					e, ms := benchSetup(b, db, sc.members)
					b.Run(sc.name+"/"+impl.name, func(b *testing.B) {
						runBench(b, e, ms, impl.op)
					})
				}
			}
		})
	}
}

// benchSetup makes a tenant whose members each hold benchBalance points in
// one lot, on the real clock.
func benchSetup(b *testing.B, db *storage.DB, n int) (*env, []string) {
	b.Helper()
	e := newEnv(b, db)
	e.svc.Clock, e.svc.OnGrowth = clock.Real{}, nil
	ms := make([]string, n)
	for i := range ms {
		ms[i] = e.member()
		e.earn(ms[i], benchBalance)
	}
	return e, ms
}

// runBench runs op over the members from parallel goroutines and reports
// throughput and latency percentiles.
func runBench(b *testing.B, e *env, ms []string, op func(*env, string) error) {
	benchrun.Parallel(b, benchParallelism, "ops", func(seq int64) error {
		return op(e, ms[int(seq)%len(ms)])
	})
}

// rawTx runs fn in a database/sql transaction on the pool the ledger
// writes through, begun the way storage begins its transactions.
func rawTx(e *env, fn func(tx *sql.Tx) error) error {
	var opts *sql.TxOptions
	if e.db.Dialect == storage.MySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	tx, err := e.db.SQL().BeginTx(context.Background(), opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// rawLockAndRead is the start of every ledger write: the member's lock and
// the balance row.
func rawLockAndRead(e *env, tx *sql.Tx, m string) (available, seq int64, err error) {
	lock := "SELECT id FROM members WHERE tenant_id = ? AND id = ? LIMIT 1"
	if e.db.Dialect == storage.MySQL {
		lock += " FOR UPDATE"
	}
	var id string
	if err := tx.QueryRow(lock, e.tenant, m).Scan(&id); err != nil {
		return 0, 0, err
	}
	err = tx.QueryRow("SELECT available, seq FROM point_balances WHERE tenant_id = ? AND member_id = ? LIMIT 1", e.tenant, m).
		Scan(&available, &seq)
	return available, seq, err
}

// rawView is the read of the expiry groups every write answers with.
func rawView(tx *sql.Tx, e *env, m string) error {
	rows, err := tx.Query(`SELECT member_id, expires_at, SUM(remaining) AS points FROM point_lots
		WHERE tenant_id = ? AND member_id IN (?) AND state IN (?, ?) AND expires_at < ?
		GROUP BY member_id, expires_at ORDER BY member_id, expires_at`, e.tenant, m, "open", "pending", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// rawSpend is the statements of a one-lot debit, by hand: lock, read the
// balance, the conditional update, read the first lot, take from it, write
// the entry and the draw, read the view.
func rawSpend(e *env, m string) error {
	return rawTx(e, func(tx *sql.Tx) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		available, seq, err := rawLockAndRead(e, tx, m)
		if err != nil {
			return err
		}
		res, err := tx.Exec("UPDATE point_balances SET available = available + ?, seq = seq + ?, updated_at = ? WHERE tenant_id = ? AND member_id = ? AND available >= ?",
			-1, 1, now, e.tenant, m, 1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return platform.Errorf(platform.EInsufficientPoints, "no points")
		}
		var lotID string
		var remaining int64
		if err := tx.QueryRow("SELECT id, remaining FROM point_lots WHERE tenant_id = ? AND member_id = ? AND state = ? ORDER BY expires_at, id LIMIT 100",
			e.tenant, m, "open").Scan(&lotID, &remaining); err != nil {
			return err
		}
		if _, err := tx.Exec("UPDATE point_lots SET remaining = remaining - ?, state = ?, updated_at = ? WHERE tenant_id = ? AND id = ? AND remaining >= ?",
			1, "open", now, e.tenant, lotID, 1); err != nil {
			return err
		}
		entryID := ids.NewAt(now)
		if _, err := tx.Exec(`INSERT INTO ledger_entries (tenant_id, id, member_id, seq, kind, points, balance_after, reason, ref, order_id, source, reverses_id, shortfall, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?)`,
			e.tenant, entryID, m, seq+1, "spend", -1, available-1, "bench", "", "", "", now); err != nil {
			return err
		}
		if _, err := tx.Exec("INSERT INTO point_draws (tenant_id, entry_id, lot_id, points) VALUES (?, ?, ?, ?)", e.tenant, entryID, lotID, 1); err != nil {
			return err
		}
		return rawView(tx, e, m)
	})
}

// rawCredit is the statements of a credit with the default expiry, by
// hand: lock, read the balance and the tenant's settings, update the
// balance, write the entry and the lot, read the view.
func rawCredit(e *env, m string) error {
	return rawTx(e, func(tx *sql.Tx) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		available, seq, err := rawLockAndRead(e, tx, m)
		if err != nil {
			return err
		}
		var tz string
		var months int
		if err := tx.QueryRow("SELECT time_zone, points_expiry_months FROM tenants WHERE id = ?", e.tenant).Scan(&tz, &months); err != nil {
			return err
		}
		loc := platform.Tenant{TimeZone: tz}.Location()
		y, mo, d := now.In(loc).AddDate(0, months, 0).Date()
		expires := time.Date(y, mo, d, 23, 59, 59, 0, loc).UTC()
		if _, err := tx.Exec("UPDATE point_balances SET available = available + ?, lifetime_earned = lifetime_earned + ?, seq = seq + ?, updated_at = ? WHERE tenant_id = ? AND member_id = ?",
			1, 1, 1, now, e.tenant, m); err != nil {
			return err
		}
		entryID := ids.NewAt(now)
		if _, err := tx.Exec(`INSERT INTO ledger_entries (tenant_id, id, member_id, seq, kind, points, balance_after, reason, ref, order_id, source, reverses_id, shortfall, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?)`,
			e.tenant, entryID, m, seq+1, "earn", 1, available+1, "bench", "", "", "", now); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO point_lots (tenant_id, id, member_id, entry_id, order_id, points, remaining, state, pending_until, expires_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
			e.tenant, ids.NewAt(now), m, entryID, "", 1, 1, "open", expires, now, now); err != nil {
			return err
		}
		return rawView(tx, e, m)
	})
}

// TestBenchmarksKeepTheInvariants runs a few iterations of each raw
// benchmark writer so a drift from the ledger's own writes (which the
// invariants would catch) fails the tests, not just the numbers.
func TestBenchmarksKeepTheInvariants(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		e.svc.Clock = clock.Real{}
		m := e.member()
		e.earn(m, 100)
		for i := 0; i < 3; i++ {
			for name, op := range map[string]func(*env, string) error{"spend": rawSpend, "credit": rawCredit} {
				if err := op(e, m); err != nil {
					t.Fatalf("raw %s: %v", name, err)
				}
			}
		}
		e.checkInvariants(m)
		if v := e.points(m); v.Available != 100 {
			t.Fatalf("available: got %d, want 100", v.Available)
		}
	})
}
