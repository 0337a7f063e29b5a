// Package report renders traceability reports: the answer to an auditor's
// "who received cells from this donor?" and "where did everything this patient
// received come from, and who touched it?" (21 CFR 1271.290 tracking). It
// holds the report model — pure data: a header, sections of fields and
// tables, and the chronological list of custody and infusion events — and one
// renderer per output format. None of lot, release, dose or store holds this
// concept: store builds a Report from its indexes, cmd/celltrack picks the
// format, and this package only lays out what it is given. It reads no
// database and knows no business rule.
package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// Report is one traceability report, ready to render in any format.
type Report struct {
	// Kind is what was traced: donor, lot, patient or container.
	Kind string `json:"kind"`
	// Subject is the traced record as people name it: donor code, lot
	// number, MRN or container code.
	Subject string `json:"subject"`
	// Title heads the report, e.g. "Look-back trace of donor D-0001".
	Title string `json:"title"`
	// Question is what the report answers, in one sentence.
	Question string     `json:"question"`
	Produced Provenance `json:"produced"`
	Sections []Section  `json:"sections"`
	// Events are the custody and infusion events of every container in the
	// report, oldest first. CSV writes one row per event (and then one per
	// screening, eligibility change, label step and deviation).
	Events []Event `json:"events"`
	// Decisions and Infusions are the release decisions and infusions of
	// the report, oldest first, for programs reading the JSON; the sections
	// show the same to people.
	Decisions []Decision `json:"decisions,omitempty"`
	Infusions []Dose     `json:"infusions,omitempty"`
	// Screenings and Eligibility are a donor look-back's screenings, valid
	// and voided, and the donor's eligibility after each one was recorded
	// or voided; Labels are the label history of a lot or container trace;
	// Deviations are every departure from plan in the report. The sections
	// show the same to people; CSV writes one row for each after the events.
	Screenings  []Screening   `json:"screenings,omitempty"`
	Eligibility []Eligibility `json:"eligibility,omitempty"`
	Labels      []LabelEvent  `json:"labels,omitempty"`
	Deviations  []Deviation   `json:"deviations,omitempty"`
	// Data, when set, is a report's one-row-per-record table (the handling
	// report's rows): CSV writes it instead of the events.
	Data *Table `json:"data,omitempty"`
}

// Provenance says when, by whom and from which database a report was
// produced, and the state of the audit trail at that moment, so that a
// printed report can be checked against the database later.
type Provenance struct {
	At           time.Time `json:"at"`
	By           string    `json:"by"`
	ByName       string    `json:"by_name"`
	ByRole       string    `json:"by_role"`
	Database     string    `json:"database"`
	AuditHead    string    `json:"audit_head"` // hex SHA-256 of the last audit entry
	AuditEntries int       `json:"audit_entries"`
	// AuditTree is the Merkle tree head of the audit trail (size and root),
	// which `celltrack audit verify --checkpoint` and a signed checkpoint of
	// the same size can be held against later.
	AuditTree string `json:"audit_tree,omitempty"`
	// Verified is whether the verification named by Scope passed when the
	// report was made: with ScopeFull, the whole of `audit verify`.
	Verified bool     `json:"audit_verified"`
	Problems []string `json:"audit_problems,omitempty"`
	// Scope is what was verified: ScopeFull (every entry and record) or
	// ScopeReport (the report's own records and the chain since the last
	// full verification, described by the fields below).
	Scope string `json:"audit_verify_scope"`
	// RecordsVerified is how many of the report's records were checked
	// against their latest audit entry (ScopeReport).
	RecordsVerified int `json:"audit_records_verified,omitempty"`
	// ChainFrom is the entry from which the chain was verified to the head
	// (ScopeReport): the head of the last full verification, made at
	// FullVerifyAt by `celltrack check`.
	ChainFrom    uint64     `json:"audit_chain_from,omitempty"`
	FullVerifyAt *time.Time `json:"audit_full_verify_at,omitempty"`
}

// Verification scopes of a report.
const (
	ScopeFull   = "full"
	ScopeReport = "report"
)

