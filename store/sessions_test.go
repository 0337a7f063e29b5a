package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// TestSessionRefusals: each way a session stops being good is refused with
// ESESSION and a message that says to log in again.
func TestSessionRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		// spoil turns good credentials (made at 09:00) into bad ones, or
		// moves the clock.
		spoil func(t *testing.T, db *DB, c *Credentials, now *time.Time)
		want  string
	}{
		{"idle past 15 minutes", func(t *testing.T, db *DB, c *Credentials, now *time.Time) { *now = now.Add(15 * time.Minute) }, "was idle since"},
		{"past the absolute expiry", func(t *testing.T, db *DB, c *Credentials, now *time.Time) {
			// Active every 10 minutes, yet 12 hours end it.
			for i := 0; i < 72; i++ {
				*now = now.Add(10 * time.Minute)
				if _, next, err := db.Session(*c); err == nil {
					*c = next
				}
			}
		}, "expired at"},
		{"logged out", func(t *testing.T, db *DB, c *Credentials, now *time.Time) {
			if _, err := db.Logout(*c); err != nil {
				t.Fatal(err)
			}
		}, "was ended"},
		{"edited last activity", func(t *testing.T, db *DB, c *Credentials, now *time.Time) {
			c.LastActivity = c.LastActivity.Add(time.Hour)
			*now = now.Add(30 * time.Minute)
		}, "changed by hand"},
		{"forged token", func(t *testing.T, db *DB, c *Credentials, now *time.Time) { c.Token = strings.Repeat("A", 43) }, "knows no such session"},
		{"another database", func(t *testing.T, db *DB, c *Credentials, now *time.Time) {
			c.DatabaseID = "0190a0a0-0000-7000-8000-000000000000"
		}, "made for another database"},
		{"user disabled", func(t *testing.T, db *DB, c *Credentials, now *time.Time) {
			if _, err := db.DisableUser("alice", "nina", "left the unit", nil); err != nil {
				t.Fatal(err)
			}
		}, "was ended"},
		{"not logged in", func(t *testing.T, db *DB, c *Credentials, now *time.Time) { *c = Credentials{} }, "not logged in"},
		// The session, its user and the settings are decoded once per
		// stored bytes (bytesMemo), and the fresh check above decoded
		// them: a lockout, or an idle expiry shortened, is seen at once.
		{"locked by wrong passwords", func(t *testing.T, db *DB, c *Credentials, now *time.Time) {
			for i := 0; i < audit.MaxFailures; i++ {
				db.Login("nina", "not-the-password", nil)
			}
		}, "was ended"},
		{"idle expiry shortened", func(t *testing.T, db *DB, c *Credentials, now *time.Time) {
			set := audit.DefaultSettings
			set.IdleExpiry = 5 * time.Minute
			if err := db.SetSettings("alice", set, "shorter idle expiry on the ward"); err != nil {
				t.Fatal(err)
			}
			*now = now.Add(6 * time.Minute)
		}, "was idle since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t)
			now := db.Now()
			db.Now = func() time.Time { return now }
			c, _, err := db.Login("nina", testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.Session(c); err != nil {
				t.Fatalf("fresh session refused: %v", err)
			}
			tc.spoil(t, db, &c, &now)
			_, _, err = db.Session(c)
			if lot.ErrorCode(err) != lot.ESESSION || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want ESESSION %q", err, tc.want)
			}
			// A command checks the session in the transaction that opens
			// the database (Options.Start): the same refusal, word for word.
			// A command through a server has it checked with the facility
			// (ServedStart): the same refusal, and nothing else read.
			if sv, serr := db.ServedStart(c); serr == nil || serr.Error() != err.Error() || lot.ErrorCode(serr) != lot.ESESSION || sv.FIN != "" || sv.Zone != nil {
				t.Fatalf("checked with the facility: %v, %+v; Session said %v", serr, sv, err)
			}
			st := startedOn(t, db, Start{Credentials: &c, Mark: true})
			if !st.Checked || st.SessionErr == nil || st.SessionErr.Error() != err.Error() || lot.ErrorCode(st.SessionErr) != lot.ESESSION {
				t.Fatalf("checked at open: %v (checked %v); Session said %v", st.SessionErr, st.Checked, err)
			}
		})
	}
}

