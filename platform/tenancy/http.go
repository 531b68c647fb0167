package tenancy

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"jifen/platform"
	httpx "jifen/platform/http"
)

// PlatformRoutes mounts tenant administration on an authenticated group;
// perm is the platform permission check.
func PlatformRoutes(r gin.IRouter, perm func(obj, act string) gin.HandlerFunc, svc *Service) {
	r.POST("/platform/tenants", perm("tenants", "write"), func(c *gin.Context) {
		var in CreateInput
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		t, err := svc.CreateTenant(c.Request.Context(), in)
		httpx.Respond(c, http.StatusCreated, t, err)
	})
	r.GET("/platform/tenants", perm("tenants", "read"), func(c *gin.Context) {
		limit, err := httpx.Limit(c)
		if err != nil {
			httpx.Error(c, err)
			return
		}
		items, next, err := svc.FindTenants(c.Request.Context(), c.Query("status"), limit, c.Query("cursor"))
		httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
	})
	r.GET("/platform/tenants/:tid", perm("tenants", "read"), func(c *gin.Context) {
		t, err := svc.GetTenant(c.Request.Context(), c.Param("tid"))
		httpx.Respond(c, http.StatusOK, t, err)
	})
	r.POST("/platform/tenants/:tid/suspend", perm("tenants", "write"), func(c *gin.Context) {
		t, err := svc.SetStatus(c.Request.Context(), c.Param("tid"), StatusSuspended)
		httpx.Respond(c, http.StatusOK, t, err)
	})
	r.POST("/platform/tenants/:tid/reactivate", perm("tenants", "write"), func(c *gin.Context) {
		t, err := svc.SetStatus(c.Request.Context(), c.Param("tid"), StatusActive)
		httpx.Respond(c, http.StatusOK, t, err)
	})
}

// SessionRoutes mounts what any signed-in user may ask about themselves.
func SessionRoutes(r gin.IRouter, svc *Service) {
	r.GET("/me/tenants", func(c *gin.Context) {
		p, _ := platform.PrincipalFrom(c.Request.Context())
		if p.UserID == "" {
			httpx.Error(c, platform.Errorf(platform.EForbidden, "API keys belong to one tenant; this list is for staff users."))
			return
		}
		items, err := svc.MyTenants(c.Request.Context(), p.UserID)
		httpx.Respond(c, http.StatusOK, httpx.Page(items, ""), err)
	})
}

// Routes mounts settings and staff on a tenant group.
func Routes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, svc *Service) {
	r.GET("/settings", can("settings", "read"), func(c *gin.Context) {
		t, err := svc.Settings(c.Request.Context())
		httpx.Respond(c, http.StatusOK, t, err)
	})
	r.PATCH("/settings", can("settings", "write"), func(c *gin.Context) {
		var in SettingsInput
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		t, err := svc.UpdateSettings(c.Request.Context(), in)
		httpx.Respond(c, http.StatusOK, t, err)
	})
	r.POST("/staff", can("staff", "write"), func(c *gin.Context) {
		var in StaffInput
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		st, err := svc.AddStaff(c.Request.Context(), in)
		httpx.Respond(c, http.StatusCreated, st, err)
	})
	r.GET("/staff", can("staff", "read"), func(c *gin.Context) {
		items, err := svc.FindStaff(c.Request.Context())
		httpx.Respond(c, http.StatusOK, httpx.Page(items, ""), err)
	})
	r.PATCH("/staff/:uid", can("staff", "write"), func(c *gin.Context) {
		var in struct {
			Role string `json:"role"`
		}
		if err := httpx.Bind(c, &in); err != nil {
			httpx.Error(c, err)
			return
		}
		st, err := svc.ChangeRole(c.Request.Context(), c.Param("uid"), in.Role)
		httpx.Respond(c, http.StatusOK, st, err)
	})
	r.DELETE("/staff/:uid", can("staff", "write"), func(c *gin.Context) {
		if err := svc.RemoveStaff(c.Request.Context(), c.Param("uid")); err != nil {
			httpx.Error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}
