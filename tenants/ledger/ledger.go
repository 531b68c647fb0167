// Package ledger is the points ledger (积分账本), the correctness core of
// jifen: every change to a member's points is one append-only entry; earned
// points form lots with an expiry date that spending consumes first-to-
// expire-first; a balance row per member caches the ledger and is changed in
// the same transaction as the entries. On top of it sit checkout deduction
// with holds (积分抵扣), transfers between members (积分转赠) and donations
// to tenant-defined causes (积分捐赠). docs/ledger.md explains the model.
package ledger

import (
	"context"
	"time"

	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/storage"
	"jifen/tenants/members"
)

// Entry kinds. They are part of the public API: append, never rename.
const (
	KindEarn        = "earn"
	KindSpend       = "spend"
	KindAdjust      = "adjust"
	KindExpire      = "expire"
	KindReverse     = "reverse"
	KindRedeem      = "redeem"
	KindRefund      = "refund"
	KindTransferIn  = "transfer_in"
	KindTransferOut = "transfer_out"
)

// Kinds lists every entry kind.
var Kinds = []string{KindEarn, KindSpend, KindAdjust, KindExpire, KindReverse, KindRedeem, KindRefund, KindTransferIn, KindTransferOut}

// Refund policies, the tenant's refund_policy setting.
const (
	// PolicyPendingOnly claws back only points still pending (in the
	// return window); anything else is recorded as a shortfall.
	PolicyPendingOnly = "pending_only"
	// PolicyToZero claws back what it can without a negative balance and
	// records the rest as a shortfall.
	PolicyToZero = "to_zero"
	// PolicyAllowNegative claws back everything; what the member no longer
	// has becomes a debt that later credits repay first.
	PolicyAllowNegative = "allow_negative"
)

// Entry is one ledger entry (the contract's shape plus member_id).
type Entry struct {
	ID           string    `json:"id"`
	MemberID     string    `json:"member_id"`
	Kind         string    `json:"kind"`
	Points       int64     `json:"points"`
	BalanceAfter int64     `json:"balance_after"`
	Reason       string    `json:"reason"`
	Ref          string    `json:"ref"`
	CreatedAt    time.Time `json:"created_at"`
	// OrderID is the order a credit or a claw-back belongs to.
	OrderID string `json:"order_id,omitempty"`
	// ReversesID is the entry a reverse entry undoes.
	ReversesID string `json:"reverses_id,omitempty"`
	// Shortfall is what a claw-back could not take under the tenant's
	// refund policy.
	Shortfall int64 `json:"shortfall,omitempty"`
}

// Credit adds points (a new lot) and growth.
type Credit struct {
	MemberID string
	Points   int64  // >= 0
	Growth   int64  // >= 0; growth is a separate non-spendable counter
	Kind     string // KindEarn, KindAdjust, KindRefund or KindTransferIn
	Reason   string
	Ref      string
	// OrderID links the lot to an order so a refund claws back from it first.
	OrderID string
	// PendingUntil is zero for points available at once; else the points are
	// pending until then (a return window).
	PendingUntil time.Time
	// ExpiresAt is zero for the tenant's default (the end of the local day
	// points_expiry_months after now).
	ExpiresAt time.Time
}

// Balance is a member's points and growth, without the expiry list of a
// members.PointsView.
type Balance struct {
	Available      int64
	Pending        int64
	LifetimeEarned int64
	Growth         int64
}

// Debit takes points from the lots that expire first (FIFO by expiry).
type Debit struct {
	MemberID string
	Points   int64  // > 0
	Kind     string // KindSpend, KindRedeem, KindAdjust or KindTransferOut
	Reason   string
	Ref      string
}

// ClawBack takes back what an order earned (refunds).
type ClawBack struct {
	MemberID string
	OrderID  string
	Points   int64 // how much to take back (the caller computes the proportion)
	Growth   int64
	Reason   string
	Ref      string
}

