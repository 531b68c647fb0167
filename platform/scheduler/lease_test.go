package scheduler

import (
	"context"
	"testing"
	"time"

	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestLeaseOneLeaderAtATime(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		clk := newClock()
		lease := "test-" + uniq()
		rec := newRecorder()
		name := "lease." + uniq()
		job := Job{Name: name, Schedule: "@every 1m", LocalHour: -1, Run: rec.run(name, nil)}
		a := newReplica(t, db, clk, lease, job)
		b := newReplica(t, db, clk, lease, job)

		tick(t, a)
		tick(t, b)
		if !a.IsLeader() || b.IsLeader() {
			t.Fatalf("after both ticked: got leaders a=%v b=%v, want a only", a.IsLeader(), b.IsLeader())
		}
		if got := rec.count(name); got != 1 {
			t.Fatalf("job calls with a leading: got %d, want 1", got)
		}
		l, err := a.CurrentLease(ctx)
		if err != nil || l == nil || l.Holder != a.Holder() || !l.ExpiresAt.Equal(t0.Add(leaseTTL)) {
			t.Fatalf("current lease: got %+v %v, want holder %s until %s", l, err, a.Holder(), t0.Add(leaseTTL))
		}

		// The leader renews within the TTL and keeps the lease, however
		// long it holds it.
		for range 6 {
			clk.Advance(leaseRenewEvery)
			tick(t, a)
			tick(t, b)
			if !a.IsLeader() || b.IsLeader() {
				t.Fatalf("at %s: got leaders a=%v b=%v, want a only", clk.Now(), a.IsLeader(), b.IsLeader())
			}
		}

		// A follower never runs jobs, even when asked directly.
		before := rec.count(name)
		clk.Advance(time.Minute)
		if err := b.RunDue(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}
		if got := rec.count(name); got != before {
			t.Fatalf("job calls after the follower's RunDue: got %d, want %d", got, before)
		}

		// The leader stops: it gives the lease up and the other takes over
		// at its next tick, without waiting for the lease to expire.
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if l, _ := a.CurrentLease(ctx); l != nil {
			t.Fatalf("lease after the leader stopped: got %+v, want none", l)
		}
		tick(t, b)
		if !b.IsLeader() {
			t.Fatal("after the leader stopped: got b following, want b leading")
		}

		// The new leader dies without a word: once its lease has expired,
		// a third replica takes over, and the dead one can't come back.
		c := newReplica(t, db, clk, lease, job)
		tick(t, c)
		if c.IsLeader() {
			t.Fatal("while b's lease is live: got c leading, want following")
		}
		clk.Advance(leaseTTL + time.Second)
		if b.IsLeader() {
			t.Fatal("after b's lease expired: b still thinks it leads")
		}
		tick(t, c)
		tick(t, b)
		if !c.IsLeader() || b.IsLeader() {
			t.Fatalf("after b's lease expired: got leaders b=%v c=%v, want c only", b.IsLeader(), c.IsLeader())
		}
		l, _ = c.CurrentLease(ctx)
		if l == nil || l.Holder != c.Holder() {
			t.Fatalf("current lease: got %+v, want holder %s", l, c.Holder())
		}
	})
}

func TestLeaseRaceHasOneWinner(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		clk := newClock()
		lease := "test-" + uniq()
		const replicas = 8
		ss := make([]*Scheduler, replicas)
		for i := range ss {
			ss[i] = newReplica(t, db, clk, lease)
		}
		errs := make(chan error, replicas)
		for _, s := range ss {
			go func() { errs <- s.Tick(context.Background()) }()
		}
		for range replicas {
			if err := <-errs; err != nil {
				t.Fatalf("tick: %v", err)
			}
		}
		leaders := 0
		for _, s := range ss {
			if s.IsLeader() {
				leaders++
			}
		}
		if leaders != 1 {
			t.Fatalf("replicas racing for a new lease: got %d leaders, want 1", leaders)
		}
	})
}
