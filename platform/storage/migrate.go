package storage

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"testing/fstest"

	"github.com/pressly/goose/v3"
)

// The migrations are one append-only numbered list of SQL files written in
// the SQL both dialects accept. The differences that can't be written
// portably (an auto-increment key, DATETIME(6)) are spelled the MySQL way
// and rewritten for SQLite by sqliteRewrites.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

var sqliteRewrites = strings.NewReplacer(
	"BIGINT NOT NULL AUTO_INCREMENT", "INTEGER NOT NULL",
	// The driver turns a column into time.Time only when its declared type is exactly DATETIME.
	"DATETIME(6)", "DATETIME",
)

func migrationFS(dialect string) (fs.FS, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if dialect != SQLite {
		return sub, nil
	}
	out := fstest.MapFS{}
	err = fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, path)
		if err != nil {
			return err
		}
		out[path] = &fstest.MapFile{Data: bytes.Clone([]byte(sqliteRewrites.Replace(string(b))))}
		return nil
	})
	return out, err
}

// MigrationResult describes one applied migration.
type MigrationResult struct {
	Version int64
	Name    string
}

// Migrate applies every pending migration. On MySQL a named lock makes
// replicas that start together apply them once.
func (db *DB) Migrate(ctx context.Context) ([]MigrationResult, error) {
	fsys, err := migrationFS(db.Dialect)
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	if db.Dialect == MySQL {
		dialect = goose.DialectMySQL
		if err := db.checkCharset(ctx); err != nil {
			return nil, err
		}
		conn, err := db.SQL().Conn(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		var got int
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('jifen_migrate', 120)").Scan(&got); err != nil || got != 1 {
			return nil, fmt.Errorf("could not take the migration lock (another replica may be migrating): %v", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('jifen_migrate')")
	}
	p, err := goose.NewProvider(dialect, db.SQL(), fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	res, err := p.Up(ctx)
	out := make([]MigrationResult, 0, len(res))
	for _, r := range res {
		if r.Source != nil {
			out = append(out, MigrationResult{Version: r.Source.Version, Name: r.Source.Path})
		}
	}
	if err != nil {
		return out, fmt.Errorf("apply migrations: %w", err)
	}
	return out, nil
}

// checkCharset refuses a MySQL database whose default character set is not
// utf8mb4: member names and reasons are Chinese text.
func (db *DB) checkCharset(ctx context.Context) error {
	var cs string
	if err := db.SQL().QueryRowContext(ctx, "SELECT @@character_set_database").Scan(&cs); err != nil {
		return err
	}
	if cs != "utf8mb4" {
		return fmt.Errorf("the database's character set is %s; create it with CHARACTER SET utf8mb4 (see docs/operations.md)", cs)
	}
	return nil
}
