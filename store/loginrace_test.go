package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
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
		if _, err := db.ChangePassword("nina", testPassword, newPw, nil); err != nil {
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
	if lot.ErrorCode(err) != lot.EAUTH || err.Error() != errWrongLogin("nina", audit.DefaultSettings.LockoutDuration).Error() {
		t.Fatalf("a login with the password replaced while it was checked: %v; want a wrong password's answer %q", err, errWrongLogin("nina", audit.DefaultSettings.LockoutDuration))
	}
	if n := sessionCount(t, db); n != sessions {
		t.Errorf("the refused login left %d sessions; %d before", n, sessions)
	}
	var es []audit.Entry
	if err := db.EachAuditEntry(context.Background(), "alice", "", func(e audit.Entry) error { es = append(es, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if after := len(es); after != before+2 { // the change, and the refused login
		t.Fatalf("the change and the refused login appended %d entries; want 2", after-before)
	}
	if got, refused := es[len(es)-2], es[len(es)-1]; got.Action != "user.passwd" || refused.Action != "login.refused" || refused.User != "nina" || !strings.Contains(refused.Reason, "replaced password") {
		t.Errorf("the last entries are %s by %s, %s by %s (%q); want user.passwd, then login.refused by nina saying the password was replaced", got.Action, got.User, refused.Action, refused.User, refused.Reason)
	}
	if u, err := db.User("nina"); err != nil || u.Failures != 0 {
		t.Errorf("the refused login counted: %d failures (%v)", u.Failures, err)
	}
	if _, _, err := db.Login("nina", newPw, nil); err != nil {
		t.Errorf("login with the new password after the race: %v", err)
	}
}

// TestSignatureRacingPasswordChangeIsRefused (review 15 B, the signatures):
// a signature whose password was proven right against the record read
// before it, and which writes after the signer's password was changed, is
// refused in its write transaction as a wrong password is — the same
// words — recorded, not counted, and nothing else written; and so is a
// change of one's own password whose current password was replaced by
// another change meanwhile (two changes sent at once from two sessions).
func TestSignatureRacingPasswordChangeIsRefused(t *testing.T) {
	const newPw = "quartz-meadow-lantern-58"
	lastEntry := func(t *testing.T, db *DB) audit.Entry {
		t.Helper()
		es, _, err := db.AuditTail("alice", "", 1)
		if err != nil || len(es) != 1 {
			t.Fatalf("the last audit entry: %v (%d)", err, len(es))
		}
		return es[0]
	}
	t.Run("weight confirmation", func(t *testing.T) {
		db, d := bedside(t, "0.5")
		if _, err := NewLotService(db).Weigh("nina", "MRN-1", 68_300, db.Now().Add(-10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		proven, err := db.Authenticate("pat", testPassword, dose.MeaningConfirmWeight)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ChangePassword("pat", testPassword, newPw, nil); err != nil {
			t.Fatal(err)
		}
		before, _ := db.AuditCount()
		_, err = d.ConfirmWeight(proven, "MRN-1", dose.WeightShown{Grams: 68_300}, "re-weighed")
		_, wrong := db.Authenticate("pat", "not-the-password-9", dose.MeaningConfirmWeight)
		if lot.ErrorCode(err) != lot.EAUTH || lot.ErrorCode(wrong) != lot.EAUTH || err.Error() != wrong.Error() {
			t.Fatalf("a signature with a password replaced since it was proven: %v; want a wrong password's answer %v", err, wrong)
		}
		es, _, _ := db.AuditTail("alice", "", 2)
		if after, _ := db.AuditCount(); after != before+2 || es[0].Action != "signature.refused" || es[0].User != "pat" || !strings.Contains(es[0].Reason, "replaced password") {
			t.Fatalf("the refused signature (then a wrong password) appended %d entries, first %s by %s (%q); want 2, the first signature.refused by pat, replaced password", after-before, es[0].Action, es[0].User, es[0].Reason)
		}
		if u := mustUser(t, db, "pat"); u.Failures != 1 { // the wrong password's, not the replaced one's
			t.Errorf("pat has %d failures counted; want 1, the wrong password's", u.Failures)
		}
		if proven, err = db.Authenticate("pat", newPw, dose.MeaningConfirmWeight); err != nil {
			t.Fatal(err)
		}
		if _, err := d.ConfirmWeight(proven, "MRN-1", dose.WeightShown{Grams: 68_300}, "re-weighed"); err != nil {
			t.Errorf("the confirmation signed with the new password: %v", err)
		}
	})
	t.Run("witness of an infusion", func(t *testing.T) {
		db, d := bedside(t, "0.5")
		nurse, err := db.Authenticate("nina", testPassword, dose.MeaningAdminister)
		if err != nil {
			t.Fatal(err)
		}
		witness, err := db.CoSigner("witness", "omar", testPassword, dose.MeaningWitness)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ChangePassword("omar", testPassword, newPw, nil); err != nil {
			t.Fatal(err)
		}
		before, _ := db.AuditCount()
		_, _, err = d.Administer(nurse, witness, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
		if after, _ := db.AuditCount(); after != before+1 {
			t.Errorf("the refused infusion appended %d entries; want 1, the refusal", after-before)
		}
		if e := lastEntry(t, db); e.Action != "signature.refused" || e.User != "omar" || !strings.Contains(e.Reason, "replaced password") {
			t.Errorf("the last entry is %s by %s (%q); want signature.refused by omar, replaced password", e.Action, e.User, e.Reason)
		}
		_, wrong := db.CoSigner("witness", "omar", "not-the-password-9", dose.MeaningWitness)
		if lot.ErrorCode(err) != lot.EAUTH || lot.ErrorField(err) != "witness" || err.Error() != wrong.Error() {
			t.Fatalf("an infusion witnessed with a password replaced since it was proven: %v; want a wrong witness password's answer %v", err, wrong)
		}
		if u := mustUser(t, db, "omar"); u.Failures != 1 {
			t.Errorf("omar has %d failures counted; want 1, the wrong password's", u.Failures)
		}
	})
	t.Run("own password change", func(t *testing.T) {
		db := newTestDB(t)
		var raced error
		testHook = func(stage string) {
			if stage != "password change: current password checked" {
				return
			}
			testHook = nil
			_, raced = db.ChangePassword("nina", testPassword, newPw, nil)
		}
		defer func() { testHook = nil }()
		before, _ := db.AuditCount()
		_, err := db.ChangePassword("nina", testPassword, "copper-meadow-lynx-42", nil)
		if raced != nil {
			t.Fatalf("the change that won the race: %v", raced)
		}
		if lot.ErrorCode(err) != lot.EAUTH || !strings.HasPrefix(lot.ErrorMessage(err), "wrong password for user nina; nothing was signed") {
			t.Fatalf("a change whose current password was replaced meanwhile: %v; want a wrong current password's answer", err)
		}
		if after, _ := db.AuditCount(); after != before+2 {
			t.Errorf("the two changes appended %d entries; want 2 (the change, the refusal)", after-before)
		}
		if e := lastEntry(t, db); e.Action != "passwd.refused" || !strings.Contains(e.Reason, "replaced password") {
			t.Errorf("the last entry is %s (%q); want passwd.refused, replaced password", e.Action, e.Reason)
		}
		if _, _, err := db.Login("nina", newPw, nil); err != nil {
			t.Errorf("the password of the change that won: %v", err)
		}
		if u := mustUser(t, db, "nina"); u.Failures != 0 {
			t.Errorf("the refused change counted: %d failures", u.Failures)
		}
	})
}
