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
			if _, err := db.ResetPassword("alice", "nina", oneTime, "forgot it"); err != nil {
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
			if _, err := db.ResetPassword("alice", "nina", oneTime, "forgot it"); err != nil {
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
			if tc.want == lot.EPASSWORD && !strings.Contains(err.Error(), "celltrack login nina") {
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
