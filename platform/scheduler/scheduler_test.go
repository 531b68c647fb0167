package scheduler

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestLocalHourRunsOncePerTenantPerLocalDate(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		clk := newClock()
		shanghai := routertest.CreateTenant(t, db, routertest.TenantOptions{TimeZone: "Asia/Shanghai"})
		newYork := routertest.CreateTenant(t, db, routertest.TenantOptions{TimeZone: "America/New_York"})
		rec := newRecorder()
		name := "settle." + uniq()
		job := Job{Name: name, Schedule: "@every 5m", PerTenant: true, LocalHour: 2, Run: rec.run(name, nil)}
		lease := "test-" + uniq()
		a := newReplica(t, db, clk, lease, job)
		b := newReplica(t, db, clk, lease, job)

		// tickBoth ticks both replicas a few times at each step from the
		// clock's time until until.
		tickBoth := func(until time.Time) {
			t.Helper()
			for !clk.Now().After(until) {
				for range 3 {
					tick(t, a)
					tick(t, b)
				}
				clk.Advance(5 * time.Minute)
			}
		}

		// 17:00Z: noon on Dec 1 in New York (past 02:00: due), 01:00 on
		// Dec 2 in Shanghai (not yet).
		tickBoth(t0.Add(55 * time.Minute))
		assertCalls(t, rec.of(name, newYork), t0)
		assertCalls(t, rec.of(name, shanghai))

		// 18:00Z is 02:00 on Dec 2 in Shanghai.
		tickBoth(t0.Add(2 * time.Hour))
		assertCalls(t, rec.of(name, newYork), t0)
		assertCalls(t, rec.of(name, shanghai), t0.Add(time.Hour))

		// The leader goes away; the other replica takes over and does not
		// repeat what was done.
		if err := a.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		// 07:00Z on Dec 2 is 02:00 on Dec 2 in New York.
		nyDay2 := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
		for !clk.Now().After(nyDay2.Add(30 * time.Minute)) {
			tick(t, b)
			tick(t, b)
			clk.Advance(5 * time.Minute)
		}
		tick(t, b)
		if !b.IsLeader() {
			t.Fatal("after a stopped: got b following, want b leading")
		}
		assertCalls(t, rec.of(name, newYork), t0, nyDay2)
		assertCalls(t, rec.of(name, shanghai), t0.Add(time.Hour))

		if got, want := keysOf(runsOf(t, b, name, RunFilter{TenantID: newYork})), []string{"2026-12-01:succeeded", "2026-12-02:succeeded"}; !reflect.DeepEqual(got, want) {
			t.Errorf("New York runs: got %v, want %v", got, want)
		}
		if got, want := keysOf(runsOf(t, b, name, RunFilter{TenantID: shanghai})), []string{"2026-12-02:succeeded"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Shanghai runs: got %v, want %v", got, want)
		}

		// A restarted process with the same jobs finds the day done.
		c := newReplica(t, db, clk, lease, job)
		if err := b.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		tick(t, c)
		assertCalls(t, rec.of(name, newYork), t0, nyDay2)
		assertCalls(t, rec.of(name, shanghai), t0.Add(time.Hour))
	})
}

// assertCalls checks that a tenant's job ran exactly at the given times.
func assertCalls(t *testing.T, calls []call, want ...time.Time) {
	t.Helper()
	got := make([]time.Time, len(calls))
	for i, c := range calls {
		got[i] = c.Now
	}
	if len(got) != len(want) {
		t.Fatalf("runs: got %v, want %v", got, want)
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Fatalf("runs: got %v, want %v", got, want)
		}
	}
}

func TestPerTenantJobCarriesTheTenant(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		tid := routertest.CreateTenant(t, db, routertest.TenantOptions{TimeZone: "America/New_York"})
		suspended := routertest.CreateTenant(t, db, routertest.TenantOptions{})
		if err := db.Tx(context.Background(), func(ctx context.Context) error {
			return db.Conn(ctx).Exec("UPDATE tenants SET status = 'suspended' WHERE id = ?", suspended).Error
		}); err != nil {
			t.Fatal(err)
		}
		var got platform.Tenant
		name := "tenant." + uniq()
		s := newReplica(t, db, clk, "test-"+uniq(), Job{Name: name, Schedule: "@hourly", PerTenant: true, LocalHour: -1,
			Run: func(ctx context.Context, now time.Time) (Result, error) {
				if tn, _ := platform.TenantFrom(ctx); tn.ID == tid {
					got = tn
				}
				if platform.TenantID(ctx) == suspended {
					return nil, errors.New("ran for a suspended tenant")
				}
				return nil, nil
			}})
		tick(t, s)
		if got.ID != tid || got.Status != "active" || got.TimeZone != "America/New_York" || got.Name == "" {
			t.Fatalf("tenant in the job's context: got %+v, want id %s, active, America/New_York, a name", got, tid)
		}
		if runs := runsOf(t, s, name, RunFilter{TenantID: suspended}); len(runs) != 0 {
			t.Fatalf("runs for a suspended tenant: got %d, want 0", len(runs))
		}
		if got, want := keysOf(runsOf(t, s, name, RunFilter{TenantID: tid})), []string{"2026-12-01T17:00:00Z:succeeded"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("runs: got %v, want %v", got, want)
		}
	})
}

