package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// Review 11: the service API's administer (POST /api/v1/svc/infusions, the
// call `dose administer` makes through CELLTRACK_SERVER) checks the nurse's
// password before it looks at the witness. The bedside page, the JSON API
// (/api/v1/dose/administer) and the local command line refuse the wrong
// people first — a witness who is the nurse herself, or no user at all —
// "before any password is checked" (README "Sessions, lockout and
// accounts"; web/bedside.go administer; cmd dose administer). Through the
// service API a nurse who names herself (or a mistyped witness) and
// mistypes her own password gets 401 "wrong password", one audit entry
// and one count towards her lockout, for an infusion that was never going
// to be recorded. A refusal for a rule must write nothing.
func TestReview11SvcAdministerChecksSignersBeforePasswords(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	nina := f.client()
	f.login(nina, "nina")
	for _, tc := range []struct {
		witness string
		want    int
	}{
		// The nurse herself. An unknown witness is no longer refused
		// before the passwords: it gets the answer of a wrong witness
		// password, after them (review 14 E, TestReview14EWitness*).
		{"nina", http.StatusForbidden},
	} {
		body := map[string]any{
			"Administration":  map[string]any{"MRN": "MRN-1001", "Containers": []string{"G12342600000101"}},
			"NursePassword":   "not-ninas-password-1",
			"Witness":         tc.witness,
			"WitnessPassword": fixturePassword,
		}
		// The same request through the JSON API, for comparison.
		before := f.auditCount()
		st, m := f.postJSON(nina, "/api/v1/dose/administer", map[string]any{
			"mrn": "MRN-1001", "containers": []string{"G12342600000101"},
			"password": "not-ninas-password-1", "witness": tc.witness, "witness_password": fixturePassword,
		})
		t.Logf("/api/v1/dose/administer witness %s, nurse's password wrong: %d, audit +%d, %v", tc.witness, st, f.auditCount()-before, m["error"])

		before = f.auditCount()
		st, m = f.postJSON(nina, "/api/v1/svc/infusions", body)
		after := f.auditCount()
		t.Logf("/api/v1/svc/infusions witness %s, nurse's password wrong: %d, audit +%d, %v", tc.witness, st, after-before, m["error"])
		if st != tc.want {
			t.Errorf("svc/infusions with witness %q: %d, want %d (the witness refused before any password, as /api/v1/dose/administer and the command line do)", tc.witness, st, tc.want)
		}
		if after != before {
			t.Errorf("svc/infusions with witness %q wrote %d audit entries (a wrong password counted against nina for an administration refused by rule)", tc.witness, after-before)
		}
	}
}

// review11Run runs one celltrack command on the database at path at the
// given clock, as runCLIOn does at the stories' clock; it returns the exit
// code and the output.
func review11Run(t *testing.T, path string, now time.Time, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	argv := append([]string{"celltrack", "--db", path}, args...)
	code := runEnv(argv, strings.NewReader(strings.Repeat(fixturePassword+"\n", 2)), &stdout, &stderr,
		func() time.Time { return now }, personEnv(filepath.Join(filepath.Dir(path), "homes"), args))
	return code, stdout.String() + stderr.String()
}

// Review 11: a lot's expiry is a calendar date, and README "Days at the
// site" makes the lot expired from 00:00 of that date at the *facility*,
// because "before, a lot was usable for eight hours into its expiry date at
// a site east of UTC". The same hole remains at a treating site east of the
// facility's zone: a facility left at UTC (init's default) with a clinic in
// Nanjing (site --tz Asia/Shanghai, where the course's days are counted).
// At 04:00 on 10 November in Nanjing, LOT-UC-1, whose label reads
// "expires 2027-11-10", is dispensed, checked GO and could be infused: its
// expiry date has begun where the patient is treated, and the bedside
// check at that site counts "today" (the course's day) as 10 November.
// The bag should be NO-GO from 00:00 of its expiry date at the site that
// gives it (or at the earlier of the site's and the facility's midnight).
func TestReview11LotExpiredAtTheTreatingSiteIsGO(t *testing.T) {
	path, now := review11Bag(t, []string{"--tz", "Asia/Shanghai"}, []string{"--start", "2027-11-10", "--site", "CLINIC-A"})
	const bag = review11BagCode
	before := auditCount(t, path)
	code, out := review11Run(t, path, now, "--user", "nina", "container", "dispense", "--patient", "MRN-1001", bag)
	t.Logf("dispense at 2027-11-10 04:00 in Nanjing: exit %d\n%s", code, out)
	if code != 3 || !strings.Contains(out, "lot LOT-UC-1 expired at 2027-11-10 00:00 +08:00, when its expiry date begins where it is used (Asia/Shanghai)") {
		t.Errorf("dispense at CLINIC-A on its expiry date there: exit %d, want 3 naming the site's midnight", code)
	}
	if after := auditCount(t, path); after != before {
		t.Errorf("the refused dispense wrote %d audit entries", after-before)
	}
	code, out = review11Run(t, path, now, "--user", "nina", "dose", "check", "--container", bag, "MRN-1001")
	t.Logf("dose check at 2027-11-10 04:00 in Nanjing: exit %d\n%s", code, out)
	if code == 0 {
		t.Errorf("the bedside check at CLINIC-A (Asia/Shanghai) on 2027-11-10, local, is GO for LOT-UC-1, which expires 2027-11-10 (exit 0)")
	}
}

