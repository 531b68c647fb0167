package ledger_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	httpx "jifen/platform/http"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/ledger"
)

// web is a router serving the ledger's routes for one test tenant.
type web struct {
	*env
	r *routertest.Env
}

func newWeb(t testing.TB, db *storage.DB) *web {
	t.Helper()
	e := newEnv(t, db)
	r := routertest.New(t, db)
	ledger.Routes(r.Tenant, r.Can, e.svc, httpx.Idempotent(db))
	return &web{env: e, r: r}
}

func (w *web) path(format string, args ...any) string {
	return "/api/v1/tenants/" + w.tenant + fmt.Sprintf(format, args...)
}

func (w *web) do(method, path, role string, body any, headers ...string) *routertest.Response {
	w.t.Helper()
	return w.r.Do(w.t, method, path, role, body, headers...)
}

// wantStatus fails unless the response has the status (and, for errors,
// the code).
func wantStatus(t testing.TB, r *routertest.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code {
		t.Fatalf("got %d %s (%s), want %d %s", r.Status, r.ErrorCode(), r.Body, status, code)
	}
}

type entryResult struct {
	Entry  ledger.Entry `json:"entry"`
	Points struct {
		Available int64 `json:"available"`
		Pending   int64 `json:"pending"`
	} `json:"points"`
}

func TestHTTPAdjustAndSpend(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWeb(t, db)
		m := w.member()

		r := w.do("POST", w.path("/members/%s/points/adjust", m), "operator", map[string]any{"delta": 500, "reason": "goodwill"})
		wantStatus(t, r, http.StatusForbidden, "forbidden")

		r = w.do("POST", w.path("/members/%s/points/adjust", m), "manager", map[string]any{"delta": 500, "reason": "goodwill"})
		wantStatus(t, r, http.StatusOK, "")
		var res entryResult
		r.JSON(t, &res)
		if res.Entry.Kind != ledger.KindAdjust || res.Entry.Points != 500 || res.Entry.BalanceAfter != 500 || res.Points.Available != 500 {
			t.Fatalf("adjust: got %+v, want +500 leaving 500", res)
		}
		var actor, details string
		err := db.Conn(context.Background()).Raw("SELECT actor, details FROM audit_log WHERE tenant_id = ? AND action = 'points.adjust' AND target_id = ?", w.tenant, m).
			Row().Scan(&actor, &details)
		if err != nil || actor != "user:test-manager" || !strings.Contains(details, "goodwill") || !strings.Contains(details, res.Entry.ID) {
			t.Fatalf("audit: got actor %q details %q (%v), want the manager, the reason and the entry", actor, details, err)
		}

		r = w.do("POST", w.path("/members/%s/points/spend", m), "viewer", map[string]any{"points": 100})
		wantStatus(t, r, http.StatusForbidden, "forbidden")
		r = w.do("POST", w.path("/members/%s/points/spend", m), "operator", map[string]any{"points": 100, "reason": "coffee"})
		wantStatus(t, r, http.StatusOK, "")
		r.JSON(t, &res)
		if res.Entry.Kind != ledger.KindSpend || res.Entry.Points != -100 || res.Points.Available != 400 {
			t.Fatalf("spend: got %+v, want -100 leaving 400", res)
		}
		r = w.do("POST", w.path("/members/%s/points/spend", m), "operator", map[string]any{"points": 401})
		wantStatus(t, r, http.StatusUnprocessableEntity, "insufficient_points")
		r = w.do("POST", w.path("/members/%s/points/adjust", m), "owner", map[string]any{"delta": -401, "reason": "fix"})
		wantStatus(t, r, http.StatusUnprocessableEntity, "insufficient_points")
		w.wantPoints(m, 400, 0)
		w.checkInvariants(m)
	})
}

