package release

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Result is one recorded QC result of a lot. A correction is a new result
// that voids the old one; both stay, and the voided one says why.
type Result struct {
	ID         uuid.UUID
	LotID      uuid.UUID
	Seq        int // 1, 2, … within the lot: what people type to void or correct
	Assay      Assay
	Value      Value
	Method     string
	Tested     time.Time
	RecordedAt time.Time
	RecordedBy string
	Corrects   int // Seq of the result this one corrects, or 0
	VoidedAt   time.Time
	VoidedBy   string
	VoidReason string
}

// Voided reports whether the result was voided.
func (r Result) Voided() bool { return !r.VoidedAt.IsZero() }

// Display prints the value with its unit: "96.5 %", "no-growth".
func (r Result) Display() string {
	if r.Value.Unit == "" {
		return r.Value.Text
	}
	return r.Value.Text + " " + string(r.Value.Unit)
}

// Status says whether the result stands: "valid", or "VOID date by user:
// reason", with "(corrects #N)" for a correction.
func (r Result) Status() string {
	s := "valid"
	if r.Voided() {
		s = fmt.Sprintf("VOID %s by %s: %s", lot.FormatDate(r.VoidedAt), r.VoidedBy, r.VoidReason)
	}
	if r.Corrects > 0 {
		s += fmt.Sprintf(" (corrects #%d)", r.Corrects)
	}
	return s
}

// Invalidation is a result of a lot that no longer stands — voided, or
// corrected by a later result — with how it was invalidated. A certificate
// and an approval list them apart from the conforming results, so that QA
// and whoever reads the certificate see that, say, a sterility growth was
// recorded and invalidated, not only the result that replaced it.
type Invalidation struct {
	Result
	CorrectedBy int    // Seq of the result that corrects it; 0 when it was voided
	Reason      string // the reason given, without "corrected by result #M: "
}

// Invalidated returns the voided and corrected results among rs (a lot's
// results), in their order.
func Invalidated(rs []Result) []Invalidation {
	var out []Invalidation
	for _, r := range rs {
		if !r.Voided() {
			continue
		}
		inv := Invalidation{Result: r, Reason: r.VoidReason}
		for _, c := range rs {
			if c.Corrects == r.Seq {
				inv.CorrectedBy = c.Seq
				// A correction stores its reason as the void reason of the
				// old result, prefixed (store.RecordResult); print it once.
				inv.Reason = strings.TrimPrefix(r.VoidReason, fmt.Sprintf("corrected by result #%d: ", c.Seq))
			}
		}
		out = append(out, inv)
	}
	return out
}

// How says how the result was invalidated: "VOID 2026-11-25 09:00 UTC by
// liu: reason" or "CORRECTED by #18 2026-11-25 09:00 UTC by liu: reason".
func (i Invalidation) How() string {
	s := "VOID"
	if i.CorrectedBy > 0 {
		s = fmt.Sprintf("CORRECTED by #%d", i.CorrectedBy)
	}
	return fmt.Sprintf("%s %s by %s: %s", s, lot.FormatTime(i.VoidedAt), i.VoidedBy, i.Reason)
}

// What is the result itself: "#17 sterility growth, tested 2026-11-25,
// recorded by liu".
func (i Invalidation) What() string {
	return fmt.Sprintf("#%d %s %s, tested %s, recorded by %s", i.Seq, i.Assay, i.Display(), lot.FormatDate(i.Tested), i.RecordedBy)
}

// Line is What and How on one line, as `release approve` and the
// certificate print it.
func (i Invalidation) Line() string { return i.What() + " — " + i.How() }

// Valid returns the valid (not voided) results of each assay, in order. A
// lot has at most one valid result per assay (CheckNewResult); more than one
// can only come from a database written before that rule, and evaluation
// then fails the criterion instead of choosing one.
func Valid(rs []Result) map[Assay][]Result {
	m := map[Assay][]Result{}
	for _, r := range rs {
		if !r.Voided() {
			m[r.Assay] = append(m[r.Assay], r)
		}
	}
	return m
}

