package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestEvaluateAmountAndTierMultiplier(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "Asia/Shanghai")
		r := f.createOne(t, `{"template":"points_per_amount"}`)
		if r.Points != "event.attributes.amount_cents / 1000" || r.Growth != "event.attributes.amount_cents / 100" {
			t.Fatalf("expansion: got points %q growth %q", r.Points, r.Growth)
		}
		for _, c := range []struct {
			name       string
			amount     any
			permille   int64
			wantPoints int64
			wantGrowth int64
		}{
			{"integer division, not 12.8", json.Number("12800"), 1000, 12, 128},
			{"a float64 that is whole", float64(12800), 1000, 12, 128},
			{"1.5x rounds down", json.Number("12800"), 1500, 18, 128},
			{"1.25x of 13 is 16.25", json.Number("13000"), 1250, 16, 130},
			{"0 means 1x", json.Number("13000"), 0, 13, 130},
			{"under 10 yuan gives growth only", json.Number("999"), 2000, 0, 9},
		} {
			t.Run(c.name, func(t *testing.T) {
				in := Input{EventType: EventOrderPaid, Attributes: NormalizeAttributes(map[string]any{"amount_cents": c.amount}),
					Member: MemberFacts{ID: "m1"}, Now: f.clk.Now()}
				awards, errs := f.evaluate(t, in, c.permille, nil)
				if len(errs) != 0 {
					t.Fatalf("got errors %v, want none", errs)
				}
				if len(awards) != 1 {
					t.Fatalf("got %d awards, want 1", len(awards))
				}
				a := awards[0]
				if a.Points != c.wantPoints || a.Growth != c.wantGrowth || a.RuleID != r.ID || a.RuleName != "1 point per 10 yuan" {
					t.Fatalf("got %+v, want %d points and %d growth from %s", a, c.wantPoints, c.wantGrowth, r.ID)
				}
			})
		}
		t.Run("other event types don't match", func(t *testing.T) {
			awards, _ := f.evaluate(t, Input{EventType: EventCheckIn, Attributes: map[string]any{"amount_cents": int64(5000)}}, 1000, nil)
			if len(awards) != 0 {
				t.Fatalf("got %v, want no awards", awards)
			}
		})
	})
}

// TestEvaluateDailyLimitInTenantZone checks that a day is the tenant's day:
// in Asia/Shanghai (UTC+8) a new day starts at 16:00 UTC.
func TestEvaluateDailyLimitInTenantZone(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "Asia/Shanghai")
		f.createOne(t, `{"template":"fixed_points","params":{"event":"review_posted","points":10,"daily_cap_points":25}}`)
		usage := &memUsage{}
		steps := []struct {
			now        string
			permille   int64
			wantPoints int64
			wantCapped bool
		}{
			{"2026-11-22T01:00:00Z", 1000, 10, false}, // 09:00 in Shanghai
			{"2026-11-22T02:00:00Z", 1000, 10, false},
			{"2026-11-22T03:00:00Z", 1000, 5, true},
			{"2026-11-22T04:00:00Z", 1000, 0, false},  // used up: no award at all
			{"2026-11-22T15:59:59Z", 1000, 0, false},  // 23:59:59 in Shanghai
			{"2026-11-22T16:00:00Z", 1500, 15, false}, // 00:00 on the 23rd in Shanghai, still the 22nd in UTC
			{"2026-11-22T17:00:00Z", 1500, 10, true},
		}
		for i, s := range steps {
			now := mustTime(t, s.now)
			awards, errs := f.evaluate(t, Input{EventType: EventReviewPosted, Member: MemberFacts{ID: "m1"}, Now: now}, s.permille, usage)
			if len(errs) != 0 {
				t.Fatalf("step %d: got errors %v", i, errs)
			}
			points, _ := total(awards)
			if points != s.wantPoints {
				t.Fatalf("step %d at %s: got %d points, want %d", i, s.now, points, s.wantPoints)
			}
			if len(awards) == 1 && awards[0].Capped != s.wantCapped {
				t.Fatalf("step %d: got capped %v, want %v (note %q)", i, awards[0].Capped, s.wantCapped, awards[0].Note)
			}
			if s.wantCapped && !strings.Contains(awards[0].Note, "per_member_per_day limit 25") {
				t.Fatalf("step %d: got note %q, want it to name the limit", i, awards[0].Note)
			}
			usage.store("m1", now, awards)
		}
		// Another member has a limit of their own.
		awards, _ := f.evaluate(t, Input{EventType: EventReviewPosted, Member: MemberFacts{ID: "m2"}, Now: mustTime(t, "2026-11-22T17:00:00Z")}, 1000, usage)
		if p, _ := total(awards); p != 10 {
			t.Fatalf("other member: got %d points, want 10", p)
		}
	})
}