func TestHTTPBadInputNamesTheFieldAndChangesNothing(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWeb(t, db)
		m := w.member()
		w.earn(m, 100)
		hold, err := w.svc.CreateHold(w.ctx, ledger.HoldInput{MemberID: m, OrderID: "o", Points: 10})
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, method, path string
			body               any
			status             int
			code               string
			fields             []string
		}{
			{"adjust without fields", "POST", "/members/%s/points/adjust", map[string]any{}, 422, "validation_failed", []string{"delta", "reason"}},
			{"adjust by a fraction", "POST", "/members/%s/points/adjust", `{"delta":1.5,"reason":"x"}`, 422, "validation_failed", []string{"delta"}},
			{"adjust with a blank reason", "POST", "/members/%s/points/adjust", map[string]any{"delta": 5, "reason": "  "}, 422, "validation_failed", []string{"reason"}},
			{"spend zero", "POST", "/members/%s/points/spend", map[string]any{"points": 0}, 422, "validation_failed", []string{"points"}},
			{"spend a string", "POST", "/members/%s/points/spend", `{"points":"10"}`, 422, "validation_failed", []string{"points"}},
			{"spend with a long reason", "POST", "/members/%s/points/spend", map[string]any{"points": 1, "reason": strings.Repeat("长", 501)}, 422, "validation_failed", []string{"reason"}},
			{"spend with a broken body", "POST", "/members/%s/points/spend", `{"points":`, 400, "invalid_json", nil},
			{"ledger of an unknown kind", "GET", "/members/%s/ledger?kind=gift", nil, 422, "validation_failed", []string{"kind"}},
			{"ledger from a non-time", "GET", "/members/%s/ledger?from=yesterday", nil, 422, "validation_failed", []string{"from"}},
			{"ledger to a date without a time", "GET", "/members/%s/ledger?to=2026-03-01", nil, 422, "validation_failed", []string{"to"}},
			{"ledger to before from", "GET", "/members/%s/ledger?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", nil, 422, "validation_failed", []string{"to"}},
			{"ledger with a limit of 201", "GET", "/members/%s/ledger?limit=201", nil, 422, "validation_failed", []string{"limit"}},
			{"ledger with a forged cursor", "GET", "/members/%s/ledger?cursor=bm9wZQ", nil, 422, "validation_failed", []string{"cursor"}},
			{"quote without a member", "POST", "/checkout/quote", map[string]any{"order_amount_cents": -1}, 422, "validation_failed", []string{"member_id", "order_amount_cents"}},
			{"hold without fields", "POST", "/checkout/holds", map[string]any{}, 422, "validation_failed", []string{"member_id", "order_id", "points"}},
			{"hold over the order's cap", "POST", "/checkout/holds", map[string]any{"member_id": m, "order_id": "o2", "points": 60, "order_amount_cents": 100}, 422, "validation_failed", []string{"points"}},
			{"transfer without fields", "POST", "/points/transfers", map[string]any{}, 422, "validation_failed", []string{"from_member_id", "to_member_id", "points"}},
			{"cause without a name", "POST", "/causes", map[string]any{"description": "x"}, 422, "validation_failed", []string{"name"}},
			{"causes with a limit of 0", "GET", "/causes?limit=0", nil, 422, "validation_failed", []string{"limit"}},
			{"donation without fields", "POST", "/causes/none/donations", map[string]any{}, 422, "validation_failed", []string{"member_id", "points"}},
			{"an unknown hold", "POST", "/checkout/holds/none/capture", nil, 404, "not_found", nil},
			{"an unknown member", "GET", "/members/none/points", nil, 404, "not_found", nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				path := tc.path
				if strings.Contains(path, "%s") {
					path = fmt.Sprintf(path, m)
				}
				r := w.do(tc.method, w.path("%s", path), "owner", tc.body)
				wantStatus(t, r, tc.status, tc.code)
				var body httpx.ErrorBody
				r.JSON(t, &body)
				if body.Error.Message == "" {
					t.Fatalf("got no message in %s", r.Body)
				}
				for _, f := range tc.fields {
					if _, ok := body.Error.Details[f]; !ok {
						t.Fatalf("details: got %v, want %s named", body.Error.Details, f)
					}
				}
			})
		}
		w.wantPoints(m, 90, 0)
		if h, _ := w.svc.GetHold(w.ctx, hold.ID); h.Status != ledger.HoldHeld {
			t.Fatalf("hold: got %s, want still held", h.Status)
		}
		w.checkInvariants(m)
	})
}