func TestFailuresAndPanicsAreRecorded(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		good := routertest.CreateTenant(t, db, routertest.TenantOptions{})
		bad := routertest.CreateTenant(t, db, routertest.TenantOptions{})
		rec := newRecorder()
		u := uniq()
		ok, fails, panics, partly := "ok."+u, "fails."+u, "panics."+u, "partly."+u
		s := newReplica(t, db, clk, "test-"+u,
			Job{Name: fails, Schedule: "@every 1m", LocalHour: -1, Run: rec.run(fails, func(context.Context) (Result, error) {
				return Result{"done": 1}, errors.New("the warehouse did not answer")
			})},
			Job{Name: panics, Schedule: "@every 1m", LocalHour: -1, Run: rec.run(panics, func(context.Context) (Result, error) {
				panic("the job broke")
			})},
			Job{Name: ok, Schedule: "@every 1m", LocalHour: -1, Run: rec.run(ok, func(context.Context) (Result, error) {
				return Result{"members": 12, "expired": 3400}, nil
			})},
			Job{Name: partly, Schedule: "@every 1m", PerTenant: true, LocalHour: -1, Run: rec.run(partly, func(ctx context.Context) (Result, error) {
				if platform.TenantID(ctx) == bad {
					panic("bad tenant")
				}
				return nil, nil
			})},
		)
		tick(t, s)

		key := "2026-12-01T17:00:00Z"
		cases := []struct {
			job, tenant, status, errPrefix string
			result                         map[string]any
		}{
			{fails, "", StatusFailed, "the warehouse did not answer", map[string]any{"done": float64(1)}},
			{panics, "", StatusFailed, "panic: the job broke", nil},
			{ok, "", StatusSucceeded, "", map[string]any{"members": float64(12), "expired": float64(3400)}},
			{partly, bad, StatusFailed, "panic: bad tenant", nil},
			{partly, good, StatusSucceeded, "", nil},
		}
		for _, c := range cases {
			t.Run(c.job+c.tenant, func(t *testing.T) {
				runs := runsOf(t, s, c.job, RunFilter{TenantID: c.tenant})
				if len(runs) != 1 {
					t.Fatalf("runs: got %d, want 1", len(runs))
				}
				r := runs[0]
				if r.RunKey != key || r.Status != c.status || r.Attempts != 1 || r.FinishedAt == nil {
					t.Errorf("run: got key %s status %s attempts %d finished %v, want %s %s 1 set", r.RunKey, r.Status, r.Attempts, r.FinishedAt, key, c.status)
				}
				if !strings.HasPrefix(r.Error, c.errPrefix) || (c.errPrefix == "" && r.Error != "") {
					t.Errorf("error: got %q, want %q", r.Error, c.errPrefix)
				}
				if !reflect.DeepEqual(r.Result, c.result) {
					t.Errorf("result: got %v, want %v", r.Result, c.result)
				}
			})
		}

		// The scheduler keeps going: the next minute runs everything again.
		clk.Advance(time.Minute)
		tick(t, s)
		for _, name := range []string{ok, fails, panics} {
			if got := rec.count(name); got != 2 {
				t.Errorf("%s calls after two minutes: got %d, want 2", name, got)
			}
		}
	})
}