func TestEvaluateWeekMonthAndRuleLimits(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "Asia/Shanghai")
		week := f.createOne(t, `{"name":"weekly","event":"check_in","points":"20","growth":"2","limits":{"per_member_per_week":50}}`)
		month := f.createOne(t, `{"name":"monthly","event":"content_shared","points":"30","limits":{"per_member_per_month":70}}`)
		perRule := f.createOne(t, `{"name":"first come","event":"review_posted","points":"40","limits":{"per_rule_per_day":100}}`)
		// Monday 2026-11-23 00:00 in Shanghai is 2026-11-22T16:00Z; December
		// starts at 2026-11-30T16:00Z.
		cases := []struct {
			name       string
			event      string
			history    []usageRow
			now        string
			wantPoints int64
			wantGrowth int64
		}{
			{"week: 40 of 50 used, 10 left", EventCheckIn,
				[]usageRow{{week.ID, "m1", 20, mustTime(t, "2026-11-23T01:00:00Z")}, {week.ID, "m1", 20, mustTime(t, "2026-11-24T01:00:00Z")}},
				"2026-11-25T01:00:00Z", 10, 2},
			{"week: last week's awards don't count", EventCheckIn,
				[]usageRow{{week.ID, "m1", 20, mustTime(t, "2026-11-22T15:00:00Z")}, {week.ID, "m1", 20, mustTime(t, "2026-11-22T15:30:00Z")},
					{week.ID, "m1", 20, mustTime(t, "2026-11-22T15:59:00Z")}},
				"2026-11-22T16:00:00Z", 20, 2},
			{"week: used up, no growth either", EventCheckIn,
				[]usageRow{{week.ID, "m1", 50, mustTime(t, "2026-11-23T01:00:00Z")}},
				"2026-11-25T01:00:00Z", 0, 0},
			{"month: 60 of 70 used", EventContentShared,
				[]usageRow{{month.ID, "m1", 60, mustTime(t, "2026-11-01T00:00:00Z")}},
				"2026-11-30T15:59:00Z", 10, 0},
			{"month: a new month in Shanghai", EventContentShared,
				[]usageRow{{month.ID, "m1", 60, mustTime(t, "2026-11-01T00:00:00Z")}},
				"2026-11-30T16:00:00Z", 30, 0},
			{"per rule: other members used 80 of 100", EventReviewPosted,
				[]usageRow{{perRule.ID, "m2", 40, mustTime(t, "2026-11-25T01:00:00Z")}, {perRule.ID, "m3", 40, mustTime(t, "2026-11-25T02:00:00Z")}},
				"2026-11-25T03:00:00Z", 20, 0},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				usage := &memUsage{awards: c.history}
				awards, errs := f.evaluate(t, Input{EventType: c.event, Member: MemberFacts{ID: "m1"}, Now: mustTime(t, c.now)}, 1000, usage)
				if len(errs) != 0 {
					t.Fatalf("got errors %v", errs)
				}
				p, g := total(awards)
				if p != c.wantPoints || g != c.wantGrowth {
					t.Fatalf("got %d points and %d growth (%+v), want %d and %d", p, g, awards, c.wantPoints, c.wantGrowth)
				}
			})
		}
	})
}

