package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"jifen/platform"
	"jifen/platform/scheduler"
	"jifen/platform/storage"
)

// Login throttling counts failed logins in the login_failures table, so every
// replica sees the same counts. A row is (subject_key, bucket, n): n failures
// of one account or one client address in one minute. The subject key is the
// HMAC-SHA256 of the email or address under the service's TokenKey, so the
// table holds neither, and a copy of it alone can't be checked against a list
// of emails.
const (
	// LoginWindow is how long a failed login counts against its account and
	// its address. Counts are kept in one-minute buckets and the last
	// LoginWindow of buckets, the current one included, are summed: a failure
	// stops counting between 14 and 15 minutes after it happened.
	LoginWindow = 15 * time.Minute
	// LoginFailureRetention is how long PurgeLoginFailures keeps the counts
	// by default: longer than the window, so a purge never changes a check.
	LoginFailureRetention = time.Hour
	// JobPurgeLoginFailures names the job that deletes old counts.
	JobPurgeLoginFailures = "auth.login_failures.purge"

	loginBucket     = time.Minute
	loginBuckets    = int64(LoginWindow / loginBucket)
	loginPurgeBatch = 1000
)

// Throttle limits failed logins per account and per client address within
// LoginWindow. The counts are kept in the database (see Service.Login), so
// the limits hold across all replicas together.
type Throttle struct {
	Clock         platform.Clock
	MaxPerAccount int
	MaxPerAddress int
}

// NewThrottle returns a throttle with jifen's limits: 5 failures per account
// and 20 per address in 15 minutes.
func NewThrottle(c platform.Clock) *Throttle {
	return &Throttle{Clock: c, MaxPerAccount: 5, MaxPerAddress: 20}
}

// loginSubjects are the hashed keys a login attempt is counted under.
type loginSubjects struct {
	account, address string
}

// loginSubjects hashes an email (already normalised) and a client address.
// The prefixes keep an account and an address with the same text apart, and
// both apart from the session tokens and API keys hashed with the same key.
func (s *Service) loginSubjects(email, clientIP string) loginSubjects {
	return loginSubjects{account: s.hashToken("login.account:" + email), address: s.hashToken("login.address:" + clientIP)}
}

func loginBucketOf(t time.Time) int64 { return t.Unix() / int64(loginBucket/time.Second) }

// check returns rate_limited when the account or the address has failed too
// often lately, and otherwise the account's recent failures (so a success
// with none need not write). It is one SELECT.
func (t *Throttle) check(ctx context.Context, db *storage.DB, k loginSubjects) (int64, error) {
	var rows []struct {
		SubjectKey string
		N          int64
	}
	since := loginBucketOf(t.Clock.Now()) - loginBuckets + 1
	err := db.Conn(ctx).Raw(`SELECT subject_key, SUM(n) AS n FROM login_failures
		WHERE subject_key IN (?, ?) AND bucket >= ? GROUP BY subject_key`, k.account, k.address, since).Scan(&rows).Error
	if err != nil {
		return 0, fmt.Errorf("login throttle: %w", err)
	}
	var account, address int64
	for _, r := range rows {
		switch r.SubjectKey {
		case k.account:
			account = r.N
		case k.address:
			address = r.N
		}
	}
	if account >= int64(t.MaxPerAccount) || address >= int64(t.MaxPerAddress) {
		return account, platform.Errorf(platform.ERateLimited, "Too many failed logins; wait %d minutes and try again.", int(LoginWindow.Minutes()))
	}
	return account, nil
}

// errPartialBump says the combined update found one of the two rows: which
// one is unknown, so the transaction is rolled back and each key is counted
// on its own.
var errPartialBump = errors.New("login throttle: one of two rows updated")

