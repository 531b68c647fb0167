// Package tenancy runs the tenants of the platform: creation with a first
// owner, suspension, settings, and staff with their roles.
package tenancy

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/auth"
	"jifen/platform/storage"
)

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Refund policies (see docs/ledger.md).
var refundPolicies = []string{"pending_only", "to_zero", "allow_negative"}

// Tenant is a merchant on the platform with its settings.
type Tenant struct {
	ID                  string    `json:"id" gorm:"column:id"`
	Name                string    `json:"name" gorm:"column:name"`
	Status              string    `json:"status" gorm:"column:status"`
	TimeZone            string    `json:"time_zone" gorm:"column:time_zone"`
	Currency            string    `json:"currency" gorm:"column:currency"`
	PointsExpiryMonths  int       `json:"points_expiry_months" gorm:"column:points_expiry_months"`
	PointsPerUnit       int       `json:"points_per_unit" gorm:"column:points_per_unit"`
	MaxDeductionPercent int       `json:"max_deduction_percent" gorm:"column:max_deduction_percent"`
	PointsPendingDays   int       `json:"points_pending_days" gorm:"column:points_pending_days"`
	RefundPolicy        string    `json:"refund_policy" gorm:"column:refund_policy"`
	TransfersEnabled    bool      `json:"transfers_enabled" gorm:"column:transfers_enabled"`
	TransferDailyCap    int64     `json:"transfer_daily_cap" gorm:"column:transfer_daily_cap"`
	HoldMinutes         int       `json:"hold_minutes" gorm:"column:hold_minutes"`
	CreatedAt           time.Time `json:"created_at" gorm:"column:created_at"`
	UpdatedAt           time.Time `json:"updated_at" gorm:"column:updated_at"`
}

// TableName is the tenants table.
func (Tenant) TableName() string { return "tenants" }

// Staff is a user's membership of a tenant.
type Staff struct {
	TenantID  string    `json:"-" gorm:"column:tenant_id"`
	UserID    string    `json:"id" gorm:"column:user_id"`
	Email     string    `json:"email" gorm:"->;column:email"`
	Role      string    `json:"role" gorm:"column:role"`
	CreatedAt time.Time `json:"created_at" gorm:"column:created_at"`
	UpdatedAt time.Time `json:"-" gorm:"column:updated_at"`
}

// TableName is the staff table.
func (Staff) TableName() string { return "tenant_staff" }

// Service runs tenants and staff.
type Service struct {
	DB    *storage.DB
	Clock platform.Clock
	Auth  *auth.Service
	Audit *audit.Log
}

// LoadTenant implements httpx.TenantLoader.
func (s *Service) LoadTenant(ctx context.Context, id string) (platform.Tenant, error) {
	var t Tenant
	if err := s.DB.Conn(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return platform.Tenant{}, storage.Translate(err, "tenant")
	}
	return platform.Tenant{ID: t.ID, Name: t.Name, Status: t.Status, TimeZone: t.TimeZone}, nil
}

// OwnerInput names the first owner of a new tenant.
type OwnerInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// CreateInput is the body of tenant creation.
type CreateInput struct {
	Name     string     `json:"name"`
	TimeZone string     `json:"time_zone"`
	Currency string     `json:"currency"`
	Owner    OwnerInput `json:"owner"`
}

// CreateTenant creates an active tenant and its first owner. An owner email
// that belongs to an existing user is accepted only with that user's
// password, so nobody can attach another person's account.
func (s *Service) CreateTenant(ctx context.Context, in CreateInput) (Tenant, error) {
	fe := platform.FieldErrors{}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 200 {
		fe.Add("name", "is required, at most 200 characters")
	}
	if in.TimeZone == "" {
		in.TimeZone = "Asia/Shanghai"
	}
	if _, err := time.LoadLocation(in.TimeZone); err != nil || in.TimeZone == "Local" {
		fe.Add("time_zone", "must be an IANA time zone such as Asia/Shanghai")
	}
	if in.Currency == "" {
		in.Currency = "CNY"
	}
	if !validCurrency(in.Currency) {
		fe.Add("currency", "must be a three-letter ISO 4217 code such as CNY")
	}
	in.Owner.Email = auth.NormalizeEmail(in.Owner.Email)
	auth.ValidateCredentials(fe, "owner.", in.Owner.Email, in.Owner.Password)
	if err := fe.Err(); err != nil {
		return Tenant{}, err
	}
	now := s.Clock.Now()
	t := Tenant{ID: ids.NewAt(now), Name: in.Name, Status: StatusActive, TimeZone: in.TimeZone, Currency: in.Currency,
		PointsExpiryMonths: 12, PointsPerUnit: 100, MaxDeductionPercent: 50, RefundPolicy: "to_zero", HoldMinutes: 15,
		CreatedAt: now, UpdatedAt: now}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		owner, err := s.Auth.FindUserByEmail(ctx, in.Owner.Email)
		switch {
		case err == nil:
			if bcrypt.CompareHashAndPassword([]byte(owner.PasswordHash), []byte(in.Owner.Password)) != nil {
				return (&platform.Error{Code: platform.EConflict, Message: "A user with this email exists; give that user's password to make them the owner, or use another email."}).
					WithDetails(map[string]any{"owner.email": "is taken"})
			}
		case platform.IsCode(err, platform.ENotFound):
			if owner, err = s.Auth.CreateUser(ctx, in.Owner.Email, in.Owner.Password, false); err != nil {
				return err
			}
		default:
			return err
		}
		if err := s.DB.Conn(ctx).Create(&t).Error; err != nil {
			return err
		}
		tctx := platform.WithTenant(ctx, platform.Tenant{ID: t.ID})
		if err := s.addStaff(tctx, owner.ID, platform.RoleOwner); err != nil {
			return err
		}
		return s.Audit.Record(ctx, "tenant.create", "tenant", t.ID, map[string]any{"name": t.Name, "owner": owner.ID})
	})
	return t, err
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// FindTenants lists tenants by id, one page at a time, optionally by status.
func (s *Service) FindTenants(ctx context.Context, status string, limit int, cur string) ([]Tenant, string, error) {
	q := s.DB.Conn(ctx).Model(&Tenant{})
	if status != "" {
		if status != StatusActive && status != StatusSuspended {
			return nil, "", platform.FieldErrors{"status": "must be active or suspended"}.Err()
		}
		q = q.Where("status = ?", status)
	}
	return storage.FindPage[Tenant](q, limit, cur, false)
}