func TestEvaluatePriorityExclusiveAndWindow(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "Asia/Shanghai")
		base := f.createOne(t, `{"template":"points_per_amount"}`)
		bonus := f.createOne(t, `{"name":"big order bonus","event":"order_paid","condition":"event.attributes.amount_cents >= 100000","points":"100"}`)
		vip := f.createOne(t, `{"name":"gold bonus","event":"order_paid","condition":"member.tier == \"gold\"","points":"5","priority":50}`)
		double := f.createOne(t, `{"template":"double_points","params":{"starts_at":"2026-11-11T00:00:00+08:00","ends_at":"2026-11-12T00:00:00+08:00","min_amount_cents":5000}}`)
		if double.Priority != 100 || !double.Exclusive || double.StartsAt == nil || !double.StartsAt.Equal(mustTime(t, "2026-11-10T16:00:00Z")) {
			t.Fatalf("double points expansion: got %+v", double)
		}
		type want struct {
			rule   string
			points int64
		}
		cases := []struct {
			name     string
			occurred string
			amount   int64
			tier     string
			want     []want
		}{
			{"outside the window, higher priority first", "2026-11-10T12:00:00Z", 120000, "gold",
				[]want{{vip.ID, 5}, {base.ID, 120}, {bonus.ID, 100}}},
			{"inside the window the exclusive rule stops the rest", "2026-11-11T02:00:00Z", 120000, "gold",
				[]want{{double.ID, 240}}},
			{"an exclusive rule whose condition fails stops nothing", "2026-11-11T02:00:00Z", 3000, "",
				[]want{{base.ID, 3}}},
			{"the window's end is exclusive", "2026-11-11T16:00:00Z", 12800, "",
				[]want{{base.ID, 12}}},
			{"the window's start is inclusive", "2026-11-10T16:00:00Z", 12800, "",
				[]want{{double.ID, 24}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := Input{EventType: EventOrderPaid, OccurredAt: mustTime(t, c.occurred),
					Attributes: map[string]any{"amount_cents": c.amount}, Member: MemberFacts{ID: "m1", Tier: c.tier},
					Now: mustTime(t, "2026-11-12T01:00:00Z")}
				awards, errs := f.evaluate(t, in, 1000, nil)
				if len(errs) != 0 {
					t.Fatalf("got errors %v", errs)
				}
				var got []want
				for _, a := range awards {
					got = append(got, want{a.RuleID, a.Points})
				}
				if fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			})
		}
		t.Run("equal priority runs in creation order", func(t *testing.T) {
			second := f.createOne(t, `{"name":"second","event":"custom_thing","points":"1"}`)
			f.clk.Advance(-time.Hour) // an older created_at, though created later
			first := f.createOne(t, `{"name":"first","event":"custom_thing","points":"2"}`)
			awards, _ := f.evaluate(t, Input{EventType: "custom_thing"}, 1000, nil)
			if len(awards) != 2 || awards[0].RuleID != first.ID || awards[1].RuleID != second.ID {
				t.Fatalf("got %+v, want %s then %s", awards, first.ID, second.ID)
			}
		})
	})
}

// checkinStreaks computes the streak including each day, as the events
// service does: consecutive days count up, a missed day starts again at 1.
func checkinStreaks(days []time.Time) []int64 {
	out := make([]int64, len(days))
	for i, d := range days {
		out[i] = 1
		if i > 0 && d.Sub(days[i-1]) == 24*time.Hour {
			out[i] = out[i-1] + 1
		}
	}
	return out
}

