package tiers_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/mall"
	"jifen/tenants/tiers"
)

// countingItems is the mall's ExclusiveItemLister, counting its reads.
type countingItems struct {
	tiers.ExclusiveItemLister
	mu    sync.Mutex
	calls int
}

func (c *countingItems) ItemsUnlockedBetween(ctx context.Context, low, high int) ([]tiers.ItemRef, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.ExclusiveItemLister.ItemsUnlockedBetween(ctx, low, high)
}

func (c *countingItems) reset() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.calls
	c.calls = 0
	return n
}

// withMall wires the real mall the way main does: it issues upgrade coupons
// (and vets their templates) and lists the items each tier unlocks.
func (e *env) withMall() (*mall.Service, *countingItems) {
	m := &mall.Service{DB: e.db, Members: e.svc.Members, Clock: e.clock, Audit: e.audit, Tiers: e.svc}
	items := &countingItems{ExclusiveItemLister: m}
	e.svc.Coupons, e.svc.Items = m, items
	return m, items
}

// template adds a coupon template to the env's tenant, switched off unless
// active, and returns its id.
func (e *env) template(t *testing.T, m *mall.Service, active bool) string {
	t.Helper()
	tpl, err := m.CreateTemplate(e.ctx, mall.TemplateInput{Name: ptr("升级礼券"), Kind: ptr(mall.CouponAmountOff),
		AmountOffCents: ptr[int64](1000), ValidDays: ptr(30)})
	if err != nil {
		t.Fatalf("create template: %v", err)
	}
	if !active {
		if _, err := m.UpdateTemplate(e.ctx, tpl.ID, mall.TemplateInput{Active: ptr(false)}); err != nil {
			t.Fatalf("deactivate template: %v", err)
		}
	}
	return tpl.ID
}

func TestHTTPUpgradeCouponMustBeUsable(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		ms, _ := e.withMall()
		a := e.api(t)
		valid := e.template(t, ms, true)
		inactive := e.template(t, ms, false)
		foreign := newEnv(t, db).template(t, ms, true)
		const field, unusable = "benefits.upgrade_coupon_template_id", "no active coupon template with this id in the tenant"
		silver := func(tpl string) map[string]any {
			return map[string]any{"name": "银卡", "rank": 1, "growth_threshold": 100,
				"benefits": map[string]any{"upgrade_coupon_template_id": tpl}}
		}

		tests := []struct {
			name    string
			tpl     string
			problem string // "" for any message
		}{
			{"another tenant's template", foreign, unusable},
			{"an unknown template", "01JUNKNOWNTEMPLATE00000000", unusable},
			{"an inactive template", inactive, unusable},
			{"not an id at all", "tpl gold", ""},
		}
		for _, tc := range tests {
			t.Run("create with "+tc.name, func(t *testing.T) {
				r := a.do(t, "POST", "/tiers", "manager", silver(tc.tpl))
				wantStatus(t, r, http.StatusUnprocessableEntity, "validation_failed")
				got, ok := details(t, r)[field]
				if !ok || (tc.problem != "" && got != tc.problem) {
					t.Fatalf("details: got %s, want %s: %q", r.Body, field, tc.problem)
				}
			})
		}
		t.Run("bad templates created nothing", func(t *testing.T) {
			var list struct {
				Items []tiers.Tier `json:"items"`
			}
			a.do(t, "GET", "/tiers", "viewer", nil).JSON(t, &list)
			if len(list.Items) != 0 {
				t.Fatalf("ladder: got %d tiers, want none", len(list.Items))
			}
		})

		var created tiers.Tier
		t.Run("create with the tenant's active template", func(t *testing.T) {
			r := a.do(t, "POST", "/tiers", "manager", silver(valid))
			wantStatus(t, r, http.StatusCreated, "")
			r.JSON(t, &created)
			if got := created.Benefits.UpgradeCouponTemplateID; got != valid {
				t.Fatalf("upgrade coupon: got %q, want %q", got, valid)
			}
		})

		patches := []struct {
			name   string
			tpl    string
			status int
			want   string // the template the tier holds afterwards
		}{
			{"another tenant's template", foreign, http.StatusUnprocessableEntity, valid},
			{"an unknown template", "nope", http.StatusUnprocessableEntity, valid},
			{"an inactive template", inactive, http.StatusUnprocessableEntity, valid},
			{"no coupon", "", http.StatusOK, ""},
			{"the active template again", valid, http.StatusOK, valid},
		}
		for _, tc := range patches {
			t.Run("patch to "+tc.name, func(t *testing.T) {
				r := a.do(t, "PATCH", "/tiers/"+created.ID, "manager",
					map[string]any{"benefits": map[string]any{"upgrade_coupon_template_id": tc.tpl}})
				if r.Status != tc.status {
					t.Fatalf("got %d %s, want %d", r.Status, r.Body, tc.status)
				}
				if tc.status == http.StatusUnprocessableEntity {
					if got := details(t, r)[field]; got != unusable {
						t.Errorf("details: got %s, want %s: %q", r.Body, field, unusable)
					}
				}
				var got tiers.Tier
				a.do(t, "GET", "/tiers/"+created.ID, "viewer", nil).JSON(t, &got)
				if got.Benefits.UpgradeCouponTemplateID != tc.want {
					t.Errorf("upgrade coupon afterwards: got %q, want %q", got.Benefits.UpgradeCouponTemplateID, tc.want)
				}
			})
		}

		t.Run("a template switched off later doesn't block other changes", func(t *testing.T) {
			if _, err := ms.UpdateTemplate(e.ctx, valid, mall.TemplateInput{Active: ptr(false)}); err != nil {
				t.Fatal(err)
			}
			r := a.do(t, "PATCH", "/tiers/"+created.ID, "manager", map[string]any{"benefits": map[string]any{"perks": "生日双倍积分"}})
			wantStatus(t, r, http.StatusOK, "")
		})
	})
}

