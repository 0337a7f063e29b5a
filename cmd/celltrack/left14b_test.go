package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAPIWeightConfirmationNoCheckNeeds: through the service API a
// confirmation of a weight within 10 % of the patient's first is the 409
// on "weight", saying why no check needs it, before the password is read
// — a mistyped one is not counted — and nothing is written; the
// confirmation-check route answers the same without a password, and 200
// with the weight once a changed weight does need it.
func TestAPIWeightConfirmationNoCheckNeeds(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	now := testTime(t)
	nina, pat := f.client(), f.client()
	f.login(nina, "nina")
	f.login(pat, "pat")
	shown := apiWeigh(t, f, nina, "63.5", now.Add(-10*time.Minute))
	const path = "/api/v1/svc/patients/MRN-1001/weights/latest/confirmation"
	n := f.auditCount()
	for _, tc := range []struct {
		path string
		body map[string]any
	}{
		{path, map[string]any{"WeightID": shown, "Reason": "re-weighed", "Password": "not-pats-password-1"}},
		{path, map[string]any{"Kg": "63.5", "Reason": "re-weighed", "Password": fixturePassword}},
		{path + "-check", map[string]any{"WeightID": shown}},
	} {
		st, m := f.postJSON(pat, tc.path, tc.body)
		if _, field, msg := errorOf(m); st != http.StatusConflict || field != "weight" ||
			!strings.Contains(msg, "the weight 63.5 kg of MRN-1001") || !strings.Contains(msg, "needs no confirmation: it is +2.4 % since 62.0 kg") {
			t.Errorf("POST %s %v: %d %v; want 409 on weight saying 63.5 kg needs no confirmation", tc.path, tc.body, st, m)
		}
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the refused confirmations wrote %d audit entries", got-n)
	}
	apiWeigh(t, f, nina, "70.0", now.Add(-5*time.Minute))
	st, m := f.postJSON(pat, path+"-check", map[string]any{"Kg": "70.0"})
	if g, _ := m["Grams"].(float64); st != http.StatusOK || g != 70_000 {
		t.Errorf("confirmation-check of 70.0 kg (+12.9 %%): %d %v; want 200 with the weight", st, m)
	}
	if got := f.auditCount(); got != n+1 { // the 70.0 kg weighing alone
		t.Errorf("the confirmation-check wrote %d audit entries", got-n-1)
	}
	st, m = f.postJSON(pat, path, map[string]any{"Kg": "70.0", "Reason": "re-weighed twice", "Password": fixturePassword})
	if g, _ := m["Grams"].(float64); st != http.StatusOK || g != 70_000 {
		t.Errorf("confirming 70.0 kg: %d %v", st, m)
	}
}

// TestMRNInAnotherLetterCaseOnThePageAndTheAPI: the bedside page and the
// API find MRN-1001 by a wristband read as mrn-1001, named as registered;
// the page does not call it a corrected MRN.
func TestMRNInAnotherLetterCaseOnThePageAndTheAPI(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	nurse := f.client()
	f.login(nurse, "nina")
	st, body := f.get(nurse, "/api/v1/svc/patients/mrn-1001")
	if st != http.StatusOK || !strings.Contains(body, `"MRN":"MRN-1001"`) {
		t.Errorf("GET patients/mrn-1001: %d %s; want MRN-1001", st, body)
	}
	st, page := f.post(nurse, "/bedside/check", url.Values{"mrn": {"mrn-1001"}, "scan": {"G12342600000101"}})
	page = html.UnescapeString(page)
	if st != http.StatusOK || !strings.Contains(page, "Mei Chen, born 1984-03-09") || strings.Contains(page, "MRN now") || !strings.Contains(page, "GO") {
		t.Errorf("the bedside check of mrn-1001: %d; want MRN-1001's page (Mei Chen, GO), not a corrected MRN:\n%s", st, r18visible(page))
	}
}
