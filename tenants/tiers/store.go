package tiers

import (
	"context"
	"slices"
	"time"

	"jifen/platform"
	"jifen/platform/storage"
)

// Store reads and writes the tier tables of the context's tenant.
type Store struct {
	DB *storage.DB
}

type tierRow struct {
	TenantID                string    `gorm:"column:tenant_id"`
	ID                      string    `gorm:"column:id"`
	Name                    string    `gorm:"column:name"`
	Rank                    int       `gorm:"column:tier_rank"`
	GrowthThreshold         int64     `gorm:"column:growth_threshold"`
	KeepThreshold           int64     `gorm:"column:keep_threshold"`
	Multiplier              int64     `gorm:"column:multiplier_permille"`
	BirthdayMultiplier      int64     `gorm:"column:birthday_multiplier_permille"`
	UpgradeCouponTemplateID string    `gorm:"column:upgrade_coupon_template_id"`
	FreeShipping            bool      `gorm:"column:free_shipping"`
	PriorityService         bool      `gorm:"column:priority_service"`
	Perks                   string    `gorm:"column:perks"`
	CreatedAt               time.Time `gorm:"column:created_at"`
	UpdatedAt               time.Time `gorm:"column:updated_at"`
}

func (tierRow) TableName() string { return "tiers" }

func (r tierRow) tier() Tier {
	return Tier{
		ID: r.ID, Name: r.Name, Rank: r.Rank, GrowthThreshold: r.GrowthThreshold, KeepThreshold: r.KeepThreshold,
		Multiplier: r.Multiplier,
		Benefits: Benefits{
			BirthdayMultiplier: r.BirthdayMultiplier, UpgradeCouponTemplateID: r.UpgradeCouponTemplateID, FreeShipping: r.FreeShipping,
			PriorityService: r.PriorityService, Perks: r.Perks,
		},
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func rowOf(tenantID string, t Tier) tierRow {
	return tierRow{
		TenantID: tenantID, ID: t.ID, Name: t.Name, Rank: t.Rank, GrowthThreshold: t.GrowthThreshold,
		KeepThreshold: t.KeepThreshold, Multiplier: t.Multiplier, BirthdayMultiplier: t.Benefits.BirthdayMultiplier,
		UpgradeCouponTemplateID: t.Benefits.UpgradeCouponTemplateID, FreeShipping: t.Benefits.FreeShipping,
		PriorityService: t.Benefits.PriorityService, Perks: t.Benefits.Perks,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
}

// ladderKey and settingsKey name the tenant's ladder and tier settings in
// the transaction's cache (storage.TxCache).
type (
	ladderKey   struct{ tenantID string }
	settingsKey struct{ tenantID string }
)

// cachedSettings is the settings row as the transaction's cache keeps it;
// found is false for the defaults of a tenant without a row.
type cachedSettings struct {
	row   settingsRow
	found bool
}

// forgetLadder drops the cached ladder, for a write of the tiers table and
// for LockSettings.
func forgetLadder(ctx context.Context) {
	storage.TxCache(ctx).Delete(ladderKey{platform.TenantID(ctx)})
}

// FindLadder returns the tenant's tiers, lowest rank first. Inside a
// transaction the ladder is read once: every credit with growth asks for
// it (GrowthChanged), and so does every event's multiplier. Every change
// of the ladder takes the settings lock first (LockSettings) and goes
// through CreateTier, UpdateTier or DeleteTier, which forget the cached
// ladder, as LockSettings does; so a transaction that changes the ladder
// reads it afresh under the lock, and a transaction that only reads it
// sees one ladder throughout, as it was at its first read.
func (s *Store) FindLadder(ctx context.Context) (Ladder, error) {
	cache, key := storage.TxCache(ctx), ladderKey{platform.TenantID(ctx)}
	if v, ok := cache.Get(key); ok {
		// A copy, so that what a caller fills in (exclusive items) stays
		// out of the cache.
		return slices.Clone(v.(Ladder)), nil
	}
	var rows []tierRow
	if err := s.DB.Scoped(ctx).Order("tier_rank").Find(&rows).Error; err != nil {
		return nil, storage.Translate(err, "tier")
	}
	out := make(Ladder, len(rows))
	for i, r := range rows {
		out[i] = r.tier()
	}
	cache.Set(key, slices.Clone(out))
	return out, nil
}

// FindTierByID returns the tier; not_found when it is not in the tenant.
func (s *Store) FindTierByID(ctx context.Context, id string) (Tier, error) {
	var r tierRow
	err := s.DB.Scoped(ctx).Where("id = ?", id).Take(&r).Error
	return r.tier(), storage.Translate(err, "tier")
}

// CreateTier inserts t; conflict when its rank or name is taken.
func (s *Store) CreateTier(ctx context.Context, t Tier) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		forgetLadder(ctx)
		r := rowOf(platform.TenantID(ctx), t)
		return storage.Translate(s.DB.Conn(ctx).Create(&r).Error, "tier")
	})
}

