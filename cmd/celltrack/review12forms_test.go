package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store"
)

// Review 12's findings A, A2, A3, E and C (a page form sent again after the
// state it was shown in came round again), copied from branch review12.

// review12: a custody form carries no state, so the Back button sends an
// old "store" form again once the container has come round to the state
// the form was shown in. A container released from quarantine (store),
// quarantined again for a new investigation, is released a second time by
// the first release form sent again — a quarantined bag back in stock with
// no one deciding it. README: "A form sent again … does nothing the second
// time"; a custody move is said to be refused "by the database's own rules
// (the container has moved on)", which holds only while the states do not
// come round again.
func TestReview12CustodyFormResentAfterStateCameRoundReleasesQuarantine(t *testing.T) {
	f, lab := guard10As(t, "liu")
	const bag = "/containers/G12342600000101"
	review12Sent(t, f, lab, bag+"/quarantine", url.Values{"reason": {"sterility query"}})
	release := review12Sent(t, f, lab, bag+"/store", url.Values{"location": {"LN2-A rack 1"}})
	review12Sent(t, f, lab, bag+"/quarantine", url.Values{"reason": {"second investigation: donor retest"}})
	// The Back button to the first release's answer, and send: it released
	// the quarantined bag again.
	review12Resent(t, f, lab, bag+"/store", release, "the first release form sent again after a new quarantine")
}

// review12Sent sends the form whose action is path as its page shows it,
// with fill typed in, and fails the test unless it is recorded (200); it
// returns the form as sent, for a resend.
func review12Sent(t *testing.T, f *webFixture, c *http.Client, path string, fill url.Values) url.Values {
	t.Helper()
	form := guard10Form(t, f, c, path, fill)
	if st, body := f.post(c, path, form); st != http.StatusOK {
		t.Fatalf("%s: %d %s", path, st, review9Refusal(body))
	}
	return form
}

// review12Resent is guard10Resent with guard10's words for any resend
// refusal: 409, "does nothing the second time", the audit head unchanged.
func review12Resent(t *testing.T, f *webFixture, c *http.Client, path string, form url.Values, what string) {
	t.Helper()
	guard10Resent(t, f, c, path, form, what, "does nothing the second time")
}

// review12: the same for the accounts page. An admin enables nina's
// account (form E); it is disabled again (her badge is lost); the first
// enable form sent again (the Back button) enables the account of the lost
// badge — no admin decided it. The enable, disable and unlock forms carry
// whom they were shown to and no state, and the store refuses only
// "already enabled".
func TestReview12AccountEnableResentAfterNewDisableEnablesLostBadge(t *testing.T) {
	f, admin := guard10As(t, "alice")
	review12Sent(t, f, admin, "/accounts/nina/disable", url.Values{"reason": {"on leave"}})
	enable := review12Sent(t, f, admin, "/accounts/nina/enable", url.Values{"reason": {"back from leave"}})
	review12Sent(t, f, admin, "/accounts/nina/disable", url.Values{"reason": {"badge lost"}})
	review12Resent(t, f, admin, "/accounts/nina/enable", enable, "the first enable form sent again after the badge was lost")
	if u, err := f.db.User("nina"); err != nil || !u.Disabled {
		t.Errorf("nina after the resend: disabled %v (%v); the account of a lost badge is enabled again", u.Disabled, err)
	}
}

// review12: the change a one-time password demands (/password/expired),
// sent again after it was made (a double click, or Back and send), checked
// the one-time password as wrong: counted against nina, recorded, her new
// session ended, "wrong user name or password". It must be refused as the
// /password form's resend is, before any password is checked.
func TestReview12ExpiredPasswordChangeResentCountsAgainstNewUser(t *testing.T) {
	f, admin := guard10As(t, "alice")
	const otp, newPassword = "tulip-orbit-canyon-31", "harbor-lantern-moss-82"
	reset := guard10Form(t, f, admin, "/accounts/nina/reset", url.Values{"password": {otp}, "repeat": {otp}, "reason": {"forgot it"}})
	if st, body := f.post(admin, "/accounts/nina/reset", reset); st != http.StatusOK {
		t.Fatalf("reset: %d %s", st, review9Refusal(body))
	}
	nina := f.client()
	if st, body := f.post(nina, "/login", url.Values{"user": {"nina"}, "password": {otp}}); st != http.StatusForbidden || !strings.Contains(body, `action="/password/expired"`) {
		t.Fatalf("login with the one-time password: %d\n%.400s", st, body)
	}
	change := url.Values{"user": {"nina"}, "password": {otp}, "new_password": {newPassword}, "repeat": {newPassword}}
	if st, body := f.post(nina, "/password/expired", change); st != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Fatalf("the change: %d\n%.400s", st, body)
	}
	before, n := f.auditHead(), f.auditCount()
	st, body := f.post(nina, "/password/expired", change) // the second send
	u, err := f.db.User("nina")
	if err != nil {
		t.Fatal(err)
	}
	if st != http.StatusConflict || u.Failures != 0 || f.auditHead() != before {
		t.Errorf("the change sent again after it was made: %d (%q); nina's wrong passwords now %d, %d audit entries written; want 409, nothing counted or written",
			st, strings.TrimSpace(review9Refusal(body)), u.Failures, f.auditCount()-n)
	}
	if _, page := f.get(nina, "/bedside"); !strings.Contains(page, "Log out") {
		t.Errorf("the second send also ended the session the change opened: nina is logged out")
	}
}

