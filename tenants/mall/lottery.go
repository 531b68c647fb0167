package mall

import (
	"context"
	"crypto/rand"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/tenants/ledger"
)

// Prize kinds.
const (
	PrizePoints  = "points"  // points credited to the member
	PrizeCoupon  = "coupon"  // a coupon of a template
	PrizeItem    = "item"    // a physical or virtual item, as a redemption without points
	PrizeNothing = "nothing" // "thanks for taking part"
)

// Why a drawn prize was not awarded (the draw then falls back to nothing).
const (
	FallbackOutOfStock  = "prize_out_of_stock"
	FallbackBudget      = "daily_budget_exhausted"
	FallbackUnavailable = "prize_unavailable" // a coupon prize whose template was deactivated
)

// Prize is one outcome of a lottery, with its probability in basis points
// (1/10000) and its own stock.
type Prize struct {
	TenantID         string    `json:"-" gorm:"column:tenant_id;primaryKey"`
	ID               string    `json:"id" gorm:"column:id;primaryKey"`
	LotteryID        string    `json:"-" gorm:"column:item_id"`
	Position         int       `json:"-" gorm:"column:position"`
	Name             string    `json:"name" gorm:"column:name"`
	Kind             string    `json:"kind" gorm:"column:kind"`
	WeightBP         int       `json:"weight_bp" gorm:"column:weight_bp"`
	Stock            int64     `json:"stock" gorm:"column:stock"`
	Points           int64     `json:"points" gorm:"column:points"`
	CouponTemplateID string    `json:"coupon_template_id" gorm:"column:coupon_template_id"`
	ItemID           string    `json:"item_id" gorm:"column:prize_item_id"`
	ValuePoints      int64     `json:"value_points" gorm:"column:value_points"`
	Retired          bool      `json:"-" gorm:"column:retired"`
	CreatedAt        time.Time `json:"-" gorm:"column:created_at"`
}

// TableName is the prizes table.
func (Prize) TableName() string { return "mall_lottery_prizes" }

// Lottery is a lottery item's prize table and daily budget.
type Lottery struct {
	Prizes []Prize `json:"prizes"`
	// NothingWeightBP is the probability, in basis points, left over for
	// "nothing" by the prizes' weights.
	NothingWeightBP int `json:"nothing_weight_bp"`
	// DailyPrizeLimit caps the prizes (other than nothing) awarded per
	// local day; 0 means no cap.
	DailyPrizeLimit int `json:"daily_prize_limit"`
	// DailyPointsLimit caps the value_points of the prizes awarded per
	// local day; 0 means no cap.
	DailyPointsLimit int64 `json:"daily_points_limit"`
}

func newLottery(it Item, prizes []Prize) *Lottery {
	l := &Lottery{Prizes: prizes, NothingWeightBP: basisPoints, DailyPrizeLimit: it.DailyPrizeLimit, DailyPointsLimit: it.DailyPointsLimit}
	if l.Prizes == nil {
		l.Prizes = []Prize{}
	}
	for _, p := range prizes {
		l.NothingWeightBP -= p.WeightBP
	}
	return l
}

// LotteryInput sets a lottery's prizes and daily budget.
type LotteryInput struct {
	Prizes           []PrizeInput `json:"prizes"`
	DailyPrizeLimit  int          `json:"daily_prize_limit"`
	DailyPointsLimit int64        `json:"daily_points_limit"`
}

// PrizeInput is one prize. weight_bp is its probability in basis points;
// the weights add up to at most 10000 and what is left is "nothing".
type PrizeInput struct {
	Name             string `json:"name"`
	Kind             string `json:"kind"`
	WeightBP         int    `json:"weight_bp"`
	Stock            int64  `json:"stock"`
	Points           int64  `json:"points"`
	CouponTemplateID string `json:"coupon_template_id"`
	ItemID           string `json:"item_id"`
	// ValuePoints is what the prize counts against the daily points budget;
	// absent, it is the points of a points prize and 0 otherwise.
	ValuePoints *int64 `json:"value_points"`
}

