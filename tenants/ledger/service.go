package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"jifen/pkg/cursor"
	"jifen/platform"
	httpx "jifen/platform/http"
	"jifen/platform/storage"
	"jifen/tenants/members"
)

// Limits of what one entry may carry. maxPoints keeps every sum of a
// member's entries far from int64 overflow.
const (
	maxPoints    = 1_000_000_000_000
	maxReasonLen = 500 // characters
	maxRefLen    = 255 // characters
	maxOrderLen  = 128 // characters
	// maxExpiringDates is how many upcoming expiry dates a points view lists.
	maxExpiringDates = 5
	// sweepBatch is how many due accounts a sweep reads per query.
	sweepBatch = 200
)

var (
	creditKinds = []string{KindEarn, KindAdjust, KindRefund, KindTransferIn}
	debitKinds  = []string{KindSpend, KindRedeem, KindAdjust, KindTransferOut}
)

// now is the service's time at database precision.
func (s *Service) now() time.Time { return s.Clock.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) st() store { return store{db: s.DB} }

// dbTime is t in UTC at database precision; the zero time stays zero.
func dbTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// checkText adds a problem when v is longer than max characters.
func checkText(fe platform.FieldErrors, field, v string, max int) {
	if utf8.RuneCountInString(v) > max {
		fe.Add(field, fmt.Sprintf("must be at most %d characters", max))
	}
}

func checkMember(fe platform.FieldErrors, field, id string) {
	if strings.TrimSpace(id) == "" {
		fe.Add(field, "is required")
	}
}

func checkAmount(fe platform.FieldErrors, field string, v int64, positive bool) {
	switch {
	case positive && v <= 0:
		fe.Add(field, "must be a positive integer")
	case v < 0:
		fe.Add(field, "must not be negative")
	case v > maxPoints:
		fe.Add(field, fmt.Sprintf("must be at most %d", int64(maxPoints)))
	}
}

// Credit adds points (a new lot) and growth. Points is at least 0, Growth
// at least 0; when both are 0 nothing changes and the zero Entry is
// returned, and when only Points is 0 the growth changes without a ledger
// entry (the returned Entry is the zero Entry). It returns not_found for a
// member not in the tenant and validation_failed for a bad field.
func (s *Service) Credit(ctx context.Context, c Credit) (Entry, members.PointsView, error) {
	return s.credit(ctx, c, true)
}

// CreditEntry is Credit for callers that don't show the member's points
// (the events service): it returns the entry without the points view,
// which spares reading the member's expiry list.
func (s *Service) CreditEntry(ctx context.Context, c Credit) (Entry, error) {
	e, _, err := s.credit(ctx, c, false)
	return e, err
}

// credit is Credit; withView says whether to build the points view.
func (s *Service) credit(ctx context.Context, c Credit, withView bool) (Entry, members.PointsView, error) {
	now := s.now()
	c.ExpiresAt, c.PendingUntil = dbTime(c.ExpiresAt), dbTime(c.PendingUntil)
	fe := platform.FieldErrors{}
	checkMember(fe, "member_id", c.MemberID)
	checkAmount(fe, "points", c.Points, false)
	checkAmount(fe, "growth", c.Growth, false)
	if !slices.Contains(creditKinds, c.Kind) {
		fe.Add("kind", "must be one of "+strings.Join(creditKinds, ", "))
	}
	checkText(fe, "reason", c.Reason, maxReasonLen)
	checkText(fe, "ref", c.Ref, maxRefLen)
	checkText(fe, "order_id", c.OrderID, maxOrderLen)
	if !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(now) {
		fe.Add("expires_at", "must be in the future")
	}
	if err := fe.Err(); err != nil {
		return Entry{}, members.PointsView{}, err
	}
	if c.Points == 0 && c.Growth == 0 {
		if !withView {
			_, err := s.Members.FindMemberByID(ctx, c.MemberID)
			return Entry{}, members.PointsView{}, err
		}
		v, err := s.PointsOf(ctx, c.MemberID)
		return Entry{}, v, err
	}
	var e entryRow
	var view members.PointsView
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		a, _, err := s.openAccount(ctx, c.MemberID, now)
		if err != nil {
			return err
		}
		spec := creditSpec{kind: c.Kind, reason: c.Reason, ref: c.Ref, orderID: c.OrderID, points: c.Points,
			growth: c.Growth, pendingUntil: c.PendingUntil, expiresAt: c.ExpiresAt}
		if c.Points > 0 && c.ExpiresAt.IsZero() {
			c.ExpiresAt, err = a.defaultExpiry(ctx)
			if err != nil {
				return err
			}
			spec.expiresAt = c.ExpiresAt
		}
		if c.Points > 0 && !c.PendingUntil.IsZero() && !c.PendingUntil.Before(c.ExpiresAt) {
			return platform.FieldErrors{"pending_until": "must be before the points expire"}.Err()
		}
		if e, err = a.credit(ctx, spec); err != nil {
			return err
		}
		if !withView {
			return nil
		}
		view, err = a.view(ctx)
		return err
	})
	if err != nil {
		return Entry{}, members.PointsView{}, err
	}
	return e.api(), view, nil
}

