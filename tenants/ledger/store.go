package ledger

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"jifen/platform"
	"jifen/platform/storage"
)

// Lot states.
const (
	lotPending = "pending" // not spendable until pending_until
	lotOpen    = "open"    // spendable, remaining > 0
	lotClosed  = "closed"  // remaining = 0
)

// Entry sources: what wrote an entry, beyond its kind. Entries written by a
// hold, a transfer or a donation are undone only through their own flow.
const (
	sourceDirect   = ""
	sourceHold     = "hold"
	sourceTransfer = "transfer"
	sourceDonation = "donation"
	sourceClawBack = "clawback"
	sourceSettle   = "settle"
)

// neverExpires is the expiry of lots of tenants whose points never expire
// (points_expiry_months = 0).
var neverExpires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// lotPageSize is how many lots one query reads while drawing FIFO.
const lotPageSize = 100

type balanceRow struct {
	TenantID       string     `gorm:"column:tenant_id"`
	MemberID       string     `gorm:"column:member_id"`
	Available      int64      `gorm:"column:available"`
	Pending        int64      `gorm:"column:pending"`
	Debt           int64      `gorm:"column:debt"`
	LifetimeEarned int64      `gorm:"column:lifetime_earned"`
	Growth         int64      `gorm:"column:growth"`
	Seq            int64      `gorm:"column:seq"`
	NextDueAt      *time.Time `gorm:"column:next_due_at"`
	CreatedAt      time.Time  `gorm:"column:created_at"`
	UpdatedAt      time.Time  `gorm:"column:updated_at"`
}

func (balanceRow) TableName() string { return "point_balances" }

// due reports whether something of the account falls due at or before now.
func (b balanceRow) due(now time.Time) bool {
	return b.NextDueAt != nil && !b.NextDueAt.After(now)
}

type entryRow struct {
	TenantID     string    `gorm:"column:tenant_id"`
	ID           string    `gorm:"column:id"`
	MemberID     string    `gorm:"column:member_id"`
	Seq          int64     `gorm:"column:seq"`
	Kind         string    `gorm:"column:kind"`
	Points       int64     `gorm:"column:points"`
	BalanceAfter int64     `gorm:"column:balance_after"`
	Reason       string    `gorm:"column:reason"`
	Ref          string    `gorm:"column:ref"`
	OrderID      string    `gorm:"column:order_id"`
	Source       string    `gorm:"column:source"`
	ReversesID   *string   `gorm:"column:reverses_id"`
	Shortfall    int64     `gorm:"column:shortfall"`
	CreatedAt    time.Time `gorm:"column:created_at"`
}

func (entryRow) TableName() string { return "ledger_entries" }

func (e entryRow) api() Entry {
	out := Entry{
		ID: e.ID, MemberID: e.MemberID, Kind: e.Kind, Points: e.Points, BalanceAfter: e.BalanceAfter,
		Reason: e.Reason, Ref: e.Ref, CreatedAt: e.CreatedAt.UTC(), OrderID: e.OrderID, Shortfall: e.Shortfall,
	}
	if e.ReversesID != nil {
		out.ReversesID = *e.ReversesID
	}
	return out
}

type lotRow struct {
	TenantID     string     `gorm:"column:tenant_id"`
	ID           string     `gorm:"column:id"`
	MemberID     string     `gorm:"column:member_id"`
	EntryID      string     `gorm:"column:entry_id"`
	OrderID      string     `gorm:"column:order_id"`
	Points       int64      `gorm:"column:points"`
	Remaining    int64      `gorm:"column:remaining"`
	State        string     `gorm:"column:state"`
	PendingUntil *time.Time `gorm:"column:pending_until"`
	ExpiresAt    time.Time  `gorm:"column:expires_at"`
	CreatedAt    time.Time  `gorm:"column:created_at"`
	UpdatedAt    time.Time  `gorm:"column:updated_at"`
}

func (lotRow) TableName() string { return "point_lots" }

