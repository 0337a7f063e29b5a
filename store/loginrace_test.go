package store

import (
	"context"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// sessionCount is the number of sessions db holds, ended ones not pruned yet
// included.
func sessionCount(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	err := db.view(func(tx kv.Tx) error {
		return tx.Bucket(bSessions).ForEach(func(k, v []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoginRacingPasswordChangeOpensNoSession (review 15 B): a login whose
// password was checked right against the record it read, but which writes
// after the owner changed the password (at another server, or in another
// process), is refused as a wrong password is — the same words — and opens
// no session: the change ends every session that exists when it commits,
// so one opened after it with the replaced password would be the thief's to
// keep. The refusal is recorded and not counted towards the lockout (the
// password was right a moment ago); nothing else is written.
func TestLoginRacingPasswordChangeOpensNoSession(t *testing.T) {
	const newPw = "quartz-meadow-lantern-58"
	db := newTestDB(t)
	changed := false
	testHook = func(stage string) {
		if stage != "login password checked" || changed {
			return
		}
		changed = true
		if _, err := db.ChangePassword("nina", testPassword, newPw); err != nil {
			t.Errorf("nina's change while the login was in flight: %v", err)
		}
	}
	defer func() { testHook = nil }()
	sessions := sessionCount(t, db)
	before, _ := db.AuditCount()
	_, _, err := db.Login("nina", testPassword, nil)
	if !changed {
		t.Fatal("the login never reached the hook between its check and its write")
	}
	testHook = nil
	if lot.ErrorCode(err) != lot.EAUTH || err.Error() != errWrongLogin("nina").Error() {
		t.Fatalf("a login with the password replaced while it was checked: %v; want a wrong password's answer %q", err, errWrongLogin("nina"))
	}
	if n := sessionCount(t, db); n != sessions {
		t.Errorf("the refused login left %d sessions; %d before", n, sessions)
	}
	var es []audit.Entry
	if err := db.EachAuditEntry(context.Background(), "", func(e audit.Entry) error { es = append(es, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if after := len(es); after != before+2 { // the change, and the refused login
		t.Fatalf("the change and the refused login appended %d entries; want 2", after-before)
	}
	if got, refused := es[len(es)-2], es[len(es)-1]; got.Action != "user.passwd" || refused.Action != "login.refused" || refused.User != "nina" || !strings.Contains(refused.Reason, "changed while it was checked") {
		t.Errorf("the last entries are %s by %s, %s by %s (%q); want user.passwd, then login.refused by nina saying the password was replaced", got.Action, got.User, refused.Action, refused.User, refused.Reason)
	}
	if u, err := db.User("nina"); err != nil || u.Failures != 0 {
		t.Errorf("the refused login counted: %d failures (%v)", u.Failures, err)
	}
	if _, _, err := db.Login("nina", newPw, nil); err != nil {
		t.Errorf("login with the new password after the race: %v", err)
	}
}
