package mall

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/tenants/ledger"
)

// Redemption statuses. Physical goods go pending → fulfilled → shipped →
// completed; coupon, virtual and exchange-code redemptions are fulfilled at
// once and complete when the merchant says so (or when their coupons or
// codes have all been verified). Pending and fulfilled redemptions can be
// cancelled.
const (
	StatusPending   = "pending"
	StatusFulfilled = "fulfilled"
	StatusShipped   = "shipped"
	StatusCompleted = "completed"
	StatusCancelled = "cancelled"
)

var redemptionStatuses = []string{StatusPending, StatusFulfilled, StatusShipped, StatusCompleted, StatusCancelled}

// Where a redemption came from.
const (
	SourcePoints  = "points"  // bought with points in the mall
	SourceCode    = "code"    // granted by an exchange code a member entered
	SourceLottery = "lottery" // won in a lottery draw
)

// Redemption is an order for an item.
type Redemption struct {
	TenantID        string     `json:"-" gorm:"column:tenant_id;primaryKey"`
	ID              string     `json:"id" gorm:"column:id;primaryKey"`
	MemberID        string     `json:"member_id" gorm:"column:member_id"`
	ItemID          string     `json:"item_id" gorm:"column:item_id"`
	ItemName        string     `json:"item_name" gorm:"column:item_name"`
	ItemKind        string     `json:"item_kind" gorm:"column:item_kind"`
	Source          string     `json:"source" gorm:"column:source"`
	SourceRef       string     `json:"source_ref" gorm:"column:source_ref"`
	Quantity        int        `json:"quantity" gorm:"column:quantity"`
	PointsSpent     int64      `json:"points_spent" gorm:"column:points_spent"`
	CashDueCents    int64      `json:"cash_due_cents" gorm:"column:cash_due_cents"`
	Status          string     `json:"status" gorm:"column:status"`
	ShippingAddress *Address   `json:"shipping_address" gorm:"column:shipping_address;serializer:json"`
	Carrier         string     `json:"carrier" gorm:"column:carrier"`
	TrackingNumber  string     `json:"tracking_number" gorm:"column:tracking_number"`
	Grants          Grants     `json:"grants" gorm:"column:grants;serializer:json"`
	LedgerEntryID   string     `json:"ledger_entry_id" gorm:"column:ledger_entry_id"`
	RefundEntryID   string     `json:"refund_entry_id" gorm:"column:refund_entry_id"`
	CancelReason    string     `json:"cancel_reason" gorm:"column:cancel_reason"`
	CreatedAt       time.Time  `json:"created_at" gorm:"column:created_at"`
	UpdatedAt       time.Time  `json:"updated_at" gorm:"column:updated_at"`
	FulfilledAt     *time.Time `json:"fulfilled_at" gorm:"column:fulfilled_at"`
	ShippedAt       *time.Time `json:"shipped_at" gorm:"column:shipped_at"`
	CompletedAt     *time.Time `json:"completed_at" gorm:"column:completed_at"`
	CancelledAt     *time.Time `json:"cancelled_at" gorm:"column:cancelled_at"`
}

// TableName is the redemptions table.
func (Redemption) TableName() string { return "mall_redemptions" }

// Grants is what a redemption delivered at once.
type Grants struct {
	Coupons []GrantedCoupon `json:"coupons"`
	Codes   []GrantedCode   `json:"codes"`
}

// GrantedCoupon is a coupon a redemption issued.
type GrantedCoupon struct {
	ID         string    `json:"id"`
	Code       string    `json:"code"`
	ValidUntil time.Time `json:"valid_until"`
}

// GrantedCode is an exchange code a redemption allocated.
type GrantedCode struct {
	ID         string    `json:"id"`
	Code       string    `json:"code"`
	ValidFrom  time.Time `json:"valid_from"`
	ValidUntil time.Time `json:"valid_until"`
}

func (g *Grants) normalize() {
	if g.Coupons == nil {
		g.Coupons = []GrantedCoupon{}
	}
	if g.Codes == nil {
		g.Codes = []GrantedCode{}
	}
}

