package tiers

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"

	httpx "jifen/platform/http"
)

// OpenAPI is this package's fragment of the served OpenAPI document.
//
//go:embed openapi.json
var OpenAPI []byte

// Routes mounts the tier endpoints on a tenant group.
func Routes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, svc *Service) {
	h := handler{svc}
	r.GET("/tiers/settings", can("tiers", "read"), h.getSettings)
	r.PUT("/tiers/settings", can("tiers", "write"), h.putSettings)
	r.POST("/tiers/evaluate", can("tiers", "write"), h.evaluate)
	r.POST("/tiers", can("tiers", "write"), h.create)
	r.GET("/tiers", can("tiers", "read"), h.list)
	r.GET("/tiers/:tierid", can("tiers", "read"), h.get)
	r.PATCH("/tiers/:tierid", can("tiers", "write"), h.update)
	r.DELETE("/tiers/:tierid", can("tiers", "write"), h.delete)
	r.GET("/members/:mid/tier", can("tiers", "read"), h.memberTier)
	r.GET("/members/:mid/tier-history", can("tiers", "read"), h.history)
	r.POST("/members/:mid/tier-override", can("tiers", "write"), h.setOverride)
	r.DELETE("/members/:mid/tier-override", can("tiers", "write"), h.removeOverride)
}

type handler struct{ svc *Service }

func (h handler) getSettings(c *gin.Context) {
	s, err := h.svc.Settings(c.Request.Context())
	httpx.Respond(c, http.StatusOK, s, err)
}

func (h handler) putSettings(c *gin.Context) {
	var in SettingsInput
	if err := httpx.Bind(c, &in); err != nil {
		httpx.Error(c, err)
		return
	}
	s, err := h.svc.UpdateSettings(c.Request.Context(), in)
	httpx.Respond(c, http.StatusOK, s, err)
}

func (h handler) evaluate(c *gin.Context) {
	res, err := h.svc.EvaluateDowngrades(c.Request.Context(), h.svc.Clock.Now())
	httpx.Respond(c, http.StatusOK, res, err)
}

func (h handler) create(c *gin.Context) {
	var in TierInput
	if err := httpx.Bind(c, &in); err != nil {
		httpx.Error(c, err)
		return
	}
	t, err := h.svc.CreateTier(c.Request.Context(), in)
	httpx.Respond(c, http.StatusCreated, t, err)
}

// list returns the whole ladder in one page: it has at most 20 tiers.
func (h handler) list(c *gin.Context) {
	items, err := h.svc.Tiers(c.Request.Context())
	httpx.Respond(c, http.StatusOK, httpx.Page(items, ""), err)
}

func (h handler) get(c *gin.Context) {
	t, err := h.svc.Tier(c.Request.Context(), c.Param("tierid"))
	httpx.Respond(c, http.StatusOK, t, err)
}

func (h handler) update(c *gin.Context) {
	var in TierInput
	if err := httpx.Bind(c, &in); err != nil {
		httpx.Error(c, err)
		return
	}
	t, err := h.svc.UpdateTier(c.Request.Context(), c.Param("tierid"), in)
	httpx.Respond(c, http.StatusOK, t, err)
}

func (h handler) delete(c *gin.Context) {
	if err := h.svc.DeleteTier(c.Request.Context(), c.Param("tierid")); err != nil {
		httpx.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h handler) memberTier(c *gin.Context) {
	mt, err := h.svc.MemberTier(c.Request.Context(), c.Param("mid"))
	httpx.Respond(c, http.StatusOK, mt, err)
}

func (h handler) history(c *gin.Context) {
	limit, err := httpx.Limit(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items, next, err := h.svc.History(c.Request.Context(), c.Param("mid"), limit, c.Query("cursor"))
	httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
}

func (h handler) setOverride(c *gin.Context) {
	var in OverrideInput
	if err := httpx.Bind(c, &in); err != nil {
		httpx.Error(c, err)
		return
	}
	mt, err := h.svc.SetOverride(c.Request.Context(), c.Param("mid"), in)
	httpx.Respond(c, http.StatusOK, mt, err)
}

func (h handler) removeOverride(c *gin.Context) {
	mt, err := h.svc.RemoveOverride(c.Request.Context(), c.Param("mid"))
	httpx.Respond(c, http.StatusOK, mt, err)
}
