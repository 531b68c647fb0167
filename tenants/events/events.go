// Package events takes in what merchants' systems report about their
// members (orders paid and refunded, check-ins, reviews, shares,
// registrations, referrals, birthdays and custom events), runs each event
// through the tenant's earning rules, credits the points and growth in the
// ledger, and keeps every event with the awards it produced so a merchant
// can see why a member got what.
//
// Each event is processed in one transaction: the member's lock, the rules,
// the ledger entries, the stored event and its bookkeeping (orders count
// once, refunds reverse exactly what an order earned, check-in streaks,
// referral links) commit or roll back together. docs/events.md is the
// integrator's guide.
package events

import (
	"context"
	_ "embed"
	"time"

	"jifen/tenants/rules"
)

// OpenAPI describes the event routes; main merges it with the other
// fragments.
//
//go:embed openapi.json
var OpenAPI []byte

// Built-in event types (the rules package names them too).
const (
	TypeMemberRegistered  = rules.EventMemberRegistered
	TypeOrderPaid         = rules.EventOrderPaid
	TypeOrderRefunded     = rules.EventOrderRefunded
	TypeCheckIn           = rules.EventCheckIn
	TypeReviewPosted      = rules.EventReviewPosted
	TypeContentShared     = rules.EventContentShared
	TypeReferralCompleted = rules.EventReferralCompleted
	TypeBirthday          = rules.EventBirthday
)

// Referral roles, the attribute "role" of referral_completed events.
const (
	RoleReferrer = "referrer"
	RoleReferee  = "referee"
)

// Multiplier tells a member's tier and its points multiplier; the tiers
// package implements it.
type Multiplier interface {
	// MultiplierOf returns the member's multiplier in permille (1000 is 1x)
	// and tier name at time at; "" when the member has no tier.
	MultiplierOf(ctx context.Context, memberID string, at time.Time) (permille int64, tierName string, err error)
}

// Request is the body of POST /events. Exactly one of MemberID and
// ExternalID is needed (both are accepted when they name the same member).
// OccurredAt is RFC 3339; empty means the time the event is received.
type Request struct {
	Type       string         `json:"type"`
	MemberID   string         `json:"member_id"`
	ExternalID string         `json:"external_id"`
	OccurredAt string         `json:"occurred_at"`
	Attributes map[string]any `json:"attributes"`
}

// Result is the answer to POST /events.
type Result struct {
	EventID     string            `json:"event_id"`
	MemberID    string            `json:"member_id"`
	Type        string            `json:"type"`
	PointsDelta int64             `json:"points_delta"`
	GrowthDelta int64             `json:"growth_delta"`
	Awards      []rules.Award     `json:"awards"`
	RuleErrors  []rules.RuleError `json:"rule_errors"`
	// Note explains an event that moved nothing although it could have (a
	// second check-in on one day) or how a refund was applied.
	Note string `json:"note,omitempty"`
	// Related are the events this one caused in the same transaction: the
	// two referral_completed events of a referee's first paid order.
	Related []Result `json:"related_events,omitempty"`
}

// Event is a stored event as GET /events shows it.
type Event struct {
	ID            string            `json:"id"`
	MemberID      string            `json:"member_id"`
	Type          string            `json:"type"`
	OccurredAt    time.Time         `json:"occurred_at"`
	ReceivedAt    time.Time         `json:"received_at"`
	Attributes    map[string]any    `json:"attributes"`
	PointsDelta   int64             `json:"points_delta"`
	GrowthDelta   int64             `json:"growth_delta"`
	OrderID       string            `json:"order_id,omitempty"`
	ParentEventID string            `json:"parent_event_id,omitempty"`
	Note          string            `json:"note,omitempty"`
	Details       Details           `json:"details"`
	Awards        []rules.Award     `json:"awards"`
	RuleErrors    []rules.RuleError `json:"rule_errors"`
}

// Details record what the platform worked out for an event beyond its
// awards; each part is present only for the events it concerns.
type Details struct {
	CheckIn  *CheckInDetails  `json:"check_in,omitempty"`
	Order    *OrderDetails    `json:"order,omitempty"`
	Refund   *RefundDetails   `json:"refund,omitempty"`
	Referral *ReferralDetails `json:"referral,omitempty"`
}

// CheckInDetails are a check-in's local day in the tenant's zone and the
// streak it reached; Repeated marks a second check-in on that day.
type CheckInDetails struct {
	LocalDate string `json:"local_date"`
	Streak    int64  `json:"streak"`
	Repeated  bool   `json:"repeated,omitempty"`
}

// OrderDetails are what a paid order earned and until when its points are
// pending (a return window), when they are.
type OrderDetails struct {
	AmountCents  int64      `json:"amount_cents"`
	PendingUntil *time.Time `json:"pending_until,omitempty"`
}

// RefundDetails say how a refund was applied: the share of the order
// refunded, what was asked back from the ledger and what the tenant's
// refund policy let it take, and the checkout points given back.
type RefundDetails struct {
	OrderID          string `json:"order_id"`
	RefundID         string `json:"refund_id,omitempty"`
	AmountCents      int64  `json:"amount_cents"`
	OrderAmountCents int64  `json:"order_amount_cents"`
	Full             bool   `json:"full"`
	PointsReversed   int64  `json:"points_reversed"`
	PointsTaken      int64  `json:"points_taken"`
	GrowthReversed   int64  `json:"growth_reversed"`
	PointsReturned   int64  `json:"points_returned"`
}

// ReferralDetails link a referral_completed event to both members.
type ReferralDetails struct {
	ReferrerMemberID string `json:"referrer_member_id"`
	RefereeMemberID  string `json:"referee_member_id"`
	Role             string `json:"role,omitempty"`
}

// Filter narrows a listing of events.
type Filter struct {
	MemberID string
	Type     string
	Limit    int
	Cursor   string
}
