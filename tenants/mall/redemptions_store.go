package mall

import (
	"context"
	"encoding/json"
	"time"

	"jifen/platform/storage"
)

func (st store) insertRedemption(ctx context.Context, r *Redemption) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		return storage.Translate(st.db.Conn(ctx).Create(r).Error, "redemption")
	})
}

// findRedemption returns a redemption; not_found when it is not in the
// tenant.
func (st store) findRedemption(ctx context.Context, id string) (Redemption, error) {
	var r Redemption
	err := st.db.Scoped(ctx).Where("id = ?", id).Take(&r).Error
	r.Grants.normalize()
	return r, storage.Translate(err, "redemption")
}

// moveRedemption applies sets to the redemption if its status is one of
// from, and reports whether it did.
func (st store) moveRedemption(ctx context.Context, id string, from []string, sets map[string]any) (bool, error) {
	var ok bool
	err := st.db.Tx(ctx, func(ctx context.Context) error {
		res := st.db.Scoped(ctx).Model(&Redemption{}).Where("id = ? AND status IN ?", id, from).Updates(sets)
		ok = res.RowsAffected == 1
		return res.Error
	})
	return ok, err
}

func (st store) setRefundEntry(ctx context.Context, id, entryID string) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		return st.db.Scoped(ctx).Model(&Redemption{}).Where("id = ?", id).Update("refund_entry_id", entryID).Error
	})
}

// addressValue is the stored form of an address in a map update, which
// bypasses the struct's JSON serializer.
func addressValue(a *Address) string {
	b, _ := json.Marshal(a)
	return string(b)
}

// redeemedSince sums what a member bought of an item with points since a
// time (all time for the zero time), leaving out cancelled redemptions.
func (st store) redeemedSince(ctx context.Context, memberID, itemID string, since time.Time) (int64, error) {
	q := st.db.Scoped(ctx).Model(&Redemption{}).
		Where("member_id = ? AND item_id = ? AND source = ? AND status <> ?", memberID, itemID, SourcePoints, StatusCancelled)
	if !since.IsZero() {
		q = q.Where("created_at >= ?", since)
	}
	var n int64
	err := q.Select("COALESCE(SUM(quantity), 0)").Scan(&n).Error
	return n, err
}

func (st store) findRedemptions(ctx context.Context, f RedemptionFilter) ([]Redemption, string, error) {
	q := st.db.Scoped(ctx).Model(&Redemption{})
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.MemberID != "" {
		q = q.Where("member_id = ?", f.MemberID)
	}
	if f.ItemID != "" {
		q = q.Where("item_id = ?", f.ItemID)
	}
	out, next, err := storage.FindPage[Redemption](q, f.Limit, f.Cursor, true)
	if err != nil {
		return nil, "", err
	}
	for i := range out {
		out[i].Grants.normalize()
	}
	return out, next, nil
}

// openGrants counts the coupons and codes a redemption granted that are
// neither used nor void.
func (st store) openGrants(ctx context.Context, redemptionID string) (int64, error) {
	var coupons, codes int64
	if err := st.db.Scoped(ctx).Model(&Coupon{}).Where("redemption_id = ? AND status = ?", redemptionID, CouponActive).Count(&coupons).Error; err != nil {
		return 0, err
	}
	if err := st.db.Scoped(ctx).Model(&Code{}).Where("redemption_id = ? AND status = ?", redemptionID, CodeAllocated).Count(&codes).Error; err != nil {
		return 0, err
	}
	return coupons + codes, nil
}
