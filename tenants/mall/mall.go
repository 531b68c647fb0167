// Package mall is the points mall (积分商城): items members redeem for
// points (physical goods, coupons, virtual items, exchange codes and
// lotteries), the redemption orders and their fulfilment, coupon templates
// and coupons with their verification (核销), batches of exchange codes
// (兑换码) and the points lottery (积分抽奖).
//
// Every write that moves points or stock runs in one transaction: stock is
// taken with a conditional update (stock >= n, rows affected) beside the
// ledger's debit, so a flash sale never oversells and a loser is never
// charged. Lock order, everywhere: the member's row (members.Store.LockMember)
// first, then item rows, then what hangs off them, so concurrent writers
// queue instead of deadlocking.
package mall

import (
	"context"
	"crypto/rand"
	"time"

	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/storage"
	"jifen/tenants/ledger"
	"jifen/tenants/members"
	"jifen/tenants/tiers"
)

// TierRanker tells a member's tier rank, for items reserved to higher tiers.
type TierRanker interface {
	// MemberTierRank returns the member's tier rank (0 = no tier, higher is
	// better) and the tier's id ("" for none); not_found when the member is
	// not in the tenant.
	MemberTierRank(ctx context.Context, memberID string) (rank int, tierID string, err error)
}

// The mall serves the tier ladder: it issues upgrade coupons, vets the
// templates tiers name for them, and lists the items each tier unlocks
// through the items' min_tier_rank.
var (
	_ tiers.CouponIssuer          = (*Service)(nil)
	_ tiers.CouponTemplateChecker = (*Service)(nil)
	_ tiers.ExclusiveItemLister   = (*Service)(nil)
)

// PointsLedger is the part of the points ledger the mall uses;
// *ledger.Service implements it. Each method joins the context's
// transaction and takes the member's lock first.
type PointsLedger interface {
	// Debit takes points; insufficient_points when the member has too few.
	Debit(ctx context.Context, d ledger.Debit) (ledger.Entry, members.PointsView, error)
	// Credit adds points (lottery prizes).
	Credit(ctx context.Context, c ledger.Credit) (ledger.Entry, members.PointsView, error)
	// Reverse undoes a debit exactly once; conflict on a second call.
	Reverse(ctx context.Context, memberID, entryID, reason string) (ledger.Entry, members.PointsView, error)
}

// Defaults of the exchange-code guessing guard.
const (
	defaultCodeAttemptLimit  = 10               // failed code attempts per subject and window
	defaultCodeAttemptWindow = 15 * time.Minute // fixed window the attempts are counted in
)

// Service holds the mall's rules.
type Service struct {
	DB      *storage.DB
	Members *members.Store
	Ledger  PointsLedger
	Clock   platform.Clock
	Audit   *audit.Log
	// Tiers ranks members for tier-only items; nil means every member has
	// rank 0 and sees only items without a minimum tier.
	Tiers TierRanker
	// CodeAttemptLimit is how many failed exchange-code attempts one member
	// (for redeem) or one caller (for verify) may make per
	// CodeAttemptWindow before getting rate_limited; 0 means 10 per 15
	// minutes. The counter lives in the database, so it holds across
	// replicas.
	CodeAttemptLimit  int
	CodeAttemptWindow time.Duration
}

func (s *Service) st() store { return store{db: s.DB} }

// now is the service's time at database precision.
func (s *Service) now() time.Time { return s.Clock.Now().UTC().Truncate(time.Microsecond) }

// record writes an audit entry in the context's transaction.
func (s *Service) record(ctx context.Context, action, targetType, targetID string, details map[string]any) error {
	if s.Audit == nil {
		return nil
	}
	return s.Audit.Record(ctx, action, targetType, targetID, details)
}

// tierRank returns the member's tier rank, 0 without a ranker.
func (s *Service) tierRank(ctx context.Context, memberID string) (int, error) {
	if s.Tiers == nil {
		return 0, nil
	}
	rank, _, err := s.Tiers.MemberTierRank(ctx, memberID)
	return rank, err
}

// location is the tenant's time zone; per-day and per-month limits and the
// lottery's daily budget follow it.
func location(ctx context.Context) *time.Location {
	t, _ := platform.TenantFrom(ctx)
	return t.Location()
}

// dayStart is the start of the tenant's local day containing t, in UTC.
func dayStart(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc).UTC()
}

// monthStart is the start of the tenant's local month containing t, in UTC.
func monthStart(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc).UTC()
}

// localDay names the tenant's local day of t as YYYY-MM-DD.
func localDay(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(time.DateOnly)
}

// Codes (coupon codes and exchange codes) are 16 symbols of an alphabet
// without look-alikes (no 0/O, no 1/I): 32 symbols, so 80 random bits.
const (
	codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	codeLength   = 16
)

// newCode returns a fresh random code from crypto/rand.
func newCode() string {
	b := make([]byte, codeLength)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = codeAlphabet[b[i]&31] // 32 symbols: the low 5 bits are uniform
	}
	return string(b)
}

// normalizeCode accepts a code as people type it (any case, with spaces or
// dashes between groups) and reports whether it can be a code at all.
func normalizeCode(s string) (string, bool) {
	out := make([]byte, 0, codeLength)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	if len(out) != codeLength {
		return "", false
	}
	for _, c := range out {
		if !inAlphabet(c) {
			return "", false
		}
	}
	return string(out), true
}

func inAlphabet(c byte) bool {
	for i := 0; i < len(codeAlphabet); i++ {
		if codeAlphabet[i] == c {
			return true
		}
	}
	return false
}

// conflict returns a conflict error with details.
func conflict(details map[string]any, format string, args ...any) error {
	return platform.Errorf(platform.EConflict, format, args...).WithDetails(details)
}
