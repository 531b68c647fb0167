// Package tiers holds a tenant's membership ladder (会员等级): the tiers, what
// each one grants (a points multiplier, a birthday multiplier, the mall
// items it unlocks, an upgrade coupon, service flags), how growth moves members
// up at once and down only at the periodic evaluation, manual overrides,
// and each member's tier history.
package tiers

import (
	"context"
	"time"

	"jifen/tenants/members"
)

// Bases of the growth that decides a tier.
const (
	// BasisLifetime counts all the growth a member ever gained.
	BasisLifetime = "lifetime"
	// BasisRolling counts the growth gained in the last WindowMonths months.
	BasisRolling = "rolling"
)

// Evaluation periods: downgrades happen only at the start of a period, in
// the tenant's time zone.
const (
	PeriodMonthly   = "monthly"
	PeriodQuarterly = "quarterly"
	PeriodYearly    = "yearly"
)

// Kinds of tier history entries.
const (
	KindUpgrade         = "upgrade"
	KindDowngrade       = "downgrade"
	KindAtRisk          = "at_risk"
	KindOverride        = "override"
	KindOverrideRemoved = "override_removed"
)

// BasePermille is a multiplier of 1x in permille.
const BasePermille = 1000

// Tier is one level of a tenant's ladder. Rank orders the ladder (higher is
// better) and growth thresholds rise strictly with it.
type Tier struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Rank            int       `json:"rank"`
	GrowthThreshold int64     `json:"growth_threshold"`
	KeepThreshold   int64     `json:"keep_threshold"`
	Multiplier      int64     `json:"multiplier_permille"`
	Benefits        Benefits  `json:"benefits"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Benefits are what a tier grants besides its points multiplier.
type Benefits struct {
	// BirthdayMultiplier replaces the tier's multiplier on the member's
	// birthday when it is larger; 0 means none.
	BirthdayMultiplier int64 `json:"birthday_multiplier_permille"`
	// ExclusiveItems are the mall items this tier unlocks: those whose
	// min_tier_rank is above the rank of the tier below (0 for the lowest
	// tier) and at most this tier's rank, so members of this tier or a
	// higher one may see and redeem them. The mall item's min_tier_rank is
	// the only record of it; this list is read from the mall and never
	// stored or accepted here.
	ExclusiveItems []ItemRef `json:"exclusive_items"`
	// UpgradeCouponTemplateID is the coupon template issued to a member who
	// moves up into this tier; empty for none.
	UpgradeCouponTemplateID string `json:"upgrade_coupon_template_id"`
	FreeShipping            bool   `json:"free_shipping"`
	PriorityService         bool   `json:"priority_service"`
	// Perks is free text shown to members.
	Perks string `json:"perks"`
}

// TierInput creates or changes a tier. Nil fields are left as they are on
// update; on create, keep_threshold defaults to growth_threshold and
// multiplier_permille to 1000.
type TierInput struct {
	Name            *string        `json:"name"`
	Rank            *int           `json:"rank"`
	GrowthThreshold *int64         `json:"growth_threshold"`
	KeepThreshold   *int64         `json:"keep_threshold"`
	Multiplier      *int64         `json:"multiplier_permille"`
	Benefits        *BenefitsInput `json:"benefits"`
}

// BenefitsInput changes a tier's benefits; nil fields are left as they are.
type BenefitsInput struct {
	BirthdayMultiplier      *int64  `json:"birthday_multiplier_permille"`
	UpgradeCouponTemplateID *string `json:"upgrade_coupon_template_id"`
	FreeShipping            *bool   `json:"free_shipping"`
	PriorityService         *bool   `json:"priority_service"`
	Perks                   *string `json:"perks"`
}

// Settings say how a tenant's members are placed on the ladder.
type Settings struct {
	Basis            string `json:"basis"`
	WindowMonths     int    `json:"window_months"`
	EvaluationPeriod string `json:"evaluation_period"`
	GraceDays        int    `json:"grace_days"`
	// EvaluatedThrough is the start of the last period whose evaluation
	// ran; nil before the first.
	EvaluatedThrough *time.Time `json:"evaluated_through"`
	// NextEvaluationAt is when the next evaluation is due (derived).
	NextEvaluationAt time.Time `json:"next_evaluation_at"`
}

// SettingsInput changes the settings; nil fields are left as they are.
type SettingsInput struct {
	Basis            *string `json:"basis"`
	WindowMonths     *int    `json:"window_months"`
	EvaluationPeriod *string `json:"evaluation_period"`
	GraceDays        *int    `json:"grace_days"`
}

// OverrideInput sets a manual tier for a member until a time.
type OverrideInput struct {
	TierID *string `json:"tier_id"`
	// Until is an RFC 3339 time in the future.
	Until  *string `json:"until"`
	Reason *string `json:"reason"`
}

// Override is a member's manual tier while it lasts.
type Override struct {
	TierID   string    `json:"tier_id"`
	TierName string    `json:"tier_name"`
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason"`
}

// TierBrief names a tier and its rank.
type TierBrief struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Rank int    `json:"rank"`
}

// MemberTier is a member's place on the ladder.
type MemberTier struct {
	MemberID string `json:"member_id"`
	// Tier is the tier that applies now: the override while it lasts, else
	// the earned tier; nil for none.
	Tier *TierBrief `json:"tier"`
	// Override is the active manual override, nil when none applies.
	Override *Override `json:"override"`
	Progress Progress  `json:"progress"`
}

