package storage

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Driver names returned by Store.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// dsnInfo is a parsed storage DSN.
type dsnInfo struct {
	driver   string // DriverSQLite or DriverPostgres
	conn     string // what sql.Open receives
	password string // for scrubbing error text; empty if none
	path     string // the SQLite file; empty for PostgreSQL
}

// parseDSN accepts sqlite://relative.db, sqlite:///abs/path.db and
// postgres:// or postgresql:// URLs.
func parseDSN(dsn string) (dsnInfo, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		rest := strings.TrimPrefix(dsn, "sqlite://")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return dsnInfo{}, errors.New("parse dsn: sqlite:// needs a file path")
		}
		busy := "10000"
		if q, err := url.ParseQuery(query); err == nil && q.Get("busy_timeout") != "" {
			busy = q.Get("busy_timeout")
		}
		// BEGIN IMMEDIATE for every transaction: a deferred transaction that
		// upgrades from read to write gets SQLITE_BUSY without the busy
		// handler being consulted (goptuna.md §4.2).
		conn := "file:" + path +
			"?_pragma=busy_timeout(" + busy + ")" +
			"&_pragma=journal_mode(WAL)" +
			"&_pragma=synchronous(FULL)" +
			"&_pragma=foreign_keys(1)" +
			"&_txlock=immediate"
		return dsnInfo{driver: DriverSQLite, conn: conn, path: path}, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			// url's error echoes the input: never return it.
			return dsnInfo{}, errors.New("parse dsn: malformed postgres URL")
		}
		pw, _ := u.User.Password()
		return dsnInfo{driver: DriverPostgres, conn: dsn, password: pw}, nil
	default:
		return dsnInfo{}, fmt.Errorf("parse dsn: unknown scheme in %q (want sqlite:// or postgres://)", Redact(dsn))
	}
}

// Redact returns dsn with its password, if any, replaced by "xxxxx". It
// works on URL-form DSNs and on key=value forms (password=...); anything it
// cannot parse is returned with everything between "://" and "@" hidden.
func Redact(dsn string) string {
	if i := strings.Index(dsn, "password="); i >= 0 {
		j := strings.IndexAny(dsn[i:], " &")
		if j < 0 {
			j = len(dsn) - i
		}
		dsn = dsn[:i] + "password=xxxxx" + dsn[i+j:]
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return dsn
	}
	userinfo := rest[:at]
	user, _, hasPW := strings.Cut(userinfo, ":")
	if !hasPW {
		return dsn
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

// redactedError scrubs a password from an error's text while keeping the
// chain for errors.Is/As: lib/pq errors can echo the connection string.
type redactedError struct {
	err      error
	password string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	if e.password != "" {
		msg = strings.ReplaceAll(msg, e.password, "xxxxx")
		if enc := url.QueryEscape(e.password); enc != e.password {
			msg = strings.ReplaceAll(msg, enc, "xxxxx")
		}
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

func redactErr(err error, password string) error {
	if err == nil || password == "" {
		return err
	}
	return &redactedError{err: err, password: password}
}
