package mall

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"jifen/pkg/ids"
	"jifen/platform"
)

// Coupon template kinds.
const (
	CouponAmountOff  = "amount_off"  // a fixed amount off (满减 with a threshold, 无门槛 without)
	CouponPercentOff = "percent_off" // a percentage off, optionally capped
)

// Coupon statuses. Stored coupons are active, used or void; an active coupon
// past valid_until is shown as expired.
const (
	CouponActive  = "active"
	CouponUsed    = "used"
	CouponVoid    = "void"
	CouponExpired = "expired"
)

var couponStatuses = []string{CouponActive, CouponUsed, CouponVoid, CouponExpired}

// Bounds of coupon templates.
const (
	maxValidDays = 3650
	maxOrderRef  = 128
)

// CouponTemplate says what a coupon is worth and for how long. The value
// terms can't change once coupons exist, so they are fixed at creation;
// name, validity of future coupons and active can change.
type CouponTemplate struct {
	TenantID       string    `json:"-" gorm:"column:tenant_id;primaryKey"`
	ID             string    `json:"id" gorm:"column:id;primaryKey"`
	Name           string    `json:"name" gorm:"column:name"`
	Kind           string    `json:"kind" gorm:"column:kind"`
	AmountOffCents int64     `json:"amount_off_cents" gorm:"column:amount_off_cents"`
	PercentOff     int       `json:"percent_off" gorm:"column:percent_off"`
	MaxOffCents    int64     `json:"max_off_cents" gorm:"column:max_off_cents"`
	MinOrderCents  int64     `json:"min_order_cents" gorm:"column:min_order_cents"`
	ValidDays      int       `json:"valid_days" gorm:"column:valid_days"`
	Active         bool      `json:"active" gorm:"column:active"`
	CreatedAt      time.Time `json:"created_at" gorm:"column:created_at"`
	UpdatedAt      time.Time `json:"updated_at" gorm:"column:updated_at"`
}

// TableName is the coupon templates table.
func (CouponTemplate) TableName() string { return "coupon_templates" }

// discount is what the coupon takes off an order of amount cents.
func (t CouponTemplate) discount(amount int64) int64 {
	var d int64
	switch t.Kind {
	case CouponAmountOff:
		d = t.AmountOffCents
	case CouponPercentOff:
		d = amount * int64(t.PercentOff) / 100
		if t.MaxOffCents > 0 && d > t.MaxOffCents {
			d = t.MaxOffCents
		}
	}
	return min(d, amount)
}

// TemplateInput creates or changes a coupon template.
type TemplateInput struct {
	Name           *string `json:"name"`
	Kind           *string `json:"kind"`
	AmountOffCents *int64  `json:"amount_off_cents"`
	PercentOff     *int    `json:"percent_off"`
	MaxOffCents    *int64  `json:"max_off_cents"`
	MinOrderCents  *int64  `json:"min_order_cents"`
	ValidDays      *int    `json:"valid_days"`
	Active         *bool   `json:"active"`
}

func (in TemplateInput) check(t *CouponTemplate, creating bool) error {
	fe := platform.FieldErrors{}
	if creating || in.Name != nil {
		t.Name = trimmed(in.Name)
		if t.Name == "" || utf8.RuneCountInString(t.Name) > maxNameRunes {
			fe.Add("name", "is required: 1 to 100 characters")
		}
	}
	if creating || in.ValidDays != nil {
		if in.ValidDays == nil || *in.ValidDays < 1 || *in.ValidDays > maxValidDays {
			fe.Add("valid_days", "is required: days a coupon stays valid after it is issued, 1 to 3650")
		} else {
			t.ValidDays = *in.ValidDays
		}
	}
	if in.Active != nil {
		t.Active = *in.Active
	}
	if !creating {
		for field, present := range map[string]bool{
			"kind": in.Kind != nil, "amount_off_cents": in.AmountOffCents != nil, "percent_off": in.PercentOff != nil,
			"max_off_cents": in.MaxOffCents != nil, "min_order_cents": in.MinOrderCents != nil,
		} {
			if present {
				fe.Add(field, "can't be changed once coupons may exist; create another template")
			}
		}
		return fe.Err()
	}
	t.Kind = trimmed(in.Kind)
	val := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	t.AmountOffCents, t.MaxOffCents, t.MinOrderCents = val(in.AmountOffCents), val(in.MaxOffCents), val(in.MinOrderCents)
	if in.PercentOff != nil {
		t.PercentOff = *in.PercentOff
	}
	switch t.Kind {
	case CouponAmountOff:
		if t.AmountOffCents < 1 || t.AmountOffCents > maxCashCents {
			fe.Add("amount_off_cents", "is required for amount_off: an integer from 1 to 10000000000")
		}
		if t.PercentOff != 0 {
			fe.Add("percent_off", "applies only to percent_off coupons")
		}
		if t.MaxOffCents != 0 {
			fe.Add("max_off_cents", "applies only to percent_off coupons")
		}
	case CouponPercentOff:
		if t.PercentOff < 1 || t.PercentOff > 99 {
			fe.Add("percent_off", "is required for percent_off: an integer from 1 to 99")
		}
		if t.AmountOffCents != 0 {
			fe.Add("amount_off_cents", "applies only to amount_off coupons")
		}
		if t.MaxOffCents < 0 || t.MaxOffCents > maxCashCents {
			fe.Add("max_off_cents", "must be an integer from 0 (no cap) to 10000000000")
		}
	default:
		fe.Add("kind", "must be amount_off or percent_off")
	}
	if t.MinOrderCents < 0 || t.MinOrderCents > maxCashCents {
		fe.Add("min_order_cents", "must be an integer from 0 (no threshold) to 10000000000")
	}
	return fe.Err()
}

