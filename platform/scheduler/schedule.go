package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// catchUpWindow bounds how far back a replica looks for a slot it missed
// (while it was not the leader, or stopped): at most one missed slot within
// this window is run, never a backlog.
const catchUpWindow = 48 * time.Hour

// specParser reads five-field cron specs ("0 3 * * *") and descriptors
// ("@daily", "@every 5m"), optionally prefixed with CRON_TZ=<zone>.
var specParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSchedule parses a job's schedule. Specs without a zone are read in
// UTC, not in the server's local zone, so every replica agrees on the slots.
// "@every d" becomes slots aligned to multiples of d, for the same reason:
// robfig's own "@every" counts from whenever the process started.
func parseSchedule(spec string) (cron.Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	full := spec
	if !strings.HasPrefix(spec, "TZ=") && !strings.HasPrefix(spec, "CRON_TZ=") {
		full = "CRON_TZ=UTC " + spec
	}
	s, err := specParser.Parse(full)
	if err != nil {
		return nil, err
	}
	if d, ok := s.(cron.ConstantDelaySchedule); ok {
		// robfig has already rounded the period to whole seconds, at least one.
		return alignedEvery{d.Delay}, nil
	}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("the schedule never fires")
	}
	return s, nil
}

// alignedEvery fires at every multiple of d (counted from the zero time,
// which lines up with UTC midnight for any d that divides a day).
type alignedEvery struct{ d time.Duration }

// Next returns the first multiple of d after t.
func (a alignedEvery) Next(t time.Time) time.Time {
	return t.UTC().Truncate(a.d).Add(a.d)
}

// latestSlot returns the last slot of sched at or before now, looking no
// further back than from (the first slot not yet considered) and
// catchUpWindow. ok is false when no slot is due.
func latestSlot(sched cron.Schedule, from, now time.Time) (slot time.Time, ok bool) {
	if floor := now.Add(-catchUpWindow); from.Before(floor) {
		from = sched.Next(floor.Add(-time.Second))
	}
	if from.IsZero() || from.After(now) {
		return time.Time{}, false
	}
	slot = from
	for {
		n := sched.Next(slot)
		if n.IsZero() || n.After(now) {
			return slot.UTC(), true
		}
		slot = n
	}
}

// slotKey is the run key of a scheduled slot: its UTC time to the second,
// the finest granularity a schedule has.
func slotKey(slot time.Time) string {
	return slot.UTC().Format("2006-01-02T15:04:05Z")
}