// startedOn closes db and opens its database again, read-only, asking for
// start; it returns what the open read.
func startedOn(t *testing.T, db *DB, start Start) Started {
	t.Helper()
	path, now := db.Path(), db.Now
	db.Close()
	again, err := Open(path, Options{ReadOnly: true, Now: now, Start: &start})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	return again.Started()
}

// berlinSession is a database whose facility is in Berlin and nina's
// session on it, checked five minutes after her login (the client's
// activity moved: next differs from c), with the zone read on its own; now
// is the database's clock, fixed.
func berlinSession(t *testing.T) (db *DB, c Credentials, info SessionInfo, next Credentials, loc *time.Location, now time.Time) {
	t.Helper()
	db = newTestDB(t)
	now = db.Now()
	db.Now = func() time.Time { return now }
	if _, err := NewCustodyService(db).SetFacilityZone("alice", "Europe/Berlin", "the facility is in Berlin"); err != nil {
		t.Fatal(err)
	}
	c, _, err := db.Login("nina", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(5 * time.Minute) // the client's activity moves
	info, next, err = db.Session(c)
	if err != nil {
		t.Fatal(err)
	}
	loc, err = db.FacilityZone()
	if err != nil {
		t.Fatal(err)
	}
	return db, c, info, next, loc, now
}

// TestStartReadsWhatEachReadReads: what Open reads for a command in its one
// read transaction — the facility's zone, the migration mark and the
// session — is what FacilityZone, Migrated and Session read on their own,
// the client's moved activity included.
func TestStartReadsWhatEachReadReads(t *testing.T) {
	db, c, info, next, loc, now := berlinSession(t)
	st := startedOn(t, db, Start{Credentials: &c, Mark: true})
	if st.ZoneErr != nil || st.Zone.String() != loc.String() || loc.String() != "Europe/Berlin" {
		t.Errorf("zone at open %v (%v); FacilityZone %v", st.Zone, st.ZoneErr, loc)
	}
	if st.Mark != nil {
		t.Errorf("a database never migrated has a mark at open: %+v", st.Mark)
	}
	if !st.Checked || st.SessionErr != nil || st.Next != next || st.Session.User.Name != info.User.Name || st.Session.User.Name != "nina" || !st.Session.Session.LastActivity.Equal(now) {
		t.Errorf("session at open: %+v, next %+v, %v; Session: %+v, next %+v", st.Session, st.Next, st.SessionErr, info, next)
	}
	if next == c {
		t.Error("the client's activity did not move: the test compares nothing")
	}
}

// TestServedStartReadsWhatEachReadReads: what a server reads for a command
// of the command line before its own request, in one read transaction —
// the session checked, the facility's number, zone and migration mark — is
// what Session, Facility, FacilityZone and Migrated read on their own, the
// client's moved activity included; the user a session was last found to
// be, which the next check reads ahead (sessionUsers), is a hint only: a
// wrong one still gives the session's own user.
func TestServedStartReadsWhatEachReadReads(t *testing.T) {
	db, c, info, next, loc, now := berlinSession(t)
	fin, err := db.Facility()
	if err != nil {
		t.Fatal(err)
	}
	mark, err := db.Migrated()
	if err != nil || mark != nil {
		t.Fatalf("a database never migrated: mark %+v, %v", mark, err)
	}
	alice, err := db.User("alice")
	if err != nil {
		t.Fatal(err)
	}
	h := tokenHash(c.Token)
	if id, ok := sessionUsers.get(h); !ok || id != info.User.ID {
		t.Errorf("after a check the session's user is not kept to read ahead: %v %v, want %v", id, ok, info.User.ID)
	}
	for _, hint := range []string{"the session's own", "another user's"} {
		if hint == "another user's" {
			sessionUsers.put(h, alice.ID)
		}
		sv, err := db.ServedStart(c)
		if err != nil || sv.FacilityErr != nil || sv.ZoneErr != nil {
			t.Fatalf("with %s user read ahead: %v, facility %v, zone %v", hint, err, sv.FacilityErr, sv.ZoneErr)
		}
		if sv.FIN != fin || fin == "" || sv.Zone.String() != loc.String() || loc.String() != "Europe/Berlin" || sv.Mark != nil {
			t.Errorf("with %s user read ahead, the facility: %q %v %+v; on their own %q %v", hint, sv.FIN, sv.Zone, sv.Mark, fin, loc)
		}
		if sv.Next != next || sv.Session.User.Name != "nina" || sv.Session.User.ID != info.User.ID || sv.Session.User.Role != info.User.Role || !sv.Session.Session.LastActivity.Equal(now) {
			t.Errorf("with %s user read ahead, the session: %+v, next %+v; Session: %+v, next %+v", hint, sv.Session, sv.Next, info, next)
		}
	}
	if id, _ := sessionUsers.get(h); id != info.User.ID {
		t.Errorf("a wrong user read ahead was kept: %v", id)
	}
	if next == c {
		t.Error("the client's activity did not move: the test compares nothing")
	}
}

// TestSessionIdleCountsReadsAndWrites: a read moves only the client's last
// activity (MACed), a write moves the database's; either keeps the session
// alive, and a read writes nothing to the database.
func TestSessionIdleCountsReadsAndWrites(t *testing.T) {
	db := newTestDB(t)
	now := db.Now()
	db.Now = func() time.Time { return now }
	c, _, err := db.Login("nina", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := db.AuditCount()
	for i := 0; i < 5; i++ { // 50 minutes of reads 10 minutes apart
		now = now.Add(10 * time.Minute)
		if _, c, err = db.Session(c); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if after, _ := db.AuditCount(); after != before {
		t.Errorf("reads appended %d audit entries", after-before)
	}
	stale := c // the client file as it was before the write
	now = now.Add(10 * time.Minute)
	s := NewLotService(db.WithSession(c))
	if _, err := s.Weigh("nina", "MRN-1", 62000, now); err != nil {
		t.Fatalf("weigh in the session: %v", err)
	}
	// 14 minutes after the write, 24 after the client's last activity: the
	// write, recorded in the database, keeps the session alive.
	now = now.Add(14 * time.Minute)
	if _, _, err := db.Session(stale); err != nil {
		t.Fatalf("the write did not count as activity: %v", err)
	}
	if _, err := s.AddDonor("liu", lot.Donor{Code: "D-9", Site: "ward", Delivered: now.AddDate(0, 0, -10), Consented: now.AddDate(0, 0, -20)}); lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), "nina's") {
		t.Fatalf("another actor in nina's session: %v", err)
	}
}

// TestLockoutAfterFiveWrongPasswords: four wrong passwords and a right one
// reset the count; five lock the account (login and signatures alike) until
// the lockout ends or an admin unlocks it. An unknown name gets the same
// answer as a wrong password.
func TestLockoutAfterFiveWrongPasswords(t *testing.T) {
	db := newTestDB(t)
	now := db.Now()
	db.Now = func() time.Time { return now }
	_, _, errUnknown := db.Login("nobody", "whatever-it-is-1", nil)
	_, _, errWrong := db.Login("nina", "whatever-it-is-1", nil)
	if lot.ErrorCode(errUnknown) != lot.EAUTH || strings.Replace(errUnknown.Error(), "nobody", "nina", 1) != errWrong.Error() {
		t.Fatalf("unknown user %q and wrong password %q differ", errUnknown, errWrong)
	}
	for i := 0; i < 3; i++ {
		db.Login("nina", "wrong-password-x", nil)
	}
	if _, _, err := db.Login("nina", testPassword, nil); err != nil {
		t.Fatalf("4 wrong then right: %v", err)
	}
	if u, _ := db.User("nina"); u.Failures != 0 {
		t.Fatalf("a right password left %d failures", u.Failures)
	}
	before, _ := db.AuditCount()
	for i := 0; i < 4; i++ {
		db.Login("nina", "wrong-password-x", nil)
	}
	if _, err := db.Authenticate("nina", "wrong-password-x", "witnessed"); err == nil || !strings.Contains(err.Error(), "locked until") {
		t.Fatalf("5th wrong password, at a signature: %v", err)
	}
	if after, _ := db.AuditCount(); after != before+6 { // five failures and one lock
		t.Errorf("5 failures appended %d entries; want 6", after-before)
	}
	// While locked the password is not checked: the right one gets the
	// answer a wrong one and an unknown name get (review 20, finding A).
	_, _, errRight := db.Login("nina", testPassword, nil)
	_, _, errLockedWrong := db.Login("nina", "wrong-password-x", nil)
	if lot.ErrorCode(errRight) != lot.EAUTH || errRight.Error() != errWrong.Error() || errLockedWrong.Error() != errWrong.Error() {
		t.Fatalf("while locked: right password %v, wrong one %v; want both %v", errRight, errLockedWrong, errWrong)
	}
	if !strings.Contains(errRight.Error(), "or the account is locked") || !strings.Contains(errRight.Error(), "for 15m: then wait, or ask an admin to unlock it") {
		t.Errorf("the one answer does not say the account may be locked, for how long, and what to do: %v", errRight)
	}
	now = now.Add(16 * time.Minute)
	if _, _, err := db.Login("nina", testPassword, nil); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	for i := 0; i < 5; i++ {
		db.Login("nina", "wrong-password-x", nil)
	}
	if _, err := db.UnlockUser("alice", "nina", "identity checked", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Login("nina", testPassword, nil); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

// TestResetForcesChangeAtLogin: a one-time password must be changed at the
// next login, to one that passes the policy.
func TestResetForcesChangeAtLogin(t *testing.T) {
	db := newTestDB(t)
	if _, err := db.ResetPassword("alice", "nina", "violet-harbor-quartz-5", "forgot it", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Login("nina", "violet-harbor-quartz-5", nil); lot.ErrorCode(err) != lot.EPASSWORD || !strings.Contains(err.Error(), "must change") {
		t.Fatalf("login without a new password: %v", err)
	}
	weak := func() (string, error) { return "nina12345678", nil }
	if _, _, err := db.Login("nina", "violet-harbor-quartz-5", weak); lot.ErrorCode(err) != lot.EINVALID {
		t.Fatalf("weak new password: %v", err)
	}
	strong := func() (string, error) { return "copper-meadow-lynx-42", nil }
	if _, _, err := db.Login("nina", "violet-harbor-quartz-5", strong); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Login("nina", "copper-meadow-lynx-42", nil); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

// TestAdminSeparation: an admin cannot sign, nor create or change an
// account that reads as their own; giving qa needs the admin's password.
func TestAdminSeparation(t *testing.T) {
	db := newTestDB(t)
	if _, err := db.Authenticate("alice", testPassword, "approved for release"); lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), "cannot sign") {
		t.Errorf("admin signature: %v", err)
	}
	if _, err := db.AddUser("alice", audit.User{Name: "alice2", FullName: "Alice", Role: audit.QA}, "copper-meadow-lynx-42", testPassword); lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Errorf("admin adding a look-alike of themselves: %v", err)
	}
	if _, err := db.AddUser("alice", audit.User{Name: "quinn", FullName: "Quinn", Role: audit.QA}, "copper-meadow-lynx-42", "wrong-password-x"); lot.ErrorCode(err) != lot.EAUTH {
		t.Errorf("qa grant with a wrong admin password: %v", err)
	}
	u, err := db.AddUser("alice", audit.User{Name: "quinn", FullName: "Quinn", Role: audit.QA}, "copper-meadow-lynx-42", testPassword)
	if err != nil || u.RoleGrant == nil || u.RoleGrant.User != "alice" {
		t.Fatalf("qa grant: %v, %+v", err, u.RoleGrant)
	}
}

// TestRoleGrantSignatureIsVerified: the admin's signature that gave an
// account the qa role is bound to the account and the role; a forger who
// turns a nurse into qa and copies a grant onto the record, re-chaining the
// trail, is named by audit verify, and a grant kept after the role changed
// back is named too.
func TestRoleGrantSignatureIsVerified(t *testing.T) {
	db := newTestDB(t)
	q, err := db.AddUser("alice", audit.User{Name: "quinn", FullName: "Quinn", Role: audit.QA}, "copper-meadow-lynx-42", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := db.Verify(); !v.OK() {
		t.Fatalf("verify after a signed grant: %v", v.Problems)
	}
	nina, _ := db.User("nina")
	forge(t, db, kindUser, nina.ID, func(r *userRecord) { r.Role, r.RoleGrant = audit.QA, q.RoleGrant })
	v, _ := db.Verify()
	if !strings.Contains(strings.Join(v.Problems, "\n"), "user nina ("+nina.ID.String()+", role qa): the signature of alice (granted the role qa)") {
		t.Errorf("a copied grant is not named: %v", v.Problems)
	}
}

// A stranger's login attempts cannot forge a line of the audit trail or grow
// it at will (the typed name is quoted and cut), cannot tell a disabled
// account from a wrong password, and wrong passwords sent together after
// the lock do not count again.
func TestRefusedLoginsRecordSafely(t *testing.T) {
	db := newTestDB(t)
	forged := "x\n   999  2026-12-03 01:36 UTC  alice  user.enable  forged\x1b[31m" + strings.Repeat("y", 60000)
	_, _, err := db.Login(forged, "not-the-password", nil)
	if lot.ErrorCode(err) != lot.EAUTH || strings.Contains(lot.ErrorMessage(err), "\n") || len(lot.ErrorMessage(err)) > 400 {
		t.Fatalf("forged name: %v", err)
	}
	es, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	if strings.ContainsAny(last.User, "\n\x1b") || len(last.User) > 80 || last.Action != "login.refused" {
		t.Fatalf("the refused login was recorded as user %q, action %s", last.User, last.Action)
	}
	if _, err := db.DisableUser("alice", "liu", "left", nil); err != nil {
		t.Fatal(err)
	}
	_, _, wrong := db.Login("liu", "not-the-password", nil)
	_, _, unknown := db.Login("nobody", "not-the-password", nil)
	if lot.ErrorCode(wrong) != lot.EAUTH || strings.Replace(lot.ErrorMessage(wrong), "liu", "nobody", 1) != lot.ErrorMessage(unknown) {
		t.Fatalf("a disabled account with a wrong password is told apart from an unknown name:\n%v\n%v", wrong, unknown)
	}
	if _, _, err := db.Login("liu", testPassword, nil); lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Fatalf("the right password of a disabled account: %v", err)
	}
	for i := 0; i < audit.MaxFailures+3; i++ {
		db.Login("nina", "not-the-password", nil)
	}
	u, err := db.User("nina")
	if err != nil || u.Failures != audit.MaxFailures {
		t.Fatalf("failures after the lock counted again: %d (%v)", u.Failures, err)
	}
}

// With an idle expiry shorter than a minute's worth of reads apart, reads
// still keep the session alive: the client's activity moves every quarter
// of the idle expiry (the review found a 1m idle expiry lapse under reads
// every 15 s).
func TestShortIdleExpiryKeptByReads(t *testing.T) {
	db := newTestDB(t)
	now := db.Now()
	db.Now = func() time.Time { return now }
	set, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.IdleExpiry = time.Minute
	if err := db.SetSettings("alice", set, "a ward's shared tablet"); err != nil {
		t.Fatal(err)
	}
	c, _, err := db.Login("nina", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ { // two minutes of reads 15 s apart
		now = now.Add(15 * time.Second)
		if _, c, err = db.Session(c); err != nil {
			t.Fatalf("read %d, %s after login: %v", i, time.Duration(i+1)*15*time.Second, err)
		}
	}
	now = now.Add(61 * time.Second)
	if _, _, err := db.Session(c); lot.ErrorCode(err) != lot.ESESSION {
		t.Fatalf("61 s without a read: %v", err)
	}
}

// TestSessionMarshalAsEncodingJSON: a session is written as encoding/json
// writes it, byte for byte — strings it escapes, every time zone and
// fraction, with and without the optional members — so canonReader reads
// what putSession wrote and a file written before reads the same.
func TestSessionMarshalAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 123, time.FixedZone("", -5*3600-1800))
	recs := []sessionRecord{
		{},
		{TouchKey: []byte{}},
		{V: 1, UserID: uuid.New(), User: "nina", Created: at.UTC(), Expires: at.Add(12 * time.Hour), LastActivity: at.Add(time.Nanosecond), TouchKey: make([]byte, 32)},
		{V: 2, User: "liu", Created: at, Expires: at.Add(time.Hour), LastActivity: at, ActiveSince: at.Add(time.Minute).UTC(), TouchKey: []byte{7}},
		{V: -7, User: "Zoë <a> & \"b\" \\ \t \u2028 \xff", Created: at.Truncate(time.Second), Revoked: true, TouchKey: []byte{0, 1, 2, 250, 251}},
	}
	for i := range 50 {
		key := make([]byte, i)
		for j := range key {
			key[j] = byte(i * j)
		}
		recs = append(recs, sessionRecord{V: i, UserID: uuid.New(), User: string(rune(i * 37)), LastActivity: at.Add(time.Duration(i) * 1234567 * time.Microsecond), Revoked: i%3 == 0, TouchKey: key})
	}
	for _, r := range recs {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.marshal()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("session %+v:\nencoding/json %s\nmarshal       %s (%v)", r, want, got, err)
		}
	}
	bad := sessionRecord{Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, werr := json.Marshal(bad); werr == nil {
		t.Fatal("encoding/json wrote a year past 9999")
	}
	if _, err := bad.marshal(); err == nil {
		t.Error("marshal wrote a year past 9999; encoding/json refuses it")
	}
}
