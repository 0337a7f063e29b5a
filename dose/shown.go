package dose

import (
	"fmt"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Shown is the dose a GO bedside check showed the two people who sign: the
// weight record it rests on, the volume to draw and the viable cells in
// it. The signatures bind what was shown, not what is computed when they
// are given: a weight recorded or a bag recounted between the check and
// the signatures changes the dose, and the infusion must then be refused
// rather than recorded as a dose nobody drew up (review 6).
//
// A zero field is not compared. The bedside page and the API carry all
// three; the command line carries the volume the nurse drew up (`dose
// administer --checked-ml`), the one number of the check she holds in her
// hand.
type Shown struct {
	// WeightID is the weight record the dose was computed on. The record,
	// not its value: the page shows "62.0 kg, measured … by …" and the
	// signed infusion stores the record's id, so a re-weighing is a new
	// dose to check even when it happens to give the same volume.
	WeightID uuid.UUID
	// Volume is the total volume to draw, to 0.1 mL: what the nurse draws up.
	Volume lot.Tenths
	// Cells is the viable cells given in that volume: what the record says
	// was given.
	Cells lot.Cells
}

// IsZero reports whether nothing shown is carried (nothing to compare).
func (s Shown) IsZero() bool { return s == Shown{} }

// ShownBy is the dose a report shows: what the sign form of a GO check
// carries back. It is zero for a report without a dose.
func ShownBy(r Report) Shown {
	if r.Calc.Infusion == 0 || r.Weight.ID == uuid.Nil {
		return Shown{}
	}
	return Shown{WeightID: r.Weight.ID, Volume: r.Calc.Volume, Cells: r.Calc.Given}
}

// howChecked says what to type for a checked volume.
const howChecked = "type the volume the bedside check showed after \"draw\", in mL to 0.1 mL, the number alone (for example 34.1)"

// howStated says what to give for a volume stated as infused.
const howStated = "give the volume to draw in mL to 0.1 mL, the number alone (for example 34.1), or leave it out for the computed volume"

// ParseCheckedVolume reads the volume the nurse drew up as the check showed
// it (`dose administer --checked-ml`): mL to 0.1 mL, more than 0. Zeros after
// the first decimal change nothing (34.10 is 34.1); every refusal names the
// flag, the value and what to type.
func ParseCheckedVolume(field, s string) (lot.Tenths, error) {
	return parseVolume(field, s, howChecked)
}

// ParseVolume reads a volume stated as infused instead of the computed one
// (`dose check|administer --volume-ml`, the bedside page's and the API's
// volume_ml) by the rules of ParseCheckedVolume: the command line, the page
// and the API refuse the same values in the same words.
func ParseVolume(field, s string) (lot.Tenths, error) {
	return parseVolume(field, s, howStated)
}

// parseVolume reads mL to 0.1 mL, at least 0.1 mL, by lot's one parser of
// exact decimals; how says what to give. A negative number is a number:
// it is refused as below the least volume, not as "not a number".
func parseVolume(field, s, how string) (lot.Tenths, error) {
	v, err := lot.Decimal{Places: 1, Min: 1, Unit: "mL", How: how}.Parse(field, s)
	return lot.Tenths(v), err
}

// checkShown compares the dose computed now (on weight w) with the dose
// shown at the check: the "dose as shown" check of the bedside check. draw
// is the volume the check shows after "draw" (computed, whatever volume is
// stated); infused the volume stated as infused (`--volume-ml`), 0 when none.
// The volume typed alone (`--checked-ml`) is what the nurse drew up, so it is
// held to draw; a different volume infused is judged by the dose tolerance
// (the "dose" check), not here (review 8).
func checkShown(s Shown, w lot.Weight, c Calculation, draw, infused lot.Tenths, zone *time.Location) Result {
	r := Result{Name: "dose as shown"}
	if s.WeightID == uuid.Nil && s.Cells == 0 && infused > 0 {
		if s.Volume == draw {
			r.OK, r.Detail = true, fmt.Sprintf("drawn up %s mL, as the check showed; %s infused, on %s measured %s by %s",
				draw, cellsIn(c.Given, c.Volume), w.Grams, lot.FormatTimeIn(w.MeasuredAt, zone), w.RecordedBy)
			return r
		}
		r.Detail = fmt.Sprintf("the volume drawn up (%s mL) does not match the check's: it shows draw %s mL on %s measured %s by %s (a volume mistyped, or a dose changed since your check: a new weight or count); the volume infused is %s mL",
			s.Volume, draw, w.Grams, lot.FormatTimeIn(w.MeasuredAt, zone), w.RecordedBy, infused)
		r.Fix, r.Command = "nothing was signed; check the dose again, and give the volume it shows after \"draw\" as the volume drawn up and the volume infused as it was", "dose check"
		return r
	}
	var then []string
	if s.Cells != 0 || s.Volume != 0 {
		then = append(then, cellsIn(s.Cells, s.Volume))
	}
	now := fmt.Sprintf("%s on %s measured %s by %s", cellsIn(c.Given, c.Volume), w.Grams, lot.FormatTimeIn(w.MeasuredAt, zone), w.RecordedBy)
	weightChanged := s.WeightID != uuid.Nil && s.WeightID != w.ID
	if !weightChanged && (s.Volume == 0 || s.Volume == c.Volume) && (s.Cells == 0 || s.Cells == c.Given) {
		r.OK, r.Detail = true, now+", as the check showed"
		return r
	}
	if weightChanged {
		then = append(then, "on another weight record")
		r.Detail = fmt.Sprintf("the dose changed since the check (weight %s measured %s by %s is the latest): it is now %s; the check showed %s",
			w.Grams, lot.FormatTimeIn(w.MeasuredAt, zone), w.RecordedBy, cellsIn(c.Given, c.Volume), strings.Join(then, " "))
	} else if s.WeightID == uuid.Nil && s.Cells == 0 {
		// The volume typed alone (`dose administer --checked-ml`): a
		// mistyped volume and a dose changed since the check read alike.
		r.Detail = fmt.Sprintf("the volume given (%s mL) does not match the check's: the dose now is %s (a volume mistyped, or a dose changed since your check: a new weight or count)", s.Volume, now)
		r.Fix = "nothing was signed; check the dose again, draw up the volume it shows after \"draw\" and give that as the volume given"
		return r
	} else {
		r.Detail = fmt.Sprintf("the dose changed since the check: it is now %s; the check showed %s", now, strings.Join(then, " "))
	}
	r.Fix = "check again and sign the dose that check shows; nothing was signed"
	return r
}

// cellsIn words a dose as the bedside shows it; a zero part was not shown.
func cellsIn(cells lot.Cells, v lot.Tenths) string {
	switch {
	case cells == 0:
		return fmt.Sprintf("%s mL", v)
	case v == 0:
		return fmt.Sprintf("%s cells", cells)
	}
	return fmt.Sprintf("%s cells in %s mL", cells, v)
}

// WeightShown is the weight a physician confirms (`dose confirm-weight`,
// MeaningConfirmWeight), as it was shown to them: the weight record (ID),
// its value (Grams), or both. The confirmation signs that weight and no
// other: a weight recorded between the NO-GO the physician read and the
// signature — a colleague's re-weighing, a transposed 72.0 typed as 27.0 —
// is not confirmed in its place (review 17). The API carries the record's
// id (and may carry the value); the command line carries the value, the one
// number of the check a physician at a terminal can type (`--kg 72.0`):
// the signature's meaning is that value ("confirmed the weight 72.0 kg of
// MRN-1"), so the same value entered again is the weight the physician
// attests to.
type WeightShown struct {
	ID    uuid.UUID
	Grams lot.Grams
}

// howKgShown says what to give for the weight a confirmation names.
const howKgShown = "type the weight as the check showed it, in kg, the number alone (for example 72.0)"

// ParseKgShown reads the value of the weight a physician confirms (`dose
// confirm-weight --kg`, the API's Kg): kg to the gram, so that any weight
// kept can be named (weights are kept to 10 g, some older ones to the gram).
func ParseKgShown(field, s string) (lot.Grams, error) {
	g, err := lot.Decimal{Places: 3, Min: 1, Unit: "kg", How: howKgShown}.Parse(field, s)
	return lot.Grams(g), err
}

// CheckWeightShown refuses a confirmation of latest, the patient's latest
// weight, unless it is the weight the physician named: EUSAGE (field
// "weight") when s names none, ECONFLICT (field "weight") when latest is
// another record or value, saying which weight is the latest now, so the
// physician reviews it and confirms again.
func CheckWeightShown(s WeightShown, latest lot.Weight, mrn string) error {
	if s == (WeightShown{}) {
		return lot.FieldErrorf("weight", lot.EUSAGE, "the confirmation does not name the weight you confirm; give the weight the check showed you, in kg — nothing was signed")
	}
	if (s.ID == uuid.Nil || s.ID == latest.ID) && (s.Grams == 0 || s.Grams == latest.Grams) {
		return nil
	}
	named := "weight record " + s.ID.String()
	if s.Grams != 0 {
		named = s.Grams.String()
	}
	return lot.FieldErrorf("weight", lot.ECONFLICT, "the latest weight of %s is now %s measured %s, recorded by %s — not the %s you named; nothing was signed: review it and confirm again",
		mrn, latest.Grams, lot.FormatTime(latest.MeasuredAt), latest.RecordedBy, named).Run("dose check")
}

// CheckWeightConfirmation checks a physician's confirmation of the
// patient's latest weight, named as shown, against what the bedside check
// makes of that weight (f's Now, Weights, ConfirmedWeights and
// UsedWeights, as Check reads them), and returns that weight. It refuses,
// with ECONFLICT on field "weight" and nothing signed: no weight at all;
// a latest weight other than the one named (CheckWeightShown); one already
// confirmed; and a confirmation no check needs — the weight an earlier
// infusion was given on (accepted for dosing), the patient's first weight
// (there is no change to confirm) or a weight within 10 % of the one its
// change is measured from (referenceWeight). A signature that lets nothing
// through would read, in a trace or an audit, as a physician's decision
// that a 10 % change is real when there was none. Front ends run it (the
// service's CheckConfirmWeight) before they read the password, and the
// store again in the writing transaction (ConfirmWeight).
func CheckWeightConfirmation(s WeightShown, f Facts, mrn string) (lot.Weight, error) {
	w, idx, ok := LatestWeight(f.Weights, f.Now)
	if !ok {
		return w, lot.FieldErrorf("weight", lot.ECONFLICT, "patient %s has no weight to confirm; weigh first", mrn).Run("patient weigh")
	}
	if err := CheckWeightShown(s, w, mrn); err != nil {
		return w, err
	}
	what := fmt.Sprintf("the weight %s of %s measured %s", w.Grams, mrn, lot.FormatTime(w.MeasuredAt))
	if f.ConfirmedWeights[w.ID] {
		return w, lot.FieldErrorf("weight", lot.ECONFLICT, "%s is already confirmed; nothing was signed", what)
	}
	if f.UsedWeights[w.ID] {
		return w, lot.FieldErrorf("weight", lot.ECONFLICT, "%s needs no confirmation: an earlier infusion was given on it, which accepted it for dosing; nothing was signed", what)
	}
	ref, from := referenceWeight(f, idx)
	switch {
	case ref.Grams == 0:
		return w, lot.FieldErrorf("weight", lot.ECONFLICT, "%s needs no confirmation: it is the patient's first weight, so there is no change to confirm, and the bedside check doses on it as it is; nothing was signed", what)
	case !WeightChangeTooLarge(ref.Grams, w.Grams):
		return w, lot.FieldErrorf("weight", lot.ECONFLICT, "%s needs no confirmation: it is %s since %s measured %s (%s), within 10 %%, and the bedside check doses on it as it is; a physician confirms a weight only when `dose check` fails \"weight change\" — nothing was signed",
			what, FormatWeightChange(ref.Grams, w.Grams), ref.Grams, lot.FormatTime(ref.MeasuredAt), from).Run("dose check")
	}
	return w, nil
}
