package storage_test

import (
	"context"
	"errors"
	"testing"

	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

type cacheKey string

func TestTxCacheLivesAsLongAsTheOutermostTransaction(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		get := func(ctx context.Context, key cacheKey) any {
			v, _ := storage.TxCache(ctx).Get(key)
			return v
		}
		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"outside a transaction nothing is remembered", func(t *testing.T) {
				if c := storage.TxCache(ctx); c != nil {
					t.Fatalf("got a cache %p outside a transaction, want nil", c)
				}
				storage.TxCache(ctx).Set(cacheKey("k"), 1)
				storage.TxCache(ctx).Delete(cacheKey("k"))
				if v, ok := storage.TxCache(ctx).Get(cacheKey("k")); ok {
					t.Fatalf("got %v outside a transaction, want nothing", v)
				}
			}},
			{"an inner transaction shares the outer one's cache", func(t *testing.T) {
				err := db.Tx(ctx, func(ctx context.Context) error {
					storage.TxCache(ctx).Set(cacheKey("outer"), "o")
					err := db.Tx(ctx, func(ctx context.Context) error {
						if got := get(ctx, "outer"); got != "o" {
							t.Errorf("inner sees outer's entry: got %v, want o", got)
						}
						storage.TxCache(ctx).Set(cacheKey("inner"), "i")
						return nil
					})
					if got := get(ctx, "inner"); got != "i" {
						t.Errorf("outer sees inner's entry: got %v, want i", got)
					}
					storage.TxCache(ctx).Delete(cacheKey("inner"))
					if got := get(ctx, "inner"); got != nil {
						t.Errorf("after Delete: got %v, want nothing", got)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}},
			{"Clear forgets everything", func(t *testing.T) {
				err := db.Tx(ctx, func(ctx context.Context) error {
					storage.TxCache(ctx).Set(cacheKey("a"), 1)
					storage.TxCache(ctx).Set(cacheKey("b"), 2)
					storage.TxCache(ctx).Clear()
					if a, b := get(ctx, "a"), get(ctx, "b"); a != nil || b != nil {
						t.Errorf("after Clear: got %v and %v, want nothing", a, b)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				storage.TxCache(ctx).Clear()
			}},
			{"the next transaction starts empty", func(t *testing.T) {
				for i := range 2 {
					err := db.Tx(ctx, func(ctx context.Context) error {
						if got := get(ctx, "seen"); got != nil {
							t.Errorf("transaction %d: got %v left by an earlier transaction, want nothing", i, got)
						}
						storage.TxCache(ctx).Set(cacheKey("seen"), i)
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
			}},
			{"a retried attempt starts empty", func(t *testing.T) {
				attempts := 0
				err := db.Tx(ctx, func(ctx context.Context) error {
					attempts++
					if got := get(ctx, "attempt"); got != nil {
						t.Errorf("attempt %d: got %v from a rolled-back attempt, want nothing", attempts, got)
					}
					storage.TxCache(ctx).Set(cacheKey("attempt"), attempts)
					if attempts == 1 {
						return errors.New("database is locked")
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if attempts != 2 {
					t.Fatalf("got %d attempts, want 2", attempts)
				}
			}},
			{"TxOnce has a cache too", func(t *testing.T) {
				err := db.TxOnce(ctx, func(ctx context.Context) error {
					storage.TxCache(ctx).Set(cacheKey("once"), true)
					if got := get(ctx, "once"); got != true {
						t.Errorf("got %v, want true", got)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, tt.run)
		}
	})
}