func TestHTTPAnotherTenantsMemberIsNotFound(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		a := newWeb(t, db)
		b := newWeb(t, db)
		ma := a.member()
		mb := b.member()
		a.earn(ma, 100)
		b.earn(mb, 100)
		b.set("transfers_enabled", true)
		hold, err := a.svc.CreateHold(a.ctx, ledger.HoldInput{MemberID: ma, OrderID: "o", Points: 10})
		if err != nil {
			t.Fatal(err)
		}
		cause, err := b.svc.CreateCause(b.ctx, ledger.CauseInput{Name: "B's cause"})
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, method, path string
			body               any
		}{
			{"points", "GET", "/members/" + ma + "/points", nil},
			{"ledger", "GET", "/members/" + ma + "/ledger", nil},
			{"adjust", "POST", "/members/" + ma + "/points/adjust", map[string]any{"delta": 5, "reason": "x"}},
			{"spend", "POST", "/members/" + ma + "/points/spend", map[string]any{"points": 5}},
			{"quote", "POST", "/checkout/quote", map[string]any{"member_id": ma, "order_amount_cents": 1000}},
			{"hold", "POST", "/checkout/holds", map[string]any{"member_id": ma, "order_id": "x", "points": 5}},
			{"read a hold", "GET", "/checkout/holds/" + hold.ID, nil},
			{"capture a hold", "POST", "/checkout/holds/" + hold.ID + "/capture", nil},
			{"release a hold", "POST", "/checkout/holds/" + hold.ID + "/release", nil},
			{"transfer from", "POST", "/points/transfers", map[string]any{"from_member_id": ma, "to_member_id": mb, "points": 5}},
			{"transfer to", "POST", "/points/transfers", map[string]any{"from_member_id": mb, "to_member_id": ma, "points": 5}},
			{"donate", "POST", "/causes/" + cause.ID + "/donations", map[string]any{"member_id": ma, "points": 5}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := b.do(tc.method, b.path("%s", tc.path), "owner", tc.body)
				wantStatus(t, r, http.StatusNotFound, "not_found")
				if strings.Contains(string(r.Body), ma) {
					t.Fatalf("the answer names A's member: %s", r.Body)
				}
			})
		}
		r := a.do("POST", a.path("/causes/%s/donations", cause.ID), "owner", map[string]any{"member_id": ma, "points": 5})
		wantStatus(t, r, http.StatusNotFound, "not_found")
		a.wantPoints(ma, 90, 0)
		b.wantPoints(mb, 100, 0)
		a.checkInvariants(ma)
		b.checkInvariants(mb)
	})
}