// Address is where physical goods go.
type Address struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Province   string `json:"province"`
	City       string `json:"city"`
	District   string `json:"district"`
	Line       string `json:"address"`
	PostalCode string `json:"postal_code"`
}

var addressPhone = regexp.MustCompile(`^\+?[0-9][0-9 \-]{4,30}$`)

// check validates the address into fe under prefix.
func (a *Address) check(fe platform.FieldErrors, prefix string) {
	a.Name, a.Phone, a.Line = strings.TrimSpace(a.Name), strings.TrimSpace(a.Phone), strings.TrimSpace(a.Line)
	a.Province, a.City, a.District = strings.TrimSpace(a.Province), strings.TrimSpace(a.City), strings.TrimSpace(a.District)
	a.PostalCode = strings.TrimSpace(a.PostalCode)
	if a.Name == "" || utf8.RuneCountInString(a.Name) > 100 {
		fe.Add(prefix+".name", "is required: the recipient, 1 to 100 characters")
	}
	if !addressPhone.MatchString(a.Phone) {
		fe.Add(prefix+".phone", "is required: the recipient's phone number")
	}
	if a.Line == "" || utf8.RuneCountInString(a.Line) > 500 {
		fe.Add(prefix+".address", "is required: the street address, 1 to 500 characters")
	}
	for field, v := range map[string]string{"province": a.Province, "city": a.City, "district": a.District, "postal_code": a.PostalCode} {
		if utf8.RuneCountInString(v) > 100 {
			fe.Add(prefix+"."+field, "must be at most 100 characters")
		}
	}
}

// RedeemInput is a member's order for an item.
type RedeemInput struct {
	MemberID        string   `json:"member_id"`
	ItemID          string   `json:"item_id"`
	Quantity        *int     `json:"quantity"`
	ShippingAddress *Address `json:"shipping_address"`
}

// Redeem orders quantity of an item for a member, paying with points: in one
// transaction it checks the item is on sale and visible to the member's
// tier, checks the member's limits under the member's lock, debits the
// points, takes the stock with a conditional update, and for coupon,
// virtual and exchange-code items delivers at once. Errors: validation_failed; not_found (member or item);
// conflict (not on sale, tier too low, over a per-member limit);
// out_of_stock; insufficient_points. A failure changes nothing.
func (s *Service) Redeem(ctx context.Context, in RedeemInput) (Redemption, error) {
	fe := platform.FieldErrors{}
	in.MemberID, in.ItemID = strings.TrimSpace(in.MemberID), strings.TrimSpace(in.ItemID)
	if in.MemberID == "" {
		fe.Add("member_id", "is required")
	}
	if in.ItemID == "" {
		fe.Add("item_id", "is required")
	}
	qty := 1
	if in.Quantity != nil {
		qty = *in.Quantity
	}
	if qty < 1 || qty > maxQuantity {
		fe.Add("quantity", "must be an integer from 1 to 100")
	}
	if in.ShippingAddress != nil {
		in.ShippingAddress.check(fe, "shipping_address")
	}
	if err := fe.Err(); err != nil {
		return Redemption{}, err
	}
	var out Redemption
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.now()
		it, err := s.st().findItem(ctx, in.ItemID)
		if err != nil {
			return err
		}
		if it.Kind == KindLottery {
			return platform.FieldErrors{"item_id": "is a lottery; draw it with POST /mall/lottery/{iid}/draw"}.Err()
		}
		if it.Kind == KindPhysical && in.ShippingAddress == nil {
			return platform.FieldErrors{"shipping_address": "is required for physical goods"}.Err()
		}
		if it.Kind != KindPhysical && in.ShippingAddress != nil {
			return platform.FieldErrors{"shipping_address": "applies only to physical goods"}.Err()
		}
		if err := checkOnSale(it, now); err != nil {
			return err
		}
		if it.Stock < int64(qty) {
			return outOfStock(it, it.Stock, int64(qty))
		}
		if _, err := s.Members.LockMember(ctx, in.MemberID); err != nil {
			return err
		}
		if err := s.checkTier(ctx, it, in.MemberID); err != nil {
			return err
		}
		if err := s.checkLimits(ctx, it, in.MemberID, qty, now, s.st().redeemedSince); err != nil {
			return err
		}
		r := Redemption{
			TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), MemberID: in.MemberID,
			Source: SourcePoints, Quantity: qty, PointsSpent: it.PointsPrice * int64(qty),
			CashDueCents: it.CashPriceCents * int64(qty), ShippingAddress: in.ShippingAddress,
		}
		entry, _, err := s.Ledger.Debit(ctx, ledger.Debit{
			MemberID: in.MemberID, Points: r.PointsSpent, Kind: ledger.KindRedeem,
			Reason: fmt.Sprintf("Redeemed %s ×%d", it.Name, qty), Ref: "mall_redemption:" + r.ID,
		})
		if err != nil {
			return err
		}
		r.LedgerEntryID = entry.ID
		// The stock goes last: its row lock (on MySQL) queues every buyer of
		// this item until commit, so it is held for as short a time as
		// possible. The read above already turned buyers away once the item
		// sold out; this conditional update is what guarantees it.
		if err := s.takeItemStock(ctx, it, int64(qty), now); err != nil {
			return err
		}
		if err := s.createRedemption(ctx, &r, it, now); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// takeItemStock takes n of the item's stock; out_of_stock naming what is
