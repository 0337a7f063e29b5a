package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// review9Refusal is the refusal shown above a form.
func review9Refusal(body string) string {
	if m := regexp.MustCompile(`(?s)id="error">(.*?)</div>`).FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// Review 9: the API's "field" (README "Who words the fix": where a refusal
// is about one input, the error carries that input's name and the API
// answers it as "field") is missing from many refusals about one input.
// The clearest: a start the API cannot read ("yesterday") has no field,
// while a start it reads but refuses (in the future) has "start". A
// program — the command line through a server, which words the flag from
// "field" — cannot tell which input to fix. Each row is a refusal about
// exactly one key of the body; nothing may be written.
func TestReview9APIRefusalNamesItsField(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	P := fixturePassword
	nurse, lab := f.client(), f.client()
	f.login(nurse, "nina")
	f.login(lab, "liu")
	bag := []string{"G12342600000101"}
	shown := map[string]any{"weight_id": "01a2428c-7516-703d-abac-74ea25891a55", "volume_ml": "34.1", "cells": "62062000"}
	for _, tc := range []struct {
		c     *http.Client
		path  string
		body  map[string]any
		field string
	}{
		{nurse, "/api/v1/dose/administer", map[string]any{"mrn": "MRN-1001", "containers": bag, "password": P, "witness": "omar", "witness_password": P, "start": "yesterday", "shown": shown}, "start"},
		{nurse, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": bag, "volume_ml": "abc"}, "volume_ml"},
		{nurse, "/api/v1/dose/check", map[string]any{"mrn": "", "containers": bag}, "mrn"},
		{nurse, "/api/v1/dose/check", map[string]any{"mrn": "MRN-X", "containers": bag}, "mrn"},
		{nurse, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G1234260000019"}}, "containers"},
		{nurse, "/api/v1/patients", map[string]any{"mrn": "MRN-7", "name": "A B", "born": "1980-01-01", "sex": "Q"}, "sex"},
		{nurse, "/api/v1/patients", map[string]any{"mrn": "MRN 7", "name": "A B", "born": "1980-01-01", "sex": "F"}, "mrn"},
		{lab, "/api/v1/donors", map[string]any{"code": "D-7", "delivered": "2026-13-01", "site": "x", "consented": "2026-10-01"}, "delivered"},
		{lab, "/api/v1/lots/LOT-UC-1/results", map[string]any{"assay": "CD999", "value": "1"}, "assay"},
	} {
		before := f.auditCount()
		st, m := f.postJSON(tc.c, tc.path, tc.body)
		e, _ := m["error"].(map[string]any)
		if st < 400 || e == nil {
			t.Errorf("%s %v: %d, not refused: %v", tc.path, tc.body, st, m)
			continue
		}
		if got, _ := e["field"].(string); got != tc.field {
			t.Errorf("%s, %s=%v: field %q, want %q (message: %s)", tc.path, tc.field, tc.body[tc.field], got, tc.field, e["message"])
		}
		if after := f.auditCount(); after != before {
			t.Errorf("%s: the refusal wrote %d audit entries", tc.path, after-before)
		}
	}
}

// review9Administer has nina, logged in on c, check MRN-1001's bag
// G12342600000101 on the bedside page and sign its infusion with omar as
// witness; it returns the "Infusion recorded" page.
func review9Administer(t *testing.T, f *webFixture, c *http.Client) string {
	t.Helper()
	_, body := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	st, body := f.post(c, "/bedside/administer", signForm(t, body, fixturePassword))
	if st != http.StatusOK {
		t.Fatalf("administer: %d\n%s", st, body)
	}
	return body
}

// review9Infusion is the id of the infusion the "Infusion recorded" page
// body shows, which its reaction form sends.
func review9Infusion(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`name="infusion" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("administer: no infusion on the page\n%s", body)
	}
	return m[1]
}

// Review 9: two tabs on a shared ward PC. Nurse nina's GO page asks for
// "Password of Nina Rossi (nina), administering"; before she signs, someone
// logs in as the physician pat in another tab of the same browser (the
// cookie is the browser's). Nina's sign form, sent, is signed as pat: the
// form does not say whose signature it asked for, and the server signs as
// whoever the cookie names now. The infusion record then carries pat's
// printed name and meaning "administered the infusion" — a signature pat never
// gave on a page pat never saw (with real passwords, it is instead a wrong
// password recorded against pat and counted towards pat's lockout). The
// form should carry the signer it names and be refused, before any password
// is checked, when the session's user is another; nothing written.
func TestReview9SignFormCheckedAsAnotherTabsUser(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	// pat's own password, not nina's (the fixture gives everyone one).
	const patPassword = "quartz-meadow-violin-47"
	pc := f.client()
	f.login(pc, "pat")
	if st, m := f.postJSON(pc, "/api/v1/password", map[string]any{"password": fixturePassword, "new_password": patPassword}); st != http.StatusOK {
		t.Fatalf("pat's password change: %d %v", st, m)
	}
	browser := f.client()
	f.login(browser, "nina")
	st, body := f.post(browser, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	if st != http.StatusOK || !strings.Contains(body, "Password of Nina Rossi (nina), administering") {
		t.Fatalf("nina's GO page: %d\n%s", st, body)
	}
	sign := review9SignForm(t, body)
	// Another tab, same browser: pat logs in.
	if st, body := f.post(browser, "/login", url.Values{"user": {"pat"}, "password": {patPassword}}); st != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Fatalf("pat's login: %d\n%s", st, body)
	}
	before := f.auditCount()
	sign.Set("password", fixturePassword) // nina types her own password
	sign.Set("witness", "omar")
	sign.Set("witness_password", fixturePassword)
	st, body = f.post(browser, "/bedside/administer", sign)
	t.Logf("nina's sign form, sent under pat's session: %d, %s", st, review9Refusal(body))
	if st == http.StatusOK && strings.Contains(body, `id="recorded"`) {
		t.Errorf("the sign form nina was shown recorded the infusion as signed by %s",
			regexp.MustCompile(`[A-Za-z .]+ \((pat|nina), [a-z]+\)`).FindString(body))
	}
	if msg := review9Refusal(body); st != http.StatusConflict || !strings.Contains(msg, "this form was for nina; pat is logged in now") || !strings.Contains(msg, "no password was checked") {
		t.Errorf("nina's sign form under pat's session: %d, refusal %q; want 409 naming both", st, msg)
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the sign form sent under another user's session wrote %d audit entries", after-before)
	}
}

// fix9: every page form that asks the session's user for a password
// carries whom it asked; sent under another user's session it is refused
// (409) before any password is checked, and one that names nobody (made by
// hand) is refused too (400) — on QA's approve, exception and reject forms
// and the password page as on the bedside. Nothing is written.
func TestReview9PasswordFormsCarryTheirSigner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	for _, fx := range []string{"lab", "release"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), fx, testClockAt()); err != nil {
			t.Fatal(err)
		}
	}
	runCLIOn(t, path, "--user", "alice", "user", "add", "--role", "qa", "--full-name", "Ruth Okoye", "--password-stdin", "ruth")
	f := newWebFixtureAt(t, path)
	browser := f.client()
	f.login(browser, "quinn")
	_, page := f.get(browser, "/lots/LOT-UC-1")
	forms := map[string]url.Values{}
	for _, id := range []string{"approve-form", "reject-form"} {
		i := strings.Index(page, `id="`+id+`"`)
		if i < 0 {
			t.Fatalf("no %s on QA's lot page:\n%s", id, page)
		}
		form := page[i : i+strings.Index(page[i:], "</form>")]
		v := url.Values{}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(form, -1) {
			v.Add(m[1], m[2])
		}
		if v.Get("signer") != "quinn" {
			t.Fatalf("%s names signer %q, want quinn:\n%s", id, v.Get("signer"), form)
		}
		v.Set("password", fixturePassword)
		v.Set("reason", "karyotype abnormal")
		forms[id] = v
	}
	_, pw := f.get(browser, "/password")
	if !strings.Contains(pw, `<input type="hidden" name="signer" value="quinn">`) {
		t.Fatalf("the password page names no signer:\n%s", pw)
	}
	// Another tab of the same browser: ruth (QA too) logs in.
	if st, body := f.post(browser, "/login", url.Values{"user": {"ruth"}, "password": {fixturePassword}}); st != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Fatalf("ruth's login: %d\n%s", st, body)
	}
	before := f.auditCount()
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/lots/LOT-UC-1/approve", forms["approve-form"]},
		{"/lots/LOT-UC-1/reject", forms["reject-form"]},
		{"/password", url.Values{"signer": {"quinn"}, "password": {fixturePassword}, "new_password": {"harbor-lantern-moss-82"}, "repeat": {"harbor-lantern-moss-82"}}},
	} {
		st, body := f.post(browser, tc.path, tc.form)
		if msg := review9Refusal(body); st != http.StatusConflict || !strings.Contains(msg, "this form was for quinn; ruth is logged in now") {
			t.Errorf("%s: quinn's form under ruth's session: %d, refusal %q; want 409", tc.path, st, msg)
		}
		tc.form.Del("signer")
		st, body = f.post(browser, tc.path, tc.form)
		if msg := review9Refusal(body); st != http.StatusBadRequest || !strings.Contains(msg, "does not say whose password it asks for") {
			t.Errorf("%s: a form naming no signer: %d, refusal %q; want 400", tc.path, st, msg)
		}
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the refused forms wrote %d audit entries", after-before)
	}
	if s := f.lotStatus("LOT-UC-1"); s != "quarantine" {
		t.Errorf("lot LOT-UC-1 is %s after the refused forms", s)
	}
}

// Review 9: the reaction form's answer is a page, not a redirect, so a
// double click, or a refresh of "Reaction recorded" (the browser offers to
// send the form again), records the same adverse reaction twice: reaction
// #1 and #2, both grade 2 "rigors", two audit entries, and the trace and
// the handling report count two reactions where the patient had one. The
// administer form is safe against this (the bag is already infused, NO-GO);
// the reaction form should be too (a one-time token in the form, or a
// redirect to the recorded reaction), the second send writing nothing.
func TestReview9ReactionFormSentTwiceRecordsOnce(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	inf := review9Infusion(t, review9Administer(t, f, c))
	form := url.Values{"infusion": {inf}, "mrn": {"MRN-1001"}, "grade": {"2"}, "text": {"rigors"}, "signer": {"nina"}}
	if st, body := f.post(c, "/bedside/reaction", form); st != http.StatusOK || !strings.Contains(body, "Reaction #1") {
		t.Fatalf("first send: %d\n%s", st, body)
	}
	_, trace1 := f.get(c, "/api/v1/trace/patient/MRN-1001?format=text")
	before := f.auditCount()
	st, body := f.post(c, "/bedside/reaction", form) // the refresh, or the second click
	if strings.Contains(body, "Reaction #2") {
		t.Errorf("the same reaction form sent twice recorded reaction #2 (%d)", st)
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the second send wrote %d audit entries", after-before)
	}
	_, trace2 := f.get(c, "/api/v1/trace/patient/MRN-1001?format=text")
	if n1, n2 := strings.Count(trace1, "rigors"), strings.Count(trace2, "rigors"); n1 == 0 || n2 != n1 {
		t.Errorf("the patient's trace names the reaction %d times after one send, %d after the second", n1, n2)
	}
}
