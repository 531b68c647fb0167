package scheduler

import (
	"context"
	"fmt"
	"time"

	"jifen/platform/storage"
)

// Retention of the platform tables the scheduler cleans.
const (
	// IdempotencyKeyRetention is how long idempotency keys (and the
	// responses replayed from them) are kept.
	IdempotencyKeyRetention = 7 * 24 * time.Hour
	// minIdempotencyRetention is the contract's promise: keys are kept at
	// least 24 hours.
	minIdempotencyRetention = 24 * time.Hour
	// RunRetention is how long job_runs rows are kept.
	RunRetention = 90 * 24 * time.Hour
	// cleanBatch is how many rows one delete removes, so a large backlog is
	// cleaned in short transactions that don't hold locks for long.
	cleanBatch = 1000
)

// Names of the platform jobs this package implements.
const (
	JobIdempotencyPurge = "idempotency.purge"
	JobPruneRuns        = "scheduler.prune"
)

// PlatformJobs returns the jobs this package implements, on their default
// daily schedules (UTC): idempotency.purge and scheduler.prune.
func PlatformJobs(db *storage.DB) []Job {
	return []Job{
		{Name: JobIdempotencyPurge, Schedule: "30 3 * * *", LocalHour: -1, Run: PurgeIdempotencyKeys(db, IdempotencyKeyRetention)},
		{Name: JobPruneRuns, Schedule: "45 3 * * *", LocalHour: -1, Run: PruneRuns(db, RunRetention)},
	}
}

// PurgeIdempotencyKeys returns a job that deletes the idempotency keys of
// every tenant stored more than olderThan before the run's time. A
// retention under 24 hours, which would break the contract's promise, fails
// the run and deletes nothing.
func PurgeIdempotencyKeys(db *storage.DB, olderThan time.Duration) func(ctx context.Context, now time.Time) (Result, error) {
	return func(ctx context.Context, now time.Time) (Result, error) {
		if olderThan < minIdempotencyRetention {
			return nil, fmt.Errorf("idempotency keys must be kept at least %s; got %s", minIdempotencyRetention, olderThan)
		}
		cutoff := now.UTC().Add(-olderThan).Truncate(time.Microsecond)
		var deleted int64
		for ctx.Err() == nil {
			var rows []struct{ TenantID, IdemKey string }
			err := db.Conn(ctx).Raw(`SELECT tenant_id, idem_key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?`,
				cutoff, cleanBatch).Scan(&rows).Error
			if err != nil {
				return Result{"deleted": deleted}, err
			}
			byTenant := map[string][]string{}
			for _, r := range rows {
				byTenant[r.TenantID] = append(byTenant[r.TenantID], r.IdemKey)
			}
			var n int64
			err = db.Tx(ctx, func(ctx context.Context) error {
				n = 0 // a retried transaction counts again from zero
				for tid, keys := range byTenant {
					// created_at is checked again: a key deleted and reused
					// since the read is young and must stay.
					res := db.Conn(ctx).Exec(`DELETE FROM idempotency_keys WHERE tenant_id = ? AND idem_key IN ? AND created_at < ?`,
						tid, keys, cutoff)
					if res.Error != nil {
						return res.Error
					}
					n += res.RowsAffected
				}
				return nil
			})
			if err != nil {
				return Result{"deleted": deleted}, err
			}
			deleted += n
			if len(rows) < cleanBatch {
				break
			}
		}
		return Result{"deleted": deleted, "cutoff": cutoff.Format(time.RFC3339)}, ctx.Err()
	}
}

// PruneRuns returns a job that deletes job_runs rows started more than
// olderThan before the run's time. A pruned run key is never due again:
// slot keys lie in the past and LocalHour keys are local dates long gone.
func PruneRuns(db *storage.DB, olderThan time.Duration) func(ctx context.Context, now time.Time) (Result, error) {
	return func(ctx context.Context, now time.Time) (Result, error) {
		if olderThan < catchUpWindow {
			return nil, fmt.Errorf("job runs must be kept longer than the catch-up window (%s); got %s", catchUpWindow, olderThan)
		}
		cutoff := now.UTC().Add(-olderThan).Truncate(time.Microsecond)
		var deleted int64
		for ctx.Err() == nil {
			var runIDs []string
			err := db.Conn(ctx).Raw(`SELECT id FROM job_runs WHERE started_at < ? ORDER BY started_at LIMIT ?`,
				cutoff, cleanBatch).Scan(&runIDs).Error
			if err != nil {
				return Result{"deleted": deleted}, err
			}
			if len(runIDs) > 0 {
				var n int64
				err = db.Tx(ctx, func(ctx context.Context) error {
					res := db.Conn(ctx).Exec(`DELETE FROM job_runs WHERE id IN ? AND started_at < ?`, runIDs, cutoff)
					n = res.RowsAffected
					return res.Error
				})
				if err != nil {
					return Result{"deleted": deleted}, err
				}
				deleted += n
			}
			if len(runIDs) < cleanBatch {
				break
			}
		}
		return Result{"deleted": deleted, "cutoff": cutoff.Format(time.RFC3339)}, ctx.Err()
	}
}