func TestHTTPExclusiveItems(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		ms, reads := e.withMall()
		a := e.api(t)
		item := func(owner *env, name string, rank int, extra func(*mall.ItemInput)) string {
			t.Helper()
			in := mall.ItemInput{Name: ptr(name), Kind: ptr(mall.KindVirtual), PointsPrice: ptr[int64](100),
				Stock: ptr[int64](10), MinTierRank: ptr(rank)}
			if extra != nil {
				extra(&in)
			}
			it, err := ms.CreateItem(owner.ctx, in)
			if err != nil {
				t.Fatalf("create item %s: %v", name, err)
			}
			return it.ID
		}
		forAll := item(e, "for everyone", 0, nil)
		r1 := item(e, "rank 1", 1, nil)
		r2 := item(e, "rank 2", 2, nil)
		r3 := item(e, "rank 3", 3, nil)
		r3b := item(e, "rank 3 too", 3, nil)
		r5 := item(e, "rank 5", 5, nil)
		r7 := item(e, "rank 7, above the ladder", 7, nil)
		item(e, "switched off", 3, func(in *mall.ItemInput) { in.Active = ptr(false) })
		ended := json.RawMessage(`"` + e.clock.Now().Add(-time.Hour).Format(time.RFC3339) + `"`)
		item(e, "sale over", 3, func(in *mall.ItemInput) { in.EndsAt = ended })
		other := newEnv(t, db)
		item(other, "another tenant's", 1, nil)

		silver := e.tier(t, tiers.TierInput{Name: ptr("银卡"), Rank: ptr(1), GrowthThreshold: ptr[int64](100)})
		gold := e.tier(t, tiers.TierInput{Name: ptr("金卡"), Rank: ptr(3), GrowthThreshold: ptr[int64](500)})
		diamond := e.tier(t, tiers.TierInput{Name: ptr("钻石"), Rank: ptr(5), GrowthThreshold: ptr[int64](2000)})

		// itemIDs lists the ids of the items a tier shows, sorted: ids made
		// in one millisecond of the fake clock need not sort in the order
		// they were made.
		itemIDs := func(tr tiers.Tier) []string {
			out := []string{}
			for _, it := range tr.Benefits.ExclusiveItems {
				out = append(out, it.ID)
			}
			slices.Sort(out)
			return out
		}
		sorted := func(ids ...string) []string {
			slices.Sort(ids)
			return ids
		}
		want := map[string][]string{silver.ID: {r1}, gold.ID: sorted(r2, r3, r3b), diamond.ID: {r5}}

		t.Run("the list shows what each tier unlocks, with one read of the mall", func(t *testing.T) {
			reads.reset()
			var list struct {
				Items []tiers.Tier `json:"items"`
			}
			r := a.do(t, "GET", "/tiers", "viewer", nil)
			wantStatus(t, r, http.StatusOK, "")
			r.JSON(t, &list)
			if len(list.Items) != 3 {
				t.Fatalf("ladder: got %s, want 3 tiers", r.Body)
			}
			for _, tr := range list.Items {
				if got := itemIDs(tr); !slices.Equal(got, want[tr.ID]) {
					t.Errorf("%s: got items %v, want %v", tr.Name, got, want[tr.ID])
				}
				for _, id := range itemIDs(tr) {
					if id == forAll || id == r7 {
						t.Errorf("%s: got item %s, which no tier unlocks", tr.Name, id)
					}
				}
			}
			if n := reads.reset(); n != 1 {
				t.Errorf("reads of the mall: got %d, want 1", n)
			}
		})

		t.Run("one tier", func(t *testing.T) {
			for _, tr := range []tiers.Tier{silver, gold, diamond} {
				var got tiers.Tier
				a.do(t, "GET", "/tiers/"+tr.ID, "viewer", nil).JSON(t, &got)
				if !slices.Equal(itemIDs(got), want[tr.ID]) {
					t.Errorf("%s: got items %v, want %v", tr.Name, itemIDs(got), want[tr.ID])
				}
				if len(got.Benefits.ExclusiveItems) > 0 && got.Benefits.ExclusiveItems[0].Name == "" {
					t.Errorf("%s: got %+v, want the items named", tr.Name, got.Benefits.ExclusiveItems)
				}
				byRank := func(x, y tiers.ItemRef) int { return cmp.Compare(x.MinTierRank, y.MinTierRank) }
				if !slices.IsSortedFunc(got.Benefits.ExclusiveItems, byRank) {
					t.Errorf("%s: got %+v, want the items by min_tier_rank", tr.Name, got.Benefits.ExclusiveItems)
				}
			}
		})

		t.Run("a tier added in between takes over the items up to its rank", func(t *testing.T) {
			r := a.do(t, "POST", "/tiers", "manager", map[string]any{"name": "铂金", "rank": 2, "growth_threshold": 300})
			wantStatus(t, r, http.StatusCreated, "")
			var platinum tiers.Tier
			r.JSON(t, &platinum)
			if got := itemIDs(platinum); !slices.Equal(got, []string{r2}) {
				t.Errorf("created tier: got items %v, want %v", got, []string{r2})
			}
			var got tiers.Tier
			a.do(t, "GET", "/tiers/"+gold.ID, "viewer", nil).JSON(t, &got)
			if !slices.Equal(itemIDs(got), sorted(r3, r3b)) {
				t.Errorf("gold: got items %v, want %v", itemIDs(got), sorted(r3, r3b))
			}
		})

		t.Run("raising the top tier's rank unlocks the items up to it", func(t *testing.T) {
			r := a.do(t, "PATCH", "/tiers/"+diamond.ID, "manager", map[string]any{"rank": 7})
			wantStatus(t, r, http.StatusOK, "")
			var got tiers.Tier
			r.JSON(t, &got)
			if !slices.Equal(itemIDs(got), sorted(r5, r7)) {
				t.Errorf("diamond: got items %v, want %v", itemIDs(got), sorted(r5, r7))
			}
		})

		t.Run("another tenant's ladder shows none of these items", func(t *testing.T) {
			other.svc.Items = ms
			tr := other.tier(t, tiers.TierInput{Name: ptr("银卡"), Rank: ptr(1), GrowthThreshold: ptr[int64](100)})
			got, err := other.svc.Tier(other.ctx, tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Benefits.ExclusiveItems) != 1 || got.Benefits.ExclusiveItems[0].Name != "another tenant's" {
				t.Errorf("other tenant's silver: got %+v, want only its own item", got.Benefits.ExclusiveItems)
			}
		})
	})
}