func TestEvaluateCheckinStreakTemplate(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "Asia/Shanghai")
		r := f.createOne(t, `{"template":"checkin_streak"}`)
		if r.Points != "[1, 2, 3, 5, 8, 13, 20][(member.checkin_streak - 1) % 7]" {
			t.Fatalf("got points %q", r.Points)
		}
		run := func(t *testing.T, streak int64) int64 {
			t.Helper()
			awards, errs := f.evaluate(t, Input{EventType: EventCheckIn, Member: MemberFacts{ID: "m1", CheckinStreak: streak}}, 1000, nil)
			if len(errs) != 0 {
				t.Fatalf("streak %d: got errors %v", streak, errs)
			}
			p, _ := total(awards)
			return p
		}
		t.Run("eight check-ins with a missed day", func(t *testing.T) {
			// Nov 1-4, no check-in on Nov 5, then Nov 6-9.
			var days []time.Time
			for _, d := range []int{1, 2, 3, 4, 6, 7, 8, 9} {
				days = append(days, time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC))
			}
			streaks := checkinStreaks(days)
			want := []int64{1, 2, 3, 5, 1, 2, 3, 5}
			for i, s := range streaks {
				if got := run(t, s); got != want[i] {
					t.Fatalf("day %s (streak %d): got %d points, want %d", days[i].Format(time.DateOnly), s, got, want[i])
				}
			}
		})
		t.Run("the cycle repeats", func(t *testing.T) {
			for streak, want := range map[int64]int64{7: 20, 8: 1, 9: 2, 14: 20, 15: 1, 0: 0} {
				if got := run(t, streak); got != want {
					t.Fatalf("streak %d: got %d points, want %d", streak, got, want)
				}
			}
		})
	})
}

func TestEvaluateReferralBothSides(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "Asia/Shanghai")
		rules := f.create(t, `{"template":"referral","params":{"referrer_points":500,"referee_points":200,"referrer_monthly_cap_points":1000}}`)
		if len(rules) != 2 {
			t.Fatalf("got %d rules, want 2", len(rules))
		}
		usage := &memUsage{}
		for i, c := range []struct {
			member, role string
			want         int64
		}{
			{"referrer", "referrer", 500},
			{"new1", "referee", 200},
			{"referrer", "referrer", 500},
			{"new2", "referee", 200},
			{"referrer", "referrer", 0}, // the monthly cap of 1000 is used up
			{"new3", "referee", 200},
			{"someone", "bystander", 0},
		} {
			now := epoch.Add(time.Duration(i) * time.Hour)
			awards, errs := f.evaluate(t, Input{EventType: EventReferralCompleted, Member: MemberFacts{ID: c.member},
				Attributes: map[string]any{"role": c.role}, Now: now}, 1000, usage)
			if len(errs) != 0 {
				t.Fatalf("step %d: got errors %v", i, errs)
			}
			if p, _ := total(awards); p != c.want {
				t.Fatalf("step %d (%s as %s): got %d points, want %d", i, c.member, c.role, p, c.want)
			}
			usage.store(c.member, now, awards)
		}
	})
}

func TestEvaluateSkipsAndReportsFailingRules(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "UTC")
		good := f.createOne(t, `{"name":"good","event":"order_paid","points":"event.attributes.amount_cents / 1000"}`)
		missing := f.createOne(t, `{"name":"missing key","event":"order_paid","points":"event.attributes.coupon_cents / 100"}`)
		divZero := f.createOne(t, `{"name":"divide by zero","event":"order_paid","points":"event.attributes.amount_cents / event.attributes.zero"}`)
		negative := f.createOne(t, `{"name":"negative","event":"order_paid","points":"0 - event.attributes.amount_cents"}`)
		fraction := f.createOne(t, `{"name":"fraction","event":"order_paid","points":"event.attributes.ratio"}`)
		notBool := f.createOne(t, `{"name":"not a bool","event":"order_paid","condition":"event.attributes.amount_cents","points":"1"}`)
		growth := f.createOne(t, `{"name":"growth too","event":"order_paid","growth":"event.attributes.amount_cents / 100"}`)

		in := Input{EventType: EventOrderPaid, Attributes: NormalizeAttributes(map[string]any{
			"amount_cents": json.Number("5000"), "zero": json.Number("0"), "ratio": json.Number("1.5")})}
		awards, errs := f.evaluate(t, in, 1000, nil)
		if len(awards) != 2 || awards[0].RuleID != good.ID || awards[0].Points != 5 || awards[1].RuleID != growth.ID || awards[1].Growth != 50 {
			t.Fatalf("got awards %+v, want 5 points from %s and 50 growth from %s", awards, good.ID, growth.ID)
		}
		want := []struct{ rule, msg string }{
			{missing.ID, "points: no such key: coupon_cents"},
			{divZero.ID, "points: division by zero"},
			{negative.ID, "points: evaluated to -5000; rules award 0 or more"},
			{fraction.ID, "points: evaluated to the fractional number 1.5; use integer arithmetic"},
			{notBool.ID, "condition: evaluated to int 5000, want true or false"},
		}
		if len(errs) != len(want) {
			t.Fatalf("got errors %+v, want %d", errs, len(want))
		}
		for i, w := range want {
			if errs[i].RuleID != w.rule || !strings.HasPrefix(errs[i].Message, w.msg) {
				t.Fatalf("error %d: got %+v, want rule %s with %q", i, errs[i], w.rule, w.msg)
			}
		}
	})
}

