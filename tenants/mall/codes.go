package mall

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"jifen/pkg/ids"
	"jifen/platform"
)

// Batch modes, decided by the batch's item.
const (
	// ModeAllocate: the codes are the stock of an exchange_code item; a
	// member who redeems the item is allocated one, and the merchant
	// verifies it in store (POST /mall/codes/verify).
	ModeAllocate = "allocate"
	// ModeGrant: each code grants its item once to the member who enters it
	// (POST /mall/codes/redeem), without points.
	ModeGrant = "grant"
)

// Code statuses.
const (
	CodeAvailable = "available" // not handed out yet
	CodeAllocated = "allocated" // held by a member, waiting for verification
	CodeUsed      = "used"      // verified in store, or redeemed by a member
	CodeVoid      = "void"      // its redemption was cancelled
)

var codeStatuses = []string{CodeAvailable, CodeAllocated, CodeUsed, CodeVoid}

// errUnknownCode answers a code that is not one of the tenant's (another
// tenant's code included); the guessing guard counts it as a wrong guess.
var errUnknownCode = platform.NotFound("code")

const (
	maxBatchQuantity = 50000
	codeInsertChunk  = 500 // rows per INSERT when generating a batch
)

// CodeBatch is a batch of exchange codes with a validity window.
type CodeBatch struct {
	TenantID  string    `json:"-" gorm:"column:tenant_id;primaryKey"`
	ID        string    `json:"id" gorm:"column:id;primaryKey"`
	Name      string    `json:"name" gorm:"column:name"`
	ItemID    string    `json:"item_id" gorm:"column:item_id"`
	Mode      string    `json:"mode" gorm:"column:mode"`
	Quantity  int       `json:"quantity" gorm:"column:quantity"`
	StartsAt  time.Time `json:"starts_at" gorm:"column:starts_at"`
	EndsAt    time.Time `json:"ends_at" gorm:"column:ends_at"`
	CreatedAt time.Time `json:"created_at" gorm:"column:created_at"`

	// Counts says how many codes are in each status.
	Counts map[string]int64 `json:"counts" gorm:"-"`
}

// TableName is the code batches table.
func (CodeBatch) TableName() string { return "mall_code_batches" }

// Code is one exchange code.
type Code struct {
	TenantID     string     `json:"-" gorm:"column:tenant_id;primaryKey"`
	ID           string     `json:"id" gorm:"column:id;primaryKey"`
	Code         string     `json:"code" gorm:"column:code"`
	BatchID      string     `json:"batch_id" gorm:"column:batch_id"`
	ItemID       string     `json:"item_id" gorm:"column:item_id"`
	Status       string     `json:"status" gorm:"column:status"`
	MemberID     string     `json:"member_id" gorm:"column:member_id"`
	RedemptionID string     `json:"redemption_id" gorm:"column:redemption_id"`
	AllocatedAt  *time.Time `json:"allocated_at" gorm:"column:allocated_at"`
	UsedAt       *time.Time `json:"used_at" gorm:"column:used_at"`
	CreatedAt    time.Time  `json:"created_at" gorm:"column:created_at"`

	// ValidFrom and ValidUntil are the batch's window, filled when a code
	// is returned.
	ValidFrom  *time.Time `json:"valid_from,omitempty" gorm:"-"`
	ValidUntil *time.Time `json:"valid_until,omitempty" gorm:"-"`
}

// TableName is the codes table.
func (Code) TableName() string { return "mall_codes" }

// BatchInput creates a batch of codes.
type BatchInput struct {
	Name     string          `json:"name"`
	ItemID   string          `json:"item_id"`
	Quantity *int            `json:"quantity"`
	StartsAt json.RawMessage `json:"starts_at"`
	EndsAt   json.RawMessage `json:"ends_at"`
}