type drawRow struct {
	TenantID string `gorm:"column:tenant_id"`
	EntryID  string `gorm:"column:entry_id"`
	LotID    string `gorm:"column:lot_id"`
	Points   int64  `gorm:"column:points"`
}

func (drawRow) TableName() string { return "point_draws" }

type growthRow struct {
	TenantID  string    `gorm:"column:tenant_id"`
	ID        string    `gorm:"column:id"`
	MemberID  string    `gorm:"column:member_id"`
	Delta     int64     `gorm:"column:delta"`
	EntryID   string    `gorm:"column:entry_id"`
	Ref       string    `gorm:"column:ref"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (growthRow) TableName() string { return "growth_changes" }

type holdRow struct {
	TenantID       string     `gorm:"column:tenant_id"`
	ID             string     `gorm:"column:id"`
	MemberID       string     `gorm:"column:member_id"`
	OrderID        string     `gorm:"column:order_id"`
	Points         int64      `gorm:"column:points"`
	Status         string     `gorm:"column:status"`
	EntryID        string     `gorm:"column:entry_id"`
	ReleaseEntryID *string    `gorm:"column:release_entry_id"`
	ExpiresAt      time.Time  `gorm:"column:expires_at"`
	CapturedAt     *time.Time `gorm:"column:captured_at"`
	ReleasedAt     *time.Time `gorm:"column:released_at"`
	CreatedAt      time.Time  `gorm:"column:created_at"`
	UpdatedAt      time.Time  `gorm:"column:updated_at"`
}

func (holdRow) TableName() string { return "point_holds" }

func (h holdRow) api() Hold {
	return Hold{
		ID: h.ID, MemberID: h.MemberID, OrderID: h.OrderID, Status: h.Status, Points: h.Points,
		EntryID: h.EntryID, ExpiresAt: h.ExpiresAt.UTC(), CreatedAt: h.CreatedAt.UTC(),
		CapturedAt: utcPtr(h.CapturedAt), ReleasedAt: utcPtr(h.ReleasedAt),
	}
}

type causeRow struct {
	TenantID    string    `gorm:"column:tenant_id"`
	ID          string    `gorm:"column:id"`
	Name        string    `gorm:"column:name"`
	Description string    `gorm:"column:description"`
	TotalPoints int64     `gorm:"column:total_points"`
	Donations   int64     `gorm:"column:donations"`
	CreatedAt   time.Time `gorm:"column:created_at"`
	UpdatedAt   time.Time `gorm:"column:updated_at"`
}

func (causeRow) TableName() string { return "point_causes" }

func (c causeRow) api() Cause {
	return Cause{ID: c.ID, Name: c.Name, Description: c.Description, TotalPoints: c.TotalPoints,
		Donations: c.Donations, CreatedAt: c.CreatedAt.UTC()}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// settings are the tenant's columns the ledger reads.
type settings struct {
	TimeZone            string `gorm:"column:time_zone"`
	PointsExpiryMonths  int    `gorm:"column:points_expiry_months"`
	PointsPerUnit       int64  `gorm:"column:points_per_unit"`
	MaxDeductionPercent int64  `gorm:"column:max_deduction_percent"`
	PointsPendingDays   int    `gorm:"column:points_pending_days"`
	RefundPolicy        string `gorm:"column:refund_policy"`
	TransfersEnabled    bool   `gorm:"column:transfers_enabled"`
	TransferDailyCap    int64  `gorm:"column:transfer_daily_cap"`
	HoldMinutes         int    `gorm:"column:hold_minutes"`
}

// store is the ledger's tenant-scoped data access. Every query of a
// tenant-owned table starts at db.Scoped; inserts carry the tenant id of
// the context.
type store struct {
	db *storage.DB
}

func (s store) scoped(ctx context.Context, table string) *gorm.DB {
	return s.db.Scoped(ctx).Table(table)
}

// settingsKey names the tenant's settings in the transaction's cache.
type settingsKey struct{ tenantID string }

// loadSettings reads the tenant's ledger settings, once per transaction:
// an event, a checkout or a transfer asks for them several times, and a
// change of the settings is a request of its own.
func (s store) loadSettings(ctx context.Context) (settings, error) {
	var cfg settings
	tid := platform.TenantID(ctx)
	if tid == "" {
		return cfg, errors.New("ledger: no tenant in the context")
	}
	cache := storage.TxCache(ctx)
	if v, ok := cache.Get(settingsKey{tid}); ok {
		return v.(settings), nil
	}
	res := s.db.Conn(ctx).Raw(`SELECT time_zone, points_expiry_months, points_per_unit, max_deduction_percent,
		points_pending_days, refund_policy, transfers_enabled, transfer_daily_cap, hold_minutes
		FROM tenants WHERE id = ?`, tid).Scan(&cfg)
	if res.Error != nil {
		return cfg, res.Error
	}
	if res.RowsAffected == 0 {
		return cfg, platform.NotFound("tenant")
	}
	cache.Set(settingsKey{tid}, cfg)
	return cfg, nil
}

// loadBalance reads the member's balance row; found is false when the
// member has none yet.
func (s store) loadBalance(ctx context.Context, memberID string) (b balanceRow, found bool, err error) {
	var rows []balanceRow
	err = s.scoped(ctx, "point_balances").Where("member_id = ?", memberID).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return b, false, err
	}
	return rows[0], true, nil
}

func (s store) loadBalances(ctx context.Context, memberIDs []string) ([]balanceRow, error) {
	var rows []balanceRow
	err := s.scoped(ctx, "point_balances").Where("member_id IN ?", memberIDs).Find(&rows).Error
	return rows, err
}

func (s store) insertBalance(ctx context.Context, b *balanceRow) error {
	return storage.Translate(s.db.Conn(ctx).Create(b).Error, "points balance")
}

// updateBalance applies cols to the member's balance row. When need > 0 the
// update happens only while available >= need, the guard that makes an
// overdraw impossible whatever else went wrong; it returns the rows
// matched.
func (s store) updateBalance(ctx context.Context, memberID string, cols map[string]any, need int64) (int64, error) {
	q := s.scoped(ctx, "point_balances").Where("member_id = ?", memberID)
	if need > 0 {
		q = q.Where("available >= ?", need)
	}
	res := q.UpdateColumns(cols)
	return res.RowsAffected, res.Error
}

func (s store) insertEntry(ctx context.Context, e *entryRow) error {
	err := s.db.Conn(ctx).Create(e).Error
	if storage.IsUniqueViolation(err) && e.ReversesID != nil {
		return errAlreadyReversed()
	}
	return storage.Translate(err, "ledger entry")
}

func (s store) findEntry(ctx context.Context, memberID, id string) (entryRow, error) {
	var e entryRow
	err := s.scoped(ctx, "ledger_entries").Where("member_id = ? AND id = ?", memberID, id).Take(&e).Error
	return e, storage.Translate(err, "ledger entry")
}

// reversed reports whether an entry already has a reverse entry.
func (s store) reversed(ctx context.Context, entryID string) (bool, error) {
	var n int64
	err := s.scoped(ctx, "ledger_entries").Where("reverses_id = ?", entryID).Count(&n).Error
	return n > 0, err
}

func (s store) insertLot(ctx context.Context, l *lotRow) error {
	return storage.Translate(s.db.Conn(ctx).Create(l).Error, "points lot")
}

// openLots returns the member's spendable lots, first to expire first.
func (s store) openLots(ctx context.Context, memberID string, limit int) ([]lotRow, error) {
	var out []lotRow
	err := s.scoped(ctx, "point_lots").Where("member_id = ? AND state = ?", memberID, lotOpen).
		Order("expires_at, id").Limit(limit).Find(&out).Error
	return out, err
}

// orderLots returns the member's live lots of an order, first to expire
// first.
func (s store) orderLots(ctx context.Context, memberID, orderID string) ([]lotRow, error) {
	var out []lotRow
	err := s.scoped(ctx, "point_lots").Where("member_id = ? AND order_id = ? AND state IN ?", memberID, orderID, []string{lotOpen, lotPending}).
		Order("expires_at, id").Find(&out).Error
	return out, err
}

func (s store) lotsByID(ctx context.Context, ids []string) (map[string]lotRow, error) {
	var rows []lotRow
	if err := s.scoped(ctx, "point_lots").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]lotRow, len(rows))
	for _, l := range rows {
		out[l.ID] = l
	}
	return out, nil
}

// duePendingLots returns the member's pending lots whose pending time is
// over.
func (s store) duePendingLots(ctx context.Context, memberID string, now time.Time) ([]lotRow, error) {
	var out []lotRow
	err := s.scoped(ctx, "point_lots").Where("member_id = ? AND state = ? AND pending_until <= ?", memberID, lotPending, now).
		Order("expires_at, id").Find(&out).Error
	return out, err
}

// dueExpiredLots returns the member's live lots whose expiry has come.
func (s store) dueExpiredLots(ctx context.Context, memberID string, now time.Time) ([]lotRow, error) {
	var out []lotRow
	err := s.scoped(ctx, "point_lots").Where("member_id = ? AND state IN ? AND expires_at <= ?", memberID, []string{lotOpen, lotPending}, now).
		Order("expires_at, id").Find(&out).Error
	return out, err
}

// takeFromLot lowers a lot's remainder by n. The remaining >= n guard
// makes a negative remainder impossible.
func (s store) takeFromLot(ctx context.Context, l lotRow, n int64, now time.Time) error {
	state := l.State
	if l.Remaining-n == 0 {
		state = lotClosed
	}
	res := s.scoped(ctx, "point_lots").Where("id = ? AND remaining >= ?", l.ID, n).
		UpdateColumns(map[string]any{"remaining": gorm.Expr("remaining - ?", n), "state": state, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return errors.New("ledger: a lot changed under the member's lock")
	}
	return nil
}

// giveToLot raises a lot's remainder by n and opens it.
func (s store) giveToLot(ctx context.Context, lotID string, n int64, now time.Time) error {
	res := s.scoped(ctx, "point_lots").Where("id = ?", lotID).
		UpdateColumns(map[string]any{"remaining": gorm.Expr("remaining + ?", n), "state": lotOpen, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return errors.New("ledger: a drawn lot is missing")
	}
	return nil
}

func (s store) setLotsState(ctx context.Context, ids []string, from, to string, now time.Time) (int64, error) {
	res := s.scoped(ctx, "point_lots").Where("id IN ? AND state = ?", ids, from).
		UpdateColumns(map[string]any{"state": to, "updated_at": now})
	return res.RowsAffected, res.Error
}

func (s store) closeLots(ctx context.Context, ids []string, now time.Time) (int64, error) {
	res := s.scoped(ctx, "point_lots").Where("id IN ? AND state IN ?", ids, []string{lotOpen, lotPending}).
		UpdateColumns(map[string]any{"remaining": 0, "state": lotClosed, "updated_at": now})
	return res.RowsAffected, res.Error
}

// nextDue returns the earliest moment something of the member falls due,
// or nil when nothing will.
func (s store) nextDue(ctx context.Context, memberID string) (*time.Time, error) {
	var next *time.Time
	consider := func(t time.Time) {
		if next == nil || t.Before(*next) {
			tt := t
			next = &tt
		}
	}
	var pend []lotRow
	if err := s.scoped(ctx, "point_lots").Select("pending_until").Where("member_id = ? AND state = ?", memberID, lotPending).
		Order("pending_until").Limit(1).Find(&pend).Error; err != nil {
		return nil, err
	}
	if len(pend) == 1 && pend[0].PendingUntil != nil {
		consider(*pend[0].PendingUntil)
	}
	var exp []lotRow
	if err := s.scoped(ctx, "point_lots").Select("expires_at").Where("member_id = ? AND state IN ?", memberID, []string{lotOpen, lotPending}).
		Order("expires_at").Limit(1).Find(&exp).Error; err != nil {
		return nil, err
	}
	if len(exp) == 1 {
		consider(exp[0].ExpiresAt)
	}
	var holds []holdRow
	if err := s.scoped(ctx, "point_holds").Select("expires_at").Where("member_id = ? AND status = ?", memberID, HoldHeld).
		Order("expires_at").Limit(1).Find(&holds).Error; err != nil {
		return nil, err
	}
	if len(holds) == 1 {
		consider(holds[0].ExpiresAt)
	}
	return next, nil
}

// dueMembers returns up to limit members of the tenant with something due
// at or before now, in id order after the given id.
func (s store) dueMembers(ctx context.Context, now time.Time, after string, limit int) ([]string, error) {
	var out []string
	err := s.scoped(ctx, "point_balances").Where("next_due_at <= ? AND member_id > ?", now, after).
		Order("member_id").Limit(limit).Pluck("member_id", &out).Error
	return out, err
}

func (s store) insertDraws(ctx context.Context, draws []drawRow) error {
	if len(draws) == 0 {
		return nil
	}
	return storage.Translate(s.db.Conn(ctx).Create(&draws).Error, "lot draw")
}

func (s store) drawsOf(ctx context.Context, entryID string) ([]drawRow, error) {
	var out []drawRow
	err := s.scoped(ctx, "point_draws").Where("entry_id = ?", entryID).Order("lot_id").Find(&out).Error
	return out, err
}

func (s store) insertGrowth(ctx context.Context, g *growthRow) error {
	return storage.Translate(s.db.Conn(ctx).Create(g).Error, "growth change")
}

func (s store) growthSince(ctx context.Context, memberID string, t time.Time) (int64, error) {
	var sum struct{ Total int64 }
	err := s.scoped(ctx, "growth_changes").Select("COALESCE(SUM(delta), 0) AS total").
		Where("member_id = ? AND created_at >= ?", memberID, t).Scan(&sum).Error
	return sum.Total, err
}

// memberGrowth is one member's growth in a batch read.
type memberGrowth struct {
	MemberID string `gorm:"column:member_id"`
	Growth   int64  `gorm:"column:growth"`
}

// growthByMember maps a batch read's rows by member id.
func growthByMember(rows []memberGrowth, err error) (map[string]int64, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.MemberID] = r.Growth
	}
	return out, nil
}

// growthOf returns the growth counters of the members that have a balance
// row.
func (s store) growthOf(ctx context.Context, memberIDs []string) (map[string]int64, error) {
	var rows []memberGrowth
	err := s.scoped(ctx, "point_balances").Select("member_id, growth").Where("member_id IN ?", memberIDs).Scan(&rows).Error
	return growthByMember(rows, err)
}

// growthSinceOf is growthSince for many members, grouped by member; members
// without growth changes since t are absent.
func (s store) growthSinceOf(ctx context.Context, memberIDs []string, t time.Time) (map[string]int64, error) {
	var rows []memberGrowth
	err := s.scoped(ctx, "growth_changes").Select("member_id, COALESCE(SUM(delta), 0) AS growth").
		Where("member_id IN ? AND created_at >= ?", memberIDs, t).Group("member_id").Scan(&rows).Error
	return growthByMember(rows, err)
}

// expiryGroup is the points of a member that expire at one moment.
type expiryGroup struct {
	MemberID  string    `gorm:"column:member_id"`
	ExpiresAt time.Time `gorm:"column:expires_at"`
	Points    int64     `gorm:"column:points"`
}

// expiries returns the live lot remainders of the members, summed by
// expiry moment, earliest first.
func (s store) expiries(ctx context.Context, memberIDs []string) ([]expiryGroup, error) {
	var out []expiryGroup
	err := s.scoped(ctx, "point_lots").Select("member_id, expires_at, SUM(remaining) AS points").
		Where("member_id IN ? AND state IN ? AND expires_at < ?", memberIDs, []string{lotOpen, lotPending}, neverExpires).
		Group("member_id, expires_at").Order("member_id, expires_at").Find(&out).Error
	return out, err
}

// transferredOut returns the points the member transferred away in [from, to).
func (s store) transferredOut(ctx context.Context, memberID string, from, to time.Time) (int64, error) {
	var sum struct{ Total int64 }
	err := s.scoped(ctx, "ledger_entries").Select("COALESCE(SUM(-points), 0) AS total").
		Where("member_id = ? AND kind = ? AND created_at >= ? AND created_at < ?", memberID, KindTransferOut, from, to).
		Scan(&sum).Error
	return sum.Total, err
}

func (s store) listEntries(ctx context.Context, memberID string, f EntryFilter, beforeSeq int64) ([]entryRow, error) {
	q := s.scoped(ctx, "ledger_entries").Where("member_id = ?", memberID)
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	if beforeSeq > 0 {
		q = q.Where("seq < ?", beforeSeq)
	}
	var out []entryRow
	err := q.Order("seq DESC").Limit(f.Limit + 1).Find(&out).Error
	return out, err
}

func (s store) insertHold(ctx context.Context, h *holdRow) error {
	return storage.Translate(s.db.Conn(ctx).Create(h).Error, "hold")
}

func (s store) findHold(ctx context.Context, id string) (holdRow, error) {
	var h holdRow
	err := s.scoped(ctx, "point_holds").Where("id = ?", id).Take(&h).Error
	return h, storage.Translate(err, "hold")
}

// dueHolds returns the member's holds that are still held past their expiry.
func (s store) dueHolds(ctx context.Context, memberID string, now time.Time) ([]holdRow, error) {
	var out []holdRow
	err := s.scoped(ctx, "point_holds").Where("member_id = ? AND status = ? AND expires_at <= ?", memberID, HoldHeld, now).
		Order("expires_at, id").Find(&out).Error
	return out, err
}

// liveHoldsForOrder returns the order's holds that are captured, or held
// and not yet expired.
func (s store) liveHoldsForOrder(ctx context.Context, orderID string, now time.Time) ([]holdRow, error) {
	var out []holdRow
	err := s.scoped(ctx, "point_holds").
		Where("order_id = ? AND (status = ? OR (status = ? AND expires_at > ?))", orderID, HoldCaptured, HoldHeld, now).
		Find(&out).Error
	return out, err
}

// setHoldStatus moves a held hold to status; it returns false when the
// hold was no longer held.
func (s store) setHoldStatus(ctx context.Context, id, status string, cols map[string]any) (bool, error) {
	cols["status"] = status
	res := s.scoped(ctx, "point_holds").Where("id = ? AND status = ?", id, HoldHeld).UpdateColumns(cols)
	return res.RowsAffected == 1, res.Error
}

func (s store) insertCause(ctx context.Context, c *causeRow) error {
	err := s.db.Conn(ctx).Create(c).Error
	if storage.IsUniqueViolation(err) {
		return (&platform.Error{Code: platform.EConflict, Message: "A cause with this name already exists in the tenant."}).
			WithDetails(map[string]any{"name": c.Name})
	}
	return storage.Translate(err, "cause")
}

func (s store) findCause(ctx context.Context, id string) (causeRow, error) {
	var c causeRow
	err := s.scoped(ctx, "point_causes").Where("id = ?", id).Take(&c).Error
	return c, storage.Translate(err, "cause")
}

func (s store) listCauses(ctx context.Context, after string, limit int) ([]causeRow, error) {
	q := s.scoped(ctx, "point_causes")
	if after != "" {
		q = q.Where("id > ?", after)
	}
	var out []causeRow
	err := q.Order("id").Limit(limit + 1).Find(&out).Error
	return out, err
}

func (s store) addDonation(ctx context.Context, id string, points int64, now time.Time) error {
	res := s.scoped(ctx, "point_causes").Where("id = ?", id).UpdateColumns(map[string]any{
		"total_points": gorm.Expr("total_points + ?", points), "donations": gorm.Expr("donations + 1"), "updated_at": now,
	})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return platform.NotFound("cause")
	}
	return nil
}
