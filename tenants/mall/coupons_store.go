package mall

import (
	"context"
	"time"

	"jifen/platform/storage"
)

// codeAttempts is how often an insert draws a fresh code after a unique
// violation; with 80 random bits a second attempt is already a curiosity.
const codeAttempts = 3

func (st store) createTemplate(ctx context.Context, t *CouponTemplate) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		return storage.Translate(st.db.Conn(ctx).Create(t).Error, "coupon template")
	})
}

// findTemplate returns a template; not_found when it is not in the tenant.
func (st store) findTemplate(ctx context.Context, id string) (CouponTemplate, error) {
	var t CouponTemplate
	err := st.db.Scoped(ctx).Where("id = ?", id).Take(&t).Error
	return t, storage.Translate(err, "coupon template")
}

func (st store) updateTemplate(ctx context.Context, t *CouponTemplate) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		return st.db.Scoped(ctx).Model(&CouponTemplate{}).Where("id = ?", t.ID).Updates(map[string]any{
			"name": t.Name, "valid_days": t.ValidDays, "active": t.Active, "updated_at": t.UpdatedAt,
		}).Error
	})
}

func (st store) findTemplates(ctx context.Context, limit int, cur string) ([]CouponTemplate, string, error) {
	q := st.db.Scoped(ctx).Model(&CouponTemplate{})
	return storage.FindPage[CouponTemplate](q, limit, cur, true)
}

// insertCoupon inserts c with a fresh code, drawing another on the
// (astronomically unlikely) clash with an existing code of the tenant. A
// failed insert rolls back only itself on both databases, so the
// transaction goes on.
func (st store) insertCoupon(ctx context.Context, c *Coupon) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		var err error
		for i := 0; i < codeAttempts; i++ {
			c.Code = newCode()
			err = st.db.Conn(ctx).Create(c).Error
			if !storage.IsUniqueViolation(err) {
				break
			}
		}
		return storage.Translate(err, "coupon")
	})
}

// findCouponByCode returns the tenant's coupon with the code; not_found
// otherwise, also for another tenant's code.
func (st store) findCouponByCode(ctx context.Context, code string) (Coupon, error) {
	var c Coupon
	err := st.db.Scoped(ctx).Where("code = ?", code).Take(&c).Error
	return c, storage.Translate(err, "coupon")
}

// useCoupon marks an active, unexpired coupon used, and reports whether it
// did.
func (st store) useCoupon(ctx context.Context, id string, now time.Time, amount, discount int64, orderRef string) (bool, error) {
	var ok bool
	err := st.db.Tx(ctx, func(ctx context.Context) error {
		res := st.db.Scoped(ctx).Model(&Coupon{}).
			Where("id = ? AND status = ? AND valid_until > ? AND valid_from <= ?", id, CouponActive, now, now).
			Updates(map[string]any{
				"status": CouponUsed, "used_at": now, "order_amount_cents": amount, "discount_cents": discount,
				"order_ref": orderRef, "updated_at": now,
			})
		ok = res.RowsAffected == 1
		return res.Error
	})
	return ok, err
}

// voidCoupons voids the active coupons of a redemption and returns how many
// it voided.
func (st store) voidCoupons(ctx context.Context, redemptionID string, now time.Time) (int64, error) {
	var n int64
	err := st.db.Tx(ctx, func(ctx context.Context) error {
		res := st.db.Scoped(ctx).Model(&Coupon{}).Where("redemption_id = ? AND status = ?", redemptionID, CouponActive).
			Updates(map[string]any{"status": CouponVoid, "updated_at": now})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}

func (st store) memberCoupons(ctx context.Context, memberID string, f CouponFilter) ([]Coupon, string, error) {
	q := st.db.Scoped(ctx).Model(&Coupon{}).Where("member_id = ?", memberID)
	switch f.Status {
	case CouponActive:
		q = q.Where("status = ? AND valid_until > ?", CouponActive, f.now)
	case CouponExpired:
		q = q.Where("status = ? AND valid_until <= ?", CouponActive, f.now)
	case CouponUsed, CouponVoid:
		q = q.Where("status = ?", f.Status)
	}
	return storage.FindPage[Coupon](q, f.Limit, f.Cursor, true)
}
