package tiers

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	// Tenants' zones (Asia/Shanghai) must resolve even in a minimal image:
	// evaluation boundaries and birthdays depend on them.
	_ "time/tzdata"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/tenants/members"
)

// Service holds the rules of the tier ladder.
type Service struct {
	Store   *Store
	Members *members.Store
	// Growth reads members' growth; main wires the ledger.
	Growth GrowthReader
	Clock  platform.Clock
	Audit  *audit.Log
	// Coupons issues upgrade coupons; nil issues none. When it also
	// implements CouponTemplateChecker, a tier may only name a coupon
	// template the tenant has and can issue.
	Coupons CouponIssuer
	// Items reads the mall items each tier unlocks, shown as
	// benefits.exclusive_items; nil shows none.
	Items ExclusiveItemLister
}

// Limits of the ladder's fields.
const (
	maxTiers         = 20
	maxRank          = 100
	maxNameLen       = 50 // characters
	maxMultiplier    = 10000
	maxTemplateIDLen = 64   // bytes
	maxPerksLen      = 1000 // characters
	maxReasonLen     = 200  // characters
	maxWindowMonths  = 36
	maxGraceDays     = 365
	maxOverrideYears = 10
)

func (s *Service) record(ctx context.Context, action, targetType, targetID string, details map[string]any) error {
	if s.Audit == nil {
		return nil
	}
	return s.Audit.Record(ctx, action, targetType, targetID, details)
}

func location(ctx context.Context) *time.Location {
	t, _ := platform.TenantFrom(ctx)
	return t.Location()
}

// newSettings is the settings row a tenant starts with: the defaults, with
// the current period counted as evaluated, so the first evaluation happens
// at the first boundary after the ladder exists and never mid-period.
func newSettings(ctx context.Context, now time.Time) settingsRow {
	r := defaultSettings()
	st := schedule{r.EvaluationPeriod, location(ctx)}.start(now)
	r.EvaluatedThrough, r.CreatedAt, r.UpdatedAt = &st, now, now
	return r
}

// Tiers returns the tenant's ladder, lowest rank first, each tier with the
// mall items it unlocks.
func (s *Service) Tiers(ctx context.Context) ([]Tier, error) {
	ladder, err := s.Store.FindLadder(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.fillExclusiveItems(ctx, ladder, ladder); err != nil {
		return nil, err
	}
	return ladder, nil
}

// Tier returns a tier with the mall items it unlocks; not_found when it is
// not in the tenant.
func (s *Service) Tier(ctx context.Context, id string) (Tier, error) {
	ladder, err := s.Store.FindLadder(ctx)
	if err != nil {
		return Tier{}, err
	}
	t := ladder.byID(id)
	if t == nil {
		return Tier{}, platform.NotFound("tier")
	}
	out := []Tier{*t}
	if err := s.fillExclusiveItems(ctx, ladder, out); err != nil {
		return Tier{}, err
	}
	return out[0], nil
}

// CreateTier validates in and adds a tier to the ladder, returning it with
// the mall items it unlocks. It returns validation_failed for bad fields,
// an upgrade coupon template the tenant can't issue or a threshold out of
// order with the rank, and conflict when the rank or name is taken or the
// ladder is full.
func (s *Service) CreateTier(ctx context.Context, in TierInput) (Tier, error) {
	fe := platform.FieldErrors{}
	if in.Name == nil {
		fe.Add("name", "is required")
	}
	if in.Rank == nil {
		fe.Add("rank", "is required: an integer from 1 to 100, higher is better")
	}
	if in.GrowthThreshold == nil {
		fe.Add("growth_threshold", "is required: the growth that reaches the tier")
	}
	now := s.Clock.Now()
	t := Tier{ID: ids.NewAt(now), Multiplier: BasePermille, CreatedAt: now, UpdatedAt: now}
	if in.GrowthThreshold != nil && in.KeepThreshold == nil {
		k := *in.GrowthThreshold
		in.KeepThreshold = &k
	}
	apply(&t, in)
	for field, problem := range checkFields(t) {
		fe.Add(field, problem)
	}
	if err := s.checkCouponTemplate(ctx, t, in, fe); err != nil {
		return Tier{}, err
	}
	if err := fe.Err(); err != nil {
		return Tier{}, err
	}
	var out Tier
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		if _, err := s.Store.LockSettings(ctx, newSettings(ctx, now)); err != nil {
			return err
		}
		ladder, err := s.Store.FindLadder(ctx)
		if err != nil {
			return err
		}
		if err := checkLadder(ladder, t, in); err != nil {
			return err
		}
		if len(ladder) >= maxTiers {
			return platform.Errorf(platform.EConflict, "A ladder has at most %d tiers; change or delete one instead.", maxTiers)
		}
		if err := s.Store.CreateTier(ctx, t); err != nil {
			return err
		}
		if err := s.record(ctx, "tier.create", "tier", t.ID, map[string]any{"tier": t}); err != nil {
			return err
		}
		out, err = s.Tier(ctx, t.ID)
		return err
	})
	return out, err
}

