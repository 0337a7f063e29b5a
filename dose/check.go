package dose

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// WeightChangeConfirmTenths is the change since the last weight accepted for
// dosing (see referenceWeight), in 0.1 %,
// above which a physician must confirm the new weight before it doses anyone
// (issue 4: "a change of more than 10 % … needs a physician's confirmation").
const WeightChangeConfirmTenths = 100

// Candidate is a container offered at the bedside, with its history.
type Candidate struct {
	Source
	// Infused lists infusions already recorded with this container, so
	// that a second administration of it (a double click, a form sent
	// again, the API called twice) is told what happened: when, by whom,
	// into whom.
	Infused []Infusion
	// DispensedAt is when the container was last dispensed (zero if never).
	DispensedAt time.Time
	// ViabilityFloor is the viability floor (0.1 %) of the specification
	// the lot was released against, named by FloorSpec ("isct-uc-msc v1");
	// zero when the lot has no release or its specification no floor.
	ViabilityFloor lot.Tenths
	FloorSpec      string
	// FloorWaived, when not "", says which exceptional release accepted the
	// lot below that floor: a post-thaw viability under it is then shown,
	// not a hard stop.
	FloorWaived string
	// UsedIn are the zones of the places the bag is used (its site's and
	// the course's, as dispensing counts them): its lot expires at the
	// first 00:00 of its expiry date among them and the facility's.
	UsedIn []*time.Location
}

// Facts are everything the bedside check looks at, read in one transaction.
type Facts struct {
	Now time.Time
	// Zone is the time zone of the site that treats the patient: "today"
	// and every time the nurse reads are local there.
	Zone    *time.Location
	Patient lot.Patient
	// Protocol and Schedule are nil when the patient has no active course.
	Protocol *Protocol
	Schedule *Schedule
	Entries  []Entry
	// IndexLacks and IndexExtra are the active course's (Course): the
	// infusions the audited schedule records that the index lacks, and
	// those the index lists that the schedule does not.
	IndexLacks []GivenInfusion
	IndexExtra []GivenInfusion
	// Weights are the patient's weights, oldest measurement first;
	// ConfirmedWeights holds the ids of weights a physician confirmed, and
	// UsedWeights those an earlier infusion of this patient was given with:
	// together, the weights accepted for dosing.
	Weights          []lot.Weight
	ConfirmedWeights map[uuid.UUID]bool
	UsedWeights      map[uuid.UUID]bool
	Containers       []Candidate
	Refs             []string   // the container references as typed, to name duplicates
	Volume           lot.Tenths // infused volume, when the nurse gives one
	// OldCopy, when not "", says the database was migrated away
	// (store.MigratedMark.BedsideNote): its check is NO-GO.
	OldCopy string
	// Shown is the dose the check before the signatures showed (zero: none
	// carried); a dose computed now that differs fails "dose as shown".
	Shown Shown
}

// IndexDisagreement says how the infusion index disagrees with the audited
// schedule: the infusions it lacks, and those it lists that the schedule
// does not record.
func IndexDisagreement(lacks, extra []GivenInfusion) string {
	name := func(gs []GivenInfusion) string {
		var ns []string
		for _, g := range gs {
			ns = append(ns, fmt.Sprintf("infusion %d (%s)", g.Number, g.InfusionID))
		}
		return strings.Join(ns, ", ")
	}
	var parts []string
	if len(lacks) > 0 {
		parts = append(parts, "it lacks "+name(lacks))
	}
	if len(extra) > 0 {
		parts = append(parts, "it lists "+name(extra)+", which the schedule does not record")
	}
	return "the database's index disagrees with the audited schedule (" + strings.Join(parts, "; ") + ")"
}

// Result is one named check and how it came out.
type Result struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // what to do when it failed
	// Command is the celltrack command that does Fix, where one does
	// ("patient weigh"). Fix itself names no front end's syntax: the
	// command line prints the command after it, a web page shows Fix
	// alone (issue 11).
	Command string `json:"command,omitempty"`
}