func TestHTTPLedgerPages(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWeb(t, db)
		m := w.member()
		for i := 0; i < 4; i++ {
			w.earn(m, 10)
			w.clock.Advance(time.Hour)
			w.spend(m, 5)
			w.clock.Advance(time.Hour)
		} // 8 entries, one an hour
		var seen []ledger.Entry
		cur := ""
		for page := 0; ; page++ {
			r := w.do("GET", w.path("/members/%s/ledger?limit=3&cursor=%s", m, cur), "viewer", nil)
			wantStatus(t, r, http.StatusOK, "")
			var p httpx.PageBody[ledger.Entry]
			r.JSON(t, &p)
			seen = append(seen, p.Items...)
			if p.NextCursor == "" {
				if page != 2 || len(p.Items) != 2 {
					t.Fatalf("last page: got page %d with %d items, want page 2 with 2", page, len(p.Items))
				}
				break
			}
			if len(p.Items) != 3 {
				t.Fatalf("page %d: got %d items, want 3", page, len(p.Items))
			}
			cur = p.NextCursor
		}
		if len(seen) != 8 {
			t.Fatalf("got %d entries over the pages, want 8", len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if !seen[i].CreatedAt.Before(seen[i-1].CreatedAt) {
				t.Fatalf("entry %d (%s) is not older than entry %d (%s)", i, seen[i].CreatedAt, i-1, seen[i-1].CreatedAt)
			}
		}
		if seen[0].Kind != ledger.KindSpend || seen[0].BalanceAfter != 20 || seen[7].Kind != ledger.KindEarn || seen[7].BalanceAfter != 10 {
			t.Fatalf("got first %+v and last %+v, want the last spend (20 left) first and the first earn (10) last", seen[0], seen[7])
		}

		from := start.Add(2 * time.Hour).Format(time.RFC3339)
		to := start.Add(5 * time.Hour).Format(time.RFC3339)
		r := w.do("GET", w.path("/members/%s/ledger?kind=spend&from=%s&to=%s", m, from, to), "viewer", nil)
		wantStatus(t, r, http.StatusOK, "")
		var p httpx.PageBody[ledger.Entry]
		r.JSON(t, &p)
		// Spends happen at hours 1, 3, 5, 7: from (inclusive) 2 to (exclusive) 5 is the one at 3.
		if len(p.Items) != 1 || !p.Items[0].CreatedAt.Equal(start.Add(3*time.Hour)) || p.NextCursor != "" {
			t.Fatalf("filtered: got %+v, want only the spend at hour 3", p)
		}
	})
}

func TestHTTPPointsGroupExpiriesByLocalDay(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWeb(t, db)
		m := w.member()
		// 1 April 16:30 UTC and 2 April 10:00 UTC are both 2 April in Shanghai.
		w.earn(m, 30, expiresAt(time.Date(2026, 4, 1, 16, 30, 0, 0, time.UTC)))
		w.earn(m, 20, expiresAt(time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)))
		w.earn(m, 5, expiresAt(time.Date(2026, 4, 1, 15, 0, 0, 0, time.UTC))) // 1 April, 23:00 local
		w.earn(m, 7, pendingUntil(start.Add(24*time.Hour)), expiresAt(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)))
		r := w.do("GET", w.path("/members/%s/points", m), "viewer", nil)
		wantStatus(t, r, http.StatusOK, "")
		want := `{"available":55,"pending":7,"lifetime_earned":62,"expiring":[` +
			`{"points":5,"expires_at":"2026-04-01T15:59:59Z"},` +
			`{"points":50,"expires_at":"2026-04-02T15:59:59Z"},` +
			`{"points":7,"expires_at":"2026-05-01T15:59:59Z"}]}`
		if string(r.Body) != want {
			t.Fatalf("got %s, want %s", r.Body, want)
		}
	})
}