// VerifyText is the audit verification verdict as printed on every report.
// Only a full verification prints PASSED; a report-scoped one says exactly
// what was checked.
func (p Provenance) VerifyText() string {
	switch {
	case !p.Verified:
		return "FAILED — this report may rest on records changed outside celltrack; report it to QA"
	case p.Scope == ScopeReport:
		return fmt.Sprintf("NOT A FULL VERIFY: the %d records in this report verified against the audit trail; chain verified from entry %d (full verify at %s) to head; a full verification of the audit trail covers the whole database",
			p.RecordsVerified, p.ChainFrom, fullVerifyAt(p))
	}
	return "PASSED"
}

// VerifyCell is the verdict in one CSV cell (column audit_verified): true
// only for a full verification that passed.
func (p Provenance) VerifyCell() string {
	switch {
	case !p.Verified:
		return "false"
	case p.Scope == ScopeReport:
		return fmt.Sprintf("report records and chain from entry %d only", p.ChainFrom)
	}
	return "true"
}

func fullVerifyAt(p Provenance) string {
	if p.FullVerifyAt == nil {
		return "unknown"
	}
	return lot.FormatTime(*p.FullVerifyAt)
}

// Section is one titled part of a report: fields (label: value) and at most
// one table.
type Section struct {
	Title string `json:"title"`
	// Warning is shown prominently, e.g. "FOR AUTOLOGOUS USE ONLY".
	Warning string  `json:"warning,omitempty"`
	Fields  []Field `json:"fields,omitempty"`
	Table   *Table  `json:"table,omitempty"`
}

