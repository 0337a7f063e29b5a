package store

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/internal/pdftest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
)

// The patient trace shows, for an infusion, the weight record it was dosed
// on — when it was measured and by whom — and the physician's signed
// confirmation (who, when, meaning, reason) that let a change of more than
// 10 % through, in every format an auditor may be handed (review 17 D).
func TestPatientTraceShowsTheWeightConfirmationInEveryFormat(t *testing.T) {
	r, measured := confirmedWeightTrace(t)
	if len(r.Infusions) != 1 || r.Infusions[0].WeightRecord == nil || r.Infusions[0].WeightRecord.Confirmation == nil {
		t.Fatalf("the trace's infusion carries no weight record with its confirmation: %+v", r.Infusions)
	}
	wants := []string{"68.3 kg", lot.FormatTime(measured), "by nina", "Dr Pat", "confirmed the weight 68.3 kg of MRN-1", "fluid overload"}
	for _, format := range []string{"text", "md", "csv", "json", "html", "pdf"} {
		var b bytes.Buffer
		if err := report.Render(&b, r, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		out := b.String()
		switch format {
		case "pdf":
			out = pdftest.Text(t, b.Bytes())
		case "csv":
			out = strings.ReplaceAll(out, "T", " ") // RFC 3339 times
			wants := append([]string(nil), wants...)
			wants[1] = measured.UTC().Format("2006-01-02 15:04:05Z")
			checkAll(t, format, out, wants)
			continue
		case "json":
			wants := append([]string(nil), wants...)
			wants[1] = measured.UTC().Format(time.RFC3339)
			wants[2] = `"recorded_by": "nina"`
			checkAll(t, format, out, wants)
			continue
		}
		checkAll(t, format, out, wants)
	}
}

// checkAll reports each of wants that out, its whitespace collapsed (a
// renderer wraps long lines), does not contain.
func checkAll(t *testing.T, format, out string, wants []string) {
	t.Helper()
	flat := strings.Join(strings.Fields(out), " ")
	for _, w := range wants {
		if !strings.Contains(flat, w) {
			t.Errorf("the %s trace lacks %q", format, w)
		}
	}
}

// A course under way when the facility's zone changes keeps the day its
// given infusion was judged on and counts its days to come from that day,
// in the new zone (review 17 B): infusion 1 was given at 09:00 UTC on
// 2026-11-25, its planned day as the UTC facility counted it; in
// Pacific/Honolulu that instant is 23:00 on the 24th, which would plan day
// 7 on 1 December. Today is counted in Honolulu.
func TestZoneChangeKeepsAGivenDayAndPlansTheRestInTheNewZone(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCustodyService(db).SetFacilityZone("alice", "Pacific/Honolulu", "init left UTC; the unit is in Honolulu"); err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }
	_, cs, err := d.Courses("MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || len(cs[0].Entries) != 2 {
		t.Fatalf("courses %+v", cs)
	}
	c := cs[0]
	if lot.ZoneName(c.Zone) != "Pacific/Honolulu" || c.Ended {
		t.Errorf("the course counts its days in %s (ended %t); want Pacific/Honolulu, under way", lot.ZoneName(c.Zone), c.Ended)
	}
	one, two := c.Entries[0], c.Entries[1]
	if got := lot.FormatDate(one.Given.Day); got != "2026-11-25" {
		t.Errorf("infusion 1 was given on %s; want 2026-11-25, the day its bedside check counted in UTC", got)
	}
	if got := lot.FormatDate(two.Date); got != "2026-12-02" || two.Status != dose.Planned {
		t.Errorf("infusion 2 is %s on %s; want planned on 2026-12-02 (7 days after 2026-11-25)", two.Status, got)
	}
}
