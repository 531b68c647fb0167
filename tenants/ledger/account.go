package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/storage"
)

// account is one member's points inside a write transaction, after the
// member's lock was taken. bal mirrors the balance row: every change is
// written with an UPDATE first and then applied to the mirror, so the
// mirror is what the row holds for the rest of the transaction.
type account struct {
	s      *Service
	st     store
	member string
	now    time.Time
	bal    balanceRow
	cfg    *settings
}

// change is a change of the balance row.
type change struct {
	available, pending, debt, lifetime, growth int64
	// entries is how many ledger entries the change writes; each takes the
	// next sequence number.
	entries int64
	// due, when set, is a moment something new falls due (a pending lot, an
	// expiry, a hold's expiry); next_due_at moves earlier when needed.
	due time.Time
}

// settleResult says what settling an account did.
type settleResult struct {
	expired       int64
	released      int64
	holdsReleased int
}

// openAccount takes the member's lock, reads (or creates) the balance row
// and settles what fell due at now. It must run inside a transaction.
// Within one transaction the lock is taken and the row read only once
// (see loadBalance).
func (s *Service) openAccount(ctx context.Context, memberID string, now time.Time) (*account, settleResult, error) {
	if _, err := s.Members.LockMember(ctx, memberID); err != nil {
		return nil, settleResult{}, err
	}
	a := &account{s: s, st: store{db: s.DB}, member: memberID, now: now}
	bal, found, err := s.loadBalance(ctx, memberID)
	if err != nil {
		return nil, settleResult{}, err
	}
	a.bal = bal
	if !found {
		a.bal = balanceRow{TenantID: platform.TenantID(ctx), MemberID: memberID, CreatedAt: now, UpdatedAt: now}
		if err := a.st.insertBalance(ctx, &a.bal); err != nil {
			return nil, settleResult{}, err
		}
		a.remember(ctx)
	}
	var res settleResult
	if a.bal.due(now) {
		if res, err = a.settle(ctx); err != nil {
			return nil, settleResult{}, err
		}
	}
	return a, res, nil
}

// balanceKey names a member's balance row in the transaction's cache.
type balanceKey struct{ tenantID, memberID string }

// cachedBalance is a balance row as the transaction's cache keeps it;
// found is false when the member has no row yet.
type cachedBalance struct {
	row   balanceRow
	found bool
}

// loadBalance reads the member's balance row; found is false when the
// member has none yet. Inside a transaction that holds the member's lock
// the row is read once: nobody else can change it before the commit, and
// every change this transaction makes goes through account.apply or
// account.setNextDue, which keep the cached row equal to the stored one.
func (s *Service) loadBalance(ctx context.Context, memberID string) (balanceRow, bool, error) {
	cache, key := storage.TxCache(ctx), balanceKey{platform.TenantID(ctx), memberID}
	if v, ok := cache.Get(key); ok {
		c := v.(cachedBalance)
		return c.row, c.found, nil
	}
	b, found, err := s.st().loadBalance(ctx, memberID)
	if err != nil {
		return b, false, err
	}
	if s.Members.Locked(ctx, memberID) {
		cache.Set(key, cachedBalance{row: b, found: found})
	}
	return b, found, nil
}

// remember puts the account's balance row, as it is now stored, in the
// transaction's cache. The account holds the member's lock.
func (a *account) remember(ctx context.Context) {
	storage.TxCache(ctx).Set(balanceKey{platform.TenantID(ctx), a.member}, cachedBalance{row: a.bal, found: true})
}

// settings returns the tenant's settings, read once per account.
func (a *account) settings(ctx context.Context) (*settings, error) {
	if a.cfg == nil {
		cfg, err := a.st.loadSettings(ctx)
		if err != nil {
			return nil, err
		}
		a.cfg = &cfg
	}
	return a.cfg, nil
}

// location is the tenant's time zone: the request's tenant, else the
// tenant's setting (jobs carry only the tenant id).
func (a *account) location(ctx context.Context) (*time.Location, error) {
	if t, ok := platform.TenantFrom(ctx); ok && t.TimeZone != "" {
		return t.Location(), nil
	}
	cfg, err := a.settings(ctx)
	if err != nil {
		return nil, err
	}
	return platform.Tenant{TimeZone: cfg.TimeZone}.Location(), nil
}