// UpdateTier writes every field of t.
func (s *Store) UpdateTier(ctx context.Context, t Tier) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		forgetLadder(ctx)
		r := rowOf(platform.TenantID(ctx), t)
		res := s.DB.Scoped(ctx).Model(&tierRow{}).Where("id = ?", t.ID).Updates(map[string]any{
			"name": r.Name, "tier_rank": r.Rank, "growth_threshold": r.GrowthThreshold, "keep_threshold": r.KeepThreshold,
			"multiplier_permille": r.Multiplier, "birthday_multiplier_permille": r.BirthdayMultiplier,
			"upgrade_coupon_template_id": r.UpgradeCouponTemplateID, "free_shipping": r.FreeShipping,
			"priority_service": r.PriorityService, "perks": r.Perks, "updated_at": r.UpdatedAt,
		})
		if res.Error != nil {
			return storage.Translate(res.Error, "tier")
		}
		if res.RowsAffected == 0 {
			return storage.Translate(storage.ErrNotFound, "tier")
		}
		return nil
	})
}

// DeleteTier removes the tier and forgets the expired overrides that still
// name it.
func (s *Store) DeleteTier(ctx context.Context, id string) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		forgetLadder(ctx)
		res := s.DB.Scoped(ctx).Where("id = ?", id).Delete(&tierRow{})
		if res.Error != nil {
			return storage.Translate(res.Error, "tier")
		}
		if res.RowsAffected == 0 {
			return storage.Translate(storage.ErrNotFound, "tier")
		}
		err := s.DB.Scoped(ctx).Model(&memberTierRow{}).Where("override_tier_id = ?", id).
			Updates(map[string]any{"override_tier_id": "", "override_until": nil, "override_reason": ""}).Error
		return storage.Translate(err, "member tier")
	})
}

// CountHolders counts the members whose earned tier is the tier or whose
// override naming it is still in force at now.
func (s *Store) CountHolders(ctx context.Context, tierID string, now time.Time) (int64, error) {
	var n int64
	err := s.DB.Scoped(ctx).Model(&memberTierRow{}).
		Where("tier_id = ? OR (override_tier_id = ? AND override_until > ?)", tierID, tierID, now).Count(&n).Error
	return n, storage.Translate(err, "member tier")
}

type settingsRow struct {
	TenantID         string     `gorm:"column:tenant_id"`
	Basis            string     `gorm:"column:basis"`
	WindowMonths     int        `gorm:"column:window_months"`
	EvaluationPeriod string     `gorm:"column:evaluation_period"`
	GraceDays        int        `gorm:"column:grace_days"`
	EvaluatedThrough *time.Time `gorm:"column:evaluated_through"`
	CreatedAt        time.Time  `gorm:"column:created_at"`
	UpdatedAt        time.Time  `gorm:"column:updated_at"`
}

func (settingsRow) TableName() string { return "tier_settings" }

// defaultSettings are a tenant's settings until it changes them.
func defaultSettings() settingsRow {
	return settingsRow{Basis: BasisLifetime, WindowMonths: 12, EvaluationPeriod: PeriodMonthly, GraceDays: 30}
}

// FindSettings returns the tenant's settings, or the defaults with found
// false when it has none yet.
//
// Inside a transaction the settings are read once, like the ladder (see
// FindLadder): LockSettings puts the row it locked in the transaction's
// cache and SaveSettings forgets it, so a transaction that changes the
// settings reads what it wrote.
func (s *Store) FindSettings(ctx context.Context) (row settingsRow, found bool, err error) {
	cache, key := storage.TxCache(ctx), settingsKey{platform.TenantID(ctx)}
	if v, ok := cache.Get(key); ok {
		c := v.(cachedSettings)
		return c.row, c.found, nil
	}
	var rows []settingsRow
	if err := s.DB.Scoped(ctx).Limit(1).Find(&rows).Error; err != nil {
		return settingsRow{}, false, storage.Translate(err, "tier settings")
	}
	c := cachedSettings{row: defaultSettings()}
	if len(rows) == 1 {
		c = cachedSettings{row: rows[0], found: true}
	}
	cache.Set(key, c)
	return c.row, c.found, nil
}

