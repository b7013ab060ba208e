package storage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer lorasweep than this binary: it never downgrades silently.
var ErrSchemaTooNew = errors.New("database schema is newer than this lorasweep")

// migration is one numbered, embedded SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded files named NNNN_name.sql, in order,
// with the dialect placeholders substituted.
func loadMigrations(driver string) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	repl := strings.NewReplacer(
		"{{PK}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{FLOAT}}", "REAL",
	)
	if driver == DriverPostgres {
		repl = strings.NewReplacer(
			"{{PK}}", "BIGSERIAL PRIMARY KEY",
			"{{FLOAT}}", "DOUBLE PRECISION",
		)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("read migrations: bad file name %q", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: repl.Replace(string(b))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	// Numbers may have gaps (work on separate branches claims numbers ahead
	// of its merge), but never repeat: each names one schema change.
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("read migrations: %s and %s share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := loadMigrations(DriverSQLite)
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// pending returns the migrations of ms not in applied, in number order: one
// that fills a gap below the newest applied version (merged after a later
// number) runs too. A version the binary does not know means a newer
// lorasweep migrated the database: ErrSchemaTooNew.
func pending(ms []migration, applied []int) ([]migration, error) {
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	done := map[int]bool{}
	for _, v := range applied {
		if !known[v] {
			newest := 0
			if len(ms) > 0 {
				newest = ms[len(ms)-1].version
			}
			return nil, fmt.Errorf("%w: database has schema version %d, which this binary does not know (it knows up to %d)",
				ErrSchemaTooNew, v, newest)
		}
		done[v] = true
	}
	var out []migration
	for _, m := range ms {
		if !done[m.version] {
			out = append(out, m)
		}
	}
	return out, nil
}

// migrate applies pending migrations in one write transaction, serialised
// across processes (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE).
func migrate(ctx context.Context, db *sqlx.DB, driver string) error {
	ms, err := loadMigrations(driver)
	if err != nil {
		return err
	}
	return withRetry(ctx, func() error {
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
		if driver == DriverPostgres {
			// 0x6c6f7261 = "lora": one lock for every lorasweep schema.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(1819243105)`); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var applied []int
		if err := tx.SelectContext(ctx, &applied, `SELECT version FROM schema_version`); err != nil {
			return err
		}
		todo, err := pending(ms, applied)
		if err != nil {
			return err
		}
		for _, m := range todo {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, time.Now().UnixMicro()); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
}

// checkSchema is migrate's read-only twin: it fails unless the database
// holds lorasweep's schema at this binary's version, and changes nothing.
func checkSchema(ctx context.Context, db *sqlx.DB, driver string) error {
	ms, err := loadMigrations(driver)
	if err != nil {
		return err
	}
	var tables int
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`
	if driver == DriverPostgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'schema_version' AND table_schema = current_schema()`
	}
	if err := db.GetContext(ctx, &tables, q); err != nil {
		return err
	}
	if tables == 0 {
		return fmt.Errorf("%w: it has no lorasweep tables", ErrNotLorasweep)
	}
	var cur int
	if err := db.GetContext(ctx, &cur, `SELECT COALESCE(MAX(version), 0) FROM schema_version`); err != nil {
		return err
	}
	switch {
	case cur > len(ms):
		return fmt.Errorf("%w: database has version %d, this binary knows up to %d", ErrSchemaTooNew, cur, len(ms))
	case cur < len(ms):
		return fmt.Errorf("database schema version %d is older than this lorasweep's %d; `lorasweep run` on the sweep's spec upgrades it (reading commands never change a database)", cur, len(ms))
	}
	return nil
}
