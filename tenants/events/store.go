package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"jifen/platform"
	httpx "jifen/platform/http"
	"jifen/platform/storage"
	"jifen/tenants/rules"
)

// eventRow is a row of events.
type eventRow struct {
	TenantID      string    `gorm:"column:tenant_id"`
	ID            string    `gorm:"column:id"`
	MemberID      string    `gorm:"column:member_id"`
	Type          string    `gorm:"column:type"`
	OccurredAt    time.Time `gorm:"column:occurred_at"`
	ReceivedAt    time.Time `gorm:"column:received_at"`
	Attributes    string    `gorm:"column:attributes"`
	PointsDelta   int64     `gorm:"column:points_delta"`
	GrowthDelta   int64     `gorm:"column:growth_delta"`
	OrderID       *string   `gorm:"column:order_id"`
	ParentEventID *string   `gorm:"column:parent_event_id"`
	UniqueKey     *string   `gorm:"column:unique_key"`
	Note          string    `gorm:"column:note"`
	Details       string    `gorm:"column:details"`
	RuleErrors    string    `gorm:"column:rule_errors"`
}

func (eventRow) TableName() string { return "events" }

// awardRow is a row of event_awards.
type awardRow struct {
	TenantID  string    `gorm:"column:tenant_id"`
	EventID   string    `gorm:"column:event_id"`
	RuleID    string    `gorm:"column:rule_id"`
	MemberID  string    `gorm:"column:member_id"`
	RuleName  string    `gorm:"column:rule_name"`
	Points    int64     `gorm:"column:points"`
	Growth    int64     `gorm:"column:growth"`
	Capped    bool      `gorm:"column:capped"`
	Note      string    `gorm:"column:note"`
	AwardedAt time.Time `gorm:"column:awarded_at"`
}

func (awardRow) TableName() string { return "event_awards" }

// orderRow is a row of event_orders: a paid order, what it earned and what
// its refunds took back so far.
type orderRow struct {
	TenantID            string    `gorm:"column:tenant_id"`
	OrderID             string    `gorm:"column:order_id"`
	MemberID            string    `gorm:"column:member_id"`
	EventID             string    `gorm:"column:event_id"`
	AmountCents         int64     `gorm:"column:amount_cents"`
	Points              int64     `gorm:"column:points"`
	Growth              int64     `gorm:"column:growth"`
	PointsUsed          *int64    `gorm:"column:points_used"`
	RefundedAmountCents int64     `gorm:"column:refunded_amount_cents"`
	RefundedPoints      int64     `gorm:"column:refunded_points"`
	RefundedGrowth      int64     `gorm:"column:refunded_growth"`
	ReturnedPointsUsed  int64     `gorm:"column:returned_points_used"`
	CreatedAt           time.Time `gorm:"column:created_at"`
	UpdatedAt           time.Time `gorm:"column:updated_at"`
}

func (orderRow) TableName() string { return "event_orders" }

// refundRow is a row of event_refunds.
type refundRow struct {
	TenantID       string    `gorm:"column:tenant_id"`
	OrderID        string    `gorm:"column:order_id"`
	RefundID       string    `gorm:"column:refund_id"`
	EventID        string    `gorm:"column:event_id"`
	AmountCents    int64     `gorm:"column:amount_cents"`
	Points         int64     `gorm:"column:points"`
	Growth         int64     `gorm:"column:growth"`
	PointsReturned int64     `gorm:"column:points_returned"`
	CreatedAt      time.Time `gorm:"column:created_at"`
}

func (refundRow) TableName() string { return "event_refunds" }

// checkinRow is a row of event_checkins.
type checkinRow struct {
	TenantID  string `gorm:"column:tenant_id"`
	MemberID  string `gorm:"column:member_id"`
	LocalDate string `gorm:"column:local_date"`
	Streak    int64  `gorm:"column:streak"`
	EventID   string `gorm:"column:event_id"`
}

func (checkinRow) TableName() string { return "event_checkins" }

// referralRow is a row of event_referrals.
type referralRow struct {
	TenantID          string    `gorm:"column:tenant_id"`
	RefereeMemberID   string    `gorm:"column:referee_member_id"`
	ReferrerMemberID  string    `gorm:"column:referrer_member_id"`
	Status            string    `gorm:"column:status"`
	RegisteredEventID string    `gorm:"column:registered_event_id"`
	CompletedEventID  *string   `gorm:"column:completed_event_id"`
	CreatedAt         time.Time `gorm:"column:created_at"`
	UpdatedAt         time.Time `gorm:"column:updated_at"`
}

func (referralRow) TableName() string { return "event_referrals" }

// Referral statuses.
const (
	referralPending   = "pending"
	referralCompleted = "completed"
	// referralLapsed: the referee had paid an order before the link was
	// made, so no first order can complete it.
	referralLapsed = "lapsed"
)

// store reads and writes the event tables of the context's tenant.
type store struct {
	db *storage.DB
}

func (st store) insert(ctx context.Context, what string, row any) error {
	return storage.Translate(st.db.Conn(ctx).Create(row).Error, what)
}

