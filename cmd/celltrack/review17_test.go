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