// checkLottery validates a lottery's input into fe.
func (s *Service) checkLottery(ctx context.Context, in *LotteryInput, fe platform.FieldErrors) error {
	if len(in.Prizes) == 0 || len(in.Prizes) > maxPrizes {
		fe.Add("lottery.prizes", "must hold 1 to 20 prizes")
	}
	if in.DailyPrizeLimit < 0 || in.DailyPrizeLimit > maxDailyPrizes {
		fe.Add("lottery.daily_prize_limit", "must be an integer from 0 (no cap) to 1000000")
	}
	if in.DailyPointsLimit < 0 || in.DailyPointsLimit > maxDailyBudget {
		fe.Add("lottery.daily_points_limit", "must be an integer from 0 (no cap) to 1000000000000")
	}
	total := 0
	for i := range in.Prizes {
		p := &in.Prizes[i]
		f := func(name string) string { return "lottery.prizes[" + strconv.Itoa(i) + "]." + name }
		p.Name, p.Kind = strings.TrimSpace(p.Name), strings.TrimSpace(p.Kind)
		p.CouponTemplateID, p.ItemID = strings.TrimSpace(p.CouponTemplateID), strings.TrimSpace(p.ItemID)
		if p.Name == "" || utf8.RuneCountInString(p.Name) > maxNameRunes {
			fe.Add(f("name"), "is required: 1 to 100 characters")
		}
		if p.WeightBP < 1 || p.WeightBP > basisPoints {
			fe.Add(f("weight_bp"), "must be an integer from 1 to 10000 (basis points of probability)")
		}
		total += p.WeightBP
		if p.Stock < 0 || p.Stock > maxStock {
			fe.Add(f("stock"), "must be an integer from 0 to 1000000000")
		}
		if p.ValuePoints != nil && (*p.ValuePoints < 0 || *p.ValuePoints > maxPrizePoints) {
			fe.Add(f("value_points"), "must be an integer from 0 to 1000000000")
		}
		if p.Kind != PrizePoints && p.Points != 0 {
			fe.Add(f("points"), "applies only to points prizes")
		}
		if p.Kind != PrizeCoupon && p.CouponTemplateID != "" {
			fe.Add(f("coupon_template_id"), "applies only to coupon prizes")
		}
		if p.Kind != PrizeItem && p.ItemID != "" {
			fe.Add(f("item_id"), "applies only to item prizes")
		}
		switch p.Kind {
		case PrizePoints:
			if p.Points < 1 || p.Points > maxPrizePoints {
				fe.Add(f("points"), "is required for a points prize: an integer from 1 to 1000000000")
			}
		case PrizeCoupon:
			if _, err := s.st().findTemplate(ctx, p.CouponTemplateID); platform.IsCode(err, platform.ENotFound) {
				fe.Add(f("coupon_template_id"), "names no coupon template of this tenant")
			} else if err != nil {
				return err
			}
		case PrizeItem:
			it, err := s.st().findItem(ctx, p.ItemID)
			if platform.IsCode(err, platform.ENotFound) {
				fe.Add(f("item_id"), "names no item of this tenant")
			} else if err != nil {
				return err
			} else if it.Kind != KindPhysical && it.Kind != KindVirtual {
				fe.Add(f("item_id"), "must name a physical or virtual item")
			}
		case PrizeNothing:
		default:
			fe.Add(f("kind"), "must be one of points, coupon, item, nothing")
		}
	}
	if total > basisPoints {
		fe.Add("lottery.prizes", "weights add up to more than 10000 basis points")
	}
	return nil
}

// prizes turns the input into prize rows of a lottery.
func (in *LotteryInput) prizes(lotteryID string, now time.Time) []Prize {
	out := make([]Prize, len(in.Prizes))
	for i, p := range in.Prizes {
		value := int64(0)
		if p.Kind == PrizePoints {
			value = p.Points
		}
		if p.ValuePoints != nil {
			value = *p.ValuePoints
		}
		out[i] = Prize{
			ID: ids.NewAt(now), LotteryID: lotteryID, Position: i, Name: p.Name, Kind: p.Kind, WeightBP: p.WeightBP,
			Stock: p.Stock, Points: p.Points, CouponTemplateID: p.CouponTemplateID, ItemID: p.ItemID, ValuePoints: value, CreatedAt: now,
		}
	}
	return out
}

