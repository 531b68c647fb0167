package mall_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"jifen/platform"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/members"
	"jifen/tenants/tiers"
)

// TestCouponTemplateUsable checks the answer tiers get about an upgrade
// coupon's template.
func TestCouponTemplateUsable(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		active := e.template(nil)
		inactive := e.template(map[string]any{"name": "停用"})
		e.must(200, "PATCH", "/coupon-templates/"+inactive, platform.RoleManager, map[string]any{"active": false})
		foreign := e.other().template(nil)
		for _, tc := range []struct {
			name, id, code string
		}{
			{"the tenant's active template", active, ""},
			{"an inactive template", inactive, platform.EConflict},
			{"another tenant's template", foreign, platform.ENotFound},
			{"an unknown id", "01JUNKNOWNTEMPLATE00000000", platform.ENotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := platform.ErrorCode(e.svc.CouponTemplateUsable(e.ctx, tc.id)); got != tc.code {
					t.Fatalf("got %q, want %q", got, tc.code)
				}
			})
		}
	})
}

// TestItemsUnlockedBetween checks which items the mall reports for a range
// of tier ranks.
func TestItemsUnlockedBetween(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		forAll := e.item(map[string]any{"name": "for everyone"})
		r1 := e.item(map[string]any{"name": "rank 1", "min_tier_rank": 1})
		r2 := e.item(map[string]any{"name": "rank 2", "min_tier_rank": 2})
		r3 := e.item(map[string]any{"name": "rank 3", "min_tier_rank": 3})
		upcoming := e.item(map[string]any{"name": "on sale tomorrow", "min_tier_rank": 3, "starts_at": start.Add(24 * time.Hour)})
		e.item(map[string]any{"name": "switched off", "min_tier_rank": 2, "active": false})
		e.item(map[string]any{"name": "sale over", "min_tier_rank": 2, "starts_at": start.Add(-2 * time.Hour), "ends_at": start.Add(-time.Hour)})
		e.other().item(map[string]any{"name": "another tenant's", "min_tier_rank": 1})
		for _, tc := range []struct {
			name      string
			low, high int
			want      []string
		}{
			{"the whole ladder", 0, 3, []string{r1, r2, r3, upcoming}},
			{"above the tier below, up to the tier", 1, 3, []string{r2, r3, upcoming}},
			{"one rank", 2, 2, []string{}},
			{"a negative floor counts as 0", -5, 1, []string{r1}},
			{"above every item", 3, 100, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.svc.ItemsUnlockedBetween(e.ctx, tc.low, tc.high)
				if err != nil {
					t.Fatal(err)
				}
				ids := []string{}
				for i, it := range got {
					ids = append(ids, it.ID)
					if it.ID == forAll {
						t.Errorf("got the item for everyone, want only tier items")
					}
					if i > 0 && it.MinTierRank < got[i-1].MinTierRank {
						t.Errorf("got %+v, want the items by min_tier_rank", got)
					}
				}
				slices.Sort(ids)
				want := slices.Clone(tc.want)
				slices.Sort(want)
				if !slices.Equal(ids, want) {
					t.Fatalf("got %v, want %v", ids, want)
				}
			})
		}
	})
}

// TestTierLadderThroughTheMall wires the real tier service to the mall as
// main does and checks what a manager sees: upgrade coupons must name an
// active template of the tenant, and each tier shows the items it unlocks.
func TestTierLadderThroughTheMall(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		ts := &tiers.Service{Store: &tiers.Store{DB: db}, Members: &members.Store{DB: db}, Growth: e.ledger,
			Clock: e.clock, Coupons: e.svc, Items: e.svc}
		rt := routertest.New(t, db)
		tiers.Routes(rt.Tenant, rt.Can, ts)
		do := func(method, path string, body any) *routerResponse {
			t.Helper()
			return rt.Do(t, method, "/api/v1/tenants/"+e.tenant+path, platform.RoleManager, body)
		}
		tpl := e.template(nil)
		foreign := e.other().template(nil)
		gift := e.item(map[string]any{"name": "金卡专享", "min_tier_rank": 2})
		e.item(map[string]any{"name": "for everyone"})

		const field = "benefits.upgrade_coupon_template_id"
		gold := func(template string) map[string]any {
			return map[string]any{"name": "金卡", "rank": 2, "growth_threshold": 500,
				"benefits": map[string]any{"upgrade_coupon_template_id": template}}
		}
		for _, tc := range []struct {
			name     string
			template string
		}{
			{"another tenant's template", foreign},
			{"an unknown template", "01JUNKNOWNTEMPLATE00000000"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d := wantError(t, do("POST", "/tiers", gold(tc.template)), http.StatusUnprocessableEntity, platform.EValidation)
				if d[field] != "no active coupon template with this id in the tenant" {
					t.Fatalf("details: got %v, want %s named", d, field)
				}
			})
		}
		t.Run("the tenant's template", func(t *testing.T) {
			r := do("POST", "/tiers", gold(tpl))
			if r.Status != http.StatusCreated {
				t.Fatalf("got %d %s, want 201", r.Status, r.Body)
			}
			var got tiers.Tier
			r.JSON(t, &got)
			if got.Benefits.UpgradeCouponTemplateID != tpl {
				t.Errorf("upgrade coupon: got %q, want %q", got.Benefits.UpgradeCouponTemplateID, tpl)
			}
			if len(got.Benefits.ExclusiveItems) != 1 || got.Benefits.ExclusiveItems[0].ID != gift ||
				got.Benefits.ExclusiveItems[0].Name != "金卡专享" || got.Benefits.ExclusiveItems[0].MinTierRank != 2 {
				t.Errorf("exclusive items: got %+v, want only %s", got.Benefits.ExclusiveItems, gift)
			}
		})
		t.Run("a lower tier shows none of the gold items", func(t *testing.T) {
			if r := do("POST", "/tiers", map[string]any{"name": "银卡", "rank": 1, "growth_threshold": 100}); r.Status != http.StatusCreated {
				t.Fatalf("got %d %s, want 201", r.Status, r.Body)
			}
			var list struct {
				Items []tiers.Tier `json:"items"`
			}
			do("GET", "/tiers", nil).JSON(t, &list)
			if len(list.Items) != 2 || len(list.Items[0].Benefits.ExclusiveItems) != 0 ||
				len(list.Items[1].Benefits.ExclusiveItems) != 1 || list.Items[1].Benefits.ExclusiveItems[0].ID != gift {
				t.Fatalf("ladder: got %+v, want silver with no items and gold with %s", list.Items, gift)
			}
		})
	})
}