// Debit takes points from the lots that expire first. It returns
// insufficient_points when the member has fewer available points,
// not_found for a member not in the tenant and validation_failed for a bad
// field.
func (s *Service) Debit(ctx context.Context, d Debit) (Entry, members.PointsView, error) {
	fe := platform.FieldErrors{}
	checkMember(fe, "member_id", d.MemberID)
	checkAmount(fe, "points", d.Points, true)
	if !slices.Contains(debitKinds, d.Kind) {
		fe.Add("kind", "must be one of "+strings.Join(debitKinds, ", "))
	}
	checkText(fe, "reason", d.Reason, maxReasonLen)
	checkText(fe, "ref", d.Ref, maxRefLen)
	if err := fe.Err(); err != nil {
		return Entry{}, members.PointsView{}, err
	}
	return s.debitWith(ctx, d.MemberID, debitSpec{kind: d.Kind, reason: d.Reason, ref: d.Ref, points: d.Points})
}

func (s *Service) debitWith(ctx context.Context, memberID string, spec debitSpec) (Entry, members.PointsView, error) {
	return s.onAccount(ctx, memberID, func(ctx context.Context, a *account) (entryRow, error) {
		return a.debit(ctx, spec)
	})
}

// onAccount opens the member's account in a transaction (taking the
// member's lock and settling what is due), lets write make one entry, and
// returns it with the member's points as they are afterwards.
func (s *Service) onAccount(ctx context.Context, memberID string, write func(ctx context.Context, a *account) (entryRow, error)) (Entry, members.PointsView, error) {
	var e entryRow
	var view members.PointsView
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		a, _, err := s.openAccount(ctx, memberID, s.now())
		if err != nil {
			return err
		}
		if e, err = write(ctx, a); err != nil {
			return err
		}
		view, err = a.view(ctx)
		return err
	})
	if err != nil {
		return Entry{}, members.PointsView{}, err
	}
	return e.api(), view, nil
}

// Spend takes points for a purchase outside the mall (kind spend).
func (s *Service) Spend(ctx context.Context, memberID string, points int64, reason, ref string) (Entry, members.PointsView, error) {
	return s.Debit(ctx, Debit{MemberID: memberID, Points: points, Kind: KindSpend, Reason: reason, Ref: ref})
}

// Adjust changes a member's points by delta (kind adjust) on a staff
// member's say, and records who did it and why in the audit log, in the
// same transaction. A negative delta beyond the available points is
// insufficient_points.
func (s *Service) Adjust(ctx context.Context, memberID string, delta int64, reason string) (Entry, members.PointsView, error) {
	reason = strings.TrimSpace(reason)
	fe := platform.FieldErrors{}
	switch {
	case delta == 0:
		fe.Add("delta", "must be a non-zero integer")
	case delta > maxPoints || delta < -maxPoints:
		fe.Add("delta", fmt.Sprintf("must be between %d and %d", -int64(maxPoints), int64(maxPoints)))
	}
	if reason == "" {
		fe.Add("reason", "is required")
	}
	checkText(fe, "reason", reason, maxReasonLen)
	if err := fe.Err(); err != nil {
		return Entry{}, members.PointsView{}, err
	}
	var e Entry
	var view members.PointsView
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var err error
		if delta > 0 {
			e, view, err = s.Credit(ctx, Credit{MemberID: memberID, Points: delta, Kind: KindAdjust, Reason: reason})
		} else {
			e, view, err = s.Debit(ctx, Debit{MemberID: memberID, Points: -delta, Kind: KindAdjust, Reason: reason})
		}
		if err != nil {
			return err
		}
		if s.Audit == nil {
			return nil
		}
		return s.Audit.Record(ctx, "points.adjust", "member", memberID, map[string]any{
			"delta": delta, "reason": reason, "entry_id": e.ID, "balance_after": e.BalanceAfter,
		})
	})
	if err != nil {
		return Entry{}, members.PointsView{}, err
	}
	return e, view, nil
}