// defaultExpiry is the end of the local day points_expiry_months after now,
// or never when the tenant's points don't expire.
func (a *account) defaultExpiry(ctx context.Context) (time.Time, error) {
	cfg, err := a.settings(ctx)
	if err != nil {
		return time.Time{}, err
	}
	loc, err := a.location(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return expiryAfter(a.now, cfg.PointsExpiryMonths, loc), nil
}

// expiryAfter is the end (23:59:59) of the local day months after now; a
// day that the target month lacks becomes its last day (31 Jan + 1 month
// is 28 or 29 Feb). months <= 0 means never.
func expiryAfter(now time.Time, months int, loc *time.Location) time.Time {
	if months <= 0 {
		return neverExpires
	}
	l := now.In(loc)
	y, m, d := l.Date()
	total := int(m) - 1 + months
	ty, tm := y+total/12, time.Month(total%12+1)
	if last := daysIn(ty, tm); d > last {
		d = last
	}
	return time.Date(ty, tm, d, 23, 59, 59, 0, loc).UTC()
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// apply writes c to the balance row and the mirror. When need > 0 the
// update is conditional on available >= need and insufficient_points is
// returned when it matches no row.
func (a *account) apply(ctx context.Context, c change, need int64) error {
	cols := map[string]any{"updated_at": a.now}
	add := func(col string, d int64) {
		if d != 0 {
			cols[col] = gorm.Expr(col+" + ?", d)
		}
	}
	add("available", c.available)
	add("pending", c.pending)
	add("debt", c.debt)
	add("lifetime_earned", c.lifetime)
	add("growth", c.growth)
	add("seq", c.entries)
	next := a.bal.NextDueAt
	if !c.due.IsZero() && (next == nil || c.due.Before(*next)) {
		d := c.due
		next = &d
		cols["next_due_at"] = d
	}
	n, err := a.st.updateBalance(ctx, a.member, cols, need)
	if err != nil {
		return err
	}
	if n != 1 {
		if need > 0 {
			return insufficient(a.bal.Available, need)
		}
		return errors.New("ledger: the balance row is missing under the member's lock")
	}
	a.bal.Available += c.available
	a.bal.Pending += c.pending
	a.bal.Debt += c.debt
	a.bal.LifetimeEarned += c.lifetime
	a.bal.Growth += c.growth
	a.bal.Seq += c.entries
	a.bal.NextDueAt = next
	a.bal.UpdatedAt = a.now
	a.remember(ctx)
	return nil
}

// setNextDue recomputes next_due_at from the lots and holds.
func (a *account) setNextDue(ctx context.Context) error {
	next, err := a.st.nextDue(ctx, a.member)
	if err != nil {
		return err
	}
	if _, err := a.st.updateBalance(ctx, a.member, map[string]any{"next_due_at": next, "updated_at": a.now}, 0); err != nil {
		return err
	}
	a.bal.NextDueAt = next
	a.bal.UpdatedAt = a.now
	a.remember(ctx)
	return nil
}

// newEntry starts an entry of the account; stamp fills its place in the
// sequence after the balance change that it belongs to was applied.
func (a *account) newEntry(ctx context.Context, kind string, points int64, reason, ref, source string) entryRow {
	return entryRow{
		TenantID: platform.TenantID(ctx), ID: ids.NewAt(a.now), MemberID: a.member, Kind: kind, Points: points,
		Reason: reason, Ref: ref, Source: source, CreatedAt: a.now,
	}
}

func (a *account) stamp(e *entryRow) {
	e.Seq = a.bal.Seq
	e.BalanceAfter = a.bal.Available + a.bal.Pending
}

func insufficient(available, need int64) error {
	if available < 0 {
		available = 0
	}
	return (&platform.Error{Code: platform.EInsufficientPoints,
		Message: fmt.Sprintf("The member has %d points available; %d are needed.", available, need)}).
		WithDetails(map[string]any{"available": available, "requested": need})
}

func errAlreadyReversed() error {
	return platform.Errorf(platform.EConflict, "This entry was already reversed.")
}

// takeOpen draws up to need points from the open lots, first to expire
// first, for entryID. It returns the draws; their sum is below need only
// when the lots run out.
func (a *account) takeOpen(ctx context.Context, entryID string, need int64) ([]drawRow, int64, error) {
	var draws []drawRow
	var taken int64
	for need > 0 {
		lots, err := a.st.openLots(ctx, a.member, lotPageSize)
		if err != nil {
			return nil, 0, err
		}
		if len(lots) == 0 {
			break
		}
		for _, l := range lots {
			n := min(l.Remaining, need)
			if err := a.st.takeFromLot(ctx, l, n, a.now); err != nil {
				return nil, 0, err
			}
			draws = append(draws, drawRow{TenantID: l.TenantID, EntryID: entryID, LotID: l.ID, Points: n})
			taken += n
			need -= n
			if need == 0 {
				break
			}
		}
	}
	return draws, taken, nil
}

// repayDebt lets open lots pay the member's debt, first to expire first.
// Available does not change: the lots and the debt shrink together.
func (a *account) repayDebt(ctx context.Context) error {
	if a.bal.Debt <= 0 {
		return nil
	}
	_, paid, err := a.takeOpen(ctx, "", a.bal.Debt)
	if err != nil || paid == 0 {
		return err
	}
	return a.apply(ctx, change{debt: -paid}, 0)
}

// debitSpec is a debit as the account writes it.
type debitSpec struct {
	kind, reason, ref, source string
	points                    int64
	due                       time.Time
}

// debit takes points from the open lots, FIFO by expiry. The conditional
// balance update comes before the lots are touched: it is the guard that no
// overdraw gets past.
func (a *account) debit(ctx context.Context, d debitSpec) (entryRow, error) {
	if a.bal.Available < d.points {
		return entryRow{}, insufficient(a.bal.Available, d.points)
	}
	if err := a.apply(ctx, change{available: -d.points, entries: 1, due: d.due}, d.points); err != nil {
		return entryRow{}, err
	}
	e := a.newEntry(ctx, d.kind, -d.points, d.reason, d.ref, d.source)
	a.stamp(&e)
	draws, taken, err := a.takeOpen(ctx, e.ID, d.points)
	if err != nil {
		return entryRow{}, err
	}
	if taken != d.points {
		return entryRow{}, fmt.Errorf("ledger: member %s has %d available but lots cover only %d", a.member, d.points, taken)
	}
	if err := a.st.insertEntry(ctx, &e); err != nil {
		return entryRow{}, err
	}
	return e, a.st.insertDraws(ctx, draws)
}

// creditSpec is a credit as the account writes it.
type creditSpec struct {
	kind, reason, ref, orderID, source string
	points, growth                     int64
	pendingUntil, expiresAt            time.Time
}

// earns reports whether a credit kind counts towards lifetime_earned:
// points the merchant awarded, not points that came back or were given by
// another member.
func earns(kind string) bool { return kind == KindEarn || kind == KindAdjust }

// credit adds a lot (and growth). A pending credit waits for its time; an
// available one first pays any debt.
func (a *account) credit(ctx context.Context, c creditSpec) (entryRow, error) {
	var e entryRow
	if c.points > 0 {
		if c.expiresAt.IsZero() {
			exp, err := a.defaultExpiry(ctx)
			if err != nil {
				return entryRow{}, err
			}
			c.expiresAt = exp
		}
		pending := !c.pendingUntil.IsZero() && c.pendingUntil.After(a.now)
		ch := change{growth: c.growth, entries: 1, due: c.expiresAt}
		lot := lotRow{TenantID: platform.TenantID(ctx), ID: ids.NewAt(a.now), MemberID: a.member, OrderID: c.orderID,
			Points: c.points, Remaining: c.points, State: lotOpen, ExpiresAt: c.expiresAt, CreatedAt: a.now, UpdatedAt: a.now}
		if pending {
			ch.pending, ch.due = c.points, c.pendingUntil
			lot.State, lot.PendingUntil = lotPending, &c.pendingUntil
		} else {
			ch.available = c.points
		}
		if earns(c.kind) {
			ch.lifetime = c.points
		}
		if err := a.apply(ctx, ch, 0); err != nil {
			return entryRow{}, err
		}
		e = a.newEntry(ctx, c.kind, c.points, c.reason, c.ref, c.source)
		e.OrderID = c.orderID
		a.stamp(&e)
		lot.EntryID = e.ID
		if err := a.st.insertEntry(ctx, &e); err != nil {
			return entryRow{}, err
		}
		if err := a.st.insertLot(ctx, &lot); err != nil {
			return entryRow{}, err
		}
		if !pending {
			if err := a.repayDebt(ctx); err != nil {
				return entryRow{}, err
			}
		}
	} else if c.growth != 0 {
		if err := a.apply(ctx, change{growth: c.growth}, 0); err != nil {
			return entryRow{}, err
		}
	}
	if c.growth != 0 {
		if err := a.growthChanged(ctx, c.growth, e.ID, c.ref); err != nil {
			return entryRow{}, err
		}
	}
	return e, nil
}

// growthChanged records a growth change that was already applied to the
// balance and tells the observer.
func (a *account) growthChanged(ctx context.Context, delta int64, entryID, ref string) error {
	g := growthRow{TenantID: platform.TenantID(ctx), ID: ids.NewAt(a.now), MemberID: a.member, Delta: delta,
		EntryID: entryID, Ref: ref, CreatedAt: a.now}
	if err := a.st.insertGrowth(ctx, &g); err != nil {
		return err
	}
	if a.s.OnGrowth != nil {
		return a.s.OnGrowth.GrowthChanged(ctx, a.member, a.bal.Growth)
	}
	return nil
}

// reverse undoes a debit entry: each lot it drew gets its points back and
// keeps its expiry; points of lots whose expiry has passed come back as a
// new lot with the tenant's default expiry from now.
func (a *account) reverse(ctx context.Context, orig entryRow, reason, ref, source string) (entryRow, error) {
	points := -orig.Points
	draws, err := a.st.drawsOf(ctx, orig.ID)
	if err != nil {
		return entryRow{}, err
	}
	var lotIDs []string
	var drawn int64
	for _, d := range draws {
		lotIDs = append(lotIDs, d.LotID)
		drawn += d.Points
	}
	if drawn != points {
		return entryRow{}, fmt.Errorf("ledger: entry %s drew %d points from lots but moved %d", orig.ID, drawn, points)
	}
	lots, err := a.st.lotsByID(ctx, lotIDs)
	if err != nil {
		return entryRow{}, err
	}
	var due time.Time
	var lapsed int64
	var back []drawRow
	e := a.newEntry(ctx, KindReverse, points, reason, ref, source)
	e.ReversesID = ptr(orig.ID)
	for _, d := range draws {
		l, ok := lots[d.LotID]
		if !ok {
			return entryRow{}, fmt.Errorf("ledger: lot %s drawn by %s is missing", d.LotID, orig.ID)
		}
		if !l.ExpiresAt.After(a.now) {
			lapsed += d.Points
			continue
		}
		if err := a.st.giveToLot(ctx, l.ID, d.Points, a.now); err != nil {
			return entryRow{}, err
		}
		back = append(back, drawRow{TenantID: l.TenantID, EntryID: e.ID, LotID: l.ID, Points: -d.Points})
		if due.IsZero() || l.ExpiresAt.Before(due) {
			due = l.ExpiresAt
		}
	}
	var fresh *lotRow
	if lapsed > 0 {
		exp, err := a.defaultExpiry(ctx)
		if err != nil {
			return entryRow{}, err
		}
		fresh = &lotRow{TenantID: platform.TenantID(ctx), ID: ids.NewAt(a.now), MemberID: a.member, EntryID: e.ID,
			Points: lapsed, Remaining: lapsed, State: lotOpen, ExpiresAt: exp, CreatedAt: a.now, UpdatedAt: a.now}
		if due.IsZero() || exp.Before(due) {
			due = exp
		}
	}
	if err := a.apply(ctx, change{available: points, entries: 1, due: due}, 0); err != nil {
		return entryRow{}, err
	}
	a.stamp(&e)
	if err := a.st.insertEntry(ctx, &e); err != nil {
		return entryRow{}, err
	}
	if fresh != nil {
		if err := a.st.insertLot(ctx, fresh); err != nil {
			return entryRow{}, err
		}
	}
	if err := a.st.insertDraws(ctx, back); err != nil {
		return entryRow{}, err
	}
	return e, a.repayDebt(ctx)
}

func ptr[T any](v T) *T { return &v }

// settle brings the account up to now, in the order things happened:
// expired holds give their points back, pending lots whose time came become
// available (and pay any debt), then lots whose expiry came expire. Last,
// next_due_at is recomputed.
func (a *account) settle(ctx context.Context) (settleResult, error) {
	var res settleResult
	holds, err := a.st.dueHolds(ctx, a.member, a.now)
	if err != nil {
		return res, err
	}
	for _, h := range holds {
		if err := a.releaseHold(ctx, h, HoldExpired); err != nil {
			return res, err
		}
		res.holdsReleased++
	}

	pend, err := a.st.duePendingLots(ctx, a.member, a.now)
	if err != nil {
		return res, err
	}
	if len(pend) > 0 {
		var ids []string
		for _, l := range pend {
			ids = append(ids, l.ID)
			res.released += l.Remaining
		}
		n, err := a.st.setLotsState(ctx, ids, lotPending, lotOpen, a.now)
		if err != nil {
			return res, err
		}
		if n != int64(len(ids)) {
			return res, errors.New("ledger: pending lots changed under the member's lock")
		}
		if err := a.apply(ctx, change{available: res.released, pending: -res.released}, 0); err != nil {
			return res, err
		}
		if err := a.repayDebt(ctx); err != nil {
			return res, err
		}
	}

	lapsed, err := a.st.dueExpiredLots(ctx, a.member, a.now)
	if err != nil {
		return res, err
	}
	if len(lapsed) > 0 {
		var fromOpen, fromPending int64
		var ids []string
		e := a.newEntry(ctx, KindExpire, 0, "Points expired", "", sourceSettle)
		var draws []drawRow
		for _, l := range lapsed {
			ids = append(ids, l.ID)
			if l.State == lotPending {
				fromPending += l.Remaining
			} else {
				fromOpen += l.Remaining
			}
			draws = append(draws, drawRow{TenantID: l.TenantID, EntryID: e.ID, LotID: l.ID, Points: l.Remaining})
		}
		res.expired = fromOpen + fromPending
		if err := a.apply(ctx, change{available: -fromOpen, pending: -fromPending, entries: 1}, 0); err != nil {
			return res, err
		}
		e.Points = -res.expired
		a.stamp(&e)
		n, err := a.st.closeLots(ctx, ids, a.now)
		if err != nil {
			return res, err
		}
		if n != int64(len(ids)) {
			return res, errors.New("ledger: expiring lots changed under the member's lock")
		}
		if err := a.st.insertEntry(ctx, &e); err != nil {
			return res, err
		}
		if err := a.st.insertDraws(ctx, draws); err != nil {
			return res, err
		}
	}
	return res, a.setNextDue(ctx)
}

// releaseHold gives a held hold's points back with a reverse entry and
// marks it released (or expired).
func (a *account) releaseHold(ctx context.Context, h holdRow, status string) error {
	orig, err := a.st.findEntry(ctx, h.MemberID, h.EntryID)
	if err != nil {
		return err
	}
	reason := "Checkout hold released"
	if status == HoldExpired {
		reason = "Checkout hold expired"
	}
	e, err := a.reverse(ctx, orig, reason, "hold:"+h.ID, sourceHold)
	if err != nil {
		return err
	}
	ok, err := a.st.setHoldStatus(ctx, h.ID, status, map[string]any{"release_entry_id": e.ID, "released_at": a.now, "updated_at": a.now})
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("ledger: a hold changed under the member's lock")
	}
	return nil
}