// CreateTemplate validates in and adds a coupon template.
func (s *Service) CreateTemplate(ctx context.Context, in TemplateInput) (CouponTemplate, error) {
	now := s.now()
	t := CouponTemplate{TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), Active: true, CreatedAt: now, UpdatedAt: now}
	if err := in.check(&t, true); err != nil {
		return CouponTemplate{}, err
	}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		if err := s.st().createTemplate(ctx, &t); err != nil {
			return err
		}
		return s.record(ctx, "coupon.template.create", "coupon_template", t.ID, map[string]any{"name": t.Name, "kind": t.Kind})
	})
	return t, err
}

// UpdateTemplate changes a template's name, validity of future coupons or
// active flag; an inactive template issues no more coupons.
func (s *Service) UpdateTemplate(ctx context.Context, id string, in TemplateInput) (CouponTemplate, error) {
	var out CouponTemplate
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		t, err := s.st().findTemplate(ctx, id)
		if err != nil {
			return err
		}
		if err := in.check(&t, false); err != nil {
			return err
		}
		t.UpdatedAt = s.now()
		if err := s.st().updateTemplate(ctx, &t); err != nil {
			return err
		}
		out = t
		return s.record(ctx, "coupon.template.update", "coupon_template", t.ID, map[string]any{"name": t.Name, "active": t.Active, "valid_days": t.ValidDays})
	})
	return out, err
}

// GetTemplate returns a template; not_found when it is not in the tenant.
func (s *Service) GetTemplate(ctx context.Context, id string) (CouponTemplate, error) {
	return s.st().findTemplate(ctx, id)
}

// FindTemplates lists templates, newest first.
func (s *Service) FindTemplates(ctx context.Context, limit int, cur string) ([]CouponTemplate, string, error) {
	return s.st().findTemplates(ctx, limit, cur)
}

// Coupon is one coupon held by a member.
type Coupon struct {
	TenantID         string     `json:"-" gorm:"column:tenant_id;primaryKey"`
	ID               string     `json:"id" gorm:"column:id;primaryKey"`
	Code             string     `json:"code" gorm:"column:code"`
	TemplateID       string     `json:"template_id" gorm:"column:template_id"`
	MemberID         string     `json:"member_id" gorm:"column:member_id"`
	Status           string     `json:"status" gorm:"column:status"`
	Source           string     `json:"source" gorm:"column:source"`
	SourceRef        string     `json:"source_ref" gorm:"column:source_ref"`
	RedemptionID     string     `json:"redemption_id" gorm:"column:redemption_id"`
	Reason           string     `json:"reason" gorm:"column:reason"`
	ValidFrom        time.Time  `json:"valid_from" gorm:"column:valid_from"`
	ValidUntil       time.Time  `json:"valid_until" gorm:"column:valid_until"`
	UsedAt           *time.Time `json:"used_at" gorm:"column:used_at"`
	OrderAmountCents int64      `json:"order_amount_cents" gorm:"column:order_amount_cents"`
	DiscountCents    int64      `json:"discount_cents" gorm:"column:discount_cents"`
	OrderRef         string     `json:"order_ref" gorm:"column:order_ref"`
	CreatedAt        time.Time  `json:"created_at" gorm:"column:created_at"`
	UpdatedAt        time.Time  `json:"updated_at" gorm:"column:updated_at"`

	// Template holds the coupon's terms when the coupon is returned.
	Template *CouponTemplate `json:"template,omitempty" gorm:"-"`
}

// TableName is the coupons table.
func (Coupon) TableName() string { return "coupons" }

// shown sets the status a person sees: an active coupon past its validity
// is expired.
func (c *Coupon) shown(now time.Time) {
	if c.Status == CouponActive && !now.Before(c.ValidUntil) {
		c.Status = CouponExpired
	}
}

