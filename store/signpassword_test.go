package store

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
)

func auditLen(t *testing.T, db *DB) int {
	t.Helper()
	es, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestSignatureRefusesPasswordThatMustChange (review finding HIGH 1): a
// password that must be changed first — an admin's one-time password, or one
// past the facility's maximum age — signs nothing. It is refused with
// EPASSWORD naming whose password and how to change it, writes nothing and
// counts towards no lockout; a wrong password is still counted as before.
func TestSignatureRefusesPasswordThatMustChange(t *testing.T) {
	const oneTime = "violet-harbor-quartz-5"
	for _, tc := range []struct {
		name     string
		spoil    func(t *testing.T, db *DB, now *time.Time) string // returns nina's password now
		password func(pw string) string
		want     string
		wantMsg  string
		grows    int
	}{
		{"one-time password after a reset", func(t *testing.T, db *DB, now *time.Time) string {
			if _, err := db.ResetPassword("alice", "nina", oneTime, "forgot it", nil); err != nil {
				t.Fatal(err)
			}
			return oneTime
		}, func(pw string) string { return pw }, lot.EPASSWORD, "one-time password", 0},
		{"password past the maximum age", func(t *testing.T, db *DB, now *time.Time) string {
			set := audit.DefaultSettings
			set.PasswordMaxAge = 90 * 24 * time.Hour
			if err := db.SetSettings("alice", set, "quarterly change"); err != nil {
				t.Fatal(err)
			}
			*now = now.Add(91 * 24 * time.Hour)
			return testPassword
		}, func(pw string) string { return pw }, lot.EPASSWORD, "maximum password age of 90d", 0},
		{"wrong password of a reset account is still counted", func(t *testing.T, db *DB, now *time.Time) string {
			if _, err := db.ResetPassword("alice", "nina", oneTime, "forgot it", nil); err != nil {
				t.Fatal(err)
			}
			return oneTime
		}, func(string) string { return "not-the-password-1" }, lot.EAUTH, "wrong password for user nina", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t)
			now := db.Now()
			db.Now = func() time.Time { return now }
			pw := tc.spoil(t, db, &now)
			before, _ := db.User("nina")
			n := auditLen(t, db)
			_, err := db.Authenticate("nina", tc.password(pw), dose.MeaningWitness)
			if lot.ErrorCode(err) != tc.want || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v; want %s %q", err, tc.want, tc.wantMsg)
			}
			if tc.want == lot.EPASSWORD && (!strings.Contains(err.Error(), "nina changes it by logging in") || lot.ErrorCommand(err) != "login nina") {
				t.Errorf("the refusal does not say how to change the password: %v", err)
			}
			if got := auditLen(t, db) - n; got != tc.grows {
				t.Errorf("audit trail grew by %d; want %d", got, tc.grows)
			}
			after, _ := db.User("nina")
			if want := before.Failures + tc.grows; after.Failures != want {
				t.Errorf("failures %d; want %d", after.Failures, want)
			}
		})
	}
}

// TestSignatureRoleBeforePassword (review finding 7): a signature the
// signer's role may not make is refused before the password is checked: a
// wrong password is neither recorded nor counted.
func TestSignatureRoleBeforePassword(t *testing.T) {
	db := newTestDB(t)
	for _, meaning := range []string{dose.MeaningSchedule, dose.MeaningConfirmWeight} {
		n := auditLen(t, db)
		_, err := db.Authenticate("nina", "not-the-password-1", meaning)
		if lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), "role nurse") {
			t.Fatalf("%s: got %v; want EFORBIDDEN naming the role", meaning, err)
		}
		if got := auditLen(t, db); got != n {
			t.Errorf("%s: audit trail grew by %d", meaning, got-n)
		}
		if u, _ := db.User("nina"); u.Failures != 0 {
			t.Errorf("%s: %d failures counted", meaning, u.Failures)
		}
	}
}

// TestAddUserRefusesCaseVariantName (review finding 11): a new user name
// that differs from an existing one only in letter case is refused, as an
// MRN is, and nothing is written.
func TestAddUserRefusesCaseVariantName(t *testing.T) {
	db := newTestDB(t)
	for _, name := range []string{"ALICE", "Nina", "lIu"} {
		n := auditLen(t, db)
		_, err := db.AddUser("alice", audit.User{Name: name, FullName: "Someone Else " + name, Role: audit.Nurse}, "copper-meadow-lynx-42", "")
		if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "only in letter case") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v; want ECONFLICT naming it", name, err)
		}
		if got := auditLen(t, db); got != n {
			t.Errorf("%s: audit trail grew by %d", name, got-n)
		}
	}
}

