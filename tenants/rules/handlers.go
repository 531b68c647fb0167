package rules

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"

	"jifen/platform"
	httpx "jifen/platform/http"
)

// OpenAPI is this package's fragment of the served OpenAPI document.
//
//go:embed openapi.json
var OpenAPI []byte

// Routes mounts the rules API on a tenant group (/api/v1/tenants/:tid).
func Routes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, svc *Service) {
	h := handlers{svc: svc}
	r.GET("/rules/templates", can("rules", "read"), h.templates)
	r.POST("/rules/simulate", can("rules", "read"), h.simulate)
	r.POST("/rules", can("rules", "write"), httpx.Idempotent(svc.DB), h.create)
	r.GET("/rules", can("rules", "read"), h.list)
	r.GET("/rules/:rid", can("rules", "read"), h.get)
	r.PATCH("/rules/:rid", can("rules", "write"), h.update)
	r.DELETE("/rules/:rid", can("rules", "write"), h.delete)
}

type handlers struct {
	svc *Service
}

// create answers a single rule with the rule, and a template that makes
// several rules (referral) with the list of them.
func (h handlers) create(c *gin.Context) {
	var req CreateRule
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	rules, err := h.svc.CreateRules(c.Request.Context(), req)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if len(rules) == 1 {
		c.JSON(http.StatusCreated, rules[0])
		return
	}
	c.JSON(http.StatusCreated, httpx.Page(rules, ""))
}

func (h handlers) list(c *gin.Context) {
	limit, err := httpx.Limit(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	f := RuleFilter{Event: c.Query("event"), Limit: limit, Cursor: c.Query("cursor")}
	switch c.Query("active") {
	case "":
	case "true":
		f.Active = new(true)
	case "false":
		f.Active = new(false)
	default:
		httpx.Error(c, platform.FieldErrors{"active": "must be true or false"}.Err())
		return
	}
	items, next, err := h.svc.FindRules(c.Request.Context(), f)
	httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
}

func (h handlers) get(c *gin.Context) {
	r, err := h.svc.FindRuleByID(c.Request.Context(), c.Param("rid"))
	httpx.Respond(c, http.StatusOK, r, err)
}

func (h handlers) update(c *gin.Context) {
	var f RuleFields
	if err := httpx.Bind(c, &f); err != nil {
		httpx.Error(c, err)
		return
	}
	r, err := h.svc.UpdateRule(c.Request.Context(), c.Param("rid"), f)
	httpx.Respond(c, http.StatusOK, r, err)
}

func (h handlers) delete(c *gin.Context) {
	if err := h.svc.DeleteRule(c.Request.Context(), c.Param("rid")); err != nil {
		httpx.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h handlers) templates(c *gin.Context) {
	c.JSON(http.StatusOK, httpx.Page(h.svc.Templates(), ""))
}

func (h handlers) simulate(c *gin.Context) {
	var req SimulateRequest
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	out, err := h.svc.Simulate(c.Request.Context(), req)
	httpx.Respond(c, http.StatusOK, out, err)
}
