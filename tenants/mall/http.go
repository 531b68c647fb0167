package mall

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"jifen/platform"
	httpx "jifen/platform/http"
)

// Routes mounts the mall, coupon, exchange-code and lottery endpoints on a
// tenant group. idem is httpx.Idempotent(db); it guards every route that
// moves points or stock.
func Routes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, svc *Service, idem gin.HandlerFunc) {
	h := handler{svc}

	r.POST("/mall/items", can("mall", "write"), h.createItem)
	r.GET("/mall/items", can("mall", "read"), h.listItems)
	r.GET("/mall/items/:iid", can("mall", "read"), h.getItem)
	r.PATCH("/mall/items/:iid", can("mall", "write"), h.updateItem)
	r.POST("/mall/items/:iid/stock", can("mall", "write"), idem, h.adjustStock)

	r.POST("/mall/redemptions", can("redemptions", "write"), idem, h.redeem)
	r.GET("/mall/redemptions", can("redemptions", "read"), h.listRedemptions)
	r.GET("/mall/redemptions/:rid", can("redemptions", "read"), h.getRedemption)
	r.PATCH("/mall/redemptions/:rid", can("redemptions", "write"), h.updateRedemption)
	r.POST("/mall/redemptions/:rid/cancel", can("redemptions", "write"), idem, h.cancel)
	r.POST("/mall/redemptions/:rid/fulfil", can("redemptions", "write"), h.fulfil)
	r.POST("/mall/redemptions/:rid/ship", can("redemptions", "write"), h.ship)
	r.POST("/mall/redemptions/:rid/complete", can("redemptions", "write"), h.complete)

	r.POST("/coupon-templates", can("coupons", "write"), h.createTemplate)
	r.GET("/coupon-templates", can("coupons", "read"), h.listTemplates)
	r.GET("/coupon-templates/:ctid", can("coupons", "read"), h.getTemplate)
	r.PATCH("/coupon-templates/:ctid", can("coupons", "write"), h.updateTemplate)
	r.POST("/members/:mid/coupons", can("coupons", "write"), idem, h.grantCoupon)
	r.GET("/members/:mid/coupons", can("coupons", "read"), h.memberCoupons)
	r.POST("/coupons/verify", can("coupons", "verify"), h.verifyCoupon)

	r.POST("/mall/code-batches", can("mall", "write"), idem, h.createBatch)
	r.GET("/mall/code-batches", can("mall", "read"), h.listBatches)
	r.GET("/mall/code-batches/:bid", can("mall", "read"), h.getBatch)
	// The codes themselves are bearer values: only who configures the mall
	// may list them.
	r.GET("/mall/code-batches/:bid/codes", can("mall", "write"), h.listCodes)
	r.POST("/mall/codes/redeem", can("redemptions", "write"), h.guessGuard(memberSubject), idem, h.redeemCode)
	r.POST("/mall/codes/verify", can("coupons", "verify"), h.guessGuard(callerSubject), h.verifyCode)

	r.POST("/mall/lottery/:iid/draw", can("redemptions", "write"), idem, h.draw)
	r.GET("/mall/lottery/:iid/draws", can("redemptions", "read"), h.listDraws)
}

type handler struct{ svc *Service }

// bind decodes the body into v, answering the error itself; it reports
// whether the handler may go on.
func bind(c *gin.Context, v any) bool {
	if err := httpx.Bind(c, v); err != nil {
		httpx.Error(c, err)
		return false
	}
	return true
}

// bindOptional is bind for bodies that may be left out entirely.
func bindOptional(c *gin.Context, v any) bool {
	if c.Request.ContentLength == 0 {
		return true
	}
	return bind(c, v)
}

func limit(c *gin.Context) (int, bool) {
	n, err := httpx.Limit(c)
	if err != nil {
		httpx.Error(c, err)
		return 0, false
	}
	return n, true
}

func (h handler) createItem(c *gin.Context) {
	var in ItemInput
	if !bind(c, &in) {
		return
	}
	it, err := h.svc.CreateItem(c.Request.Context(), in)
	httpx.Respond(c, http.StatusCreated, it, err)
}

func (h handler) listItems(c *gin.Context) {
	n, ok := limit(c)
	if !ok {
		return
	}
	f := ItemFilter{Kind: c.Query("kind"), Category: c.Query("category"), MemberID: c.Query("member_id"), Limit: n, Cursor: c.Query("cursor")}
	fe := platform.FieldErrors{}
	if v := c.Query("active"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fe.Add("active", "must be true or false")
		}
		f.Active = &b
	}
	if v := c.Query("on_sale"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fe.Add("on_sale", "must be true or false")
		}
		f.OnSale = b
	}
	if err := fe.Err(); err != nil {
		httpx.Error(c, err)
		return
	}
	items, next, err := h.svc.FindItems(c.Request.Context(), f)
	httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
}

