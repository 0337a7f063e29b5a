package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	bolt "go.etcd.io/bbolt"
)

// TestABugIsNotDamage: a panic in celltrack's own code inside a transaction
// is an internal error with the panic value and a stack, never "the database
// file is damaged, restore a backup" — which would send a user to replace a
// good file. A panic raised by bbolt while reading a page stays damage.
func TestABugIsNotDamage(t *testing.T) {
	db := newTestDB(t)
	checks := map[string]error{
		"view": db.view(func(*bolt.Tx) error { panic("boom in view") }),
		"update": db.update("alice", audit.UserAdd, func(*writer) error {
			var m map[string]int
			m["x"] = 1 // a nil-map write: a runtime error raised in celltrack's code
			return nil
		}),
	}
	for name, err := range checks {
		msg := lot.ErrorMessage(err)
		if lot.ErrorCode(err) != lot.EINTERNAL || strings.Contains(msg, "damaged") || !strings.Contains(msg, "panic: ") || !strings.Contains(msg, "goroutine ") {
			t.Errorf("%s: %s %q; want EINTERNAL with the panic value and a stack", name, lot.ErrorCode(err), msg)
		}
	}
	if msg := lot.ErrorMessage(checks["view"]); !strings.Contains(msg, "boom in view") {
		t.Errorf("view: the panic value is missing: %q", msg)
	}
	// A panic raised by bbolt on a damaged page stays "damaged" (exit 3):
	// cmd/celltrack TestCheckRefusesATruncatedFile.
}
