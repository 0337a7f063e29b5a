package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
)

// review17 (hostile review: dose arithmetic, schedules, traceability). Each
// test fails on main at 254ff50 for the reason its comment gives.

// review17 finding A: a physician's weight confirmation signs whatever
// weight is the latest when the write runs, not the weight the physician
// was shown. `dose confirm-weight MRN` and POST
// /api/v1/svc/patients/{ref}/weights/latest/confirmation carry no weight
// (id or value), so a weight recorded between the NO-GO the physician read
// ("72.0 kg is +16.1 % since 62.0 kg") and the signature — here a second
// nurse's 27.0 kg, a transposed 72.0, plausible by CheckWeight — is the one
// confirmed, and the bedside check then doses on it: GO for 2.70×10^7
// cells, 37.5 % of the 7.20×10^7 the patient needs, with a physician's e-signature
// ("confirmed the weight 27.0 kg") over a value the physician never saw
// (21 CFR 11.50/11.70: the signature's meaning must be the record signed).
// Expected: the confirmation names the weight record shown (as the
// administer's Shown.WeightID does) and is refused, nothing written, when
// the latest weight is another.
func TestReview17WeightConfirmationSignsAWeightThePhysicianNeverSaw(t *testing.T) {
	db, d := bedside(t, "0.5")
	ls := NewLotService(db)
	if _, err := ls.Weigh("nina", "MRN-1", 72_000, db.Now().Add(-20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r, err := d.Check("MRN-1", []string{bag1}, 0)
	if err != nil || r.GO || !strings.Contains(lot.ErrorMessage(r.Err()), "72.0 kg is +16.1 %") {
		t.Fatalf("setup: the physician is to be shown a NO-GO on 72.0 kg: %v %v", err, r.Err())
	}
	shown := r.Weight
	// Between the physician reading that NO-GO and signing, another nurse
	// records a weight (a transposition of 72.0).
	if _, err := ls.Weigh("omar", "MRN-1", 27_000, db.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	wt, err := d.ConfirmWeight(mustUser(t, db, "pat"), "MRN-1", dose.WeightShown{ID: shown.ID, Grams: shown.Grams}, "re-weighed: fluid overload, 72.0 kg is real")
	if err == nil && wt.ID != shown.ID {
		t.Errorf("the physician was shown %s (weight %s) and signed a confirmation of %s (weight %s) recorded after; want the confirmation refused, nothing written, because the latest weight is not the one shown",
			shown.Grams, shown.ID, wt.Grams, wt.ID)
	}
	if r, _ := d.Check("MRN-1", []string{bag1}, 0); r.GO && r.Calc.Required == 27_000_000 {
		t.Errorf("the bedside check is GO for %s cells on 27.0 kg, a weight no physician was shown (the patient weighs 72.0 kg)", r.Calc.Required)
	}
}

// review17 finding B: a time-zone change rewrites the deviations of
// infusions given before it. An infusion given at 09:00 UTC on its planned
// day, 2026-11-25, under a facility counting days in UTC (the bedside check
// said "infusion due … planned 2026-11-25"), is listed in every trace after
// `site set-tz --facility --tz Pacific/Honolulu --reason 'init left UTC'`
// (README's own example of the change) as a deviation: "infusion 1 given on
// 2026-11-24, 1 day(s) earlier than planned". The demo shows both ways on
// the donor trace of D-0001: MRN-1002's "1 day later" deviation vanishes and
// an "earlier" one appears for MRN-1001 — the same records, another list of
// deviations, and nothing in the report says the days were recounted.
// README says courses under way count their days in the new zone "from
// then on" and "given infusions are history"; an ended course's plan
// (schedule show) and the trace's deviations are recounted as well.
// Expected: a given infusion's day, and so its deviation, is judged in the
// zone the bedside check judged it in (the one in force when it was
// given), and a report an auditor signed last month lists the same
// deviations today.
func TestReview17ZoneChangeRewritesPastDeviations(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	deviations := func() []string {
		t.Helper()
		r, err := newTraces(db).Patient(context.Background(), "nina", "MRN-1")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, dv := range r.Deviations {
			got = append(got, dv.Kind+": "+dv.Detail)
		}
		return got
	}
	before := deviations()
	if len(before) != 0 {
		t.Fatalf("setup: the infusion given on its planned day has deviations %q", before)
	}
	if _, err := NewCustodyService(db).SetFacilityZone("alice", "Pacific/Honolulu", "init left UTC; the unit is in Honolulu"); err != nil {
		t.Fatal(err)
	}
	if after := deviations(); len(after) != 0 {
		t.Errorf("after the facility's zone was changed, the patient trace lists deviations %q for an infusion given on its planned day as the bedside check counted it; want none, as before the change", after)
	}
}

// review17 finding D: the backward trace shows the weight an infusion was
// dosed on as a bare number ("Weight used 68.3 kg") — not when it was
// measured, by whom, nor the physician's signed confirmation the bedside
// check let it through on ("+10.2 % … confirmed by a physician"). The
// confirmation is an e-signature the dose rests on (audit.WeightConfirm,
// "confirmed the weight 68.3 kg of MRN-1"), and the only record of who
// overrode the 10 % gate; an auditor tracing a wrong dose back from the
// patient finds it in no format of the trace (text, md, csv, json, html,
// pdf all render the same report), only by reading the audit log.
// Expected: the infusion's section names its weight record (measured when,
// recorded by whom) and, when one was needed, the confirmation's signer,
// time, meaning and reason.
func TestReview17PatientTraceOmitsTheWeightConfirmation(t *testing.T) {
	r, _ := confirmedWeightTrace(t)
	all := fmt.Sprintf("%+v", r)
	if !strings.Contains(all, "68.3 kg") {
		t.Fatalf("setup: the trace does not show the weight used at all")
	}
	if !strings.Contains(all, "Dr Pat") || !strings.Contains(all, "fluid overload") {
		t.Errorf("the patient trace of an infusion dosed on a weight a physician confirmed (+10.2 %%) names neither the physician (Dr Pat) nor the reason; want the confirmation's signature and reason beside the weight used")
	}
}
