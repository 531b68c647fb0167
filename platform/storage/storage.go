// Package storage opens jifen's database (SQLite or MySQL/MariaDB) through
// GORM, carries transactions in the context, translates driver errors into
// application errors, and applies the versioned migrations.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"jifen/pkg/clock"
	"jifen/platform"
)

// Dialects.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

// Config says which database to open and how large its pool may grow.
type Config struct {
	Driver          string // SQLite or MySQL
	DSN             string // a file path for SQLite, a go-sql-driver DSN for MySQL
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	Logger          *slog.Logger
}

// DB is the database. On SQLite, writes go through one connection so
// writers queue in Go instead of failing with "database is locked"; reads
// use a small pool that WAL lets run beside the writer. On MySQL both are
// the same pool.
type DB struct {
	Dialect string
	write   *gorm.DB
	read    *gorm.DB
	log     *slog.Logger
}

const (
	sqliteBusyTimeoutMS = 10000
	txAttempts          = 6 // deadlocks and lock-wait timeouts are retried this many times in all
)

// Open opens the database described by cfg and checks that it answers.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return clock.Real{}.Now() },
		SkipDefaultTransaction: true,
		TranslateError:         false,
	}
	db := &DB{Dialect: cfg.Driver, log: log}
	switch cfg.Driver {
	case SQLite, "":
		db.Dialect = SQLite
		if dir := filepath.Dir(cfg.DSN); dir != "." && dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("create database folder: %w", err)
			}
		}
		dsn := sqliteDSN(cfg.DSN)
		w, err := gorm.Open(sqlite.Open(dsn), gcfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		wsql, _ := w.DB()
		wsql.SetMaxOpenConns(1)
		wsql.SetMaxIdleConns(1)
		wsql.SetConnMaxLifetime(0)
		r, err := gorm.Open(sqlite.Open(dsn), gcfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		rsql, _ := r.DB()
		n := cfg.MaxOpenConns
		if n <= 0 {
			n = 4
		}
		rsql.SetMaxOpenConns(n)
		rsql.SetMaxIdleConns(n)
		db.write, db.read = w, r
	case MySQL:
		dsn, err := mysqlDSN(ctx, cfg.DSN)
		if err != nil {
			return nil, err
		}
		g, err := gorm.Open(mysql.Open(dsn), gcfg)
		if err != nil {
			return nil, fmt.Errorf("open mysql: %w", err)
		}
		s, _ := g.DB()
		if cfg.MaxOpenConns > 0 {
			s.SetMaxOpenConns(cfg.MaxOpenConns)
		} else {
			s.SetMaxOpenConns(50)
		}
		if cfg.MaxIdleConns > 0 {
			s.SetMaxIdleConns(cfg.MaxIdleConns)
		} else {
			s.SetMaxIdleConns(10)
		}
		if cfg.ConnMaxLifetime > 0 {
			s.SetConnMaxLifetime(cfg.ConnMaxLifetime)
		} else {
			s.SetConnMaxLifetime(30 * time.Minute)
		}
		db.write, db.read = g, g
	default:
		return nil, fmt.Errorf("unknown database driver %q (want sqlite or mysql)", cfg.Driver)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database does not answer: %w", err)
	}
	return db, nil
}

// sqliteDSN turns a file path into a DSN with WAL, a busy timeout, foreign
// keys on and immediate write transactions.
func sqliteDSN(path string) string {
	if strings.HasPrefix(path, "file:") && strings.Contains(path, "?") {
		return path
	}
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	return path + fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite", sqliteBusyTimeoutMS)
}

// mysqlDSN forces the settings jifen relies on: times parsed as UTC,
// matched (not changed) rows reported, utf8mb4, and READ COMMITTED for
// every connection (see docs/decisions.md). The isolation is set once per
// connection rather than per transaction, which saves a round trip on
// every transaction; MariaDB before 11.1 names the variable tx_isolation,
// MySQL 8 only transaction_isolation, so the server is asked which it is.
func mysqlDSN(ctx context.Context, dsn string) (string, error) {
	c, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("JIFEN_DB_DSN is not a valid MySQL DSN: %w", err)
	}
	c.ParseTime = true
	c.Loc = time.UTC
	c.ClientFoundRows = true
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	c.Params["time_zone"] = "'+00:00'"
	c.Params["charset"] = "utf8mb4"
	probe, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return "", err
	}
	defer probe.Close()
	var version string
	if err := probe.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return "", fmt.Errorf("database does not answer: %w", err)
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		c.Params["tx_isolation"] = "'READ-COMMITTED'"
	} else {
		c.Params["transaction_isolation"] = "'READ-COMMITTED'"
	}
	return c.FormatDSN(), nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	s, err := db.write.DB()
	if err != nil {
		return err
	}
	return s.PingContext(ctx)
}

