package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The two store-side tests of review 12 (findings B and D), copied from
// branch review12's cmd/celltrack/review12_test.go.

// review12: a one-time password signs nothing (README "A password that must
// be changed signs nothing", restore among the e-signatures) — except a
// restore over a database too damaged to open, where the password is
// checked in the backup (proveInBackup) for being right, not for being one
// the owner must change first. alice resets bob's password (she typed it;
// with otp11 every admin she adds has one she typed) and, the live file
// damaged, restores with --allow-rollback as bob with it: recorded as bob's
// database.restore. The same restore on the database that opens is refused
// (exit 3, "must be changed before bob can sign").
func TestReview12OneTimePasswordSignsRestoreOverDamagedDatabase(t *testing.T) {
	path := newCLIDB(t)
	const bobFirst, otp = "amber-fjord-cobalt-77", "pewter-lagoon-osprey-64"
	if code, _, stderr := runCLIStdin(path, bobFirst+"\n", "--user", "alice", "user", "add", "--role", "admin", "--full-name", "Bob Kerr", "--password-stdin", "bob"); code != 0 {
		t.Fatalf("user add bob: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLIStdin(path, otp+"\n", "--user", "alice", "user", "reset", "--reason", "forgot it", "--password-stdin", "bob"); code != 0 {
		t.Fatalf("user reset bob: exit %d: %s", code, stderr)
	}
	backup := filepath.Join(filepath.Dir(path), "b.db")
	if code, _, stderr := runCLI(path, "--user", "alice", "backup", "--out", backup); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	restore := []string{"--user", "bob", "restore", "--from", backup, "--facility", "G1234", "--allow-rollback", "--reason", "disk damaged", "--password-stdin"}
	// The database opens: bob's one-time password does not sign.
	if code, _, stderr := runCLIStdin(path, otp+"\n", restore...); code != exitRefused || !strings.Contains(stderr, "must be changed before bob can sign") {
		t.Fatalf("restore with a one-time password on a database that opens: exit %d: %s", code, stderr)
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	damaged, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLIStdin(path, otp+"\n", restore...)
	now, _ := os.ReadFile(path)
	if code != exitRefused || !strings.Contains(stderr, "must be changed") || !bytes.Equal(now, damaged) {
		t.Errorf("restore over a damaged database signed with bob's one-time password (typed by alice): exit %d\n%s%s\nwant exit 3 naming the password that must be changed first, the damaged file untouched", code, stdout, stderr)
	}
}

// review12: guard10 made the password page's resend count nothing, but the
// change a one-time password demands (/password/expired, which otp11 makes
// every new user's first page) is not guarded: sent again (a double click
// whose second send comes after the first's change, the Back button and
// resend) it carries the one-time password, now wrong: it is counted
// towards the lockout and recorded as a wrong password, and the browser
// shows "wrong password" to someone whose change succeeded. Three such
// sends after a right change lock a new user out before their first
// working day. Expected: refused before any password is checked (409, "the
// password of nina was changed at … — log in with the new one"), nothing

// review12: zone11 counts a lot's expiry at the facility, at the site a bag
// is dispensed at and at the course's site — but the bedside check knows
// only the course's. A bag shipped to CLINIC-A (Nanjing) and dispensed there
// at 23:50 local on 9 November to a patient whose course names no site (the
// facility's zone, UTC) is GO at 00:30 on 10 November in Nanjing, the lot's
// expiry date, while the same lot's next bag at the same clinic at the same
// minute is refused at dispense "expired … where it is used
// (Asia/Shanghai)": two answers at one place about one lot, and the GO one
// is at the bedside.
func TestReview12DispensedBagGOAtClinicWhereLotExpired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	homes := filepath.Join(filepath.Dir(path), "homes")
	evening := time.Date(2027, 11, 9, 15, 50, 0, 0, time.UTC) // 23:50 in Nanjing
	night := time.Date(2027, 11, 9, 16, 30, 0, 0, time.UTC)   // 00:30 on the 10th in Nanjing
	const bag, next = "G12342700000101", "G12342700000102"
	for _, fx := range []string{"lab", "release"} {
		if err := runFixture(path, homes, fx, func() time.Time { return evening }); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"--user", "liu", "site", "add", "--name", "Cell therapy lab", "LAB"},
		{"--user", "liu", "site", "add", "--name", "Nanjing day unit", "--tz", "Asia/Shanghai", "CLINIC-A"},
		{"--user", "liu", "container", "store", "--location", "LN2-A rack 3 pos 1", bag},
		{"--user", "liu", "container", "store", "--location", "LN2-A rack 3 pos 2", next},
		{"--user", "quinn", "release", "approve", "--spec", "isct-uc-msc", "--password-stdin", "LOT-UC-1"},
		{"--user", "pat", "schedule", "create", "--protocol", "sle-uc-single", "--start", "2027-11-09", "MRN-1001"},
		{"--user", "nina", "patient", "weigh", "--kg", "62.0", "--at", "2027-11-09T14:00Z", "MRN-1001"},
		{"--user", "liu", "container", "ship", "--to", "CLINIC-A", "--courier", "BioCour 7", "--condition", "dry shipper", bag},
		{"--user", "liu", "container", "ship", "--to", "CLINIC-A", "--courier", "BioCour 7", "--condition", "dry shipper", next},
		{"--user", "nina", "container", "receive", "--at", "CLINIC-A", "--condition", "logger OK", "--excursion", "no", bag},
		{"--user", "nina", "container", "receive", "--at", "CLINIC-A", "--condition", "logger OK", "--excursion", "no", next},
		{"--user", "nina", "container", "thaw", "--viability", "91.0", "--viable-cells", "9.1e7", bag},
		{"--user", "nina", "container", "dispense", "--patient", "MRN-1001", bag},
		{"--user", "nina", "container", "thaw", "--viability", "91.0", "--viable-cells", "9.1e7", next},
	} {
		if code, out := review11Run(t, path, evening, args...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	if code, out := review11Run(t, path, night, "login", "--password-stdin", "nina"); code != 0 {
		t.Fatalf("login nina: exit %d\n%s", code, out)
	}
	dcode, dout := review11Run(t, path, night, "--user", "nina", "container", "dispense", "--patient", "MRN-1001", next)
	ccode, cout := review11Run(t, path, night, "--user", "nina", "dose", "check", "--container", bag, "MRN-1001")
	if dcode != 0 && ccode == 0 {
		t.Errorf("at 00:30 on 2027-11-10 in Nanjing, LOT-UC-1 (expires 2027-11-10) at CLINIC-A: dispense of %s exit %d\n%s\nbut the bedside check of %s, dispensed there the evening before, is GO (exit 0)\n%s", next, dcode, dout, bag, cout)
	}
	if ccode == 0 {
		t.Errorf("the bedside check at CLINIC-A on the lot's expiry date there is GO:\n%s", cout)
	}
}
