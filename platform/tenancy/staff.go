package tenancy

import (
	"context"

	"jifen/platform"
	"jifen/platform/auth"
	"jifen/platform/rbac"
	"jifen/platform/storage"
)

// StaffInput adds a person to the tenant.
type StaffInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

func (s *Service) addStaff(ctx context.Context, userID, role string) error {
	now := s.Clock.Now()
	st := Staff{TenantID: platform.TenantID(ctx), UserID: userID, Role: role, CreatedAt: now, UpdatedAt: now}
	if err := s.DB.Conn(ctx).Omit("email").Create(&st).Error; err != nil {
		if storage.IsUniqueViolation(err) {
			return (&platform.Error{Code: platform.EConflict, Message: "This person is already staff of the tenant; change their role instead."}).
				WithDetails(map[string]any{"email": "is already staff"})
		}
		return err
	}
	return rbac.Grant(ctx, s.DB, "user:"+userID, role, st.TenantID)
}

// AddStaff adds a staff member with a role. A new email becomes a new user
// with the given password; an existing user is added as they are (their
// password is not changed).
func (s *Service) AddStaff(ctx context.Context, in StaffInput) (Staff, error) {
	in.Email = auth.NormalizeEmail(in.Email)
	fe := platform.FieldErrors{}
	if !platform.ValidRole(in.Role) {
		fe.Add("role", "must be one of owner, manager, operator, viewer")
	}
	var out Staff
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		u, err := s.Auth.FindUserByEmail(ctx, in.Email)
		if platform.IsCode(err, platform.ENotFound) {
			auth.ValidateCredentials(fe, "", in.Email, in.Password)
			if err := fe.Err(); err != nil {
				return err
			}
			u, err = s.Auth.CreateUser(ctx, in.Email, in.Password, false)
		}
		if err != nil {
			return err
		}
		if err := fe.Err(); err != nil {
			return err
		}
		if err := s.addStaff(ctx, u.ID, in.Role); err != nil {
			return err
		}
		out = Staff{TenantID: platform.TenantID(ctx), UserID: u.ID, Email: u.Email, Role: in.Role, CreatedAt: s.Clock.Now()}
		return s.Audit.Record(ctx, "staff.add", "user", u.ID, map[string]any{"email": u.Email, "role": in.Role})
	})
	return out, err
}

// FindStaff lists the tenant's staff.
func (s *Service) FindStaff(ctx context.Context) ([]Staff, error) {
	var out []Staff
	err := s.DB.Conn(ctx).Table("tenant_staff s").
		Select("s.tenant_id, s.user_id, u.email, s.role, s.created_at, s.updated_at").
		Joins("JOIN users u ON u.id = s.user_id").
		Where("s.tenant_id = ?", platform.TenantID(ctx)).Order("s.user_id").Scan(&out).Error
	return out, err
}

// lockStaff locks the tenant row (so owner counts can't race) and returns
// the staff member and the number of owners.
func (s *Service) lockStaff(ctx context.Context, userID string) (Staff, int64, error) {
	var t Tenant
	if err := s.DB.ForUpdate(s.DB.Conn(ctx).Where("id = ?", platform.TenantID(ctx))).Take(&t).Error; err != nil {
		return Staff{}, 0, storage.Translate(err, "tenant")
	}
	var st Staff
	if err := s.DB.Scoped(ctx).Omit("email").Where("user_id = ?", userID).Take(&st).Error; err != nil {
		return Staff{}, 0, storage.Translate(err, "staff member")
	}
	var owners int64
	if err := s.DB.Scoped(ctx).Model(&Staff{}).Where("role = ?", platform.RoleOwner).Count(&owners).Error; err != nil {
		return Staff{}, 0, err
	}
	return st, owners, nil
}

var errLastOwner = platform.Errorf(platform.EConflict, "A tenant must keep at least one owner; make someone else owner first.")

// ChangeRole changes a staff member's role; the last owner can't be
// demoted.
func (s *Service) ChangeRole(ctx context.Context, userID, role string) (Staff, error) {
	if !platform.ValidRole(role) {
		return Staff{}, platform.FieldErrors{"role": "must be one of owner, manager, operator, viewer"}.Err()
	}
	var st Staff
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var owners int64
		var err error
		st, owners, err = s.lockStaff(ctx, userID)
		if err != nil {
			return err
		}
		if st.Role == role {
			return nil
		}
		if st.Role == platform.RoleOwner && owners <= 1 {
			return errLastOwner
		}
		from := st.Role
		st.Role, st.UpdatedAt = role, s.Clock.Now()
		if err := s.DB.Scoped(ctx).Model(&Staff{}).Where("user_id = ?", userID).
			Updates(map[string]any{"role": role, "updated_at": st.UpdatedAt}).Error; err != nil {
			return err
		}
		if err := rbac.Grant(ctx, s.DB, "user:"+userID, role, st.TenantID); err != nil {
			return err
		}
		return s.Audit.Record(ctx, "staff.role", "user", userID, map[string]any{"from": from, "to": role})
	})
	if err != nil {
		return Staff{}, err
	}
	st.Email = s.emailOf(ctx, userID)
	return st, nil
}

// RemoveStaff removes a staff member from the tenant; the last owner can't
// be removed.
func (s *Service) RemoveStaff(ctx context.Context, userID string) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		st, owners, err := s.lockStaff(ctx, userID)
		if err != nil {
			return err
		}
		if st.Role == platform.RoleOwner && owners <= 1 {
			return errLastOwner
		}
		if err := s.DB.Scoped(ctx).Where("user_id = ?", userID).Delete(&Staff{}).Error; err != nil {
			return err
		}
		if err := rbac.Revoke(ctx, s.DB, "user:"+userID, st.TenantID); err != nil {
			return err
		}
		return s.Audit.Record(ctx, "staff.remove", "user", userID, map[string]any{"role": st.Role})
	})
}

func (s *Service) emailOf(ctx context.Context, userID string) string {
	var email string
	_ = s.DB.Conn(ctx).Raw("SELECT email FROM users WHERE id = ?", userID).Row().Scan(&email)
	return email
}

// MyTenants lists the tenants the user is staff of, with the role.
func (s *Service) MyTenants(ctx context.Context, userID string) ([]map[string]any, error) {
	var rows []struct {
		ID, Name, Status, Role string
	}
	err := s.DB.Conn(ctx).Raw(`SELECT t.id, t.name, t.status, s.role FROM tenant_staff s JOIN tenants t ON t.id = s.tenant_id
		WHERE s.user_id = ? ORDER BY t.id`, userID).Scan(&rows).Error
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		out = append(out, map[string]any{"id": r.ID, "name": r.Name, "status": r.Status, "role": r.Role})
	}
	return out, err
}
