package scheduler

import (
	"context"
	"testing"
	"time"

	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestPurgeIdempotencyKeys(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
		keys := map[string]time.Duration{ // key → age at t0
			"eight-days":        8 * 24 * time.Hour,
			"just-over-a-week":  IdempotencyKeyRetention + time.Second,
			"just-under-a-week": IdempotencyKeyRetention - time.Second,
			"yesterday":         24 * time.Hour,
			"now":               0,
		}
		for k, age := range keys {
			err := db.Tx(ctx, func(ctx context.Context) error {
				return db.Conn(ctx).Exec(`INSERT INTO idempotency_keys (tenant_id, idem_key, fingerprint, status, response, created_at)
					VALUES (?, ?, ?, 200, '{}', ?)`, tid, k, "f", t0.Add(-age)).Error
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		left := func() map[string]bool {
			var rows []string
			if err := db.Conn(ctx).Raw("SELECT idem_key FROM idempotency_keys WHERE tenant_id = ?", tid).Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			out := map[string]bool{}
			for _, r := range rows {
				out[r] = true
			}
			return out
		}

		if _, err := PurgeIdempotencyKeys(db, 23*time.Hour)(ctx, t0); err == nil {
			t.Fatal("a retention under 24 hours: got no error, want one")
		}
		if got := len(left()); got != len(keys) {
			t.Fatalf("keys after a refused purge: got %d, want %d", got, len(keys))
		}

		res, err := PurgeIdempotencyKeys(db, IdempotencyKeyRetention)(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if res["deleted"] != int64(2) {
			t.Errorf("deleted: got %v, want 2", res["deleted"])
		}
		got := left()
		for k, age := range keys {
			if want := age <= IdempotencyKeyRetention; got[k] != want {
				t.Errorf("key %s: got kept=%v, want %v", k, got[k], want)
			}
		}
	})
}

func TestPruneRuns(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		name := "old." + uniq()
		ages := map[string]time.Duration{"ancient": RunRetention + time.Hour, "recent": RunRetention - time.Hour}
		for key, age := range ages {
			err := db.Tx(ctx, func(ctx context.Context) error {
				return db.Conn(ctx).Exec(`INSERT INTO job_runs (id, job, tenant_id, run_key, status, attempts, holder, started_at, result, error)
					VALUES (?, ?, '', ?, 'succeeded', 1, 'h', ?, '', '')`, uniq()+uniq(), name, key, t0.Add(-age)).Error
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := PruneRuns(db, time.Hour)(ctx, t0); err == nil {
			t.Fatal("a retention shorter than the catch-up window: got no error, want one")
		}
		if _, err := PruneRuns(db, RunRetention)(ctx, t0); err != nil {
			t.Fatal(err)
		}
		var left []string
		db.Conn(ctx).Raw("SELECT run_key FROM job_runs WHERE job = ?", name).Scan(&left)
		if len(left) != 1 || left[0] != "recent" {
			t.Fatalf("runs left: got %v, want [recent]", left)
		}
	})
}

func TestPlatformJobsRegister(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		clk.Set(time.Date(2026, 12, 2, 3, 45, 0, 0, time.UTC))
		s := newReplica(t, db, clk, "test-"+uniq(), PlatformJobs(db)...)
		tick(t, s)
		for _, name := range []string{JobIdempotencyPurge, JobPruneRuns} {
			runs := runsOf(t, s, name, RunFilter{TenantID: ""})
			if len(runs) == 0 || runs[0].Status != StatusSucceeded {
				t.Errorf("%s: got runs %+v, want a succeeded run", name, runs)
			}
		}
	})
}