func (h handler) getItem(c *gin.Context) {
	it, err := h.svc.GetItem(c.Request.Context(), c.Param("iid"))
	httpx.Respond(c, http.StatusOK, it, err)
}

func (h handler) updateItem(c *gin.Context) {
	var in ItemInput
	if !bind(c, &in) {
		return
	}
	it, err := h.svc.UpdateItem(c.Request.Context(), c.Param("iid"), in)
	httpx.Respond(c, http.StatusOK, it, err)
}

func (h handler) adjustStock(c *gin.Context) {
	var in StockInput
	if !bind(c, &in) {
		return
	}
	it, err := h.svc.AdjustStock(c.Request.Context(), c.Param("iid"), in)
	httpx.Respond(c, http.StatusOK, it, err)
}

func (h handler) redeem(c *gin.Context) {
	var in RedeemInput
	if !bind(c, &in) {
		return
	}
	r, err := h.svc.Redeem(c.Request.Context(), in)
	httpx.Respond(c, http.StatusCreated, r, err)
}

func (h handler) listRedemptions(c *gin.Context) {
	n, ok := limit(c)
	if !ok {
		return
	}
	list, next, err := h.svc.FindRedemptions(c.Request.Context(), RedemptionFilter{
		Status: c.Query("status"), MemberID: c.Query("member_id"), ItemID: c.Query("item_id"), Limit: n, Cursor: c.Query("cursor"),
	})
	httpx.Respond(c, http.StatusOK, httpx.Page(list, next), err)
}

func (h handler) getRedemption(c *gin.Context) {
	r, err := h.svc.GetRedemption(c.Request.Context(), c.Param("rid"))
	httpx.Respond(c, http.StatusOK, r, err)
}

func (h handler) updateRedemption(c *gin.Context) {
	var in AddressInput
	if !bind(c, &in) {
		return
	}
	r, err := h.svc.UpdateRedemption(c.Request.Context(), c.Param("rid"), in)
	httpx.Respond(c, http.StatusOK, r, err)
}

func (h handler) cancel(c *gin.Context) {
	var in CancelInput
	if !bindOptional(c, &in) {
		return
	}
	r, err := h.svc.CancelRedemption(c.Request.Context(), c.Param("rid"), in)
	httpx.Respond(c, http.StatusOK, r, err)
}

func (h handler) fulfil(c *gin.Context) {
	r, err := h.svc.FulfilRedemption(c.Request.Context(), c.Param("rid"))
	httpx.Respond(c, http.StatusOK, r, err)
}

func (h handler) ship(c *gin.Context) {
	var in ShipInput
	if !bind(c, &in) {
		return
	}
	r, err := h.svc.ShipRedemption(c.Request.Context(), c.Param("rid"), in)
	httpx.Respond(c, http.StatusOK, r, err)
}

func (h handler) complete(c *gin.Context) {
	r, err := h.svc.CompleteRedemption(c.Request.Context(), c.Param("rid"))
	httpx.Respond(c, http.StatusOK, r, err)
}

func (h handler) createTemplate(c *gin.Context) {
	var in TemplateInput
	if !bind(c, &in) {
		return
	}
	t, err := h.svc.CreateTemplate(c.Request.Context(), in)
	httpx.Respond(c, http.StatusCreated, t, err)
}

func (h handler) listTemplates(c *gin.Context) {
	n, ok := limit(c)
	if !ok {
		return
	}
	list, next, err := h.svc.FindTemplates(c.Request.Context(), n, c.Query("cursor"))
	httpx.Respond(c, http.StatusOK, httpx.Page(list, next), err)
}

func (h handler) getTemplate(c *gin.Context) {
	t, err := h.svc.GetTemplate(c.Request.Context(), c.Param("ctid"))
	httpx.Respond(c, http.StatusOK, t, err)
}

func (h handler) updateTemplate(c *gin.Context) {
	var in TemplateInput
	if !bind(c, &in) {
		return
	}
	t, err := h.svc.UpdateTemplate(c.Request.Context(), c.Param("ctid"), in)
	httpx.Respond(c, http.StatusOK, t, err)
}

func (h handler) grantCoupon(c *gin.Context) {
	var in GrantInput
	if !bind(c, &in) {
		return
	}
	cp, err := h.svc.GrantCoupon(c.Request.Context(), c.Param("mid"), in)
	httpx.Respond(c, http.StatusCreated, cp, err)
}

func (h handler) memberCoupons(c *gin.Context) {
	n, ok := limit(c)
	if !ok {
		return
	}
	list, next, err := h.svc.MemberCoupons(c.Request.Context(), c.Param("mid"), CouponFilter{Status: c.Query("status"), Limit: n, Cursor: c.Query("cursor")})
	httpx.Respond(c, http.StatusOK, httpx.Page(list, next), err)
}