func TestFailedLocalHourRunIsRetried(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		rec := newRecorder()
		name := "retry." + uniq()
		failures := 1
		s := newReplica(t, db, clk, "test-"+uniq(), Job{Name: name, Schedule: "@every 5m", LocalHour: 0,
			Run: rec.run(name, func(context.Context) (Result, error) {
				if failures > 0 {
					failures--
					return nil, errors.New("flaky")
				}
				return nil, nil
			})})
		steps := []struct {
			advance time.Duration
			calls   int
			status  string
		}{
			{0, 1, StatusFailed},
			{5 * time.Minute, 1, StatusFailed},     // still backing off
			{15 * time.Minute, 2, StatusSucceeded}, // retried once the back-off has passed
			{20 * time.Minute, 2, StatusSucceeded}, // done for the day
		}
		for _, st := range steps {
			clk.Advance(st.advance)
			tick(t, s)
			if got := rec.count(name); got != st.calls {
				t.Fatalf("at %s: got %d calls, want %d", clk.Now(), got, st.calls)
			}
			runs := runsOf(t, s, name, RunFilter{})
			if len(runs) != 1 || runs[0].RunKey != "2026-12-01" || runs[0].Status != st.status || runs[0].Attempts != st.calls {
				t.Fatalf("at %s: got runs %+v, want one 2026-12-01 %s after %d attempts", clk.Now(), runs, st.status, st.calls)
			}
		}
	})
}

func TestRunLeftRunningByADeadProcess(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		cases := []struct {
			name      string
			startedAt time.Time
			calls     int
		}{
			{"within its timeout it is left alone", t0.Add(-30 * time.Minute), 0},
			{"past its timeout and grace it is run again", t0.Add(-DefaultTimeout - staleGrace - time.Minute), 1},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				rec := newRecorder()
				name := "stale." + uniq()
				s := newReplica(t, db, clk, "test-"+uniq(), Job{Name: name, Schedule: "@every 5m", LocalHour: 0, Run: rec.run(name, nil)})
				err := db.Tx(context.Background(), func(ctx context.Context) error {
					return db.Conn(ctx).Exec(`INSERT INTO job_runs (id, job, tenant_id, run_key, status, attempts, holder, started_at, result, error)
						VALUES (?, ?, '', '2026-12-01', 'running', 1, 'dead-process', ?, '', '')`, uniq()+uniq(), name, c.startedAt).Error
				})
				if err != nil {
					t.Fatal(err)
				}
				tick(t, s)
				if got := rec.count(name); got != c.calls {
					t.Fatalf("calls: got %d, want %d", got, c.calls)
				}
				runs := runsOf(t, s, name, RunFilter{})
				wantStatus, wantAttempts := StatusRunning, 1
				if c.calls == 1 {
					wantStatus, wantAttempts = StatusSucceeded, 2
				}
				if len(runs) != 1 || runs[0].Status != wantStatus || runs[0].Attempts != wantAttempts {
					t.Fatalf("runs: got %+v, want one %s after %d attempts", runs, wantStatus, wantAttempts)
				}
			})
		}
	})
}

func TestDisabledJobDoesNotRun(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		rec := newRecorder()
		on, off := "on."+uniq(), "off."+uniq()
		s := newReplica(t, db, clk, "test-"+uniq(),
			Job{Name: on, Schedule: "@every 1m", LocalHour: -1, Run: rec.run(on, nil)},
			Job{Name: off, Schedule: "@every 1m", LocalHour: -1, Run: rec.run(off, nil)})
		s.Config = map[string]JobConfig{off: {Disabled: true, RunAtStart: true}}
		for range 3 {
			tick(t, s)
			clk.Advance(time.Minute)
		}
		if got := rec.count(on); got != 3 {
			t.Errorf("enabled job: got %d calls, want 3", got)
		}
		if got := rec.count(off); got != 0 {
			t.Errorf("disabled job: got %d calls, want 0", got)
		}
		if _, err := s.RunNow(context.Background(), off); platform.ErrorCode(err) != platform.EConflict {
			t.Errorf("running a disabled job by hand: got %v, want conflict", err)
		}
	})
}

func TestRunAtStart(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		for _, atStart := range []bool{false, true} {
			t.Run(map[bool]string{false: "off", true: "on"}[atStart], func(t *testing.T) {
				clk := newClock()
				rec := newRecorder()
				// New Year's morning only: nothing is due on Dec 1.
				name := "yearly." + uniq()
				s := newReplica(t, db, clk, "test-"+uniq(), Job{Name: name, Schedule: "0 3 1 1 *", LocalHour: -1, Run: rec.run(name, nil)})
				s.Config = map[string]JobConfig{name: {RunAtStart: atStart}}
				for range 3 {
					tick(t, s)
					clk.Advance(time.Minute)
				}
				want := []string{}
				if atStart {
					want = []string{"start-2026-12-01T17:00:00Z:succeeded"}
				}
				if got := keysOf(runsOf(t, s, name, RunFilter{})); !reflect.DeepEqual(got, want) {
					t.Fatalf("runs: got %v, want %v", got, want)
				}
			})
		}
	})
}

