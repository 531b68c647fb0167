package members_test

import (
	"context"
	"testing"
	"time"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/members"
)

// TestLockedMemberIsRememberedForTheTransaction checks what a transaction
// remembers of the members it locked: the lock lasts until the transaction
// ends, an update made in the transaction is what it reads next, and a
// member locked for one tenant stays out of reach of another.
func TestLockedMemberIsRememberedForTheTransaction(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		store := &members.Store{DB: db}
		tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
		ctx := routertest.TenantContext(t, db, tid)
		otherCtx := routertest.TenantContext(t, db, routertest.CreateTenant(t, db, routertest.TenantOptions{}))
		now := time.Now().UTC().Truncate(time.Microsecond)
		m := members.Member{TenantID: tid, ID: ids.New(), ExternalID: "u1", Name: "Old", CreatedAt: now, UpdatedAt: now}
		if err := store.CreateMember(ctx, &m); err != nil {
			t.Fatal(err)
		}
		inTx := func(t *testing.T, fn func(ctx context.Context)) {
			t.Helper()
			if err := db.Tx(ctx, func(ctx context.Context) error { fn(ctx); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		lock := func(t *testing.T, ctx context.Context) members.Member {
			t.Helper()
			got, err := store.LockMember(ctx, m.ID)
			if err != nil {
				t.Fatalf("lock: %v", err)
			}
			return got
		}
		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"the lock is known until the transaction ends", func(t *testing.T) {
				inTx(t, func(ctx context.Context) {
					if store.Locked(ctx, m.ID) {
						t.Error("before LockMember: got locked, want not locked")
					}
					lock(t, ctx)
					if !store.Locked(ctx, m.ID) {
						t.Error("after LockMember: got not locked, want locked")
					}
					_ = db.Tx(ctx, func(ctx context.Context) error {
						if !store.Locked(ctx, m.ID) {
							t.Error("in an inner transaction: got not locked, want locked")
						}
						return nil
					})
				})
				if store.Locked(ctx, m.ID) {
					t.Error("after the commit: got locked, want not locked")
				}
				inTx(t, func(ctx context.Context) {
					if store.Locked(ctx, m.ID) {
						t.Error("in the next transaction: got locked, want not locked")
					}
				})
			}},
			{"an update in the transaction is what it reads next", func(t *testing.T) {
				inTx(t, func(ctx context.Context) {
					got := lock(t, ctx)
					got.Name = "New"
					if err := store.UpdateMember(ctx, &got); err != nil {
						t.Fatalf("update: %v", err)
					}
					if again := lock(t, ctx); again.Name != "New" {
						t.Errorf("LockMember after the update: got name %q, want New", again.Name)
					}
					found, err := store.FindMemberByID(ctx, m.ID)
					if err != nil || found.Name != "New" {
						t.Errorf("FindMemberByID after the update: got %q, %v, want New", found.Name, err)
					}
				})
			}},
			{"another tenant can't reach a member locked in the transaction", func(t *testing.T) {
				inTx(t, func(ctx context.Context) {
					lock(t, ctx)
					tenant, _ := platform.TenantFrom(otherCtx)
					other := platform.WithTenant(ctx, tenant)
					if _, err := store.LockMember(other, m.ID); !platform.IsCode(err, platform.ENotFound) {
						t.Errorf("LockMember as another tenant: got %v, want not_found", err)
					}
					if _, err := store.FindMemberByID(other, m.ID); !platform.IsCode(err, platform.ENotFound) {
						t.Errorf("FindMemberByID as another tenant: got %v, want not_found", err)
					}
					if store.Locked(other, m.ID) {
						t.Error("Locked as another tenant: got locked, want not locked")
					}
				})
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, tc.run)
		}
	})
}
