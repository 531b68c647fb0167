package auth

import (
	"sync"
	"time"

	"jifen/platform"
)

// Throttle limits failed logins per account and per client address within
// a sliding window. It lives in the process: with N replicas an attacker
// gets N times the allowance (see docs/decisions.md).
type Throttle struct {
	Clock         platform.Clock
	Window        time.Duration
	MaxPerAccount int
	MaxPerAddress int

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewThrottle returns a throttle with jifen's defaults: 5 failures per
// account and 20 per address in 15 minutes.
func NewThrottle(c platform.Clock) *Throttle {
	return &Throttle{Clock: c, Window: 15 * time.Minute, MaxPerAccount: 5, MaxPerAddress: 20, failures: map[string][]time.Time{}}
}

func (t *Throttle) recent(key string, now time.Time) []time.Time {
	list := t.failures[key]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= t.Window {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(t.failures, key)
	} else {
		t.failures[key] = list
	}
	return list
}

// Check returns rate_limited when the account or the address has failed
// too often lately.
func (t *Throttle) Check(email, ip string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Clock.Now()
	if len(t.recent("a:"+email, now)) >= t.MaxPerAccount || len(t.recent("i:"+ip, now)) >= t.MaxPerAddress {
		return platform.Errorf(platform.ERateLimited, "Too many failed logins; wait %d minutes and try again.", int(t.Window.Minutes()))
	}
	return nil
}

// Fail records a failed attempt.
func (t *Throttle) Fail(email, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Clock.Now()
	t.failures["a:"+email] = append(t.recent("a:"+email, now), now)
	t.failures["i:"+ip] = append(t.recent("i:"+ip, now), now)
}

// Succeed clears the account's failures; the address keeps its count so a
// guesser with one valid account can't reset it.
func (t *Throttle) Succeed(email string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, "a:"+email)
}