// Report is the outcome of the bedside check.
type Report struct {
	GO     bool
	Checks []Result
	Entry  Entry       // the infusion due (zero when none)
	Calc   Calculation // zero when there was nothing to calculate
	Weight lot.Weight  // the weight used
	// Zone is the zone of the site that treats the patient (Facts.Zone):
	// the report's times are local there.
	Zone *time.Location
	// Repeat, when not "", says that a bag offered was already infused
	// into this patient — the same administration sent twice — with when,
	// by whom and the infusion's id. It heads the NO-GO, before the checks
	// that fail only because of it (the infusion is no longer due).
	Repeat  string
	repeats []int // the checks that say so, moved first by finish
}

// Failed returns the failed checks.
func (r Report) Failed() []Result {
	var fs []Result
	for _, c := range r.Checks {
		if !c.OK {
			fs = append(fs, c)
		}
	}
	return fs
}

// Err returns nil for GO, and for NO-GO an ENOGO error naming every failed
// check and what to do.
func (r Report) Err() error {
	fs := r.Failed()
	if len(fs) == 0 {
		return nil
	}
	var b strings.Builder
	if r.Repeat != "" {
		fmt.Fprintf(&b, "NO-GO: %s; %d check(s) failed:", r.Repeat, len(fs))
	} else {
		fmt.Fprintf(&b, "NO-GO: do not infuse; %d check(s) failed:", len(fs))
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  - %s: %s; %s", f.Name, f.Detail, f.Fix)
	}
	return lot.Errorf(lot.ENOGO, "%s", b.String())
}

// LatestWeight returns the weight that counts now: the one measured last
// (lot.Weight.Counted) at or before now, counting a weight dated up to
// lot.ClockSkew after now as measured now: `patient weigh --at` accepts
// such a time (another device's clock runs ahead), and the patient's newest
// weight must dose the patient from the moment it is recorded. Skipping it
// for those minutes gave a GO on the older weight that turned NO-GO (or
// another dose) minutes later. A weight dated ahead counts as measured when
// it was recorded, so a correction measured and recorded after it wins at
// once; of two that count as measured at the same time, the one recorded
// later wins.
func LatestWeight(ws []lot.Weight, now time.Time) (lot.Weight, int, bool) {
	idx := -1
	for i, w := range ws {
		if w.Counted().After(now.Add(lot.ClockSkew)) {
			continue
		}
		if idx < 0 || laterWeight(w, ws[idx]) {
			idx = i
		}
	}
	if idx < 0 {
		return lot.Weight{}, -1, false
	}
	return ws[idx], idx, true
}

// SortWeights orders a patient's weights as they count, oldest first: by
// Counted (a weight dated ahead of when it was recorded counts as recorded
// then), as LatestWeight picks the last, so that a list of weights ends with
// the one that doses (review 8).
func SortWeights(ws []lot.Weight) {
	slices.SortStableFunc(ws, func(a, b lot.Weight) int {
		switch {
		case laterWeight(a, b) && !laterWeight(b, a):
			return 1
		case laterWeight(b, a) && !laterWeight(a, b):
			return -1
		}
		return 0
	})
}

// laterWeight reports whether a counts after b: measured later (Counted),
// or at the same time and recorded later (then by id, UUIDv7 in the order
// they were stored).
func laterWeight(a, b lot.Weight) bool {
	ac, bc := a.Counted(), b.Counted()
	switch {
	case !ac.Equal(bc):
		return ac.After(bc)
	case !a.RecordedAt.Equal(b.RecordedAt):
		return a.RecordedAt.After(b.RecordedAt)
	}
	return bytes.Compare(a.ID[:], b.ID[:]) >= 0
}

// WeightChangeTooLarge reports whether cur differs from prev by more than
// WeightChangeConfirmTenths, compared exactly rather than on the rounded
// percentage: 68.23 kg after 62.0 kg is +10.048 %, more than 10 %, though it
// rounds to +10.0 %.
func WeightChangeTooLarge(prev, cur lot.Grams) bool {
	d := int64(cur - prev)
	if d < 0 {
		d = -d
	}
	return d*1000 > WeightChangeConfirmTenths*int64(prev)
}

