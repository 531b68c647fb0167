package mall

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/tenants/tiers"
)

// Item kinds.
const (
	KindPhysical     = "physical"      // goods shipped to an address
	KindCoupon       = "coupon"        // issues coupons of a template at once
	KindVirtual      = "virtual"       // delivered by the merchant outside jifen, fulfilled at once
	KindExchangeCode = "exchange_code" // allocates a code from a batch, verified in store
	KindLottery      = "lottery"       // a draw that costs points (POST /mall/lottery/{iid}/draw)
)

var itemKinds = []string{KindPhysical, KindCoupon, KindVirtual, KindExchangeCode, KindLottery}

// Bounds of item fields, so totals stay far from int64 overflow.
const (
	maxPointsPrice = 1_000_000_000
	maxCashCents   = 10_000_000_000
	maxStock       = 1_000_000_000
	maxMemberLimit = 1_000_000
	maxTierRank    = 1000
	maxImageURLs   = 10
	maxNameRunes   = 100
	maxDescRunes   = 5000
	maxCategoryLen = 64
	maxImageURLLen = 1000
	maxStockDelta  = maxStock
	maxReasonRunes = 200
	maxQuantity    = 100 // per redemption
	maxPrizes      = 20
	basisPoints    = 10000 // a probability of 1 is 10000 basis points
	maxPrizePoints = 1_000_000_000
	maxDailyPrizes = 1_000_000
	maxDailyBudget = 1_000_000_000_000
)

// Item is something members redeem in the mall.
type Item struct {
	TenantID              string     `json:"-" gorm:"column:tenant_id;primaryKey"`
	ID                    string     `json:"id" gorm:"column:id;primaryKey"`
	Name                  string     `json:"name" gorm:"column:name"`
	Kind                  string     `json:"kind" gorm:"column:kind"`
	Category              string     `json:"category" gorm:"column:category"`
	Description           string     `json:"description" gorm:"column:description"`
	ImageURLs             []string   `json:"image_urls" gorm:"column:image_urls;serializer:json"`
	PointsPrice           int64      `json:"points_price" gorm:"column:points_price"`
	CashPriceCents        int64      `json:"cash_price_cents" gorm:"column:cash_price_cents"`
	Stock                 int64      `json:"stock" gorm:"column:stock"`
	PerMemberLimit        int        `json:"per_member_limit" gorm:"column:per_member_limit"`
	PerMemberDailyLimit   int        `json:"per_member_daily_limit" gorm:"column:per_member_daily_limit"`
	PerMemberMonthlyLimit int        `json:"per_member_monthly_limit" gorm:"column:per_member_monthly_limit"`
	MinTierRank           int        `json:"min_tier_rank" gorm:"column:min_tier_rank"`
	StartsAt              *time.Time `json:"starts_at" gorm:"column:starts_at"`
	EndsAt                *time.Time `json:"ends_at" gorm:"column:ends_at"`
	Active                bool       `json:"active" gorm:"column:active"`
	CouponTemplateID      string     `json:"coupon_template_id,omitempty" gorm:"column:coupon_template_id"`
	DailyPrizeLimit       int        `json:"-" gorm:"column:daily_prize_limit"`
	DailyPointsLimit      int64      `json:"-" gorm:"column:daily_points_limit"`
	CreatedAt             time.Time  `json:"created_at" gorm:"column:created_at"`
	UpdatedAt             time.Time  `json:"updated_at" gorm:"column:updated_at"`

	// OnSale says whether a member could redeem it now: active, inside its
	// window and in stock (tier and per-member limits aside).
	OnSale bool `json:"on_sale" gorm:"-"`
	// Lottery is the prize table of a lottery item.
	Lottery *Lottery `json:"lottery,omitempty" gorm:"-"`
}

// TableName is the items table.
func (Item) TableName() string { return "mall_items" }

// onSale reports whether the item can be redeemed at t.
func (it Item) onSale(t time.Time) bool {
	return it.Active && it.Stock > 0 && it.inWindow(t)
}

