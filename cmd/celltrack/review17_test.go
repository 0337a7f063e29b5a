package main

import (
	"net/http"
	"strings"
	"testing"
)

// errorOf is the error object of an API answer: its code, field and message.
func errorOf(m map[string]any) (code, field, msg string) {
	e, _ := m["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	msg, _ = e["message"].(string)
	return code, field, msg
}

// TestReview17APIConfirmationNamesTheWeightShown (review 17 A, the API):
// POST …/weights/latest/confirmation names the weight the physician was
// shown, by WeightID or Kg. A weight recorded since (a transposed 27.0 after
// the 72.0 shown) is refused 409 naming the latest weight, a body naming no
// weight 400 before the password is read; nothing is written. The latest
// weight named by its record is confirmed.
func TestReview17APIConfirmationNamesTheWeightShown(t *testing.T) {
	f, pat, shown, since := staleWeightFixture(t)
	path := "/api/v1/svc/patients/MRN-1001/weights/latest/confirmation"
	n := f.auditCount()
	for _, tc := range []struct {
		name          string
		body          map[string]any
		status        int
		field, reason string
	}{
		{"the record shown", map[string]any{"WeightID": shown}, http.StatusConflict, "weight", "the latest weight of MRN-1001 is now 27.0 kg measured 2026-11-25 08:59 UTC, recorded by omar — not the weight record " + shown},
		{"the value shown", map[string]any{"Kg": "72.0"}, http.StatusConflict, "weight", "not the 72.0 kg you named; nothing was signed"},
		{"no weight named", map[string]any{}, http.StatusBadRequest, "WeightID", "names no weight"},
		{"a value that is no weight", map[string]any{"Kg": "72,0"}, http.StatusUnprocessableEntity, "Kg", `Kg "72,0" is not a number`},
	} {
		tc.body["Reason"], tc.body["Password"] = "re-weighed: fluid overload", fixturePassword
		st, m := f.postJSON(pat, path, tc.body)
		if _, field, msg := errorOf(m); st != tc.status || field != tc.field || !strings.Contains(msg, tc.reason) {
			t.Errorf("%s: %d %v; want %d on the field %s saying %q", tc.name, st, m, tc.status, tc.field, tc.reason)
		}
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the refused confirmations wrote %d audit entries; want none", got-n)
	}
	st, m := f.postJSON(pat, path, map[string]any{"WeightID": since, "Kg": "27.0", "Reason": "re-weighed: it is 27.0 kg", "Password": fixturePassword})
	if id, _ := m["ID"].(string); st != http.StatusOK || id != since {
		t.Fatalf("confirming the latest weight by its record: %d %v", st, m)
	}
}

// TestReview17APIWeighTakesKg (review 17, noticed): POST …/weights took
// whole grams, so a client's 6200 meant as 62 kg recorded a plausible
// 6.2 kg, and a weight to the gram passed that the command line refuses.
// The body takes Kg, a decimal string read as `patient weigh --kg` reads
// it: each of those is refused naming Kg, nothing written.
func TestReview17APIWeighTakesKg(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	c := f.client()
	f.login(c, "nina")
	path := "/api/v1/svc/patients/MRN-1001/weights"
	n := f.auditCount()
	for _, tc := range []struct {
		body   map[string]any
		status int
		want   string
	}{
		{map[string]any{"Grams": 6200}, http.StatusBadRequest, "Grams"},
		{map[string]any{"Kg": "6200"}, http.StatusUnprocessableEntity, "Kg 6200.0 kg is outside 1.0–300.0 kg"},
		{map[string]any{"Kg": "62.055"}, http.StatusUnprocessableEntity, `Kg "62.055" has more than 2 decimal places`},
		{map[string]any{"Kg": 62}, http.StatusBadRequest, "Kg"},
		{map[string]any{}, http.StatusUnprocessableEntity, "Kg"},
	} {
		st, m := f.postJSON(c, path, tc.body)
		if _, _, msg := errorOf(m); st != tc.status || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: %d %v; want %d saying %q", tc.body, st, m, tc.status, tc.want)
		}
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the refused weights wrote %d audit entries; want none", got-n)
	}
	st, m := f.postJSON(c, path, map[string]any{"Kg": "62.05"})
	if g, _ := m["Grams"].(float64); st != http.StatusOK || g != 62_050 {
		t.Fatalf("62.05 kg: %d %v", st, m)
	}
}
