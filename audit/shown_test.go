package audit

import (
	"testing"

	"github.com/google/uuid"
)

// TestShownAccountEntries: another person's account entries are the admin's
// and the auditor's to read (they tell the account's state, as Listed
// keeps it); one's own and the records' everyone's.
func TestShownAccountEntries(t *testing.T) {
	nina := User{ID: uuid.MustParse("01a24521-0000-7000-8000-000000000001"), Name: "nina", Role: Nurse}
	omar := uuid.MustParse("01a24521-0000-7000-8000-000000000002")
	lotID := uuid.MustParse("01a24521-0000-7000-8000-000000000003")
	for _, c := range []struct {
		name  string
		e     Entry
		nurse bool // nina, a nurse, reads it; the admin and the auditor read all
	}{
		{"another's wrong password at login", Entry{Action: "login.refused", Entity: EntityUser, ID: omar}, false},
		{"another's lock", Entry{Action: "user.locked", Entity: EntityUser, ID: omar}, false},
		{"another's refused co-signature", Entry{Action: "signature.refused", Entity: EntityUser, ID: omar}, false},
		{"another's login", Entry{Action: "login", Entity: EntityUser, ID: omar}, false},
		{"an admin's unlock of another", Entry{Action: "user.unlock", Entity: EntityUser, ID: omar}, false},
		{"another's account added (its values)", Entry{Action: "user.add", Entity: EntityUser, ID: omar}, false},
		{"a login refused for an unknown name", Entry{Action: "login.refused", Entity: EntityUser, ID: uuid.Nil}, false},
		{"her own wrong password", Entry{Action: "login.refused", Entity: EntityUser, ID: nina.ID}, true},
		{"her own lock", Entry{Action: "user.locked", Entity: EntityUser, ID: nina.ID}, true},
		{"a lot registered", Entry{Action: "lot.register", Entity: "lot", ID: lotID}, true},
		{"the database created, on another's account", Entry{Action: "init", Entity: EntityUser, ID: omar}, false},
		{"the database restored, on another's account", Entry{Action: "database.restore", Entity: EntityUser, ID: omar}, false},
	} {
		if got := Shown(nina, c.e); got != c.nurse {
			t.Errorf("%s: a nurse reads it %v, want %v", c.name, got, c.nurse)
		}
		for _, r := range []Role{Admin, Auditor} {
			if !Shown(User{Name: "x", Role: r}, c.e) {
				t.Errorf("%s: %s does not read it", c.name, r)
			}
		}
		for _, r := range []Role{Lab, QA, Physician} {
			if got := Shown(User{Name: "x", Role: r}, c.e); got != !AboutAccount(c.e) {
				t.Errorf("%s: %s reads it %v, want %v", c.name, r, got, !AboutAccount(c.e))
			}
		}
	}
}
