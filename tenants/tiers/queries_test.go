package tiers_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/ledger"
	"jifen/tenants/tiers"
)

// The ledger, which main wires as the tier service's GrowthReader, reads the
// growth of a page of members at once.
var (
	_ tiers.GrowthReader      = (*ledger.Service)(nil)
	_ tiers.GrowthBatchReader = (*ledger.Service)(nil)
)

// statements counts the statements run with a context that carries it, by
// table ("" for raw SQL). Counting by context, not server-wide, keeps the
// count to the code under test whatever else talks to the database.
type statements struct {
	mu      sync.Mutex
	total   int
	byTable map[string]int
}

type statementsKey struct{}

func (s *statements) add(table string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.byTable[table]++
}

func (s *statements) counts() (total int, byTable map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byTable = make(map[string]int, len(s.byTable))
	for k, v := range s.byTable {
		byTable[k] = v
	}
	return s.total, byTable
}

// countStatementsCallback is the name of the counting callback in GORM's
// chains.
const countStatementsCallback = "tiers_test:count_statements"

// counting returns ctx marked so that the statements run with it (inside a
// transaction begun with it too) are counted. It adds the counting
// callback to every GORM chain of the database's pools the first time.
// Tests run one at a time on a database, so nothing queries while a
// callback is added.
func counting(t *testing.T, db *storage.DB, ctx context.Context) (context.Context, *statements) {
	t.Helper()
	count := func(tx *gorm.DB) {
		if s, ok := tx.Statement.Context.Value(statementsKey{}).(*statements); ok {
			s.add(tx.Statement.Table)
		}
	}
	register := func(g *gorm.DB) error {
		cb := g.Callback()
		for _, p := range []interface {
			Get(string) func(*gorm.DB)
			Register(string, func(*gorm.DB)) error
		}{cb.Create(), cb.Query(), cb.Update(), cb.Delete(), cb.Row(), cb.Raw()} {
			if p.Get(countStatementsCallback) != nil {
				continue
			}
			if err := p.Register(countStatementsCallback, count); err != nil {
				return err
			}
		}
		return nil
	}
	// The read pool, then the write pool (the same one on MySQL).
	if err := register(db.Conn(ctx)); err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(ctx, func(ctx context.Context) error { return register(db.Conn(ctx)) }); err != nil {
		t.Fatal(err)
	}
	s := &statements{byTable: map[string]int{}}
	return context.WithValue(ctx, statementsKey{}, s), s
}

// TestMemberTiersQueriesDoNotGrowWithThePage checks that a page of members
// reads its tiers in a fixed number of statements, whatever its size, and
// shows each member exactly what the single-member read shows.
func TestMemberTiersQueriesDoNotGrowWithThePage(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		tests := []struct {
			name  string
			basis string
			// most is the most statements a page may take: the ladder, the
			// settings, the members' tier rows and one growth read per
			// time the growth counts at (now, and the next evaluation
			// under a rolling window).
			most int
		}{
			{"lifetime growth", tiers.BasisLifetime, 4},
			{"rolling window", tiers.BasisRolling, 5},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, db)
				l := e.withLedger()
				// Growth from January 2025 is in the window now but drops out
				// of it by the next evaluation, so some members are at risk.
				older, newer := local(2025, time.January, 10, 10, 0), local(2025, time.June, 10, 10, 0)
				e.clock.Set(older)
				silver, _ := e.ladder(t)
				e.settings(t, tiers.SettingsInput{Basis: ptr(tc.basis), WindowMonths: ptr(12)})
				// plan is the growth each fifth of the members gains, and when.
				plan := [][]grant{nil, {{older, 100}}, {{newer, 100}}, {{older, 500}, {newer, 50}}, {{newer, 600}}}
				const size = 50
				ids := make([]string, size)
				for i := range ids {
					ids[i] = e.member(t, "")
				}
				for _, at := range []time.Time{older, newer} {
					e.clock.Set(at)
					for i, id := range ids {
						for _, g := range plan[i%len(plan)] {
							if g.at.Equal(at) {
								if err := credit(e.ctx, l, id, 0, g.amount, ""); err != nil {
									t.Fatal(err)
								}
							}
						}
					}
				}
				e.evaluate(t, local(2026, time.January, 1, 0, 5))
				e.clock.Set(local(2026, time.January, 5, 10, 0))
				_, err := e.svc.SetOverride(e.ctx, ids[0], tiers.OverrideInput{TierID: &silver.ID,
					Until: ptr(local(2026, time.March, 1, 0, 0).Format(time.RFC3339)), Reason: ptr("goodwill")})
				if err != nil {
					t.Fatal(err)
				}

				queries := func(ids []string) int {
					t.Helper()
					ctx, s := counting(t, db, e.ctx)
					got, err := e.svc.MemberTiers(ctx, ids)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(ids) {
						t.Fatalf("standings: got %d, want %d", len(got), len(ids))
					}
					n, byTable := s.counts()
					t.Logf("%d members: %d statements %v", len(ids), n, byTable)
					return n
				}
				small, page := queries(ids[:5]), queries(ids)
				if page != small {
					t.Errorf("statements for %d members: got %d, want %d as for 5", size, page, small)
				}
				if page > tc.most {
					t.Errorf("statements for %d members: got %d, want at most %d", size, page, tc.most)
				}

				// What a member page shows is what the member's own tier shows.
				got, err := e.svc.MemberTiers(e.ctx, ids)
				if err != nil {
					t.Fatal(err)
				}
				atRisk := 0
				for i, id := range ids {
					one, err := e.svc.MemberTier(e.ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					var want *tiers.TierRef
					if one.Tier != nil {
						want = &tiers.TierRef{ID: one.Tier.ID, Name: one.Tier.Name}
					}
					if g, w := asJSON(t, got[id].Tier, got[id].Progress), asJSON(t, want, one.Progress); g != w {
						t.Errorf("member %d on the page: got %s, want %s", i, g, w)
					}
					if one.Progress.AtRisk {
						atRisk++
					}
				}
				if tc.basis == tiers.BasisRolling && atRisk == 0 {
					t.Errorf("members at risk: got none, want those whose growth leaves the window")
				}
			})
		}
	})
}

