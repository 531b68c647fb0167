package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/ledger"
	"jifen/tenants/members"
)

// TestLedgerInvariantsUnderRandomOperations drives random credits, debits,
// holds, captures, releases, claw-backs under every refund policy,
// transfers, adjustments, reversals, pending releases and expiries over a
// few members with a clock that only moves forward, and checks every
// invariant of every member after each step. LEDGER_SEED replays a run;
// LEDGER_STEPS changes its length.
func TestLedgerInvariantsUnderRandomOperations(t *testing.T) {
	seed, steps := propertySeed(t)
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		p := newProperty(t, db, seed)
		for p.step = 1; p.step <= steps; p.step++ {
			p.once()
			for _, m := range p.members {
				p.e.checkInvariants(m)
			}
		}
		t.Logf("ops: %v", p.ops)
	})
}

// TestLedgerInvariantsWithManyOperationsPerTransaction runs the same random
// operations a few at a time inside one transaction, the way an event, a
// checkout or a mall order calls the ledger several times in its own: what
// the transaction remembers of a locked member's balance row must stay
// equal to the row through every kind of change. The invariants are
// checked after each commit. The refund policy is chosen before each
// transaction, since the ledger reads the tenant's settings once per
// transaction.
func TestLedgerInvariantsWithManyOperationsPerTransaction(t *testing.T) {
	seed, steps := propertySeed(t)
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		p := newProperty(t, db, seed)
		p.fixedPolicy = true
		for p.step = 1; p.step <= steps; {
			p.e.set("refund_policy", policies[p.rnd.IntN(len(policies))])
			n := 1 + p.rnd.IntN(8)
			err := db.Tx(p.e.ctx, func(ctx context.Context) error {
				p.ctx = ctx
				for range n {
					p.once()
					p.step++
				}
				return nil
			})
			p.ctx = p.e.ctx
			if err != nil {
				p.fatalf("commit: %v", err)
			}
			for _, m := range p.members {
				p.e.checkInvariants(m)
			}
		}
		t.Logf("ops: %v", p.ops)
	})
}

var policies = []string{ledger.PolicyPendingOnly, ledger.PolicyToZero, ledger.PolicyAllowNegative}

// propertySeed returns the seed (LEDGER_SEED, else the time) and the
// number of steps (LEDGER_STEPS, else 300) of a property run.
func propertySeed(t *testing.T) (uint64, int) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LEDGER_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	steps := 300
	if s := os.Getenv("LEDGER_STEPS"); s != "" {
		steps, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d (rerun with LEDGER_SEED=%d)", seed, seed)
	return seed, steps
}