func (h handler) verifyCoupon(c *gin.Context) {
	var in VerifyInput
	if !bind(c, &in) {
		return
	}
	v, err := h.svc.VerifyCoupon(c.Request.Context(), in)
	httpx.Respond(c, http.StatusOK, v, err)
}

func (h handler) createBatch(c *gin.Context) {
	var in BatchInput
	if !bind(c, &in) {
		return
	}
	b, err := h.svc.CreateBatch(c.Request.Context(), in)
	httpx.Respond(c, http.StatusCreated, b, err)
}

func (h handler) listBatches(c *gin.Context) {
	n, ok := limit(c)
	if !ok {
		return
	}
	list, next, err := h.svc.FindBatches(c.Request.Context(), c.Query("item_id"), n, c.Query("cursor"))
	httpx.Respond(c, http.StatusOK, httpx.Page(list, next), err)
}

func (h handler) getBatch(c *gin.Context) {
	b, err := h.svc.GetBatch(c.Request.Context(), c.Param("bid"))
	httpx.Respond(c, http.StatusOK, b, err)
}

func (h handler) listCodes(c *gin.Context) {
	n, ok := limit(c)
	if !ok {
		return
	}
	list, next, err := h.svc.FindCodes(c.Request.Context(), c.Param("bid"), c.Query("status"), n, c.Query("cursor"))
	httpx.Respond(c, http.StatusOK, httpx.Page(list, next), err)
}

// wrongCodeKey marks, in the gin context, a request that tried a code that
// does not exist, for guessGuard.
const wrongCodeKey = "mall.wrong_code"

// markWrongCode flags an answer that the code does not exist as a failed
// guess.
func markWrongCode(c *gin.Context, err error) {
	if errors.Is(err, errUnknownCode) {
		c.Set(wrongCodeKey, true)
	}
}

func (h handler) redeemCode(c *gin.Context) {
	var in RedeemCodeInput
	if !bind(c, &in) {
		return
	}
	r, err := h.svc.RedeemCode(c.Request.Context(), in)
	markWrongCode(c, err)
	httpx.Respond(c, http.StatusCreated, r, err)
}

func (h handler) verifyCode(c *gin.Context) {
	var in VerifyCodeInput
	if !bind(c, &in) {
		return
	}
	v, err := h.svc.VerifyCode(c.Request.Context(), in)
	markWrongCode(c, err)
	httpx.Respond(c, http.StatusOK, v, err)
}

// memberSubject counts a code redemption's attempts against the member it
// is for (the merchant's server usually makes every request, so counting
// per caller would lock all its members out for one guesser).
func memberSubject(c *gin.Context) string {
	var body struct {
		MemberID string `json:"member_id"`
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err == nil {
		c.Request.Body = io.NopCloser(bytes.NewReader(raw))
		_ = json.Unmarshal(raw, &body)
	}
	if body.MemberID == "" || len(body.MemberID) > 64 {
		return callerSubject(c)
	}
	return "member:" + body.MemberID
}

// callerSubject counts attempts against the caller (the staff user or API
// key): verification happens at the merchant's tills.
func callerSubject(c *gin.Context) string {
	return "caller:" + platform.ActorFrom(c.Request.Context())
}

// guessGuard limits wrong exchange codes: it reserves an attempt for the
// subject before the request runs (outside the request's transaction, so
// the count survives a rolled-back request) and gives it back unless the
// request tried a code that does not exist. Beyond the limit it answers
// 429 rate_limited with Retry-After.
func (h handler) guessGuard(subject func(*gin.Context) string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		a, err := h.svc.reserveCodeAttempt(ctx, subject(c))
		if err != nil {
			var pe *platform.Error
			if errors.As(err, &pe) && pe.Code == platform.ERateLimited {
				if s, ok := pe.Details["retry_after_seconds"].(int); ok {
					c.Header("Retry-After", strconv.Itoa(s))
				}
			}
			httpx.Error(c, err)
			return
		}
		c.Next()
		if !c.GetBool(wrongCodeKey) {
			// A release that fails leaves the attempt counted: the guard
			// errs on the strict side and the answer stands.
			_ = h.svc.releaseCodeAttempt(ctx, a)
		}
	}
}

func (h handler) draw(c *gin.Context) {
	var in DrawInput
	if !bind(c, &in) {
		return
	}
	d, err := h.svc.DrawLottery(c.Request.Context(), c.Param("iid"), in)
	httpx.Respond(c, http.StatusCreated, d, err)
}

func (h handler) listDraws(c *gin.Context) {
	n, ok := limit(c)
	if !ok {
		return
	}
	list, next, err := h.svc.FindDraws(c.Request.Context(), c.Param("iid"), DrawFilter{MemberID: c.Query("member_id"), Limit: n, Cursor: c.Query("cursor")})
	httpx.Respond(c, http.StatusOK, httpx.Page(list, next), err)
}
