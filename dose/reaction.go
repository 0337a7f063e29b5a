package dose

import (
	"fmt"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Reaction is an adverse reaction to an infusion, graded 1–5 as in CTCAE.
// A reaction entered wrongly is never changed or deleted: a correction is a
// new reaction that supersedes it (Corrects), and the old one is marked
// corrected (CorrectedBy) or void, with who, when and why, as QC results are
// (release.Result).
type Reaction struct {
	ID         uuid.UUID
	InfusionID uuid.UUID
	Seq        int // 1, 2, … within the infusion: what people type to correct or void
	Grade      int
	Text       string
	At         time.Time
	By         string
	Corrects   int `json:",omitempty"` // Seq of the reaction this one corrects, or 0
	// CorrectedBy is the Seq of the reaction that corrects this one, or 0.
	// A corrected reaction is also void: VoidedAt, VoidedBy and VoidReason
	// say when, by whom and why it was corrected. (The JSON of `dose
	// reaction --json` keeps the field names and leaves out what is unset.)
	CorrectedBy int       `json:",omitempty"`
	VoidedAt    time.Time `json:",omitzero"`
	VoidedBy    string    `json:",omitempty"`
	VoidReason  string    `json:",omitempty"`
}

// Voided reports whether the reaction no longer stands: voided, or
// superseded by a correction.
func (r Reaction) Voided() bool { return !r.VoidedAt.IsZero() }

// Status says whether the reaction stands: "valid", "VOID date by user:
// reason" or "CORRECTED by #M date by user: reason", with "(corrects #N)"
// for a correction.
func (r Reaction) Status() string {
	s := "valid"
	switch {
	case r.CorrectedBy > 0:
		s = fmt.Sprintf("CORRECTED by #%d %s by %s: %s", r.CorrectedBy, lot.FormatTime(r.VoidedAt), r.VoidedBy, r.VoidReason)
	case r.Voided():
		s = fmt.Sprintf("VOID %s by %s: %s", lot.FormatTime(r.VoidedAt), r.VoidedBy, r.VoidReason)
	}
	if r.Corrects > 0 {
		s += fmt.Sprintf(" (corrects #%d)", r.Corrects)
	}
	return s
}

// Line is the reaction as a report shows it, the status first so that a
// void or corrected reaction never reads as one that stands:
// "#1 grade 3: rash (nina, 2026-11-25 09:00 UTC)", "#1 CORRECTED by #2
// 2026-11-25 10:00 UTC by pat: wrong chart — grade 3: rash (nina, …)".
func (r Reaction) Line() string {
	what := fmt.Sprintf("grade %d: %s (%s, %s)", r.Grade, r.Text, r.By, lot.FormatTime(r.At))
	if st := r.Status(); st != "valid" {
		what = strings.TrimPrefix(st, "valid ") + " — " + what
	}
	return fmt.Sprintf("#%d %s", r.Seq, what)
}

// NewReaction is a reaction to record (Service.RecordReaction): the
// infusion (its id), the CTCAE grade and what happened.
//
// Known, when set, is how many of the infusion's reactions the form the
// reaction was entered on knew of (the number of its last one, 0 for none):
// a reaction recorded since is one the form did not know of, and the send
// is refused (CheckKnown) — the same form sent twice by a double click or
// a refresh records once, on any number of servers. Nil (the command line,
// a script) asks for no such check.
type NewReaction struct {
	Infusion string
	Grade    int
	Text     string
	Known    *int
}

// LastReaction is the reaction of rs with the highest number: the count
// of the infusion's reactions a form shown now knows of is its Seq (0, of
// the zero Reaction, when there is none).
func LastReaction(rs []Reaction) Reaction {
	var last Reaction
	for _, r := range rs {
		if r.Seq > last.Seq {
			last = r
		}
	}
	return last
}

// CheckKnown refuses a reaction whose form knew of known of the
// infusion's reactions rs (field "known") when one it did not know of has
// been recorded since, naming that reaction. A negative count is a bad
// value, not an old form.
func CheckKnown(known int, rs []Reaction) error {
	if known < 0 {
		return lot.FieldErrorf("known", lot.EINVALID, "the count of reactions the form knew of is %d, below 0; nothing was recorded — open the reaction form again from the patient's recorded infusion", known)
	}
	last := LastReaction(rs)
	if last.Seq <= known {
		return nil
	}
	return lot.FieldErrorf("known", lot.ECONFLICT, "reaction #%d to this infusion (grade %d, %s, by %s at %s) was recorded after this form was shown: a form sent twice (a second click, or a refresh) records nothing, and nothing was recorded now. If the patient has another reaction, record it with a form shown since, which knows of reaction #%d",
		last.Seq, last.Grade, last.Text, last.By, lot.FormatTime(last.At), last.Seq)
}

// ValidateReaction checks a reaction's grade and description.
func ValidateReaction(grade int, text string) error {
	if grade < 1 || grade > 5 {
		return lot.FieldErrorf("grade", lot.EINVALID, "the grade %d is not a CTCAE grade; use 1 (mild) to 5 (death)", grade)
	}
	return lot.OnField("text", lot.ValidateText("the description", text, true))
}

// ValidateReactionReason checks the reason for correcting (field
// "corrects") or voiding (field "void") reaction #seq: required, and plain
// text.
func ValidateReactionReason(field string, seq int, reason string) error {
	if seq < 1 {
		// As for QC results (release.CheckResultNumber): a number below 1
		// is a mistyped value, not a reaction that is missing.
		return lot.FieldErrorf(field, lot.EINVALID, "%d is not a reaction number: reactions are numbered from 1 within their infusion; the patient's trace lists them", seq).Run("trace patient MRN")
	}
	if strings.TrimSpace(reason) == "" {
		if field == "corrects" {
			return lot.FieldErrorf("reason", lot.EINVALID, "the reason is required with a correction: say why reaction #%d was wrong", seq)
		}
		return lot.FieldErrorf("reason", lot.EINVALID, "the reason is required to void a reaction: say why reaction #%d is void", seq)
	}
	return lot.OnField("reason", lot.ValidateText("the reason", reason, true))
}

// FindReaction returns reaction #seq of an infusion's reactions rs (infusion
// is the id as typed, for the message) if it still stands: ENOTFOUND when
// there is no such number, ECONFLICT when it was already voided or corrected
// — a reaction is corrected or voided once; the correction itself is what
// to correct next.
func FindReaction(rs []Reaction, infusion string, seq int) (Reaction, error) {
	for _, r := range rs {
		if r.Seq != seq {
			continue
		}
		switch {
		case r.CorrectedBy > 0:
			return r, lot.Errorf(lot.ECONFLICT, "reaction #%d of infusion %s was already corrected by reaction #%d on %s by %s (%s); correct or void #%d instead",
				seq, infusion, r.CorrectedBy, lot.FormatTime(r.VoidedAt), r.VoidedBy, r.VoidReason, r.CorrectedBy)
		case r.Voided():
			return r, lot.Errorf(lot.ECONFLICT, "reaction #%d of infusion %s was already voided on %s by %s (%s); it stays in the record as void",
				seq, infusion, lot.FormatTime(r.VoidedAt), r.VoidedBy, r.VoidReason)
		}
		return r, nil
	}
	if len(rs) == 0 {
		return Reaction{}, lot.Errorf(lot.ENOTFOUND, "no reaction #%d of infusion %s; infusion %s has no reactions recorded", seq, infusion, infusion)
	}
	return Reaction{}, lot.Errorf(lot.ENOTFOUND, "no reaction #%d of infusion %s; infusion %s has reactions #1–#%d, which the patient's trace lists", seq, infusion, infusion, len(rs)).Run("trace patient MRN")
}
