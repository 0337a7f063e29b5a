package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// guard10Fixture is the lab, release and custody fixtures with a second
// user of the roles whose forms record without a password: two lab users,
// two admins.
func guard10Fixture(t *testing.T) *webFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ct.db")
	for _, fx := range []string{"lab", "release", "custody"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), fx, testClockAt()); err != nil {
			t.Fatal(err)
		}
	}
	runCLIOn(t, path, "--user", "alice", "user", "add", "--role", "lab", "--full-name", "Lee Moreau", "--password-stdin", "lee")
	runCLIOn(t, path, "--user", "alice", "user", "add", "--role", "admin", "--full-name", "Ada Brandt", "--password-stdin", "ada")
	return newWebFixtureAt(t, path)
}

// guard10As is guard10Fixture with a browser logged in as user.
func guard10As(t *testing.T, user string) (*webFixture, *http.Client) {
	t.Helper()
	f := guard10Fixture(t)
	c := f.client()
	f.login(c, user)
	return f, c
}

// guard10Form is the form whose action is path as the browser holds it:
// the page's hidden inputs with fill typed in.
func guard10Form(t *testing.T, f *webFixture, c *http.Client, path string, fill url.Values) url.Values {
	t.Helper()
	v := f.formFields(c, path)
	if len(v) == 0 {
		t.Fatalf("no form for %s on its page", path)
	}
	for k, x := range fill {
		v[k] = x
	}
	return v
}

// guard10: a form that records without a password — the QC result, a
// label print, a split, a custody move, a registration, an account action
// — shown to one user and sent after another logged in in another tab of
// the same browser recorded as the other. Each is refused (409) naming
// both, nothing written; a form made by hand that names nobody is refused
// too (400).
func TestGuard10EveryFormSaysWhomItWasShownTo(t *testing.T) {
	f := guard10Fixture(t)
	cases := []struct {
		shown, then string // logged in when the page was shown, and when sent
		path        string
		fill        url.Values
	}{
		{"liu", "lee", "/lots/LOT-UC-1/results", url.Values{"assay": {"CD105"}, "value": {"98"}}},
		{"liu", "lee", "/lots/LOT-UC-1/labels", nil},
		{"liu", "lee", "/lots/LOT-UC-1/split", url.Values{"containers": {"1"}, "cells_each": {"1e8"}}},
		{"liu", "lee", "/containers/G12342600000101/ship", url.Values{"site": {"CLINIC-A"}, "courier": {"BioCour"}, "condition": {"dry shipper"}}},
		{"liu", "lee", "/containers/G12342600000101/label-print", nil},
		{"liu", "lee", "/register/lot", url.Values{"number": {"LOT-G10"}, "source": {"uc"}, "donor": {"D-0001"}, "cells": {"1e9"}, "viability": {"95"},
			"volume_ml": {"10"}, "manufactured": {"2026-11-20"}, "expires": {"2027-11-20"}}},
		{"liu", "lee", "/register/donor", url.Values{"code": {"D-0777"}, "delivered": {"2026-11-01"}, "site": {"Maternity"}, "consented": {"2026-10-01"}}},
		{"nina", "pat", "/register/patient", url.Values{"mrn": {"MRN-7001"}, "name": {"Ann Lee"}, "born": {"1970-01-01"}, "sex": {"F"}}},
		{"alice", "ada", "/accounts/nina/disable", url.Values{"reason": {"badge lost"}}},
		{"alice", "ada", "/accounts/nina/reset", url.Values{"password": {"tulip-orbit-canyon-31"}, "repeat": {"tulip-orbit-canyon-31"}, "reason": {"forgot it"}}},
	}
	for _, tc := range cases {
		browser := f.client()
		f.login(browser, tc.shown)
		form := guard10Form(t, f, browser, tc.path, tc.fill)
		if form.Get("signer") != tc.shown {
			t.Errorf("%s: the form names %q, want %s", tc.path, form.Get("signer"), tc.shown)
		}
		f.login(browser, tc.then) // another tab, the same browser
		before := f.auditHead()
		st, body := f.post(browser, tc.path, form)
		want := "this form was for " + tc.shown + "; " + tc.then + " is logged in now"
		if msg := review9Refusal(body); st != http.StatusConflict || !strings.Contains(msg, want) || !strings.Contains(msg, "reload the page") {
			t.Errorf("%s: %s's form sent under %s: %d, refusal %q; want 409 with %q", tc.path, tc.shown, tc.then, st, msg, want)
		}
		form.Del("signer")
		st, body = f.post(browser, tc.path, form)
		if msg := review9Refusal(body); st != http.StatusBadRequest || !strings.Contains(msg, "does not say whom it was shown to") {
			t.Errorf("%s: a form naming nobody: %d, refusal %q; want 400", tc.path, st, msg)
		}
		if after := f.auditHead(); after != before {
			t.Errorf("%s: the refused forms wrote to the audit trail (%s → %s)", tc.path, before, after)
		}
	}
	// The import form is a file upload: the same, from its first part.
	browser := f.client()
	f.login(browser, "liu")
	fields := f.formFields(browser, "/register/import")
	f.login(browser, "lee")
	before := f.auditHead()
	st, body := guard10Upload(f, browser, fields, "lot_number,source,donor,cells,viability,volume_ml,manufactured,expires\nLOT-G11,uc,D-0001,1e9,95,10,2026-11-20,2027-11-20\n")
	if msg := review9Refusal(body); st != http.StatusConflict || !strings.Contains(msg, "this form was for liu; lee is logged in now") {
		t.Errorf("the import form sent under lee: %d, refusal %q; want 409", st, msg)
	}
	if after := f.auditHead(); after != before {
		t.Errorf("the refused import wrote to the audit trail (%s → %s)", before, after)
	}
}

