// Package rules is jifen's earning-rules engine. A tenant's rules say how an
// event (an order paid, a check-in, a review…) turns into points and growth:
// an event type, an optional CEL condition, CEL formulas for points and
// growth, limits, a priority and an optional active window. Rules are
// checked and compiled when saved; their programs are cached per rule
// version and run with a cost limit and a deadline.
//
// The events service calls Service.Evaluate for each event and stores the
// awards; Routes serves the rules API and the dashboard's templates and
// simulator. docs/rules.md explains the rule language to merchants.
package rules

import (
	"context"
	"regexp"
	"time"
)

// Built-in event types. Any other lower_snake name is a custom event.
const (
	EventMemberRegistered  = "member_registered"
	EventOrderPaid         = "order_paid"
	EventOrderRefunded     = "order_refunded"
	EventCheckIn           = "check_in"
	EventReviewPosted      = "review_posted"
	EventContentShared     = "content_shared"
	EventReferralCompleted = "referral_completed"
	EventBirthday          = "birthday"
)

// BuiltinEvents lists the built-in event types.
var BuiltinEvents = []string{
	EventMemberRegistered, EventOrderPaid, EventOrderRefunded, EventCheckIn,
	EventReviewPosted, EventContentShared, EventReferralCompleted, EventBirthday,
}

// eventName is the shape of every event type: lower_snake, at most 64
// characters.
var eventName = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

const maxEventNameLength = 64

// ValidEventType reports whether s may name an event type.
func ValidEventType(s string) bool {
	return len(s) <= maxEventNameLength && eventName.MatchString(s)
}

// Limits caps what a rule gives, counted in points (after the tier
// multiplier) in the tenant's calendar. 0 means no limit.
type Limits struct {
	PerMemberPerDay   int64 `json:"per_member_per_day"`
	PerMemberPerWeek  int64 `json:"per_member_per_week"`
	PerMemberPerMonth int64 `json:"per_member_per_month"`
	PerRulePerDay     int64 `json:"per_rule_per_day"`
}

// Rule is an earning rule as the API shows it.
type Rule struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Event     string `json:"event"`
	Condition string `json:"condition"`
	Points    string `json:"points"`
	Growth    string `json:"growth"`
	Limits    Limits `json:"limits"`
	// Priority orders rules: higher first, then older first.
	Priority int `json:"priority"`
	// Exclusive stops the evaluation of lower rules once this rule awards.
	Exclusive bool `json:"exclusive"`
	Active    bool `json:"active"`
	// StartsAt and EndsAt bound the events (by occurred_at) the rule
	// applies to: StartsAt <= occurred_at < EndsAt. Nil is unbounded.
	StartsAt *time.Time `json:"starts_at"`
	EndsAt   *time.Time `json:"ends_at"`
	// Template names the template the rule was made from, and Params the
	// template's parameters, defaults included.
	Template  string         `json:"template,omitempty"`
	Params    map[string]any `json:"params,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	// Version starts at 1 and grows with every change.
	Version int64 `json:"version"`
}

// appliesAt reports whether an event that occurred at t falls in the rule's
// window.
func (r *Rule) appliesAt(t time.Time) bool {
	if r.StartsAt != nil && t.Before(*r.StartsAt) {
		return false
	}
	if r.EndsAt != nil && !t.Before(*r.EndsAt) {
		return false
	}
	return true
}

// Input is what a rule is evaluated against.
type Input struct {
	EventType string
	// OccurredAt is when the event happened; it decides a rule's window.
	// Zero means Now.
	OccurredAt time.Time
	// Attributes are the event's attributes, normalised by
	// NormalizeAttributes (Evaluate normalises them again, which is cheap
	// and harmless).
	Attributes map[string]any
	Member     MemberFacts
	// Now is the processing time; it decides the day, week and month of the
	// limits. Zero means the service's clock.
	Now time.Time
}

// MemberFacts are what rules may know of the member.
type MemberFacts struct {
	ID string
	// Tier is the name of the member's tier, "" when the member has none.
	Tier   string
	Growth int64
	Points int64
	// Birthday is YYYY-MM-DD, or "" when unknown.
	Birthday  string
	CreatedAt time.Time
	// CheckinStreak is the number of consecutive days the member checked
	// in, today included (the events service computes it).
	CheckinStreak int64
}

// Award is what one rule gives.
type Award struct {
	RuleID   string `json:"rule_id"`
	RuleName string `json:"rule_name"`
	Points   int64  `json:"points"`
	Growth   int64  `json:"growth"`
	// Capped says a limit reduced the award; Note says why (for
	// simulation).
	Capped bool   `json:"capped,omitempty"`
	Note   string `json:"note,omitempty"`
}

// RuleError is a rule skipped because it failed at run time.
type RuleError struct {
	RuleID  string `json:"rule_id"`
	Message string `json:"message"`
}

// Usage tells the engine how much a member already got today/this week/month
// from a rule (for limits), in the tenant's zone.
type Usage interface {
	// AwardedSince returns the points the member got from the rule since t
	// (member "" = all members of the tenant, for per_rule_per_day).
	AwardedSince(ctx context.Context, ruleID, memberID string, since time.Time) (int64, error)
}

// noUsage is the Usage of a simulation without history: nothing awarded yet.
type noUsage struct{}

// AwardedSince returns 0: nothing was awarded yet.
func (noUsage) AwardedSince(context.Context, string, string, time.Time) (int64, error) {
	return 0, nil
}