// TestEvaluateStopsLongExpressions checks both run-time guards: the cost
// budget and the deadline. The rules pass the save-time estimate, which
// assumes strings of at most 1000 characters and lists of at most 1000
// elements; the events bring far more.
func TestEvaluateStopsLongExpressions(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		t.Run("cost budget", func(t *testing.T) {
			f := newFixture(t, db, "UTC")
			f.svc.EvalTimeout = time.Minute // so only the budget can stop it, even under -race
			slow := f.createOne(t, `{"name":"slow","event":"bulk_import","condition":"!event.attributes.note.contains('spam')","points":"1"}`)
			fine := f.createOne(t, `{"name":"fine","event":"bulk_import","points":"7"}`)
			in := Input{EventType: "bulk_import", Attributes: map[string]any{"note": strings.Repeat("a", 20_000_000)}}
			awards, errs := f.evaluate(t, in, 1000, nil)
			if len(awards) != 1 || awards[0].RuleID != fine.ID {
				t.Fatalf("got awards %+v, want only %s", awards, fine.ID)
			}
			if len(errs) != 1 || errs[0].RuleID != slow.ID ||
				errs[0].Message != "condition: stopped: the expression used more than its budget of 1000000 cost units; avoid loops over large lists" {
				t.Fatalf("got errors %+v, want the budget error of %s", errs, slow.ID)
			}
		})
		t.Run("deadline", func(t *testing.T) {
			f := newFixture(t, db, "UTC")
			f.svc.CostLimit = 1 << 40 // so only the deadline can stop it
			f.svc.EvalTimeout = 5 * time.Millisecond
			slow := f.createOne(t, `{"name":"slow","event":"bulk_import","points":"event.attributes.items.map(i, i * 2).filter(i, i > 1).size()"}`)
			items := make([]any, 300_000)
			for i := range items {
				items[i] = int64(i)
			}
			in := Input{EventType: "bulk_import", Attributes: map[string]any{"items": items}}
			start := time.Now()
			awards, errs := f.evaluate(t, in, 1000, nil)
			if len(awards) != 0 || len(errs) != 1 || errs[0].RuleID != slow.ID ||
				errs[0].Message != "points: stopped after 5ms: the expression ran too long" {
				t.Fatalf("got awards %+v and errors %+v, want the deadline error of %s", awards, errs, slow.ID)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("evaluation took %s; the deadline did not stop it", d)
			}
		})
	})
}

func TestEvaluateNeedsTenant(t *testing.T) {
	svc := NewService(nil, nil, nil)
	_, _, err := svc.Evaluate(t.Context(), Input{EventType: EventOrderPaid}, 1000, nil)
	if err == nil {
		t.Fatal("got no error without a tenant in the context")
	}
}

