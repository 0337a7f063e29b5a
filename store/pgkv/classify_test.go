package pgkv

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// How a failed attempt is taken: tried again, reported busy, reported
// unavailable, or — a COMMIT whose answer never came — reported in doubt
// and never tried again, as doing the write again could record it twice.
func TestFailureClassified(t *testing.T) {
	pg := func(severity, code string) error {
		return &pgconn.PgError{Severity: severity, Code: code, Message: "m"}
	}
	for _, c := range []struct {
		name               string
		err                error
		retry, down, doubt bool
	}{
		{"serialization failure in the transaction", pg("ERROR", "40001"), true, false, false},
		{"deadlock in the transaction", pg("ERROR", "40P01"), true, false, false},
		{"backend terminated in the transaction", pg("FATAL", "57P01"), true, true, false},
		{"connection exception in the transaction", pg("FATAL", "08006"), true, true, false},
		{"connection lost in the transaction", fmt.Errorf("get: %w", io.ErrUnexpectedEOF), true, true, false},
		{"no connection at begin", &beginError{errors.New("dial: connection refused")}, true, true, false},
		{"a constraint in the transaction", pg("ERROR", "23505"), false, false, false},
		{"serialization failure at commit", &commitError{pg("ERROR", "40001")}, true, false, false},
		{"deferred foreign key at commit", &commitError{pg("ERROR", "23503")}, false, false, false},
		{"backend terminated at commit", &commitError{pg("FATAL", "57P01")}, false, false, true},
		{"connection lost at commit", &commitError{fmt.Errorf("commit: %w", io.ErrUnexpectedEOF)}, false, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := retryable(c.err); got != c.retry {
				t.Errorf("retryable = %t, want %t", got, c.retry)
			}
			if c.retry {
				if got := unavailable(c.err); got != c.down {
					t.Errorf("unavailable = %t, want %t", got, c.down)
				}
			}
			if got := inDoubt(c.err); got != c.doubt {
				t.Errorf("inDoubt = %t, want %t", got, c.doubt)
			}
		})
	}
}
