package mall

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jifen/platform"
	"jifen/platform/storage"
)

// replacePrizes retires a lottery's prizes and inserts new ones. Retired
// prizes stay so draws that name them still resolve.
func (st store) replacePrizes(ctx context.Context, lotteryID string, prizes []Prize) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		if err := st.db.Scoped(ctx).Model(&Prize{}).Where("item_id = ? AND retired = ?", lotteryID, false).
			Update("retired", true).Error; err != nil {
			return err
		}
		tid := platform.TenantID(ctx)
		for i := range prizes {
			prizes[i].TenantID = tid
		}
		if len(prizes) == 0 {
			return nil
		}
		return storage.Translate(st.db.Conn(ctx).Create(&prizes).Error, "prize")
	})
}

// prizesOf returns the current prizes of each lottery, in their order.
func (st store) prizesOf(ctx context.Context, lotteryIDs []string) (map[string][]Prize, error) {
	var rows []Prize
	err := st.db.Scoped(ctx).Where("item_id IN ? AND retired = ?", lotteryIDs, false).Order("item_id, position").Find(&rows).Error
	out := map[string][]Prize{}
	for _, p := range rows {
		out[p.LotteryID] = append(out[p.LotteryID], p)
	}
	return out, err
}

// takePrizeStock takes one of a prize's stock if any is left.
func (st store) takePrizeStock(ctx context.Context, id string) (bool, error) {
	return st.change(ctx, func(q *gorm.DB) *gorm.DB {
		return q.Model(&Prize{}).Where("id = ? AND stock >= 1", id).Update("stock", gorm.Expr("stock - 1"))
	})
}

// putPrize gives one back to a prize's stock (a cancelled prize
// redemption); a retired prize stays as it is.
func (st store) putPrize(ctx context.Context, id string) error {
	_, err := st.change(ctx, func(q *gorm.DB) *gorm.DB {
		return q.Model(&Prize{}).Where("id = ? AND retired = ?", id, false).Update("stock", gorm.Expr("stock + 1"))
	})
	return err
}

// lotteryDay counts what a lottery awarded on one local day.
type lotteryDay struct {
	TenantID string `gorm:"column:tenant_id;primaryKey"`
	ItemID   string `gorm:"column:item_id;primaryKey"`
	LocalDay string `gorm:"column:local_day;primaryKey"`
	Prizes   int    `gorm:"column:prizes"`
	Points   int64  `gorm:"column:points"`
}

func (lotteryDay) TableName() string { return "mall_lottery_days" }

// takeBudget counts one prize worth value points against the lottery's
// day if that stays within both daily caps (0 = no cap), in one
// conditional update, and reports whether it did.
func (st store) takeBudget(ctx context.Context, it Item, day string, value int64) (bool, error) {
	var ok bool
	err := st.db.Tx(ctx, func(ctx context.Context) error {
		row := lotteryDay{TenantID: platform.TenantID(ctx), ItemID: it.ID, LocalDay: day}
		if err := st.db.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return err
		}
		res := st.db.Scoped(ctx).Model(&lotteryDay{}).
			Where("item_id = ? AND local_day = ?", it.ID, day).
			Where("(? = 0 OR prizes + 1 <= ?) AND (? = 0 OR points + ? <= ?)",
				it.DailyPrizeLimit, it.DailyPrizeLimit, it.DailyPointsLimit, value, it.DailyPointsLimit).
			Updates(map[string]any{"prizes": gorm.Expr("prizes + 1"), "points": gorm.Expr("points + ?", value)})
		ok = res.RowsAffected == 1
		return res.Error
	})
	return ok, err
}

// releaseBudget takes back what takeBudget counted.
func (st store) releaseBudget(ctx context.Context, lotteryID, day string, value int64) error {
	_, err := st.change(ctx, func(q *gorm.DB) *gorm.DB {
		return q.Model(&lotteryDay{}).Where("item_id = ? AND local_day = ?", lotteryID, day).
			Updates(map[string]any{"prizes": gorm.Expr("prizes - 1"), "points": gorm.Expr("points - ?", value)})
	})
	return err
}

func (st store) insertDraw(ctx context.Context, d *Draw) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		return storage.Translate(st.db.Conn(ctx).Create(d).Error, "draw")
	})
}

// findDraw returns a draw; not_found when it is not in the tenant.
func (st store) findDraw(ctx context.Context, id string) (Draw, error) {
	var d Draw
	err := st.db.Scoped(ctx).Where("id = ?", id).Take(&d).Error
	return d, storage.Translate(err, "draw")
}

// drawsSince counts a member's draws of a lottery since a time (all time
// for the zero time).
func (st store) drawsSince(ctx context.Context, memberID, lotteryID string, since time.Time) (int64, error) {
	q := st.db.Scoped(ctx).Model(&Draw{}).Where("member_id = ? AND item_id = ?", memberID, lotteryID)
	if !since.IsZero() {
		q = q.Where("created_at >= ?", since)
	}
	var n int64
	err := q.Count(&n).Error
	return n, err
}

func (st store) findDraws(ctx context.Context, lotteryID string, f DrawFilter) ([]Draw, string, error) {
	q := st.db.Scoped(ctx).Model(&Draw{}).Where("item_id = ?", lotteryID)
	if f.MemberID != "" {
		q = q.Where("member_id = ?", f.MemberID)
	}
	return storage.FindPage[Draw](q, f.Limit, f.Cursor, true)
}
