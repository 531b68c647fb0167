package storage_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

func TestTxCommitsRollsBackAndNests(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		insert := func(ctx context.Context, id string) error {
			return db.Conn(ctx).Exec("INSERT INTO tenants (id,name,status,time_zone,currency,points_expiry_months,points_per_unit,max_deduction_percent,created_at,updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
				id, "n", "active", "UTC", "CNY", 12, 100, 50, now, now).Error
		}
		count := func(id string) int64 {
			var n int64
			db.Conn(ctx).Table("tenants").Where("id = ?", id).Count(&n)
			return n
		}
		boom := errors.New("boom")
		err := db.Tx(ctx, func(ctx context.Context) error {
			if err := insert(ctx, "t-rolled-back"); err != nil {
				return err
			}
			return db.Tx(ctx, func(ctx context.Context) error { return boom })
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
		if got := count("t-rolled-back"); got != 0 {
			t.Fatalf("rolled back row present: got %d rows, want 0", got)
		}
		if err := db.Tx(ctx, func(ctx context.Context) error { return insert(ctx, "t-kept") }); err != nil {
			t.Fatal(err)
		}
		if got := count("t-kept"); got != 1 {
			t.Fatalf("got %d rows, want 1", got)
		}
		err = db.Tx(ctx, func(ctx context.Context) error { return insert(ctx, "t-kept") })
		if !storage.IsUniqueViolation(err) {
			t.Fatalf("duplicate insert: got %v, want a unique violation", err)
		}
		if got := platform.ErrorCode(storage.Translate(err, "tenant")); got != platform.EConflict {
			t.Fatalf("translated code: got %q, want conflict", got)
		}
	})
}

func TestScopedRefusesMissingTenant(t *testing.T) {
	db := storagetest.OpenSQLite(t)
	var n int64
	err := db.Scoped(context.Background()).Table("members").Count(&n).Error
	if err == nil {
		t.Fatal("got no error for a tenant-owned query without a tenant")
	}
}

// TestConcurrentWritersQueue checks that many concurrent write transactions
// all succeed on both databases instead of failing with "database is locked".
func TestConcurrentWritersQueue(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs <- db.Tx(ctx, func(ctx context.Context) error {
					return db.Conn(ctx).Exec("UPDATE policy_version SET version = version + 1 WHERE id = 1").Error
				})
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent write failed: %v", err)
			}
		}
	})
}

func TestTimesRoundTripInUTC(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		want := time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.UTC)
		id := "t-time-" + db.Dialect
		err := db.Tx(ctx, func(ctx context.Context) error {
			return db.Conn(ctx).Exec("INSERT INTO tenants (id,name,status,time_zone,currency,points_expiry_months,points_per_unit,max_deduction_percent,created_at,updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
				id, "n", "active", "UTC", "CNY", 12, 100, 50, want, want).Error
		})
		if err != nil {
			t.Fatal(err)
		}
		var got time.Time
		if err := db.Conn(ctx).Raw("SELECT created_at FROM tenants WHERE id = ?", id).Row().Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		var n int64
		db.Conn(ctx).Table("tenants").Where("id = ? AND created_at < ?", id, want.Add(time.Microsecond)).Count(&n)
		if n != 1 {
			t.Fatalf("time comparison: got %d rows, want 1", n)
		}
	})
}

func TestFindPage(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		type row struct {
			TenantID, ID, ExternalID, Name, Phone, Birthday string
			CreatedAt, UpdatedAt                            time.Time
		}
		ctx := platform.WithTenant(context.Background(), platform.Tenant{ID: "page-" + db.Dialect + time.Now().Format("150405.000000")})
		now := time.Now().UTC()
		var want []string
		for i := 0; i < 5; i++ {
			id := ids.New()
			want = append(want, id)
			err := db.Tx(ctx, func(ctx context.Context) error {
				return db.Conn(ctx).Table("members").Create(&row{TenantID: platform.TenantID(ctx), ID: id, ExternalID: id, CreatedAt: now, UpdatedAt: now}).Error
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, newest := range []bool{false, true} {
			var got []string
			cur := ""
			for pages := 0; ; pages++ {
				rows, next, err := storage.FindPage[row](db.Scoped(ctx).Table("members"), 2, cur, newest)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					got = append(got, r.ID)
				}
				if next == "" {
					if pages != 2 {
						t.Fatalf("pages: got %d, want 3", pages+1)
					}
					break
				}
				cur = next
			}
			exp := append([]string(nil), want...)
			if newest {
				for i, j := 0, len(exp)-1; i < j; i, j = i+1, j-1 {
					exp[i], exp[j] = exp[j], exp[i]
				}
			}
			if strings.Join(got, ",") != strings.Join(exp, ",") {
				t.Fatalf("newest first %v: got %v, want %v", newest, got, exp)
			}
		}
		_, _, err := storage.FindPage[row](db.Scoped(ctx).Table("members"), 2, "garbage!", false)
		if platform.ErrorCode(err) != platform.EValidation {
			t.Fatalf("bad cursor: got %v, want validation_failed", err)
		}
	})
}

// TestMySQLReadCommitted checks that transactions on MySQL/MariaDB run at
// READ COMMITTED without asking for it per transaction.
func TestMySQLReadCommitted(t *testing.T) {
	db := storagetest.OpenMySQL(t)
	err := db.Tx(context.Background(), func(ctx context.Context) error {
		var version, level string
		if err := db.Conn(ctx).Raw("SELECT VERSION()").Row().Scan(&version); err != nil {
			return err
		}
		q := "SELECT @@transaction_isolation"
		if strings.Contains(strings.ToLower(version), "mariadb") {
			q = "SELECT @@tx_isolation"
		}
		if err := db.Conn(ctx).Raw(q).Row().Scan(&level); err != nil {
			return err
		}
		if level != "READ-COMMITTED" {
			t.Errorf("isolation: got %s, want READ-COMMITTED", level)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