// LockSettings returns the tenant's settings row, creating it from init
// when absent, and holds its lock until the transaction ends. Every change
// of the ladder or the settings, and every evaluation's bookkeeping, takes
// this lock first, so they queue per tenant. Once it holds the lock, the
// transaction's cache keeps the row it locked and forgets the ladder, so
// that what the transaction reads next is what nobody else can now change.
func (s *Store) LockSettings(ctx context.Context, init settingsRow) (settingsRow, error) {
	var out settingsRow
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		forgetLadder(ctx)
		var rows []settingsRow
		if err := s.DB.ForUpdate(s.DB.Scoped(ctx).Limit(1)).Find(&rows).Error; err != nil {
			return storage.Translate(err, "tier settings")
		}
		if len(rows) == 1 {
			out = rows[0]
		} else {
			init.TenantID = platform.TenantID(ctx)
			err := s.DB.Conn(ctx).Create(&init).Error
			if err != nil && !storage.IsUniqueViolation(err) {
				return storage.Translate(err, "tier settings")
			}
			// A concurrent first writer may have won the insert; read its
			// row under the lock.
			if err := s.DB.ForUpdate(s.DB.Scoped(ctx)).Take(&out).Error; err != nil {
				return storage.Translate(err, "tier settings")
			}
		}
		storage.TxCache(ctx).Set(settingsKey{platform.TenantID(ctx)}, cachedSettings{row: out, found: true})
		return nil
	})
	return out, err
}

// SaveSettings writes the settings row locked by LockSettings, and forgets
// the cached settings so the transaction's next read is of what it wrote.
func (s *Store) SaveSettings(ctx context.Context, r settingsRow) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		storage.TxCache(ctx).Delete(settingsKey{platform.TenantID(ctx)})
		err := s.DB.Scoped(ctx).Model(&settingsRow{}).Updates(map[string]any{
			"basis": r.Basis, "window_months": r.WindowMonths, "evaluation_period": r.EvaluationPeriod,
			"grace_days": r.GraceDays, "evaluated_through": r.EvaluatedThrough, "updated_at": r.UpdatedAt,
		}).Error
		return storage.Translate(err, "tier settings")
	})
}

type memberTierRow struct {
	TenantID       string     `gorm:"column:tenant_id"`
	MemberID       string     `gorm:"column:member_id"`
	TierID         string     `gorm:"column:tier_id"`
	TierSince      *time.Time `gorm:"column:tier_since"`
	AtRiskSince    *time.Time `gorm:"column:at_risk_since"`
	DowngradeAt    *time.Time `gorm:"column:downgrade_at"`
	OverrideTierID string     `gorm:"column:override_tier_id"`
	OverrideUntil  *time.Time `gorm:"column:override_until"`
	OverrideReason string     `gorm:"column:override_reason"`
	UpdatedAt      time.Time  `gorm:"column:updated_at"`
	// stored says whether the row exists in the database.
	stored bool `gorm:"-"`
}

func (memberTierRow) TableName() string { return "member_tiers" }

// overrideAt returns the override tier id when an override is in force at
// t, else "".
func (r memberTierRow) overrideAt(t time.Time) string {
	if r.OverrideTierID != "" && r.OverrideUntil != nil && r.OverrideUntil.After(t) {
		return r.OverrideTierID
	}
	return ""
}

// FindMemberTier returns the member's tier state; a member the tier tables
// don't know yet gets an empty state.
func (s *Store) FindMemberTier(ctx context.Context, memberID string) (memberTierRow, error) {
	var rows []memberTierRow
	if err := s.DB.Scoped(ctx).Where("member_id = ?", memberID).Limit(1).Find(&rows).Error; err != nil {
		return memberTierRow{}, storage.Translate(err, "member tier")
	}
	if len(rows) == 0 {
		return memberTierRow{TenantID: platform.TenantID(ctx), MemberID: memberID}, nil
	}
	rows[0].stored = true
	return rows[0], nil
}

