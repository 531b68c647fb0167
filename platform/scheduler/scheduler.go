// Package scheduler runs jifen's background jobs: named jobs on cron
// schedules (robfig/cron), run by one replica at a time (the holder of a
// database lease), once per run key (a row in job_runs claimed before the
// work starts), per tenant in the tenant's time zone where a job asks for
// it. Runs never overlap within a process, panics are recovered, and every
// run is recorded with its result or error. See docs/scheduler.md.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/storage"
)

// Timing of runs.
const (
	// DefaultTimeout bounds one run (one tenant's, for per-tenant jobs)
	// when a job sets no Timeout.
	DefaultTimeout = time.Hour
	// stopHardTimeout is how long Stop waits, after cancelling the runs, for
	// them to record how they ended.
	stopHardTimeout = 10 * time.Second
	// finishTimeout bounds the write that records how a run ended.
	finishTimeout = 10 * time.Second
	// lastRunsShown is how many recent runs the job list shows per job.
	lastRunsShown = 5
)

// Result is what a run reports, stored as JSON with the run: counts such as
// {"members": 12, "expired": 3400}.
type Result map[string]any

// Job is a named piece of background work.
type Job struct {
	// Name identifies the job in settings, run records and the API:
	// lower-case letters, digits, '.', '_' and '-', at most 64 characters.
	Name string
	// Schedule says when the job is due: a five-field cron spec read in UTC
	// ("0 3 * * *"), a descriptor ("@daily", "@every 5m", aligned to
	// multiples of the period), optionally prefixed with CRON_TZ=<zone>.
	// For LocalHour jobs it is how often to check which tenants are due.
	Schedule string
	// PerTenant jobs run once for every active tenant, with the tenant in
	// the context (platform.TenantFrom).
	PerTenant bool
	// LocalHour is -1 to run whenever the schedule is due. From 0 to 23, the
	// job runs for a tenant once per local date, at the first check at or
	// after that hour in the tenant's time zone (UTC for platform jobs).
	LocalHour int
	// Timeout bounds one run; DefaultTimeout when zero. A run still marked
	// running after Timeout plus a grace period is taken to belong to a dead
	// process and may be run again, so Run must honour ctx.
	Timeout time.Duration
	// Run does the work as of now. Its result and error are recorded.
	Run func(ctx context.Context, now time.Time) (Result, error)
}

// JobConfig is the operator's setting of a job.
type JobConfig struct {
	// Disabled jobs are neither scheduled nor run by hand.
	Disabled bool
	// RunAtStart runs the job once when this process first becomes the
	// leader, whatever its schedule says.
	RunAtStart bool
	// Schedule replaces the job's own schedule when set.
	Schedule string
}

// Auditor records platform actions; *audit.Log is one.
type Auditor interface {
	Record(ctx context.Context, action, targetType, targetID string, details map[string]any) error
}

// Scheduler runs registered jobs. Make it with New, set Config, Register
// the jobs, then Start it; Stop ends it. Tests drive it with Tick or RunDue
// instead of Start.
type Scheduler struct {
	DB    *storage.DB
	Clock platform.Clock
	Log   *slog.Logger
	// Config holds settings by job name; a name that is not registered is
	// an error at start.
	Config map[string]JobConfig
	// LeaseName is the scheduler_leases row the replicas compete for;
	// DefaultLeaseName when empty.
	LeaseName string
	// Audit, when set, records who ran a job by hand.
	Audit Auditor

	holder string

	mu         sync.Mutex
	entries    []*entry
	byName     map[string]*entry
	prepared   bool
	stopping   bool
	leaseUntil time.Time
	cron       *cron.Cron

	stopCtx  context.Context
	stopRuns context.CancelFunc
	// runs counts the dispatches in flight; loops the loop turns Start runs
	// outside the cron (whose own turns its Stop waits for).
	runs  sync.WaitGroup
	loops sync.WaitGroup

	runsTotal  *prometheus.CounterVec
	runSeconds *prometheus.HistogramVec
	leader     prometheus.Gauge
}

// entry is a registered job with its effective settings and schedule state.
type entry struct {
	job        Job
	spec       string
	sched      cron.Schedule
	enabled    bool
	runAtStart bool
	// next is the first slot not yet considered; zero means "look back
	// catchUpWindow", so a slot missed while no replica ran is caught up.
	next         time.Time
	startPending bool
	running      bool
}

