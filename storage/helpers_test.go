package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/lib/pq"
)

// pgEnv names the variable holding a PostgreSQL DSN for the PG suite
// (.ci/run sets it); each test gets its own schema.
const pgEnv = "LORASWEEP_TEST_POSTGRES"

type backend struct {
	name string
	// dsn returns a DSN of a fresh, empty database for t.
	dsn func(t testing.TB) string
}

func sqliteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "lorasweep.db")
}

// pgDSN creates a schema for t, dropped at cleanup, and returns a DSN whose
// search_path points at it.
func pgDSN(t testing.TB) string {
	base := os.Getenv(pgEnv)
	if base == "" {
		t.Skipf("PostgreSQL suite skipped: set %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable", pgEnv)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "lst_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func backends() []backend {
	return []backend{{"sqlite", sqliteDSN}, {"postgres", pgDSN}}
}

func openT(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEach runs fn as a subtest per backend, on a fresh database.
func forEach(t *testing.T, fn func(t *testing.T, s *Store, dsn string)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			fn(t, openT(t, dsn), dsn)
		})
	}
}