// couponIssue is one coupon to issue.
type couponIssue struct {
	MemberID, TemplateID, Source, SourceRef, RedemptionID, Reason string
}

// issueCoupon issues one coupon of an active template with a fresh code,
// valid for the template's days from now. The caller has checked the
// member.
func (s *Service) issueCoupon(ctx context.Context, ci couponIssue) (Coupon, error) {
	t, err := s.st().findTemplate(ctx, ci.TemplateID)
	if err != nil {
		return Coupon{}, err
	}
	if !t.Active {
		return Coupon{}, conflict(map[string]any{"template_id": t.ID, "active": false},
			"The coupon template %s is inactive and issues no coupons.", t.Name)
	}
	now := s.now()
	c := Coupon{
		TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), TemplateID: t.ID, MemberID: ci.MemberID,
		Status: CouponActive, Source: ci.Source, SourceRef: ci.SourceRef, RedemptionID: ci.RedemptionID,
		Reason: ci.Reason, ValidFrom: now, ValidUntil: now.AddDate(0, 0, t.ValidDays), CreatedAt: now, UpdatedAt: now,
	}
	if err := s.st().insertCoupon(ctx, &c); err != nil {
		return Coupon{}, err
	}
	if err := s.record(ctx, "coupon.issue", "coupon", c.ID, map[string]any{
		"member_id": c.MemberID, "template_id": c.TemplateID, "source": c.Source, "source_ref": c.SourceRef, "reason": c.Reason,
	}); err != nil {
		return Coupon{}, err
	}
	c.Template = &t
	return c, nil
}

// GrantInput issues a coupon to a member by hand (or by a campaign).
type GrantInput struct {
	TemplateID string `json:"template_id"`
	Reason     string `json:"reason"`
}

// GrantCoupon issues a coupon of the template to the member; not_found for
// a member or template not in the tenant, conflict for an inactive
// template.
func (s *Service) GrantCoupon(ctx context.Context, memberID string, in GrantInput) (Coupon, error) {
	in.TemplateID, in.Reason = strings.TrimSpace(in.TemplateID), strings.TrimSpace(in.Reason)
	fe := platform.FieldErrors{}
	if in.TemplateID == "" {
		fe.Add("template_id", "is required")
	}
	if utf8.RuneCountInString(in.Reason) > maxReasonRunes {
		fe.Add("reason", "must be at most 200 characters")
	}
	if err := fe.Err(); err != nil {
		return Coupon{}, err
	}
	var out Coupon
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
			return err
		}
		var err error
		out, err = s.issueCoupon(ctx, couponIssue{MemberID: memberID, TemplateID: in.TemplateID, Source: "grant", Reason: in.Reason})
		return err
	})
	return out, err
}

// IssueCoupon issues one coupon of the template to the member, joining the
// caller's transaction (tier upgrades and campaigns call it). It returns
// not_found for a member or template not in the tenant and conflict for an
// inactive template.
func (s *Service) IssueCoupon(ctx context.Context, memberID, templateID, reason string) error {
	_, err := s.GrantCoupon(ctx, memberID, GrantInput{TemplateID: templateID, Reason: reason})
	return err
}

// CouponTemplateUsable implements tiers.CouponTemplateChecker: nil when the
// tenant has an active template with the id, not_found when it has none
// (another tenant's id included) and conflict when it is inactive, so a
// tier can't name an upgrade coupon that would never be issued.
func (s *Service) CouponTemplateUsable(ctx context.Context, templateID string) error {
	t, err := s.st().findTemplate(ctx, templateID)
	if err != nil {
		return err
	}
	if !t.Active {
		return conflict(map[string]any{"template_id": t.ID, "active": false},
			"The coupon template %s is inactive and issues no coupons.", t.Name)
	}
	return nil
}

// CouponFilter narrows a member's coupons.
type CouponFilter struct {
	Status string
	Limit  int
	Cursor string
	now    time.Time
}

// MemberCoupons lists a member's coupons, newest first, with their terms;
// not_found when the member is not in the tenant.
func (s *Service) MemberCoupons(ctx context.Context, memberID string, f CouponFilter) ([]Coupon, string, error) {
	if f.Status != "" && !oneOf(f.Status, couponStatuses) {
		return nil, "", platform.FieldErrors{"status": "must be one of active, used, expired, void"}.Err()
	}
	if _, err := s.Members.FindMemberByID(ctx, memberID); err != nil {
		return nil, "", err
	}
	f.now = s.now()
	list, next, err := s.st().memberCoupons(ctx, memberID, f)
	if err != nil {
		return nil, "", err
	}
	ts := map[string]*CouponTemplate{}
	for i := range list {
		list[i].shown(f.now)
		t, ok := ts[list[i].TemplateID]
		if !ok {
			tpl, err := s.st().findTemplate(ctx, list[i].TemplateID)
			if err != nil {
				return nil, "", err
			}
			t = &tpl
			ts[tpl.ID] = t
		}
		list[i].Template = t
	}
	return list, next, nil
}