// Draw is one draw of a lottery with what decided it: the random number,
// the weights and stock at the time, the prize it selected and the prize
// awarded (nothing when the selected prize was out of stock or the day's
// budget was spent).
type Draw struct {
	TenantID       string       `json:"-" gorm:"column:tenant_id;primaryKey"`
	ID             string       `json:"id" gorm:"column:id;primaryKey"`
	LotteryID      string       `json:"item_id" gorm:"column:item_id"`
	MemberID       string       `json:"member_id" gorm:"column:member_id"`
	PointsSpent    int64        `json:"points_spent" gorm:"column:points_spent"`
	LedgerEntryID  string       `json:"ledger_entry_id" gorm:"column:ledger_entry_id"`
	RandomBP       int          `json:"random_bp" gorm:"column:random_bp"`
	Weights        []DrawWeight `json:"weights" gorm:"column:weights;serializer:json"`
	DrawnPrizeID   string       `json:"drawn_prize_id" gorm:"column:drawn_prize_id"`
	PrizeID        string       `json:"prize_id" gorm:"column:prize_id"`
	PrizeName      string       `json:"prize_name" gorm:"column:prize_name"`
	PrizeKind      string       `json:"prize_kind" gorm:"column:prize_kind"`
	FallbackReason string       `json:"fallback_reason" gorm:"column:fallback_reason"`
	Award          DrawAward    `json:"award" gorm:"column:award;serializer:json"`
	LocalDay       string       `json:"local_day" gorm:"column:local_day"`
	CreatedAt      time.Time    `json:"created_at" gorm:"column:created_at"`

	// Won says whether the draw awarded a prize other than nothing.
	Won bool `json:"won" gorm:"-"`
}

// TableName is the draws table.
func (Draw) TableName() string { return "mall_lottery_draws" }