// Reverse undoes a debit entry (spend, redeem or a negative adjust) of the
// member exactly once: the lots it drew get their points back with their
// expiry, and points of lots whose expiry passed meanwhile come back as a
// lot with the tenant's default expiry from now. A second call, or an entry
// that is not such a debit (holds are released, transfers and donations
// are final), returns conflict; an entry not of the member returns
// not_found.
func (s *Service) Reverse(ctx context.Context, memberID, entryID, reason string) (Entry, members.PointsView, error) {
	fe := platform.FieldErrors{}
	checkMember(fe, "member_id", memberID)
	checkMember(fe, "entry_id", entryID)
	checkText(fe, "reason", reason, maxReasonLen)
	if err := fe.Err(); err != nil {
		return Entry{}, members.PointsView{}, err
	}
	return s.onAccount(ctx, memberID, func(ctx context.Context, a *account) (entryRow, error) {
		orig, err := a.st.findEntry(ctx, memberID, entryID)
		if err != nil {
			return entryRow{}, err
		}
		switch {
		case orig.Points >= 0 || !slices.Contains(debitKinds, orig.Kind):
			return entryRow{}, platform.Errorf(platform.EConflict, "Only a debit (spend, redeem or a negative adjust) can be reversed; this entry is %s.", orig.Kind)
		case orig.Source == sourceHold:
			return entryRow{}, platform.Errorf(platform.EConflict, "This entry belongs to a checkout hold; release the hold instead.")
		case orig.Source == sourceTransfer:
			return entryRow{}, platform.Errorf(platform.EConflict, "A transfer is final; the receiver may transfer the points back.")
		case orig.Source == sourceDonation:
			return entryRow{}, platform.Errorf(platform.EConflict, "A donation is final and can't be reversed.")
		}
		done, err := a.st.reversed(ctx, orig.ID)
		if err != nil {
			return entryRow{}, err
		}
		if done {
			return entryRow{}, errAlreadyReversed()
		}
		if strings.TrimSpace(reason) == "" {
			reason = "Reversal of " + orig.Kind
		}
		return a.reverse(ctx, orig, reason, orig.Ref, sourceDirect)
	})
}

// ClawBack takes back what an order earned, under the tenant's refund
// policy, from that order's lots first:
//   - pending_only: only the order's points that are still pending;
//   - to_zero: the order's lots, then the member's other available points,
//     never below zero;
//   - allow_negative: as to_zero, and what is still missing becomes a debt
//     (available goes negative) that later credits repay first.
//
// What could not be taken is the entry's shortfall. Growth is taken back
// down to zero at most. The entry (kind reverse) is written even when
// nothing could be taken, so the attempt is on record. When Points is 0
// only growth changes and the zero Entry is returned.
func (s *Service) ClawBack(ctx context.Context, c ClawBack) (Entry, members.PointsView, error) {
	fe := platform.FieldErrors{}
	checkMember(fe, "member_id", c.MemberID)
	checkMember(fe, "order_id", c.OrderID)
	checkText(fe, "order_id", c.OrderID, maxOrderLen)
	checkAmount(fe, "points", c.Points, false)
	checkAmount(fe, "growth", c.Growth, false)
	checkText(fe, "reason", c.Reason, maxReasonLen)
	checkText(fe, "ref", c.Ref, maxRefLen)
	if err := fe.Err(); err != nil {
		return Entry{}, members.PointsView{}, err
	}
	return s.onAccount(ctx, c.MemberID, func(ctx context.Context, a *account) (entryRow, error) {
		cfg, err := a.settings(ctx)
		if err != nil {
			return entryRow{}, err
		}
		return a.clawBack(ctx, c, cfg.RefundPolicy)
	})
}

