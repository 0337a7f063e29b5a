package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// TestABugIsNotDamage: a panic in celltrack's own code inside a transaction
// is an internal error with the panic value and a stack, never "the database
// file is damaged, restore a backup" — which would send a user to replace a
// good file. A panic raised by bbolt while reading a page stays damage.
func TestABugIsNotDamage(t *testing.T) {
	db := newTestDB(t)
	checks := map[string]error{
		"view": db.view(func(kv.Tx) error { panic("boom in view") }),
		"update": db.update("alice", audit.UserAdd, func(*writer) error {
			var m map[string]int
			//lint:ignore SA5000 the test needs a runtime error raised in celltrack's own code
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

// TestATruncatedFileIsDamageNotACrash: bbolt reads through mmap, and a page
// read past the end of a cut file faults; that must read as damage (or as a
// file too short to open), never kill the process. Cut at many points, so
// that some cut lands inside a page that a read reaches.
func TestATruncatedFileIsDamageNotACrash(t *testing.T) {
	db := newTestDB(t)
	data, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := 1; i < 16; i++ {
		cut := filepath.Join(dir, fmt.Sprintf("cut%d.db", i))
		if err := os.WriteFile(cut, data[:len(data)*i/16], 0o600); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{true, false} {
			c, err := Open(cut, Options{ReadOnly: ro, Timeout: time.Second})
			if err == nil {
				_, err = c.Users("alice")
				c.Close()
			}
			if code := lot.ErrorCode(err); code == lot.EINTERNAL && strings.Contains(err.Error(), "panic") {
				t.Errorf("cut at %d/16 (read-only %t): a bbolt fault read as a bug: %v", i, ro, err)
			}
		}
	}
}

// TestAnEngineReadFailureIsReturned: kv's reads do not return errors; an
// engine whose read cannot be answered panics with a *kv.Error, and the
// transaction returns it — busy (EBUSY, exit 11, "try again") when the
// engine says others are in the way, the engine's error otherwise — never
// "damaged, restore a backup" nor a crash. Nothing is written.
func TestAnEngineReadFailureIsReturned(t *testing.T) {
	db := newTestDB(t)
	before, err := db.AuditCount()
	if err != nil {
		t.Fatal(err)
	}
	busy := &kv.Error{Busy: true, Op: "read lots", Err: errors.New("could not serialize access due to concurrent update")}
	lost := &kv.Error{Op: "read lots", Err: errors.New("connection reset by peer")}
	for name, tc := range map[string]struct {
		err  error
		code string
		want *kv.Error
	}{
		"view busy": {db.view(func(kv.Tx) error { panic(busy) }), lot.EBUSY, busy},
		"update busy": {db.update("alice", audit.UserAdd, func(w *writer) error {
			if err := w.event(kindUser, uuid.Must(uuid.NewV7()), "test", ""); err != nil {
				return err
			}
			panic(busy)
		}), lot.EBUSY, busy},
		"view lost":   {db.view(func(kv.Tx) error { panic(lost) }), lot.EINTERNAL, lost},
		"update lost": {db.update("alice", audit.UserAdd, func(*writer) error { panic(fmt.Errorf("wrapped: %w", lost)) }), lot.EINTERNAL, lost},
	} {
		msg := lot.ErrorMessage(tc.err)
		if lot.ErrorCode(tc.err) != tc.code || strings.Contains(msg, "damaged") || strings.Contains(msg, "panic") || !strings.Contains(tc.err.Error(), tc.want.Err.Error()) {
			t.Errorf("%s: %s %q; want %s with the engine's cause", name, lot.ErrorCode(tc.err), tc.err, tc.code)
		}
		if tc.code == lot.EBUSY && !strings.Contains(msg, "try again") {
			t.Errorf("%s: %q does not say to try again", name, msg)
		}
		var ke *kv.Error
		if tc.code != lot.EBUSY && (!errors.As(tc.err, &ke) || ke != tc.want) {
			t.Errorf("%s: %v does not carry the engine's *kv.Error", name, tc.err)
		}
	}
	if after, err := db.AuditCount(); err != nil || after != before {
		t.Errorf("audit entries %d → %d; a transaction whose read failed wrote", before, after)
	}
}
