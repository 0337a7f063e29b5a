package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
)

// TestReview6BedsideSignsTheDoseShown (review s6, FAILS today): the GO page
// tells the nurse to draw 34.1 mL for 62.0 kg; a colleague then records
// 65.0 kg (+4.8 %, no confirmation needed). The administer form carries no
// volume (empty: "the computed one"), so the infusion is recorded with a dose
// recomputed at signing time — a volume neither signer was shown and the
// nurse did not draw. The signatures must bind what was shown: the
// infusion is refused (the check must be run again) or recorded as shown.
func TestReview6BedsideSignsTheDoseShown(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	st, body := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}, "op": {"check"}})
	if st != http.StatusOK {
		t.Fatalf("check: %d\n%s", st, body)
	}
	mustContain(t, "GO page", body, ">GO<", "6.2062×10^7 cells in 34.1 mL")

	now, _ := time.Parse(time.RFC3339, testNow)
	if _, err := store.NewLotService(f.db).Weigh("omar", "MRN-1001", lot.Grams(65000), now); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"mrn": {"MRN-1001"}, "bag": {"G12342600000101"}, "volume_ml": {""}, "password": {fixturePassword}, "witness": {"omar"}, "witness_password": {fixturePassword}}
	st, body = f.post(c, "/bedside/administer", form)
	if st == http.StatusOK && strings.Contains(body, ">Recorded<") && !strings.Contains(body, "34.1 mL") {
		t.Fatalf("recorded an infusion of a volume the GO page never showed (it said 34.1 mL):\n%s", excerpt(body, "Given"))
	}
}

func excerpt(s, at string) string {
	i := strings.Index(s, at)
	if i < 0 {
		return s[:min(len(s), 400)]
	}
	return s[i:min(len(s), i+300)]
}