func (a *account) clawBack(ctx context.Context, c ClawBack, policy string) (entryRow, error) {
	growth := min(c.Growth, max(a.bal.Growth, 0))
	var e entryRow
	if c.Points > 0 {
		e = a.newEntry(ctx, KindReverse, 0, c.Reason, c.Ref, sourceClawBack)
		e.OrderID = c.OrderID
		lots, err := a.st.orderLots(ctx, a.member, c.OrderID)
		if err != nil {
			return entryRow{}, err
		}
		need := c.Points
		var draws []drawRow
		var fromOpen, fromPending int64
		for _, l := range lots {
			if need == 0 {
				break
			}
			if policy == PolicyPendingOnly && l.State != lotPending {
				continue
			}
			n := min(l.Remaining, need)
			if err := a.st.takeFromLot(ctx, l, n, a.now); err != nil {
				return entryRow{}, err
			}
			draws = append(draws, drawRow{TenantID: l.TenantID, EntryID: e.ID, LotID: l.ID, Points: n})
			if l.State == lotPending {
				fromPending += n
			} else {
				fromOpen += n
			}
			need -= n
		}
		if need > 0 && policy != PolicyPendingOnly {
			more, n, err := a.takeOpen(ctx, e.ID, need)
			if err != nil {
				return entryRow{}, err
			}
			draws = append(draws, more...)
			fromOpen += n
			need -= n
		}
		var debt int64
		if policy == PolicyAllowNegative {
			debt, need = need, 0
		}
		total := fromOpen + fromPending + debt
		if err := a.apply(ctx, change{available: -fromOpen - debt, pending: -fromPending, debt: debt,
			lifetime: -total, growth: -growth, entries: 1}, 0); err != nil {
			return entryRow{}, err
		}
		e.Points, e.Shortfall = -total, need
		a.stamp(&e)
		if err := a.st.insertEntry(ctx, &e); err != nil {
			return entryRow{}, err
		}
		if err := a.st.insertDraws(ctx, draws); err != nil {
			return entryRow{}, err
		}
	} else if growth > 0 {
		if err := a.apply(ctx, change{growth: -growth}, 0); err != nil {
			return entryRow{}, err
		}
	}
	if growth > 0 {
		if err := a.growthChanged(ctx, -growth, e.ID, c.Ref); err != nil {
			return entryRow{}, err
		}
	}
	return e, nil
}

// view is the account's points as the API shows them.
func (a *account) view(ctx context.Context) (members.PointsView, error) {
	loc, err := a.location(ctx)
	if err != nil {
		return members.PointsView{}, err
	}
	groups, err := a.st.expiries(ctx, []string{a.member})
	if err != nil {
		return members.PointsView{}, err
	}
	return pointsView(a.bal, groups, loc), nil
}

// pointsView builds the API's view of a balance; groups are the member's
// expiry groups, earliest first. Expiring lists the next expiry dates in
// the tenant's zone, each as the end (23:59:59) of that local day in UTC.
func pointsView(b balanceRow, groups []expiryGroup, loc *time.Location) members.PointsView {
	v := members.PointsView{Available: b.Available, Pending: b.Pending, LifetimeEarned: b.LifetimeEarned, Expiring: []members.Expiring{}}
	for _, g := range groups {
		y, m, d := g.ExpiresAt.In(loc).Date()
		end := time.Date(y, m, d, 23, 59, 59, 0, loc).UTC()
		if n := len(v.Expiring); n > 0 && v.Expiring[n-1].ExpiresAt.Equal(end) {
			v.Expiring[n-1].Points += g.Points
			continue
		}
		if len(v.Expiring) == maxExpiringDates {
			break
		}
		v.Expiring = append(v.Expiring, members.Expiring{Points: g.Points, ExpiresAt: end})
	}
	return v
}

// location is the tenant's time zone for reads.
func (s *Service) location(ctx context.Context) (*time.Location, error) {
	if t, ok := platform.TenantFrom(ctx); ok && t.TimeZone != "" {
		return t.Location(), nil
	}
	cfg, err := s.st().loadSettings(ctx)
	if err != nil {
		return nil, err
	}
	return platform.Tenant{TimeZone: cfg.TimeZone}.Location(), nil
}

// settleMember settles one member's account at now in a transaction of its
// own (or the context's).
func (s *Service) settleMember(ctx context.Context, memberID string, now time.Time) (settleResult, error) {
	var res settleResult
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var err error
		_, res, err = s.openAccount(ctx, memberID, now)
		return err
	})
	return res, err
}

