package audit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestIntactAction: the action is read from the entry's own key, never
// from the same words in its user, reason or record value, in both stored
// forms (compressed, and JSON from before schema 8); an altered entry is
// not intact.
func TestIntactAction(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	prefix := []byte("database.")
	for _, tc := range []struct {
		name  string
		e     Entry
		found bool
	}{
		{"a migration", Entry{Action: "database.migrate", User: "alice", Reason: "migrated to /srv/site.db"}, true},
		{"a reopening", Entry{Action: "database.reopen", User: "alice"}, true},
		{"a lot registered", Entry{Action: "lot.register", User: "liu"}, false},
		{"the words in the reason", Entry{Action: "lot.correct", User: "liu", Reason: `"action":"database.migrate"`}, false},
		{"the words in a user name", Entry{Action: "login", User: `x","action":"database.migrate`}, false},
		{"the words in a record", Entry{Action: "container.store", User: "liu", Prev: json.RawMessage(`{"action":"database.migrate"}`)}, false},
	} {
		tc.e.Time, tc.e.Entity, tc.e.ID, tc.e.Seq = at, "user", uuid.New(), 3
		tc.e.PrevHash = [32]byte{7}
		e11 := tc.e
		enc, err := tc.e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if intact, found := IntactAction(enc, tc.e.PrevHash, prefix); !intact || found != tc.found {
			t.Errorf("%s: intact %v, found %v; want intact, found %v", tc.name, intact, found, tc.found)
		}
		if intact, _ := IntactAction(enc, [32]byte{8}, prefix); intact {
			t.Errorf("%s: intact after another entry than its own", tc.name)
		}
		enc11, err := e11.EncodeSchema11()
		if err != nil {
			t.Fatal(err)
		}
		body, err := Body(enc11)
		if err != nil {
			t.Fatal(err)
		}
		for form, b := range map[string][]byte{"schema 11": enc11, "stored as JSON": append(append([]byte(nil), enc11[:headerLen]...), body...)} {
			if intact, found := IntactAction(b, [32]byte{}, prefix); !intact || found != tc.found {
				t.Errorf("%s, %s: intact %v, found %v; want intact, found %v", tc.name, form, intact, found, tc.found)
			}
		}
		legacy := append(append([]byte(nil), enc11[:headerLen]...), body...)
		legacy[len(legacy)-2] ^= 1
		if intact, _ := IntactAction(legacy, [32]byte{}, prefix); intact {
			t.Errorf("%s: an altered entry is intact", tc.name)
		}
	}
}
