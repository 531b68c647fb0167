// Package storagetest gives tests real databases: a fresh SQLite file per
// call, and one MariaDB/MySQL database per test binary, migrated once and
// dropped by Main. Tests isolate themselves by creating their own tenants.
//
// MySQL is found at JIFEN_TEST_MYSQL_DSN (default root@tcp(127.0.0.1:3306)/).
// When it can't be reached, tests that need it fail if CI or
// JIFEN_TEST_REQUIRE_MYSQL is set, and are skipped with a message otherwise.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"jifen/platform/storage"
)

// Dialects lists the databases every storage test runs against.
var Dialects = []string{storage.SQLite, storage.MySQL}

// ForEach runs fn as a subtest on a migrated SQLite database and on a
// migrated MySQL database.
func ForEach(t *testing.T, fn func(t *testing.T, db *storage.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a migrated database of the dialect.
func Open(t testing.TB, dialect string) *storage.DB {
	t.Helper()
	switch dialect {
	case storage.SQLite:
		return OpenSQLite(t)
	case storage.MySQL:
		return OpenMySQL(t)
	}
	t.Fatalf("unknown dialect %q", dialect)
	return nil
}

// OpenSQLite returns a new migrated SQLite database in a temporary folder.
func OpenSQLite(t testing.TB) *storage.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jifen.db")
	db, err := storage.Open(context.Background(), storage.Config{Driver: storage.SQLite, DSN: path})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return db
}

var mysqlState struct {
	once sync.Once
	db   *storage.DB
	name string
	dsn  string
	err  error
}

// ServerDSN is the DSN of the MySQL server used by tests, without a database.
func ServerDSN() string {
	if v := os.Getenv("JIFEN_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// Required reports whether a missing MySQL fails tests instead of skipping
// them.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("JIFEN_TEST_REQUIRE_MYSQL") != ""
}

// OpenMySQL returns this test binary's migrated MySQL database.
func OpenMySQL(t testing.TB) *storage.DB {
	t.Helper()
	mysqlState.once.Do(func() {
		mysqlState.dsn, mysqlState.name, mysqlState.err = CreateMySQLDatabase("jifen_t")
		if mysqlState.err != nil {
			return
		}
		db, err := storage.Open(context.Background(), storage.Config{Driver: storage.MySQL, DSN: mysqlState.dsn})
		if err != nil {
			mysqlState.err = err
			return
		}
		if _, err := db.Migrate(context.Background()); err != nil {
			mysqlState.err = err
			return
		}
		mysqlState.db = db
	})
	if mysqlState.err != nil {
		if Required() {
			t.Fatalf("MySQL/MariaDB is required here but not usable at %s: %v", ServerDSN(), mysqlState.err)
		}
		t.Skipf("MySQL/MariaDB not reachable at %s (set CI or JIFEN_TEST_REQUIRE_MYSQL to fail instead): %v", ServerDSN(), mysqlState.err)
	}
	return mysqlState.db
}

// CreateMySQLDatabase creates an empty utf8mb4 database with a unique name
// starting with prefix and returns a DSN for it and its name.
func CreateMySQLDatabase(prefix string) (dsn, name string, err error) {
	cfg, err := mysqldriver.ParseDSN(ServerDSN())
	if err != nil {
		return "", "", err
	}
	cfg.DBName = ""
	server, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", "", err
	}
	defer server.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name = fmt.Sprintf("%s_%d_%s", prefix, os.Getpid(), hex.EncodeToString(b))
	if _, err := server.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return "", "", err
	}
	cfg.DBName = name
	return cfg.FormatDSN(), name, nil
}

// DropMySQLDatabase drops a database made by CreateMySQLDatabase.
func DropMySQLDatabase(name string) error {
	cfg, err := mysqldriver.ParseDSN(ServerDSN())
	if err != nil {
		return err
	}
	cfg.DBName = ""
	server, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer server.Close()
	_, err = server.Exec("DROP DATABASE IF EXISTS `" + name + "`")
	return err
}

var afterAll []func()

// AfterAll registers fn to run after the package's tests, before Main drops
// the database.
func AfterAll(fn func()) { afterAll = append(afterAll, fn) }

// Main runs the tests of a package and drops its MySQL database afterwards.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	for _, fn := range afterAll {
		fn()
	}
	if mysqlState.db != nil {
		mysqlState.db.Close()
		DropMySQLDatabase(mysqlState.name)
	}
	os.Exit(code)
}