// GetTenant returns a tenant by id; not_found when absent.
func (s *Service) GetTenant(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	err := s.DB.Conn(ctx).Where("id = ?", id).Take(&t).Error
	return t, storage.Translate(err, "tenant")
}

// SetStatus suspends or reactivates a tenant.
func (s *Service) SetStatus(ctx context.Context, id, status string) (Tenant, error) {
	var t Tenant
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		if err := s.DB.ForUpdate(s.DB.Conn(ctx).Where("id = ?", id)).Take(&t).Error; err != nil {
			return storage.Translate(err, "tenant")
		}
		if t.Status == status {
			return nil
		}
		t.Status, t.UpdatedAt = status, s.Clock.Now()
		if err := s.DB.Conn(ctx).Model(&Tenant{}).Where("id = ?", id).Updates(map[string]any{"status": status, "updated_at": t.UpdatedAt}).Error; err != nil {
			return err
		}
		return s.Audit.Record(ctx, "tenant."+status, "tenant", id, nil)
	})
	return t, err
}

// Settings returns the tenant's settings.
func (s *Service) Settings(ctx context.Context) (Tenant, error) {
	return s.GetTenant(ctx, platform.TenantID(ctx))
}

// SettingsInput changes settings; nil fields stay as they are.
type SettingsInput struct {
	Name                *string `json:"name"`
	TimeZone            *string `json:"time_zone"`
	Currency            *string `json:"currency"`
	PointsExpiryMonths  *int    `json:"points_expiry_months"`
	PointsPerUnit       *int    `json:"points_per_unit"`
	MaxDeductionPercent *int    `json:"max_deduction_percent"`
	PointsPendingDays   *int    `json:"points_pending_days"`
	RefundPolicy        *string `json:"refund_policy"`
	TransfersEnabled    *bool   `json:"transfers_enabled"`
	TransferDailyCap    *int64  `json:"transfer_daily_cap"`
	HoldMinutes         *int    `json:"hold_minutes"`
}

// UpdateSettings validates and stores settings, recording the change in
// the audit log.
func (s *Service) UpdateSettings(ctx context.Context, in SettingsInput) (Tenant, error) {
	fe := platform.FieldErrors{}
	changes := map[string]any{}
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" || utf8.RuneCountInString(n) > 200 {
			fe.Add("name", "is required, at most 200 characters")
		}
		changes["name"] = n
	}
	if in.TimeZone != nil {
		if _, err := time.LoadLocation(*in.TimeZone); err != nil || *in.TimeZone == "" || *in.TimeZone == "Local" {
			fe.Add("time_zone", "must be an IANA time zone such as Asia/Shanghai")
		}
		changes["time_zone"] = *in.TimeZone
	}
	if in.Currency != nil {
		if !validCurrency(*in.Currency) {
			fe.Add("currency", "must be a three-letter ISO 4217 code such as CNY")
		}
		changes["currency"] = *in.Currency
	}
	intRange := func(field string, v *int, lo, hi int) {
		if v == nil {
			return
		}
		if *v < lo || *v > hi {
			fe.Add(field, "must be from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
		}
		changes[field] = *v
	}
	intRange("points_expiry_months", in.PointsExpiryMonths, 1, 120)
	intRange("points_per_unit", in.PointsPerUnit, 1, 1000000)
	intRange("max_deduction_percent", in.MaxDeductionPercent, 0, 100)
	intRange("points_pending_days", in.PointsPendingDays, 0, 90)
	intRange("hold_minutes", in.HoldMinutes, 1, 1440)
	if in.RefundPolicy != nil {
		ok := false
		for _, p := range refundPolicies {
			ok = ok || p == *in.RefundPolicy
		}
		if !ok {
			fe.Add("refund_policy", "must be pending_only, to_zero or allow_negative")
		}
		changes["refund_policy"] = *in.RefundPolicy
	}
	if in.TransfersEnabled != nil {
		changes["transfers_enabled"] = *in.TransfersEnabled
	}
	if in.TransferDailyCap != nil {
		if *in.TransferDailyCap < 0 {
			fe.Add("transfer_daily_cap", "must be 0 (no cap) or more")
		}
		changes["transfer_daily_cap"] = *in.TransferDailyCap
	}
	if err := fe.Err(); err != nil {
		return Tenant{}, err
	}
	var t Tenant
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		if len(changes) > 0 {
			audited := make(map[string]any, len(changes))
			for k, v := range changes {
				audited[k] = v
			}
			changes["updated_at"] = s.Clock.Now()
			if err := s.DB.Conn(ctx).Model(&Tenant{}).Where("id = ?", platform.TenantID(ctx)).Updates(changes).Error; err != nil {
				return err
			}
			if err := s.Audit.Record(ctx, "settings.update", "tenant", platform.TenantID(ctx), audited); err != nil {
				return err
			}
		}
		var err error
		t, err = s.GetTenant(ctx, platform.TenantID(ctx))
		return err
	})
	return t, err
}