// CreateBatch generates quantity unique codes (crypto/rand, 16 symbols)
// for an item. Codes of an exchange_code item are its stock: the item's
// stock grows by quantity in the same transaction. Codes of a physical,
// coupon or virtual item grant it to whoever enters one.
func (s *Service) CreateBatch(ctx context.Context, in BatchInput) (CodeBatch, error) {
	now := s.now()
	fe := platform.FieldErrors{}
	b := CodeBatch{TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), Name: strings.TrimSpace(in.Name), ItemID: strings.TrimSpace(in.ItemID), CreatedAt: now}
	if b.Name == "" || utf8.RuneCountInString(b.Name) > maxNameRunes {
		fe.Add("name", "is required: 1 to 100 characters")
	}
	if b.ItemID == "" {
		fe.Add("item_id", "is required")
	}
	if in.Quantity == nil || *in.Quantity < 1 || *in.Quantity > maxBatchQuantity {
		fe.Add("quantity", "is required: an integer from 1 to 50000")
	} else {
		b.Quantity = *in.Quantity
	}
	b.StartsAt = now
	if _, t := optTime(in.StartsAt, "starts_at", fe); t != nil {
		b.StartsAt = *t
	}
	if _, t := optTime(in.EndsAt, "ends_at", fe); t == nil {
		fe.Add("ends_at", "is required: when the codes stop being valid, an RFC 3339 time")
	} else {
		b.EndsAt = *t
		if !b.EndsAt.After(b.StartsAt) || !b.EndsAt.After(now) {
			fe.Add("ends_at", "must be after starts_at and in the future")
		}
	}
	if err := fe.Err(); err != nil {
		return CodeBatch{}, err
	}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		it, err := s.st().findItem(ctx, b.ItemID)
		if platform.IsCode(err, platform.ENotFound) {
			return platform.FieldErrors{"item_id": "names no item of this tenant"}.Err()
		} else if err != nil {
			return err
		}
		switch it.Kind {
		case KindExchangeCode:
			b.Mode = ModeAllocate
		case KindLottery:
			return platform.FieldErrors{"item_id": "is a lottery; codes can't grant draws"}.Err()
		default:
			b.Mode = ModeGrant
		}
		if err := s.st().createBatch(ctx, &b); err != nil {
			return err
		}
		if err := s.st().generateCodes(ctx, b, b.Quantity, now); err != nil {
			return err
		}
		if b.Mode == ModeAllocate {
			if _, err := s.st().adjustStock(ctx, it.ID, int64(b.Quantity), now); err != nil {
				return err
			}
		}
		if err := s.record(ctx, "mall.code_batch.create", "mall_code_batch", b.ID, map[string]any{
			"item_id": b.ItemID, "mode": b.Mode, "quantity": b.Quantity, "starts_at": b.StartsAt, "ends_at": b.EndsAt,
		}); err != nil {
			return err
		}
		b.Counts, err = s.st().codeCounts(ctx, b.ID)
		return err
	})
	return b, err
}

// GetBatch returns a batch with its counts; not_found when it is not in
// the tenant.
func (s *Service) GetBatch(ctx context.Context, id string) (CodeBatch, error) {
	b, err := s.st().findBatch(ctx, id)
	if err != nil {
		return CodeBatch{}, err
	}
	b.Counts, err = s.st().codeCounts(ctx, b.ID)
	return b, err
}

// FindBatches lists batches, newest first, optionally of one item.
func (s *Service) FindBatches(ctx context.Context, itemID string, limit int, cur string) ([]CodeBatch, string, error) {
	list, next, err := s.st().findBatches(ctx, itemID, limit, cur)
	if err != nil {
		return nil, "", err
	}
	for i := range list {
		if list[i].Counts, err = s.st().codeCounts(ctx, list[i].ID); err != nil {
			return nil, "", err
		}
	}
	return list, next, nil
}