// guard10Upload sends the import form with its fields before the file, as
// a browser sends the page's form.
func guard10Upload(f *webFixture, c *http.Client, fields url.Values, csv string) (int, string) {
	f.t.Helper()
	// upload reads the fields from the page; send these instead.
	var b strings.Builder
	const boundary = "guard10boundary"
	for k, vs := range fields {
		for _, v := range vs {
			b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + k + "\"\r\n\r\n" + v + "\r\n")
		}
	}
	b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"lots.csv\"\r\nContent-Type: text/csv\r\n\r\n" + csv + "\r\n--" + boundary + "--\r\n")
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/register/import", strings.NewReader(b.String()))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	req.Header.Set("Origin", f.srv.URL)
	return f.do(c, req)
}

// guard10Resent sends form to path once more, as a second click, a refresh
// or the Back button sends it: refused (409) with wants, nothing written.
func guard10Resent(t *testing.T, f *webFixture, c *http.Client, path string, form url.Values, what string, wants ...string) {
	t.Helper()
	before := f.auditHead()
	st, body := f.post(c, path, form)
	msg := review9Refusal(body)
	for _, w := range wants {
		if st != http.StatusConflict || !strings.Contains(msg, w) {
			t.Errorf("%s: %d, refusal %q; want 409 with %q", what, st, msg, w)
		}
	}
	if after := f.auditHead(); after != before {
		t.Errorf("%s wrote to the audit trail (%s → %s)", what, before, after)
	}
}

// guard10: a label print sent again — a second click, a refresh, the Back
// button — printed and counted every label again. The second send is
// refused (409), nothing counted; a reprint from the page as it is now (it
// shows the labels printed) prints. The same for one container's label.
func TestGuard10LabelsResentPrintOnce(t *testing.T) {
	f, lab := guard10As(t, "liu")
	for _, tc := range []struct {
		path   string
		labels int
	}{
		{"/lots/LOT-UC-1/labels", 4},
		{"/containers/G12342600000101/label-print", 1},
	} {
		form := guard10Form(t, f, lab, tc.path, nil)
		n := f.auditCount()
		if st, body := f.post(lab, tc.path, form); st != http.StatusOK || !strings.HasPrefix(body, "%PDF-") {
			t.Fatalf("%s: %d\n%.300s", tc.path, st, body)
		}
		if got := f.auditCount() - n; got != tc.labels {
			t.Errorf("%s: %d entries, want %d", tc.path, got, tc.labels)
		}
		guard10Resent(t, f, lab, tc.path, form, tc.path+" sent again", "changed after this form was shown (the last change recorded: label.print by liu", "reprint")
		// A reprint: the page as it is now.
		n = f.auditCount()
		if st, body := f.post(lab, tc.path, guard10Form(t, f, lab, tc.path, nil)); st != http.StatusOK || !strings.HasPrefix(body, "%PDF-") || f.auditCount()-n != tc.labels {
			t.Errorf("%s reprinted from the page: %d, %d entries\n%.300s", tc.path, st, f.auditCount()-n, body)
		}
	}
}

// guard10: the two sends of a double click, handled at once, print once.
func TestGuard10LabelsDoubleClickPrintsOnce(t *testing.T) {
	f, lab := guard10As(t, "liu")
	const path = "/lots/LOT-UC-1/labels"
	form := guard10Form(t, f, lab, path, nil)
	n := f.auditCount()
	var wg sync.WaitGroup
	status := make([]int, 2)
	for i := range status {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status[i], _ = f.post(lab, path, form)
		}()
	}
	wg.Wait()
	if status[0]+status[1] != http.StatusOK+http.StatusConflict {
		t.Errorf("a double click: %v, want one 200 and one 409", status)
	}
	if got := f.auditCount() - n; got != 4 {
		t.Errorf("a double click counted %d labels, want 4", got)
	}
}