// FindMemberTiers returns the stored tier states of the members, by id.
func (s *Store) FindMemberTiers(ctx context.Context, memberIDs []string) (map[string]memberTierRow, error) {
	var rows []memberTierRow
	if err := s.DB.Scoped(ctx).Where("member_id IN ?", memberIDs).Find(&rows).Error; err != nil {
		return nil, storage.Translate(err, "member tier")
	}
	out := make(map[string]memberTierRow, len(rows))
	for _, r := range rows {
		r.stored = true
		out[r.MemberID] = r
	}
	return out, nil
}

// SaveMemberTier writes the member's tier state. The caller holds the
// member's lock, so no one else inserts the same row meanwhile.
func (s *Store) SaveMemberTier(ctx context.Context, r *memberTierRow) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		r.TenantID = platform.TenantID(ctx)
		if !r.stored {
			if err := s.DB.Conn(ctx).Create(r).Error; err != nil {
				return storage.Translate(err, "member tier")
			}
			r.stored = true
			return nil
		}
		err := s.DB.Scoped(ctx).Model(&memberTierRow{}).Where("member_id = ?", r.MemberID).Updates(map[string]any{
			"tier_id": r.TierID, "tier_since": r.TierSince, "at_risk_since": r.AtRiskSince,
			"downgrade_at":     r.DowngradeAt,
			"override_tier_id": r.OverrideTierID, "override_until": r.OverrideUntil,
			"override_reason": r.OverrideReason, "updated_at": r.UpdatedAt,
		}).Error
		return storage.Translate(err, "member tier")
	})
}

type historyRow struct {
	TenantID     string     `gorm:"column:tenant_id"`
	ID           string     `gorm:"column:id"`
	MemberID     string     `gorm:"column:member_id"`
	Kind         string     `gorm:"column:kind"`
	FromTierID   string     `gorm:"column:from_tier_id"`
	FromTierName string     `gorm:"column:from_tier_name"`
	ToTierID     string     `gorm:"column:to_tier_id"`
	ToTierName   string     `gorm:"column:to_tier_name"`
	Growth       int64      `gorm:"column:growth"`
	Reason       string     `gorm:"column:reason"`
	UntilAt      *time.Time `gorm:"column:until_at"`
	CreatedAt    time.Time  `gorm:"column:created_at"`
}

func (historyRow) TableName() string { return "tier_history" }

func refOf(id, name string) *TierRef {
	if id == "" {
		return nil
	}
	return &TierRef{ID: id, Name: name}
}

func (r historyRow) entry() HistoryEntry {
	e := HistoryEntry{
		ID: r.ID, MemberID: r.MemberID, Kind: r.Kind, From: refOf(r.FromTierID, r.FromTierName),
		To: refOf(r.ToTierID, r.ToTierName), Growth: r.Growth, Reason: r.Reason, CreatedAt: r.CreatedAt.UTC(),
	}
	if r.UntilAt != nil {
		u := r.UntilAt.UTC()
		e.Until = &u
	}
	return e
}

// AddHistory appends an entry to the member's tier history.
func (s *Store) AddHistory(ctx context.Context, e HistoryEntry) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		r := historyRow{
			TenantID: platform.TenantID(ctx), ID: e.ID, MemberID: e.MemberID, Kind: e.Kind,
			Growth: e.Growth, Reason: e.Reason, UntilAt: e.Until, CreatedAt: e.CreatedAt,
		}
		if e.From != nil {
			r.FromTierID, r.FromTierName = e.From.ID, e.From.Name
		}
		if e.To != nil {
			r.ToTierID, r.ToTierName = e.To.ID, e.To.Name
		}
		return storage.Translate(s.DB.Conn(ctx).Create(&r).Error, "tier history entry")
	})
}

// LastHistoryID returns the id of the member's latest history entry, ""
// when there is none.
func (s *Store) LastHistoryID(ctx context.Context, memberID string) (string, error) {
	var rows []historyRow
	err := s.DB.Scoped(ctx).Select("id").Where("member_id = ?", memberID).Order("id DESC").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return "", storage.Translate(err, "tier history entry")
	}
	return rows[0].ID, nil
}

// FindHistory lists the member's tier history, newest first, one page at a
// time.
func (s *Store) FindHistory(ctx context.Context, memberID string, limit int, cur string) ([]HistoryEntry, string, error) {
	q := s.DB.Scoped(ctx).Where("member_id = ?", memberID)
	rows, next, err := storage.FindPage[historyRow](q, limit, cur, true)
	if err != nil {
		return nil, "", storage.Translate(err, "tier history entry")
	}
	out := make([]HistoryEntry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, next, nil
}