// balanceNow returns the member's balance row with everything due at now
// settled; found is false when the member has no ledger activity.
func (s *Service) balanceNow(ctx context.Context, memberID string) (balanceRow, bool, error) {
	b, found, err := s.loadBalance(ctx, memberID)
	if err != nil || !found {
		return b, found, err
	}
	if now := s.now(); b.due(now) {
		if _, err := s.settleMember(ctx, memberID, now); err != nil {
			return b, false, err
		}
		return s.loadBalance(ctx, memberID)
	}
	return b, true, nil
}

// PointsOf returns the member's points; not_found when the member is not in
// the tenant. Pending points whose time has come show as available and
// lapsed points as expired: a read settles what fell due first.
func (s *Service) PointsOf(ctx context.Context, memberID string) (members.PointsView, error) {
	if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
		return members.PointsView{}, err
	}
	b, found, err := s.balanceNow(ctx, memberID)
	if err != nil {
		return members.PointsView{}, err
	}
	loc, err := s.location(ctx)
	if err != nil {
		return members.PointsView{}, err
	}
	if !found {
		return pointsView(balanceRow{}, nil, loc), nil
	}
	groups, err := s.st().expiries(ctx, []string{memberID})
	if err != nil {
		return members.PointsView{}, err
	}
	return pointsView(b, groups, loc), nil
}

// GrowthOf returns the member's growth; not_found when the member is not in
// the tenant.
func (s *Service) GrowthOf(ctx context.Context, memberID string) (int64, error) {
	if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
		return 0, err
	}
	b, _, err := s.loadBalance(ctx, memberID)
	return b.Growth, err
}

// BalanceOf returns the member's points and growth without the expiry list
// of PointsOf, for callers that only weigh the numbers (the events
// service's rule facts); not_found when the member is not in the tenant.
// Like PointsOf it settles what fell due first. Inside a transaction that
// holds the member's lock it reads nothing that the transaction already
// read.
func (s *Service) BalanceOf(ctx context.Context, memberID string) (Balance, error) {
	if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
		return Balance{}, err
	}
	b, _, err := s.balanceNow(ctx, memberID)
	if err != nil {
		return Balance{}, err
	}
	return Balance{Available: b.Available, Pending: b.Pending, LifetimeEarned: b.LifetimeEarned, Growth: b.Growth}, nil
}

// PointsPendingDays returns the tenant's return window for order points,
// points_pending_days (0: none). The ledger reads the tenant's settings
// once per transaction, so a caller that also credits pays nothing more.
func (s *Service) PointsPendingDays(ctx context.Context) (int, error) {
	cfg, err := s.st().loadSettings(ctx)
	return cfg.PointsPendingDays, err
}

// GrowthSince returns the growth the member gained since t (net of growth
// taken back by refunds), for tiers on a rolling window; not_found when the
// member is not in the tenant.
func (s *Service) GrowthSince(ctx context.Context, memberID string, t time.Time) (int64, error) {
	if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
		return 0, err
	}
	return s.st().growthSince(ctx, memberID, t.UTC())
}

// GrowthOfMembers returns the growth counter of each member, in one query,
// for a page of members (their tier progress). A member without growth
// yet, or not in the tenant, is absent: its growth is 0.
func (s *Service) GrowthOfMembers(ctx context.Context, memberIDs []string) (map[string]int64, error) {
	if len(memberIDs) == 0 {
		return map[string]int64{}, nil
	}
	return s.st().growthOf(ctx, memberIDs)
}

// GrowthSinceMembers returns what GrowthSince returns for each member, in
// one query. A member that gained no growth since t, or is not in the
// tenant, is absent: its growth since t is 0.
func (s *Service) GrowthSinceMembers(ctx context.Context, memberIDs []string, t time.Time) (map[string]int64, error) {
	if len(memberIDs) == 0 {
		return map[string]int64{}, nil
	}
	return s.st().growthSinceOf(ctx, memberIDs, t.UTC())
}

