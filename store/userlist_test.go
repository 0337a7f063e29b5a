package store

import (
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestUserListShowsAccountStateOnlyToAdminAndAuditor: every logged-in user
// keeps the staff directory (name, printed name, role), whom to name as a
// witness; an account's state — locked, disabled, wrong passwords, last
// login, password age — only the admin and the auditor see, or a nurse
// whose guesses at a witness's password locked the witness out would read
// it in the list, which the witness field's one answer keeps from her.
// A list writes nothing. Runs on PostgreSQL too (TestStoreOnPostgres).
func TestUserListShowsAccountStateOnlyToAdminAndAuditor(t *testing.T) {
	db := newTestDB(t)
	for _, u := range []audit.User{
		{Name: "quinn", FullName: "Quinn", Role: audit.QA},
		{Name: "paul", FullName: "Paul", Role: audit.Physician},
		{Name: "aud", FullName: "Aud", Role: audit.Auditor},
		{Name: "wes", FullName: "Wes", Role: audit.Nurse},
		{Name: "gone", FullName: "Gone", Role: audit.Lab},
	} {
		addTestUser(t, db, u)
	}
	// wes is locked out by wrong passwords; gone is disabled.
	for range audit.MaxFailures {
		db.Login("wes", "not-wes-password", nil)
	}
	if _, err := db.DisableUser("alice", "gone", "left the unit", nil); err != nil {
		t.Fatal(err)
	}
	whole := map[string]audit.User{}
	for _, n := range []string{"alice", "liu", "nina", "quinn", "paul", "aud", "wes", "gone"} {
		u, err := db.User(n)
		if err != nil {
			t.Fatal(err)
		}
		whole[n] = u
	}
	if !whole["wes"].Locked(db.now()) || !whole["gone"].Disabled || whole["nina"].LastLogin.IsZero() {
		t.Fatalf("the fixture: wes locked %t, gone disabled %t, nina's last login %v", whole["wes"].Locked(db.now()), whole["gone"].Disabled, whole["nina"].LastLogin)
	}
	before, _ := db.AuditCount()
	for _, tc := range []struct {
		viewer    string
		seesState bool
	}{
		{"alice", true}, {"aud", true},
		{"nina", false}, {"liu", false}, {"quinn", false}, {"paul", false},
	} {
		t.Run(tc.viewer, func(t *testing.T) {
			us, err := db.Users(tc.viewer)
			if err != nil {
				t.Fatal(err)
			}
			if len(us) != len(whole) {
				t.Fatalf("%s lists %d users; want all %d", tc.viewer, len(us), len(whole))
			}
			for _, u := range us {
				w := whole[u.Name]
				if u.ID != w.ID || u.FullName != w.FullName || u.Role != w.Role {
					t.Errorf("%s sees %s as %s %q %s; want the directory entry %s %q %s", tc.viewer, u.Name, u.ID, u.FullName, u.Role, w.ID, w.FullName, w.Role)
				}
				if u.Hash != "" {
					t.Errorf("%s sees the password hash of %s", tc.viewer, u.Name)
				}
				want := audit.Directory(w)
				if tc.seesState {
					want = audit.Public(w)
				}
				if u.Disabled != want.Disabled || u.Failures != want.Failures || !u.LockedUntil.Equal(want.LockedUntil) ||
					!u.LastLogin.Equal(want.LastLogin) || !u.PasswordChanged.Equal(want.PasswordChanged) || u.MustChange != want.MustChange ||
					!u.CreatedAt.Equal(want.CreatedAt) || u.CreatedBy != want.CreatedBy || (u.RoleGrant == nil) != (want.RoleGrant == nil) {
					t.Errorf("%s sees %s as disabled %t, %d failures, locked until %v, last login %v, password changed %v, created %v by %q; want %+v",
						tc.viewer, u.Name, u.Disabled, u.Failures, u.LockedUntil, u.LastLogin, u.PasswordChanged, u.CreatedAt, u.CreatedBy, want)
				}
			}
		})
	}
	// The state the directory leaves out is there to leave out.
	if w := whole["wes"]; w.Failures == 0 || w.PasswordChanged.IsZero() || whole["quinn"].RoleGrant == nil {
		t.Fatalf("the fixture: wes has %d failures, password changed %v; quinn's role grant %v", w.Failures, w.PasswordChanged, whole["quinn"].RoleGrant)
	}
	// An unknown or disabled viewer lists nothing.
	for _, viewer := range []string{"nobody", "", "gone"} {
		if us, err := db.Users(viewer); lot.ErrorCode(err) != lot.EFORBIDDEN || us != nil {
			t.Errorf("Users(%q) = %d users, %v; want EFORBIDDEN and none", viewer, len(us), err)
		}
	}
	if after, _ := db.AuditCount(); after != before {
		t.Errorf("listing the users wrote %d audit entries", after-before)
	}
}