// Review 11: a lot's expiry instant is 00:00 of its expiry date in the
// facility's zone, but the zone comes from a process-wide setting
// (lot.DisplayZone) that the front end sets once, when it opens the
// database. `celltrack serve` reads it at start; an admin who then sets
// the facility's zone through that server (POST /api/v1/svc/facility/zone,
// or `site set-tz --facility` with CELLTRACK_SERVER) changes the record,
// the courses' days — but not when the server's lots expire. init leaves
// the facility at UTC, so this is the first fix a site in Nanjing makes:
// until the server is restarted its bedside check says GO for a lot whose
// expiry date began hours ago there, while any command, or another server
// on the same PostgreSQL database, started since says it is expired.
func TestReview11FacilityZoneSetThroughServerLeavesExpiryAtOldZone(t *testing.T) {
	// 2027-11-09 20:00 UTC is 2027-11-10 04:00 in Nanjing: LOT-UC-1
	// (expires 2027-11-10) is expired there since 16:00 UTC.
	path, now := review11Bag(t, nil, []string{"--start", "2027-11-09"},
		[]string{"--user", "nina", "container", "dispense", "--patient", "MRN-1001", review11BagCode})
	const bag = review11BagCode
	// The server starts as `serve` does: the facility's zone (UTC) set
	// once from the database it opened.
	lot.SetDisplayZone(time.UTC)
	t.Cleanup(func() { lot.SetDisplayZone(nil) })
	f, stop := serveAt(t, path, now.Format(time.RFC3339))

	alice := f.client()
	f.login(alice, "alice")
	st, m := f.postJSON(alice, "/api/v1/svc/facility/zone", map[string]any{"Zone": "Asia/Shanghai", "Reason": "the facility is in Nanjing"})
	if st != http.StatusOK {
		t.Fatalf("facility zone: %d %v", st, m)
	}
	if z := lot.ZoneName(lot.DisplayZone()); z != "Asia/Shanghai" {
		t.Errorf("after the change through the server its pages show times in %s", z)
	}
	nina := f.client()
	f.login(nina, "nina")
	st, m = f.postJSON(nina, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{bag}})
	var expiry any
	if rep, ok := m["report"].(map[string]any); ok {
		expiry = rep["checks"]
	}
	t.Logf("bedside check through the server after the facility zone was set to Asia/Shanghai: %d %v\n%v", st, m["error"], expiry)
	_, lotBody := f.get(nina, "/lots/LOT-UC-1")
	t.Logf("lot page: expired shown: %v", strings.Contains(lotBody, "EXPIRED"))
	if st == http.StatusOK {
		t.Errorf("the server's bedside check is GO for LOT-UC-1 at 2027-11-10 04:00 +08:00, its expiry date at the facility (Asia/Shanghai since the change): it still counts expiry at UTC midnight")
	}
	// The same check at the command line once the server has stopped.
	stop()
	code, out := review11Run(t, path, now, "--user", "nina", "dose", "check", "--container", bag, "MRN-1001")
	t.Logf("the same check at the command line: exit %d\n%s", code, out)
	if code != 4 {
		t.Errorf("dose check at the command line after the zone change: exit %d, want 4 (NO-GO, expired)", code)
	}
}

// review11BagCode is the bag review11Bag takes to CLINIC-A: DINs carry the
// year, 27.
const review11BagCode = "G12342700000101"

// review11Bag builds the lab and release fixtures at 2027-11-09 20:00 UTC
// (2027-11-10 04:00 in Nanjing), with the facility at UTC: the home site
// LAB, CLINIC-A (added with the flags clinic), LOT-UC-1 (expires
// 2027-11-10) released, MRN-1001 on a sle-uc-single course (created with
// the flags schedule) and weighed, and bag review11BagCode stored, shipped
// to CLINIC-A, received and thawed there; then the commands more. It
// returns the database's path and the clock.
func review11Bag(t *testing.T, clinic, schedule []string, more ...[]string) (string, time.Time) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ct.db")
	homes := filepath.Join(filepath.Dir(path), "homes")
	now := time.Date(2027, 11, 9, 20, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, f := range []string{"lab", "release"} {
		if err := runFixture(path, homes, f, clock); err != nil {
			t.Fatal(err)
		}
	}
	bag := review11BagCode
	cmds := [][]string{
		{"--user", "liu", "site", "add", "--name", "Cell therapy lab", "LAB"},
		append(append([]string{"--user", "liu", "site", "add", "--name", "Day unit"}, clinic...), "CLINIC-A"),
		{"--user", "liu", "container", "store", "--location", "LN2-A rack 3 pos 1", bag},
		{"--user", "quinn", "release", "approve", "--spec", "isct-uc-msc", "--password-stdin", "LOT-UC-1"},
		append(append([]string{"--user", "pat", "schedule", "create", "--protocol", "sle-uc-single"}, schedule...), "MRN-1001"),
		{"--user", "nina", "patient", "weigh", "--kg", "62.0", "--at", "2027-11-09T19:00Z", "MRN-1001"},
		{"--user", "liu", "container", "ship", "--to", "CLINIC-A", "--courier", "BioCour 7", "--condition", "dry shipper", bag},
		{"--user", "nina", "container", "receive", "--at", "CLINIC-A", "--condition", "logger OK", "--excursion", "no", bag},
		{"--user", "nina", "container", "thaw", "--viability", "91.0", "--viable-cells", "9.1e7", bag},
	}
	for _, args := range append(cmds, more...) {
		if code, out := review11Run(t, path, now, args...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	return path, now
}
