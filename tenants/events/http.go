package events

import (
	"net/http"

	"github.com/gin-gonic/gin"

	httpx "jifen/platform/http"
)

// Routes mounts the event endpoints on a tenant group. idem is the
// Idempotency-Key middleware (httpx.Idempotent) that POST /events runs
// behind, after the permission check so a refused request stores nothing;
// nil mounts it without.
func Routes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, idem gin.HandlerFunc, svc *Service) {
	h := handler{svc}
	post := []gin.HandlerFunc{can("events", "write")}
	if idem != nil {
		post = append(post, idem)
	}
	r.POST("/events", append(post, h.create)...)
	r.GET("/events", can("events", "read"), h.list)
	r.GET("/events/:eid", can("events", "read"), h.get)
}

type handler struct{ svc *Service }

func (h handler) create(c *gin.Context) {
	var req Request
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	res, err := h.svc.Ingest(c.Request.Context(), req)
	httpx.Respond(c, http.StatusCreated, res, err)
}

func (h handler) list(c *gin.Context) {
	limit, err := httpx.Limit(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items, next, err := h.svc.FindEvents(c.Request.Context(), Filter{
		MemberID: c.Query("member_id"), Type: c.Query("type"), Limit: limit, Cursor: c.Query("cursor"),
	})
	httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
}

func (h handler) get(c *gin.Context) {
	e, err := h.svc.GetEvent(c.Request.Context(), c.Param("eid"))
	httpx.Respond(c, http.StatusOK, e, err)
}