// FindCodes lists the codes of a batch (for printing or handing out),
// oldest first; not_found when the batch is not in the tenant.
func (s *Service) FindCodes(ctx context.Context, batchID, status string, limit int, cur string) ([]Code, string, error) {
	if status != "" && !oneOf(status, codeStatuses) {
		return nil, "", platform.FieldErrors{"status": "must be one of available, allocated, used, void"}.Err()
	}
	b, err := s.st().findBatch(ctx, batchID)
	if err != nil {
		return nil, "", err
	}
	list, next, err := s.st().findCodes(ctx, batchID, status, limit, cur)
	for i := range list {
		list[i].ValidFrom, list[i].ValidUntil = &b.StartsAt, &b.EndsAt
	}
	return list, next, err
}

// allocateCode hands one available code of an exchange_code item, from a
// batch that has not ended (the soonest to end first), to a member's
// redemption; out_of_stock when none is left. The caller already took the
// item's stock, whose row lock queues allocations of one item.
func (s *Service) allocateCode(ctx context.Context, it Item, memberID, redemptionID string, now time.Time) (GrantedCode, error) {
	batches, err := s.st().openBatches(ctx, it.ID, now)
	if err != nil {
		return GrantedCode{}, err
	}
	for _, b := range batches {
		for {
			c, found, err := s.st().availableCode(ctx, b.ID)
			if err != nil {
				return GrantedCode{}, err
			}
			if !found {
				break
			}
			ok, err := s.st().moveCode(ctx, c.ID, CodeAvailable, map[string]any{
				"status": CodeAllocated, "member_id": memberID, "redemption_id": redemptionID, "allocated_at": now,
			})
			if err != nil {
				return GrantedCode{}, err
			}
			if ok {
				return GrantedCode{ID: c.ID, Code: c.Code, ValidFrom: b.StartsAt, ValidUntil: b.EndsAt}, nil
			}
		}
	}
	return GrantedCode{}, platform.Errorf(platform.EOutOfStock, "%s has no codes left to hand out.", it.Name).
		WithDetails(map[string]any{"item_id": it.ID, "stock": 0})
}

// voidGrants voids the coupons and codes a cancelled redemption granted;
// conflict when one of them was already used, which rolls the cancellation
// back.
func (s *Service) voidGrants(ctx context.Context, r Redemption, now time.Time) error {
	if n := len(r.Grants.Coupons); n > 0 {
		voided, err := s.st().voidCoupons(ctx, r.ID, now)
		if err != nil {
			return err
		}
		if voided != int64(n) {
			return conflict(map[string]any{"status": r.Status, "coupon_status": CouponUsed},
				"A coupon of this redemption was already used; it can't be cancelled.")
		}
	}
	if n := len(r.Grants.Codes); n > 0 {
		voided, err := s.st().voidCodes(ctx, r.ID)
		if err != nil {
			return err
		}
		if voided != int64(n) {
			return conflict(map[string]any{"status": r.Status, "code_status": CodeUsed},
				"A code of this redemption was already verified; it can't be cancelled.")
		}
	}
	return nil
}

// replaceCodes puts a fresh code into the batch of each code a cancelled
// redemption held, so the item's stock keeps matching its codes.
func (s *Service) replaceCodes(ctx context.Context, r Redemption, now time.Time) error {
	old, err := s.st().codesOfRedemption(ctx, r.ID)
	if err != nil {
		return err
	}
	for _, c := range old {
		b, err := s.st().findBatch(ctx, c.BatchID)
		if err != nil {
			return err
		}
		if err := s.st().generateCodes(ctx, b, 1, now); err != nil {
			return err
		}
	}
	return nil
}

// codeInWindow refuses a code outside its batch's window.
func codeInWindow(b CodeBatch, now time.Time) error {
	if now.Before(b.StartsAt) {
		return conflict(map[string]any{"code_status": "not_yet_valid", "valid_from": b.StartsAt},
			"This code is valid from %s.", b.StartsAt.Format(time.RFC3339))
	}
	if !now.Before(b.EndsAt) {
		return conflict(map[string]any{"code_status": "expired", "valid_until": b.EndsAt},
			"This code expired at %s.", b.EndsAt.Format(time.RFC3339))
	}
	return nil
}