// left when there is not enough.
func (s *Service) takeItemStock(ctx context.Context, it Item, n int64, now time.Time) error {
	ok, err := s.st().takeStock(ctx, it.ID, n, now)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	cur, err := s.st().findItem(ctx, it.ID)
	if err != nil {
		return err
	}
	return outOfStock(it, cur.Stock, n)
}

func outOfStock(it Item, left, wanted int64) error {
	return platform.Errorf(platform.EOutOfStock, "%s is out of stock: %d left, %d wanted.", it.Name, left, wanted).
		WithDetails(map[string]any{"item_id": it.ID, "stock": left, "quantity": wanted})
}

// createRedemption delivers what can be delivered at once (coupons,
// exchange codes, virtual items), inserts r and records it. r carries its
// id, member, source, quantity, points and address; the item fills the rest.
func (s *Service) createRedemption(ctx context.Context, r *Redemption, it Item, now time.Time) error {
	r.TenantID, r.ItemID, r.ItemName, r.ItemKind = platform.TenantID(ctx), it.ID, it.Name, it.Kind
	r.Status, r.CreatedAt, r.UpdatedAt = StatusPending, now, now
	r.Grants.normalize()
	switch it.Kind {
	case KindCoupon:
		for i := 0; i < r.Quantity; i++ {
			c, err := s.issueCoupon(ctx, couponIssue{
				MemberID: r.MemberID, TemplateID: it.CouponTemplateID, Source: "mall",
				SourceRef: r.ID, RedemptionID: r.ID, Reason: "Redeemed " + it.Name,
			})
			if err != nil {
				return err
			}
			r.Grants.Coupons = append(r.Grants.Coupons, GrantedCoupon{ID: c.ID, Code: c.Code, ValidUntil: c.ValidUntil})
		}
	case KindExchangeCode:
		for i := 0; i < r.Quantity; i++ {
			g, err := s.allocateCode(ctx, it, r.MemberID, r.ID, now)
			if err != nil {
				return err
			}
			r.Grants.Codes = append(r.Grants.Codes, g)
		}
	}
	if it.Kind != KindPhysical {
		r.Status, r.FulfilledAt = StatusFulfilled, &now
	}
	if err := s.st().insertRedemption(ctx, r); err != nil {
		return err
	}
	return s.record(ctx, "mall.redemption.create", "mall_redemption", r.ID, map[string]any{
		"member_id": r.MemberID, "item_id": r.ItemID, "quantity": r.Quantity, "points_spent": r.PointsSpent,
		"source": r.Source, "status": r.Status,
	})
}

// checkOnSale refuses an inactive item or one outside its window.
func checkOnSale(it Item, now time.Time) error {
	switch {
	case !it.Active:
		return conflict(map[string]any{"item_id": it.ID, "active": false}, "%s is not on sale.", it.Name)
	case it.StartsAt != nil && now.Before(*it.StartsAt):
		return conflict(map[string]any{"item_id": it.ID, "starts_at": *it.StartsAt},
			"%s is not on sale yet; it opens at %s.", it.Name, it.StartsAt.Format(time.RFC3339))
	case it.EndsAt != nil && !now.Before(*it.EndsAt):
		return conflict(map[string]any{"item_id": it.ID, "ends_at": *it.EndsAt},
			"%s is no longer on sale; it closed at %s.", it.Name, it.EndsAt.Format(time.RFC3339))
	}
	return nil
}