func TestEvaluateCachesProgramsPerVersion(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, "UTC")
		r := f.createOne(t, `{"name":"amount","event":"order_paid","points":"event.attributes.amount_cents / 1000"}`)
		in := Input{EventType: EventOrderPaid, Attributes: map[string]any{"amount_cents": int64(12800)}}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				awards, errs, err := f.svc.Evaluate(f.ctx, in, 1000, nil)
				if err != nil || len(errs) != 0 || len(awards) != 1 || awards[0].Points != 12 {
					t.Errorf("got %+v, %+v, %v; want 12 points", awards, errs, err)
				}
			})
		}
		wg.Wait()
		p1, ok := f.svc.cache.get(f.tenant, r.ID, 1)
		if !ok {
			t.Fatal("version 1 is not cached")
		}
		points := "event.attributes.amount_cents / 100"
		if _, err := f.svc.UpdateRule(f.ctx, r.ID, RuleFields{Points: &points}); err != nil {
			t.Fatal(err)
		}
		awards, _ := f.evaluate(t, in, 1000, nil)
		if len(awards) != 1 || awards[0].Points != 128 {
			t.Fatalf("after the update: got %+v, want 128 points", awards)
		}
		p2, ok := f.svc.cache.get(f.tenant, r.ID, 2)
		if !ok || p2 == p1 {
			t.Fatal("version 2 did not replace version 1 in the cache")
		}
		if _, ok := f.svc.cache.get(f.tenant, r.ID, 1); ok {
			t.Fatal("version 1 is still cached")
		}
	})
}

func TestProgramCacheForgetsLeastRecentlyUsed(t *testing.T) {
	c := newProgramCache(2)
	a, b, d := &program{}, &program{}, &program{}
	c.put("t", "a", 1, a)
	c.put("t", "b", 1, b)
	if _, ok := c.get("t", "a", 1); !ok { // a is now the most recent
		t.Fatal("a is not cached")
	}
	c.put("t", "d", 1, d)
	if _, ok := c.get("t", "b", 1); ok {
		t.Fatal("b should have been forgotten")
	}
	if got, ok := c.get("t", "a", 1); !ok || got != a {
		t.Fatal("a should still be cached")
	}
	c.put("t", "a", 0, &program{}) // an older version never replaces a newer one
	if got, _ := c.get("t", "a", 1); got != a {
		t.Fatal("an older version replaced a newer one")
	}
	if c.len() != 2 {
		t.Fatalf("got %d entries, want 2", c.len())
	}
}

func TestPeriodsOf(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		now, day, week, month string
	}{
		// Sunday 23:30 in Shanghai belongs to the week that began on Monday the 16th.
		{"2026-11-22T15:30:00Z", "2026-11-21T16:00:00Z", "2026-11-15T16:00:00Z", "2026-10-31T16:00:00Z"},
		// Monday 00:00 in Shanghai starts a new week.
		{"2026-11-22T16:00:00Z", "2026-11-22T16:00:00Z", "2026-11-22T16:00:00Z", "2026-10-31T16:00:00Z"},
		{"2026-11-30T16:00:00Z", "2026-11-30T16:00:00Z", "2026-11-29T16:00:00Z", "2026-11-30T16:00:00Z"},
	} {
		p := periodsOf(mustTime(t, c.now), sh)
		got := []string{p.day.UTC().Format(time.RFC3339), p.week.UTC().Format(time.RFC3339), p.month.UTC().Format(time.RFC3339)}
		if want := []string{c.day, c.week, c.month}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v, want %v", c.now, got, want)
		}
	}
}

func TestMultiply(t *testing.T) {
	for _, c := range []struct {
		points, permille, want int64
		fails                  bool
	}{
		{12, 1000, 12, false}, {12, 1500, 18, false}, {13, 1250, 16, false}, {1, 999, 0, false},
		{1 << 62, 4000, 0, true},
	} {
		got, err := multiply(c.points, c.permille)
		if (err != nil) != c.fails || got != c.want {
			t.Fatalf("multiply(%d, %d): got %d, %v; want %d (fails %v)", c.points, c.permille, got, err, c.want, c.fails)
		}
	}
}