func codeUsedConflict(c Code) error {
	switch c.Status {
	case CodeUsed:
		return conflict(map[string]any{"code_status": CodeUsed, "used_at": c.UsedAt}, "This code was already used.")
	case CodeVoid:
		return conflict(map[string]any{"code_status": CodeVoid}, "This code was voided (its redemption was cancelled).")
	}
	return nil
}

// VerifyCodeInput is a merchant verifying an exchange code in store.
type VerifyCodeInput struct {
	Code string `json:"code"`
}

// VerifyCode marks an allocated exchange code used, once; the redemption
// that holds it completes when all its codes are used. Errors: not_found
// (unknown, or another tenant's); conflict with details.code_status used,
// void, expired, not_yet_valid, or not_allocated for a code no member holds
// yet; conflict with details.mode for a code that members redeem instead.
func (s *Service) VerifyCode(ctx context.Context, in VerifyCodeInput) (Code, error) {
	if strings.TrimSpace(in.Code) == "" {
		return Code{}, platform.FieldErrors{"code": "is required"}.Err()
	}
	code, ok := normalizeCode(in.Code)
	if !ok {
		return Code{}, errUnknownCode
	}
	var out Code
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.now()
		c, b, err := s.st().findCodeByCode(ctx, code)
		if err != nil {
			return err
		}
		if b.Mode != ModeAllocate {
			return conflict(map[string]any{"mode": b.Mode}, "This code grants an item to the member who enters it; redeem it with POST /mall/codes/redeem.")
		}
		if err := codeUsedConflict(c); err != nil {
			return err
		}
		if c.Status == CodeAvailable {
			return conflict(map[string]any{"code_status": "not_allocated"}, "This code has not been given to a member.")
		}
		if err := codeInWindow(b, now); err != nil {
			return err
		}
		// The member's lock first, as a cancellation of the code's
		// redemption takes it, so the two queue instead of deadlocking.
		if _, err := s.Members.LockMember(ctx, c.MemberID); err != nil {
			return err
		}
		ok, err := s.st().moveCode(ctx, c.ID, CodeAllocated, map[string]any{"status": CodeUsed, "used_at": now})
		if err != nil {
			return err
		}
		if !ok {
			cur, _, err := s.st().findCodeByCode(ctx, code)
			if err != nil {
				return err
			}
			if err := codeUsedConflict(cur); err != nil {
				return err
			}
			return platform.Errorf(platform.EConflict, "The code changed while it was verified; try again.")
		}
		if err := s.completeIfDelivered(ctx, c.RedemptionID); err != nil {
			return err
		}
		if err := s.record(ctx, "mall.code.verify", "mall_code", c.ID, map[string]any{"member_id": c.MemberID, "redemption_id": c.RedemptionID}); err != nil {
			return err
		}
		out, _, err = s.st().findCodeByCode(ctx, code)
		out.ValidFrom, out.ValidUntil = &b.StartsAt, &b.EndsAt
		return err
	})
	return out, err
}

// RedeemCodeInput is a member entering a code that grants an item.
type RedeemCodeInput struct {
	Code            string   `json:"code"`
	MemberID        string   `json:"member_id"`
	ShippingAddress *Address `json:"shipping_address"`
}