func TestHTTPCheckout(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWeb(t, db)
		m := w.member()
		w.earn(m, 3000)
		quotes := []struct {
			name          string
			perUnit, pct  int
			amount        int64
			points, cents int64
		}{
			{"the member's points are the limit", 100, 50, 10000, 3000, 3000},
			{"the share of the order is the limit", 100, 10, 10000, 1000, 1000},
			{"10 points a yuan", 10, 50, 10000, 500, 5000},
			{"1000 points a yuan keeps whole cents", 1000, 50, 555, 2770, 277},
			{"7 points a yuan rounds down to whole cents", 7, 100, 250, 14, 200},
			{"no deduction allowed", 100, 0, 10000, 0, 0},
		}
		for _, q := range quotes {
			t.Run(q.name, func(t *testing.T) {
				w.set("points_per_unit", q.perUnit)
				w.set("max_deduction_percent", q.pct)
				r := w.do("POST", w.path("/checkout/quote"), "viewer", map[string]any{"member_id": m, "order_amount_cents": q.amount})
				wantStatus(t, r, http.StatusOK, "")
				var got ledger.Quote
				r.JSON(t, &got)
				if got.MaxPoints != q.points || got.MaxDeductionCents != q.cents || got.PointsPerUnit != int64(q.perUnit) {
					t.Fatalf("got %+v, want %d points worth %d cents", got, q.points, q.cents)
				}
			})
		}

		w.set("hold_minutes", 10)
		r := w.do("POST", w.path("/checkout/holds"), "operator", map[string]any{"member_id": m, "order_id": "A-1", "points": 1000})
		wantStatus(t, r, http.StatusCreated, "")
		var h ledger.Hold
		r.JSON(t, &h)
		if h.Status != ledger.HoldHeld || h.Points != 1000 || !h.ExpiresAt.Equal(start.Add(10*time.Minute)) {
			t.Fatalf("hold: got %+v, want 1000 held for 10 minutes", h)
		}
		w.wantPoints(m, 2000, 0)
		r = w.do("POST", w.path("/checkout/holds/%s/capture", h.ID), "operator", nil)
		wantStatus(t, r, http.StatusOK, "")
		r.JSON(t, &h)
		if h.Status != ledger.HoldCaptured {
			t.Fatalf("capture: got %s, want captured", h.Status)
		}
		r = w.do("POST", w.path("/checkout/holds/%s/release", h.ID), "operator", nil)
		wantStatus(t, r, http.StatusConflict, "conflict")

		r = w.do("POST", w.path("/checkout/holds"), "operator", map[string]any{"member_id": m, "order_id": "A-2", "points": 500})
		wantStatus(t, r, http.StatusCreated, "")
		r.JSON(t, &h)
		for i := 0; i < 2; i++ {
			r = w.do("POST", w.path("/checkout/holds/%s/release", h.ID), "operator", nil)
			wantStatus(t, r, http.StatusOK, "")
			var got ledger.Hold
			r.JSON(t, &got)
			if got.Status != ledger.HoldReleased {
				t.Fatalf("release %d: got %s, want released", i+1, got.Status)
			}
			w.wantPoints(m, 2000, 0)
		}
		r = w.do("POST", w.path("/checkout/holds/%s/capture", h.ID), "operator", nil)
		wantStatus(t, r, http.StatusConflict, "conflict")

		r = w.do("POST", w.path("/checkout/holds"), "operator", map[string]any{"member_id": m, "order_id": "A-3", "points": 2000})
		wantStatus(t, r, http.StatusCreated, "")
		r.JSON(t, &h)
		r = w.do("POST", w.path("/members/%s/points/spend", m), "operator", map[string]any{"points": 1})
		wantStatus(t, r, http.StatusUnprocessableEntity, "insufficient_points")
		w.clock.Advance(11 * time.Minute)
		r = w.do("GET", w.path("/checkout/holds/%s", h.ID), "viewer", nil)
		wantStatus(t, r, http.StatusOK, "")
		r.JSON(t, &h)
		if h.Status != ledger.HoldExpired {
			t.Fatalf("after its time: got %s, want expired", h.Status)
		}
		r = w.do("POST", w.path("/checkout/holds/%s/capture", h.ID), "operator", nil)
		wantStatus(t, r, http.StatusConflict, "conflict")
		w.wantPoints(m, 2000, 0)
		w.checkInvariants(m)
	})
}

