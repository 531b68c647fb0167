package tiers_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/members"
	"jifen/tenants/tiers"
)

// api serves the tier and member routes for the env's tenant.
type api struct {
	*routertest.Env
	base string
}

func (e *env) api(t *testing.T) *api {
	t.Helper()
	r := routertest.New(t, e.db)
	tiers.Routes(r.Tenant, r.Can, e.svc)
	members.Routes(r.Tenant, r.Can, e.members)
	return &api{Env: r, base: "/api/v1/tenants/" + e.tenantID}
}

func (a *api) do(t *testing.T, method, path, role string, body any) *routertest.Response {
	t.Helper()
	return a.Do(t, method, a.base+path, role, body)
}

func wantStatus(t *testing.T, r *routertest.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code {
		t.Fatalf("got %d %q (%s), want %d %q", r.Status, r.ErrorCode(), r.Body, status, code)
	}
}

// details returns the error's details.
func details(t *testing.T, r *routertest.Response) map[string]any {
	t.Helper()
	var b struct {
		Error struct {
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	r.JSON(t, &b)
	return b.Error.Details
}

func TestHTTPLadder(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		a := e.api(t)
		silver := map[string]any{"name": "银卡", "rank": 1, "growth_threshold": 100, "keep_threshold": 80, "multiplier_permille": 1500,
			"benefits": map[string]any{"birthday_multiplier_permille": 2000, "free_shipping": true, "perks": "生日双倍"}}
		r := a.do(t, "POST", "/tiers", "manager", silver)
		wantStatus(t, r, http.StatusCreated, "")
		var created tiers.Tier
		r.JSON(t, &created)
		if created.ID == "" || created.Multiplier != 1500 || created.KeepThreshold != 80 || !created.Benefits.FreeShipping ||
			created.Benefits.ExclusiveItems == nil || len(created.Benefits.ExclusiveItems) != 0 {
			t.Fatalf("created tier: got %s", r.Body)
		}
		gold := a.do(t, "POST", "/tiers", "manager", map[string]any{"name": "金卡", "rank": 3, "growth_threshold": 500})
		wantStatus(t, gold, http.StatusCreated, "")
		var goldTier tiers.Tier
		gold.JSON(t, &goldTier)
		if goldTier.KeepThreshold != 500 || goldTier.Multiplier != 1000 {
			t.Errorf("defaults: got keep %d multiplier %d, want 500 1000", goldTier.KeepThreshold, goldTier.Multiplier)
		}

		tests := []struct {
			name   string
			method string
			path   string
			role   string
			body   any
			status int
			code   string
			field  string // a field the details must name
		}{
			{"viewer may not create", "POST", "/tiers", "viewer", map[string]any{"name": "x", "rank": 9, "growth_threshold": 9000}, 403, "forbidden", ""},
			{"operator may not create", "POST", "/tiers", "operator", map[string]any{"name": "x", "rank": 9, "growth_threshold": 9000}, 403, "forbidden", ""},
			{"not JSON", "POST", "/tiers", "manager", "{", 400, "invalid_json", ""},
			{"a string for a number", "POST", "/tiers", "manager", `{"name":"x","rank":"two","growth_threshold":1}`, 422, "validation_failed", "rank"},
			{"missing fields", "POST", "/tiers", "manager", map[string]any{}, 422, "validation_failed", "growth_threshold"},
			{"multiplier below 1x", "POST", "/tiers", "manager", map[string]any{"name": "x", "rank": 9, "growth_threshold": 9000, "multiplier_permille": 999}, 422, "validation_failed", "multiplier_permille"},
			{"keep above entry", "POST", "/tiers", "manager", map[string]any{"name": "x", "rank": 9, "growth_threshold": 9000, "keep_threshold": 9001}, 422, "validation_failed", "keep_threshold"},
			{"birthday multiplier below 1x", "POST", "/tiers", "manager", map[string]any{"name": "x", "rank": 9, "growth_threshold": 9000, "benefits": map[string]any{"birthday_multiplier_permille": 500}}, 422, "validation_failed", "benefits.birthday_multiplier_permille"},
			{"threshold out of order with the rank", "POST", "/tiers", "manager", map[string]any{"name": "x", "rank": 2, "growth_threshold": 600}, 422, "validation_failed", "growth_threshold"},
			{"threshold equal to a neighbour's", "POST", "/tiers", "manager", map[string]any{"name": "x", "rank": 2, "growth_threshold": 100}, 422, "validation_failed", "growth_threshold"},
			{"rank taken", "POST", "/tiers", "manager", map[string]any{"name": "x", "rank": 3, "growth_threshold": 9000}, 409, "conflict", "rank"},
			{"name taken", "POST", "/tiers", "manager", map[string]any{"name": "金卡", "rank": 9, "growth_threshold": 9000}, 409, "conflict", "name"},
			{"patching the rank out of order", "PATCH", "/tiers/" + created.ID, "manager", map[string]any{"rank": 5}, 422, "validation_failed", "rank"},
			{"patching the threshold past the next tier", "PATCH", "/tiers/" + created.ID, "manager", map[string]any{"growth_threshold": 500, "keep_threshold": 80}, 422, "validation_failed", "growth_threshold"},
			{"patching an unknown tier", "PATCH", "/tiers/nope", "manager", map[string]any{"name": "y"}, 404, "not_found", ""},
			{"bad settings", "PUT", "/tiers/settings", "manager", map[string]any{"basis": "forever", "window_months": 0, "evaluation_period": "weekly", "grace_days": -1}, 422, "validation_failed", "evaluation_period"},
			{"viewer may not change settings", "PUT", "/tiers/settings", "viewer", map[string]any{"grace_days": 3}, 403, "forbidden", ""},
			{"viewer may not evaluate", "POST", "/tiers/evaluate", "viewer", nil, 403, "forbidden", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := a.do(t, tc.method, tc.path, tc.role, tc.body)
				wantStatus(t, r, tc.status, tc.code)
				if tc.field != "" {
					if _, ok := details(t, r)[tc.field]; !ok {
						t.Errorf("details: got %s, want the field %s named", r.Body, tc.field)
					}
				}
			})
		}

		t.Run("bad input changed nothing", func(t *testing.T) {
			var list struct {
				Items      []tiers.Tier `json:"items"`
				NextCursor string       `json:"next_cursor"`
			}
			r := a.do(t, "GET", "/tiers", "viewer", nil)
			wantStatus(t, r, 200, "")
			r.JSON(t, &list)
			if len(list.Items) != 2 || list.Items[0].Name != "银卡" || list.Items[1].Name != "金卡" || list.Items[0].GrowthThreshold != 100 {
				t.Fatalf("ladder: got %s, want 银卡 then 金卡 unchanged", r.Body)
			}
			s := a.do(t, "GET", "/tiers/settings", "viewer", nil).Map(t)
			if s["basis"] != "lifetime" || s["grace_days"] != float64(30) {
				t.Errorf("settings: got %v, want the defaults", s)
			}
		})

		t.Run("patch, settings and evaluate", func(t *testing.T) {
			r := a.do(t, "PATCH", "/tiers/"+goldTier.ID, "manager", map[string]any{"rank": 2, "keep_threshold": 400, "benefits": map[string]any{"priority_service": true}})
			wantStatus(t, r, 200, "")
			var got tiers.Tier
			r.JSON(t, &got)
			if got.Rank != 2 || got.KeepThreshold != 400 || !got.Benefits.PriorityService || got.GrowthThreshold != 500 {
				t.Fatalf("patched: got %s", r.Body)
			}
			r = a.do(t, "PUT", "/tiers/settings", "manager", map[string]any{"basis": "rolling", "window_months": 6, "evaluation_period": "quarterly", "grace_days": 14})
			wantStatus(t, r, 200, "")
			if s := r.Map(t); s["basis"] != "rolling" || s["window_months"] != float64(6) || s["evaluation_period"] != "quarterly" {
				t.Errorf("settings: got %v", s)
			}
			r = a.do(t, "POST", "/tiers/evaluate", "manager", nil)
			wantStatus(t, r, 200, "")
			if m := r.Map(t); m["already_evaluated"] != true {
				t.Errorf("evaluation mid-period: got %v, want already_evaluated", m)
			}
		})

		t.Run("delete", func(t *testing.T) {
			m := e.member(t, "")
			e.grow(t, m, 100)
			wantStatus(t, a.do(t, "DELETE", "/tiers/"+created.ID, "manager", nil), 409, "conflict")
			wantStatus(t, a.do(t, "DELETE", "/tiers/"+goldTier.ID, "viewer", nil), 403, "forbidden")
			r := a.do(t, "DELETE", "/tiers/"+goldTier.ID, "manager", nil)
			if r.Status != http.StatusNoContent {
				t.Fatalf("delete: got %d %s, want 204", r.Status, r.Body)
			}
			wantStatus(t, a.do(t, "GET", "/tiers/"+goldTier.ID, "viewer", nil), 404, "not_found")
		})
	})
}