// checkTier refuses an item reserved to a higher tier than the member's.
func (s *Service) checkTier(ctx context.Context, it Item, memberID string) error {
	if it.MinTierRank == 0 {
		return nil
	}
	rank, err := s.tierRank(ctx, memberID)
	if err != nil {
		return err
	}
	if rank < it.MinTierRank {
		return conflict(map[string]any{"item_id": it.ID, "min_tier_rank": it.MinTierRank, "member_tier_rank": rank},
			"%s is reserved to members of a higher tier.", it.Name)
	}
	return nil
}

// countSince counts what a member already took of an item since a time
// (redemptions with points, or lottery draws).
type countSince func(ctx context.Context, memberID, itemID string, since time.Time) (int64, error)

// checkLimits refuses taking qty more when it would pass the item's total,
// daily or monthly per-member limit (days and months in the tenant's zone).
// The caller holds the member's lock, so two requests of one member can't
// both pass.
func (s *Service) checkLimits(ctx context.Context, it Item, memberID string, qty int, now time.Time, count countSince) error {
	loc := location(ctx)
	limits := []struct {
		field string
		max   int
		since time.Time
		what  string
	}{
		{"per_member_limit", it.PerMemberLimit, time.Time{}, "in total"},
		{"per_member_daily_limit", it.PerMemberDailyLimit, dayStart(now, loc), "per day"},
		{"per_member_monthly_limit", it.PerMemberMonthlyLimit, monthStart(now, loc), "per month"},
	}
	for _, l := range limits {
		if l.max == 0 {
			continue
		}
		n, err := count(ctx, memberID, it.ID, l.since)
		if err != nil {
			return err
		}
		if n+int64(qty) > int64(l.max) {
			return conflict(map[string]any{"limit": l.field, "max": l.max, "taken": n, "quantity": qty},
				"A member may take at most %d of %s %s; this member already took %d.", l.max, it.Name, l.what, n)
		}
	}
	return nil
}

// GetRedemption returns a redemption; not_found when it is not in the tenant.
func (s *Service) GetRedemption(ctx context.Context, id string) (Redemption, error) {
	return s.st().findRedemption(ctx, id)
}

// RedemptionFilter narrows a listing for fulfilment.
type RedemptionFilter struct {
	Status   string
	MemberID string
	ItemID   string
	Limit    int
	Cursor   string
}

// FindRedemptions lists redemptions, newest first.
func (s *Service) FindRedemptions(ctx context.Context, f RedemptionFilter) ([]Redemption, string, error) {
	if f.Status != "" && !oneOf(f.Status, redemptionStatuses) {
		return nil, "", platform.FieldErrors{"status": "must be one of pending, fulfilled, shipped, completed, cancelled"}.Err()
	}
	return s.st().findRedemptions(ctx, f)
}

// transition moves a redemption from one of from to to with a conditional
// update, so of two racing transitions one wins; conflict naming the
// current status otherwise.
func (s *Service) transition(ctx context.Context, r Redemption, verb, to string, from []string, sets map[string]any) (Redemption, error) {
	now := s.now()
	sets["status"], sets["updated_at"] = to, now
	ok, err := s.st().moveRedemption(ctx, r.ID, from, sets)
	if err != nil {
		return Redemption{}, err
	}
	if !ok {
		cur, err := s.st().findRedemption(ctx, r.ID)
		if err != nil {
			return Redemption{}, err
		}
		return Redemption{}, badTransition(cur, verb)
	}
	if err := s.record(ctx, "mall.redemption."+verb, "mall_redemption", r.ID, map[string]any{"from": r.Status, "to": to}); err != nil {
		return Redemption{}, err
	}
	return s.st().findRedemption(ctx, r.ID)
}