// FormatWeightChange prints the change from prev to cur as a signed
// percentage to 0.1 %, or with as many more decimals (up to 6, enough for
// weights kept to the gram) as it takes for the number shown to fall on the
// same side of the 10 % limit as the exact change: +10.0 % is within it,
// +10.05 % (+10.048 %) is not.
func FormatWeightChange(prev, cur lot.Grams) string {
	return percentBeside(big.NewRat(int64(cur-prev)*100, int64(prev)), big.NewRat(WeightChangeConfirmTenths, 10), WeightChangeTooLarge(prev, cur))
}

// percentBeside prints exact, a signed percentage, as decimalBeside does.
func percentBeside(exact, limit *big.Rat, over bool) string {
	s := decimalBeside(exact, limit, over)
	if exact.Sign() > 0 {
		s = "+" + s
	}
	return s + " %"
}

// decimalBeside prints exact to one decimal, or with as many more decimals
// as it takes for the number shown to fall on the same side of limit (in
// magnitude) as the verdict: beyond it when over, within it otherwise. A
// rounded number must never contradict the check it explains (issue 12). A
// dose a fraction of a cell outside its tolerance is a few parts in 10^10
// beyond it (review 17), so the decimals are not capped at six; 30 is past
// any exact fraction of cells, mL and grams celltrack keeps. It serves the
// tolerance's percentages and the cap's exact cells (review 19 F).
func decimalBeside(exact, limit *big.Rat, over bool) string {
	s := exact.FloatString(1)
	for places := 2; places <= 30; places++ {
		shown, _ := new(big.Rat).SetString(s)
		if (new(big.Rat).Abs(shown).Cmp(limit) > 0) == over {
			break
		}
		s = exact.FloatString(places)
	}
	return s
}

// deviationOutside prints the deviation of given from required for a dose
// outside p's tolerance, so that it reads outside: -10.04 % against a
// tolerance of -10 % is shown -10.04 %, never -10.0 %. given is exact (the
// cells drawn, Calculation.ExactGiven, or the cells the bags hold).
func deviationOutside(p Protocol, given *big.Rat, required lot.Cells) string {
	if required <= 0 {
		return FormatDeviation(0)
	}
	exact := new(big.Rat).Sub(given, big.NewRat(int64(required), 1))
	exact.Mul(exact, big.NewRat(100, int64(required)))
	limit := big.NewRat(int64(p.TolerancePlus), 10)
	if exact.Sign() < 0 {
		limit = big.NewRat(int64(p.ToleranceMinus), 10)
	}
	return percentBeside(exact, limit, new(big.Rat).Abs(exact).Cmp(limit) > 0)
}