func (it Item) inWindow(t time.Time) bool {
	return (it.StartsAt == nil || !t.Before(*it.StartsAt)) && (it.EndsAt == nil || t.Before(*it.EndsAt))
}

// ItemInput is what a client sends to create or change an item. Absent
// fields keep their value on PATCH; starts_at and ends_at may be null to
// remove the window.
type ItemInput struct {
	Name                  *string         `json:"name"`
	Kind                  *string         `json:"kind"`
	Category              *string         `json:"category"`
	Description           *string         `json:"description"`
	ImageURLs             *[]string       `json:"image_urls"`
	PointsPrice           *int64          `json:"points_price"`
	CashPriceCents        *int64          `json:"cash_price_cents"`
	Stock                 *int64          `json:"stock"`
	PerMemberLimit        *int            `json:"per_member_limit"`
	PerMemberDailyLimit   *int            `json:"per_member_daily_limit"`
	PerMemberMonthlyLimit *int            `json:"per_member_monthly_limit"`
	MinTierRank           *int            `json:"min_tier_rank"`
	StartsAt              json.RawMessage `json:"starts_at"`
	EndsAt                json.RawMessage `json:"ends_at"`
	Active                *bool           `json:"active"`
	CouponTemplateID      *string         `json:"coupon_template_id"`
	Lottery               *LotteryInput   `json:"lottery"`
}

// optTime reads an optional, nullable time field: set reports whether it
// was present, t is nil for null.
func optTime(raw json.RawMessage, field string, fe platform.FieldErrors) (set bool, t *time.Time) {
	if raw == nil {
		return false, nil
	}
	if string(raw) == "null" {
		return true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		fe.Add(field, "must be an RFC 3339 time such as 2026-11-11T00:00:00Z, or null")
		return true, nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		fe.Add(field, "must be an RFC 3339 time such as 2026-11-11T00:00:00Z, or null")
		return true, nil
	}
	v = v.UTC().Truncate(time.Microsecond)
	return true, &v
}

