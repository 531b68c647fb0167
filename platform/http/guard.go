package http

import (
	"context"
	"strings"

	"github.com/gin-gonic/gin"

	"jifen/platform"
)

// Authenticator resolves a bearer token (a session token or an API key) to
// its principal. It returns unauthenticated for unknown, expired or revoked
// tokens.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (platform.Principal, error)
}

// Authorizer answers policy questions. Domain is a tenant id or
// PlatformDomain.
type Authorizer interface {
	// RoleIn returns the subject's role in the tenant, or "" when it has none.
	RoleIn(ctx context.Context, subject, tenantID string) (string, error)
	// Allowed reports whether the subject may do act on obj in domain.
	Allowed(ctx context.Context, subject, domain, obj, act string) (bool, error)
}

// TenantLoader loads a tenant by id. It returns not_found when absent.
type TenantLoader interface {
	LoadTenant(ctx context.Context, id string) (platform.Tenant, error)
}

// PlatformDomain is the policy domain of platform administration.
const PlatformDomain = "platform"

// Guard builds the middleware that authenticates and authorises requests.
type Guard struct {
	Authn   Authenticator
	Authz   Authorizer
	Tenants TenantLoader
}

// Authenticated requires a valid bearer token and puts its principal in the
// request's context.
func (g *Guard) Authenticated() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			Error(c, platform.Errorf(platform.EUnauthenticated, "Send a session token or API key as Authorization: Bearer <token>."))
			return
		}
		p, err := g.Authn.Authenticate(c.Request.Context(), strings.TrimSpace(token))
		if err != nil {
			Error(c, err)
			return
		}
		c.Request = c.Request.WithContext(platform.WithPrincipal(c.Request.Context(), p))
		c.Next()
	}
}

// Platform requires the principal to hold the platform permission.
func (g *Guard) Platform(obj, act string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, _ := platform.PrincipalFrom(c.Request.Context())
		ok, err := g.Authz.Allowed(c.Request.Context(), p.Subject(), PlatformDomain, obj, act)
		if err != nil {
			Error(c, err)
			return
		}
		if !ok {
			Error(c, platform.Errorf(platform.EForbidden, "Only platform admins may do this."))
			return
		}
		c.Next()
	}
}

// TenantScope loads the tenant named by the :tid path parameter and puts it
// in the context. A principal with no role in the tenant gets not_found, so
// nobody learns whether another tenant exists; a suspended tenant gets
// tenant_suspended.
func (g *Guard) TenantScope() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		p, _ := platform.PrincipalFrom(ctx)
		tid := c.Param("tid")
		role, err := g.Authz.RoleIn(ctx, p.Subject(), tid)
		if err != nil {
			Error(c, err)
			return
		}
		if role == "" || (p.APIKeyID != "" && p.KeyTenantID != tid) {
			Error(c, platform.NotFound("tenant"))
			return
		}
		t, err := g.Tenants.LoadTenant(ctx, tid)
		if err != nil {
			Error(c, err)
			return
		}
		if t.Status != "active" {
			Error(c, platform.Errorf(platform.ETenantSuspended, "This tenant is suspended; contact the platform operator."))
			return
		}
		t.Role = role
		c.Request = c.Request.WithContext(platform.WithTenant(ctx, t))
		c.Next()
	}
}

// Can requires permission act on obj in the request's tenant.
func (g *Guard) Can(obj, act string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		p, _ := platform.PrincipalFrom(ctx)
		ok, err := g.Authz.Allowed(ctx, p.Subject(), platform.TenantID(ctx), obj, act)
		if err != nil {
			Error(c, err)
			return
		}
		if !ok {
			Error(c, platform.Errorf(platform.EForbidden, "Your role may not %s %s in this tenant.", act, obj))
			return
		}
		c.Next()
	}
}
