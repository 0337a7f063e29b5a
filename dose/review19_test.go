package dose

import (
	"strings"
	"testing"
)

// review19 finding F (fix17a, review 17 C): the dose cap is judged on the
// exact cells drawn, and when Given rounds onto the cap the NO-GO adds
// "(exactly N cells)" — printed with FloatString(1), so a dose 0.024 of a
// cell above the cap reads "1.00×10^8 (exactly 100000000.0 cells) is above
// the cap of 1.00×10^8": the number that explains the NO-GO says the dose
// is on the cap, not above it (issue 12: a rounded number must never
// contradict the check it explains; percentBeside exists for the
// tolerance, the cap got none). Steps: a 100.0 kg patient at 1×10^6/kg
// capped at 1×10^8, one bag of 114,416,476 viable cells in 50.0 mL, the
// nurse states 43.7 mL: 437 × 114,416,476 ÷ 500 = 100,000,000.024 cells.
// Expected: the exact figure printed with as many decimals as it takes to
// read above the cap (100000000.03, or "0.024 cells above").
func TestReview19CapNoGoPrintsTheExactDoseOnTheCap(t *testing.T) {
	f := goodFacts(t)
	p := *f.Protocol
	p.CapCells = 100_000_000
	f.Protocol = &p
	f.Weights[0].Grams = 100_000
	c := &f.Containers[0].Container
	c.ViableCells, c.Cells = 114_416_476, 114_416_476
	f.Volume = 437
	r := Check(f)
	var cap *Result
	for i := range r.Checks {
		if r.Checks[i].Name == "dose cap" {
			cap = &r.Checks[i]
		}
	}
	if cap == nil || cap.OK {
		t.Fatalf("setup: 100,000,000.024 cells against a cap of 1×10^8 is not refused by the cap: %+v", r.Checks)
	}
	if strings.Contains(cap.Detail, "exactly 100000000.0 cells") || !strings.Contains(cap.Detail, "exactly") {
		t.Errorf("the cap's NO-GO explains itself with a number on the cap: %q", cap.Detail)
	}
	// 100,000,000.024 to two decimals is 100000000.02, above the cap: no
	// more decimals than it takes.
	if !strings.Contains(cap.Detail, "(exactly 100000000.02 cells) is above the cap") {
		t.Errorf("the cap's NO-GO does not print the exact dose to the fewest decimals that read above the cap: %q", cap.Detail)
	}
}