// SQL returns the pool that writes go through, for the migration runner and
// metrics.
func (db *DB) SQL() *sql.DB {
	s, _ := db.write.DB()
	return s
}

// ReadSQL returns the read pool.
func (db *DB) ReadSQL() *sql.DB {
	s, _ := db.read.DB()
	return s
}

// Close closes the pools.
func (db *DB) Close() error {
	var errs []error
	if s, err := db.write.DB(); err == nil {
		errs = append(errs, s.Close())
	}
	if db.read != db.write {
		if s, err := db.read.DB(); err == nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

type txKey struct{}

// txState is what the context carries for a transaction: the handle every
// query joins, and the cache that lives as long as this attempt of it.
type txState struct {
	db    *gorm.DB
	cache *Cache
}

func withTx(ctx context.Context, tx *gorm.DB) context.Context {
	return context.WithValue(ctx, txKey{}, &txState{db: tx, cache: &Cache{values: map[any]any{}}})
}

// Conn returns the transaction carried by ctx, or else the read pool, bound
// to ctx. Writes must run inside Tx.
func (db *DB) Conn(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.db
	}
	return db.read.WithContext(ctx)
}

// InTx reports whether ctx carries a transaction.
func InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*txState)
	return ok
}

// Scoped returns Conn(ctx) restricted to the tenant of ctx. Every query of a
// tenant-owned table starts here, so a store can't forget the tenant.
func (db *DB) Scoped(ctx context.Context) *gorm.DB {
	tid := platform.TenantID(ctx)
	c := db.Conn(ctx)
	if tid == "" {
		c = c.Session(&gorm.Session{})
		_ = c.AddError(errors.New("storage: tenant-owned query without a tenant in the context"))
		return c
	}
	return c.Where("tenant_id = ?", tid)
}

// Tx runs fn in a transaction carried by the context it is given. Inside an
// outer transaction fn joins it; only the outermost commit is real. The
// outermost transaction is retried as a whole on deadlocks and lock-wait
// timeouts, so fn must not have effects outside the database.
func (db *DB) Tx(ctx context.Context, fn func(ctx context.Context) error) error {
	if InTx(ctx) {
		return fn(ctx)
	}
	var err error
	for attempt := 1; attempt <= txAttempts; attempt++ {
		err = db.write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(withTx(ctx, tx))
		})
		if err == nil || !retryable(err) || ctx.Err() != nil {
			break
		}
		db.log.Debug("transaction retried", "attempt", attempt, "err", err)
		backoff := time.Duration(attempt*attempt) * 5 * time.Millisecond
		time.Sleep(backoff + rand.N(backoff))
	}
	return err
}

// TxOnce is Tx without the retry, for callers whose work can't be repeated.
// A deadlock comes back as an error that IsRetryable recognises.
func (db *DB) TxOnce(ctx context.Context, fn func(ctx context.Context) error) error {
	if InTx(ctx) {
		return fn(ctx)
	}
	return db.write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(withTx(ctx, tx))
	})
}

// IsRetryable reports a deadlock, lock-wait timeout or SQLite busy error:
// the whole transaction may be tried again.
func IsRetryable(err error) bool { return err != nil && retryable(err) }

// retryable reports deadlocks, lock-wait timeouts and SQLite busy errors.
func retryable(err error) bool {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	s := err.Error()
	return strings.Contains(s, "database is locked") || strings.Contains(s, "SQLITE_BUSY")
}

// IsUniqueViolation reports whether err is a unique-key violation.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// IsNotFound reports whether err is GORM's record-not-found.
func IsNotFound(err error) bool {
	return errors.Is(err, gorm.ErrRecordNotFound)
}

// Translate turns driver errors into application errors: a missing record
// becomes not_found naming what, a unique violation becomes conflict.
// Application errors and nil pass through; anything else is wrapped and
// stays internal.
func Translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var ae *platform.Error
	if errors.As(err, &ae) {
		return err
	}
	if IsNotFound(err) {
		return platform.NotFound(what)
	}
	if IsUniqueViolation(err) {
		return platform.Errorf(platform.EConflict, "A %s with these values already exists.", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Now returns the current UTC time at the precision the database keeps.
func (db *DB) Now() time.Time { return clock.Real{}.Now() }

// ErrNotFound is GORM's record-not-found, for stores that detect a missing
// row themselves (an update that matched nothing).
var ErrNotFound = gorm.ErrRecordNotFound

// ForUpdate adds SELECT ... FOR UPDATE on MySQL. On SQLite the single
// writer connection already serialises write transactions, so the plain
// read is enough.
func (db *DB) ForUpdate(q *gorm.DB) *gorm.DB {
	if db.Dialect == MySQL {
		return q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return q
}
