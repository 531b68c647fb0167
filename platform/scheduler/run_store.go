package scheduler

import (
	"context"
	"encoding/json"
	"time"

	"jifen/pkg/cursor"
	"jifen/pkg/ids"
	"jifen/platform"
	httpx "jifen/platform/http"
	"jifen/platform/storage"
)

// Run statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Retries and take-overs of a run key.
const (
	// maxAttempts is how often one run key is tried in all: a failed run is
	// tried again on a later check (only keys that come round again, such
	// as a LocalHour job's local date), at most this many times.
	maxAttempts = 3
	// failedRetryAfter is how long a failed run waits before it is tried
	// again, so a broken job doesn't run on every check.
	failedRetryAfter = 15 * time.Minute
	// staleGrace is added to a job's timeout before a run still marked
	// running is taken to belong to a dead process and may be taken over.
	staleGrace = 5 * time.Minute
	// maxErrorChars bounds the error text stored with a run.
	maxErrorChars = 2000
	// tenantPage is how many tenants a per-tenant job reads at a time.
	tenantPage = 200
)

// Run is one recorded run of a job, for one tenant (per-tenant jobs) or
// for the platform (TenantID empty).
type Run struct {
	ID         string         `json:"id"`
	Job        string         `json:"job"`
	TenantID   string         `json:"tenant_id"`
	RunKey     string         `json:"run_key"`
	Status     string         `json:"status"`
	Attempts   int            `json:"attempts"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at"`
	Result     map[string]any `json:"result"`
	Error      string         `json:"error"`
}

// runRow is a job_runs row.
type runRow struct {
	ID         string
	Job        string
	TenantID   string
	RunKey     string
	Status     string
	Attempts   int
	Holder     string
	StartedAt  time.Time
	FinishedAt *time.Time
	Result     string
	Error      string
}

func (r runRow) run() Run {
	out := Run{ID: r.ID, Job: r.Job, TenantID: r.TenantID, RunKey: r.RunKey, Status: r.Status, Attempts: r.Attempts,
		StartedAt: r.StartedAt.UTC(), Error: r.Error}
	if r.FinishedAt != nil {
		f := r.FinishedAt.UTC()
		out.FinishedAt = &f
	}
	if r.Result != "" {
		_ = json.Unmarshal([]byte(r.Result), &out.Result)
	}
	return out
}

// claimable reports whether an existing row of a run key may be run again
// at now: a run left running by a dead process, or a failed run with
// attempts left after its back-off.
func claimable(r runRow, timeout time.Duration, now time.Time) bool {
	switch r.Status {
	case StatusRunning:
		return r.StartedAt.Before(now.Add(-(timeout + staleGrace)))
	case StatusFailed:
		return r.Attempts < maxAttempts && r.FinishedAt != nil && r.FinishedAt.Before(now.Add(-failedRetryAfter))
	}
	return false
}

// claim is the row that makes a run happen once: the first process to
// insert (job, tenant, key) runs it; any other finds the row and leaves it,
// unless claimable lets it take the row over with a conditional update.
// It returns the attempt number, or 0 when the run is someone else's.
func (s *Scheduler) claim(ctx context.Context, job, tenantID, key string, timeout time.Duration, now time.Time) (int, error) {
	now = now.UTC().Truncate(time.Microsecond)
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		return s.DB.Conn(ctx).Exec(`INSERT INTO job_runs (id, job, tenant_id, run_key, status, attempts, holder, started_at, result, error)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?, '', '')`, ids.NewAt(now), job, tenantID, key, StatusRunning, s.holder, now).Error
	})
	if err == nil {
		return 1, nil
	}
	if !storage.IsUniqueViolation(err) {
		return 0, err
	}
	var attempt int
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		var rows []runRow
		err := s.DB.ForUpdate(s.DB.Conn(ctx).Table("job_runs").
			Where("job = ? AND tenant_id = ? AND run_key = ?", job, tenantID, key)).Find(&rows).Error
		if err != nil || len(rows) == 0 || !claimable(rows[0], timeout, now) {
			return err
		}
		r := rows[0]
		// The conditional update is the claim: of two replicas that both saw
		// the row claimable, only one matches the old status and attempts.
		res := s.DB.Conn(ctx).Exec(`UPDATE job_runs SET status = ?, attempts = attempts + 1, holder = ?, started_at = ?,
			finished_at = NULL, result = '', error = '' WHERE id = ? AND status = ? AND attempts = ?`,
			StatusRunning, s.holder, now, r.ID, r.Status, r.Attempts)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			attempt = r.Attempts + 1
		}
		return nil
	})
	return attempt, err
}