// RedeemCode uses a grant code for a member: in one transaction it marks
// the code used (once, however many members race), takes one of the item's
// stock and creates a redemption without points (source "code"). The item's
// sale window, tier and per-member limits don't apply: the code is the
// entitlement. Errors: not_found (unknown code or member); conflict
// (code used, void, outside its window, or a code for in-store
// verification); out_of_stock; validation_failed.
func (s *Service) RedeemCode(ctx context.Context, in RedeemCodeInput) (Redemption, error) {
	fe := platform.FieldErrors{}
	in.MemberID = strings.TrimSpace(in.MemberID)
	if strings.TrimSpace(in.Code) == "" {
		fe.Add("code", "is required")
	}
	if in.MemberID == "" {
		fe.Add("member_id", "is required")
	}
	if in.ShippingAddress != nil {
		in.ShippingAddress.check(fe, "shipping_address")
	}
	if err := fe.Err(); err != nil {
		return Redemption{}, err
	}
	code, ok := normalizeCode(in.Code)
	if !ok {
		return Redemption{}, errUnknownCode
	}
	var out Redemption
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.now()
		if _, err := s.Members.LockMember(ctx, in.MemberID); err != nil {
			return err
		}
		c, b, err := s.st().findCodeByCode(ctx, code)
		if err != nil {
			return err
		}
		if b.Mode != ModeGrant {
			return conflict(map[string]any{"mode": b.Mode}, "This code is verified in store by the merchant; it can't be redeemed here.")
		}
		if err := codeUsedConflict(c); err != nil {
			return err
		}
		if err := codeInWindow(b, now); err != nil {
			return err
		}
		it, err := s.st().findItem(ctx, b.ItemID)
		if err != nil {
			return err
		}
		if it.Kind == KindPhysical && in.ShippingAddress == nil {
			return platform.FieldErrors{"shipping_address": "is required: this code grants physical goods"}.Err()
		}
		if it.Kind != KindPhysical && in.ShippingAddress != nil {
			return platform.FieldErrors{"shipping_address": "applies only to physical goods"}.Err()
		}
		r := Redemption{ID: ids.NewAt(now), MemberID: in.MemberID, Source: SourceCode, SourceRef: c.ID, Quantity: 1, ShippingAddress: in.ShippingAddress}
		if err := s.takeItemStock(ctx, it, 1, now); err != nil {
			return err
		}
		ok, err := s.st().moveCode(ctx, c.ID, CodeAvailable, map[string]any{
			"status": CodeUsed, "member_id": in.MemberID, "redemption_id": r.ID, "used_at": now,
		})
		if err != nil {
			return err
		}
		if !ok {
			return conflict(map[string]any{"code_status": CodeUsed}, "This code was already used.")
		}
		if err := s.createRedemption(ctx, &r, it, now); err != nil {
			return err
		}
		out = r
		return s.record(ctx, "mall.code.redeem", "mall_code", c.ID, map[string]any{"member_id": in.MemberID, "redemption_id": r.ID})
	})
	return out, err
}

// codeAttempt is a reserved attempt at a code, counted in a fixed window.
type codeAttempt struct {
	subject string
	window  time.Time
}

func (s *Service) attemptLimits() (int, time.Duration) {
	limit, window := s.CodeAttemptLimit, s.CodeAttemptWindow
	if limit <= 0 {
		limit = defaultCodeAttemptLimit
	}
	if window <= 0 {
		window = defaultCodeAttemptWindow
	}
	return limit, window
}

// reserveCodeAttempt counts an attempt at a code by subject before it is
// made, in its own transaction, so parallel guesses can't slip past the
// limit; rate_limited once the window's attempts pass the limit. The
// attempt is released again unless it turns out to be a wrong code, so
// only failures add up. It must be called outside any transaction.
func (s *Service) reserveCodeAttempt(ctx context.Context, subject string) (codeAttempt, error) {
	limit, window := s.attemptLimits()
	now := s.now()
	a := codeAttempt{subject: subject, window: now.Truncate(window)}
	n, err := s.st().countAttempt(ctx, a.subject, a.window)
	if err != nil {
		return codeAttempt{}, err
	}
	if n > limit {
		retry := int(a.window.Add(window).Sub(now).Seconds()) + 1
		return codeAttempt{}, platform.Errorf(platform.ERateLimited,
			"Too many wrong codes were tried; try again in %s.", fmt.Sprint(time.Duration(retry)*time.Second)).
			WithDetails(map[string]any{"retry_after_seconds": retry, "limit": limit, "window_seconds": int(window.Seconds())})
	}
	return a, nil
}

// releaseCodeAttempt takes back a reserved attempt that was not a wrong
// code.
func (s *Service) releaseCodeAttempt(ctx context.Context, a codeAttempt) error {
	return s.st().uncountAttempt(ctx, a.subject, a.window)
}