// findByUniqueKey returns the id of the event with the key, or "".
func (st store) findByUniqueKey(ctx context.Context, key string) (string, error) {
	var id string
	err := st.db.Scoped(ctx).Model(&eventRow{}).Where("unique_key = ?", key).Limit(1).Pluck("id", &id).Error
	return id, err
}

// findOrder returns the paid order, or nil.
func (st store) findOrder(ctx context.Context, orderID string) (*orderRow, error) {
	var rows []orderRow
	if err := st.db.Scoped(ctx).Where("order_id = ?", orderID).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// memberHasOrders reports whether the member has a paid order.
func (st store) memberHasOrders(ctx context.Context, memberID string) (bool, error) {
	var n int64
	err := st.db.Scoped(ctx).Model(&orderRow{}).Where("member_id = ?", memberID).Limit(1).Count(&n).Error
	return n > 0, err
}

// findRefund returns the refund, or nil.
func (st store) findRefund(ctx context.Context, orderID, refundID string) (*refundRow, error) {
	var rows []refundRow
	err := st.db.Scoped(ctx).Where("order_id = ? AND refund_id = ?", orderID, refundID).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// orderHasRefunds reports whether any refund of the order was recorded.
func (st store) orderHasRefunds(ctx context.Context, orderID string) (bool, error) {
	var n int64
	err := st.db.Scoped(ctx).Model(&refundRow{}).Where("order_id = ?", orderID).Limit(1).Count(&n).Error
	return n > 0, err
}

// updateOrderRefunded writes the order's refund totals.
func (st store) updateOrderRefunded(ctx context.Context, o *orderRow) error {
	res := st.db.Scoped(ctx).Model(&orderRow{}).Where("order_id = ?", o.OrderID).Updates(map[string]any{
		"points_used": o.PointsUsed, "refunded_amount_cents": o.RefundedAmountCents,
		"refunded_points": o.RefundedPoints, "refunded_growth": o.RefundedGrowth,
		"returned_points_used": o.ReturnedPointsUsed, "updated_at": o.UpdatedAt,
	})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("order %s: updated %d rows, want 1", o.OrderID, res.RowsAffected)
	}
	return nil
}

// lastCheckin returns the member's latest check-in on or before the local
// date, or nil.
func (st store) lastCheckin(ctx context.Context, memberID, localDate string) (*checkinRow, error) {
	var rows []checkinRow
	err := st.db.Scoped(ctx).Where("member_id = ? AND local_date <= ?", memberID, localDate).
		Order("local_date DESC").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// findReferral returns the member's referral link as referee, or nil.
func (st store) findReferral(ctx context.Context, refereeID string) (*referralRow, error) {
	var rows []referralRow
	err := st.db.Scoped(ctx).Where("referee_member_id = ?", refereeID).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// closeReferral sets a pending link's status.
func (st store) closeReferral(ctx context.Context, refereeID, status string, completedEventID *string, now time.Time) error {
	return st.db.Scoped(ctx).Model(&referralRow{}).
		Where("referee_member_id = ? AND status = ?", refereeID, referralPending).
		Updates(map[string]any{"status": status, "completed_event_id": completedEventID, "updated_at": now}).Error
}

// orderFacts is what processing a paid order reads of the event tables
// under the member's lock.
type orderFacts struct {
	// paidEventID is the event of an order_paid already processed for the
	// order_id, or "".
	paidEventID string
	// link is the member's referral link as referee, or nil.
	link *referralRow
	// streak is the member's check-in streak on the order's local day: the
	// streak of a check-in that day or the day before, else 0 (what
	// currentStreak works out for other events).
	streak int64
}

// findOrderFacts reads in one round trip whether the order was paid
// already, the member's referral link as referee, and the member's
// check-ins on the local day and the day before. Each is a primary-key
// lookup; joined to a one-row table they come back as one row, with NULLs
// for what is absent.
func (st store) findOrderFacts(ctx context.Context, memberID, orderID, localDate string) (orderFacts, error) {
	tid := platform.TenantID(ctx)
	if tid == "" {
		return orderFacts{}, errors.New("events: no tenant in the context")
	}
	var row struct {
		OrderEventID     *string `gorm:"column:order_event_id"`
		ReferrerMemberID *string `gorm:"column:referrer_member_id"`
		ReferralStatus   *string `gorm:"column:referral_status"`
		StreakToday      *int64  `gorm:"column:streak_today"`
		StreakBefore     *int64  `gorm:"column:streak_before"`
	}
	err := st.db.Conn(ctx).Raw(`SELECT o.event_id AS order_event_id,
			r.referrer_member_id AS referrer_member_id, r.status AS referral_status,
			day_ci.streak AS streak_today, prev_ci.streak AS streak_before
		FROM (SELECT 1 AS one) anchor
		LEFT JOIN event_orders o ON o.tenant_id = ? AND o.order_id = ?
		LEFT JOIN event_referrals r ON r.tenant_id = ? AND r.referee_member_id = ?
		LEFT JOIN event_checkins day_ci ON day_ci.tenant_id = ? AND day_ci.member_id = ? AND day_ci.local_date = ?
		LEFT JOIN event_checkins prev_ci ON prev_ci.tenant_id = ? AND prev_ci.member_id = ? AND prev_ci.local_date = ?`,
		tid, orderID, tid, memberID, tid, memberID, localDate, tid, memberID, dayBefore(localDate)).Scan(&row).Error
	if err != nil {
		return orderFacts{}, err
	}
	var out orderFacts
	if row.OrderEventID != nil {
		out.paidEventID = *row.OrderEventID
	}
	if row.ReferrerMemberID != nil && row.ReferralStatus != nil {
		out.link = &referralRow{TenantID: tid, RefereeMemberID: memberID,
			ReferrerMemberID: *row.ReferrerMemberID, Status: *row.ReferralStatus}
	}
	switch {
	case row.StreakToday != nil:
		out.streak = *row.StreakToday
	case row.StreakBefore != nil:
		out.streak = *row.StreakBefore
	}
	return out, nil
}

// findEvent returns one event with its awards; not_found when it is not
// in the tenant.
func (st store) findEvent(ctx context.Context, id string) (Event, error) {
	var row eventRow
	if err := st.db.Scoped(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return Event{}, storage.Translate(err, "event")
	}
	list, err := st.withAwards(ctx, []eventRow{row})
	if err != nil {
		return Event{}, err
	}
	return list[0], nil
}

// findEvents lists events newest first (by id, which grows with the time
// they were received), one page at a time.
func (st store) findEvents(ctx context.Context, f Filter) ([]Event, string, error) {
	q := st.db.Scoped(ctx)
	if f.MemberID != "" {
		q = q.Where("member_id = ?", f.MemberID)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	rows, next, err := storage.FindPage[eventRow](q, f.Limit, f.Cursor, true)
	if err != nil {
		return nil, "", err
	}
	out, err := st.withAwards(ctx, rows)
	return out, next, err
}

// withAwards turns rows into events with their awards, in one query.
func (st store) withAwards(ctx context.Context, rows []eventRow) ([]Event, error) {
	out := make([]Event, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	idList := make([]string, len(rows))
	for i, r := range rows {
		idList[i] = r.ID
	}
	var awards []awardRow
	if err := st.db.Scoped(ctx).Where("event_id IN ?", idList).Order("event_id, rule_id").Find(&awards).Error; err != nil {
		return nil, err
	}
	byEvent := map[string][]rules.Award{}
	for _, a := range awards {
		byEvent[a.EventID] = append(byEvent[a.EventID], rules.Award{
			RuleID: a.RuleID, RuleName: a.RuleName, Points: a.Points, Growth: a.Growth, Capped: a.Capped, Note: a.Note,
		})
	}
	for i, r := range rows {
		e := Event{
			ID: r.ID, MemberID: r.MemberID, Type: r.Type, OccurredAt: r.OccurredAt.UTC(), ReceivedAt: r.ReceivedAt.UTC(),
			PointsDelta: r.PointsDelta, GrowthDelta: r.GrowthDelta, Note: r.Note,
			Awards: byEvent[r.ID], Attributes: map[string]any{}, RuleErrors: []rules.RuleError{},
		}
		if r.OrderID != nil {
			e.OrderID = *r.OrderID
		}
		if r.ParentEventID != nil {
			e.ParentEventID = *r.ParentEventID
		}
		if e.Awards == nil {
			e.Awards = []rules.Award{}
		}
		if err := decodeStored(r.Attributes, &e.Attributes); err != nil {
			return nil, fmt.Errorf("event %s attributes: %w", r.ID, err)
		}
		if err := decodeStored(r.Details, &e.Details); err != nil {
			return nil, fmt.Errorf("event %s details: %w", r.ID, err)
		}
		if err := decodeStored(r.RuleErrors, &e.RuleErrors); err != nil {
			return nil, fmt.Errorf("event %s rule errors: %w", r.ID, err)
		}
		out[i] = e
	}
	return out, nil
}

// decodeStored reads JSON written by this package, keeping integers exact.
func decodeStored(s string, v any) error {
	if s == "" {
		return nil
	}
	return httpx.DecodeJSON([]byte(s), v)
}

// encodeStored writes v as JSON for a text column.
func encodeStored(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Usage counts the points each rule awarded, from the stored awards. It
// implements rules.Usage for the rules' limits; the rules service may use
// it for its simulator too.
type Usage struct {
	DB *storage.DB
}

// AwardedSince returns the points the rule awarded the member (every
// member of the tenant when memberID is "") since t, by processing time.
func (u Usage) AwardedSince(ctx context.Context, ruleID, memberID string, since time.Time) (int64, error) {
	q := u.DB.Scoped(ctx).Model(&awardRow{}).Where("rule_id = ?", ruleID)
	if memberID != "" {
		q = q.Where("member_id = ?", memberID)
	}
	var sum *int64
	if err := q.Where("awarded_at >= ?", since.UTC()).Select("SUM(points)").Scan(&sum).Error; err != nil {
		return 0, err
	}
	if sum == nil {
		return 0, nil
	}
	return *sum, nil
}