// VerifyInput is a merchant's till verifying (核销) a coupon on an order.
type VerifyInput struct {
	Code             string `json:"code"`
	OrderAmountCents *int64 `json:"order_amount_cents"`
	OrderRef         string `json:"order_ref"`
}

// Verification is the result of verifying a coupon.
type Verification struct {
	Coupon        Coupon `json:"coupon"`
	DiscountCents int64  `json:"discount_cents"`
	PayableCents  int64  `json:"payable_cents"`
}

// VerifyCoupon marks a coupon used on an order and says how much it takes
// off. Errors, each distinct: not_found (unknown code, or another tenant's:
// it is simply not found); conflict with details.coupon_status used,
// expired or void; validation_failed when the order is below the coupon's
// threshold. A coupon is used once however many tills race.
func (s *Service) VerifyCoupon(ctx context.Context, in VerifyInput) (Verification, error) {
	fe := platform.FieldErrors{}
	code, okCode := normalizeCode(in.Code)
	if strings.TrimSpace(in.Code) == "" {
		fe.Add("code", "is required")
	}
	if in.OrderAmountCents == nil || *in.OrderAmountCents < 0 || *in.OrderAmountCents > maxCashCents {
		fe.Add("order_amount_cents", "is required: the order's amount in cents, 0 to 10000000000")
	}
	in.OrderRef = strings.TrimSpace(in.OrderRef)
	if len(in.OrderRef) > maxOrderRef {
		fe.Add("order_ref", "must be at most 128 bytes")
	}
	if err := fe.Err(); err != nil {
		return Verification{}, err
	}
	if !okCode {
		return Verification{}, platform.NotFound("coupon")
	}
	amount := *in.OrderAmountCents
	var out Verification
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.now()
		c, err := s.st().findCouponByCode(ctx, code)
		if err != nil {
			return err
		}
		// The member's lock first, as a cancellation of the coupon's
		// redemption takes it, so the two queue instead of deadlocking.
		if _, err := s.Members.LockMember(ctx, c.MemberID); err != nil {
			return err
		}
		if err := couponUsable(c, now); err != nil {
			return err
		}
		t, err := s.st().findTemplate(ctx, c.TemplateID)
		if err != nil {
			return err
		}
		if amount < t.MinOrderCents {
			return (&platform.Error{Code: platform.EValidation, Message: "The order is below this coupon's threshold."}).WithDetails(map[string]any{
				"order_amount_cents": "must be at least the coupon's min_order_cents", "min_order_cents": t.MinOrderCents,
			})
		}
		d := t.discount(amount)
		ok, err := s.st().useCoupon(ctx, c.ID, now, amount, d, in.OrderRef)
		if err != nil {
			return err
		}
		if !ok {
			cur, err := s.st().findCouponByCode(ctx, code)
			if err != nil {
				return err
			}
			if err := couponUsable(cur, now); err != nil {
				return err
			}
			return platform.Errorf(platform.EConflict, "The coupon changed while it was verified; try again.")
		}
		if err := s.completeIfDelivered(ctx, c.RedemptionID); err != nil {
			return err
		}
		if err := s.record(ctx, "coupon.verify", "coupon", c.ID, map[string]any{
			"member_id": c.MemberID, "order_amount_cents": amount, "discount_cents": d, "order_ref": in.OrderRef,
		}); err != nil {
			return err
		}
		c, err = s.st().findCouponByCode(ctx, code)
		if err != nil {
			return err
		}
		c.Template = &t
		out = Verification{Coupon: c, DiscountCents: d, PayableCents: amount - d}
		return nil
	})
	return out, err
}

// couponUsable explains why a coupon can't be used now, if it can't.
func couponUsable(c Coupon, now time.Time) error {
	switch {
	case c.Status == CouponUsed:
		return conflict(map[string]any{"coupon_status": CouponUsed, "used_at": c.UsedAt, "order_ref": c.OrderRef},
			"This coupon was already used.")
	case c.Status == CouponVoid:
		return conflict(map[string]any{"coupon_status": CouponVoid},
			"This coupon was voided (its redemption was cancelled).")
	case !now.Before(c.ValidUntil):
		return conflict(map[string]any{"coupon_status": CouponExpired, "valid_until": c.ValidUntil},
			"This coupon expired at %s.", c.ValidUntil.Format(time.RFC3339))
	case now.Before(c.ValidFrom):
		return conflict(map[string]any{"coupon_status": "not_yet_valid", "valid_from": c.ValidFrom},
			"This coupon is valid from %s.", c.ValidFrom.Format(time.RFC3339))
	}
	return nil
}