// Check runs every bedside check (issue 4, "Bedside check") and never stops
// at the first failure: the nurse sees them all.
func Check(f Facts) Report {
	r := Report{Zone: f.Zone}
	add := func(name string, ok bool, detail, fix string) {
		r.Checks = append(r.Checks, Result{Name: name, OK: ok, Detail: detail, Fix: fix})
	}
	// fail adds a failed check whose fix a celltrack command does.
	fail := func(name, detail, fix, command string) {
		r.Checks = append(r.Checks, Result{Name: name, Detail: detail, Fix: fix, Command: command})
	}
	p := f.Patient
	// Patient and schedule.
	if f.Schedule == nil || f.Protocol == nil {
		fail("patient scheduled", fmt.Sprintf("patient %s (%s) has no active treatment schedule", p.MRN, p.Name),
			"check the wristband; a physician creates a schedule", "schedule create")
	} else {
		add("patient scheduled", true, fmt.Sprintf("patient %s (%s) is on %s v%d, course %d", p.MRN, p.Name, f.Protocol.Name, f.Protocol.Version, f.Schedule.Course), "")
	}
	if f.OldCopy != "" {
		add("database", false, f.OldCopy, "do not infuse on this check; run the bedside check on the database the site works on now")
	}
	if len(f.IndexLacks) > 0 || len(f.IndexExtra) > 0 {
		fail("infusions on record", IndexDisagreement(f.IndexLacks, f.IndexExtra),
			"do not infuse; contact the administrator, who checks the database", "check")
	}
	// Containers.
	if len(f.Containers) == 0 {
		add("container", false, "no container given", "scan the label of each bag")
	}
	seen := map[uuid.UUID]bool{}
	for i, c := range f.Containers {
		code, l := c.Container.Code(), c.Lot
		name := func(s string) string { return s + " " + code }
		if seen[c.Container.ID] {
			add(name("container given once"), false, fmt.Sprintf("container %s is named twice (%s)", code, f.Refs[i]), "name each bag once")
			continue
		}
		seen[c.Container.ID] = true
		// The lot rules are the ones dispensing applies (lot.CheckLotUse),
		// in the zones dispensing counts them in (UsedIn): a lot
		// re-quarantined or expired after dispensing fails here.
		for _, u := range lot.CheckLotUse(l, p, f.Now, c.UsedIn...) {
			add(name(u.Name), u.OK, u.Detail, u.Fix)
		}
		if f.Protocol != nil && l.Source != f.Protocol.Product {
			add(name("product"), false, fmt.Sprintf("lot %s is %s but protocol %s prescribes %s", l.Number, l.Source.Product(), f.Protocol.Name, f.Protocol.Product.Product()), "use a bag of the prescribed product")
		}
		ct := c.Container
		switch {
		case len(c.Infused) > 0 && c.Infused[0].PatientID == p.ID:
			// The same bag into the same patient again: this infusion
			// is recorded. Said first, and as what it is, not as the
			// schedule or the dose that no longer fits because of it.
			in := c.Infused[0]
			what := fmt.Sprintf("bag %s was already infused into patient %s at %s by %s (%s), witness %s, infusion %s",
				code, p.MRN, lot.FormatTimeIn(in.Start, f.Zone), in.Nurse.FullName, in.Nurse.User, in.Witness.User, in.ID)
			if r.Repeat == "" {
				r.Repeat = what + "; do not infuse it again"
			}
			r.repeats = append(r.repeats, len(r.Checks))
			add(name("container not used"), false, what, "STOP: do not infuse again; this infusion is already recorded (a second click or a form sent twice records nothing more); see the patient's trace")
		case len(c.Infused) > 0 || ct.State == lot.Infused:
			add(name("container not used"), false, fmt.Sprintf("container %s was already infused", code), "STOP: a bag is infused once; scan the right bag")
		case ct.State == lot.Discarded:
			add(name("container not used"), false, fmt.Sprintf("container %s was discarded", code), "do not use a discarded bag")
		case ct.State == lot.Thawed:
			fail(name("container dispensed"), fmt.Sprintf("container %s is thawed but not dispensed", code), "dispense the bag for this patient first", "container dispense")
		case ct.State != lot.Dispensed:
			fail(name("container dispensed"), fmt.Sprintf("container %s is %s, not thawed and dispensed", code, ct.State), "thaw and dispense the bag for this patient first", "container dispense")
		case ct.PatientID != p.ID:
			add(name("container dispensed"), false, fmt.Sprintf("container %s was dispensed for another patient, not %s", code, p.MRN), "STOP: wrong bag for this patient; return it to the pharmacy")
		case f.Now.Before(c.DispensedAt):
			// A back-dated --start cannot put the infusion before the hand-over.
			add(name("container dispensed"), false, fmt.Sprintf("the infusion start %s is before container %s was dispensed at %s", lot.FormatTimeIn(f.Now, f.Zone), code, lot.FormatTimeIn(c.DispensedAt, f.Zone)),
				"give the real start time of the infusion")
		default:
			add(name("container dispensed"), true, fmt.Sprintf("container %s was dispensed for %s", code, p.MRN), "")
		}
		if f.Protocol != nil {
			limit := time.Duration(f.Protocol.MaxThawMinutes) * time.Minute
			switch {
			case ct.ThawedAt.IsZero():
				add(name("thaw window"), false, fmt.Sprintf("container %s has no thaw time", code), "thaw the bag and record it")
			case f.Now.Before(ct.ThawedAt):
				// A back-dated --start before the thaw would read as inside any window.
				add(name("thaw window"), false, fmt.Sprintf("the infusion start %s is before the bag was thawed at %s", lot.FormatTimeIn(f.Now, f.Zone), lot.FormatTimeIn(ct.ThawedAt, f.Zone)),
					"give the real start time of the infusion")
			case f.Now.Sub(ct.ThawedAt) > limit:
				add(name("thaw window"), false, fmt.Sprintf("thawed %s, %s ago; the limit is %s", lot.FormatTimeIn(ct.ThawedAt, f.Zone), minutes(f.Now.Sub(ct.ThawedAt)), minutes(limit)),
					"do not infuse; discard the bag and thaw another")
			default:
				add(name("thaw window"), true, fmt.Sprintf("thawed %s, %s ago (limit %s)", lot.FormatTimeIn(ct.ThawedAt, f.Zone), minutes(f.Now.Sub(ct.ThawedAt)), minutes(limit)), "")
			}
		}
		if !ct.ThawedAt.IsZero() {
			// The cells that thawed badly are not a product that passed
			// release: the floor QA released the lot against holds at the bedside.
			switch {
			case c.FloorSpec == "":
				add(name("post-thaw viability"), true, fmt.Sprintf("%s %% viable after thaw (no viability floor in the lot's release)", ct.ThawViability), "")
			case ct.ThawViability < c.ViabilityFloor && c.FloorWaived != "":
				add(name("post-thaw viability"), true, fmt.Sprintf("%s %% viable after thaw, below the floor of %s %% of %s: %s", ct.ThawViability, c.ViabilityFloor, c.FloorSpec, c.FloorWaived), "")
			case ct.ThawViability < c.ViabilityFloor:
				add(name("post-thaw viability"), false, fmt.Sprintf("%s %% viable after thaw is below the floor of %s %% of %s, which lot %s was released against", ct.ThawViability, c.ViabilityFloor, c.FloorSpec, l.Number),
					"do not infuse; keep the bag and tell QA (a recount may be needed), and thaw another bag")
			default:
				add(name("post-thaw viability"), true, fmt.Sprintf("%s %% viable after thaw (floor %s %% of %s)", ct.ThawViability, c.ViabilityFloor, c.FloorSpec), "")
			}
		}
		if ct.ViableCells > 0 {
			add(name("post-thaw count"), true, fmt.Sprintf("%s viable cells counted after thaw", ct.ViableCells), "")
		} else {
			add(name("post-thaw count"), false, fmt.Sprintf("no post-thaw viable count for %s", code), "count viable cells after thaw and record them")
		}
		if c.EndotoxinFound {
			add(name("endotoxin result"), true, fmt.Sprintf("lot %s endotoxin %s EU/mL", l.Number, FormatEU(c.EndotoxinMilliEUPerML)), "")
		} else {
			add(name("endotoxin result"), false, fmt.Sprintf("no endotoxin result for lot %s", l.Number), "QC must record one before this lot is infused")
		}
	}
	if f.Protocol == nil {
		return finish(r)
	}
	pr := *f.Protocol
	// Schedule.
	if e, ok := DueEntry(f.Entries); ok {
		r.Entry = e
		add("infusion due", true, fmt.Sprintf("infusion %d of %d planned %s, window %s to %s", e.Number, len(f.Entries), lot.FormatDate(e.Date), lot.FormatDate(e.From), lot.FormatDate(e.To)), "")
	} else {
		n := Next(f.Entries)
		detail := fmt.Sprintf("no infusion is due today (%s in %s); infusion %d is %s, planned %s (window %s to %s)",
			lot.FormatDateIn(f.Now, f.Zone), lot.ZoneName(f.Zone), n.Number, n.Status, lot.FormatDate(n.Date), lot.FormatDate(n.From), lot.FormatDate(n.To))
		fail("infusion due", detail, "do not infuse today; a physician may move the date", "schedule change")
	}
	// Weight.
	w, idx, ok := LatestWeight(f.Weights, f.Now)
	r.Weight = w
	if !ok {
		fail("weight", "no weight recorded", "weigh the patient", "patient weigh")
		return finish(r)
	}
	age := f.Now.Sub(w.MeasuredAt)
	maxAge := time.Duration(pr.MaxWeightAgeDays) * 24 * time.Hour
	implausible := lot.CheckWeight("weight", w.Grams)
	switch {
	case implausible != nil:
		add("weight", false, lot.ErrorMessage(implausible), "re-weigh the patient")
	case age > maxAge:
		fail("weight", fmt.Sprintf("%s measured %s is %s old; %s allows %d days", w.Grams, lot.FormatTimeIn(w.MeasuredAt, f.Zone), daysOld(age), pr.Name, pr.MaxWeightAgeDays),
			"re-weigh the patient", "patient weigh")
	case age < 0:
		// Said, so that a time ahead of the clock is not read as a typo.
		add("weight", true, fmt.Sprintf("%s measured %s, %s ahead of now (another device's clock; the newest weight counts)", w.Grams, lot.FormatTimeIn(w.MeasuredAt, f.Zone), minutes(-age)), "")
	default:
		add("weight", true, fmt.Sprintf("%s measured %s", w.Grams, lot.FormatTimeIn(w.MeasuredAt, f.Zone)), "")
	}
	if ref, what := referenceWeight(f, idx); ref.Grams > 0 {
		ch := FormatWeightChange(ref.Grams, w.Grams)
		since := fmt.Sprintf("since %s on %s (%s)", ref.Grams, lot.FormatDateIn(ref.MeasuredAt, f.Zone), what)
		switch {
		case !WeightChangeTooLarge(ref.Grams, w.Grams):
			add("weight change", true, fmt.Sprintf("%s %s", ch, since), "")
		case f.ConfirmedWeights[w.ID]:
			add("weight change", true, fmt.Sprintf("%s %s, confirmed by a physician", ch, since), "")
		case f.UsedWeights[w.ID]:
			add("weight change", true, fmt.Sprintf("%s %s, accepted for an earlier infusion", ch, since), "")
		default:
			fail("weight change", fmt.Sprintf("%s is %s %s: more than 10 %%", w.Grams, ch, since),
				"a physician confirms this weight; entering the same weight again does not clear this (a corrected weight within 10 % of "+ref.Grams.String()+" does)", "dose confirm-weight")
		}
	}
	if len(f.Containers) == 0 {
		return finish(r)
	}
	n := r.Entry.Number
	if n == 0 {
		n = Next(f.Entries).Number
	}
	var srcs []Source
	once := map[uuid.UUID]bool{}
	for _, c := range f.Containers {
		if !once[c.Container.ID] { // a bag named twice is already a failed check
			once[c.Container.ID] = true
			srcs = append(srcs, c.Source)
		}
	}
	// A negative volume is a typing or wire error: Calculate reads a volume
	// of zero or less as "draw the computed volume", so it must not get
	// there quietly. It fails its own check; the dose is computed as if no
	// volume were given, so the nurse sees what to draw.
	volume := f.Volume
	if volume < 0 {
		add("volume", false, fmt.Sprintf("the infused volume %s mL is negative", volume), "give the volume actually infused, or none to draw the computed volume")
		volume = 0
	}
	calc := Calculate(pr, n, w.Grams, srcs, volume)
	r.Calc = calc
	tol := fmt.Sprintf("-%s %%/+%s %%", pr.ToleranceMinus, pr.TolerancePlus)
	switch {
	case !WithinTolerance(pr, calc) && calc.Short:
		add("dose", false, fmt.Sprintf("the bags hold %s viable cells, %s fewer than the %s required (%s), outside %s",
			calc.Held, calc.Required-calc.Held, calc.Required, deviationOutside(pr, big.NewRat(int64(calc.Held), 1), calc.Required), tol),
			"dispense another bag for this patient and scan every bag")
	case !WithinTolerance(pr, calc):
		fail("dose", fmt.Sprintf("%s in %s mL is %s from the required %s, outside %s", calc.Given, calc.Volume, deviationOutside(pr, calc.ExactGiven(), calc.Required), calc.Required, tol),
			"draw the computed volume or ask the physician", "dose calc")
	default:
		add("dose", true, fmt.Sprintf("%s in %s mL, %s from %s (tolerance %s)", calc.Given, calc.Volume, FormatDeviation(calc.Deviation), calc.Working, tol), "")
	}
	if f.Volume > calc.Volume {
		add("volume", false, fmt.Sprintf("the volume %s mL is more than the bags hold (%s mL)", f.Volume, calc.Volume), "give the volume actually infused")
	}
	for _, d := range calc.Draws {
		if d.Draw == 0 && d.Viable > 0 {
			add("container needed "+d.Code, false, fmt.Sprintf("the dose is complete without container %s", d.Code),
				"leave this bag out of the infusion and return it")
		}
	}
	if pr.CapCells > 0 {
		// Judged on the exact cells drawn, as the tolerance is: a dose a
		// fraction of a cell above the cap rounds onto it (review 17).
		// The exact figure is printed with as many decimals as it takes
		// to read above the cap (review 19 F).
		capCells := big.NewRat(int64(pr.CapCells), 1)
		if exact := calc.ExactGiven(); exact.Cmp(capCells) > 0 {
			given := calc.Given.String()
			if calc.Given <= pr.CapCells {
				given += " (exactly " + decimalBeside(exact, capCells, true) + " cells)"
			}
			add("dose cap", false, fmt.Sprintf("%s is above the cap of %s per infusion", given, pr.CapCells), "draw less; the cap is a hard limit")
		} else {
			add("dose cap", true, fmt.Sprintf("under the cap of %s", pr.CapCells), "")
		}
	}
	if !f.Shown.IsZero() {
		r.Checks = append(r.Checks, checkShown(f.Shown, w, calc, Calculate(pr, n, w.Grams, srcs, 0).Volume, volume, f.Zone))
	}
	if calc.EndotoxinKnown {
		lim := pr.EndotoxinMilliEUPerKgH
		if calc.EndotoxinMilliEUPerKgH > lim {
			add("endotoxin dose", false, fmt.Sprintf("%s EU/kg/h is above the limit of %s EU/kg/h (USP <85>)", FormatEU(calc.EndotoxinMilliEUPerKgH), FormatEU(lim)), "do not infuse; ask QA")
		} else {
			add("endotoxin dose", true, fmt.Sprintf("%s EU/kg/h, limit %s EU/kg/h (USP <85>, over %d min counted as at least 1 h)", FormatEU(calc.EndotoxinMilliEUPerKgH), FormatEU(lim), pr.InfusionMinutes), "")
		}
	}
	return finish(r)
}