// New returns a scheduler on db. Its lease holder id names this process.
func New(db *storage.DB, clk platform.Clock, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.Default()
	}
	host, _ := os.Hostname()
	stopCtx, stopRuns := context.WithCancel(context.Background())
	return &Scheduler{
		DB: db, Clock: clk, Log: log,
		holder:   fmt.Sprintf("%.60s/%d/%s", host, os.Getpid(), ids.New()),
		byName:   map[string]*entry{},
		stopCtx:  stopCtx,
		stopRuns: stopRuns,
		runsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jifen_job_runs_total", Help: "Job runs by job and outcome (succeeded or failed).",
		}, []string{"job", "status"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jifen_job_run_seconds", Help: "How long job runs take, per tenant for per-tenant jobs.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"job"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jifen_scheduler_leader", Help: "1 while this replica holds the scheduler lease.",
		}),
	}
}

// Collectors returns the scheduler's Prometheus metrics for registration.
func (s *Scheduler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.runsTotal, s.runSeconds, s.leader}
}

// Holder is this scheduler's lease holder id (host/pid/random).
func (s *Scheduler) Holder() string { return s.holder }

var jobName = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// Register adds jobs. It fails for a bad name, a name already registered, a
// schedule that does not parse, a LocalHour outside -1..23 or a missing
// Run, and once the scheduler has started.
func (s *Scheduler) Register(jobs ...Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prepared {
		return errors.New("scheduler: register jobs before Start or the first Tick")
	}
	for _, j := range jobs {
		switch {
		case !jobName.MatchString(j.Name):
			return fmt.Errorf("scheduler: job name %q must be lower-case letters, digits, '.', '_' or '-', at most 64", j.Name)
		case s.byName[j.Name] != nil:
			return fmt.Errorf("scheduler: job %q is registered twice", j.Name)
		case j.Run == nil:
			return fmt.Errorf("scheduler: job %q has no Run", j.Name)
		case j.LocalHour < -1 || j.LocalHour > 23:
			return fmt.Errorf("scheduler: job %q: LocalHour %d is not -1 or an hour from 0 to 23", j.Name, j.LocalHour)
		case j.Timeout < 0:
			return fmt.Errorf("scheduler: job %q: negative timeout", j.Name)
		}
		if _, err := parseSchedule(j.Schedule); err != nil {
			return fmt.Errorf("scheduler: job %q: schedule %q: %v", j.Name, j.Schedule, err)
		}
		if j.Timeout == 0 {
			j.Timeout = DefaultTimeout
		}
		e := &entry{job: j}
		s.entries = append(s.entries, e)
		s.byName[j.Name] = e
	}
	return nil
}

// prepare applies Config to the registered jobs once, before the first
// start, tick or manual run.
func (s *Scheduler) prepare() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prepared {
		return nil
	}
	for name := range s.Config {
		if s.byName[name] == nil {
			return fmt.Errorf("scheduler: settings name job %q, which is not registered", name)
		}
	}
	for _, e := range s.entries {
		cfg := s.Config[e.job.Name]
		e.spec = e.job.Schedule
		if cfg.Schedule != "" {
			e.spec = cfg.Schedule
		}
		sched, err := parseSchedule(e.spec)
		if err != nil {
			return fmt.Errorf("scheduler: job %q: schedule %q: %v", e.job.Name, e.spec, err)
		}
		e.sched = sched
		e.enabled = !cfg.Disabled
		e.runAtStart = cfg.RunAtStart
		e.startPending = cfg.RunAtStart && e.enabled
	}
	s.prepared = true
	return nil
}

// Start applies the settings and starts the cron loop: each job's schedule
// fires Tick, and the lease is renewed every leaseRenewEvery. ctx gives the
// runs their values only; Stop ends the scheduler.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.prepare(); err != nil {
		return err
	}
	base := context.WithoutCancel(ctx)
	c := cron.New(cron.WithLocation(time.UTC))
	s.mu.Lock()
	if s.stopping || s.cron != nil {
		s.mu.Unlock()
		return errors.New("scheduler: already started or stopped")
	}
	for _, e := range s.entries {
		if e.enabled {
			c.Schedule(e.sched, cron.FuncJob(func() { s.fire(base) }))
		}
	}
	c.Schedule(alignedEvery{leaseRenewEvery}, cron.FuncJob(func() { s.keepLease(base) }))
	s.cron = c
	s.loops.Add(1)
	s.mu.Unlock()
	c.Start()
	// Take the lease (and run what is due) at once rather than at the
	// first renewal.
	go func() {
		defer s.loops.Done()
		s.keepLease(base)
	}()
	return nil
}

