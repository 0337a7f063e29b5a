package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// The reaction form's resend rule is the store's (dose.NewReaction's
// Known), not one server's lock: two sends of one form at once record one
// reaction, and the JSON API and the service API refuse a stale count (409,
// field "known") and a count on a correction (400), writing nothing.
func TestReactionKnownCheckedInTheStore(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	inf := review9Infusion(t, review9Administer(t, f, c))
	form := url.Values{"infusion": {inf}, "mrn": {"MRN-1001"}, "grade": {"2"}, "text": {"rigors"}, "signer": {"nina"}, "known": {"0"}}
	before := f.auditCount()
	var wg sync.WaitGroup
	sts := make([]int, 2)
	for i := range sts {
		wg.Go(func() { sts[i], _ = f.post(c, "/bedside/reaction", form) })
	}
	wg.Wait()
	if (sts[0] != http.StatusOK || sts[1] != http.StatusConflict) && (sts[0] != http.StatusConflict || sts[1] != http.StatusOK) {
		t.Errorf("one form sent twice at once: %d and %d, want 200 (after the redirect) and 409", sts[0], sts[1])
	}
	if after := f.auditCount(); after != before+1 {
		t.Fatalf("one form sent twice at once wrote %d audit entries, want 1", after-before)
	}

	before = f.auditCount()
	for _, tc := range []struct {
		path string
		body map[string]any
		st   int
	}{
		{"/api/v1/dose/reaction", map[string]any{"infusion": inf, "grade": 2, "text": "rigors", "known": 0}, http.StatusConflict},
		{"/api/v1/svc/infusions/" + inf + "/reactions", map[string]any{"Grade": 2, "Text": "rigors", "Known": 0}, http.StatusConflict},
		{"/api/v1/dose/reaction", map[string]any{"infusion": inf, "corrects": 1, "grade": 1, "text": "rigors", "reason": "grade", "known": 1}, http.StatusBadRequest},
		{"/api/v1/svc/infusions/" + inf + "/reactions/1/void", map[string]any{"Reason": "duplicate", "Known": 1}, http.StatusBadRequest},
	} {
		st, m := f.postJSON(c, tc.path, tc.body)
		e, _ := m["error"].(map[string]any)
		if field, _ := e["field"].(string); st != tc.st || field != "known" {
			t.Errorf("%s %v: %d, field %q (%v); want %d on known", tc.path, tc.body, st, field, e["message"], tc.st)
		}
		if tc.st == http.StatusConflict && !strings.Contains(e["message"].(string), "reaction #1 to this infusion (grade 2, rigors, by nina") {
			t.Errorf("%s: the refusal does not name reaction #1: %v", tc.path, e["message"])
		}
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the refusals wrote %d audit entries", after-before)
	}
	if st, m := f.postJSON(c, "/api/v1/dose/reaction", map[string]any{"infusion": inf, "grade": 1, "text": "fever", "known": 1}); st != http.StatusCreated || m["Seq"] != 2.0 {
		t.Errorf("a reaction knowing of #1: %d %v", st, m)
	}
}