// finish records how a claimed run ended. The holder and attempt in the
// condition keep a process that lost its run to a take-over from
// overwriting the newer attempt.
func (s *Scheduler) finish(ctx context.Context, job, tenantID, key string, attempt int, now time.Time, res Result, runErr error) error {
	status, errText, resText := StatusSucceeded, "", ""
	if runErr != nil {
		status = StatusFailed
		errText = runErr.Error()
		if len(errText) > maxErrorChars {
			errText = errText[:maxErrorChars]
		}
	}
	if res != nil {
		b, err := json.Marshal(res)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"unencodable_result": err.Error()})
		}
		resText = string(b)
	}
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		return s.DB.Conn(ctx).Exec(`UPDATE job_runs SET status = ?, finished_at = ?, result = ?, error = ?
			WHERE job = ? AND tenant_id = ? AND run_key = ? AND holder = ? AND attempts = ?`,
			status, now.UTC().Truncate(time.Microsecond), resText, errText, job, tenantID, key, s.holder, attempt).Error
	})
}

// existingRuns returns the rows of the given run keys of a job, by tenant.
func (s *Scheduler) existingRuns(ctx context.Context, job string, keys map[string]string) (map[string]runRow, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	tenantIDs := make([]string, 0, len(keys))
	keySet := map[string]bool{}
	for tid, k := range keys {
		tenantIDs = append(tenantIDs, tid)
		keySet[k] = true
	}
	runKeys := make([]string, 0, len(keySet))
	for k := range keySet {
		runKeys = append(runKeys, k)
	}
	var rows []runRow
	err := s.DB.Conn(ctx).Table("job_runs").Where("job = ? AND tenant_id IN ? AND run_key IN ?", job, tenantIDs, runKeys).
		Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make(map[string]runRow, len(rows))
	for _, r := range rows {
		if keys[r.TenantID] == r.RunKey {
			out[r.TenantID] = r
		}
	}
	return out, nil
}

// activeTenants returns a page of active tenants with ids after after, in
// id order.
func (s *Scheduler) activeTenants(ctx context.Context, after string, limit int) ([]platform.Tenant, error) {
	var rows []struct{ ID, Name, Status, TimeZone string }
	err := s.DB.Conn(ctx).Raw(`SELECT id, name, status, time_zone FROM tenants WHERE status = ? AND id > ? ORDER BY id LIMIT ?`,
		"active", after, limit).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]platform.Tenant, len(rows))
	for i, r := range rows {
		out[i] = platform.Tenant{ID: r.ID, Name: r.Name, Status: r.Status, TimeZone: r.TimeZone}
	}
	return out, nil
}

// RunFilter selects runs of a job.
type RunFilter struct {
	Status   string // one of the run statuses, or "" for all
	TenantID string // "" for all
	Limit    int
	Cursor   string
}

// runCursor is the sort key of the last run of a page.
type runCursor struct {
	StartedAt time.Time `json:"s"`
	ID        string    `json:"i"`
}

// FindRuns returns a job's runs, newest first. It returns not_found for a
// job that is not registered and validation_failed for a bad filter.
func (s *Scheduler) FindRuns(ctx context.Context, job string, f RunFilter) ([]Run, string, error) {
	if _, ok := s.job(job); !ok {
		return nil, "", platform.NotFound("job")
	}
	if f.Status != "" && f.Status != StatusRunning && f.Status != StatusSucceeded && f.Status != StatusFailed {
		return nil, "", platform.FieldErrors{"status": "must be running, succeeded or failed"}.Err()
	}
	if f.Limit <= 0 || f.Limit > cursor.MaxLimit {
		f.Limit = cursor.DefaultLimit
	}
	q := s.DB.Conn(ctx).Table("job_runs").Where("job = ?", job)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.TenantID != "" {
		q = q.Where("tenant_id = ?", f.TenantID)
	}
	var after runCursor
	if ok, err := cursor.Decode(f.Cursor, &after); err != nil || (ok && after.ID == "") {
		return nil, "", httpx.InvalidCursor()
	} else if ok {
		q = q.Where("(started_at < ? OR (started_at = ? AND id < ?))", after.StartedAt, after.StartedAt, after.ID)
	}
	var rows []runRow
	if err := q.Order("started_at DESC, id DESC").Limit(f.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		last := rows[len(rows)-1]
		next = cursor.Encode(runCursor{StartedAt: last.StartedAt.UTC(), ID: last.ID})
	}
	out := make([]Run, len(rows))
	for i, r := range rows {
		out[i] = r.run()
	}
	return out, next, nil
}
