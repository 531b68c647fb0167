package mall_test

import (
	"context"
	"errors"
	"fmt"
	"jifen/pkg/benchrun"
	"testing"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/mall"
)

const (
	benchMembers     = 64
	benchItems       = 64 // items of the "many" shape
	benchParallelism = 4  // goroutines per GOMAXPROCS
)

// BenchmarkRedeem measures redemptions per second on one hot item (every
// buyer queues on its stock row) and spread over many items, through the
// service and as the same writes in raw SQL (member lock, conditional
// balance update, lot consumption, ledger entry and draw, conditional stock
// update, redemption row, audit record), so the cost of the service's
// reads and checks shows beside the floor the writes set.
func BenchmarkRedeem(b *testing.B) {
	for _, dialect := range storagetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			db := storagetest.Open(b, dialect)
			for _, shape := range []struct {
				name  string
				items int
			}{{"hot_item", 1}, {"many_items", benchItems}} {
				// Fixtures are made once per shape: the benchmark functions
				// run several times while the framework sizes b.N.
				e, members, items := benchSetup(b, db, shape.items)
				b.Run(shape.name+"/service", func(b *testing.B) {
					runRedeem(b, members, items, func(m, it string) error {
						_, err := e.svc.Redeem(e.ctx, mall.RedeemInput{MemberID: m, ItemID: it})
						return err
					})
				})
				// Raw SQL keeps balances the ledger would not recognise, so
				// it gets members of its own.
				re, rawMembers, rawItems := benchSetup(b, db, shape.items)
				b.Run(shape.name+"/raw_sql", func(b *testing.B) {
					runRedeem(b, rawMembers, rawItems, func(m, it string) error { return rawRedeem(re, m, it) })
				})
			}
		})
	}
}

// benchSetup makes a tenant with members rich enough for any run and
// items with stock to match.
func benchSetup(b *testing.B, db *storage.DB, items int) (*env, []string, []string) {
	b.Helper()
	e := newEnv(b, db)
	ms := make([]string, benchMembers)
	for i := range ms {
		ms[i] = e.member(1_000_000_000)
	}
	its := make([]string, items)
	for i := range its {
		its[i] = e.item(map[string]any{"name": fmt.Sprintf("item %d", i), "stock": 1_000_000_000, "points_price": 10})
	}
	return e, ms, its
}

// runRedeem redeems from parallel goroutines, spreading over members and
// items, and reports throughput and latency percentiles.
func runRedeem(b *testing.B, members, items []string, redeem func(member, item string) error) {
	benchrun.Parallel(b, benchParallelism, "redemptions", func(n int64) error {
		return redeem(members[n%int64(len(members))], items[n%int64(len(items))])
	})
}

// rawRedeem writes what a redemption writes, by hand, in one transaction.
func rawRedeem(e *env, memberID, itemID string) error {
	const price = 10
	db := e.db
	return db.Tx(e.ctx, func(ctx context.Context) error {
		c := db.Conn(ctx)
		tid, now := platform.TenantID(ctx), e.clock.Now()
		lock := "SELECT id FROM members WHERE tenant_id = ? AND id = ?"
		if db.Dialect == storage.MySQL {
			lock += " FOR UPDATE"
		}
		var id string
		if err := c.Raw(lock, tid, memberID).Row().Scan(&id); err != nil {
			return err
		}
		res := c.Exec("UPDATE point_balances SET available = available - ?, seq = seq + 1, updated_at = ? WHERE tenant_id = ? AND member_id = ? AND available >= ?",
			price, now, tid, memberID, price)
		if res.Error != nil || res.RowsAffected != 1 {
			return errors.Join(res.Error, errors.New("balance not debited"))
		}
		var seq, available int64
		if err := c.Raw("SELECT seq, available FROM point_balances WHERE tenant_id = ? AND member_id = ?", tid, memberID).Row().Scan(&seq, &available); err != nil {
			return err
		}
		var lot string
		if err := c.Raw("SELECT id FROM point_lots WHERE tenant_id = ? AND member_id = ? AND state = 'open' ORDER BY expires_at, id LIMIT 1", tid, memberID).Row().Scan(&lot); err != nil {
			return err
		}
		if err := c.Exec("UPDATE point_lots SET remaining = remaining - ?, updated_at = ? WHERE tenant_id = ? AND id = ?", price, now, tid, lot).Error; err != nil {
			return err
		}
		entry, rid := ids.NewAt(now), ids.NewAt(now)
		if err := c.Exec(`INSERT INTO ledger_entries (tenant_id, id, member_id, seq, kind, points, balance_after, reason, ref, order_id, source, created_at)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, tid, entry, memberID, seq, "redeem", -price, available, "Redeemed", "mall_redemption:"+rid, "", "", now).Error; err != nil {
			return err
		}
		if err := c.Exec("INSERT INTO point_draws (tenant_id, entry_id, lot_id, points) VALUES (?,?,?,?)", tid, entry, lot, price).Error; err != nil {
			return err
		}
		res = c.Exec("UPDATE mall_items SET stock = stock - 1, updated_at = ? WHERE tenant_id = ? AND id = ? AND stock >= 1", now, tid, itemID)
		if res.Error != nil || res.RowsAffected != 1 {
			return errors.Join(res.Error, errors.New("out of stock"))
		}
		if err := c.Exec(`INSERT INTO mall_redemptions (tenant_id, id, member_id, item_id, item_name, item_kind, source, quantity, points_spent,
			status, shipping_address, grants, ledger_entry_id, created_at, updated_at, fulfilled_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			tid, rid, memberID, itemID, "item", "virtual", "points", 1, price, "fulfilled", nil, `{"coupons":[],"codes":[]}`, entry, now, now, now).Error; err != nil {
			return err
		}
		return c.Exec("INSERT INTO audit_log (tenant_id, id, actor, action, target_type, target_id, details, created_at) VALUES (?,?,?,?,?,?,?,?)",
			tid, ids.NewAt(now), "bench", "mall.redemption.create", "mall_redemption", rid, "{}", now).Error
	})
}
