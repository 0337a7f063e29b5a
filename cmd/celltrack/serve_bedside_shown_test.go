package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// reweigh records a weight as a colleague at another terminal does.
func (f *webFixture) reweigh(g lot.Grams, at time.Time) {
	f.t.Helper()
	if _, err := store.NewLotService(f.db).Weigh("omar", "MRN-1001", g, at); err != nil {
		f.t.Fatal(err)
	}
}

func testTime(t *testing.T) time.Time {
	now, err := time.Parse(time.RFC3339, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// TestServeBedsideSignsTheDoseShown (review 6): the GO page tells the
// nurse to draw 34.1 mL for 62.0 kg; a colleague then records 65.0 kg
// (+4.8 %, no physician needed). The signatures bind the dose shown: the
// sign form carries it, the infusion is refused as NO-GO naming the new
// weight, nothing is written and no password counted; the page checks
// again, and its new form records the new dose (35.7 mL).
func TestServeBedsideSignsTheDoseShown(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	st, page := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}, "op": {"check"}})
	if st != http.StatusOK {
		t.Fatalf("check: %d\n%s", st, page)
	}
	mustContain(t, "GO page", page, ">GO<", "6.2062×10^7 cells in 34.1 mL", `id="signed-dose">You sign for <strong>6.2062×10^7 cells in 34.1 mL</strong> on 62.0 kg`)
	form := signForm(t, page, fixturePassword)
	if form.Get("shown_ml") != "34.1" || form.Get("shown_cells") != "62062000" || len(form.Get("shown_weight")) != 36 {
		t.Fatalf("the sign form does not carry the dose shown: %v", form)
	}

	f.reweigh(65_000, testTime(t))
	n := f.auditCount()
	st, body := f.post(c, "/bedside/administer", form)
	if st != http.StatusConflict || strings.Contains(body, ">Recorded<") {
		t.Fatalf("signed a dose recomputed after the GO page (it said 34.1 mL): %d\n%s", st, body)
	}
	mustContain(t, "the dose changed", body, "dose as shown: the dose changed since the check (weight 65.0 kg measured 2026-11-25 09:00 UTC by omar is the latest)",
		"the check showed 6.2062×10^7 cells in 34.1 mL", "check again",
		// the page has checked again: the new dose, and a form that binds it
		"6.4974×10^7 cells in 35.7 mL", `name="shown_ml" value="35.7"`)
	if f.auditCount() != n {
		t.Errorf("the refused infusion wrote %d audit entries", f.auditCount()-n)
	}
	if e := f.lastEntry("omar"); e.Action == "signature.refused" {
		t.Errorf("the NO-GO counted a password: %+v", e)
	}

	// A form that carries no dose (made by hand, or from an older page)
	// signs nothing.
	bare := signForm(t, body, fixturePassword)
	for _, k := range []string{"shown_weight", "shown_ml", "shown_cells"} {
		bare.Del(k)
	}
	st, b := f.post(c, "/bedside/administer", bare)
	if st != http.StatusBadRequest || !strings.Contains(b, "this form does not say which dose you were shown; nothing was signed") || f.auditCount() != n {
		t.Errorf("a form without the dose shown: %d, %d audit entries\n%.600s", st, f.auditCount()-n, b)
	}

	st, body = f.post(c, "/bedside/administer", signForm(t, body, fixturePassword))
	if st != http.StatusOK {
		t.Fatalf("signing the dose shown again: %d\n%s", st, body)
	}
	mustContain(t, "recorded", body, ">Recorded<", "35.7 mL")
}

// TestServeBedsideNoGoBeforePasswords (review 6): the bedside rules run
// before any password is checked, so a NO-GO (here a stated volume of 1 mL,
// far under the dose) with a wrong witness password is a NO-GO — 409,
// nothing written, no failed attempt counted — on the page and the API.
func TestServeBedsideNoGoBeforePasswords(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	_, page := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}, "op": {"check"}})
	form := signForm(t, page, "wrong-password")
	form.Set("volume_ml", "1")
	n := f.auditCount()
	st, body := f.post(c, "/bedside/administer", form)
	if st != http.StatusConflict || f.auditCount() != n {
		t.Errorf("page: NO-GO with a wrong password: %d, %d audit entries; want 409 and none\n%.600s", st, f.auditCount()-n, body)
	}
	mustContain(t, "page NO-GO", body, "NO-GO", "is -97.1 % from the required 6.20×10^7")
	if strings.Contains(body, "wrong password") {
		t.Errorf("the page checked a password before the NO-GO")
	}
	st, m := f.postJSON(c, "/api/v1/dose/administer", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}, "volume_ml": "1",
		"shown":    map[string]any{"weight_id": form.Get("shown_weight"), "volume_ml": "34.1", "cells": "62062000"},
		"password": fixturePassword, "witness": "omar", "witness_password": "wrong-password"})
	if e, _ := m["error"].(map[string]any); st != http.StatusConflict || e["code"] != "no_go" || f.auditCount() != n {
		t.Errorf("API: NO-GO with a wrong password: %d %v, %d audit entries; want 409 no_go and none", st, m, f.auditCount()-n)
	}
}