// CheckNewResult refuses a result r of lot l that would stand beside another
// valid result of the same assay among rs (the lot's results): a later
// result must never silently outvote an earlier one — a sterility "growth"
// followed by a "no-growth" is a failed lot, not a passed one. The existing
// result is corrected (corrects, its Seq, is then excluded) or voided first,
// each with a reason. It also refuses a test date after now or before the
// lot was manufactured.
func CheckNewResult(l lot.Lot, rs []Result, r Result, corrects int, now time.Time) error {
	if r.Tested.After(now) {
		return lot.FieldErrorf("tested", lot.EINVALID, "the test date %s is in the future; give the date the sample was tested", lot.FormatDate(r.Tested))
	}
	if r.Tested.Before(l.Manufactured) {
		return lot.FieldErrorf("tested", lot.EINVALID, "the test date %s is before lot %s was manufactured (%s); a QC test of the lot cannot predate it — check the date",
			lot.FormatDate(r.Tested), l.Number, lot.FormatDate(l.Manufactured))
	}
	for _, old := range Valid(rs)[r.Assay] {
		if old.Seq == corrects {
			continue
		}
		return lot.FieldErrorf("corrects", lot.ECONFLICT, "lot %s already has a valid %s result, #%d %s (tested %s); a lot has one valid result per assay: "+
			"to replace it, give a correction of #%d with a reason, or void #%d first, with a reason",
			l.Number, r.Assay, old.Seq, old.Display(), lot.FormatDate(old.Tested), old.Seq, old.Seq)
	}
	return nil
}

// Entry is a QC result as the lab enters it.
type Entry struct {
	Assay  string
	Value  string
	Unit   string
	Method string
	Tested time.Time // zero: now
	// Seen, when set, is the lot's state the result's form was shown with
	// (audit.SeenField): the result is refused when the lot or one of its
	// results has changed since. Nil asks for no such check.
	Seen *uint64 `json:",omitempty"`
}

// Check parses the entry into a result (without identity or times).
func (e Entry) Check() (Result, error) {
	a, err := ParseAssay(e.Assay)
	if err != nil {
		return Result{}, lot.OnField("assay", err)
	}
	if strings.TrimSpace(e.Value) == "" {
		return Result{}, lot.FieldErrorf("value", lot.EINVALID, "the value is required: the result of %s", a)
	}
	v, err := ParseValue(a, e.Value, e.Unit)
	if err != nil {
		return Result{}, err
	}
	if err := lot.ValidateText("the method", e.Method, false); err != nil {
		return Result{}, lot.OnField("method", err)
	}
	return Result{Assay: a, Value: v, Method: e.Method, Tested: e.Tested}, nil
}

// Reactivity is a donor's infectious-disease test result.
type Reactivity string

// Reactivities.
const (
	Negative      Reactivity = "negative"
	Positive      Reactivity = "positive"
	Indeterminate Reactivity = "indeterminate"
)

// ParseReactivity reads negative, positive or indeterminate.
func ParseReactivity(field, s string) (Reactivity, error) {
	switch r := Reactivity(strings.ToLower(strings.TrimSpace(s))); r {
	case Negative, Positive, Indeterminate:
		return r, nil
	}
	return "", lot.Errorf(lot.EINVALID, "%s %q is not a screening result; use negative, positive or indeterminate", field, s)
}

// Screening is a donor's infectious-disease screening (HIV-1/2, HBV, HCV,
// syphilis, HTLV) and the consent on file when it was recorded.
type Screening struct {
	ID      uuid.UUID
	DonorID uuid.UUID
	// Seq numbers the donor's screenings 1, 2, … in the order they were
	// entered: what QA types to void one. It is derived, never stored.
	Seq        int
	Markers    []Marker
	Consented  time.Time // the donor's consent date on file
	Tested     time.Time
	RecordedAt time.Time
	RecordedBy string
	// PriorReactive lists the markers that tested positive in another
	// screening of the same donor ("HIV-1/2 positive on 2026-11-24"). It is
	// derived (WithHistory), never stored.
	PriorReactive []string
	// A voided screening (a mistyped entry) stays visible but counts for
	// nothing; voiding is QA's signed decision.
	VoidedAt      time.Time
	VoidedBy      string
	VoidReason    string
	VoidSignature audit.Signature
}

// Voided reports whether the screening was voided.
func (s Screening) Voided() bool { return !s.VoidedAt.IsZero() }

// Status says whether the screening counts: "valid", or "VOID date by
// user: reason".
func (s Screening) Status() string {
	if !s.Voided() {
		return "valid"
	}
	return fmt.Sprintf("VOID %s by %s: %s", lot.FormatDate(s.VoidedAt), s.VoidedBy, s.VoidReason)
}

// VoidMeaning is the meaning of QA's signature voiding screening #seq.
func VoidMeaning(seq int, reason string) string {
	return fmt.Sprintf("voided donor screening #%d: %s", seq, reason)
}

