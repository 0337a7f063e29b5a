package store

import (
	"strings"
	"testing"
	"time"

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
	wt, err := d.ConfirmWeight(mustUser(t, db, "pat"), "MRN-1", "re-weighed: fluid overload, 72.0 kg is real")
	if err == nil && wt.ID != shown.ID {
		t.Errorf("the physician was shown %s (weight %s) and signed a confirmation of %s (weight %s) recorded after; want the confirmation refused, nothing written, because the latest weight is not the one shown",
			shown.Grams, shown.ID, wt.Grams, wt.ID)
	}
	if r, _ := d.Check("MRN-1", []string{bag1}, 0); r.GO && r.Calc.Required == 27_000_000 {
		t.Errorf("the bedside check is GO for %s cells on 27.0 kg, a weight no physician was shown (the patient weighs 72.0 kg)", r.Calc.Required)
	}
}