// GrowthObserver is told, inside the same transaction, when a member's
// growth changed (tiers upgrade at once). An error rolls the change back.
type GrowthObserver interface {
	GrowthChanged(ctx context.Context, memberID string, growth int64) error
}

// Service is the points ledger of the context's tenant. Every method acts in
// the tenant of ctx, joins the context's transaction (db.Tx), takes the
// member's lock first and returns platform errors.
type Service struct {
	DB       *storage.DB
	Members  *members.Store
	Clock    platform.Clock
	Audit    *audit.Log     // may be nil
	OnGrowth GrowthObserver // may be nil
}

// Service is the members package's source of points and growth.
var _ members.PointsReader = (*Service)(nil)

// Hold statuses.
const (
	HoldHeld     = "held"
	HoldCaptured = "captured"
	HoldReleased = "released"
	// HoldExpired is a hold that was not captured in time and released
	// itself: its points went back to the member.
	HoldExpired = "expired"
)

// Hold is points frozen for a checkout until the order is paid (captured)
// or abandoned (released).
type Hold struct {
	ID         string     `json:"id"`
	MemberID   string     `json:"member_id"`
	OrderID    string     `json:"order_id"`
	Status     string     `json:"status"`
	Points     int64      `json:"points"`
	EntryID    string     `json:"entry_id"`
	ExpiresAt  time.Time  `json:"expires_at"`
	CreatedAt  time.Time  `json:"created_at"`
	CapturedAt *time.Time `json:"captured_at,omitempty"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
}

// HoldInput asks to freeze points for an order.
type HoldInput struct {
	MemberID string `json:"member_id"`
	OrderID  string `json:"order_id"`
	Points   int64  `json:"points"`
	// OrderAmountCents, when above 0, caps Points at what the tenant's
	// max_deduction_percent allows for the order.
	OrderAmountCents int64 `json:"order_amount_cents"`
}

// QuoteInput asks how many points may pay part of an order.
type QuoteInput struct {
	MemberID         string `json:"member_id"`
	OrderAmountCents int64  `json:"order_amount_cents"`
}

// Quote is how many points may offset an order.
type Quote struct {
	MaxPoints         int64 `json:"max_points"`
	MaxDeductionCents int64 `json:"max_deduction_cents"`
	PointsPerUnit     int64 `json:"points_per_unit"`
	Available         int64 `json:"available"`
}

// TransferInput asks to move points from one member to another.
type TransferInput struct {
	FromMemberID string `json:"from_member_id"`
	ToMemberID   string `json:"to_member_id"`
	Points       int64  `json:"points"`
	Reason       string `json:"reason"`
}

// Transfer is the pair of entries a transfer wrote.
type Transfer struct {
	ID          string             `json:"id"`
	TransferOut Entry              `json:"transfer_out"`
	TransferIn  Entry              `json:"transfer_in"`
	Points      members.PointsView `json:"points"`
}

// Cause is a tenant-defined cause members can donate points to.
type Cause struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	TotalPoints int64     `json:"total_points"`
	Donations   int64     `json:"donations"`
	CreatedAt   time.Time `json:"created_at"`
}

// CauseInput creates a cause.
type CauseInput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// DonationInput gives points to a cause.
type DonationInput struct {
	MemberID string `json:"member_id"`
	Points   int64  `json:"points"`
}

// Donation is the result of a donation.
type Donation struct {
	Entry  Entry              `json:"entry"`
	Points members.PointsView `json:"points"`
	Cause  Cause              `json:"cause"`
}

// EntryFilter narrows a member's ledger listing.
type EntryFilter struct {
	Kind   string
	From   time.Time // inclusive; zero for no bound
	To     time.Time // exclusive; zero for no bound
	Limit  int
	Cursor string
}

// SweepResult says what a sweep did.
type SweepResult struct {
	Members       int   // accounts settled
	Expired       int64 // points expired
	Released      int64 // pending points that became available
	HoldsReleased int   // expired holds whose points went back
}
