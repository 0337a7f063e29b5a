package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
)

// Review 20 A at a co-signature: while the witness's account is locked its
// password is not checked — the right one, a wrong one and an unknown name
// get one answer on the field, each attempt is one audit entry ("… while
// locked until …: not checked"), nothing is counted or signed, and the
// lock's end is not moved.
func TestFix20LockedCoSignerIsNotChecked(t *testing.T) {
	db := newTestDB(t)
	addTestUser(t, db, audit.User{Name: "omar", FullName: "Omar Haddad", Role: audit.Nurse})
	for i := 0; i < audit.MaxFailures; i++ {
		db.CoSigner("witness", "omar", "wrong-guess-tulip-1", dose.MeaningWitness)
	}
	locked, err := db.User("omar")
	if err != nil || !locked.Locked(db.now()) {
		t.Fatalf("setup: omar is not locked after %d wrong witness passwords: %v", audit.MaxFailures, err)
	}
	before, _ := db.AuditCount()
	_, right := db.CoSigner("witness", "omar", testPassword, dose.MeaningWitness)
	_, wrong := db.CoSigner("witness", "omar", "wrong-guess-tulip-2", dose.MeaningWitness)
	_, unknown := db.CoSigner("witness", "nobody", testPassword, dose.MeaningWitness)
	for what, err := range map[string]error{"right": right, "wrong": wrong} {
		if lot.ErrorCode(err) != lot.EAUTH || lot.ErrorField(err) != "witness" || err.Error() != strings.Replace(unknown.Error(), "nobody", "omar", 1) {
			t.Errorf("omar's %s password while locked: %v; want the unknown name's answer %v", what, err, unknown)
		}
	}
	if !strings.Contains(right.Error(), "or the account is locked") || !strings.Contains(right.Error(), "ask an admin to unlock it") {
		t.Errorf("the one answer does not say the account may be locked and what to do: %v", right)
	}
	if after, _ := db.AuditCount(); after != before+3 {
		t.Errorf("three refused co-signatures wrote %d audit entries; want 3", after-before)
	}
	es, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	notChecked := 0
	for _, e := range es {
		if e.Action == "signature.refused" && strings.HasSuffix(e.Reason, "while locked until "+lot.FormatTime(locked.LockedUntil)+": not checked") {
			notChecked++
		}
	}
	if notChecked != 2 {
		t.Errorf("%d entries say a password for omar was not checked while locked; want 2", notChecked)
	}
	if u, _ := db.User("omar"); u.Failures != locked.Failures || !u.LockedUntil.Equal(locked.LockedUntil) {
		t.Errorf("the attempts while locked moved omar's count or lock: %d until %v; was %d until %v", u.Failures, u.LockedUntil, locked.Failures, locked.LockedUntil)
	}
}