// fire is what the cron loop runs when a job's schedule is due.
func (s *Scheduler) fire(ctx context.Context) {
	defer s.recoverLoop()
	if err := s.Tick(ctx); err != nil {
		s.Log.Error("scheduler tick failed", "err", err)
	}
}

// keepLease renews the lease; a replica that has just become the leader
// runs what is due at once (missed slots, run-at-start jobs) instead of
// waiting for the next slot.
func (s *Scheduler) keepLease(ctx context.Context) {
	defer s.recoverLoop()
	now := s.Clock.Now()
	s.mu.Lock()
	was := s.leaderAt(now)
	s.mu.Unlock()
	held, err := s.renewLease(ctx, now)
	if err != nil {
		s.Log.Error("scheduler lease renewal failed", "err", err)
		return
	}
	if held && !was {
		s.Log.Info("scheduler lease taken; this replica runs the jobs", "holder", s.holder)
		if err := s.RunDue(ctx, now); err != nil {
			s.Log.Error("scheduler run failed", "err", err)
		}
	} else if !held && was {
		s.Log.Warn("scheduler lease lost to another replica", "holder", s.holder)
	}
}

func (s *Scheduler) recoverLoop() {
	if p := recover(); p != nil {
		s.Log.Error("scheduler loop panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	}
}

// Stop ends the cron loop, waits for running jobs until ctx ends, then
// cancels those still running and waits up to stopHardTimeout for them to
// record how they ended, and finally releases the lease so another replica
// takes over at once.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	c := s.cron
	s.mu.Unlock()
	cronDone := context.Background()
	if c != nil {
		cronDone = c.Stop()
	}
	done := make(chan struct{})
	go func() {
		s.loops.Wait()
		if c != nil {
			<-cronDone.Done()
		}
		s.runs.Wait()
		close(done)
	}()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		s.stopRuns()
		select {
		case <-done:
		case <-time.After(stopHardTimeout):
			errs = append(errs, errors.New("scheduler: jobs still running after being cancelled"))
		}
	}
	s.stopRuns()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseReleaseTimeout)
	defer cancel()
	if err := s.releaseLease(rctx); err != nil {
		errs = append(errs, fmt.Errorf("scheduler: release lease: %w", err))
	}
	return errors.Join(errs...)
}

// Tick is one turn of the loop at the clock's time: take or renew the lease,
// then, as the leader, run the jobs that are due (see RunDue).
func (s *Scheduler) Tick(ctx context.Context) error {
	if err := s.prepare(); err != nil {
		return err
	}
	now := s.Clock.Now()
	if _, err := s.renewLease(ctx, now); err != nil {
		return err
	}
	return s.RunDue(ctx, now)
}

// IsLeader reports whether this scheduler holds the lease at the clock's
// time, as of its last renewal.
func (s *Scheduler) IsLeader() bool {
	now := s.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaderAt(now)
}

// dispatch is one run of a job to make: scheduled (key is the slot's, or
// per local date for LocalHour jobs), at start, or by hand.
type dispatch struct {
	e *entry
	// key is the run key of every tenant; "" means the local date of each.
	key string
}