func oneOf(v string, list []string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func trimmed(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// apply checks the fields present in in and copies them onto it. creating
// requires the contract's fields; kind can't change afterwards.
func (s *Service) applyItemInput(ctx context.Context, it *Item, in ItemInput, creating bool) (*LotteryInput, error) {
	fe := platform.FieldErrors{}
	if creating || in.Name != nil {
		name := trimmed(in.Name)
		if name == "" || utf8.RuneCountInString(name) > maxNameRunes {
			fe.Add("name", "is required: 1 to 100 characters")
		}
		it.Name = name
	}
	if creating {
		k := trimmed(in.Kind)
		if !oneOf(k, itemKinds) {
			fe.Add("kind", "must be one of physical, coupon, virtual, exchange_code, lottery")
		}
		it.Kind = k
	} else if in.Kind != nil && trimmed(in.Kind) != it.Kind {
		fe.Add("kind", "can't be changed; create another item")
	}
	if in.Category != nil {
		c := trimmed(in.Category)
		if len(c) > maxCategoryLen {
			fe.Add("category", "must be at most 64 bytes")
		}
		it.Category = c
	}
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		if utf8.RuneCountInString(d) > maxDescRunes {
			fe.Add("description", "must be at most 5000 characters")
		}
		it.Description = d
	}
	if in.ImageURLs != nil {
		urls := *in.ImageURLs
		if len(urls) > maxImageURLs {
			fe.Add("image_urls", "must hold at most 10 URLs")
		}
		clean := make([]string, 0, len(urls))
		for _, u := range urls {
			u = strings.TrimSpace(u)
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || len(u) > maxImageURLLen {
				fe.Add("image_urls", "must be http or https URLs of at most 1000 bytes")
				break
			}
			clean = append(clean, u)
		}
		it.ImageURLs = clean
	}
	if creating || in.PointsPrice != nil {
		if in.PointsPrice == nil || *in.PointsPrice <= 0 || *in.PointsPrice > maxPointsPrice {
			fe.Add("points_price", "is required: an integer from 1 to 1000000000")
		} else {
			it.PointsPrice = *in.PointsPrice
		}
	}
	if in.CashPriceCents != nil {
		if *in.CashPriceCents < 0 || *in.CashPriceCents > maxCashCents {
			fe.Add("cash_price_cents", "must be an integer from 0 to 10000000000")
		} else {
			it.CashPriceCents = *in.CashPriceCents
		}
	}
	if creating {
		if in.Stock != nil && (*in.Stock < 0 || *in.Stock > maxStock) {
			fe.Add("stock", "must be an integer from 0 to 1000000000")
		} else if in.Stock != nil {
			it.Stock = *in.Stock
		}
		if it.Kind == KindExchangeCode && it.Stock != 0 {
			fe.Add("stock", "must be 0 for an exchange_code item: its stock is the codes of its batches (POST /mall/code-batches)")
		}
	} else if in.Stock != nil {
		fe.Add("stock", "changes with POST /mall/items/{iid}/stock, which never lets it fall below 0")
	}
	limit := func(p *int, field string, dst *int) {
		if p == nil {
			return
		}
		if *p < 0 || *p > maxMemberLimit {
			fe.Add(field, "must be an integer from 0 (no limit) to 1000000")
			return
		}
		*dst = *p
	}
	limit(in.PerMemberLimit, "per_member_limit", &it.PerMemberLimit)
	limit(in.PerMemberDailyLimit, "per_member_daily_limit", &it.PerMemberDailyLimit)
	limit(in.PerMemberMonthlyLimit, "per_member_monthly_limit", &it.PerMemberMonthlyLimit)
	if in.MinTierRank != nil {
		if *in.MinTierRank < 0 || *in.MinTierRank > maxTierRank {
			fe.Add("min_tier_rank", "must be an integer from 0 (every member) to 1000")
		} else {
			it.MinTierRank = *in.MinTierRank
		}
	}
	if set, t := optTime(in.StartsAt, "starts_at", fe); set {
		it.StartsAt = t
	}
	if set, t := optTime(in.EndsAt, "ends_at", fe); set {
		it.EndsAt = t
	}
	if it.StartsAt != nil && it.EndsAt != nil && !it.EndsAt.After(*it.StartsAt) {
		fe.Add("ends_at", "must be after starts_at")
	}
	if in.Active != nil {
		it.Active = *in.Active
	}
	if in.CouponTemplateID != nil {
		it.CouponTemplateID = trimmed(in.CouponTemplateID)
	}
	if it.Kind == KindCoupon {
		if it.CouponTemplateID == "" {
			fe.Add("coupon_template_id", "is required for a coupon item")
		} else if _, err := s.st().findTemplate(ctx, it.CouponTemplateID); platform.IsCode(err, platform.ENotFound) {
			fe.Add("coupon_template_id", "names no coupon template of this tenant")
		} else if err != nil {
			return nil, err
		}
	} else if it.CouponTemplateID != "" {
		fe.Add("coupon_template_id", "applies only to coupon items")
	}
	lottery := in.Lottery
	switch {
	case it.Kind == KindLottery && creating && lottery == nil:
		fe.Add("lottery", "is required for a lottery item: its prizes and daily budget")
	case it.Kind != KindLottery && lottery != nil:
		fe.Add("lottery", "applies only to lottery items")
	case lottery != nil:
		if err := s.checkLottery(ctx, lottery, fe); err != nil {
			return nil, err
		}
		it.DailyPrizeLimit, it.DailyPointsLimit = lottery.DailyPrizeLimit, lottery.DailyPointsLimit
	}
	return lottery, fe.Err()
}

// CreateItem validates in and adds an item to the mall.
func (s *Service) CreateItem(ctx context.Context, in ItemInput) (Item, error) {
	now := s.now()
	it := Item{TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), Active: true, ImageURLs: []string{}, CreatedAt: now, UpdatedAt: now}
	var out Item
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		lottery, err := s.applyItemInput(ctx, &it, in, true)
		if err != nil {
			return err
		}
		if err := s.st().createItem(ctx, &it); err != nil {
			return err
		}
		if lottery != nil {
			if err := s.st().replacePrizes(ctx, it.ID, lottery.prizes(it.ID, now)); err != nil {
				return err
			}
		}
		if err := s.record(ctx, "mall.item.create", "mall_item", it.ID, map[string]any{"name": it.Name, "kind": it.Kind, "stock": it.Stock, "points_price": it.PointsPrice}); err != nil {
			return err
		}
		out, err = s.loadItem(ctx, it.ID)
		return err
	})
	return out, err
}

