package mall_test

import (
	"sync"
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/mall"
)

// chiSquareCritical holds the chi-square critical values at significance
// 0.0001, by degrees of freedom: a fair draw fails the test once in ten
// thousand runs, while the wrong-odds control below lands near 200, far
// above them.
var chiSquareCritical = map[int]float64{1: 15.137, 2: 18.421, 3: 21.108, 4: 23.513, 5: 25.745, 6: 27.856}

// chiSquare is Pearson's statistic of observed counts against weights in
// basis points.
func chiSquare(observed []int64, weightsBP []int) float64 {
	var n int64
	for _, o := range observed {
		n += o
	}
	var x float64
	for i, o := range observed {
		exp := float64(n) * float64(weightsBP[i]) / 10000
		d := float64(o) - exp
		x += d * d / exp
	}
	return x
}

func TestChiSquareRejectsWrongOdds(t *testing.T) {
	cases := []struct {
		name     string
		observed []int64
		weights  []int
		reject   bool
	}{
		{"fair coin", []int64{5050, 4950}, []int{5000, 5000}, false},
		{"loaded coin", []int64{5300, 4700}, []int{5000, 5000}, true},
		{"exact", []int64{200, 300, 100, 400}, []int{2000, 3000, 1000, 4000}, false},
		{"swapped", []int64{300, 200, 100, 400}, []int{2000, 3000, 1000, 4000}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := chiSquare(tc.observed, tc.weights)
			if got := x > chiSquareCritical[len(tc.weights)-1]; got != tc.reject {
				t.Fatalf("chi-square %.2f: got reject %v, want %v", x, got, tc.reject)
			}
		})
	}
}

// lottery creates a lottery item with prizes and returns its id.
func (e *env) lottery(fields map[string]any, lottery map[string]any) string {
	e.t.Helper()
	body := map[string]any{"name": "幸运转盘", "kind": "lottery", "points_price": 10, "stock": 100000, "lottery": lottery}
	for k, v := range fields {
		body[k] = v
	}
	return e.must(201, "POST", "/mall/items", platform.RoleManager, body)["id"].(string)
}

func (e *env) draw(lotteryID, memberID string) mall.Draw {
	e.t.Helper()
	d, err := e.svc.DrawLottery(e.ctx, lotteryID, mall.DrawInput{MemberID: memberID})
	if err != nil {
		e.t.Fatalf("draw: %v", err)
	}
	return d
}

// TestLotteryOdds draws many times and checks the outcomes against the
// weights with a chi-square test; the same counts must fail against wrong
// weights, so the test has teeth. It also checks that each recorded draw
// is explained by its random number and weights, and that points add up.
func TestLotteryOdds(t *testing.T) {
	const draws = 1000 // enough for the test to see odds off by a few percent
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		tpl := e.template(nil)
		mug := e.item(map[string]any{"kind": "physical", "name": "mug"})
		id := e.lottery(nil, map[string]any{"prizes": []map[string]any{
			{"name": "50 points", "kind": "points", "points": 50, "weight_bp": 2000, "stock": draws},
			{"name": "coupon", "kind": "coupon", "coupon_template_id": tpl, "weight_bp": 3000, "stock": draws},
			{"name": "mug", "kind": "item", "item_id": mug, "weight_bp": 1000, "stock": draws},
		}})
		// Several members share the draws, so no one ledger grows long.
		ms := make([]string, 20)
		for i := range ms {
			ms[i] = e.member(10 * draws / int64(len(ms)))
		}
		// Members draw side by side, as they would, which also lets the
		// database overlap the draws' work.
		results := make([]mall.Draw, draws)
		var wg sync.WaitGroup
		errs := make(chan error, len(ms))
		for w := range ms {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < draws; i += len(ms) {
					d, err := e.svc.DrawLottery(e.ctx, id, mall.DrawInput{MemberID: ms[w]})
					if err != nil {
						errs <- err
						return
					}
					results[i] = d
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("draw: %v", err)
		}
		counts := map[string]int64{}
		for i, d := range results {
			if d.FallbackReason != "" {
				t.Fatalf("draw %d fell back: %s", i, d.FallbackReason)
			}
			w := d.Weights
			if len(w) != 4 || w[3].Kind != "nothing" || w[3].WeightBP != 4000 {
				t.Fatalf("weights: got %+v, want three prizes and nothing at 4000", w)
			}
			var picked mall.DrawWeight
			for _, x := range w {
				if d.RandomBP >= x.From && d.RandomBP < x.To {
					picked = x
				}
			}
			if picked.Kind != d.PrizeKind || picked.PrizeID != d.DrawnPrizeID {
				t.Fatalf("draw %d: random %d selects %+v, but the draw records %s %s", i, d.RandomBP, picked, d.PrizeKind, d.DrawnPrizeID)
			}
			counts[d.PrizeKind]++
		}
		observed := []int64{counts["points"], counts["coupon"], counts["item"], counts["nothing"]}
		right := []int{2000, 3000, 1000, 4000}
		if x := chiSquare(observed, right); x > chiSquareCritical[3] {
			t.Fatalf("observed %v against weights %v: chi-square %.2f above %.3f", observed, right, x, chiSquareCritical[3])
		}
		wrong := []int{2500, 2500, 2500, 2500}
		if x := chiSquare(observed, wrong); x <= chiSquareCritical[3] {
			t.Fatalf("observed %v against wrong weights %v: chi-square %.2f not above %.3f", observed, wrong, x, chiSquareCritical[3])
		}
		var left int64
		for _, m := range ms {
			left += e.points(m)
		}
		if want := 50 * counts["points"]; left != want {
			t.Fatalf("points left: got %d, want %d (every draw paid, every points prize credited)", left, want)
		}
		if got := e.count("coupons", "source = ?", "lottery"); got != counts["coupon"] {
			t.Fatalf("coupons: got %d, want %d", got, counts["coupon"])
		}
		if got := e.count("mall_redemptions", "source = ?", "lottery"); got != counts["item"] {
			t.Fatalf("prize redemptions: got %d, want %d", got, counts["item"])
		}
		if got := e.count("mall_lottery_draws", "item_id = ?", id); got != draws {
			t.Fatalf("draws recorded: got %d, want %d", got, draws)
		}
	})
}

