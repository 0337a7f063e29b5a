package dose

import (
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// review17 finding C (low): WithinTolerance says it compares "exactly" and
// README (Dosing) says "the tolerance is judged on the exact cells", but it compares the given cells rounded to a whole cell. 20.0
// mL of a 50.0 mL bag holding 139,499,999 viable cells is exactly
// 55,799,999.6 cells, below 90 % of 62.0 kg × 1×10^6 (55,800,000): outside
// -10 %. Rounded it is 55,800,000 and passes, and the bedside shows the dose
// "-10.0 % … (tolerance -10.0 %/+10.0 %)", GO, on a dose outside the
// tolerance it states. The amount is a fraction of a cell, but the rule
// the two signers attest to is a hard limit, and deviationOutside exists so
// that "a rounded number never contradicts the check it explains".
// Expected: the comparison on the exact cells drawn (as Calculate keeps
// them), NO-GO here.
func TestReview17ToleranceComparesTheRoundedDose(t *testing.T) {
	p := Builtins()[0] // sle-uc-d0d7: 1×10^6/kg, ±10 %
	src := Source{Container: lot.Container{ID: uuid.New(), VolumeML: 500, Cells: 150_000_000, ViableCells: 139_499_999}, Lot: lot.Lot{Viability: 950}}
	c := Calculate(p, 1, 62_000, []Source{src}, 200)
	if c.Required != 62_000_000 || c.Volume != 200 {
		t.Fatalf("setup: required %d in %s mL", c.Required, c.Volume)
	}
	// exactly 200 × 139,499,999 ÷ 500 = 55,799,999.6 cells
	if WithinTolerance(p, c) {
		t.Errorf("20.0 mL of 139,499,999 cells in 50.0 mL is 55,799,999.6 cells, %s from 62,000,000 by the report: WithinTolerance says inside -10 %% (it compares the rounded %d); want outside, compared exactly", FormatDeviation(c.Deviation), c.Given)
	}
}