// guard10: a QC result form sent again is refused, nothing written. Since
// review 12 it is refused by the lot's state it carries (the result it
// recorded is named), not by the store's one valid result per assay, which
// a void of that result would have lifted
// (TestReview12VoidedResultRecordedAgainByResentForm).
func TestGuard10ResultResentRecordsOnce(t *testing.T) {
	f, lab := guard10As(t, "liu")
	const path = "/lots/LOT-UC-1/results"
	form := guard10Form(t, f, lab, path, url.Values{"assay": {"cd14"}, "value": {"0.8"}, "method": {"flow cytometry"}})
	n := f.auditCount()
	st, body := f.post(lab, path, form)
	if st != http.StatusOK || !strings.Contains(body, "Recorded result #") || f.auditCount() != n+1 {
		t.Fatalf("record: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}
	guard10Resent(t, f, lab, path, form, "the result form sent again", "does nothing the second time", "result #")
}

// guard10: a split form sent again split the lot again (two more bags of
// the same cells each, while cells were left); a label apply sent again,
// with a second label printed, recorded that one as put on the container
// too. Each is refused (409), nothing written; a further split or apply
// from the page as it is now is made.
func TestGuard10SplitAndApplyResentRecordOnce(t *testing.T) {
	f, lab := guard10As(t, "liu")
	const split = "/lots/LOT-UC-1/split"
	form := guard10Form(t, f, lab, split, url.Values{"containers": {"2"}, "cells_each": {"1e8"}, "volume_ml_each": {"50"}})
	n := f.auditCount()
	if st, body := f.post(lab, split, form); st != http.StatusOK || !strings.Contains(body, "into 2 container(s)") {
		t.Fatalf("split: %d\n%s", st, body)
	}
	made := f.auditCount() - n
	guard10Resent(t, f, lab, split, form, "the split sent again", "lot LOT-UC-1 changed after this form was shown (the last change recorded: lot.split by liu")
	n = f.auditCount()
	if st, body := f.post(lab, split, guard10Form(t, f, lab, split, url.Values{"containers": {"2"}, "cells_each": {"1e8"}})); st != http.StatusOK || f.auditCount()-n != made {
		t.Errorf("a further split from the page: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}

	const bag = "/containers/G12342600000101"
	for range 2 { // two labels printed: one to put on, one spare
		if st, body := f.post(lab, bag+"/label-print", guard10Form(t, f, lab, bag+"/label-print", nil)); st != http.StatusOK {
			t.Fatalf("print: %d\n%.300s", st, body)
		}
	}
	apply := guard10Form(t, f, lab, bag+"/label-apply", nil)
	if st, body := f.post(lab, bag+"/label-apply", apply); st != http.StatusOK || !strings.Contains(body, "printed 2, applied 1") {
		t.Fatalf("apply: %d\n%s", st, body)
	}
	guard10Resent(t, f, lab, bag+"/label-apply", apply, "the apply sent again", "container G12342600000101 changed after this form was shown (the last change recorded: label.apply by liu")
}

// guard10: an admin's reset sent again recorded a second reset (and set
// the one-time password again after its owner may have changed it).
func TestGuard10ResetResentRecordsOnce(t *testing.T) {
	f, admin := guard10As(t, "alice")
	const path = "/accounts/nina/reset"
	form := guard10Form(t, f, admin, path, url.Values{"password": {"tulip-orbit-canyon-31"}, "repeat": {"tulip-orbit-canyon-31"}, "reason": {"forgot it"}})
	n := f.auditCount()
	if st, body := f.post(admin, path, form); st != http.StatusOK || f.auditCount() != n+1 {
		t.Fatalf("reset: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}
	guard10Resent(t, f, admin, path, form, "the reset sent again", "the account of nina changed after this form was shown (the last change recorded: user.reset by alice")
}

// guard10: after a successful password change, the Back button and a
// resend send the old password, now wrong: it was checked, counted towards
// nina's lockout and recorded as a wrong password. It is refused (409)
// before any password is checked, nothing written, and nina's new password
// still opens a session.
func TestGuard10PasswordChangeResentCountsNothing(t *testing.T) {
	f, nina := guard10As(t, "nina")
	const newPassword = "harbor-lantern-moss-82"
	form := guard10Form(t, f, nina, "/password", url.Values{"password": {fixturePassword}, "new_password": {newPassword}, "repeat": {newPassword}})
	n := f.auditCount()
	if st, body := f.post(nina, "/password", form); st != http.StatusOK || !strings.Contains(body, "The password of nina was changed") {
		t.Fatalf("change: %d\n%s", st, body)
	}
	if f.auditCount() == n {
		t.Fatal("the change wrote nothing")
	}
	for range 3 { // more than one resend would lock her out if counted
		guard10Resent(t, f, nina, "/password", form, "the change sent again", "the account of nina changed after this form was shown (the last change recorded: user.passwd by nina", "nothing was counted against nina")
	}
	if u, err := f.db.User("nina"); err != nil || u.Failures != 0 {
		t.Errorf("nina after the resends: %d wrong passwords counted, %v", u.Failures, err)
	}
	again := f.client()
	if st, body := f.post(again, "/login", url.Values{"user": {"nina"}, "password": {newPassword}}); st != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Errorf("nina's login with the new password: %d\n%s", st, body)
	}
}