// UpdateItem changes the fields present in in; a lottery's prize table is
// replaced as a whole when lottery is present (draws already made keep the
// weights they were drawn with).
func (s *Service) UpdateItem(ctx context.Context, id string, in ItemInput) (Item, error) {
	var out Item
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		it, err := s.st().findItem(ctx, id)
		if err != nil {
			return err
		}
		lottery, err := s.applyItemInput(ctx, &it, in, false)
		if err != nil {
			return err
		}
		it.UpdatedAt = s.now()
		if err := s.st().updateItem(ctx, &it); err != nil {
			return err
		}
		if lottery != nil {
			if err := s.st().replacePrizes(ctx, it.ID, lottery.prizes(it.ID, it.UpdatedAt)); err != nil {
				return err
			}
		}
		if err := s.record(ctx, "mall.item.update", "mall_item", it.ID, map[string]any{"fields": presentFields(in)}); err != nil {
			return err
		}
		out, err = s.loadItem(ctx, it.ID)
		return err
	})
	return out, err
}

// presentFields names the fields a PATCH carried, for the audit log.
func presentFields(in ItemInput) []string {
	var out []string
	add := func(present bool, name string) {
		if present {
			out = append(out, name)
		}
	}
	add(in.Name != nil, "name")
	add(in.Category != nil, "category")
	add(in.Description != nil, "description")
	add(in.ImageURLs != nil, "image_urls")
	add(in.PointsPrice != nil, "points_price")
	add(in.CashPriceCents != nil, "cash_price_cents")
	add(in.PerMemberLimit != nil, "per_member_limit")
	add(in.PerMemberDailyLimit != nil, "per_member_daily_limit")
	add(in.PerMemberMonthlyLimit != nil, "per_member_monthly_limit")
	add(in.MinTierRank != nil, "min_tier_rank")
	add(in.StartsAt != nil, "starts_at")
	add(in.EndsAt != nil, "ends_at")
	add(in.Active != nil, "active")
	add(in.CouponTemplateID != nil, "coupon_template_id")
	add(in.Lottery != nil, "lottery")
	return out
}

// GetItem returns the item with its current stock; not_found when it is not
// in the tenant.
func (s *Service) GetItem(ctx context.Context, id string) (Item, error) {
	return s.loadItem(ctx, id)
}

func (s *Service) loadItem(ctx context.Context, id string) (Item, error) {
	it, err := s.st().findItem(ctx, id)
	if err != nil {
		return Item{}, err
	}
	list := []Item{it}
	if err := s.decorate(ctx, list); err != nil {
		return Item{}, err
	}
	return list[0], nil
}

// decorate fills on_sale and the prize tables of a page of items.
func (s *Service) decorate(ctx context.Context, list []Item) error {
	now := s.now()
	var lotteries []string
	for i := range list {
		list[i].OnSale = list[i].onSale(now)
		if list[i].ImageURLs == nil {
			list[i].ImageURLs = []string{}
		}
		if list[i].Kind == KindLottery {
			lotteries = append(lotteries, list[i].ID)
		}
	}
	if len(lotteries) == 0 {
		return nil
	}
	prizes, err := s.st().prizesOf(ctx, lotteries)
	if err != nil {
		return err
	}
	for i := range list {
		if list[i].Kind == KindLottery {
			list[i].Lottery = newLottery(list[i], prizes[list[i].ID])
		}
	}
	return nil
}

// ItemFilter narrows an item listing.
type ItemFilter struct {
	Kind     string
	Category string
	Active   *bool
	// OnSale keeps only items a member could redeem now (active, in their
	// window, in stock).
	OnSale bool
	// MemberID keeps only what that member may see: active items whose
	// window has not ended and whose minimum tier rank the member reaches.
	MemberID string
	Limit    int
	Cursor   string

	now      time.Time
	tierRank int
}

