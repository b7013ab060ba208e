package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"
)

// TestTransient: connection loss is retried for a bounded time; statement
// errors and cancellation are not.
func TestTransient(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"refused dial", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"wrapped refused", fmt.Errorf("claim trial: %w", syscall.ECONNREFUSED), true},
		{"reset", syscall.ECONNRESET, true},
		{"eof mid-query", io.ErrUnexpectedEOF, true},
		{"bad conn", driver.ErrBadConn, true},
		{"admin shutdown", &pq.Error{Code: "57P01"}, true},
		{"starting up", &pq.Error{Code: "57P03"}, true},
		{"connection failure class", &pq.Error{Code: "08006"}, true},
		{"serialization failure", &pq.Error{Code: "40001"}, false},
		{"syntax error", &pq.Error{Code: "42601"}, false},
		{"cancelled", context.Canceled, false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"plain", errors.New("no such table"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := transient(c.err); got != c.want {
				t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

// TestClaimRetryAfterLostCommit: a claim retried with the same worker and
// stamp — what withRetry does when a COMMIT's answer was lost — returns the
// trial the first attempt claimed, and the budget counts it once.
func TestClaimRetryAfterLostCommit(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		id, err := s.CreateNewStudy("lost-commit")
		if err != nil {
			t.Fatal(err)
		}
		stamp := s.claimStamp()
		first, err := s.claimAt(ctx, id, 3, "host:1", "host", stamp)
		if err != nil || !first.Granted {
			t.Fatalf("first claim: %+v %v", first, err)
		}
		again, err := s.claimAt(ctx, id, 3, "host:1", "host", stamp)
		if err != nil || again != first {
			t.Fatalf("retried claim = %+v %v, want %+v", again, err, first)
		}
		other, err := s.ClaimAs(ctx, id, 3, "host:1", "host")
		if err != nil || !other.Granted || other.TrialID == first.TrialID {
			t.Fatalf("next claim = %+v %v, want a new trial", other, err)
		}
		counted, _, err := s.CountTrials(ctx, id)
		if err != nil || counted != 2 {
			t.Errorf("counted = %d %v, want 2", counted, err)
		}
	})
}
