package ledger

import (
	_ "embed"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"jifen/platform"
	httpx "jifen/platform/http"
	"jifen/tenants/members"
)

// OpenAPI is the fragment describing the ledger's routes.
//
//go:embed openapi.json
var OpenAPI []byte

// Routes mounts the ledger's endpoints on a tenant group. idem is
// httpx.Idempotent(db); it wraps every route that moves points.
func Routes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, svc *Service, idem gin.HandlerFunc) {
	h := handler{svc}
	r.POST("/members/:mid/points/adjust", can("points", "adjust"), idem, h.adjust)
	r.POST("/members/:mid/points/spend", can("points", "spend"), idem, h.spend)
	r.GET("/members/:mid/points", can("points", "read"), h.points)
	r.GET("/members/:mid/ledger", can("points", "read"), h.ledger)
	r.POST("/checkout/quote", can("points", "read"), h.quote)
	r.POST("/checkout/holds", can("points", "spend"), idem, h.createHold)
	r.GET("/checkout/holds/:hid", can("points", "read"), h.getHold)
	r.POST("/checkout/holds/:hid/capture", can("points", "spend"), idem, h.captureHold)
	r.POST("/checkout/holds/:hid/release", can("points", "spend"), idem, h.releaseHold)
	r.POST("/points/transfers", can("points", "spend"), idem, h.transfer)
	r.POST("/causes", can("settings", "write"), h.createCause)
	r.GET("/causes", can("points", "read"), h.listCauses)
	r.POST("/causes/:cid/donations", can("points", "spend"), idem, h.donate)
}

type handler struct{ svc *Service }

// EntryResult is the answer of a write that made one entry.
type EntryResult struct {
	Entry  Entry              `json:"entry"`
	Points members.PointsView `json:"points"`
}

type adjustRequest struct {
	Delta  int64  `json:"delta"`
	Reason string `json:"reason"`
}

type spendRequest struct {
	Points int64  `json:"points"`
	Reason string `json:"reason"`
	Ref    string `json:"ref"`
}

func (h handler) adjust(c *gin.Context) {
	var req adjustRequest
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	e, v, err := h.svc.Adjust(c.Request.Context(), c.Param("mid"), req.Delta, req.Reason)
	httpx.Respond(c, http.StatusOK, EntryResult{Entry: e, Points: v}, err)
}

func (h handler) spend(c *gin.Context) {
	var req spendRequest
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	e, v, err := h.svc.Spend(c.Request.Context(), c.Param("mid"), req.Points, req.Reason, req.Ref)
	httpx.Respond(c, http.StatusOK, EntryResult{Entry: e, Points: v}, err)
}

func (h handler) points(c *gin.Context) {
	v, err := h.svc.PointsOf(c.Request.Context(), c.Param("mid"))
	httpx.Respond(c, http.StatusOK, v, err)
}

// queryTime parses an RFC 3339 query parameter; empty is the zero time.
func queryTime(c *gin.Context, name string, fe platform.FieldErrors) time.Time {
	s := c.Query(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		fe.Add(name, "must be an RFC 3339 time such as 2026-01-31T16:00:00Z")
	}
	return t
}

func (h handler) ledger(c *gin.Context) {
	limit, err := httpx.Limit(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	fe := platform.FieldErrors{}
	f := EntryFilter{Kind: c.Query("kind"), From: queryTime(c, "from", fe), To: queryTime(c, "to", fe), Limit: limit, Cursor: c.Query("cursor")}
	if err := fe.Err(); err != nil {
		httpx.Error(c, err)
		return
	}
	items, next, err := h.svc.ListEntries(c.Request.Context(), c.Param("mid"), f)
	httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
}

func (h handler) quote(c *gin.Context) {
	var req QuoteInput
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	q, err := h.svc.Quote(c.Request.Context(), req)
	httpx.Respond(c, http.StatusOK, q, err)
}

func (h handler) createHold(c *gin.Context) {
	var req HoldInput
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	hold, err := h.svc.CreateHold(c.Request.Context(), req)
	httpx.Respond(c, http.StatusCreated, hold, err)
}

func (h handler) getHold(c *gin.Context) {
	hold, err := h.svc.GetHold(c.Request.Context(), c.Param("hid"))
	httpx.Respond(c, http.StatusOK, hold, err)
}

func (h handler) captureHold(c *gin.Context) {
	hold, err := h.svc.CaptureHold(c.Request.Context(), c.Param("hid"))
	httpx.Respond(c, http.StatusOK, hold, err)
}

func (h handler) releaseHold(c *gin.Context) {
	hold, err := h.svc.ReleaseHold(c.Request.Context(), c.Param("hid"))
	httpx.Respond(c, http.StatusOK, hold, err)
}

func (h handler) transfer(c *gin.Context) {
	var req TransferInput
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	t, err := h.svc.Transfer(c.Request.Context(), req)
	httpx.Respond(c, http.StatusCreated, t, err)
}

func (h handler) createCause(c *gin.Context) {
	var req CauseInput
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	cause, err := h.svc.CreateCause(c.Request.Context(), req)
	httpx.Respond(c, http.StatusCreated, cause, err)
}

func (h handler) listCauses(c *gin.Context) {
	limit, err := httpx.Limit(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items, next, err := h.svc.ListCauses(c.Request.Context(), limit, c.Query("cursor"))
	httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
}

func (h handler) donate(c *gin.Context) {
	var req DonationInput
	if err := httpx.Bind(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	d, err := h.svc.Donate(c.Request.Context(), c.Param("cid"), req)
	httpx.Respond(c, http.StatusCreated, d, err)
}