// FindItems lists items, newest first.
func (s *Service) FindItems(ctx context.Context, f ItemFilter) ([]Item, string, error) {
	fe := platform.FieldErrors{}
	if f.Kind != "" && !oneOf(f.Kind, itemKinds) {
		fe.Add("kind", "must be one of physical, coupon, virtual, exchange_code, lottery")
	}
	if len(f.Category) > maxCategoryLen {
		fe.Add("category", "must be at most 64 bytes")
	}
	if err := fe.Err(); err != nil {
		return nil, "", err
	}
	f.now = s.now()
	if f.MemberID != "" {
		if _, err := s.Members.FindMemberByID(ctx, f.MemberID); err != nil {
			return nil, "", err
		}
		rank, err := s.tierRank(ctx, f.MemberID)
		if err != nil {
			return nil, "", err
		}
		f.tierRank = rank
	}
	items, next, err := s.st().findItems(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if err := s.decorate(ctx, items); err != nil {
		return nil, "", err
	}
	return items, next, nil
}

// ItemsUnlockedBetween implements tiers.ExclusiveItemLister: the items
// members may see (active, their window not ended) whose min_tier_rank is
// above lowRankExclusive (and 0) and at most highRankInclusive, ordered by
// min_tier_rank and id, in one query.
func (s *Service) ItemsUnlockedBetween(ctx context.Context, lowRankExclusive, highRankInclusive int) ([]tiers.ItemRef, error) {
	low := max(lowRankExclusive, 0)
	if highRankInclusive <= low {
		return []tiers.ItemRef{}, nil
	}
	items, err := s.st().findItemsByTierRank(ctx, low, highRankInclusive, s.now())
	if err != nil {
		return nil, err
	}
	out := make([]tiers.ItemRef, len(items))
	for i, it := range items {
		out[i] = tiers.ItemRef{ID: it.ID, Name: it.Name, MinTierRank: it.MinTierRank}
	}
	return out, nil
}

// StockInput changes an item's stock by delta.
type StockInput struct {
	Delta  *int64  `json:"delta"`
	Reason *string `json:"reason"`
}

// AdjustStock adds delta (which may be negative) to the item's stock with
// one conditional update, so stock never falls below 0 however many
// redemptions race: conflict (naming the current stock) when it would. The
// stock of an exchange_code item is its unallocated codes, so it only goes
// down here (to write off codes of an ended batch); codes come from batches.
func (s *Service) AdjustStock(ctx context.Context, id string, in StockInput) (Item, error) {
	fe := platform.FieldErrors{}
	if in.Delta == nil || *in.Delta == 0 || *in.Delta > maxStockDelta || *in.Delta < -maxStockDelta {
		fe.Add("delta", "is required: a non-zero integer from -1000000000 to 1000000000")
	}
	reason := trimmed(in.Reason)
	if utf8.RuneCountInString(reason) > maxReasonRunes {
		fe.Add("reason", "must be at most 200 characters")
	}
	if err := fe.Err(); err != nil {
		return Item{}, err
	}
	delta := *in.Delta
	var out Item
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		it, err := s.st().findItem(ctx, id)
		if err != nil {
			return err
		}
		if it.Kind == KindExchangeCode && delta > 0 {
			return platform.FieldErrors{"delta": "can only be negative for an exchange_code item; add codes with POST /mall/code-batches"}.Err()
		}
		ok, err := s.st().adjustStock(ctx, id, delta, s.now())
		if err != nil {
			return err
		}
		if !ok {
			cur, err := s.st().findItem(ctx, id)
			if err != nil {
				return err
			}
			return conflict(map[string]any{"stock": cur.Stock, "delta": delta},
				"The stock is %d; taking %d would make it negative.", cur.Stock, -delta)
		}
		if err := s.record(ctx, "mall.item.stock", "mall_item", id, map[string]any{"delta": delta, "reason": reason}); err != nil {
			return err
		}
		out, err = s.loadItem(ctx, id)
		return err
	})
	return out, err
}
