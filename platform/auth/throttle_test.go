package auth

import (
	"context"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/platform"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

const rightPassword = "right-password"

var seq atomic.Int64

// uniqueEmail and uniqueIP keep tests apart on the shared MariaDB database.
func uniqueEmail() string { return fmt.Sprintf("user-%d@shop.test", seq.Add(1)) }
func uniqueIP() string    { return fmt.Sprintf("203.0.113.%d", seq.Add(1)) }

// start is 30 seconds into a minute, so a test knows which one-minute
// bucket each attempt falls in.
var start = time.Date(2025, 3, 1, 12, 0, 30, 0, time.UTC)

func newService(t *testing.T, db *storage.DB) (*Service, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	return &Service{DB: db, Clock: clk, Throttle: NewThrottle(clk), TokenKey: []byte("test-token-key-0123456789abcdef!"), PasswordCost: bcrypt.MinCost}, clk
}

func newUser(t *testing.T, s *Service) string {
	t.Helper()
	email := uniqueEmail()
	if _, err := s.CreateUser(context.Background(), email, rightPassword, false); err != nil {
		t.Fatal(err)
	}
	return email
}

// attempt logs in and returns the error code, or "ok".
func attempt(s *Service, email, password, ip string) string {
	_, err := s.Login(context.Background(), email, password, ip)
	if err == nil {
		return "ok"
	}
	return platform.ErrorCode(err)
}

func mustAttempt(t *testing.T, s *Service, email, password, ip, want string) {
	t.Helper()
	if got := attempt(s, email, password, ip); got != want {
		t.Fatalf("login %s from %s: got %s, want %s", email, ip, got, want)
	}
}

func TestThrottleLimits(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		tests := []struct {
			name string
			run  func(t *testing.T, s *Service, clk *clock.Fake)
		}{
			{"five failures of an account from any addresses block it, right password included", func(t *testing.T, s *Service, clk *clock.Fake) {
				email, other := newUser(t, s), newUser(t, s)
				for i := 0; i < 5; i++ {
					mustAttempt(t, s, email, "wrong-password", uniqueIP(), platform.EUnauthenticated)
					clk.Advance(time.Minute)
				}
				ip := uniqueIP()
				mustAttempt(t, s, email, rightPassword, ip, platform.ERateLimited)
				mustAttempt(t, s, other, rightPassword, ip, "ok")
			}},
			{"twenty failures from an address block it for every account", func(t *testing.T, s *Service, clk *clock.Fake) {
				email, ip := newUser(t, s), uniqueIP()
				for i := 0; i < 20; i++ {
					// Four accounts, five failures each, would block
					// those accounts too: every failure is on a new one.
					mustAttempt(t, s, uniqueEmail(), "wrong-password", ip, platform.EUnauthenticated)
				}
				mustAttempt(t, s, email, rightPassword, ip, platform.ERateLimited)
				mustAttempt(t, s, email, rightPassword, uniqueIP(), "ok")
			}},
			{"a success clears the account's failures", func(t *testing.T, s *Service, clk *clock.Fake) {
				email, ip := newUser(t, s), uniqueIP()
				for i := 0; i < 4; i++ {
					mustAttempt(t, s, email, "wrong-password", ip, platform.EUnauthenticated)
				}
				mustAttempt(t, s, email, rightPassword, ip, "ok")
				for i := 0; i < 4; i++ {
					mustAttempt(t, s, email, "wrong-password", ip, platform.EUnauthenticated)
				}
				mustAttempt(t, s, email, rightPassword, ip, "ok")
			}},
			{"a success keeps the address's failures", func(t *testing.T, s *Service, clk *clock.Fake) {
				email, ip := newUser(t, s), uniqueIP()
				for i := 0; i < 19; i++ {
					mustAttempt(t, s, uniqueEmail(), "wrong-password", ip, platform.EUnauthenticated)
				}
				mustAttempt(t, s, email, rightPassword, ip, "ok")
				mustAttempt(t, s, email, "wrong-password", ip, platform.EUnauthenticated)
				mustAttempt(t, s, newUser(t, s), rightPassword, ip, platform.ERateLimited)
			}},
			{"a failure stops counting once its minute is 15 minutes old", func(t *testing.T, s *Service, clk *clock.Fake) {
				email := newUser(t, s)
				mustAttempt(t, s, email, "wrong-password", uniqueIP(), platform.EUnauthenticated)
				clk.Advance(5 * time.Minute)
				for i := 0; i < 4; i++ {
					mustAttempt(t, s, email, "wrong-password", uniqueIP(), platform.EUnauthenticated)
				}
				// The first failure was at 12:00:30; its minute leaves the
				// window at 12:15:00.
				clk.Set(time.Date(2025, 3, 1, 12, 14, 59, 999999000, time.UTC))
				mustAttempt(t, s, email, rightPassword, uniqueIP(), platform.ERateLimited)
				clk.Set(time.Date(2025, 3, 1, 12, 15, 0, 0, time.UTC))
				mustAttempt(t, s, email, "wrong-password", uniqueIP(), platform.EUnauthenticated)
				// Five again (four at 12:05:30, one now) until 12:20:00.
				mustAttempt(t, s, email, rightPassword, uniqueIP(), platform.ERateLimited)
				clk.Set(time.Date(2025, 3, 1, 12, 20, 0, 0, time.UTC))
				mustAttempt(t, s, email, rightPassword, uniqueIP(), "ok")
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s, clk := newService(t, db)
				tc.run(t, s, clk)
			})
		}
	})
}