func TestHTTPMemberTier(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		a := e.api(t)
		silver, gold := e.ladder(t)
		m := e.member(t, "")
		e.grow(t, m, 100)
		e.clock.Advance(time.Hour)
		e.grow(t, m, 400)

		t.Run("the member object shows tier and progress", func(t *testing.T) {
			var got struct {
				Tier         *members.TierRef `json:"tier"`
				TierProgress tiers.Progress   `json:"tier_progress"`
			}
			r := a.do(t, "GET", "/members/"+m, "viewer", nil)
			wantStatus(t, r, 200, "")
			r.JSON(t, &got)
			if got.Tier == nil || got.Tier.ID != gold.ID || got.TierProgress.NextTier != nil || got.TierProgress.AtRisk {
				t.Fatalf("member: got %s", r.Body)
			}
			other := e.member(t, "")
			e.grow(t, other, 60)
			r = a.do(t, "GET", "/members/"+other, "viewer", nil)
			r.JSON(t, &got)
			if got.Tier != nil || got.TierProgress.NextTier == nil || got.TierProgress.NextTier.ID != silver.ID || got.TierProgress.NextTier.GrowthNeeded != 40 {
				t.Fatalf("member without a tier: got %s, want 40 more to %s", r.Body, silver.Name)
			}
		})

		t.Run("history pages", func(t *testing.T) {
			r := a.do(t, "GET", "/members/"+m+"/tier-history?limit=1", "viewer", nil)
			wantStatus(t, r, 200, "")
			var p1, p2 struct {
				Items      []tiers.HistoryEntry `json:"items"`
				NextCursor string               `json:"next_cursor"`
			}
			r.JSON(t, &p1)
			if len(p1.Items) != 1 || p1.Items[0].To == nil || p1.Items[0].To.ID != gold.ID || p1.NextCursor == "" {
				t.Fatalf("first page: got %s, want the Gold upgrade and a cursor", r.Body)
			}
			r = a.do(t, "GET", "/members/"+m+"/tier-history?limit=1&cursor="+p1.NextCursor, "viewer", nil)
			r.JSON(t, &p2)
			if len(p2.Items) != 1 || p2.Items[0].To.ID != silver.ID || p2.Items[0].From != nil || p2.NextCursor != "" {
				t.Fatalf("last page: got %s, want the Silver upgrade from none and no cursor", r.Body)
			}
			wantStatus(t, a.do(t, "GET", "/members/"+m+"/tier-history?cursor=zzz", "viewer", nil), 422, "validation_failed")
			wantStatus(t, a.do(t, "GET", "/members/"+m+"/tier-history?limit=500", "viewer", nil), 422, "validation_failed")
		})

		t.Run("override", func(t *testing.T) {
			until := e.clock.Now().Add(72 * time.Hour).Format(time.RFC3339)
			tests := []struct {
				name   string
				role   string
				body   any
				status int
				code   string
				field  string
			}{
				{"operator may not", "operator", map[string]any{"tier_id": silver.ID, "until": until, "reason": "x"}, 403, "forbidden", ""},
				{"not JSON", "manager", "[", 400, "invalid_json", ""},
				{"nothing sent", "manager", map[string]any{}, 422, "validation_failed", "until"},
				{"until not a time", "manager", map[string]any{"tier_id": silver.ID, "until": "next week", "reason": "x"}, 422, "validation_failed", "until"},
				{"until in the past", "manager", map[string]any{"tier_id": silver.ID, "until": "2020-01-01T00:00:00Z", "reason": "x"}, 422, "validation_failed", "until"},
				{"unknown tier", "manager", map[string]any{"tier_id": "nope", "until": until, "reason": "x"}, 422, "validation_failed", "tier_id"},
				{"no reason", "manager", map[string]any{"tier_id": silver.ID, "until": until, "reason": " "}, 422, "validation_failed", "reason"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := a.do(t, "POST", "/members/"+m+"/tier-override", tc.role, tc.body)
					wantStatus(t, r, tc.status, tc.code)
					if tc.field != "" {
						if _, ok := details(t, r)[tc.field]; !ok {
							t.Errorf("details: got %s, want %s named", r.Body, tc.field)
						}
					}
				})
			}
			wantStatus(t, a.do(t, "DELETE", "/members/"+m+"/tier-override", "manager", nil), 404, "not_found")
			r := a.do(t, "POST", "/members/"+m+"/tier-override", "manager", map[string]any{"tier_id": silver.ID, "until": until, "reason": "投诉处理"})
			wantStatus(t, r, 200, "")
			var mt tiers.MemberTier
			r.JSON(t, &mt)
			if mt.Tier == nil || mt.Tier.ID != silver.ID || mt.Override == nil || mt.Override.Reason != "投诉处理" {
				t.Fatalf("override: got %s", r.Body)
			}
			r = a.do(t, "GET", "/members/"+m+"/tier", "viewer", nil)
			r.JSON(t, &mt)
			if mt.Tier.ID != silver.ID || mt.Progress.EarnedTier == nil || mt.Progress.EarnedTier.ID != gold.ID {
				t.Fatalf("member tier: got %s", r.Body)
			}
			r = a.do(t, "DELETE", "/members/"+m+"/tier-override", "manager", nil)
			wantStatus(t, r, 200, "")
			r.JSON(t, &mt)
			if mt.Tier.ID != gold.ID || mt.Override != nil {
				t.Fatalf("after removal: got %s", r.Body)
			}
		})
	})
}