// TestServeAPIAdministerBindsTheDoseShown: the API's check answers the
// dose it shows ("shown"); administer requires it back (400 without),
// refuses it as NO-GO once the weight changed, and records it when it is
// the dose computed.
func TestServeAPIAdministerBindsTheDoseShown(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	check := func() map[string]any {
		st, m := f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}})
		shown, _ := m["report"].(map[string]any)["shown"].(map[string]any)
		if st != http.StatusOK || shown == nil {
			t.Fatalf("check: %d %v", st, m)
		}
		return shown
	}
	administer := func(shown map[string]any) (int, map[string]any) {
		body := map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}, "password": fixturePassword, "witness": "omar", "witness_password": fixturePassword}
		if shown != nil {
			body["shown"] = shown
		}
		return f.postJSON(c, "/api/v1/dose/administer", body)
	}
	shown := check()
	if shown["volume_ml"] != "34.1" || shown["cells"] != "62062000" {
		t.Errorf("shown: %v", shown)
	}
	n := f.auditCount()
	st, m := administer(nil)
	if e, _ := m["error"].(map[string]any); st != http.StatusBadRequest || !strings.Contains(e["message"].(string), "shown needs weight_id, volume_ml and cells") || f.auditCount() != n {
		t.Errorf("without shown: %d %v", st, m)
	}
	f.reweigh(65_000, testTime(t))
	n = f.auditCount()
	st, m = administer(shown)
	if e, _ := m["error"].(map[string]any); st != http.StatusConflict || e["code"] != "no_go" || !strings.Contains(e["message"].(string), "the dose changed since the check (weight 65.0 kg") || f.auditCount() != n {
		t.Errorf("after a new weight: %d %v", st, m)
	}
	st, m = administer(check())
	if st != http.StatusCreated || m["volume_ml"] != "35.7" {
		t.Errorf("the dose shown by the second check: %d %v", st, m)
	}
}

// TestServeBrowserBedsideDoseChanged is review 6 in a real browser: the GO
// page says 34.1 mL; a colleague records 65.0 kg; the nurse and the witness
// sign on the page they were shown. Nothing is recorded: the page says the
// dose changed and why, above the new check (35.7 mL) and a new sign form,
// which then records 35.7 mL. The refusal is saved as a screenshot.
func TestServeBrowserBedsideDoseChanged(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	text := browserText[chromedp.ID](t, ctx)
	sign := []chromedp.Action[chromedp.Void]{
		chromedp.SendKeys(chromedp.ID("password"), fixturePassword),
		chromedp.SendKeys(chromedp.ID("witness"), "omar"),
		chromedp.SendKeys(chromedp.ID("witness_password"), fixturePassword+kb.Enter),
	}
	do("the page at 768×1024", chromedp.EmulateViewport(768, 1024))
	do("log in, scan the wristband and the bag", scanToGO(f.srv.URL+"/", "G12342600000101")...)
	if s := text("signed-dose"); !strings.Contains(s, "You sign for 6.2062×10^7 cells in 34.1 mL on 62.0 kg") {
		t.Fatalf("the sign form says %q", s)
	}
	f.reweigh(65_000, testTime(t))
	n := f.auditCount()
	// #error is on the refusal's page only: #verdict was on the GO page too,
	// so waiting for it raced the form's submission.
	do("sign the dose shown", append(sign, chromedp.WaitVisible(chromedp.ID("error")), chromedp.WaitVisible(chromedp.ID("verdict")))...)
	saveScreenshot(t, ctx, "celltrack-bedside-dose-changed-768x1024.png", true)
	if f.auditCount() != n {
		t.Fatalf("signing a changed dose wrote %d audit entries", f.auditCount()-n)
	}
	if e := text("error"); !strings.Contains(e, "the dose changed since the check (weight 65.0 kg") || !strings.Contains(e, "check again") {
		t.Fatalf("the refusal says %q", e)
	}
	if s := text("signed-dose"); !strings.Contains(s, "You sign for 6.4974×10^7 cells in 35.7 mL on 65.0 kg") {
		t.Fatalf("the new sign form says %q", s)
	}
	// The witness's name stays on the refused page (review 18 C): the
	// passwords are typed again, the name is not.
	if w, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("witness"))); err != nil || w != "omar" {
		t.Fatalf("the witness's name on the refused page is %q (%v), want omar kept", w, err)
	}
	do("sign the new dose",
		chromedp.SendKeys(chromedp.ID("password"), fixturePassword),
		chromedp.SendKeys(chromedp.ID("witness_password"), fixturePassword+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("recorded")))
	if s := text("main"); !strings.Contains(s, "35.7 mL") {
		t.Fatalf("recorded page:\n%s", s)
	}
}