// Progress is what the member object shows about the road ahead: the next
// tier and what it takes, and whether the earned tier is at risk at the
// next evaluation and what keeps it.
type Progress struct {
	// EarnedTier is the tier the member's growth earned, which applies
	// again when an override ends.
	EarnedTier *TierBrief `json:"earned_tier"`
	// TierGrowth is the growth that counts for tiers under the tenant's
	// basis (all of it, or the rolling window's).
	TierGrowth int64 `json:"tier_growth"`
	// NextTier is the tier above the earned one, nil at the top.
	NextTier *NextTier `json:"next_tier"`
	// AtRisk is true when the earned tier will be lost at an evaluation
	// unless the member gains KeepGrowthNeeded more growth by the next one.
	AtRisk           bool       `json:"at_risk"`
	KeepGrowthNeeded int64      `json:"keep_growth_needed"`
	DowngradeAt      *time.Time `json:"downgrade_at"`
	// OverrideUntil is when an active override ends.
	OverrideUntil *time.Time `json:"override_until"`
}

// NextTier is the next tier up and the growth still needed to reach it.
type NextTier struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	GrowthNeeded int64  `json:"growth_needed"`
}

// HistoryEntry is one change of a member's tier (or an at-risk warning).
type HistoryEntry struct {
	ID       string     `json:"id"`
	MemberID string     `json:"member_id"`
	Kind     string     `json:"kind"`
	From     *TierRef   `json:"from_tier"`
	To       *TierRef   `json:"to_tier"`
	Growth   int64      `json:"growth"`
	Reason   string     `json:"reason"`
	Until    *time.Time `json:"until"`
	// CreatedAt is when the change happened.
	CreatedAt time.Time `json:"created_at"`
}

// TierRef names a tier as it was called when the entry was written.
type TierRef = members.TierRef

// Evaluation counts what a periodic evaluation did.
type Evaluation struct {
	// PeriodStart is the evaluation boundary this run stands for.
	PeriodStart time.Time `json:"period_start"`
	// AlreadyEvaluated is true when the period's evaluation had already
	// run (or no ladder existed before it), so nothing was done: tiers
	// never move down mid-period.
	AlreadyEvaluated bool      `json:"already_evaluated"`
	Evaluated        int       `json:"evaluated"`
	Upgraded         int       `json:"upgraded"`
	Downgraded       int       `json:"downgraded"`
	AtRisk           int       `json:"at_risk"`
	Kept             int       `json:"kept"`
	NextEvaluationAt time.Time `json:"next_evaluation_at"`
}

// GrowthReader is what tiers needs of the ledger; *ledger.Service
// implements it. Both methods join the context's transaction and return
// not_found for a member not in the tenant.
type GrowthReader interface {
	// GrowthOf returns the member's growth counter.
	GrowthOf(ctx context.Context, memberID string) (int64, error)
	// GrowthSince returns the growth the member gained since t.
	GrowthSince(ctx context.Context, memberID string, t time.Time) (int64, error)
}

// GrowthBatchReader is what a GrowthReader may also implement so that a
// page of members reads its growth in one query instead of one or two per
// member; *ledger.Service implements it. Both methods join the context's
// transaction. A member without growth (or not in the tenant) may be absent
// from the map, which means 0.
type GrowthBatchReader interface {
	// GrowthOfMembers returns the members' growth counters.
	GrowthOfMembers(ctx context.Context, memberIDs []string) (map[string]int64, error)
	// GrowthSinceMembers returns the growth each member gained since t.
	GrowthSinceMembers(ctx context.Context, memberIDs []string, t time.Time) (map[string]int64, error)
}

// CouponIssuer issues a coupon from a template to a member, joining the
// context's transaction; the mall implements it. When it returns an
// application error (a template not found or inactive) the upgrade goes on
// without the coupon and the issue's writes are undone; any other error
// fails the upgrade and the change of growth that caused it.
type CouponIssuer interface {
	IssueCoupon(ctx context.Context, memberID, templateID, reason string) error
}

// CouponTemplateChecker is what a CouponIssuer may also implement so that a
// tier can only name a coupon template the tenant can issue; the mall
// implements it. Without it, benefits.upgrade_coupon_template_id is only
// checked for its form.
type CouponTemplateChecker interface {
	// CouponTemplateUsable returns nil when the context's tenant has an
	// active coupon template with the id, not_found when it has none with
	// that id (another tenant's included) and conflict when it is inactive.
	CouponTemplateUsable(ctx context.Context, templateID string) error
}

// ItemRef names a mall item a tier unlocks.
type ItemRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// MinTierRank is the item's minimum tier rank, which decides the tier
	// that unlocks it.
	MinTierRank int `json:"min_tier_rank"`
}

// ExclusiveItemLister reads the mall items reserved to tiers; the mall
// implements it.
type ExclusiveItemLister interface {
	// ItemsUnlockedBetween returns the context's tenant's items that
	// members may see (active, and their sale window not ended) whose
	// min_tier_rank is greater than lowRankExclusive (and than 0) and at
	// most highRankInclusive, ordered by min_tier_rank and then id, in one
	// query.
	ItemsUnlockedBetween(ctx context.Context, lowRankExclusive, highRankInclusive int) ([]ItemRef, error)
}