func TestHTTPTransfersAndCauses(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWeb(t, db)
		a, b := w.member(), w.member()
		w.earn(a, 100)
		body := map[string]any{"from_member_id": a, "to_member_id": b, "points": 40, "reason": "生日快乐"}
		r := w.do("POST", w.path("/points/transfers"), "operator", body)
		wantStatus(t, r, http.StatusConflict, "conflict")
		if !strings.Contains(r.Map(t)["error"].(map[string]any)["message"].(string), "turned off") {
			t.Fatalf("got %s, want a message saying transfers are off", r.Body)
		}
		w.set("transfers_enabled", true)
		r = w.do("POST", w.path("/points/transfers"), "operator", body)
		wantStatus(t, r, http.StatusCreated, "")
		var tr ledger.Transfer
		r.JSON(t, &tr)
		if tr.TransferOut.Kind != ledger.KindTransferOut || tr.TransferOut.MemberID != a || tr.TransferIn.Kind != ledger.KindTransferIn ||
			tr.TransferIn.MemberID != b || tr.TransferIn.Points != 40 || tr.Points.Available != 60 {
			t.Fatalf("transfer: got %+v, want 40 from a (60 left) to b", tr)
		}

		r = w.do("POST", w.path("/causes"), "operator", map[string]any{"name": "Trees"})
		wantStatus(t, r, http.StatusForbidden, "forbidden")
		r = w.do("POST", w.path("/causes"), "manager", map[string]any{"name": "Trees", "description": "One tree per 1000 points"})
		wantStatus(t, r, http.StatusCreated, "")
		var c ledger.Cause
		r.JSON(t, &c)
		r = w.do("POST", w.path("/causes/%s/donations", c.ID), "operator", map[string]any{"member_id": b, "points": 25})
		wantStatus(t, r, http.StatusCreated, "")
		var d ledger.Donation
		r.JSON(t, &d)
		if d.Entry.Points != -25 || d.Entry.Ref != "cause:"+c.ID || d.Cause.TotalPoints != 25 || d.Points.Available != 15 {
			t.Fatalf("donation: got %+v, want 25 given, 15 left", d)
		}
		r = w.do("GET", w.path("/causes"), "viewer", nil)
		wantStatus(t, r, http.StatusOK, "")
		var list httpx.PageBody[ledger.Cause]
		r.JSON(t, &list)
		if len(list.Items) != 1 || list.Items[0].TotalPoints != 25 {
			t.Fatalf("causes: got %+v, want Trees with 25", list)
		}
		w.checkInvariants(a)
		w.checkInvariants(b)
	})
}

func TestConcurrentSpendsNeverOverdraw(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWeb(t, db)
		m := w.member()
		w.earn(m, 200)
		statuses := make(chan int, 60)
		var wg sync.WaitGroup
		for i := 0; i < 60; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := w.do("POST", w.path("/members/%s/points/spend", m), "operator", map[string]any{"points": 10})
				statuses <- r.Status
			}()
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[200] != 20 || count[422] != 40 || len(count) != 2 {
			t.Fatalf("statuses: got %v, want 20 × 200 and 40 × 422", count)
		}
		w.wantPoints(m, 0, 0)
		w.checkInvariants(m)
	})
}

func TestConcurrentReplaysOfOneKeyMakeOneChange(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newWeb(t, db)
		m := w.member()
		w.earn(m, 200)
		const n = 20
		answers := make(chan *routertest.Response, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers <- w.do("POST", w.path("/members/%s/points/spend", m), "operator",
					map[string]any{"points": 30, "reason": "once"}, "Idempotency-Key", "spend-once")
			}()
		}
		wg.Wait()
		close(answers)
		var first *routertest.Response
		for r := range answers {
			if first == nil {
				first = r
			}
			if r.Status != http.StatusOK || string(r.Body) != string(first.Body) {
				t.Fatalf("answers differ: got %d %s, want 200 %s", r.Status, r.Body, first.Body)
			}
		}
		w.wantPoints(m, 170, 0)
		r := w.do("POST", w.path("/members/%s/points/spend", m), "operator",
			map[string]any{"points": 31, "reason": "once"}, "Idempotency-Key", "spend-once")
		wantStatus(t, r, http.StatusConflict, "idempotency_key_reused")
		w.wantPoints(m, 170, 0)
		w.checkInvariants(m)
	})
}