// Current returns the donor's status from its screenings (ss in the order
// they were entered) as WithHistory does, or nil when no screening counts:
// none recorded, or every one voided.
func Current(ss []Screening) *Screening {
	for _, s := range ss {
		if !s.Voided() {
			c := WithHistory(ss)
			return &c
		}
	}
	return nil
}

// CheckScreeningVoid finds screening #seq of donor among ss (the donor's
// screenings) for voiding with reason: it refuses a number that is not a
// screening number (EINVALID), one the donor does not have (ENOTFOUND), a
// screening already void (ECONFLICT) and a missing reason (EINVALID).
func CheckScreeningVoid(donor string, ss []Screening, seq int, reason string) (Screening, error) {
	if seq < 1 {
		return Screening{}, lot.FieldErrorf("void", lot.EINVALID, "%d is not a screening number: screenings are numbered from 1; the donor's record lists them", seq).Run("donor show " + donor)
	}
	if seq > len(ss) {
		have := "no screening"
		if len(ss) > 0 {
			have = fmt.Sprintf("screenings #1–#%d", len(ss))
		}
		return Screening{}, lot.Errorf(lot.ENOTFOUND, "donor %s has no screening #%d: it has %s", donor, seq, have).Run("donor show " + donor)
	}
	s := ss[seq-1]
	if s.Voided() {
		return s, lot.Errorf(lot.ECONFLICT, "screening #%d of donor %s was already voided on %s by %s: %s", seq, donor, lot.FormatTime(s.VoidedAt), s.VoidedBy, s.VoidReason)
	}
	if err := lot.ValidateText("the reason", reason, true); err != nil {
		return s, lot.FieldErrorf("reason", lot.EINVALID, "the reason is required: say why screening #%d of donor %s is void", seq, donor)
	}
	return s, nil
}

// WithHistory returns a donor's current screening (ss in the order they
// were entered, not empty) with the positive markers of all the others. The
// current one is the screening with the latest test date — ties go to the
// later entry — so that an older all-negative screening entered afterwards
// does not clear a newer indeterminate one. A donor whose specimen ever
// tested reactive stays ineligible whatever another test says (21 CFR
// 1271.80(d)(1)); an indeterminate result may be resolved by an all-negative
// screening tested later.
//
// Voided screenings count for nothing, neither as the current one nor as a
// reactive result; ss must hold at least one that is not voided (Current).
func WithHistory(ss []Screening) Screening {
	cur := -1
	for i, s := range ss {
		if !s.Voided() && (cur < 0 || !s.Tested.Before(ss[cur].Tested)) {
			cur = i
		}
	}
	current := ss[cur]
	current.PriorReactive = nil
	for i, s := range ss {
		if i == cur || s.Voided() {
			continue
		}
		for _, m := range s.Markers {
			if m.Result == Positive {
				current.PriorReactive = append(current.PriorReactive, fmt.Sprintf("%s positive on %s", m.Name, lot.FormatDate(s.Tested)))
			}
		}
	}
	return current
}

// Marker is one infectious-disease marker and its result.
type Marker struct {
	Name   string     `json:"name"`
	Result Reactivity `json:"result"`
}

// ScreenMarker is a marker every screening records and the command-line
// flag (without "--") its result is entered with.
type ScreenMarker struct{ Name, Flag string }

// ScreenPanel is the screening panel, in order: the one place each marker
// is paired with its flag.
var ScreenPanel = []ScreenMarker{{"HIV-1/2", "hiv"}, {"HBV", "hbv"}, {"HCV", "hcv"}, {"syphilis", "syphilis"}, {"HTLV", "htlv"}}

// ScreenMarkers are the names of the ScreenPanel markers, in order.
var ScreenMarkers = func() []string {
	var ns []string
	for _, m := range ScreenPanel {
		ns = append(ns, m.Name)
	}
	return ns
}()

// ScreenFlags are the ScreenPanel flags, in order.
func ScreenFlags() []string {
	var fs []string
	for _, m := range ScreenPanel {
		fs = append(fs, m.Flag)
	}
	return fs
}

// Problems lists why the donor is not eligible; empty means eligible.
func (s Screening) Problems() []string {
	var p []string
	for _, m := range s.Markers {
		if m.Result != Negative {
			p = append(p, m.Name+" "+string(m.Result))
		}
	}
	if len(s.Markers) != len(ScreenMarkers) {
		p = append(p, "incomplete screening")
	}
	if s.Consented.IsZero() {
		p = append(p, "no consent on file")
	}
	for _, r := range s.PriorReactive {
		p = append(p, r+" (a reactive donor stays ineligible)")
	}
	return p
}