// MemberStandings implements members.PointsReader: the standing of each
// member id with ledger activity, with what fell due settled first.
func (s *Service) MemberStandings(ctx context.Context, memberIDs []string) (map[string]members.Standing, error) {
	out := map[string]members.Standing{}
	if len(memberIDs) == 0 {
		return out, nil
	}
	st := s.st()
	rows, err := st.loadBalances(ctx, memberIDs)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var due []string
	for _, b := range rows {
		if b.due(now) {
			due = append(due, b.MemberID)
		}
	}
	if len(due) > 0 {
		for _, id := range due {
			if _, err := s.settleMember(ctx, id, now); err != nil {
				return nil, err
			}
		}
		if rows, err = st.loadBalances(ctx, memberIDs); err != nil {
			return nil, err
		}
	}
	loc, err := s.location(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := st.expiries(ctx, memberIDs)
	if err != nil {
		return nil, err
	}
	byMember := map[string][]expiryGroup{}
	for _, g := range groups {
		byMember[g.MemberID] = append(byMember[g.MemberID], g)
	}
	for _, b := range rows {
		out[b.MemberID] = members.Standing{Points: pointsView(b, byMember[b.MemberID], loc), Growth: b.Growth}
	}
	return out, nil
}

// ExpireDue expires the due lot remainders of the context's tenant with
// expire entries (one per member) and returns how many points expired. It
// settles each due account under the member's lock, one transaction per
// member unless ctx carries one, so it also makes due pending points
// available and releases expired holds.
func (s *Service) ExpireDue(ctx context.Context, now time.Time) (expired int64, err error) {
	r, err := s.Sweep(ctx, now)
	return r.Expired, err
}

// ReleaseDuePending makes the tenant's pending points whose time has come
// available and returns how many points it released. Reads and writes do
// the same for one member as they touch it; this sweep is for the rest.
func (s *Service) ReleaseDuePending(ctx context.Context, now time.Time) (released int64, err error) {
	r, err := s.Sweep(ctx, now)
	return r.Released, err
}

// ReleaseExpiredHolds gives the points of the tenant's holds that expired
// uncaptured back and returns how many holds it released.
func (s *Service) ReleaseExpiredHolds(ctx context.Context, now time.Time) (released int, err error) {
	r, err := s.Sweep(ctx, now)
	return r.HoldsReleased, err
}

// Sweep settles every account of the context's tenant with something due at
// now: expired holds, pending points whose time came, lapsed lots. One job
// calling it (or any of ExpireDue, ReleaseDuePending, ReleaseExpiredHolds)
// is enough.
func (s *Service) Sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var out SweepResult
	var errs []error
	st := s.st()
	after := ""
	for {
		due, err := st.dueMembers(ctx, now, after, sweepBatch)
		if err != nil {
			return out, err
		}
		for _, id := range due {
			r, err := s.settleMember(ctx, id, now)
			if err != nil {
				// Inside a caller's transaction the error dooms it; else one
				// account's trouble must not keep the others from settling.
				if storage.InTx(ctx) {
					return out, err
				}
				errs = append(errs, fmt.Errorf("settle member %s: %w", id, err))
				continue
			}
			out.Members++
			out.Expired += r.expired
			out.Released += r.released
			out.HoldsReleased += r.holdsReleased
		}
		if len(due) < sweepBatch {
			return out, errors.Join(errs...)
		}
		after = due[len(due)-1]
	}
}

// ListEntries returns a page of the member's entries, newest first;
// not_found when the member is not in the tenant, validation_failed naming
// kind, to or cursor when they are not valid.
func (s *Service) ListEntries(ctx context.Context, memberID string, f EntryFilter) ([]Entry, string, error) {
	fe := platform.FieldErrors{}
	if f.Kind != "" && !slices.Contains(Kinds, f.Kind) {
		fe.Add("kind", "must be one of "+strings.Join(Kinds, ", "))
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		fe.Add("to", "must be after from")
	}
	if err := fe.Err(); err != nil {
		return nil, "", err
	}
	if f.Limit <= 0 {
		f.Limit = cursor.DefaultLimit
	}
	var before int64
	if ok, err := cursor.Decode(f.Cursor, &before); err != nil || (ok && before <= 0) {
		return nil, "", httpx.InvalidCursor()
	}
	if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
		return nil, "", err
	}
	if _, _, err := s.balanceNow(ctx, memberID); err != nil {
		return nil, "", err
	}
	rows, err := s.st().listEntries(ctx, memberID, f, before)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		next = cursor.Encode(rows[len(rows)-1].Seq)
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = r.api()
	}
	return out, next, nil
}
