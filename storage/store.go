package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/lorasweep/lorasweep/sweep"
)

var _ sweep.Store = (*Store)(nil)

// Store is a goptuna.Storage and a sweep.Store on one SQL database. It is
// safe for concurrent use by many goroutines; many processes (workers on any
// machine for PostgreSQL, on one machine for SQLite) may open the same
// database at once.
//
// goptuna's Storage methods take no context: they run under the Store's own
// lifetime context, which Close cancels. The project's methods take ctx.
type Store struct {
	db       *sqlx.DB
	driver   string
	password string

	ctx    context.Context // lifetime: cancelled by Close
	cancel context.CancelFunc

	cache *trialCache
	dists *distCache
}

// Open connects to dsn (sqlite://PATH, sqlite:///ABS/PATH, postgres://… or
// postgresql://…), applies the embedded migrations and returns the Store.
// A database whose schema is newer than this binary gives ErrSchemaTooNew.
// No error it returns contains the DSN's password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	info, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, info)
	if err != nil {
		return nil, redactErr(fmt.Errorf("open storage %s: %w", Redact(dsn), err), info.password)
	}
	return s, nil
}

func open(ctx context.Context, info dsnInfo) (*Store, error) {
	db, err := sqlx.Open(info.driver, info.conn)
	if err != nil {
		return nil, err
	}
	if info.driver == DriverSQLite {
		// Each connection holds its own pragmas; a handful is plenty for one
		// process and keeps file handles bounded.
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
	} else {
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db, info.driver); err != nil {
		db.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	return &Store{
		db:       db,
		driver:   info.driver,
		password: info.password,
		ctx:      lctx,
		cancel:   cancel,
		cache:    newTrialCache(),
		dists:    newDistCache(),
	}, nil
}

// Close releases the database handle and cancels calls running under the
// Store's lifetime context.
func (s *Store) Close() error {
	s.cancel()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	return nil
}

// Driver reports the database behind the Store: "sqlite" or "postgres".
func (s *Store) Driver() string { return s.driver }

// rebind turns ? placeholders into the driver's form ($1 on PostgreSQL).
func (s *Store) rebind(q string) string { return s.db.Rebind(q) }

// forUpdate locks the selected rows on PostgreSQL; SQLite's IMMEDIATE
// transaction already holds the database's write lock.
func (s *Store) forUpdate() string {
	if s.driver == DriverPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// write runs fn in a write transaction, retried while the database reports
// a transient conflict. fn's own errors (sentinels included) come back as
// they are.
func (s *Store) write(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return withRetry(ctx, func() error {
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback() //nolint:errcheck // the original error matters
			return err
		}
		return tx.Commit()
	})
}

// withRetry retries fn on serialization failures, deadlocks, unique
// violations (PostgreSQL) and SQLITE_BUSY/LOCKED, with jittered backoff.
func withRetry(ctx context.Context, fn func() error) error {
	const attempts = 60
	backoff := time.Millisecond
	var err error
	for i := 0; i < attempts; i++ {
		err = fn()
		if err == nil || !retryable(err) {
			return err
		}
		d := backoff + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		if backoff < 100*time.Millisecond {
			backoff *= 2
		}
	}
	return fmt.Errorf("retry transaction %d times: %w", attempts, err)
}

func retryable(err error) bool {
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "23505":
			return true
		}
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
		// SQLITE_CONSTRAINT_UNIQUE / PRIMARYKEY on a trial number.
		return se.Code() == 2067 || se.Code() == 1555
	}
	return strings.Contains(err.Error(), "database is locked")
}

// micro converts a time to the stored Unix microseconds.
func micro(t time.Time) int64 { return t.UnixMicro() }

// fromMicro converts stored Unix microseconds; NULL gives the zero time.
func fromMicro(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64)
}

func nullMicro(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}