func TestHTTPAnotherTenantsDataIsNotFound(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		owner := newEnv(t, db)
		_, gold := owner.ladder(t)
		m := owner.member(t, "")
		owner.grow(t, m, 500)

		intruder := newEnv(t, db)
		intruder.ladder(t)
		a := intruder.api(t)
		until := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
		tests := []struct {
			method, path string
			body         any
		}{
			{"GET", "/tiers/" + gold.ID, nil},
			{"PATCH", "/tiers/" + gold.ID, map[string]any{"name": "stolen"}},
			{"DELETE", "/tiers/" + gold.ID, nil},
			{"GET", "/members/" + m + "/tier", nil},
			{"GET", "/members/" + m + "/tier-history", nil},
			{"POST", "/members/" + m + "/tier-override", map[string]any{"tier_id": gold.ID, "until": until, "reason": "x"}},
			{"DELETE", "/members/" + m + "/tier-override", nil},
		}
		for _, tc := range tests {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				wantStatus(t, a.do(t, tc.method, tc.path, "owner", tc.body), 404, "not_found")
			})
		}
		if got := owner.tierOf(t, m); got != gold.Name {
			t.Errorf("owner's member after the attempts: got %q, want %q", got, gold.Name)
		}
		if tr, err := owner.svc.Tier(owner.ctx, gold.ID); err != nil || tr.Name != gold.Name {
			t.Errorf("owner's tier after the attempts: got %q %v, want %q", tr.Name, err, gold.Name)
		}
		var list struct {
			Items []tiers.Tier `json:"items"`
		}
		a.do(t, "GET", "/tiers", "viewer", nil).JSON(t, &list)
		for _, tr := range list.Items {
			if tr.ID == gold.ID {
				t.Errorf("another tenant's tier listed: %s", tr.ID)
			}
		}
	})
}

// TestOpenAPIDescribesEveryRoute fails when a route is missing from the
// package's OpenAPI fragment.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(tiers.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	r := routertest.New(t, storagetest.OpenSQLite(t))
	tiers.Routes(r.Tenant, r.Can, &tiers.Service{})
	param := regexp.MustCompile(`:([a-z]+)`)
	for _, rt := range r.Engine.Routes() {
		p := param.ReplaceAllString(rt.Path, "{$1}")
		if _, ok := doc.Paths[p][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("%s %s: got no description, want one in openapi.json", rt.Method, p)
		}
	}
}
