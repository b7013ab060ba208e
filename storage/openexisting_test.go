package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenExistingChangesNothing: the reading commands' open refuses what
// is not a lorasweep database of this schema — no file, an empty file,
// another kind of file, another SQLite database, an older schema — with a
// message saying so, and leaves it exactly as it was.
func TestOpenExistingChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open(DriverSQLite, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE photos (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	older := filepath.Join(dir, "older.db")
	s := openT(t, "sqlite://"+older)
	if _, err := s.db.Exec(`DELETE FROM schema_version`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "typo.db"), "no database there"},
		{"empty file", write("empty.db", ""), "empty (0 bytes)"},
		{"text file", write("notes.db", "my notes, not a database\n"), "not a SQLite database"},
		{"short file", write("short.db", "SQL"), "not a SQLite database"},
		{"other SQLite database", other, "no lorasweep tables"},
		{"older schema", older, "lorasweep run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, dir)
			s, err := OpenExisting(ctx, "sqlite://"+tc.path)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(tc.path)) {
				t.Errorf("error %q, want it to name the file and say %q", err, tc.want)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the folder changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	if _, err := OpenExisting(ctx, "sqlite://"+other); !errors.Is(err, ErrNotLorasweep) {
		t.Errorf("other database: %v, want ErrNotLorasweep", err)
	}
	good := filepath.Join(dir, "good.db")
	openT(t, "sqlite://"+good).Close()
	s2, err := OpenExisting(ctx, "sqlite://"+good)
	if err != nil {
		t.Fatalf("a lorasweep database: %v", err)
	}
	s2.Close()
}

// TestOpenExistingPostgresWithoutSchema: on PostgreSQL a database without
// lorasweep's tables is refused and no table is created.
func TestOpenExistingPostgresWithoutSchema(t *testing.T) {
	dsn := pgDSN(t)
	if _, err := OpenExisting(context.Background(), dsn); !errors.Is(err, ErrNotLorasweep) {
		t.Fatalf("empty schema: %v, want ErrNotLorasweep", err)
	}
	s := openT(t, dsn) // Open creates the schema; OpenExisting then accepts it
	s.Close()
	s2, err := OpenExisting(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

// snapshot lists a folder's files with their sizes and times, less the
// -wal and -shm files SQLite keeps beside a WAL database any reader opens.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "-wal") || strings.HasSuffix(e.Name(), "-shm") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d:%s ", e.Name(), fi.Size(), fi.ModTime())
	}
	return b.String()
}
