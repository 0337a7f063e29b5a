package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestAddUserRefusesLookAlikePrintedName: a full name that reads like an
// existing user's ("Liu" in newTestDB) but is typed differently is refused,
// writing nothing; the same name typed exactly (the person's second login)
// and a different name are accepted.
func TestAddUserRefusesLookAlikePrintedName(t *testing.T) {
	db := newTestDB(t)
	for _, name := range []string{"liu", "LIU", " Liu", "Liu ", "Ｌｉｕ", "Liu\u00a0"} {
		before, _ := db.AuditCount()
		_, err := db.AddUser("alice", audit.User{Name: "qa3", FullName: name, Role: audit.QA}, testPassword, testPassword)
		if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), `printed name of user liu`) {
			t.Errorf("full name %q: %v; want ECONFLICT naming user liu", name, err)
		}
		if after, _ := db.AuditCount(); after != before {
			t.Errorf("full name %q: the refusal wrote %d audit entries", name, after-before)
		}
	}
	for i, name := range []string{"Liu", "Liu Wen"} {
		if _, err := db.AddUser("alice", audit.User{Name: []string{"liuqa", "wen"}[i], FullName: name, Role: audit.QA}, testPassword, testPassword); err != nil {
			t.Errorf("full name %q: %v", name, err)
		}
	}
}

// Review 11: the first password is typed by the admin at `user add`, so,
// like a reset's, it is one-time: it signs nothing and opens no session,
// and the owner's first login changes it (recorded as a reset's change is).
// The admin of init chooses their own.
func TestFirstPasswordIsOneTime(t *testing.T) {
	db := newTestDB(t)
	if alice, err := db.User("alice"); err != nil || alice.MustChange {
		t.Fatalf("init's admin must change the password they chose: %v %+v", err, alice)
	}
	u, err := db.AddUser("alice", audit.User{Name: "nora", FullName: "Nora Quist", Role: audit.Nurse}, testFirstPassword, "")
	if err != nil || !u.MustChange {
		t.Fatalf("user add: %v, must change %v", err, u.MustChange)
	}
	before, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate("nora", testFirstPassword, "administered"); lot.ErrorCode(err) != lot.EPASSWORD || !strings.Contains(err.Error(), "the first one, at `user add`") {
		t.Errorf("the admin's first password signs: %v", err)
	}
	if _, _, err := db.Login("nora", testFirstPassword, nil); lot.ErrorCode(err) != lot.EPASSWORD {
		t.Errorf("the admin's first password opens a session: %v", err)
	}
	if after, _ := db.AuditLog(""); len(after) != len(before) {
		t.Errorf("refusals wrote %d audit entries", len(after)-len(before))
	}
	if _, _, err := db.Login("nora", testFirstPassword, func() (string, error) { return testPassword, nil }); err != nil {
		t.Fatal(err)
	}
	es, _ := db.AuditLog("")
	if last := es[len(es)-1]; last.User != "nora" || last.Action != "login" || last.Reason != "password changed at login" {
		t.Errorf("first change recorded as %s %s %q", last.User, last.Action, last.Reason)
	}
	if _, err := db.Authenticate("nora", testPassword, "administered"); err != nil {
		t.Errorf("nora's own password: %v", err)
	}
}