// UpdateTier changes the fields present in in, with CreateTier's checks
// (an upgrade coupon template is checked only when in names one), and
// returns the tier with the mall items it now unlocks; not_found when the
// tier is not in the tenant.
func (s *Service) UpdateTier(ctx context.Context, id string, in TierInput) (Tier, error) {
	var out Tier
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.Clock.Now()
		if _, err := s.Store.LockSettings(ctx, newSettings(ctx, now)); err != nil {
			return err
		}
		ladder, err := s.Store.FindLadder(ctx)
		if err != nil {
			return err
		}
		cur := ladder.byID(id)
		if cur == nil {
			return platform.NotFound("tier")
		}
		t := *cur
		apply(&t, in)
		t.UpdatedAt = now
		fe := checkFields(t)
		if err := s.checkCouponTemplate(ctx, t, in, fe); err != nil {
			return err
		}
		if err := fe.Err(); err != nil {
			return err
		}
		if err := checkLadder(ladder, t, in); err != nil {
			return err
		}
		if err := s.Store.UpdateTier(ctx, t); err != nil {
			return err
		}
		if err := s.record(ctx, "tier.update", "tier", t.ID, map[string]any{"before": *cur, "after": t}); err != nil {
			return err
		}
		out, err = s.Tier(ctx, id)
		return err
	})
	return out, err
}

// DeleteTier removes a tier from the ladder. It returns not_found when the
// tier is not in the tenant and conflict while members hold it (earned, or
// by an override still in force).
func (s *Service) DeleteTier(ctx context.Context, id string) error {
	return s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.Clock.Now()
		if _, err := s.Store.LockSettings(ctx, newSettings(ctx, now)); err != nil {
			return err
		}
		t, err := s.Store.FindTierByID(ctx, id)
		if err != nil {
			return err
		}
		n, err := s.Store.CountHolders(ctx, id, now)
		if err != nil {
			return err
		}
		if n > 0 {
			return (&platform.Error{Code: platform.EConflict,
				Message: fmt.Sprintf("%d members hold the tier %s; it can't be deleted while anyone holds it.", n, t.Name)}).
				WithDetails(map[string]any{"members": n})
		}
		if err := s.Store.DeleteTier(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, "tier.delete", "tier", id, map[string]any{"tier": t})
	})
}

// apply copies the fields present in in onto t, trimming text.
func apply(t *Tier, in TierInput) {
	if in.Name != nil {
		t.Name = strings.TrimSpace(*in.Name)
	}
	if in.Rank != nil {
		t.Rank = *in.Rank
	}
	if in.GrowthThreshold != nil {
		t.GrowthThreshold = *in.GrowthThreshold
	}
	if in.KeepThreshold != nil {
		t.KeepThreshold = *in.KeepThreshold
	}
	if in.Multiplier != nil {
		t.Multiplier = *in.Multiplier
	}
	b := in.Benefits
	if b == nil {
		return
	}
	if b.BirthdayMultiplier != nil {
		t.Benefits.BirthdayMultiplier = *b.BirthdayMultiplier
	}
	if b.UpgradeCouponTemplateID != nil {
		t.Benefits.UpgradeCouponTemplateID = strings.TrimSpace(*b.UpgradeCouponTemplateID)
	}
	if b.FreeShipping != nil {
		t.Benefits.FreeShipping = *b.FreeShipping
	}
	if b.PriorityService != nil {
		t.Benefits.PriorityService = *b.PriorityService
	}
	if b.Perks != nil {
		t.Benefits.Perks = strings.TrimSpace(*b.Perks)
	}
}