// newProperty makes a tenant with transfers on, four members and a cause.
func newProperty(t *testing.T, db *storage.DB, seed uint64) *property {
	p := &property{t: t, e: newEnv(t, db), rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.ctx = p.e.ctx
	p.e.set("transfers_enabled", true)
	for i := 0; i < 4; i++ {
		p.members = append(p.members, p.e.member())
	}
	p.e.set("points_expiry_months", 1)
	cause, err := p.e.svc.CreateCause(p.e.ctx, ledger.CauseInput{Name: "cause"})
	if err != nil {
		t.Fatal(err)
	}
	p.cause = cause.ID
	return p
}

type property struct {
	t   *testing.T
	e   *env
	ctx context.Context // the tenant's, or a transaction's
	rnd *rand.Rand
	// fixedPolicy leaves the refund policy alone (it is chosen outside the
	// transaction the operations run in).
	fixedPolicy bool
	step        int
	members     []string
	cause       string
	// debits are the reversible debit entries, by member.
	debits []struct{ member, entry string }
	// reversed are entries already reversed.
	reversed []struct{ member, entry string }
	holds    []string
	ops      map[string]int
}

func (p *property) fatalf(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("step %d: %s", p.step, fmt.Sprintf(format, args...))
}

// expect fails unless err is nil or has one of the codes.
func (p *property) expect(op string, err error, codes ...string) bool {
	p.t.Helper()
	if err == nil {
		p.ops[op]++
		return true
	}
	for _, c := range codes {
		if platform.IsCode(err, c) {
			p.ops[op+" "+c]++
			return false
		}
	}
	p.fatalf("%s: unexpected error %v", op, err)
	return false
}

func (p *property) pick() string { return p.members[p.rnd.IntN(len(p.members))] }
func (p *property) order() string {
	return "o" + strconv.Itoa(p.rnd.IntN(6))
}

// view returns the member's settled points.
func (p *property) view(m string) members.PointsView {
	p.t.Helper()
	v, err := p.e.svc.PointsOf(p.ctx, m)
	if err != nil {
		p.fatalf("points: %v", err)
	}
	var duePending int64
	now := p.e.clock.Now()
	if err := p.e.db.Conn(p.ctx).Raw(`SELECT COUNT(*) FROM point_lots WHERE tenant_id = ? AND member_id = ?
		AND state = 'pending' AND pending_until <= ?`, p.e.tenant, m, now).Row().Scan(&duePending); err != nil {
		p.fatalf("due pending: %v", err)
	}
	if duePending != 0 {
		p.fatalf("a read left %d due lots pending", duePending)
	}
	return v
}

func (p *property) once() {
	if p.ops == nil {
		p.ops = map[string]int{}
	}
	e, ctx, now := p.e, p.ctx, p.e.clock.Now()
	switch r := p.rnd.IntN(100); {
	case r < 22: // credit
		m := p.pick()
		c := ledger.Credit{MemberID: m, Points: 1 + p.rnd.Int64N(200), Growth: p.rnd.Int64N(20),
			Kind: []string{ledger.KindEarn, ledger.KindEarn, ledger.KindRefund, ledger.KindAdjust}[p.rnd.IntN(4)]}
		if p.rnd.IntN(2) == 0 {
			c.OrderID = p.order()
		}
		if p.rnd.IntN(3) == 0 {
			c.PendingUntil = now.Add(time.Duration(1+p.rnd.IntN(5*24)) * time.Hour)
		}
		if p.rnd.IntN(3) == 0 {
			c.ExpiresAt = now.Add(time.Duration(6*24+p.rnd.IntN(40*24)) * time.Hour)
		}
		before := p.view(m)
		_, v, err := e.svc.Credit(ctx, c)
		p.expect("credit", err)
		if c.PendingUntil.IsZero() && (v.Available != before.Available+c.Points || v.Pending != before.Pending) {
			p.fatalf("credit %d: got %d/%d, want %d/%d", c.Points, v.Available, v.Pending, before.Available+c.Points, before.Pending)
		}
		if !c.PendingUntil.IsZero() && (v.Pending != before.Pending+c.Points || v.Available != before.Available) {
			p.fatalf("pending credit %d: got %d/%d, want %d/%d", c.Points, v.Available, v.Pending, before.Available, before.Pending+c.Points)
		}
	case r < 40: // debit
		m := p.pick()
		d := ledger.Debit{MemberID: m, Points: 1 + p.rnd.Int64N(150),
			Kind: []string{ledger.KindSpend, ledger.KindRedeem, ledger.KindAdjust}[p.rnd.IntN(3)]}
		before := p.view(m)
		en, v, err := e.svc.Debit(ctx, d)
		if p.expect("debit", err, platform.EInsufficientPoints) {
			if v.Available != before.Available-d.Points {
				p.fatalf("debit %d of %d: got %d available", d.Points, before.Available, v.Available)
			}
			p.debits = append(p.debits, struct{ member, entry string }{m, en.ID})
		} else if before.Available >= d.Points {
			p.fatalf("debit %d refused with %d available", d.Points, before.Available)
		}
	case r < 48: // hold
		m := p.pick()
		before := p.view(m)
		in := ledger.HoldInput{MemberID: m, OrderID: "h" + strconv.Itoa(p.step), Points: 1 + p.rnd.Int64N(100)}
		h, err := e.svc.CreateHold(ctx, in)
		if p.expect("hold", err, platform.EInsufficientPoints) {
			p.holds = append(p.holds, h.ID)
		} else if before.Available >= in.Points {
			p.fatalf("hold %d refused with %d available", in.Points, before.Available)
		}
	case r < 54: // capture or release a hold
		if len(p.holds) == 0 {
			return
		}
		id := p.holds[p.rnd.IntN(len(p.holds))]
		if p.rnd.IntN(2) == 0 {
			_, err := e.svc.CaptureHold(ctx, id)
			p.expect("capture", err, platform.EConflict)
		} else {
			_, err := e.svc.ReleaseHold(ctx, id)
			p.expect("release", err, platform.EConflict)
		}
	case r < 64: // claw-back under a random policy
		policy := policies[p.rnd.IntN(len(policies))]
		if p.fixedPolicy {
			policy = "as set"
		} else {
			e.set("refund_policy", policy)
		}
		_, _, err := e.svc.ClawBack(ctx, ledger.ClawBack{MemberID: p.pick(), OrderID: p.order(),
			Points: p.rnd.Int64N(150), Growth: p.rnd.Int64N(30), Reason: "refund " + policy})
		p.expect("clawback "+policy, err)
	case r < 71: // transfer
		from, to := p.pick(), p.pick()
		if from == to {
			return
		}
		before := p.view(from)
		n := 1 + p.rnd.Int64N(100)
		_, err := e.svc.Transfer(ctx, ledger.TransferInput{FromMemberID: from, ToMemberID: to, Points: n})
		if !p.expect("transfer", err, platform.EInsufficientPoints) && before.Available >= n {
			p.fatalf("transfer %d refused with %d available", n, before.Available)
		}
	case r < 76: // adjust
		delta := p.rnd.Int64N(200) - 100
		if delta == 0 {
			delta = 1
		}
		_, _, err := e.svc.Adjust(ctx, p.pick(), delta, "property adjust")
		p.expect("adjust", err, platform.EInsufficientPoints)
	case r < 83: // reverse a debit, or one already reversed
		if p.rnd.IntN(4) == 0 && len(p.reversed) > 0 {
			d := p.reversed[p.rnd.IntN(len(p.reversed))]
			_, _, err := e.svc.Reverse(ctx, d.member, d.entry, "again")
			if !platform.IsCode(err, platform.EConflict) {
				p.fatalf("second reverse: got %v, want conflict", err)
			}
			return
		}
		if len(p.debits) == 0 {
			return
		}
		i := p.rnd.IntN(len(p.debits))
		d := p.debits[i]
		p.debits = append(p.debits[:i], p.debits[i+1:]...)
		_, _, err := e.svc.Reverse(ctx, d.member, d.entry, "cancelled")
		p.expect("reverse", err)
		p.reversed = append(p.reversed, d)
	case r < 86: // donate
		_, err := e.svc.Donate(ctx, p.cause, ledger.DonationInput{MemberID: p.pick(), Points: 1 + p.rnd.Int64N(30)})
		p.expect("donate", err, platform.EInsufficientPoints)
	case r < 90: // a sweep
		_, err := e.svc.Sweep(ctx, now)
		p.expect("sweep", err)
	default: // time passes
		e.clock.Advance(time.Duration(p.rnd.IntN(4*24*60)) * time.Minute)
		p.ops["advance"]++
	}
}