// asJSON is a tier and its progress as the API shows them.
func asJSON(t *testing.T, tier *tiers.TierRef, progress any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"tier": tier, "tier_progress": progress})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGrowthChangedReadsTheLadderOncePerTransaction checks that credits
// with growth read the ladder and the tier settings once per transaction,
// however many of them it holds.
func TestGrowthChangedReadsTheLadderOncePerTransaction(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		tests := []struct {
			name         string
			transactions int // the 3 credits are spread over this many
			want         int // reads of the ladder, and of the settings
		}{
			{"three credits in one transaction", 1, 1},
			{"three credits in three transactions", 3, 3},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, db)
				l := e.withLedger()
				e.ladder(t)
				m := e.member(t, "")
				ctx, s := counting(t, db, e.ctx)
				for range tc.transactions {
					err := db.Tx(ctx, func(ctx context.Context) error {
						for range 3 / tc.transactions {
							if err := credit(ctx, l, m, 10, 50, ""); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				_, byTable := s.counts()
				if got := byTable["tiers"]; got != tc.want {
					t.Errorf("reads of the ladder: got %d, want %d", got, tc.want)
				}
				if got := byTable["tier_settings"]; got != tc.want {
					t.Errorf("reads of the settings: got %d, want %d", got, tc.want)
				}
				if got := e.tierOf(t, m); got != "银卡 Silver" {
					t.Errorf("tier after 150 growth: got %q, want Silver", got)
				}
			})
		}
	})
}

// TestChangesOfTheLadderInTheTransactionCount checks that a transaction
// that changes the ladder or the settings between two credits moves the
// member by the ladder and settings as they are after the change, not as
// the first credit read them.
func TestChangesOfTheLadderInTheTransactionCount(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		tests := []struct {
			name string
			// before is the growth the member has before the transaction,
			// gained at its time (zero for now).
			before   int64
			beforeAt time.Time
			change   func(ctx context.Context, e *env, silver, gold tiers.Tier) error
			// then is the growth of the second credit.
			then int64
			want string
		}{
			{
				name: "a lowered threshold", before: 150, then: 50, want: "金卡 Gold",
				change: func(ctx context.Context, e *env, _, gold tiers.Tier) error {
					_, err := e.svc.UpdateTier(ctx, gold.ID, tiers.TierInput{GrowthThreshold: ptr[int64](200), KeepThreshold: ptr[int64](150)})
					return err
				},
			},
			{
				name: "a new tier", before: 600, then: 400, want: "钻石 Diamond",
				change: func(ctx context.Context, e *env, _, _ tiers.Tier) error {
					_, err := e.svc.CreateTier(ctx, tiers.TierInput{Name: ptr("钻石 Diamond"), Rank: ptr(3), GrowthThreshold: ptr[int64](1000)})
					return err
				},
			},
			{
				name: "a deleted tier", before: 150, then: 400, want: "银卡 Silver",
				change: func(ctx context.Context, e *env, _, gold tiers.Tier) error {
					return e.svc.DeleteTier(ctx, gold.ID)
				},
			},
			{
				name: "a switch to a rolling window", before: 90, beforeAt: local(2024, time.January, 10, 10, 0), then: 10, want: "",
				change: func(ctx context.Context, e *env, _, _ tiers.Tier) error {
					_, err := e.svc.UpdateSettings(ctx, tiers.SettingsInput{Basis: ptr(tiers.BasisRolling), WindowMonths: ptr(1)})
					return err
				},
			},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, db)
				l := e.withLedger()
				silver, gold := e.ladder(t)
				m := e.member(t, "")
				if !tc.beforeAt.IsZero() {
					e.clock.Set(tc.beforeAt)
				}
				if err := credit(e.ctx, l, m, 0, tc.before, ""); err != nil {
					t.Fatal(err)
				}
				e.clock.Set(start)
				err := db.Tx(e.ctx, func(ctx context.Context) error {
					if err := credit(ctx, l, m, 0, 5, ""); err != nil {
						return err
					}
					if err := tc.change(ctx, e, silver, gold); err != nil {
						return err
					}
					return credit(ctx, l, m, 0, tc.then, "")
				})
				if err != nil {
					t.Fatal(err)
				}
				if got := e.tierOf(t, m); got != tc.want {
					t.Errorf("tier: got %q, want %q", got, tc.want)
				}
			})
		}
	})
}