func TestLotteryLimits(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		t.Run("a prize out of stock falls back to nothing", func(t *testing.T) {
			e := newEnv(t, db)
			id := e.lottery(nil, map[string]any{"prizes": []map[string]any{{"name": "jackpot", "kind": "points", "points": 500, "weight_bp": 10000, "stock": 2}}})
			m := e.member(100)
			for i := 0; i < 2; i++ {
				if d := e.draw(id, m); !d.Won || d.Award.Points != 500 {
					t.Fatalf("draw %d: got %+v, want 500 points", i, d)
				}
			}
			d := e.draw(id, m)
			if d.Won || d.PrizeKind != "nothing" || d.FallbackReason != mall.FallbackOutOfStock || d.DrawnPrizeID == "" {
				t.Fatalf("third draw: got %+v, want nothing because the drawn prize is out of stock", d)
			}
			prizes := e.must(200, "GET", "/mall/items/"+id, platform.RoleViewer, nil)["lottery"].(map[string]any)["prizes"].([]any)
			if num(prizes[0].(map[string]any)["stock"]) != 0 {
				t.Fatalf("prize stock: got %v, want 0", prizes[0])
			}
			if got := e.points(m); got != 100-30+1000 {
				t.Fatalf("points: got %d, want %d", got, 100-30+1000)
			}
		})
		t.Run("a deactivated coupon prize falls back to nothing", func(t *testing.T) {
			e := newEnv(t, db)
			tpl := e.template(nil)
			id := e.lottery(nil, map[string]any{"prizes": []map[string]any{{"name": "coupon", "kind": "coupon", "coupon_template_id": tpl, "weight_bp": 10000, "stock": 5}}})
			m := e.member(100)
			if d := e.draw(id, m); !d.Won || d.Award.Coupon == nil {
				t.Fatalf("first draw: got %+v, want a coupon", d)
			}
			e.must(200, "PATCH", "/coupon-templates/"+tpl, platform.RoleManager, map[string]any{"active": false})
			if d := e.draw(id, m); d.Won || d.FallbackReason != mall.FallbackUnavailable {
				t.Fatalf("second draw: got %+v, want nothing because the template is inactive", d)
			}
		})
		t.Run("daily budget by prizes and by points", func(t *testing.T) {
			e := newEnv(t, db)
			byCount := e.lottery(nil, map[string]any{"daily_prize_limit": 1, "prizes": []map[string]any{{"name": "p", "kind": "points", "points": 5, "weight_bp": 10000, "stock": 10}}})
			byPoints := e.lottery(nil, map[string]any{"daily_points_limit": 100, "prizes": []map[string]any{{"name": "p", "kind": "points", "points": 60, "weight_bp": 10000, "stock": 10}}})
			m := e.member(1000)
			for _, id := range []string{byCount, byPoints} {
				if d := e.draw(id, m); !d.Won {
					t.Fatalf("first draw: got %+v, want a prize", d)
				}
				if d := e.draw(id, m); d.Won || d.FallbackReason != mall.FallbackBudget {
					t.Fatalf("second draw: got %+v, want nothing because the day's budget is spent", d)
				}
			}
			e.clock.Advance(14 * time.Hour) // the next day in Shanghai
			for _, id := range []string{byCount, byPoints} {
				if d := e.draw(id, m); !d.Won {
					t.Fatalf("next day: got %+v, want a prize", d)
				}
			}
			// A budget refusal leaves the prize's stock alone.
			prizes := e.must(200, "GET", "/mall/items/"+byCount, platform.RoleViewer, nil)["lottery"].(map[string]any)["prizes"].([]any)
			if num(prizes[0].(map[string]any)["stock"]) != 8 {
				t.Fatalf("prize stock: got %v, want 8", prizes[0])
			}
		})
		t.Run("refusals", func(t *testing.T) {
			e := newEnv(t, db)
			prize := []map[string]any{{"name": "p", "kind": "points", "points": 1, "weight_bp": 5000, "stock": 10}}
			id := e.lottery(map[string]any{"stock": 2, "per_member_daily_limit": 1}, map[string]any{"prizes": prize})
			poor, rich, third := e.member(9), e.member(100), e.member(100)
			draw := func(lottery, m string) *routerResponse {
				return e.do("POST", "/mall/lottery/"+lottery+"/draw", platform.RoleOperator, map[string]any{"member_id": m})
			}
			wantError(t, draw(id, poor), 422, platform.EInsufficientPoints)
			if e.stock(id) != 2 || e.count("mall_lottery_draws", "") != 0 || e.points(poor) != 9 {
				t.Fatalf("a refused draw changed something")
			}
			if r := draw(id, rich); r.Status != 201 {
				t.Fatalf("draw: got %d %s", r.Status, r.Body)
			}
			d := wantError(t, draw(id, rich), 409, platform.EConflict)
			if d["limit"] != "per_member_daily_limit" {
				t.Fatalf("details: got %v, want the daily limit", d)
			}
			if r := draw(id, third); r.Status != 201 {
				t.Fatalf("draw: got %d %s", r.Status, r.Body)
			}
			e.clock.Advance(24 * time.Hour)
			wantError(t, draw(id, rich), 409, platform.EOutOfStock)
			plain := e.item(nil)
			wantError(t, draw(plain, rich), 404, platform.ENotFound)
			wantError(t, e.redeem(rich, id, 1), 422, platform.EValidation)
			wantError(t, draw(id, ""), 422, platform.EValidation)
			list := e.must(200, "GET", "/mall/lottery/"+id+"/draws?member_id="+rich, platform.RoleViewer, nil)["items"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["weights"] == nil {
				t.Fatalf("draws of the member: got %v, want one with its weights", list)
			}
		})
		t.Run("an item prize and its cancellation", func(t *testing.T) {
			e := newEnv(t, db)
			mug := e.item(map[string]any{"kind": "physical", "name": "mug", "stock": 0})
			id := e.lottery(nil, map[string]any{"prizes": []map[string]any{{"name": "mug", "kind": "item", "item_id": mug, "weight_bp": 10000, "stock": 1}}})
			m := e.member(100)
			r := e.do("POST", "/mall/lottery/"+id+"/draw", platform.RoleOperator, map[string]any{"member_id": m, "shipping_address": address}, "Idempotency-Key", "spin-1")
			if r.Status != 201 {
				t.Fatalf("draw: got %d %s", r.Status, r.Body)
			}
			again := e.do("POST", "/mall/lottery/"+id+"/draw", platform.RoleOperator, map[string]any{"member_id": m, "shipping_address": address}, "Idempotency-Key", "spin-1")
			if string(again.Body) != string(r.Body) || e.points(m) != 90 {
				t.Fatalf("replay: got %s and %d points, want the first answer and 90 points", again.Body, e.points(m))
			}
			rid := r.Map(t)["award"].(map[string]any)["redemption_id"].(string)
			red := e.must(200, "GET", "/mall/redemptions/"+rid, platform.RoleViewer, nil)
			if red["status"] != "pending" || red["source"] != "lottery" || red["shipping_address"] == nil {
				t.Fatalf("prize redemption: got %v, want pending from the lottery with the address", red)
			}
			e.must(200, "POST", "/mall/redemptions/"+rid+"/cancel", platform.RoleOperator, nil)
			prizes := e.must(200, "GET", "/mall/items/"+id, platform.RoleViewer, nil)["lottery"].(map[string]any)["prizes"].([]any)
			if num(prizes[0].(map[string]any)["stock"]) != 1 || e.stock(mug) != 0 || e.points(m) != 90 {
				t.Fatalf("after cancelling the prize: prize %v, mug stock %d, points %d; want prize stock 1, 0, 90", prizes[0], e.stock(mug), e.points(m))
			}
		})
	})
}
