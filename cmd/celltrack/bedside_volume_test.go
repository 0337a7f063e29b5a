package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Review 12, finding G: a negative bedside volume is a number. The API,
// the bedside page and the command line (dose.ParseVolume, one parser)
// say it is below the least volume and what to give — not "not a number"
// — naming the field and the value, and write nothing.
func TestBedsideNegativeVolumeIsBelowTheLeastVolume(t *testing.T) {
	const says = "-3 mL must be 0.1 mL or more; give the volume to draw in mL"
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	nurse := f.client()
	f.login(nurse, "nina")
	before := f.auditCount()
	st, m := f.postJSON(nurse, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}, "volume_ml": "-3"})
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if field, _ := e["field"].(string); st != http.StatusUnprocessableEntity || field != "volume_ml" || !strings.Contains(msg, "volume (mL) "+says) || strings.Contains(msg, "not a number") {
		t.Errorf("API volume_ml -3: %d %v, want 422 on field volume_ml saying %q", st, m, says)
	}
	st, page := f.post(nurse, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "bag": {"G12342600000101"}, "volume_ml": {"-3"}})
	if page = html.UnescapeString(page); st != http.StatusUnprocessableEntity || !strings.Contains(page, "volume (mL) "+says) || strings.Contains(page, "not a number") {
		t.Errorf("bedside page volume -3: %d, want 422 saying %q:\n%s", st, says, page)
	}
	if n := f.auditCount() - before; n != 0 {
		t.Errorf("the refusals wrote %d audit entries", n)
	}
	db := baseCopy(t, t.TempDir(), "bedside")
	before64 := fileSum(t, db)
	got := celltrack(db, "", "--user", "nina", "dose", "check", "--volume-ml=-3", "--container", "G12342600000101", "MRN-1001")
	if got.code != exitRefused || !strings.Contains(got.stderr, "--volume-ml "+says) || strings.Contains(got.stderr, "not a number") {
		t.Errorf("dose check --volume-ml=-3: exit %d, want %d saying %q:\n%s", got.code, exitRefused, says, got.stderr)
	}
	if fileSum(t, db) != before64 {
		t.Errorf("the refusal changed the database file")
	}
}
