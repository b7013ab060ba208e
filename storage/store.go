package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
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
	db       *retryDB
	driver   string
	password string

	ctx    context.Context // lifetime: cancelled by Close
	cancel context.CancelFunc

	cache *trialCache
	dists *distCache

	// lastClaim makes every claim stamp of this Store distinct (see
	// claimStamp).
	lastClaim atomic.Int64
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

// OpenExisting is Open for commands that only read a sweep (trials,
// status, report, export, worker): it never creates or migrates a
// database. A SQLite path with no file, an empty (0-byte) file, a file that
// is not SQLite, or a database without lorasweep's tables (any driver) is an
// error naming it — a mistyped --storage path must not leave an empty
// database behind and then report "no sweep". A lorasweep database of an
// older schema is refused too: `lorasweep run` upgrades it.
func OpenExisting(ctx context.Context, dsn string) (*Store, error) {
	info, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if info.path != "" {
		if err := checkSQLiteFile(info.path); err != nil {
			return nil, fmt.Errorf("open storage %s: %w; check --storage or LORASWEEP_STORAGE", Redact(dsn), err)
		}
		// Look at the schema read-only first: the full open sets WAL mode,
		// which would rewrite another program's database.
		if err := checkSQLiteSchema(ctx, info.path); err != nil {
			return nil, fmt.Errorf("open storage %s: %w", Redact(dsn), err)
		}
	}
	s, err := openWith(ctx, info, false)
	if err != nil {
		return nil, redactErr(fmt.Errorf("open storage %s: %w", Redact(dsn), err), info.password)
	}
	return s, nil
}

// sqliteHeader starts every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// checkSQLiteFile says why path cannot be an existing SQLite database
// without writing to it: opening an empty file with WAL on would make it one.
func checkSQLiteFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("no database there (%w)", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
		return errors.New("the file is empty (0 bytes), not a lorasweep database")
	case err != nil && err != io.ErrUnexpectedEOF:
		return fmt.Errorf("read %s: %w", path, err)
	case string(head[:n]) != sqliteHeader:
		return errors.New("the file is not a SQLite database")
	}
	return nil
}

// checkSQLiteSchema runs checkSchema on a read-only connection.
func checkSQLiteSchema(ctx context.Context, path string) error {
	db, err := sqlx.Open(DriverSQLite, "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	return checkSchema(ctx, db, DriverSQLite)
}

// ErrNotLorasweep is returned by OpenExisting for a database without
// lorasweep's tables.
var ErrNotLorasweep = errors.New("not a lorasweep database")

func open(ctx context.Context, info dsnInfo) (*Store, error) {
	return openWith(ctx, info, true)
}

// openWith connects; with doMigrate it applies pending migrations, else it
// requires the schema to be this binary's.
func openWith(ctx context.Context, info dsnInfo, doMigrate bool) (*Store, error) {
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
	check := migrate
	if !doMigrate {
		check = checkSchema
	}
	if err := check(ctx, db, info.driver); err != nil {
		db.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	return &Store{
		db:       &retryDB{db},
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

// reconnectWindow bounds how long a call keeps retrying while the database
// is unreachable (a PostgreSQL restart or failover, a network blip): long
// enough to ride out a restart, short enough that a database gone for good
// stops the sweep the same night with the error.
const reconnectWindow = 2 * time.Minute

// withRetry retries fn on serialization failures, deadlocks, unique
// violations (PostgreSQL) and SQLITE_BUSY/LOCKED, with jittered backoff,
// and on a lost connection (see transient) with backoff up to 2 s for at
// most reconnectWindow.
//
// Retrying a write transaction whose COMMIT was sent but whose answer was
// lost may run it twice. That is harmless for the idempotent writes (upserts,
// heartbeats, compare-and-set state changes: the second attempt finds the
// change made and reports goptuna.ErrTrialCannotBeUpdated, which the
// controller treats as "finished elsewhere"); ClaimAs makes itself
// idempotent with a claim stamp. See the package doc.
func withRetry(ctx context.Context, fn func() error) error {
	const attempts = 60
	backoff := time.Millisecond
	var (
		err       error
		conflicts int
		down      time.Time // first connection failure of this call
		wait      = 50 * time.Millisecond
	)
	for {
		err = fn()
		if err == nil || ctx.Err() != nil {
			return err
		}
		var d time.Duration
		switch {
		case transient(err):
			if down.IsZero() {
				down = time.Now()
			} else if time.Since(down) > reconnectWindow {
				return fmt.Errorf("database unreachable for %v: %w", reconnectWindow, err)
			}
			d = wait + time.Duration(rand.Int64N(int64(wait)))
			if wait < time.Second {
				wait *= 2
			}
		case retryable(err):
			conflicts++
			if conflicts >= attempts {
				return fmt.Errorf("retry transaction %d times: %w", attempts, err)
			}
			d = backoff + time.Duration(rand.Int64N(int64(backoff)))
			if backoff < 100*time.Millisecond {
				backoff *= 2
			}
		case diskFull(err):
			return fmt.Errorf("%w: %w", sweep.ErrStorageFull, err)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// transient reports whether err means the connection to the database was
// lost or could not be made — the server is restarting, shutting down, not
// yet accepting connections, or the network dropped — rather than that the
// statement itself failed.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(string(pe.Code), "08"): // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case pe.Code == "53300": // too many connections
			return true
		}
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne *net.OpError
	return errors.As(err, &ne)
}

// diskFull reports whether err says the database's disk is full:
// SQLITE_FULL, or PostgreSQL's disk_full (53100).
func diskFull(err error) bool {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return pe.Code == "53100"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == 13
	}
	return errors.Is(err, syscall.ENOSPC)
}

// CheckWritable writes to the study's row without changing it, so a
// read-only or full storage shows before the first trial.
func (s *Store) CheckWritable(ctx context.Context, studyID int) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.rebind(`UPDATE studies SET next_number = next_number WHERE study_id = ?`), studyID)
		return err
	})
	if err != nil {
		return fmt.Errorf("write to storage: %w", err)
	}
	return nil
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

// retryDB is the Store's handle: statements run outside a transaction
// (reads, single upserts) are retried by withRetry, so a lost connection
// stalls them for up to reconnectWindow instead of failing the sweep. Only
// idempotent statements run outside s.write.
type retryDB struct{ *sqlx.DB }

func (d *retryDB) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	return withRetry(ctx, func() error { return d.DB.GetContext(ctx, dest, query, args...) })
}

func (d *retryDB) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	return withRetry(ctx, func() error { return d.DB.SelectContext(ctx, dest, query, args...) })
}

func (d *retryDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := withRetry(ctx, func() error {
		var err error
		res, err = d.DB.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

func (d *retryDB) NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error) {
	var res sql.Result
	err := withRetry(ctx, func() error {
		var err error
		res, err = d.DB.NamedExecContext(ctx, query, arg)
		return err
	})
	return res, err
}

// QueryContext retries opening the result set; an error while iterating it
// is the caller's.
func (d *retryDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	var rows *sql.Rows
	err := withRetry(ctx, func() error {
		var err error
		rows, err = d.DB.QueryContext(ctx, query, args...)
		return err
	})
	return rows, err
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