func printableID(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkFields validates the fields of t as it would be after a change.
func checkFields(t Tier) platform.FieldErrors {
	fe := platform.FieldErrors{}
	if n := utf8.RuneCountInString(t.Name); n == 0 || n > maxNameLen {
		fe.Add("name", fmt.Sprintf("must be 1 to %d characters", maxNameLen))
	}
	if t.Rank < 1 || t.Rank > maxRank {
		fe.Add("rank", fmt.Sprintf("must be an integer from 1 to %d; higher is better", maxRank))
	}
	if t.GrowthThreshold < 0 {
		fe.Add("growth_threshold", "must not be negative")
	}
	if t.KeepThreshold < 0 || t.KeepThreshold > t.GrowthThreshold {
		fe.Add("keep_threshold", fmt.Sprintf("must be from 0 to the growth threshold (%d)", t.GrowthThreshold))
	}
	if t.Multiplier < BasePermille || t.Multiplier > maxMultiplier {
		fe.Add("multiplier_permille", fmt.Sprintf("must be from %d (1x) to %d (10x)", BasePermille, maxMultiplier))
	}
	b := t.Benefits
	if b.BirthdayMultiplier != 0 && (b.BirthdayMultiplier < BasePermille || b.BirthdayMultiplier > maxMultiplier) {
		fe.Add("benefits.birthday_multiplier_permille", fmt.Sprintf("must be 0 (none) or from %d (1x) to %d (10x)", BasePermille, maxMultiplier))
	}
	if c := b.UpgradeCouponTemplateID; c != "" && !printableID(c, maxTemplateIDLen) {
		fe.Add(fieldUpgradeCoupon, fmt.Sprintf("must be empty or a coupon template id of 1 to %d printable characters", maxTemplateIDLen))
	}
	if utf8.RuneCountInString(b.Perks) > maxPerksLen {
		fe.Add("benefits.perks", fmt.Sprintf("must be at most %d characters", maxPerksLen))
	}
	return fe
}

// fieldUpgradeCoupon names the upgrade coupon's field in validation errors.
const fieldUpgradeCoupon = "benefits.upgrade_coupon_template_id"

// checkCouponTemplate adds to fe when in sets t's upgrade coupon to a
// template the tenant can't issue: one it doesn't have (another tenant's
// included) or an inactive one. Only a template the request names is
// checked, so a tier whose template was switched off later can still be
// changed in other ways. Errors other than not_found and conflict are
// returned.
func (s *Service) checkCouponTemplate(ctx context.Context, t Tier, in TierInput, fe platform.FieldErrors) error {
	tpl := t.Benefits.UpgradeCouponTemplateID
	if in.Benefits == nil || in.Benefits.UpgradeCouponTemplateID == nil || tpl == "" || fe[fieldUpgradeCoupon] != "" {
		return nil
	}
	checker, ok := s.Coupons.(CouponTemplateChecker)
	if !ok {
		return nil
	}
	switch err := checker.CouponTemplateUsable(ctx, tpl); platform.ErrorCode(err) {
	case "":
		return nil
	case platform.ENotFound, platform.EConflict:
		fe.Add(fieldUpgradeCoupon, "no active coupon template with this id in the tenant")
		return nil
	default:
		return err
	}
}

// checkLadder checks t, as it would be after the change in, against the
// rest of the ladder: a free rank and name, and a growth threshold between
// its neighbours'.
func checkLadder(ladder Ladder, t Tier, in TierInput) error {
	var below, above *Tier
	for i := range ladder {
		o := &ladder[i]
		if o.ID == t.ID {
			continue
		}
		if o.Rank == t.Rank {
			return (&platform.Error{Code: platform.EConflict, Message: fmt.Sprintf("The rank %d is taken by the tier %s.", t.Rank, o.Name)}).
				WithDetails(map[string]any{"rank": "is taken by " + o.Name})
		}
		if o.Name == t.Name {
			return (&platform.Error{Code: platform.EConflict, Message: "A tier with this name already exists."}).
				WithDetails(map[string]any{"name": "is taken"})
		}
		if o.Rank < t.Rank && (below == nil || o.Rank > below.Rank) {
			below = o
		}
		if o.Rank > t.Rank && (above == nil || o.Rank < above.Rank) {
			above = o
		}
	}
	if (below == nil || t.GrowthThreshold > below.GrowthThreshold) && (above == nil || t.GrowthThreshold < above.GrowthThreshold) {
		return nil
	}
	// Name the field the client changed: the threshold, unless only the
	// rank moved.
	field := "growth_threshold"
	if in.GrowthThreshold == nil && in.Rank != nil {
		field = "rank"
	}
	var parts []string
	if below != nil {
		parts = append(parts, fmt.Sprintf("greater than %d (%s, rank %d)", below.GrowthThreshold, below.Name, below.Rank))
	}
	if above != nil {
		parts = append(parts, fmt.Sprintf("less than %d (%s, rank %d)", above.GrowthThreshold, above.Name, above.Rank))
	}
	return platform.FieldErrors{field: "growth thresholds must rise strictly with the rank: the growth threshold must be " +
		strings.Join(parts, " and ")}.Err()
}

// Settings returns the tenant's tier settings (the defaults until changed).
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	r, _, err := s.Store.FindSettings(ctx)
	if err != nil {
		return Settings{}, err
	}
	return settingsOf(ctx, r, s.Clock.Now()), nil
}

