package mall

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/storage"
)

func (st store) createBatch(ctx context.Context, b *CodeBatch) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		return storage.Translate(st.db.Conn(ctx).Create(b).Error, "code batch")
	})
}

// findBatch returns a batch; not_found when it is not in the tenant.
func (st store) findBatch(ctx context.Context, id string) (CodeBatch, error) {
	var b CodeBatch
	err := st.db.Scoped(ctx).Where("id = ?", id).Take(&b).Error
	return b, storage.Translate(err, "code batch")
}

func (st store) findBatches(ctx context.Context, itemID string, limit int, cur string) ([]CodeBatch, string, error) {
	q := st.db.Scoped(ctx).Model(&CodeBatch{})
	if itemID != "" {
		q = q.Where("item_id = ?", itemID)
	}
	return storage.FindPage[CodeBatch](q, limit, cur, true)
}

// openBatches lists an item's batches that have not ended, soonest end
// first.
func (st store) openBatches(ctx context.Context, itemID string, now time.Time) ([]CodeBatch, error) {
	var out []CodeBatch
	err := st.db.Scoped(ctx).Where("item_id = ? AND ends_at > ?", itemID, now).Order("ends_at, id").Find(&out).Error
	return out, err
}

// generateCodes inserts n fresh available codes into a batch, in chunks. A
// chunk that clashes with an existing code (80 random bits make this a
// curiosity) fails as a whole and is drawn again.
func (st store) generateCodes(ctx context.Context, b CodeBatch, n int, now time.Time) error {
	return st.db.Tx(ctx, func(ctx context.Context) error {
		tid := platform.TenantID(ctx)
		for done := 0; done < n; {
			size := min(codeInsertChunk, n-done)
			var err error
			for attempt := 0; attempt < codeAttempts; attempt++ {
				seen := make(map[string]bool, size)
				chunk := make([]Code, 0, size)
				for len(chunk) < size {
					c := newCode()
					if seen[c] {
						continue
					}
					seen[c] = true
					chunk = append(chunk, Code{TenantID: tid, ID: ids.NewAt(now), Code: c, BatchID: b.ID, ItemID: b.ItemID, Status: CodeAvailable, CreatedAt: now})
				}
				err = st.db.Conn(ctx).Create(&chunk).Error
				if !storage.IsUniqueViolation(err) {
					break
				}
			}
			if err != nil {
				return storage.Translate(err, "code")
			}
			done += size
		}
		return nil
	})
}

// codeCounts counts a batch's codes by status; every status is present.
func (st store) codeCounts(ctx context.Context, batchID string) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := st.db.Scoped(ctx).Model(&Code{}).Select("status, COUNT(*) AS n").Where("batch_id = ?", batchID).Group("status").Scan(&rows).Error
	out := map[string]int64{}
	for _, s := range codeStatuses {
		out[s] = 0
	}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}

func (st store) findCodes(ctx context.Context, batchID, status string, limit int, cur string) ([]Code, string, error) {
	q := st.db.Scoped(ctx).Model(&Code{}).Where("batch_id = ?", batchID)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	return storage.FindPage[Code](q, limit, cur, false)
}

// availableCode returns one available code of a batch, if any.
func (st store) availableCode(ctx context.Context, batchID string) (Code, bool, error) {
	var out []Code
	err := st.db.Scoped(ctx).Where("batch_id = ? AND status = ?", batchID, CodeAvailable).Order("id").Limit(1).Find(&out).Error
	if err != nil || len(out) == 0 {
		return Code{}, false, err
	}
	return out[0], true, nil
}

// moveCode applies sets to a code whose status is from, and reports whether
// it did.
func (st store) moveCode(ctx context.Context, id, from string, sets map[string]any) (bool, error) {
	var ok bool
	err := st.db.Tx(ctx, func(ctx context.Context) error {
		res := st.db.Scoped(ctx).Model(&Code{}).Where("id = ? AND status = ?", id, from).Updates(sets)
		ok = res.RowsAffected == 1
		return res.Error
	})
	return ok, err
}

// findCodeByCode returns the tenant's code and its batch; not_found
// otherwise, also for another tenant's code.
func (st store) findCodeByCode(ctx context.Context, code string) (Code, CodeBatch, error) {
	var c Code
	if err := st.db.Scoped(ctx).Where("code = ?", code).Take(&c).Error; storage.IsNotFound(err) {
		return Code{}, CodeBatch{}, errUnknownCode
	} else if err != nil {
		return Code{}, CodeBatch{}, err
	}
	b, err := st.findBatch(ctx, c.BatchID)
	return c, b, err
}

// voidCodes voids the allocated codes of a redemption and returns how many.
func (st store) voidCodes(ctx context.Context, redemptionID string) (int64, error) {
	var n int64
	err := st.db.Tx(ctx, func(ctx context.Context) error {
		res := st.db.Scoped(ctx).Model(&Code{}).Where("redemption_id = ? AND status = ?", redemptionID, CodeAllocated).
			Update("status", CodeVoid)
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}

func (st store) codesOfRedemption(ctx context.Context, redemptionID string) ([]Code, error) {
	var out []Code
	err := st.db.Scoped(ctx).Where("redemption_id = ?", redemptionID).Order("id").Find(&out).Error
	return out, err
}

// codeAttemptRow counts attempts at codes by one subject in one window.
type codeAttemptRow struct {
	TenantID    string    `gorm:"column:tenant_id;primaryKey"`
	Subject     string    `gorm:"column:subject;primaryKey"`
	WindowStart time.Time `gorm:"column:window_start;primaryKey"`
	Attempts    int       `gorm:"column:attempts"`
}

func (codeAttemptRow) TableName() string { return "mall_code_attempts" }

// countAttempt adds one attempt to the subject's window (an upsert, so
// concurrent attempts all count), forgets the subject's older windows, and
// returns the window's attempts.
func (st store) countAttempt(ctx context.Context, subject string, window time.Time) (int, error) {
	var n int
	err := st.db.Tx(ctx, func(ctx context.Context) error {
		row := codeAttemptRow{TenantID: platform.TenantID(ctx), Subject: subject, WindowStart: window, Attempts: 1}
		err := st.db.Conn(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "tenant_id"}, {Name: "subject"}, {Name: "window_start"}},
			DoUpdates: clause.Assignments(map[string]any{"attempts": gorm.Expr("attempts + 1")}),
		}).Create(&row).Error
		if err != nil {
			return err
		}
		if err := st.db.Scoped(ctx).Where("subject = ? AND window_start < ?", subject, window).Delete(&codeAttemptRow{}).Error; err != nil {
			return err
		}
		return st.db.Scoped(ctx).Model(&codeAttemptRow{}).Select("attempts").Where("subject = ? AND window_start = ?", subject, window).Scan(&n).Error
	})
	return n, err
}

// uncountAttempt takes one attempt back.
func (st store) uncountAttempt(ctx context.Context, subject string, window time.Time) error {
	_, err := st.change(ctx, func(q *gorm.DB) *gorm.DB {
		return q.Model(&codeAttemptRow{}).Where("subject = ? AND window_start = ? AND attempts > 0", subject, window).
			Update("attempts", gorm.Expr("attempts - 1"))
	})
	return err
}