func badTransition(r Redemption, verb string) error {
	return conflict(map[string]any{"status": r.Status},
		"This redemption is %s; it can't be %s.", r.Status, pastTense[verb])
}

var pastTense = map[string]string{
	"fulfil": "fulfilled", "ship": "shipped", "complete": "completed", "cancel": "cancelled", "update": "changed",
}

// FulfilRedemption marks a pending physical redemption fulfilled (packed and
// ready to ship); its shipping address must be known.
func (s *Service) FulfilRedemption(ctx context.Context, id string) (Redemption, error) {
	var out Redemption
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		r, err := s.st().findRedemption(ctx, id)
		if err != nil {
			return err
		}
		if r.Status == StatusPending && r.ShippingAddress == nil {
			return conflict(map[string]any{"status": r.Status, "shipping_address": nil},
				"This redemption has no shipping address yet; set one with PATCH /mall/redemptions/{rid}.")
		}
		out, err = s.transition(ctx, r, "fulfil", StatusFulfilled, []string{StatusPending}, map[string]any{"fulfilled_at": s.now()})
		return err
	})
	return out, err
}

// ShipInput names the parcel of a shipped redemption.
type ShipInput struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
}

// ShipRedemption marks a fulfilled physical redemption shipped.
func (s *Service) ShipRedemption(ctx context.Context, id string, in ShipInput) (Redemption, error) {
	fe := platform.FieldErrors{}
	in.Carrier, in.TrackingNumber = strings.TrimSpace(in.Carrier), strings.TrimSpace(in.TrackingNumber)
	if in.Carrier == "" || utf8.RuneCountInString(in.Carrier) > 64 {
		fe.Add("carrier", "is required: 1 to 64 characters, e.g. SF Express")
	}
	if in.TrackingNumber == "" || len(in.TrackingNumber) > 64 {
		fe.Add("tracking_number", "is required: 1 to 64 characters")
	}
	if err := fe.Err(); err != nil {
		return Redemption{}, err
	}
	var out Redemption
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		r, err := s.st().findRedemption(ctx, id)
		if err != nil {
			return err
		}
		if r.ItemKind != KindPhysical {
			return conflict(map[string]any{"status": r.Status, "item_kind": r.ItemKind},
				"Only physical goods are shipped; this redemption is %s.", r.Status)
		}
		out, err = s.transition(ctx, r, "ship", StatusShipped, []string{StatusFulfilled}, map[string]any{
			"shipped_at": s.now(), "carrier": in.Carrier, "tracking_number": in.TrackingNumber,
		})
		return err
	})
	return out, err
}

// CompleteRedemption marks a shipped physical redemption, or a fulfilled
// one of any other kind, completed.
func (s *Service) CompleteRedemption(ctx context.Context, id string) (Redemption, error) {
	var out Redemption
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		r, err := s.st().findRedemption(ctx, id)
		if err != nil {
			return err
		}
		from := StatusFulfilled
		if r.ItemKind == KindPhysical {
			from = StatusShipped
		}
		out, err = s.transition(ctx, r, "complete", StatusCompleted, []string{from}, map[string]any{"completed_at": s.now()})
		return err
	})
	return out, err
}

// completeIfDelivered completes a fulfilled redemption once every coupon
// or code it granted has been verified. It is quiet when there is nothing
// to do.
func (s *Service) completeIfDelivered(ctx context.Context, redemptionID string) error {
	if redemptionID == "" {
		return nil
	}
	open, err := s.st().openGrants(ctx, redemptionID)
	if err != nil || open > 0 {
		return err
	}
	now := s.now()
	ok, err := s.st().moveRedemption(ctx, redemptionID, []string{StatusFulfilled},
		map[string]any{"status": StatusCompleted, "completed_at": now, "updated_at": now})
	if err != nil || !ok {
		return err
	}
	return s.record(ctx, "mall.redemption.complete", "mall_redemption", redemptionID,
		map[string]any{"from": StatusFulfilled, "to": StatusCompleted, "by": "verification"})
}

// AddressInput sets the shipping address of a pending redemption (a
// lottery prize or a code that granted physical goods).
type AddressInput struct {
	ShippingAddress *Address `json:"shipping_address"`
}