// TestIdentifierDotSegmentsRefused (review finding 3): identifiers that are
// or hold a path dot segment, an empty segment, and user names with '/',
// are refused at registration, naming the field and the value.
func TestIdentifierDotSegmentsRefused(t *testing.T) {
	db := newTestDB(t)
	s := NewLotService(db)
	now := db.Now()
	for _, tc := range []struct {
		name string
		add  func() error
		want []string
	}{
		{"MRN ..", func() error {
			_, err := s.AddPatient("nina", lot.Patient{MRN: "..", Name: "Dot", Born: now.AddDate(-40, 0, 0), Sex: "F"})
			return err
		}, []string{"MRN", `".."`}},
		{"MRN a/./b", func() error {
			_, err := s.AddPatient("nina", lot.Patient{MRN: "a/./b", Name: "Dot", Born: now.AddDate(-40, 0, 0), Sex: "F"})
			return err
		}, []string{"MRN", "a/./b"}},
		{"donor .", func() error {
			_, err := s.AddDonor("liu", lot.Donor{Code: ".", Site: "ward", Delivered: now.AddDate(0, 0, -10), Consented: now.AddDate(0, 0, -20)})
			return err
		}, []string{"donor id", `"."`}},
		{"user ..", func() error {
			_, err := db.AddUser("alice", audit.User{Name: "..", FullName: "Dot Dot", Role: audit.Nurse}, "copper-meadow-lynx-42", "")
			return err
		}, []string{"user name", `".."`}},
		{"user omar/../quinn", func() error {
			_, err := db.AddUser("alice", audit.User{Name: "omar/../quinn", FullName: "Mallory Decoy", Role: audit.Nurse}, "copper-meadow-lynx-42", "")
			return err
		}, []string{"user name", "omar/../quinn"}},
		{"user a/b", func() error {
			_, err := db.AddUser("alice", audit.User{Name: "a/b", FullName: "Slash Person", Role: audit.Nurse}, "copper-meadow-lynx-42", "")
			return err
		}, []string{"user name", "a/b", "'/'"}},
	} {
		n := auditLen(t, db)
		err := tc.add()
		if lot.ErrorCode(err) != lot.EINVALID {
			t.Errorf("%s: got %v; want EINVALID", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not name %s", tc.name, err, w)
			}
		}
		if got := auditLen(t, db); got != n {
			t.Errorf("%s: audit trail grew by %d", tc.name, got-n)
		}
	}
}

// TestPasswordChangeEndsOtherSessions (review finding 12): changing one's
// own password ends the sessions the old one opened elsewhere and keeps
// the one it was changed in; without a session handle (the server's) every
// session ends; an admin's reset ends them all; a change forced at login
// (password past its maximum age) ends the older sessions too.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	const newPw = "copper-meadow-lynx-42"
	alive := func(t *testing.T, db *DB, c Credentials) bool {
		t.Helper()
		_, _, err := db.Session(c)
		if err != nil && lot.ErrorCode(err) != lot.ESESSION {
			t.Fatalf("session: %v", err)
		}
		return err == nil
	}
	login := func(t *testing.T, db *DB, pw string) Credentials {
		t.Helper()
		c, _, err := db.Login("nina", pw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("own change in a session", func(t *testing.T) {
		db := newTestDB(t)
		here, there := login(t, db, testPassword), login(t, db, testPassword)
		if _, err := db.WithSession(here).ChangePassword("nina", testPassword, newPw, nil); err != nil {
			t.Fatal(err)
		}
		if !alive(t, db, here) || alive(t, db, there) {
			t.Errorf("after the change: this session alive %v (want true), the other %v (want false)", alive(t, db, here), alive(t, db, there))
		}
	})
	t.Run("own change without a session handle", func(t *testing.T) {
		db := newTestDB(t)
		a, b := login(t, db, testPassword), login(t, db, testPassword)
		if _, err := db.ChangePassword("nina", testPassword, newPw, nil); err != nil {
			t.Fatal(err)
		}
		if alive(t, db, a) || alive(t, db, b) {
			t.Error("a session of the old password outlived the change")
		}
	})
	t.Run("admin reset", func(t *testing.T) {
		db := newTestDB(t)
		a := login(t, db, testPassword)
		if _, err := db.ResetPassword("alice", "nina", "violet-harbor-quartz-5", "forgot it", nil); err != nil {
			t.Fatal(err)
		}
		if alive(t, db, a) {
			t.Error("a session outlived the admin's reset")
		}
	})
	t.Run("change forced at login", func(t *testing.T) {
		db := newTestDB(t)
		now := db.Now()
		db.Now = func() time.Time { return now }
		set := audit.DefaultSettings
		set.PasswordMaxAge = 24 * time.Hour
		set.IdleExpiry, set.AbsoluteExpiry = 24*time.Hour, 7*24*time.Hour
		if err := db.SetSettings("alice", set, "daily change"); err != nil {
			t.Fatal(err)
		}
		old := login(t, db, testPassword)
		now = now.Add(23 * time.Hour)
		if _, next, err := db.Session(old); err != nil {
			t.Fatal(err)
		} else {
			old = next
		}
		now = now.Add(2 * time.Hour)
		if _, _, err := db.Login("nina", testPassword, func() (string, error) { return newPw, nil }); err != nil {
			t.Fatal(err)
		}
		if alive(t, db, old) {
			t.Error("a session of the expired password came back to life after the change at login")
		}
	})
}
