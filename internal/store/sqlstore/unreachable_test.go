package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// TestUnreachable sorts driver errors: a database that is down, restarting
// or out of connections is identity.ErrStoreUnavailable (503 with
// Retry-After in every adapter); a wrong statement or a missing row is not.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		down bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"bad connection", driver.ErrBadConn, true},
		{"connection done", sql.ErrConnDone, true},
		{"cut mid-answer", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"pgx conn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"cannot connect", &pgconn.ConnectError{}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"no rows", sql.ErrNoRows, false},
		{"cancelled by the client", context.Canceled, false},
		{"other", errors.New("something else"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := postgresFlavor().wrap(tc.err)
			if down := errors.Is(got, identity.ErrStoreUnavailable); down != tc.down {
				t.Fatalf("wrap(%v) = %v: unavailable %v, want %v", tc.err, got, down, tc.down)
			}
			if !errors.Is(got, tc.err) {
				t.Fatalf("wrap lost the cause: %v", got)
			}
			if tc.down {
				if !errors.Is(got, identity.ErrUnavailable) || identity.RetryAfter(got) <= 0 {
					t.Fatalf("wrap(%v) = %v: want an ErrUnavailable with a Retry-After", tc.err, got)
				}
				if again := postgresFlavor().wrap(got); again.Error() != got.Error() {
					t.Fatalf("wrapped twice: %v", again)
				}
			}
		})
	}
}