// Eligible reports whether every marker is negative and consent is on file.
func (s Screening) Eligible() bool { return len(s.Problems()) == 0 }

// Summary prints the markers: "HIV-1/2 negative, HBV negative, …".
func (s Screening) Summary() string {
	var p []string
	for _, m := range s.Markers {
		p = append(p, m.Name+" "+string(m.Result))
	}
	return strings.Join(p, ", ")
}

// CheckResultNumber refuses a result number n given for field (the result a
// correction corrects, "corrects", or the one to void, "void") that is not
// a result number at all: results are numbered from 1.
func CheckResultNumber(field string, n int) error {
	if n < 1 {
		return lot.FieldErrorf(field, lot.EINVALID, "%d is not a result number: results are numbered from 1; the lot's results list them", n).Run("release results LOT")
	}
	return nil
}

// CheckCorrection refuses a result r that corrects old unless both are of
// the same assay: a correction replaces a wrong value, not a missing test.
func CheckCorrection(old, r Result) error {
	if old.Assay != r.Assay {
		return lot.FieldErrorf("corrects", lot.EINVALID, "the corrected result #%d is a %s result; a correction must be of the same assay, not %s", old.Seq, old.Assay, r.Assay)
	}
	return nil
}

// DonorVerdict is a donor's status as every screen and report prints it, from
// Current: "ELIGIBLE (screening #1)", "INELIGIBLE: syphilis positive", or
// "NOT SCREENED: no valid screening" (status nil).
func DonorVerdict(status *Screening) string {
	switch {
	case status == nil:
		return "NOT SCREENED: no valid screening"
	case status.Eligible():
		return fmt.Sprintf("ELIGIBLE (screening #%d)", status.Seq)
	}
	return "INELIGIBLE: " + strings.Join(status.Problems(), ", ")
}

// EligibilityChange is a donor's status right after one of its screenings
// was recorded or voided.
type EligibilityChange struct {
	At  time.Time
	By  string
	Seq int // the screening recorded or voided
	// Voided is true for the void of screening Seq, with its Reason.
	Voided bool
	Reason string
	// Status is Current of the screenings as they stood after the change:
	// nil when none counted.
	Status *Screening
}

// What says what changed: "screening #2 recorded (tested 2026-11-24)",
// "screening #2 voided: typed positive".
func (c EligibilityChange) What(ss []Screening) string {
	if c.Voided {
		return fmt.Sprintf("screening #%d voided: %s", c.Seq, c.Reason)
	}
	return fmt.Sprintf("screening #%d recorded (tested %s)", c.Seq, lot.FormatDate(ss[c.Seq-1].Tested))
}

// EligibilityHistory replays a donor's screenings (ss in the order they
// were entered, numbered by Seq) in the order things happened — each
// screening recorded, each void — and returns the donor's status after each
// step, as Current judged it then: the history a look-back shows, so that an
// auditor sees when the donor was eligible, and on what, when lots were
// released or infused. A void is applied from its time on, not before.
func EligibilityHistory(ss []Screening) []EligibilityChange {
	type step struct {
		at    time.Time
		i     int
		voids bool
	}
	var steps []step
	for i, s := range ss {
		steps = append(steps, step{s.RecordedAt, i, false})
		if s.Voided() {
			steps = append(steps, step{s.VoidedAt, i, true})
		}
	}
	// In time order; a screening's entry before its void, and entries in the
	// order they were made when times tie.
	sort.SliceStable(steps, func(a, b int) bool {
		if !steps[a].at.Equal(steps[b].at) {
			return steps[a].at.Before(steps[b].at)
		}
		if steps[a].i != steps[b].i {
			return steps[a].i < steps[b].i
		}
		return !steps[a].voids && steps[b].voids
	})
	recorded, voided := make([]bool, len(ss)), make([]bool, len(ss))
	var out []EligibilityChange
	for _, st := range steps {
		s := ss[st.i]
		c := EligibilityChange{At: st.at, Seq: s.Seq, Voided: st.voids}
		if st.voids {
			voided[st.i] = true
			c.By, c.Reason = s.VoidedBy, s.VoidReason
		} else {
			recorded[st.i] = true
			c.By = s.RecordedBy
		}
		var then []Screening
		for j, x := range ss {
			if !recorded[j] {
				continue
			}
			if !voided[j] {
				x.VoidedAt, x.VoidedBy, x.VoidReason = time.Time{}, "", ""
			}
			then = append(then, x)
		}
		c.Status = Current(then)
		out = append(out, c)
	}
	return out
}