func TestMissedSlotIsCaughtUpOnce(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		rec := newRecorder()
		name := "nightly." + uniq()
		job := Job{Name: name, Schedule: "0 3 * * *", LocalHour: -1, Run: rec.run(name, nil)}
		lease := "test-" + uniq()
		// Started at 17:00 after a night with no replica: today's 03:00 slot
		// runs once; a restart later that day finds it done.
		a := newReplica(t, db, clk, lease, job)
		tick(t, a)
		tick(t, a)
		if err := a.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		b := newReplica(t, db, clk, lease, job)
		tick(t, b)
		clk.Set(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC))
		tick(t, b)
		want := []string{"2026-12-01T03:00:00Z:succeeded", "2026-12-02T03:00:00Z:succeeded"}
		if got := keysOf(runsOf(t, b, name, RunFilter{})); !reflect.DeepEqual(got, want) {
			t.Fatalf("runs: got %v, want %v", got, want)
		}
		if got := rec.count(name); got != 2 {
			t.Fatalf("calls: got %d, want 2", got)
		}
	})
}

func TestNoOverlappingRunsInOneProcess(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		clk := newClock()
		name := "slow." + uniq()
		started, release := make(chan struct{}), make(chan struct{})
		calls := 0
		s := newReplica(t, db, clk, "test-"+uniq(), Job{Name: name, Schedule: "@every 1m", LocalHour: -1,
			Run: func(ctx context.Context, now time.Time) (Result, error) {
				calls++
				started <- struct{}{}
				<-release
				return nil, nil
			}})
		m, err := s.Trigger(ctx, name)
		if err != nil {
			t.Fatalf("trigger: %v", err)
		}
		<-started
		// The schedule comes round while the manual run still works: the
		// turn is skipped, and a second manual run is refused.
		tick(t, s)
		if _, err := s.Trigger(ctx, name); platform.ErrorCode(err) != platform.EConflict {
			t.Fatalf("second trigger: got %v, want conflict", err)
		}
		infos, err := s.Jobs(ctx)
		if err != nil || len(infos) != 1 || !infos[0].Running {
			t.Fatalf("jobs while running: got %+v %v, want one running", infos, err)
		}
		close(release)
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if calls != 1 {
			t.Fatalf("calls: got %d, want 1", calls)
		}
		want := []string{m.RunKey + ":succeeded"}
		if got := keysOf(runsOf(t, s, name, RunFilter{})); !reflect.DeepEqual(got, want) {
			t.Fatalf("runs: got %v, want %v", got, want)
		}
	})
}

func TestStopCancelsRunsThatOutliveItsContext(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		name := "stubborn." + uniq()
		started := make(chan struct{})
		s := newReplica(t, db, clk, "test-"+uniq(), Job{Name: name, Schedule: "@every 1m", LocalHour: -1,
			Run: func(ctx context.Context, now time.Time) (Result, error) {
				close(started)
				<-ctx.Done()
				return nil, ctx.Err()
			}})
		if _, err := s.Trigger(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		<-started
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		runs := runsOf(t, s, name, RunFilter{})
		if len(runs) != 1 || runs[0].Status != StatusFailed || runs[0].Error != context.Canceled.Error() {
			t.Fatalf("runs: got %+v, want one failed with %q", runs, context.Canceled)
		}
		if _, err := s.Trigger(context.Background(), name); platform.ErrorCode(err) != platform.EServiceUnavailable {
			t.Fatalf("trigger after stop: got %v, want service_unavailable", err)
		}
	})
}

func TestRegisterRefusesBadJobs(t *testing.T) {
	run := func(context.Context, time.Time) (Result, error) { return nil, nil }
	cases := []struct {
		name string
		job  Job
		want string
	}{
		{"bad name", Job{Name: "Points Settle", Schedule: "@daily", LocalHour: -1, Run: run}, "job name"},
		{"no run", Job{Name: "x", Schedule: "@daily", LocalHour: -1}, "no Run"},
		{"hour too late", Job{Name: "x", Schedule: "@daily", LocalHour: 24, Run: run}, "LocalHour"},
		{"hour too early", Job{Name: "x", Schedule: "@daily", LocalHour: -2, Run: run}, "LocalHour"},
		{"bad schedule", Job{Name: "x", Schedule: "every day", LocalHour: -1, Run: run}, "schedule"},
		{"empty schedule", Job{Name: "x", LocalHour: -1, Run: run}, "schedule"},
		{"never fires", Job{Name: "x", Schedule: "0 0 30 2 *", LocalHour: -1, Run: run}, "never fires"},
		{"negative timeout", Job{Name: "x", Schedule: "@daily", LocalHour: -1, Timeout: -time.Second, Run: run}, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(nil, newClock(), nil)
			err := s.Register(c.job)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error about %s", err, c.want)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		s := New(nil, newClock(), nil)
		j := Job{Name: "x", Schedule: "@daily", LocalHour: -1, Run: run}
		if err := s.Register(j); err != nil {
			t.Fatal(err)
		}
		if err := s.Register(j); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Fatalf("got %v, want an error about registering twice", err)
		}
	})
}