// Field is one labelled value.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Table is a grid of text; every row has one cell per column.
type Table struct {
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// Event kinds.
const (
	Custody  = "custody"
	Infusion = "infusion"
)

// Event is one custody step of a container or one infusion, as reported.
type Event struct {
	Kind      string            `json:"kind"` // Custody or Infusion
	At        time.Time         `json:"at"`
	Lot       string            `json:"lot"`
	Container string            `json:"container"`
	From      string            `json:"from,omitempty"`
	To        string            `json:"to"`
	By        string            `json:"by"`
	Site      string            `json:"site,omitempty"`
	Location  string            `json:"location,omitempty"`
	Custodian string            `json:"custodian,omitempty"`
	Patient   string            `json:"patient,omitempty"` // MRN
	Reason    string            `json:"reason,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// Move is the event as a state change: "stored → shipped", or "created".
func (e Event) Move() string {
	if e.From == "" {
		return e.To
	}
	return e.From + " → " + e.To
}

// DetailText is the event's details as "key=value" pairs in key order, so
// every rendering of the same event is the same.
func (e Event) DetailText() string { return string(e.appendDetailText(nil)) }

// appendDetailText appends DetailText to b, without making a string of each
// pair on the way: the text rendering writes one per custody event.
func (e Event) appendDetailText(b []byte) []byte {
	var some [8]string // most events have a few details: no allocation for the keys
	keys := some[:0]
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, e.Details[k]...)
	}
	return b
}

// Signature is an electronic signature as a report shows it: who signed,
// when, and what the signature means (21 CFR 11.50).
type Signature struct {
	By       string    `json:"by"`
	FullName string    `json:"full_name"`
	Role     string    `json:"role"`
	At       time.Time `json:"at"`
	Meaning  string    `json:"meaning"`
}

// Decision is a QA release decision on a lot (approved, rejected, exception,
// quarantined) with its signatures, as a trace shows it.
type Decision struct {
	At       time.Time `json:"at"`
	Lot      string    `json:"lot"`
	Decision string    `json:"decision"`
	// Exceptional is an exceptional release of a non-conforming lot,
	// restricted to Patient (MRN).
	Exceptional bool        `json:"exceptional,omitempty"`
	Patient     string      `json:"patient,omitempty"`
	Spec        string      `json:"spec,omitempty"` // specification and version judged against
	Reason      string      `json:"reason,omitempty"`
	By          string      `json:"by"`
	Signatures  []Signature `json:"signatures,omitempty"`
	// Infused and Recall are the look-back of a return to quarantine: the
	// containers already infused (with the patient who received each) and
	// those thawed or dispensed but not infused, to recall (with their state
	// then and the patient they were dispensed to).
	Infused []LookBack `json:"infused,omitempty"`
	Recall  []LookBack `json:"recall,omitempty"`
}

// LookBack is one container named by a return to quarantine.
type LookBack struct {
	Container string `json:"container"`
	State     string `json:"state"`             // when the lot went back: infused, thawed or dispensed
	Patient   string `json:"patient,omitempty"` // MRN
}

// String is the container as the report prints it: "G12342600000101
// (infused into MRN-1001)", "G12342600000202 (thawed)".
func (b LookBack) String() string {
	switch {
	case b.Patient != "" && b.State == "infused":
		return b.Container + " (infused into " + b.Patient + ")"
	case b.Patient != "":
		return b.Container + " (" + b.State + " to " + b.Patient + ")"
	}
	return b.Container + " (" + b.State + ")"
}

// LookBackText is a list of containers as the report prints it.
func LookBackText(bs []LookBack) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}

// Dose is one infusion as a trace shows it: the dose given and both
// signatures of the bedside check.
type Dose struct {
	ID         string    `json:"id"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Patient    string    `json:"patient"`    // MRN
	Containers []string  `json:"containers"` // codes
	Lots       []string  `json:"lots"`
	Protocol   string    `json:"protocol"` // name vN, course and infusion number
	Weight     string    `json:"weight"`
	Cells      string    `json:"cells"`                  // viable cells given, as clinicians write it: 6.20×10^7
	CellsExact string    `json:"cells_exact"`            // the same, every digit
	CellsPerKg string    `json:"cells_per_kg,omitempty"` // cells given ÷ the weight used
	VolumeML   string    `json:"volume_ml"`
	Nurse      Signature `json:"nurse"`
	Witness    Signature `json:"witness"`
	// Reactions are the adverse reactions recorded, voided and corrected ones
	// included, as dose.Reaction.Line writes them: "#1 grade N: text (by,
	// when)", a void or corrected one led by its status ("#1 VOID when by
	// user: reason — grade …", "#1 CORRECTED by #2 when by user: reason — …").
	Reactions []string `json:"reactions,omitempty"`
	// Bags are what each container gave, with its lot's source: in an
	// infusion from two donors' bags, each donor's share.
	Bags []DoseBag `json:"bags,omitempty"`
	// WeightRecord is the weight record the dose was computed on; nil for
	// an infusion that names none.
	WeightRecord *DoseWeight `json:"weight_record,omitempty"`
}

// DoseWeight is the weight an infusion was dosed on as a trace shows it:
// when it was measured and who recorded it, and the physician's signed
// confirmation when one was given — the signature that lets a weight that
// changed more than 10 % dose the patient (review 17 D).
type DoseWeight struct {
	ID         string    `json:"id"`
	Weight     string    `json:"weight"`
	MeasuredAt time.Time `json:"measured_at"`
	RecordedBy string    `json:"recorded_by"`
	RecordedAt time.Time `json:"recorded_at,omitzero"` // zero for a weight stored before schema 13
	// Confirmation is the physician's signature (who, when, meaning) and
	// ConfirmReason the reason given; nil and "" when none was signed.
	Confirmation  *Signature `json:"confirmation,omitempty"`
	ConfirmReason string     `json:"confirmation_reason,omitempty"`
}

// Measured says when the weight was measured and by whom it was recorded:
// "2026-11-25 08:50 UTC by nina (recorded 2026-11-25 09:00 UTC)".
func (w DoseWeight) Measured() string {
	s := lot.FormatTime(w.MeasuredAt) + " by " + w.RecordedBy
	if !w.RecordedAt.IsZero() && !w.RecordedAt.Equal(w.MeasuredAt) {
		s += " (recorded " + lot.FormatTime(w.RecordedAt) + ")"
	}
	return s
}

// DoseBag is what one container gave to an infusion.
type DoseBag struct {
	Container  string `json:"container"`
	Lot        string `json:"lot"`
	Source     string `json:"source"` // "donor D-0001", "patient MRN-2001 (autologous)"
	Cells      string `json:"cells"`
	CellsExact string `json:"cells_exact"`
	VolumeML   string `json:"volume_ml"`
}

// Screening is one of a donor's infectious-disease screenings as a
// look-back shows it; a voided one carries who voided it, when and why, and
// QA's signature of the void.
type Screening struct {
	Seq        int        `json:"seq"`
	Tested     time.Time  `json:"tested"`
	Markers    string     `json:"markers"` // "HIV-1/2 negative, HBV negative, …"
	RecordedAt time.Time  `json:"recorded_at"`
	RecordedBy string     `json:"recorded_by"`
	Status     string     `json:"status"` // "valid" or "void"
	VoidedAt   *time.Time `json:"voided_at,omitempty"`
	VoidedBy   string     `json:"voided_by,omitempty"`
	VoidReason string     `json:"void_reason,omitempty"`
	VoidSigned *Signature `json:"void_signature,omitempty"`
}

// Eligibility is a donor's status right after one screening was recorded
// or voided.
type Eligibility struct {
	At       time.Time `json:"at"`
	By       string    `json:"by"`
	Change   string    `json:"change"` // "screening #2 voided: typed positive"
	Eligible bool      `json:"eligible"`
	Status   string    `json:"status"` // "ELIGIBLE (screening #1)", "INELIGIBLE: …"
}

// LabelEvent is one step of a container's label history: a label printed,
// applied or voided, with the container's counts after it.
type LabelEvent struct {
	At        time.Time `json:"at"`
	Lot       string    `json:"lot"`
	Container string    `json:"container"`
	Action    string    `json:"action"` // printed, applied or voided
	By        string    `json:"by"`
	Reason    string    `json:"reason,omitempty"`
	Printed   int       `json:"printed"`
	Applied   int       `json:"applied"`
	Voided    int       `json:"voided"`
	Unused    int       `json:"unused"`
}

// Counts is the label counts after the step, as `label reconcile` words them.
func (l LabelEvent) Counts() string {
	return fmt.Sprintf("printed %d, applied %d, voided %d, unused %d", l.Printed, l.Applied, l.Voided, l.Unused)
}

// Deviation kinds beside dose.Departure's (infusion day, volume, dose).
const DeviationExceptional = "exceptional release"

// Deviation is a departure from plan that the report lists with the others:
// an infusion on another day than planned, a volume or dose off plan within
// tolerance, an exceptional release.
type Deviation struct {
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	Lot       string    `json:"lot,omitempty"`
	Container string    `json:"container,omitempty"` // codes, comma-separated
	Patient   string    `json:"patient,omitempty"`   // MRN
	Infusion  string    `json:"infusion,omitempty"`  // id
	By        string    `json:"by,omitempty"`
	Detail    string    `json:"detail"`
}

// SortDeviations orders deviations by time, then kind, so every rendering
// lists them the same way.
func SortDeviations(ds []Deviation) {
	sort.SliceStable(ds, func(i, j int) bool {
		if !ds[i].At.Equal(ds[j].At) {
			return ds[i].At.Before(ds[j].At)
		}
		return ds[i].Kind < ds[j].Kind
	})
}

// SortEvents orders events by time, then container, then kind, so that a
// report lists the same events in the same order every time.
//
// It sorts the events' positions and then moves each event once: a stable
// sort of the events themselves moved each of a lot's ~700 events (a couple
// of hundred bytes with a dozen pointers) many times over.
func SortEvents(es []Event) {
	before := func(a, b *Event) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Container, b.Container)
	}
	sorted := true
	for i := 1; i < len(es) && sorted; i++ {
		sorted = before(&es[i-1], &es[i]) <= 0
	}
	if sorted {
		return
	}
	order := make([]int, len(es))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		if c := before(&es[i], &es[j]); c != 0 {
			return c
		}
		return i - j // equal events keep their order
	})
	moved := make([]Event, len(es))
	for k, i := range order {
		moved[k] = es[i]
	}
	copy(es, moved)
}