// review12: guard10 says the QC result form "needs none (one valid result
// per assay refuses a resend)". Once the result is voided — it was wrong —
// there is no valid result for the assay, and the first form sent again
// (the Back button) records the voided value again, as a valid result QA
// may release on.
func TestReview12VoidedResultRecordedAgainByResentForm(t *testing.T) {
	f, lab := guard10As(t, "liu")
	const path = "/lots/LOT-UC-1/results"
	form := guard10Form(t, f, lab, path, url.Values{"assay": {"cd14"}, "value": {"0.8"}, "method": {"flow cytometry"}})
	st, body := f.post(lab, path, form)
	m := regexp.MustCompile(`Recorded result #(\d+)`).FindStringSubmatch(body)
	if st != http.StatusOK || m == nil {
		t.Fatalf("record: %d\n%.500s", st, body)
	}
	seq, _ := strconv.Atoi(m[1])
	if _, _, err := store.NewReleaseService(f.db).VoidResult("liu", "LOT-UC-1", seq, "sample mix-up: the value was another lot's"); err != nil {
		t.Fatal(err)
	}
	review12Resent(t, f, lab, path, form, "the result form sent again after result #"+m[1]+" was voided (it records the voided value again)")
}

// review12: the approve form carries whom it was shown to and nothing of
// what QA reviewed. QA signs the release of LOT-UC-1 from its page; the lab
// then corrects its CD105 result (the lot goes back to quarantine, and the
// page would show QA the correction in "Results voided or corrected"); the
// first approve form sent again (the Back button and "resend", which sends
// the password it held) signs a second release — an e-signature meaning
// "approved for release" over results QA never saw. README: approve is
// "refused by the database's own rules (the lot is decided)" — not once
// the lot is back in quarantine.
func TestReview12ApproveResentAfterCorrectionReleasesUnreviewed(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	qa := f.client()
	f.login(qa, "quinn")
	const path = "/lots/LOT-UC-1/approve"
	form := guard10Form(t, f, qa, path, url.Values{"password": {fixturePassword}})
	if st, body := f.post(qa, path, form); st != http.StatusOK || f.lotStatus("LOT-UC-1") != "released" {
		t.Fatalf("approve: %d, status %s\n%.500s", st, f.lotStatus("LOT-UC-1"), review9Refusal(body))
	}
	rs := store.NewReleaseService(f.db)
	results, err := rs.Results("LOT-UC-1")
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	for _, r := range results {
		if strings.EqualFold(string(r.Assay), "CD105") && !r.Voided() {
			seq = r.Seq
		}
	}
	if seq == 0 {
		t.Fatalf("no valid CD105 result in %+v", results)
	}
	if _, _, err := rs.RecordResult("liu", "LOT-UC-1", release.Entry{Assay: "CD105", Value: "95.5", Method: "flow cytometry"}, seq, "transcription error"); err != nil {
		t.Fatal(err)
	}
	if s := f.lotStatus("LOT-UC-1"); s != "quarantine" {
		t.Fatalf("after the correction the lot is %s, want quarantine", s)
	}
	review12Resent(t, f, qa, path, form, "the approve form sent again after a correction returned the lot to quarantine (a release signed over results QA has not seen)")
	if s := f.lotStatus("LOT-UC-1"); s != "quarantine" {
		t.Errorf("after the resend LOT-UC-1 is %s, want quarantine", s)
	}
}

// review12: the unlock form likewise. nina is locked by five wrong
// passwords; alice unlocks her (form U); five more wrong passwords lock
// her again (someone is guessing); alice's Back and resend of U lifts the
// new lockout — no admin looked at it (21 CFR 11.300(d)).
func TestReview12UnlockResentLiftsNewLockout(t *testing.T) {
	f, admin := guard10As(t, "alice")
	lock := func() {
		for range 5 {
			f.post(f.client(), "/login", url.Values{"user": {"nina"}, "password": {"not-her-password-0"}})
		}
		if u, err := f.db.User("nina"); err != nil || u.LockedUntil.IsZero() {
			t.Fatalf("nina after five wrong passwords: locked until %v, %v", u.LockedUntil, err)
		}
	}
	lock()
	unlock := review12Sent(t, f, admin, "/accounts/nina/unlock", url.Values{"reason": {"she forgot, verified by phone"}})
	lock()
	review12Resent(t, f, admin, "/accounts/nina/unlock", unlock, "the first unlock form sent again after a new lockout")
	if u, err := f.db.User("nina"); err != nil || u.LockedUntil.IsZero() {
		t.Errorf("nina after the resend: locked until %v (%v); the new lockout was lifted", u.LockedUntil, err)
	}
}
