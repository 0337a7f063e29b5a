package store

import (
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// review20 finding A: the lockout (issue 10, 21 CFR 11.300(d)) is meant to
// stop password guessing after 5 wrong passwords in a row. A locked
// account still has every login's password checked, and the right one is
// answered differently from a wrong one ("user nina is locked … until"
// against "wrong user name or password"). Whoever locked the account keeps
// guessing, unbounded, and learns the password the moment they hit it;
// they log in when the lock runs out. Steps (CLI, bbolt or PostgreSQL):
// five wrong `celltrack login nina`, then any number more — a wrong one
// answers "wrong user name or password for nina", nina's right one answers
// "user nina is locked after 5 wrong passwords until …". Expected: while
// the account is locked, the right password and a wrong one get the same
// answer (no oracle), so the lock bounds the guesses as the issue asks.
func TestReview20LockedAccountIsNoPasswordOracle(t *testing.T) {
	db := newTestDB(t)
	addTestUser(t, db, audit.User{Name: "nora", FullName: "Nora Quist", Role: audit.Nurse})
	for i := 0; i < audit.MaxFailures; i++ {
		db.Login("nora", "wrong-guess-tulip-1", nil)
	}
	if u, err := db.User("nora"); err != nil || !u.Locked(db.now()) {
		t.Fatalf("setup: nora is not locked after %d wrong passwords: %v", audit.MaxFailures, err)
	}
	_, _, wrong := db.Login("nora", "wrong-guess-tulip-2", nil)
	_, _, right := db.Login("nora", testPassword, nil)
	if wrong == nil || right == nil {
		t.Fatalf("a login while locked succeeded: wrong %v, right %v", wrong, right)
	}
	if lot.ErrorCode(right) != lot.ErrorCode(wrong) || right.Error() != wrong.Error() {
		t.Errorf("while nora is locked the right password is told apart from a wrong one, so guessing goes on past the lock:\n right: %v\n wrong: %v", right, wrong)
	}
}

// review20 finding B: "an admin cannot create or change an account whose
// printed name folds to its own" (issue 10) stops "Alice Adams" and its
// spellings, but not the same name in the order every hospital roster
// prints it, "Adams, Alice": alice (admin) creates a qa account with that
// printed name, and its approvals read "Adams, Alice (la4, qa)" — the
// admin's second login, signing what the admin may not. Steps:
// `celltrack user add --role qa --full-name 'Adams, Alice' la4` as alice
// ("Alice Adams") → added. Expected: refused as "Alice Adams" is, nothing
// written.
func TestReview20AdminCannotAddOwnNameInverted(t *testing.T) {
	db := newAliceAdamsDB(t, time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	if _, err := db.AddUser("alice", audit.User{Name: "alice2", FullName: "Alice Adams", Role: audit.QA}, testFirstPassword, testPassword); err == nil {
		t.Fatal("setup: the admin's own printed name, typed exactly, is accepted")
	}
	before, _ := db.AuditCount()
	_, err := db.AddUser("alice", audit.User{Name: "la4", FullName: "Adams, Alice", Role: audit.QA}, testFirstPassword, testPassword)
	if err == nil {
		t.Errorf("alice (Alice Adams, admin) created a qa account printed %q: her own name, a second login of herself", "Adams, Alice")
	}
	if after, _ := db.AuditCount(); err != nil && after != before {
		t.Errorf("the refusal wrote %d audit entries", after-before)
	}
}

// review20 finding E: the absolute expiry is a facility setting (issue
// 10), but a change to it reaches only sessions opened afterwards: each
// session keeps the expiry computed at its login. An idle expiry that is
// shortened ends idle sessions at once (TestSessionRefusals); an absolute
// expiry shortened from 12 h to 1 h — after a stolen laptop, say — leaves
// every open session alive for the rest of its 12 hours. Steps: nina logs
// in at 10:25 (`whoami`: expires 22:25); alice runs `celltrack settings set
// --absolute 1h --idle 5m --reason …`; nina's `whoami` shows "after 5m
// idle" (the new idle) but still "expires 22:25" (the old absolute), and
// her session works at 12:30. Expected: a session ends at its start plus
// the facility's absolute expiry in force, as it ends at the idle expiry
// in force.
func TestReview20ShortenedAbsoluteExpiryEndsOpenSessions(t *testing.T) {
	db := newTestDB(t)
	now := db.Now()
	db.Now = func() time.Time { return now }
	c, _, err := db.Login("liu", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.AbsoluteExpiry = time.Hour
	if err := db.SetSettings("alice", set, "a laptop was stolen: sessions end after an hour"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ { // active every 10 minutes for two hours
		now = now.Add(10 * time.Minute)
		next := c
		if _, next, err = db.Session(c); err != nil {
			break
		}
		c = next
	}
	if err == nil {
		t.Errorf("liu's session, opened at %s, still works at %s although the facility's absolute expiry is now 1h", lot.FormatTime(now.Add(-2*time.Hour)), lot.FormatTime(now))
	} else if lot.ErrorCode(err) != lot.ESESSION {
		t.Errorf("the session after the absolute expiry: %v; want a session refusal", err)
	}
}

// review20 finding C: the user-access review (`report access`, issue 10:
// "failed attempts and locks") counts only the wrong passwords that moved
// the lockout counter. Those typed while the account was locked — each one
// an audit entry ("wrong password at login while locked"), and the right
// password typed while locked ("login while locked until …", finding A's
// oracle answering) — are in the trail but not in the review. Steps: five
// wrong `celltrack login liu` (locked), three more wrong ones and liu's
// right one while locked; `celltrack report access` says Failed 5 for liu
// (the CSV failed_passwords 5) beside nine refused logins in `audit log
// --entity liu`. Expected: the review's failed attempts are every refused
// password of the account, so an inspector sees the guessing that went on
// during the lock.
func TestReview20AccessReviewCountsWrongPasswordsWhileLocked(t *testing.T) {
	db := newTestDB(t)
	addTestUser(t, db, audit.User{Name: "nora", FullName: "Nora Quist", Role: audit.Nurse})
	for i := 0; i < audit.MaxFailures+3; i++ {
		db.Login("nora", "wrong-guess-tulip-1", nil)
	}
	if u, err := db.User("nora"); err != nil || !u.Locked(db.now()) {
		t.Fatalf("setup: nora is not locked: %v", err)
	}
	rows, err := db.AccessReview()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.User.Name == "nora" && r.Failures != audit.MaxFailures+3 {
			t.Errorf("the access review counts %d wrong passwords for nora; the trail records %d (%d of them while she was locked)", r.Failures, audit.MaxFailures+3, 3)
		}
	}
}