// DrawWeight is one outcome as it stood at a draw: the random number
// selects it when From <= random_bp < To. The leftover "nothing" outcome
// has an empty prize id.
type DrawWeight struct {
	PrizeID  string `json:"prize_id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	WeightBP int    `json:"weight_bp"`
	Stock    int64  `json:"stock"`
	From     int    `json:"from"`
	To       int    `json:"to"`
}

// DrawAward is what a draw gave the member.
type DrawAward struct {
	Points        int64          `json:"points"`
	LedgerEntryID string         `json:"ledger_entry_id"`
	Coupon        *GrantedCoupon `json:"coupon"`
	RedemptionID  string         `json:"redemption_id"`
}

// weightsOf lays the prizes out on [0, 10000) in their order, with the
// remainder as nothing at the end.
func weightsOf(prizes []Prize) []DrawWeight {
	out := make([]DrawWeight, 0, len(prizes)+1)
	at := 0
	for _, p := range prizes {
		out = append(out, DrawWeight{PrizeID: p.ID, Name: p.Name, Kind: p.Kind, WeightBP: p.WeightBP, Stock: p.Stock, From: at, To: at + p.WeightBP})
		at += p.WeightBP
	}
	if at < basisPoints {
		out = append(out, DrawWeight{Kind: PrizeNothing, WeightBP: basisPoints - at, From: at, To: basisPoints})
	}
	return out
}

// pick returns the index of the outcome that r (0 <= r < 10000) selects.
func pick(weights []DrawWeight, r int) int {
	for i, w := range weights {
		if r >= w.From && r < w.To {
			return i
		}
	}
	return len(weights) - 1
}

// randomBP draws a uniform integer in [0, 10000) from crypto/rand, so
// nobody can predict or steer a draw.
func randomBP() (int, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(basisPoints))
	if err != nil {
		return 0, err
	}
	return int(n.Int64()), nil
}

// DrawInput is a member's draw.
type DrawInput struct {
	MemberID string `json:"member_id"`
	// ShippingAddress is used if the member wins physical goods; without
	// it the prize's redemption waits in pending for an address.
	ShippingAddress *Address `json:"shipping_address"`
}

// DrawLottery makes one draw for a member: in one transaction it checks
// the lottery is on sale, visible to the member's tier and within the
// member's limits, takes one from the lottery's stock (draws left), debits
// the price, draws a uniform random number in basis points, and awards the
// prize it selects. A prize is never awarded beyond its stock or the day's
// budget: both are taken with conditional updates, and when either is
// gone (or a coupon prize's template was deactivated) the draw falls back
// to nothing, recorded with the reason, rather than drawing again, so the
// odds of the other prizes don't change.
// Errors: validation_failed; not_found (lottery or member); conflict; out_of_stock
// (no draws left); insufficient_points.
func (s *Service) DrawLottery(ctx context.Context, lotteryID string, in DrawInput) (Draw, error) {
	fe := platform.FieldErrors{}
	in.MemberID = strings.TrimSpace(in.MemberID)
	if in.MemberID == "" {
		fe.Add("member_id", "is required")
	}
	if in.ShippingAddress != nil {
		in.ShippingAddress.check(fe, "shipping_address")
	}
	if err := fe.Err(); err != nil {
		return Draw{}, err
	}
	var out Draw
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.now()
		it, err := s.findLottery(ctx, lotteryID)
		if err != nil {
			return err
		}
		if err := checkOnSale(it, now); err != nil {
			return err
		}
		if it.Stock < 1 {
			return outOfStock(it, it.Stock, 1)
		}
		if _, err := s.Members.LockMember(ctx, in.MemberID); err != nil {
			return err
		}
		if err := s.checkTier(ctx, it, in.MemberID); err != nil {
			return err
		}
		if err := s.checkLimits(ctx, it, in.MemberID, 1, now, s.st().drawsSince); err != nil {
			return err
		}
		d := Draw{
			TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), LotteryID: it.ID, MemberID: in.MemberID,
			PointsSpent: it.PointsPrice, LocalDay: localDay(now, location(ctx)), CreatedAt: now,
		}
		entry, _, err := s.Ledger.Debit(ctx, ledger.Debit{
			MemberID: in.MemberID, Points: it.PointsPrice, Kind: ledger.KindRedeem,
			Reason: "Lottery draw: " + it.Name, Ref: "lottery_draw:" + d.ID,
		})
		if err != nil {
			return err
		}
		d.LedgerEntryID = entry.ID
		// Draws left are taken after the debit, so the lottery's row lock
		// is held only for the draw itself (see Redeem).
		if err := s.takeItemStock(ctx, it, 1, now); err != nil {
			return err
		}
		prizes, err := s.st().prizesOf(ctx, []string{it.ID})
		if err != nil {
			return err
		}
		byID := map[string]Prize{}
		for _, p := range prizes[it.ID] {
			byID[p.ID] = p
		}
		d.Weights = weightsOf(prizes[it.ID])
		if d.RandomBP, err = randomBP(); err != nil {
			return err
		}
		w := d.Weights[pick(d.Weights, d.RandomBP)]
		d.DrawnPrizeID, d.PrizeKind = w.PrizeID, PrizeNothing
		if w.Kind != PrizeNothing {
			p := byID[w.PrizeID]
			reason, err := s.takePrize(ctx, it, p, d.LocalDay)
			if err != nil {
				return err
			}
			if reason != "" {
				d.FallbackReason = reason
			} else {
				d.PrizeID, d.PrizeName, d.PrizeKind = p.ID, p.Name, p.Kind
				if err := s.award(ctx, &d, p, in.ShippingAddress, now); err != nil {
					return err
				}
			}
		} else {
			d.PrizeID, d.PrizeName = w.PrizeID, w.Name
		}
		if err := s.st().insertDraw(ctx, &d); err != nil {
			return err
		}
		d.Won = d.PrizeKind != PrizeNothing
		out = d
		return nil
	})
	return out, err
}

// takePrize takes the day's budget and then one of the prize's stock, each
// with a conditional update; it returns the fallback reason when either is
// spent (giving the budget back if the stock was the one missing), or when
// a coupon prize's template no longer issues coupons.
func (s *Service) takePrize(ctx context.Context, it Item, p Prize, day string) (string, error) {
	st := s.st()
	if p.Kind == PrizeCoupon {
		t, err := st.findTemplate(ctx, p.CouponTemplateID)
		if err != nil {
			return "", err
		}
		if !t.Active {
			return FallbackUnavailable, nil
		}
	}
	limited := it.DailyPrizeLimit > 0 || it.DailyPointsLimit > 0
	if limited {
		ok, err := st.takeBudget(ctx, it, day, p.ValuePoints)
		if err != nil {
			return "", err
		}
		if !ok {
			return FallbackBudget, nil
		}
	}
	ok, err := st.takePrizeStock(ctx, p.ID)
	if err != nil {
		return "", err
	}
	if !ok {
		if limited {
			if err := st.releaseBudget(ctx, it.ID, day, p.ValuePoints); err != nil {
				return "", err
			}
		}
		return FallbackOutOfStock, nil
	}
	return "", nil
}

// award gives the member the prize.
func (s *Service) award(ctx context.Context, d *Draw, p Prize, addr *Address, now time.Time) error {
	switch p.Kind {
	case PrizePoints:
		e, _, err := s.Ledger.Credit(ctx, ledger.Credit{
			MemberID: d.MemberID, Points: p.Points, Kind: ledger.KindEarn,
			Reason: "Lottery prize: " + p.Name, Ref: "lottery_draw:" + d.ID,
		})
		if err != nil {
			return err
		}
		d.Award.Points, d.Award.LedgerEntryID = p.Points, e.ID
	case PrizeCoupon:
		c, err := s.issueCoupon(ctx, couponIssue{
			MemberID: d.MemberID, TemplateID: p.CouponTemplateID, Source: SourceLottery, SourceRef: d.ID, Reason: "Lottery prize: " + p.Name,
		})
		if err != nil {
			return err
		}
		d.Award.Coupon = &GrantedCoupon{ID: c.ID, Code: c.Code, ValidUntil: c.ValidUntil}
	case PrizeItem:
		it, err := s.st().findItem(ctx, p.ItemID)
		if err != nil {
			return err
		}
		r := Redemption{ID: ids.NewAt(now), MemberID: d.MemberID, Source: SourceLottery, SourceRef: d.ID, Quantity: 1}
		if it.Kind == KindPhysical {
			r.ShippingAddress = addr
		}
		if err := s.createRedemption(ctx, &r, it, now); err != nil {
			return err
		}
		d.Award.RedemptionID = r.ID
	}
	return nil
}

// findLottery returns a lottery item; not_found for any other item.
func (s *Service) findLottery(ctx context.Context, id string) (Item, error) {
	it, err := s.st().findItem(ctx, id)
	if platform.IsCode(err, platform.ENotFound) || (err == nil && it.Kind != KindLottery) {
		return Item{}, platform.NotFound("lottery")
	}
	return it, err
}

// DrawFilter narrows a lottery's draws.
type DrawFilter struct {
	MemberID string
	Limit    int
	Cursor   string
}

// FindDraws lists a lottery's draws, newest first; not_found when the
// lottery is not in the tenant.
func (s *Service) FindDraws(ctx context.Context, lotteryID string, f DrawFilter) ([]Draw, string, error) {
	if _, err := s.findLottery(ctx, lotteryID); err != nil {
		return nil, "", err
	}
	list, next, err := s.st().findDraws(ctx, lotteryID, f)
	for i := range list {
		list[i].Won = list[i].PrizeKind != PrizeNothing
	}
	return list, next, err
}
