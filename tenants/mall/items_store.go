package mall

import (
	"context"
	"time"

	"gorm.io/gorm"

	"jifen/platform/storage"
)

// store reads and writes the mall's tables in the context's tenant. Every
// query starts at storage.DB.Scoped.
type store struct {
	db *storage.DB
}

func (st store) createItem(ctx context.Context, it *Item) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		return storage.Translate(st.db.Conn(ctx).Create(it).Error, "item")
	})
}

// findItem returns the item; not_found when it is not in the tenant.
func (st store) findItem(ctx context.Context, id string) (Item, error) {
	var it Item
	err := st.db.Scoped(ctx).Where("id = ?", id).Take(&it).Error
	return it, storage.Translate(err, "item")
}

// updateItem writes the editable fields (not kind, not stock).
func (st store) updateItem(ctx context.Context, it *Item) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		res := st.db.Scoped(ctx).Model(&Item{}).Where("id = ?", it.ID).Select(
			"name", "category", "description", "image_urls", "points_price", "cash_price_cents",
			"per_member_limit", "per_member_daily_limit", "per_member_monthly_limit", "min_tier_rank",
			"starts_at", "ends_at", "active", "coupon_template_id", "daily_prize_limit", "daily_points_limit", "updated_at",
		).Updates(it)
		if res.Error != nil {
			return storage.Translate(res.Error, "item")
		}
		if res.RowsAffected == 0 {
			return storage.Translate(storage.ErrNotFound, "item")
		}
		return nil
	})
}

// takeStock takes n from the item's stock if at least n is left, in one
// conditional statement; it reports whether it did. On MySQL the statement
// also takes the item's row lock, which queues concurrent buyers of a hot
// item behind it until the transaction ends.
func (st store) takeStock(ctx context.Context, id string, n int64, now time.Time) (bool, error) {
	return st.change(ctx, func(q *gorm.DB) *gorm.DB {
		return q.Model(&Item{}).Where("id = ? AND stock >= ?", id, n).
			Updates(map[string]any{"stock": gorm.Expr("stock - ?", n), "updated_at": now})
	})
}

// change runs one conditional write in a transaction (the context's, when
// it has one) and reports whether it changed a row.
func (st store) change(ctx context.Context, write func(q *gorm.DB) *gorm.DB) (bool, error) {
	var ok bool
	err := st.db.Tx(ctx, func(ctx context.Context) error {
		res := write(st.db.Scoped(ctx))
		ok = res.RowsAffected >= 1
		return res.Error
	})
	return ok, err
}

// adjustStock adds delta to the stock unless the result would be negative.
func (st store) adjustStock(ctx context.Context, id string, delta int64, now time.Time) (bool, error) {
	return st.change(ctx, func(q *gorm.DB) *gorm.DB {
		return q.Model(&Item{}).Where("id = ? AND stock + ? >= 0", id, delta).
			Updates(map[string]any{"stock": gorm.Expr("stock + ?", delta), "updated_at": now})
	})
}

func (st store) findItems(ctx context.Context, f ItemFilter) ([]Item, string, error) {
	q := st.db.Scoped(ctx).Model(&Item{})
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Category != "" {
		q = q.Where("category = ?", f.Category)
	}
	if f.Active != nil {
		q = q.Where("active = ?", *f.Active)
	}
	if f.OnSale {
		q = q.Where("active = ? AND stock > 0 AND (starts_at IS NULL OR starts_at <= ?) AND (ends_at IS NULL OR ends_at > ?)", true, f.now, f.now)
	}
	if f.MemberID != "" {
		q = q.Where("active = ? AND min_tier_rank <= ? AND (ends_at IS NULL OR ends_at > ?)", true, f.tierRank, f.now)
	}
	return storage.FindPage[Item](q, f.Limit, f.Cursor, true)
}

// findItemsByTierRank returns the id, name and min_tier_rank of the items
// members may see at now whose min_tier_rank is above low and at most
// high, ordered by min_tier_rank and id.
func (st store) findItemsByTierRank(ctx context.Context, low, high int, now time.Time) ([]Item, error) {
	var out []Item
	err := st.db.Scoped(ctx).Model(&Item{}).Select("id", "name", "min_tier_rank").
		Where("min_tier_rank > ? AND min_tier_rank <= ? AND active = ? AND (ends_at IS NULL OR ends_at > ?)", low, high, true, now).
		Order("min_tier_rank").Order("id").Find(&out).Error
	return out, storage.Translate(err, "item")
}
