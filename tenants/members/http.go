package members

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"

	httpx "jifen/platform/http"
)

// Routes mounts the member endpoints on a tenant group.
func Routes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, svc *Service) {
	h := handler{svc}
	r.POST("/members", can("members", "write"), h.create)
	r.POST("/members/import", can("members", "write"), h.importCSV)
	r.GET("/members", can("members", "read"), h.list)
	r.GET("/members/:mid", can("members", "read"), h.get)
	r.PATCH("/members/:mid", can("members", "write"), h.update)
	r.POST("/members/:mid/erase", can("members", "erase"), h.erase)
}

type handler struct{ svc *Service }

func (h handler) create(c *gin.Context) {
	var in Input
	if err := httpx.Bind(c, &in); err != nil {
		httpx.Error(c, err)
		return
	}
	m, err := h.svc.CreateMember(c.Request.Context(), in)
	httpx.Respond(c, http.StatusCreated, m, err)
}

func (h handler) get(c *gin.Context) {
	m, err := h.svc.GetMember(c.Request.Context(), c.Param("mid"))
	httpx.Respond(c, http.StatusOK, m, err)
}

func (h handler) list(c *gin.Context) {
	limit, err := httpx.Limit(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items, next, err := h.svc.FindMembers(c.Request.Context(), Filter{
		ExternalID: c.Query("external_id"), Phone: c.Query("phone"), Limit: limit, Cursor: c.Query("cursor"),
	})
	httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
}

func (h handler) update(c *gin.Context) {
	var in Input
	if err := httpx.Bind(c, &in); err != nil {
		httpx.Error(c, err)
		return
	}
	m, err := h.svc.UpdateMember(c.Request.Context(), c.Param("mid"), in)
	httpx.Respond(c, http.StatusOK, m, err)
}

func (h handler) erase(c *gin.Context) {
	m, err := h.svc.EraseMember(c.Request.Context(), c.Param("mid"))
	httpx.Respond(c, http.StatusOK, m, err)
}

// OpenAPI is the fragment describing the member routes.
//
//go:embed openapi.json
var OpenAPI []byte
