package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// A form's seen is the number of its record's last audit entry: the same
// number passes, an older one is a resend (naming the change since), and 0
// or a number past the last entry names no entry of the record.
func TestCheckSeen(t *testing.T) {
	last := Entry{Seq: 41, Action: "container.quarantine", User: "liu", Time: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	for _, c := range []struct {
		name       string
		seen       uint64
		part       string
		code, want string
	}{
		{"as shown", 41, "", "", ""},
		{"changed since", 38, "", lot.ECONFLICT, "container G1 changed after this form was shown (the last change recorded: container.quarantine by liu at 2026-11-25 09:00 UTC, audit entry #41; the form showed it as of #38): a form sent again"},
		{"a part changed", 38, "result #3 (CD14)", lot.ECONFLICT, "container.quarantine of result #3 (CD14) by liu"},
		{"past the last entry", 42, "", lot.EINVALID, "as of audit entry #42, but its last entry is #41"},
		{"zero", 0, "", lot.EINVALID, "as of audit entry #0, but its last entry is #41"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckSeen(c.seen, "container G1", last, c.part, "Decide again.")
			if c.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if lot.ErrorCode(err) != c.code || lot.ErrorField(err) != SeenField || !strings.Contains(lot.ErrorMessage(err), c.want) {
				t.Fatalf("got %v (%s, field %q), want %s on %s containing %q", err, lot.ErrorCode(err), lot.ErrorField(err), c.code, SeenField, c.want)
			}
		})
	}
}
