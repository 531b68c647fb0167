package scheduler

import (
	"context"
	"time"

	"jifen/platform/storage"
)

// Lease timing. A leader renews well before its lease runs out, so one
// missed renewal (a slow database, a GC pause) does not hand the jobs to
// another replica; a leader that dies is replaced within leaseTTL.
const (
	leaseTTL        = 30 * time.Second
	leaseRenewEvery = 10 * time.Second
	// leaseReleaseTimeout bounds the write that gives the lease up on Stop.
	leaseReleaseTimeout = 5 * time.Second
)

// DefaultLeaseName is the scheduler_leases row the replicas compete for.
const DefaultLeaseName = "scheduler"

// Lease is the current holder of a scheduler lease.
type Lease struct {
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
}

// renewLease takes the lease when it is free or expired, or extends it when
// this scheduler holds it, and remembers until when it is held. It reports
// whether this scheduler is the leader at now.
func (s *Scheduler) renewLease(ctx context.Context, now time.Time) (bool, error) {
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		// Stop gives the lease up; taking it again would hold it, idle,
		// until it expires.
		return false, nil
	}
	now = now.UTC().Truncate(time.Microsecond)
	until := now.Add(leaseTTL)
	held := false
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		res := s.DB.Conn(ctx).Exec(
			"UPDATE scheduler_leases SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?)",
			s.holder, until, s.leaseName(), s.holder, now)
		if res.Error != nil {
			return res.Error
		}
		held = res.RowsAffected == 1
		return nil
	})
	if err == nil && !held {
		// No row matched: either someone else holds a live lease, or the row
		// does not exist yet. The first insert wins; a unique violation means
		// another replica got there first.
		err = s.DB.Tx(ctx, func(ctx context.Context) error {
			return s.DB.Conn(ctx).Exec("INSERT INTO scheduler_leases (name, holder, expires_at) VALUES (?, ?, ?)",
				s.leaseName(), s.holder, until).Error
		})
		switch {
		case err == nil:
			held = true
		case storage.IsUniqueViolation(err):
			err = nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		// The database did not answer; keep what is known: a lease already
		// held stays valid until it expires.
		return s.leaderAt(now), err
	}
	if held {
		s.leaseUntil = until
	} else {
		s.leaseUntil = time.Time{}
	}
	s.setLeaderGauge(held)
	return held, nil
}

// releaseLease gives the lease up so another replica can take over at once
// instead of waiting for it to expire.
func (s *Scheduler) releaseLease(ctx context.Context) error {
	s.mu.Lock()
	s.leaseUntil = time.Time{}
	s.setLeaderGauge(false)
	s.mu.Unlock()
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		return s.DB.Conn(ctx).Exec("DELETE FROM scheduler_leases WHERE name = ? AND holder = ?", s.leaseName(), s.holder).Error
	})
}

// leaderAt reports whether the lease is held at now. The caller holds s.mu.
func (s *Scheduler) leaderAt(now time.Time) bool {
	return now.Before(s.leaseUntil)
}

// CurrentLease returns who holds the lease and until when, or nil when
// nobody does.
func (s *Scheduler) CurrentLease(ctx context.Context) (*Lease, error) {
	var rows []Lease
	err := s.DB.Conn(ctx).Raw("SELECT holder, expires_at FROM scheduler_leases WHERE name = ?", s.leaseName()).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	l := rows[0]
	l.ExpiresAt = l.ExpiresAt.UTC()
	if !l.ExpiresAt.After(s.Clock.Now()) {
		return nil, nil
	}
	return &l, nil
}

func (s *Scheduler) leaseName() string {
	if s.LeaseName == "" {
		return DefaultLeaseName
	}
	return s.LeaseName
}