// RunDue runs, when this scheduler holds the lease at now, every enabled job
// that is due at now, and returns when they have finished. A job still
// running from an earlier turn is skipped. Failed runs are recorded, not
// returned; the error is for what kept jobs from running at all.
func (s *Scheduler) RunDue(ctx context.Context, now time.Time) error {
	if err := s.prepare(); err != nil {
		return err
	}
	now = now.UTC()
	var todo []dispatch
	s.mu.Lock()
	if s.stopping || !s.leaderAt(now) {
		s.mu.Unlock()
		return nil
	}
	for _, e := range s.entries {
		if !e.enabled {
			continue
		}
		d, due := s.dueLocked(e, now)
		if !due {
			continue
		}
		if e.running {
			s.Log.Warn("job still running; this turn is skipped", "job", e.job.Name)
			continue
		}
		e.running = true
		s.runs.Add(1)
		todo = append(todo, d)
	}
	s.mu.Unlock()

	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, d := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.execute(ctx, d, now)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// dueLocked decides whether e is due at now and advances its state. The
// caller holds s.mu.
func (s *Scheduler) dueLocked(e *entry, now time.Time) (dispatch, bool) {
	if e.startPending {
		e.startPending = false
		e.next = e.sched.Next(now)
		if e.job.LocalHour >= 0 {
			return dispatch{e: e}, true
		}
		return dispatch{e: e, key: "start-" + slotKey(now)}, true
	}
	slot, ok := latestSlot(e.sched, e.next, now)
	if !ok {
		return dispatch{}, false
	}
	e.next = e.sched.Next(slot)
	if e.job.LocalHour >= 0 {
		return dispatch{e: e}, true
	}
	return dispatch{e: e, key: slotKey(slot)}, true
}

// ManualRun describes a run started by hand.
type ManualRun struct {
	Job       string    `json:"job"`
	RunKey    string    `json:"run_key"`
	StartedAt time.Time `json:"started_at"`
}

// RunNow runs a job by hand and returns when it has finished: for every
// active tenant (per-tenant jobs) whatever their local hour, under the run
// key "manual-<time>". It returns not_found for a job that is not
// registered and conflict when the job is disabled or already running in
// this process. It does not need the lease; the run key keeps it to one run.
func (s *Scheduler) RunNow(ctx context.Context, name string) (ManualRun, error) {
	d, m, err := s.beginManual(ctx, name)
	if err != nil {
		return ManualRun{}, err
	}
	return m, s.execute(ctx, d, m.StartedAt)
}

// Trigger is RunNow in the background: it returns as soon as the run has
// started. Stop waits for it.
func (s *Scheduler) Trigger(ctx context.Context, name string) (ManualRun, error) {
	d, m, err := s.beginManual(ctx, name)
	if err != nil {
		return ManualRun{}, err
	}
	go func() {
		if err := s.execute(context.WithoutCancel(ctx), d, m.StartedAt); err != nil {
			s.Log.Error("manual job run failed", "job", name, "err", err)
		}
	}()
	return m, nil
}

// beginManual marks the job running and audits who asked; the caller
// executes the dispatch.
func (s *Scheduler) beginManual(ctx context.Context, name string) (dispatch, ManualRun, error) {
	if err := s.prepare(); err != nil {
		return dispatch{}, ManualRun{}, err
	}
	now := s.Clock.Now().UTC()
	s.mu.Lock()
	e := s.byName[name]
	var err error
	switch {
	case e == nil:
		err = platform.NotFound("job")
	case !e.enabled:
		err = platform.Errorf(platform.EConflict, "The job %s is disabled in the settings; enable it to run it.", name)
	case e.running:
		err = platform.Errorf(platform.EConflict, "The job %s is already running on this replica; wait for it to finish.", name)
	case s.stopping:
		err = platform.Errorf(platform.EServiceUnavailable, "The scheduler is stopping; run the job on another replica.")
	}
	if err != nil {
		s.mu.Unlock()
		return dispatch{}, ManualRun{}, err
	}
	e.running = true
	s.runs.Add(1)
	s.mu.Unlock()
	key := "manual-" + now.Format("2006-01-02T15:04:05.000000Z")
	if s.Audit != nil {
		if err := s.Audit.Record(ctx, "job.run", "job", name, map[string]any{"run_key": key}); err != nil {
			s.mu.Lock()
			e.running = false
			s.mu.Unlock()
			s.runs.Done()
			return dispatch{}, ManualRun{}, err
		}
	}
	return dispatch{e: e, key: key}, ManualRun{Job: name, RunKey: key, StartedAt: now}, nil
}

// execute makes the runs of one dispatch, one tenant after another for
// per-tenant jobs, and marks the job idle again. The caller has set
// e.running and added to s.runs.
func (s *Scheduler) execute(ctx context.Context, d dispatch, now time.Time) error {
	defer func() {
		s.mu.Lock()
		d.e.running = false
		s.mu.Unlock()
		s.runs.Done()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(s.stopCtx, cancel)()
	defer cancel()

	j := d.e.job
	if !j.PerTenant {
		key, due := d.keyAt(time.UTC, now)
		if !due {
			return nil
		}
		existing, err := s.existingRuns(ctx, j.Name, map[string]string{"": key})
		if err != nil {
			return err
		}
		if r, ok := existing[""]; ok && !claimable(r, j.Timeout, now) {
			return nil
		}
		return s.runOne(ctx, j, "", key, now)
	}
	after := ""
	var errs []error
	for ctx.Err() == nil {
		page, err := s.activeTenants(ctx, after, tenantPage)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		keys := make(map[string]string, len(page))
		for _, t := range page {
			if key, due := d.keyAt(t.Location(), now); due {
				keys[t.ID] = key
			}
		}
		existing, err := s.existingRuns(ctx, j.Name, keys)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for _, t := range page {
			key, due := keys[t.ID]
			if !due {
				continue
			}
			if r, ok := existing[t.ID]; ok && !claimable(r, j.Timeout, now) {
				continue
			}
			if err := s.runOne(platform.WithTenant(ctx, t), j, t.ID, key, now); err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, err))
			}
		}
		if len(page) < tenantPage {
			break
		}
		after = page[len(page)-1].ID
	}
	return errors.Join(errs...)
}