// UpdateRedemption sets the shipping address of a pending physical
// redemption.
func (s *Service) UpdateRedemption(ctx context.Context, id string, in AddressInput) (Redemption, error) {
	fe := platform.FieldErrors{}
	if in.ShippingAddress == nil {
		fe.Add("shipping_address", "is required")
	} else {
		in.ShippingAddress.check(fe, "shipping_address")
	}
	if err := fe.Err(); err != nil {
		return Redemption{}, err
	}
	var out Redemption
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		r, err := s.st().findRedemption(ctx, id)
		if err != nil {
			return err
		}
		if r.ItemKind != KindPhysical {
			return platform.FieldErrors{"shipping_address": "applies only to physical goods"}.Err()
		}
		out, err = s.transition(ctx, r, "update", StatusPending, []string{StatusPending},
			map[string]any{"shipping_address": addressValue(in.ShippingAddress)})
		return err
	})
	return out, err
}

// CancelInput says why a redemption is cancelled.
type CancelInput struct {
	Reason string `json:"reason"`
}

// CancelRedemption cancels a pending or fulfilled redemption: the status
// moves with a conditional update under the member's lock, so however many
// cancellations race exactly one gives the points back (the ledger reverses
// the debit) and the stock back; the others get conflict naming the status.
// Coupons and codes it granted are voided; if one was already verified the
// redemption can't be cancelled.
func (s *Service) CancelRedemption(ctx context.Context, id string, in CancelInput) (Redemption, error) {
	reason := strings.TrimSpace(in.Reason)
	if utf8.RuneCountInString(reason) > maxReasonRunes {
		return Redemption{}, platform.FieldErrors{"reason": "must be at most 200 characters"}.Err()
	}
	var out Redemption
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		r, err := s.st().findRedemption(ctx, id)
		if err != nil {
			return err
		}
		if _, err := s.Members.LockMember(ctx, r.MemberID); err != nil {
			return err
		}
		now := s.now()
		ok, err := s.st().moveRedemption(ctx, r.ID, []string{StatusPending, StatusFulfilled}, map[string]any{
			"status": StatusCancelled, "cancelled_at": now, "updated_at": now, "cancel_reason": reason,
		})
		if err != nil {
			return err
		}
		if !ok {
			cur, err := s.st().findRedemption(ctx, r.ID)
			if err != nil {
				return err
			}
			return badTransition(cur, "cancel")
		}
		if err := s.voidGrants(ctx, r, now); err != nil {
			return err
		}
		if err := s.restock(ctx, r, now); err != nil {
			return err
		}
		if r.LedgerEntryID != "" {
			why := "Cancelled redemption of " + r.ItemName
			if reason != "" {
				why += ": " + reason
			}
			entry, _, err := s.Ledger.Reverse(ctx, r.MemberID, r.LedgerEntryID, why)
			if err != nil {
				return err
			}
			if err := s.st().setRefundEntry(ctx, r.ID, entry.ID); err != nil {
				return err
			}
		}
		if err := s.record(ctx, "mall.redemption.cancel", "mall_redemption", r.ID, map[string]any{
			"from": r.Status, "to": StatusCancelled, "reason": reason, "points_refunded": r.PointsSpent, "quantity": r.Quantity,
		}); err != nil {
			return err
		}
		out, err = s.st().findRedemption(ctx, r.ID)
		return err
	})
	return out, err
}

// restock returns what a cancelled redemption took: the item's stock, or
// for a lottery prize the prize's stock.
func (s *Service) restock(ctx context.Context, r Redemption, now time.Time) error {
	if r.Source == SourceLottery {
		d, err := s.st().findDraw(ctx, r.SourceRef)
		if err != nil {
			return err
		}
		return s.st().putPrize(ctx, d.PrizeID)
	}
	if r.ItemKind == KindExchangeCode {
		// The member saw the voided codes, so fresh ones take their place
		// and the stock keeps counting codes that can still be handed out.
		if err := s.replaceCodes(ctx, r, now); err != nil {
			return err
		}
	}
	_, err := s.st().adjustStock(ctx, r.ItemID, int64(r.Quantity), now)
	return err
}