// fail counts a failed attempt against the account and the address. When
// both already have a row for this minute, as during a run of guesses, that
// is a single UPDATE.
func (t *Throttle) fail(ctx context.Context, db *storage.DB, k loginSubjects) error {
	bucket := loginBucketOf(t.Clock.Now())
	// Sorted, so that concurrent attempts lock the rows in the order the
	// combined update does, which keeps MySQL deadlocks rare.
	keys := []string{k.account, k.address}
	slices.Sort(keys)
	bumpEach := func(ctx context.Context) error {
		for _, key := range keys {
			if err := bumpLoginFailure(ctx, db, key, bucket); err != nil {
				return err
			}
		}
		return nil
	}
	if storage.InTx(ctx) {
		// The caller's transaction can't be rolled back for a retry.
		return wrapThrottle(db.Tx(ctx, bumpEach))
	}
	err := db.Tx(ctx, func(ctx context.Context) error {
		res := db.Conn(ctx).Exec(`UPDATE login_failures SET n = n + 1 WHERE subject_key IN ? AND bucket = ?`, keys, bucket)
		switch {
		case res.Error != nil:
			return res.Error
		case res.RowsAffected == int64(len(keys)):
			return nil
		case res.RowsAffected == 0:
			// Neither row existed; one created since then is found by
			// the retried update in bumpLoginFailure.
			return bumpEach(ctx)
		}
		return errPartialBump
	})
	if errors.Is(err, errPartialBump) {
		err = db.Tx(ctx, bumpEach)
	}
	return wrapThrottle(err)
}

// bumpLoginFailure adds one to a key's count in a bucket: an update, an
// insert when no row matched, and the update again when another replica
// inserted the row in between.
func bumpLoginFailure(ctx context.Context, db *storage.DB, key string, bucket int64) error {
	const update = `UPDATE login_failures SET n = n + 1 WHERE subject_key = ? AND bucket = ?`
	res := db.Conn(ctx).Exec(update, key, bucket)
	if res.Error != nil || res.RowsAffected > 0 {
		return res.Error
	}
	err := db.Conn(ctx).Exec(`INSERT INTO login_failures (subject_key, bucket, n) VALUES (?, ?, 1)`, key, bucket).Error
	if storage.IsUniqueViolation(err) {
		return db.Conn(ctx).Exec(update, key, bucket).Error
	}
	return err
}

// clear forgets the account's failures; the address keeps its count, so a
// guesser who owns one valid account can't reset it.
func (t *Throttle) clear(ctx context.Context, db *storage.DB, k loginSubjects) error {
	return wrapThrottle(db.Tx(ctx, func(ctx context.Context) error {
		return db.Conn(ctx).Exec(`DELETE FROM login_failures WHERE subject_key = ?`, k.account).Error
	}))
}

func wrapThrottle(err error) error {
	if err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	return nil
}

// PurgeLoginFailures returns a job that deletes the failed-login counts of
// minutes that ended more than olderThan before the run's time. A retention
// shorter than LoginWindow, which would lift limits early, fails the run and
// deletes nothing.
func PurgeLoginFailures(db *storage.DB, olderThan time.Duration) func(ctx context.Context, now time.Time) (scheduler.Result, error) {
	return func(ctx context.Context, now time.Time) (scheduler.Result, error) {
		if olderThan < LoginWindow {
			return nil, fmt.Errorf("failed logins must be kept at least %s; got %s", LoginWindow, olderThan)
		}
		// A bucket below cutoff ended at or before now - olderThan.
		cutoff := loginBucketOf(now.Add(-olderThan))
		var deleted int64
		for ctx.Err() == nil {
			var keys []string
			err := db.Conn(ctx).Raw(`SELECT subject_key FROM login_failures WHERE bucket < ? ORDER BY bucket LIMIT ?`,
				cutoff, loginPurgeBatch).Scan(&keys).Error
			if err != nil {
				return scheduler.Result{"deleted": deleted}, err
			}
			found := len(keys)
			if found > 0 {
				slices.Sort(keys)
				keys = slices.Compact(keys)
				var n int64
				err = db.Tx(ctx, func(ctx context.Context) error {
					res := db.Conn(ctx).Exec(`DELETE FROM login_failures WHERE subject_key IN ? AND bucket < ?`, keys, cutoff)
					n = res.RowsAffected
					return res.Error
				})
				if err != nil {
					return scheduler.Result{"deleted": deleted}, err
				}
				deleted += n
			}
			if found < loginPurgeBatch {
				break
			}
		}
		return scheduler.Result{"deleted": deleted}, ctx.Err()
	}
}

// Jobs returns the jobs this package implements: the hourly purge of old
// failed-login counts.
func Jobs(db *storage.DB) []scheduler.Job {
	return []scheduler.Job{
		{Name: JobPurgeLoginFailures, Schedule: "20 * * * *", LocalHour: -1, Run: PurgeLoginFailures(db, LoginFailureRetention)},
	}
}