// TestThrottleTableHoldsNoEmailOrAddress checks that the counts are kept
// under keyed hashes only.
func TestThrottleTableHoldsNoEmailOrAddress(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		s, _ := newService(t, db)
		email, ip := uniqueEmail(), uniqueIP()
		mustAttempt(t, s, email, "wrong-password", ip, platform.EUnauthenticated)
		want := map[string]bool{s.loginSubjects(email, ip).account: true, s.loginSubjects(email, ip).address: true}
		var keys []string
		if err := db.Conn(context.Background()).Raw(`SELECT subject_key FROM login_failures WHERE subject_key IN ?`,
			[]string{s.loginSubjects(email, ip).account, s.loginSubjects(email, ip).address, email, ip}).Scan(&keys).Error; err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || !want[keys[0]] || !want[keys[1]] {
			t.Fatalf("subject keys: got %v, want the two hashes only", keys)
		}
	})
}

// TestThrottleConcurrentFailures counts failures recorded at once by many
// callers, as from several replicas: none may be lost to the race between
// update and insert.
func TestThrottleConcurrentFailures(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		s, _ := newService(t, db)
		shared, same := uniqueIP(), uniqueEmail()
		const n = 12
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Half share the account and the address, half only the
				// address, so both the combined and the per-key paths run.
				email := same
				if i%2 == 1 {
					email = uniqueEmail()
				}
				errs <- s.Throttle.fail(context.Background(), db, s.loginSubjects(email, shared))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var got int64
		if err := db.Conn(context.Background()).Raw(`SELECT SUM(n) FROM login_failures WHERE subject_key = ?`,
			s.loginSubjects("", shared).address).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Fatalf("failures of the address: got %d, want %d", got, n)
		}
		if err := db.Conn(context.Background()).Raw(`SELECT SUM(n) FROM login_failures WHERE subject_key = ?`,
			s.loginSubjects(same, shared).account).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != n/2 {
			t.Fatalf("failures of the shared account: got %d, want %d", got, n/2)
		}
	})
}

func TestPurgeLoginFailures(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		s, clk := newService(t, db)
		ctx := context.Background()
		old, recent, ip := newUser(t, s), newUser(t, s), uniqueIP()
		for i := 0; i < 5; i++ {
			mustAttempt(t, s, old, "wrong-password", ip, platform.EUnauthenticated)
		}
		// The old failures' minute ended an hour ago.
		clk.Advance(LoginFailureRetention + time.Minute)
		for i := 0; i < 5; i++ {
			mustAttempt(t, s, recent, "wrong-password", ip, platform.EUnauthenticated)
		}
		countOf := func(email string) int64 {
			t.Helper()
			var n int64
			if err := db.Conn(ctx).Raw(`SELECT COUNT(*) FROM login_failures WHERE subject_key = ?`, s.loginSubjects(email, ip).account).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}

		if _, err := PurgeLoginFailures(db, LoginWindow-time.Minute)(ctx, clk.Now()); err == nil {
			t.Fatal("retention under the window: got no error, want one")
		}
		if got := countOf(old); got != 1 {
			t.Fatalf("rows after the refused purge: got %d, want 1", got)
		}
		res, err := PurgeLoginFailures(db, LoginFailureRetention)(ctx, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res["deleted"].(int64) < 1 {
			t.Fatalf("deleted: got %v, want at least 1", res["deleted"])
		}
		if got := countOf(old); got != 0 {
			t.Fatalf("rows of the hour-old failures: got %d, want 0", got)
		}
		mustAttempt(t, s, recent, rightPassword, uniqueIP(), platform.ERateLimited)
	})
}