func TestConfigErrorsStopTheStart(t *testing.T) {
	run := func(context.Context, time.Time) (Result, error) { return nil, nil }
	cases := []struct {
		name string
		cfg  map[string]JobConfig
		want string
	}{
		{"unknown job", map[string]JobConfig{"pionts.settle": {Disabled: true}}, "not registered"},
		{"bad schedule override", map[string]JobConfig{"x": {Schedule: "99 * * * *"}}, "schedule"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(nil, newClock(), nil)
			if err := s.Register(Job{Name: "x", Schedule: "@daily", LocalHour: -1, Run: run}); err != nil {
				t.Fatal(err)
			}
			s.Config = c.cfg
			if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error about %s", err, c.want)
			}
		})
	}
}

func TestScheduleOverride(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		rec := newRecorder()
		name := "override." + uniq()
		s := newReplica(t, db, clk, "test-"+uniq(), Job{Name: name, Schedule: "0 3 1 1 *", LocalHour: -1, Run: rec.run(name, nil)})
		s.Config = map[string]JobConfig{name: {Schedule: "@every 10m"}}
		for range 4 {
			tick(t, s)
			clk.Advance(5 * time.Minute)
		}
		want := []string{"2026-12-01T17:00:00Z:succeeded", "2026-12-01T17:10:00Z:succeeded"}
		if got := keysOf(runsOf(t, s, name, RunFilter{})); !reflect.DeepEqual(got, want) {
			t.Fatalf("runs: got %v, want %v", got, want)
		}
		infos, err := s.Jobs(context.Background())
		if err != nil || len(infos) != 1 || infos[0].Schedule != "@every 10m" {
			t.Fatalf("jobs: got %+v %v, want the schedule @every 10m", infos, err)
		}
	})
}

func TestSchedules(t *testing.T) {
	at := time.Date(2026, 12, 1, 17, 3, 20, 0, time.UTC)
	cases := []struct {
		spec string
		next time.Time
	}{
		{"@every 5m", time.Date(2026, 12, 1, 17, 5, 0, 0, time.UTC)},
		{"@every 1h", time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)},
		{"@hourly", time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)},
		{"@daily", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		{"0 3 * * *", time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)},
		{"CRON_TZ=Asia/Shanghai 0 3 * * *", time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			s, err := parseSchedule(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(at); !got.Equal(c.next) {
				t.Fatalf("next after %s: got %s, want %s", at, got, c.next)
			}
		})
	}
	t.Run("latest slot", func(t *testing.T) {
		s, _ := parseSchedule("0 3 * * *")
		slot, ok := latestSlot(s, time.Time{}, at)
		if !ok || !slot.Equal(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)) {
			t.Fatalf("got %s %v, want today's 03:00", slot, ok)
		}
		if _, ok := latestSlot(s, time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC), at); ok {
			t.Fatal("a slot after now: got due, want not due")
		}
	})
}

func TestStartTakesTheLeaseAndRunsAtOnce(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		clk := newClock()
		name := "boot." + uniq()
		ran := make(chan time.Time, 1)
		s := newReplica(t, db, clk, "test-"+uniq(), Job{Name: name, Schedule: "0 3 1 1 *", LocalHour: -1,
			Run: func(ctx context.Context, now time.Time) (Result, error) {
				ran <- now
				return nil, nil
			}})
		s.Config = map[string]JobConfig{name: {RunAtStart: true}}
		if err := s.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		if now := <-ran; !now.Equal(t0) {
			t.Fatalf("run at start: got now %s, want %s", now, t0)
		}
		if err := s.Start(ctx); err == nil {
			t.Fatal("second start: got no error, want one")
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if l, err := s.CurrentLease(ctx); l != nil || err != nil {
			t.Fatalf("lease after stop: got %+v %v, want none", l, err)
		}
		if got := keysOf(runsOf(t, s, name, RunFilter{})); len(got) != 1 || got[0] != "start-2026-12-01T17:00:00Z:succeeded" {
			t.Fatalf("runs: got %v, want the start run", got)
		}
	})
}
