package storage

import (
	"context"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"url with password", "postgres://bob:s3cret@db:5432/x?sslmode=disable", "postgres://bob:xxxxx@db:5432/x?sslmode=disable"},
		{"postgresql scheme", "postgresql://bob:p%40ss@db/x", "postgresql://bob:xxxxx@db/x"},
		{"no password", "postgres://bob@db/x", "postgres://bob@db/x"},
		{"sqlite", "sqlite:///tmp/x.db", "sqlite:///tmp/x.db"},
		{"key value", "host=db password=s3cret user=bob", "host=db password=xxxxx user=bob"},
		{"query param", "postgres://db/x?password=s3cret&sslmode=disable", "postgres://db/x?password=xxxxx&sslmode=disable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Redact(c.in); got != c.want {
				t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// TestOpenErrorsHidePassword: lib/pq errors and ours never carry the
// password, whatever fails.
func TestOpenErrorsHidePassword(t *testing.T) {
	cases := []struct{ name, dsn string }{
		{"unreachable server", "postgres://bob:s3cretPW@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"},
		{"bad option", "postgres://bob:s3cretPW@127.0.0.1:1/db?sslmode=bogus"},
		{"bad scheme", "mysql://bob:s3cretPW@host/db"},
		{"malformed url", "postgres://bob:s3cretPW@[::1/db"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(context.Background(), c.dsn)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "s3cretPW") {
				t.Errorf("password in error: %v", err)
			}
		})
	}
}

func TestParseDSN(t *testing.T) {
	cases := []struct{ name, in, driver, connPrefix string }{
		{"relative sqlite", "sqlite://lorasweep.db", DriverSQLite, "file:lorasweep.db?"},
		{"absolute sqlite", "sqlite:///abs/x.db", DriverSQLite, "file:/abs/x.db?"},
		{"postgres", "postgres://u@h/db", DriverPostgres, "postgres://u@h/db"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseDSN(c.in)
			if err != nil || got.driver != c.driver || !strings.HasPrefix(got.conn, c.connPrefix) {
				t.Errorf("parseDSN(%q) = %+v, %v", c.in, got, err)
			}
			if c.driver == DriverSQLite && !strings.Contains(got.conn, "_txlock=immediate") {
				t.Error("sqlite without BEGIN IMMEDIATE")
			}
		})
	}
}