func finish(r Report) Report {
	r.GO = len(r.Failed()) == 0
	if len(r.repeats) > 0 {
		// What happened first; what fails because of it after.
		first := make([]Result, 0, len(r.Checks))
		rest := make([]Result, 0, len(r.Checks))
		at := map[int]bool{}
		for _, i := range r.repeats {
			at[i] = true
		}
		for i, c := range r.Checks {
			if at[i] {
				first = append(first, c)
			} else {
				rest = append(rest, c)
			}
		}
		r.Checks, r.repeats = append(first, rest...), nil
	}
	return r
}

// referenceWeight is the weight a change of ws[idx] is measured from: the
// latest weight measured before it that was accepted for dosing (an earlier
// infusion of the patient was given with it, or a physician confirmed it),
// else the patient's first weight. Never simply the weight before: a changed
// weight entered twice would then compare with itself and pass, and small
// steps could add up to any change unseen.
func referenceWeight(f Facts, idx int) (lot.Weight, string) {
	cur := f.Weights[idx]
	var ref, first lot.Weight
	for i, w := range f.Weights {
		if i == idx || laterWeight(w, cur) {
			continue
		}
		if first.MeasuredAt.IsZero() || w.MeasuredAt.Before(first.MeasuredAt) {
			first = w
		}
		if (f.UsedWeights[w.ID] || f.ConfirmedWeights[w.ID]) && (ref.MeasuredAt.IsZero() || w.MeasuredAt.After(ref.MeasuredAt)) {
			ref = w
		}
	}
	switch {
	case ref.Grams == 0:
		return first, "the first weight recorded"
	case f.UsedWeights[ref.ID]:
		return ref, "the weight an earlier infusion was given with"
	}
	return ref, "the last weight a physician confirmed"
}

// daysOld shows an age in days, hours and minutes, rounded up to the minute
// as minutes does, so that a weight 7 days and 1 s old never reads as "7
// days" beside a limit of 7 days: "7 days 0 h 1 min".
func daysOld(d time.Duration) string {
	m := int64((d + time.Minute - 1) / time.Minute)
	return fmt.Sprintf("%d days %d h %d min", m/(24*60), m/60%24, m%60)
}

// minutes shows a duration in whole minutes, rounded up, so that a thaw
// 240 min 30 s ago never reads as within a 240 min limit.
func minutes(d time.Duration) string {
	return fmt.Sprintf("%d min", int64((d+time.Minute-1)/time.Minute))
}
