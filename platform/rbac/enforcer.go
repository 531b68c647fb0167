package rbac

import (
	"context"
	"fmt"
	"sync"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	gormadapter "github.com/casbin/gorm-adapter/v3"

	"jifen/platform"
	"jifen/platform/storage"
)

// modelText is RBAC with domains: a subject holds a role in a domain (a
// tenant id, or "platform"); role policies apply in every domain ("*") or
// in one.
const modelText = `
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || r.dom == p.dom) && r.obj == p.obj && r.act == p.act
`

// Enforcer answers authorisation questions from casbin, reloading its
// in-memory policy whenever another process has changed it.
type Enforcer struct {
	db *storage.DB
	e  *casbin.SyncedEnforcer

	mu      sync.Mutex
	version int64
}

// New loads the policy from casbin_rule (created by our migrations; the
// adapter's own auto-migration is off) and writes the role policies of the
// policy table.
func New(ctx context.Context, db *storage.DB) (*Enforcer, error) {
	gormadapter.TurnOffAutoMigrate(db.Conn(ctx))
	a, err := gormadapter.NewAdapterByDBWithCustomTable(db.Conn(context.Background()), &gormadapter.CasbinRule{}, "casbin_rule")
	if err != nil {
		return nil, fmt.Errorf("casbin adapter: %w", err)
	}
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, err
	}
	e, err := casbin.NewSyncedEnforcer(m, a)
	if err != nil {
		return nil, fmt.Errorf("casbin enforcer: %w", err)
	}
	en := &Enforcer{db: db, e: e}
	if err := en.syncPolicies(ctx); err != nil {
		return nil, err
	}
	if err := en.reloadIfChanged(ctx); err != nil {
		return nil, err
	}
	return en, nil
}

type rule struct {
	ID    int64  `gorm:"column:id;primaryKey"`
	Ptype string `gorm:"column:ptype"`
	V0    string `gorm:"column:v0"`
	V1    string `gorm:"column:v1"`
	V2    string `gorm:"column:v2"`
	V3    string `gorm:"column:v3"`
	V4    string `gorm:"column:v4"`
	V5    string `gorm:"column:v5"`
}

func (rule) TableName() string { return "casbin_rule" }

// syncPolicies makes the stored "p" lines equal the policy table.
func (en *Enforcer) syncPolicies(ctx context.Context) error {
	return en.db.Tx(ctx, func(ctx context.Context) error {
		var have []rule
		if err := en.db.Conn(ctx).Where("ptype = ?", "p").Find(&have).Error; err != nil {
			return err
		}
		want := map[[4]string]bool{}
		for _, l := range policyLines() {
			want[[4]string{l[0], l[1], l[2], l[3]}] = true
		}
		changed := false
		for _, r := range have {
			k := [4]string{r.V0, r.V1, r.V2, r.V3}
			if want[k] {
				delete(want, k)
				continue
			}
			if err := en.db.Conn(ctx).Delete(&rule{}, r.ID).Error; err != nil {
				return err
			}
			changed = true
		}
		for k := range want {
			err := en.db.Conn(ctx).Create(&rule{Ptype: "p", V0: k[0], V1: k[1], V2: k[2], V3: k[3]}).Error
			if err != nil && !storage.IsUniqueViolation(err) {
				return err
			}
			changed = true
		}
		if changed {
			return bumpVersion(ctx, en.db)
		}
		return nil
	})
}

func bumpVersion(ctx context.Context, db *storage.DB) error {
	return db.Conn(ctx).Exec("UPDATE policy_version SET version = version + 1 WHERE id = 1").Error
}

func currentVersion(ctx context.Context, db *storage.DB) (int64, error) {
	var v int64
	err := db.Conn(ctx).Raw("SELECT version FROM policy_version WHERE id = 1").Row().Scan(&v)
	return v, err
}

// reloadIfChanged reloads the policy when the stored version moved. The
// version is read before loading, so a change made during the load causes
// one more reload rather than being missed.
func (en *Enforcer) reloadIfChanged(ctx context.Context) error {
	v, err := currentVersion(ctx, en.db)
	if err != nil {
		return fmt.Errorf("read policy version: %w", err)
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	if v == en.version {
		return nil
	}
	if err := en.e.LoadPolicy(); err != nil {
		return fmt.Errorf("load policy: %w", err)
	}
	en.version = v
	return nil
}

// RoleIn returns the subject's role in the tenant, or "".
func (en *Enforcer) RoleIn(ctx context.Context, subject, tenantID string) (string, error) {
	if err := en.reloadIfChanged(ctx); err != nil {
		return "", err
	}
	roles := en.e.GetRolesForUserInDomain(subject, tenantID)
	best := ""
	for _, r := range roles {
		if rank(r) >= 0 && (best == "" || rank(r) < rank(best)) {
			best = r
		}
	}
	return best, nil
}

// Allowed reports whether the subject may do act on obj in domain.
func (en *Enforcer) Allowed(ctx context.Context, subject, domain, obj, act string) (bool, error) {
	if err := en.reloadIfChanged(ctx); err != nil {
		return false, err
	}
	ok, err := en.e.Enforce(subject, domain, obj, act)
	if err != nil {
		return false, fmt.Errorf("enforce: %w", err)
	}
	return ok, nil
}

// Grant gives subject the role in domain, replacing any role it had there.
// It writes inside the context's transaction, so the grant commits with the
// change that caused it; other replicas see it through the version row.
func Grant(ctx context.Context, db *storage.DB, subject, role, domain string) error {
	if domain != "platform" && !platform.ValidRole(role) {
		return fmt.Errorf("rbac: unknown role %q", role)
	}
	return db.Tx(ctx, func(ctx context.Context) error {
		if err := db.Conn(ctx).Where("ptype = ? AND v0 = ? AND v2 = ?", "g", subject, domain).Delete(&rule{}).Error; err != nil {
			return err
		}
		if err := db.Conn(ctx).Create(&rule{Ptype: "g", V0: subject, V1: role, V2: domain}).Error; err != nil {
			return err
		}
		return bumpVersion(ctx, db)
	})
}

// Revoke removes every role of subject in domain.
func Revoke(ctx context.Context, db *storage.DB, subject, domain string) error {
	return db.Tx(ctx, func(ctx context.Context) error {
		if err := db.Conn(ctx).Where("ptype = ? AND v0 = ? AND v2 = ?", "g", subject, domain).Delete(&rule{}).Error; err != nil {
			return err
		}
		return bumpVersion(ctx, db)
	})
}