// keyAt returns the run key at now in loc, and false when a LocalHour job
// is not due there yet.
func (d dispatch) keyAt(loc *time.Location, now time.Time) (string, bool) {
	if d.key != "" {
		return d.key, true
	}
	local := now.In(loc)
	if local.Hour() < d.e.job.LocalHour {
		return "", false
	}
	return local.Format("2006-01-02"), true
}

// runOne claims a run key and, when the claim is this process's, runs the
// job with a timeout and records how it ended. The error is for the
// bookkeeping; the job's own failure is recorded, not returned.
func (s *Scheduler) runOne(ctx context.Context, j Job, tenantID, key string, now time.Time) error {
	attempt, err := s.claim(ctx, j.Name, tenantID, key, j.Timeout, s.Clock.Now())
	if err != nil || attempt == 0 {
		return err
	}
	began := time.Now()
	rctx, cancel := context.WithTimeout(ctx, j.Timeout)
	res, runErr := s.call(rctx, j, tenantID, key, now)
	cancel()
	s.runSeconds.WithLabelValues(j.Name).Observe(time.Since(began).Seconds())
	status := StatusSucceeded
	if runErr != nil {
		status = StatusFailed
		s.Log.Error("job run failed", "job", j.Name, "tenant_id", tenantID, "run_key", key, "attempt", attempt, "err", runErr)
	} else {
		s.Log.Debug("job run succeeded", "job", j.Name, "tenant_id", tenantID, "run_key", key, "result", res)
	}
	s.runsTotal.WithLabelValues(j.Name, status).Inc()
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer fcancel()
	return s.finish(fctx, j.Name, tenantID, key, attempt, s.Clock.Now(), res, runErr)
}

// call runs the job, turning a panic into an error.
func (s *Scheduler) call(ctx context.Context, j Job, tenantID, key string, now time.Time) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.Log.Error("job panicked", "job", j.Name, "tenant_id", tenantID, "run_key", key,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return j.Run(ctx, now)
}

func (s *Scheduler) setLeaderGauge(held bool) {
	if held {
		s.leader.Set(1)
	} else {
		s.leader.Set(0)
	}
}

func (s *Scheduler) job(name string) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byName[name]
	return e, ok
}

// JobInfo describes a registered job for the API.
type JobInfo struct {
	Name       string `json:"name"`
	Schedule   string `json:"schedule"`
	PerTenant  bool   `json:"per_tenant"`
	LocalHour  *int   `json:"local_hour"`
	Enabled    bool   `json:"enabled"`
	RunAtStart bool   `json:"run_at_start"`
	// Running is true while this replica runs the job.
	Running bool `json:"running"`
	// NextCheckAt is the job's next slot by its schedule, nil when disabled.
	NextCheckAt *time.Time `json:"next_check_at"`
	LastRuns    []Run      `json:"last_runs"`
}

// Jobs returns the registered jobs in registration order, each with its
// most recent runs.
func (s *Scheduler) Jobs(ctx context.Context) ([]JobInfo, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	s.mu.Lock()
	out := make([]JobInfo, len(s.entries))
	for i, e := range s.entries {
		info := JobInfo{Name: e.job.Name, Schedule: e.spec, PerTenant: e.job.PerTenant, Enabled: e.enabled,
			RunAtStart: e.runAtStart, Running: e.running}
		if e.job.LocalHour >= 0 {
			h := e.job.LocalHour
			info.LocalHour = &h
		}
		if e.enabled {
			n := e.sched.Next(now).UTC()
			info.NextCheckAt = &n
		}
		out[i] = info
	}
	s.mu.Unlock()
	for i := range out {
		runs, _, err := s.FindRuns(ctx, out[i].Name, RunFilter{Limit: lastRunsShown})
		if err != nil {
			return nil, err
		}
		out[i].LastRuns = runs
	}
	return out, nil
}