func settingsOf(ctx context.Context, r settingsRow, now time.Time) Settings {
	out := Settings{Basis: r.Basis, WindowMonths: r.WindowMonths, EvaluationPeriod: r.EvaluationPeriod, GraceDays: r.GraceDays}
	if r.EvaluatedThrough != nil {
		et := r.EvaluatedThrough.UTC()
		out.EvaluatedThrough = &et
	}
	out.NextEvaluationAt = schedule{r.EvaluationPeriod, location(ctx)}.nextEvaluation(r.EvaluatedThrough, now)
	return out
}

// UpdateSettings changes the fields present in in; validation_failed names
// each bad field.
func (s *Service) UpdateSettings(ctx context.Context, in SettingsInput) (Settings, error) {
	fe := platform.FieldErrors{}
	if in.Basis != nil && *in.Basis != BasisLifetime && *in.Basis != BasisRolling {
		fe.Add("basis", "must be lifetime or rolling")
	}
	if in.WindowMonths != nil && (*in.WindowMonths < 1 || *in.WindowMonths > maxWindowMonths) {
		fe.Add("window_months", fmt.Sprintf("must be from 1 to %d", maxWindowMonths))
	}
	if p := in.EvaluationPeriod; p != nil && *p != PeriodMonthly && *p != PeriodQuarterly && *p != PeriodYearly {
		fe.Add("evaluation_period", "must be monthly, quarterly or yearly")
	}
	if in.GraceDays != nil && (*in.GraceDays < 0 || *in.GraceDays > maxGraceDays) {
		fe.Add("grace_days", fmt.Sprintf("must be from 0 to %d", maxGraceDays))
	}
	if err := fe.Err(); err != nil {
		return Settings{}, err
	}
	var out Settings
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.Clock.Now()
		r, err := s.Store.LockSettings(ctx, newSettings(ctx, now))
		if err != nil {
			return err
		}
		before := settingsOf(ctx, r, now)
		if in.Basis != nil {
			r.Basis = *in.Basis
		}
		if in.WindowMonths != nil {
			r.WindowMonths = *in.WindowMonths
		}
		if in.EvaluationPeriod != nil {
			r.EvaluationPeriod = *in.EvaluationPeriod
		}
		if in.GraceDays != nil {
			r.GraceDays = *in.GraceDays
		}
		r.UpdatedAt = now
		if err := s.Store.SaveSettings(ctx, r); err != nil {
			return err
		}
		out = settingsOf(ctx, r, now)
		return s.record(ctx, "tier.settings", "tier_settings", platform.TenantID(ctx), map[string]any{"before": before, "after": out})
	})
	return out, err
}

// truncate cuts s to at most n characters, for reasons built from names.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
