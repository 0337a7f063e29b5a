package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
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

// TestStoredAction: an entry's action, state and entity are read from its
// own keys, as Decode reads them, never from the same words in its user,
// reason or record value, in every stored layout.
func TestStoredAction(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, tc := range []Entry{
		{Action: "login", User: "nina", State: true, Lean: true},
		{Action: "user.disable", User: "alice", Reason: `"action":"login"`, State: true, Lean: true},
		{Action: "login.refused", User: `x","action":"user.reset`},
		{Action: "user.reset", User: "alice", Prev: json.RawMessage(`{"action":"login"}`), State: true, Lean: true},
		{Action: "patient.weigh", Entity: "patient", User: `x","entity":"user`, Reason: `"entity":"user"`, Prev: json.RawMessage(`{"entity":"user"}`), State: true, Lean: true},
	} {
		if tc.Entity == "" {
			tc.Entity = "user"
		}
		tc.Time, tc.ID, tc.Seq = at, uuid.New(), 3
		enc, err := tc.Encode()
		if err != nil {
			t.Fatal(err)
		}
		enc11, err := tc.EncodeSchema11()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tc.EncodeRaw()
		if err != nil {
			t.Fatal(err)
		}
		for form, b := range map[string][]byte{"framed": enc, "raw frame": raw, "schema 11": enc11} {
			want, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			action, state, err := StoredAction(b)
			if err != nil || action != tc.Action || action != want.Action || state != want.State {
				t.Errorf("%s, %s: StoredAction = %q %v %v; Decode reads %q, state %v", tc.Action, form, action, state, err, want.Action, want.State)
			}
			if entity, err := StoredEntity(b); err != nil || entity != tc.Entity || entity != want.Entity {
				t.Errorf("%s, %s: StoredEntity = %q %v; Decode reads %q", tc.Action, form, entity, err, want.Entity)
			}
		}
	}
	if _, _, err := StoredAction([]byte("short")); err == nil {
		t.Error("an entry shorter than its header has an action")
	}
	if _, err := StoredEntity([]byte("short")); err == nil {
		t.Error("an entry shorter than its header has an entity")
	}
}
