package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
)

// ScratchSchema creates a fresh schema in the PostgreSQL database at dsn and
// returns a DSN whose search_path points at it, and a drop function that
// removes the schema with everything in it. The benchmarks (lsbench) write
// every PostgreSQL study there, so a run leaves nothing behind in a shared
// database (and two runs never see each other's studies). It lives here
// because SQL lives only in storage.
func ScratchSchema(ctx context.Context, dsn string) (string, func() error, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("name scratch schema: %w", err)
	}
	schema := "lsbench_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("postgres", dsn)
	if err != nil {
		return "", nil, fmt.Errorf("open postgres: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create scratch schema: %w", err)
	}
	drop := func() error {
		defer admin.Close()
		// Not the run's context: an interrupted run still cleans up.
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("drop scratch schema %s: %w", schema, err)
		}
		return nil
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema, drop, nil
}
