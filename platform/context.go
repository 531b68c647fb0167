package platform

import (
	"context"
	"sync"
	"time"
)

// Role names, from most to least powerful inside a tenant.
const (
	RoleOwner    = "owner"
	RoleManager  = "manager"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// Roles lists the tenant roles, most powerful first.
var Roles = []string{RoleOwner, RoleManager, RoleOperator, RoleViewer}

// ValidRole reports whether r is a tenant role.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Principal is who made a request: a staff user (by session token) or a
// tenant API key.
type Principal struct {
	UserID   string // set for session tokens
	Email    string
	APIKeyID string // set for API keys
	// KeyTenantID is the tenant an API key belongs to.
	KeyTenantID string
	SessionID   string
}

// Subject is the principal's name in authorisation policies.
func (p Principal) Subject() string {
	if p.APIKeyID != "" {
		return "key:" + p.APIKeyID
	}
	return "user:" + p.UserID
}

// Actor is a short description for audit records.
func (p Principal) Actor() string {
	if p.APIKeyID != "" {
		return "api_key:" + p.APIKeyID
	}
	return "user:" + p.UserID
}

// Tenant is the tenant a request acts in, as loaded by the tenant middleware.
type Tenant struct {
	ID       string
	Name     string
	Status   string
	TimeZone string
	// Role is the principal's role in this tenant.
	Role string
}

// locations caches loaded zones: time.LoadLocation reads and parses the
// zone data on every call.
var locations sync.Map // zone name → *time.Location

// Location returns the tenant's time zone, UTC when unset or unknown.
func (t Tenant) Location() *time.Location {
	if t.TimeZone == "" {
		return time.UTC
	}
	if loc, ok := locations.Load(t.TimeZone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return time.UTC
	}
	locations.Store(t.TimeZone, loc)
	return loc
}

type ctxKey int

const (
	principalKey ctxKey = iota
	tenantKey
	requestIDKey
)

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFrom returns the principal in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

// WithTenant returns ctx carrying t.
func WithTenant(ctx context.Context, t Tenant) context.Context {
	return context.WithValue(ctx, tenantKey, t)
}

// TenantFrom returns the tenant in ctx.
func TenantFrom(ctx context.Context) (Tenant, bool) {
	t, ok := ctx.Value(tenantKey).(Tenant)
	return t, ok
}

// TenantID returns the id of the tenant in ctx, or "" when there is none.
func TenantID(ctx context.Context) string {
	t, _ := TenantFrom(ctx)
	return t.ID
}

// WithRequestID returns ctx carrying a request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// ActorFrom describes who acts in ctx for audit records ("system" when no
// principal is present, as in scheduled jobs).
func ActorFrom(ctx context.Context) string {
	if p, ok := PrincipalFrom(ctx); ok {
		return p.Actor()
	}
	return "system"
}
