package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestAdminOwnNameInAnyForm (review 20, finding B): an admin cannot create,
// nor change (role, reset, unlock, enable), an account whose printed name
// may be the admin's own in another word order, with a title, an accent or
// look-alike letters (lot.MayBeSameName). Each refusal is forbidden (exit 3),
// names the account and its printed name, says to ask another admin, and
// writes nothing; another admin may do it. bbolt, and PostgreSQL with
// CELLTRACK_TEST_ENGINE=postgres.
func TestAdminOwnNameInAnyForm(t *testing.T) {
	db := newAliceAdamsDB(t, time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	unchanged := func(what string, f func() error) {
		t.Helper()
		before, _ := db.AuditCount()
		err := f()
		if lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), "reads as the admin's own (alice, \"Alice Adams\")") || !strings.Contains(err.Error(), "ask another admin") {
			t.Errorf("%s: %v; want refused as the admin's own name", what, err)
		}
		if after, _ := db.AuditCount(); after != before {
			t.Errorf("%s: the refusal wrote %d audit entries", what, after-before)
		}
	}
	for _, full := range []string{"Adams, Alice", "ADAMS Alice", "Dr Alice Adams", "Adams, Alice, MD", "Alice Adarns", "Al1ce Adams", "Alicé Adams",
		// review 21, finding A: other words beside the family and given name
		"Alice M. Adams", "A. Adams", "Alice Adams 2", "Alice Adams (nights)", "Alice B. Adams MD", "Alice Adams II"} {
		unchanged("user add --full-name "+full, func() error {
			_, err := db.AddUser("alice", audit.User{Name: "la4", FullName: full, Role: audit.QA}, testFirstPassword, testPassword)
			if err != nil && (lot.ErrorField(err) != "full-name" || !strings.Contains(err.Error(), "user la4's printed name "+`"`+full+`"`)) {
				t.Errorf("user add --full-name %q: %v (field %q); want the field full-name and the name", full, err, lot.ErrorField(err))
			}
			return err
		})
	}
	if _, err := db.User("la4"); err == nil {
		t.Errorf("la4 exists after every refusal: %v", err)
	}
	// Other people of her family name or her given name are not her.
	for i, full := range []string{"Alicia Adams", "B. Adams", "Alice Brown"} {
		if _, err := db.AddUser("alice", audit.User{Name: fmt.Sprintf("other%d", i), FullName: full, Role: audit.Nurse}, testFirstPassword, testPassword); err != nil {
			t.Errorf("alice (Alice Adams) adds %q: %v; another person", full, err)
		}
	}

	// Another admin creates the account (it may be another person; or
	// alice's, which is then that admin's decision); alice cannot change it.
	if _, err := db.AddUser("alice", audit.User{Name: "bob", FullName: "Bob Brown", Role: audit.Admin}, testFirstPassword, testPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddUser("bob", audit.User{Name: "la5", FullName: "Adams, Alice", Role: audit.Lab}, testFirstPassword, ""); err != nil {
		t.Fatalf("another admin adds \"Adams, Alice\": %v", err)
	}
	unchanged("user role la5 nurse", func() error {
		_, err := db.SetRole("alice", "la5", audit.Nurse, "ward moved", "")
		return err
	})
	unchanged("user role la5 qa", func() error {
		_, err := db.SetRole("alice", "la5", audit.QA, "promoted", testPassword)
		return err
	})
	unchanged("user reset la5", func() error {
		_, err := db.ResetPassword("alice", "la5", "quill-fennel-harbor-29", "forgotten", nil)
		return err
	})
	if _, err := db.DisableUser("bob", "la5", "left", nil); err != nil {
		t.Fatal(err)
	}
	unchanged("user enable la5", func() error {
		_, err := db.EnableUser("alice", "la5", "back", nil)
		return err
	})
	if u, err := db.User("la5"); err != nil || u.Role != audit.Lab {
		t.Errorf("la5 after alice's refused changes: %+v, %v", u, err)
	}
}

// newAliceAdamsDB opens a new database whose one user is the admin alice,
// printed "Alice Adams", at the time now: the set-up of the tests of the
// admin's own look-alike (lot.MayBeSameName).
func newAliceAdamsDB(t *testing.T, now time.Time) *DB {
	t.Helper()
	FailedPasswordDelay = 0
	db, err := Open(testDBPath(t), Options{Create: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Init("G1234", audit.User{Name: "alice", FullName: "Alice Adams"}, testPassword); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestAdminLookalikeReadAsTyped (review 21, finding C): a sole admin named
// Ian Hill adds the nurse Lan Hill (a capital L looks like no I), but not
// "lan Hill" (a small l looks like the capital I).
func TestAdminLookalikeReadAsTyped(t *testing.T) {
	FailedPasswordDelay = 0
	db, err := Open(testDBPath(t), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Init("G1234", audit.User{Name: "ian", FullName: "Ian Hill"}, testPassword); err != nil {
		t.Fatal(err)
	}
	before, _ := db.AuditCount()
	if _, err := db.AddUser("ian", audit.User{Name: "lan2", FullName: "lan Hill", Role: audit.Nurse}, testFirstPassword, testPassword); lot.ErrorCode(err) != lot.EFORBIDDEN || lot.ErrorField(err) != "full-name" {
		t.Errorf("ian (Ian Hill) adds \"lan Hill\": %v; want refused as the admin's own, field full-name", err)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Errorf("the refusal wrote %d audit entries", after-before)
	}
	if _, err := db.AddUser("ian", audit.User{Name: "lan", FullName: "Lan Hill", Role: audit.Nurse}, testFirstPassword, testPassword); err != nil {
		t.Errorf("ian (Ian Hill) adds the nurse \"Lan Hill\": %v; another person", err)
	}
}
