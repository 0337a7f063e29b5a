package dose

import (
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// StoredProtocol is a protocol version with its id and who added it.
type StoredProtocol struct {
	Protocol
	ID        uuid.UUID
	CreatedAt time.Time
	CreatedBy string
}

// Course is a schedule with its protocol version and its entries as of now.
type Course struct {
	Schedule Schedule
	Protocol StoredProtocol
	Entries  []Entry
	Ended    bool
	// Zone is the time zone its days are counted in: the treating site's,
	// or the facility's; ZoneFrom says which ("site CLINIC-CN", "facility").
	Zone     *time.Location
	ZoneFrom string
	// IndexLacks lists the infusions the schedule records as given that the
	// patient's infusion index does not list; IndexExtra those the index
	// lists on this course that the schedule does not record. Either means
	// the database's index disagrees with the audited schedule: NO-GO.
	IndexLacks []GivenInfusion
	IndexExtra []GivenInfusion
}

// Administration is what a nurse asks to record.
type Administration struct {
	MRN        string
	Containers []string
	Start      time.Time  // zero: now
	Volume     lot.Tenths // zero: the computed volume
	// Recording is set on the check `dose administer` runs before reading
	// any password: on a database that takes no writes (migrated away) it
	// is the write's refusal, not a NO-GO report.
	Recording bool
	// Shown is the dose the check before the signatures showed (zero:
	// none carried): the infusion is NO-GO when the dose computed at
	// signing differs from it.
	Shown Shown
}

// CalcRequest asks for the working of one infusion.
type CalcRequest struct {
	MRN        string
	Infusion   int      // 0: the next infusion of the active course
	Containers []string // none: propose from the candidates
}

// CalcResult is the working shown by `dose calc`.
type CalcResult struct {
	Patient    lot.Patient
	Course     Course
	Entry      Entry
	Weight     lot.Weight
	Calc       Calculation
	Candidates []Source // containers the patient may receive
	Proposed   bool     // the containers were chosen by celltrack
	// Failed lists the bedside checks that would fail now: with the named
	// containers, or (when celltrack proposed them) those about the patient,
	// the schedule and the weight.
	Failed []Result
}

// Service keeps the treatment protocols, patients' schedules, weight
// confirmations and infusions, and runs the bedside check. MRNs name
// patients; refs name containers by code or UUID. Writes check the actor's
// role: EFORBIDDEN for a role that may not (or a signer who is not the
// actor, disabled or not clinical), EINVALID for a bad value, ECONFLICT for
// a state that forbids it, ENOTFOUND for an unknown patient, protocol,
// container or infusion. Signers (audit.User) have been authenticated by
// the caller with the matching Meaning… constant.
type Service interface {
	// AddProtocol stores p as a new version of its name (physician):
	// EINVALID for an implausible dose or schedule.
	AddProtocol(actor string, p Protocol) (StoredProtocol, error)
	// Protocol returns a version of a protocol (0: the latest); ENOTFOUND.
	Protocol(name string, version int) (StoredProtocol, error)
	// Protocols lists the latest version of every protocol, by name.
	Protocols() ([]StoredProtocol, error)

	// CreateSchedule starts a course of a protocol's latest version on
	// start (physician) at the treating site (a site code; "" counts days in
	// the facility's zone): EINVALID for a start in the past, ECONFLICT while
	// another course is active or too soon after the last infusion
	// (CheckCourseStart), ENOTFOUND for an unknown site.
	CreateSchedule(actor, mrn, protocol string, start time.Time, site string) (Course, error)
	// ChangeSchedule moves infusion n of the active course to date, signed
	// by the acting physician (MeaningSchedule): EINVALID for a bad date or
	// reason, ECONFLICT for an infusion already given or no active course.
	ChangeSchedule(signer audit.User, mrn string, n int, date time.Time, reason string) (Course, error)
	// Courses returns every course of a patient, oldest first, as of now.
	Courses(mrn string) (lot.Patient, []Course, error)
	// ConfirmWeight signs the patient's latest weight (physician,
	// MeaningConfirmWeight) when it is the weight shown and a bedside
	// check needs the confirmation (CheckWeightConfirmation): EUSAGE when
	// shown names none, ECONFLICT without a weight, when the latest weight
	// is not the one shown, when it is already confirmed, or when no check
	// needs it (within 10 %, the first weight, or dosed on before) —
	// writing nothing.
	ConfirmWeight(signer audit.User, mrn string, shown WeightShown, reason string) (lot.Weight, error)
	// CheckConfirmWeight runs every check of ConfirmWeight but the
	// signature, read only, and returns the weight it would confirm. Front
	// ends call it before they read the physician's password, so that a
	// confirmation that could not be written costs no attempt.
	CheckConfirmWeight(mrn string, shown WeightShown) (lot.Weight, error)

	// Check runs the bedside check (read only); the report's Err() is the
	// ENOGO error.
	Check(mrn string, refs []string, volume lot.Tenths) (Report, error)
	// CheckAdministration runs the bedside check exactly as Administer
	// will run it on a (as of its start, on its volume, against the dose
	// shown), read only; the report's Err() is the ENOGO error. Front ends
	// call it before they read or check any password, so that a NO-GO is
	// said first and costs no one a failed attempt. EINVALID for a start
	// more than lot.ClockSkew ahead or more than 12 hours back.
	CheckAdministration(a Administration) (Report, error)
	// Calc works out an infusion's dose (read only).
	Calc(req CalcRequest) (CalcResult, error)
	// Administer re-runs the bedside check in the writing transaction and
	// on GO records the infusion signed by nurse (MeaningAdminister) and
	// witness (MeaningWitness); EFORBIDDEN when CheckSigners refuses them,
	// ENOGO with the report when a check fails, writing nothing.
	Administer(nurse, witness audit.User, a Administration) (Infusion, Report, error)
	// Infusions returns a patient's infusions with their reactions.
	Infusions(mrn string) ([]Infusion, map[uuid.UUID][]Reaction, error)
	// RecordReaction records an adverse reaction to an infusion (nurse,
	// physician): EINVALID for a grade outside 1–5 or no text, ENOTFOUND
	// for an unknown infusion, and with r.Known set CheckKnown's refusals
	// (field "known": ECONFLICT when a reaction the form did not know of
	// was recorded since), checked in the writing transaction so that two
	// sends of one form record once whichever servers handle them.
	RecordReaction(actor string, r NewReaction) (Reaction, error)
	// CorrectReaction records a reaction that supersedes reaction #seq of
	// the infusion, which stays, marked corrected with reason (nurse,
	// physician): EINVALID for a blank reason or a bad grade or text,
	// ENOTFOUND for an unknown infusion or seq, ECONFLICT when #seq was
	// already corrected or voided.
	CorrectReaction(actor, infusion string, seq, grade int, text, reason string) (Reaction, error)
	// VoidReaction marks reaction #seq of the infusion void with reason
	// (nurse, physician); it stays visible. Errors as CorrectReaction.
	VoidReaction(actor, infusion string, seq int, reason string) (Reaction, error)
}
