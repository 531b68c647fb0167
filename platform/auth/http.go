package auth

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"jifen/platform"
	httpx "jifen/platform/http"
)

// PublicRoutes mounts login on the API root group.
func PublicRoutes(r gin.IRouter, svc *Service) {
	r.POST("/auth/login", func(c *gin.Context) {
		var in struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		}
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		res, err := svc.Login(c.Request.Context(), in.Email, in.Password, c.ClientIP())
		httpx.Respond(c, http.StatusOK, res, err)
	})
}

// SessionRoutes mounts the routes of any signed-in principal on an
// authenticated group.
func SessionRoutes(r gin.IRouter, svc *Service) {
	r.POST("/auth/logout", func(c *gin.Context) {
		if err := svc.Logout(c.Request.Context()); err != nil {
			httpx.Error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	r.POST("/auth/password", func(c *gin.Context) {
		var in struct {
			CurrentPassword string `json:"current_password"`
			NewPassword     string `json:"new_password"`
		}
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		if err := svc.ChangePassword(c.Request.Context(), in.CurrentPassword, in.NewPassword); err != nil {
			httpx.Error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

// KeyRoutes mounts API key management on a tenant group.
func KeyRoutes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, svc *Service) {
	r.POST("/api-keys", can("api_keys", "write"), func(c *gin.Context) {
		var in struct {
			Name string `json:"name"`
			Role string `json:"role"`
		}
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		k, err := svc.CreateAPIKey(c.Request.Context(), in.Name, in.Role)
		httpx.Respond(c, http.StatusCreated, k, err)
	})
	r.GET("/api-keys", can("api_keys", "read"), func(c *gin.Context) {
		keys, err := svc.FindAPIKeys(c.Request.Context())
		httpx.Respond(c, http.StatusOK, httpx.Page(keys, ""), err)
	})
	r.DELETE("/api-keys/:kid", can("api_keys", "write"), func(c *gin.Context) {
		k, err := svc.RevokeAPIKey(c.Request.Context(), c.Param("kid"))
		httpx.Respond(c, http.StatusOK, k, err)
	})
}

// Me answers who the caller is.
func Me(c *gin.Context) {
	p, _ := platform.PrincipalFrom(c.Request.Context())
	c.JSON(http.StatusOK, gin.H{"user_id": p.UserID, "email": p.Email, "api_key_id": p.APIKeyID, "tenant_id": p.KeyTenantID})
}
