package scheduler

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the tests use Asia/Shanghai and America/New_York

	"jifen/pkg/clock"
	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// t0 is a Tuesday afternoon in UTC: 01:00 the next day in Shanghai, noon in
// New York.
var t0 = time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)

// uniq returns a suffix that keeps one test's jobs and lease apart from
// another's in the shared MariaDB database.
func uniq() string { return ids.New()[16:] }

// newReplica returns a scheduler on db with its own holder id, sharing the
// lease named lease, stopped when the test ends.
func newReplica(t *testing.T, db *storage.DB, clk platform.Clock, lease string, jobs ...Job) *Scheduler {
	t.Helper()
	s := New(db, clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.LeaseName = lease
	if err := s.Register(jobs...); err != nil {
		t.Fatalf("register: %v", err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

// call is one invocation of a recorded job.
type call struct {
	TenantID string
	Now      time.Time
}

// recorder counts the calls of jobs by name.
type recorder struct {
	mu    sync.Mutex
	calls map[string][]call
}

func newRecorder() *recorder { return &recorder{calls: map[string][]call{}} }

// run returns a Run func that records its call and then does fn (nil: succeed).
func (r *recorder) run(name string, fn func(ctx context.Context) (Result, error)) func(context.Context, time.Time) (Result, error) {
	return func(ctx context.Context, now time.Time) (Result, error) {
		r.mu.Lock()
		r.calls[name] = append(r.calls[name], call{TenantID: platform.TenantID(ctx), Now: now})
		r.mu.Unlock()
		if fn != nil {
			return fn(ctx)
		}
		return Result{"ok": true}, nil
	}
}

// of returns the calls of a job for the given tenant.
func (r *recorder) of(name, tenantID string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls[name] {
		if c.TenantID == tenantID {
			out = append(out, c)
		}
	}
	return out
}

func (r *recorder) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls[name])
}

// tick calls Tick and fails the test on an error.
func tick(t *testing.T, s *Scheduler) {
	t.Helper()
	if err := s.Tick(context.Background()); err != nil {
		t.Fatalf("tick: %v", err)
	}
}

// runsOf returns the recorded runs of a job, newest first.
func runsOf(t *testing.T, s *Scheduler, job string, f RunFilter) []Run {
	t.Helper()
	f.Limit = 200
	runs, _, err := s.FindRuns(context.Background(), job, f)
	if err != nil {
		t.Fatalf("find runs of %s: %v", job, err)
	}
	return runs
}

// keysOf returns "key:status" of each run, sorted.
func keysOf(runs []Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.RunKey + ":" + r.Status
	}
	sort.Strings(out)
	return out
}

func newClock() *clock.Fake { return clock.NewFake(t0) }
