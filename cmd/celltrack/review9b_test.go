package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// technician at a browser, who has no command line (and while the server
// holds the file, no command could open it anyway).
var review9CLISyntax = regexp.MustCompile("`celltrack [^`]*`|\\s--[a-z][a-z-]+")

// Review 9: registering a patient whose MRN is already registered, on the
// /register page, tells the nurse to run `celltrack patient show MRN`; a
// donor already registered tells the lab to run `celltrack donor show`.
// The pages show messages "in the words of their forms" (README "The
// pages"); a nurse has no command line, and while the server runs no
// command can open the file. The refusal should say what to do on the
// web (check the MRN; the patient's trace or bedside page shows who holds it).
func TestReview9RegisterDuplicateShowsNoCommandLine(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	nurse := f.client()
	f.login(nurse, "nina")
	before := f.auditCount()
	st, body := f.postPage(nurse, "/register/patient", url.Values{"mrn": {"MRN-1001"}, "name": {"Someone Else"}, "born": {"1980-01-01"}, "sex": {"F"}})
	msg := review9Refusal(body)
	if st != http.StatusConflict || !strings.Contains(msg, "MRN-1001") {
		t.Fatalf("duplicate MRN: %d, refusal %q", st, msg)
	}
	if cli := review9CLISyntax.FindString(msg); cli != "" {
		t.Errorf("the nurse's registration page shows command-line syntax %q: %s", cli, msg)
	}
	lab := f.client()
	f.login(lab, "liu")
	st, body = f.postPage(lab, "/register/donor", url.Values{"code": {"D-0001"}, "delivered": {"2026-11-01"}, "site": {"Maternity"}, "consented": {"2026-10-01"}})
	msg = review9Refusal(body)
	if st != http.StatusConflict || !strings.Contains(msg, "D-0001") {
		t.Fatalf("duplicate donor: %d, refusal %q", st, msg)
	}
	if cli := review9CLISyntax.FindString(msg); cli != "" {
		t.Errorf("the lab's registration page shows command-line syntax %q: %s", cli, msg)
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the refusals wrote %d audit entries", after-before)
	}
}

// Review 9: five wrong passwords at the web login lock the account, and
// the login page then tells the locked-out nurse to have "an admin run
// `celltrack user unlock omar`". While `celltrack serve` holds the file that
// command, typed as is, exits 11 (busy; it works only through
// CELLTRACK_SERVER) — the accounts page's Unlock is the web's way, which is
// why the page exists (README "/accounts"). The page should point to the
// admin's accounts page, not to a command line. (Since text11 only the
// right password was told of the lock; since review 20 A not even that —
// the seventh login here, omar's own right password, gets the one answer,
// which says the account may be locked and what to do.)
func TestReview9WebLockoutPointsToAccountsPage(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	c := f.client()
	var msgs []string
	for i := 0; i < 7; i++ {
		pw := "wrong-password-zz"
		if i == 6 {
			pw = fixturePassword
		}
		st, body := f.post(c, "/login", url.Values{"user": {"omar"}, "password": {pw}})
		if st != http.StatusUnauthorized {
			t.Fatalf("login %d: %d", i+1, st)
		}
		msgs = append(msgs, review9Refusal(body))
	}
	for i, msg := range msgs {
		if cli := review9CLISyntax.FindString(msg); cli != "" {
			t.Errorf("login page after wrong password %d shows command-line syntax %q: %s", i+1, cli, msg)
		}
	}
	if !strings.Contains(msgs[6], "or the account is locked") || !strings.Contains(msgs[6], "ask an admin to unlock it") || msgs[6] != msgs[5] {
		t.Errorf("the right password while locked does not get the one answer, saying the account may be locked and what to do:\n right: %s\n wrong: %s", msgs[6], msgs[5])
	}
}

// Review 9: the bedside page, after a wristband or a bag that is not
// found, tells the nurse to run `celltrack patient list` or `celltrack
// container list LOT`. Session 8 took the command lines out of the failed
// checks' fixes for the bedside page (dose.Result.Command) but not out of
// these refusals, which the page shows above the scan form; the container,
// lot and trace pages show the same. A nurse at the bedside has a scanner,
// not a shell; the page should say what to do there (scan the wristband
// again, check the bag's label).
func TestReview9BedsideMisScanShowsNoCommandLine(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	before := f.auditCount()
	for _, tc := range []struct {
		what string
		form url.Values
		want string
	}{
		{"a wristband not found", url.Values{"mrn": {"MRN-X"}}, "MRN-X"},
		{"a bag not found", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000199"}}, "G12342600000199"},
	} {
		st, body := f.post(c, "/bedside/check", tc.form)
		msg := review9Refusal(body)
		if st != http.StatusNotFound || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d, refusal %q", tc.what, st, msg)
			continue
		}
		if cli := review9CLISyntax.FindString(msg); cli != "" {
			t.Errorf("the bedside page, after %s, shows command-line syntax %q: %s", tc.what, cli, msg)
		}
	}
	for _, path := range []string{"/containers/G12342600000199", "/lots/LOT-NOPE", "/trace?kind=patient&ref=MRN-NOPE"} {
		st, body := f.get(c, path)
		msg := review9Refusal(body)
		if st != http.StatusNotFound {
			t.Errorf("GET %s: %d, refusal %q", path, st, msg)
			continue
		}
		if cli := review9CLISyntax.FindString(msg); cli != "" {
			t.Errorf("GET %s shows command-line syntax %q: %s", path, cli, msg)
		}
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the refusals wrote %d audit entries", after-before)
	}
}

// Review 9: the lots page lists every lot. It is the lab's and QA's first
// page after every login; on the harness's 100k database (50k lots) it is
// 17 MB of HTML and took 8.8 s (13.5 s with ?status=quarantine) to answer,
// at load 14 — a tablet on the ward network will not show it. The audit
// log page caps its rows (maxAuditRows, 1,000) and says how many it left
// out; the lots page should too (or page through them), and the filters
// still find any lot. Here 1,050 lots are imported and the page must list
// at most 1,000 of them and say that it left some out.
func TestReview9LotsPageIsBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ct.db")
	now, _ := time.Parse(time.RFC3339, testNow)
	if err := runFixture(path, filepath.Join(dir, "homes"), "lab", func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("lot_number,source,donor,cells,viability,volume_ml,manufactured,expires,passage,location\n")
	for i := range 1050 {
		fmt.Fprintf(&csv, "LOT-R9-%04d,uc,D-0001,2.5e9,94.5,5050,2026-11-01,2027-09-30,4,LN2-A rack %d\n", i, i%10)
	}
	file := filepath.Join(dir, "lots.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLIOn(t, path, "--user", "liu", "lot", "import", "--csv", file)
	f := newWebFixtureAt(t, path)
	c := f.client()
	f.login(c, "liu")
	st, body := f.get(c, "/lots")
	if st != http.StatusOK {
		t.Fatalf("/lots: %d", st)
	}
	rows := strings.Count(body, `<a href="/lots/LOT-R9-`)
	if rows > 1000 {
		t.Errorf("the lots page lists %d lots (%d bytes of HTML); it should list at most 1,000 and say how many it left out", rows, len(body))
	}
}
