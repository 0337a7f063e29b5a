package release

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Decision is what a disposition decided.
type Decision string

// Decisions. Quarantined is the automatic return of a released lot to
// quarantine when its basis fails (a voided result, a positive donor).
const (
	Approved    Decision = "approved"
	Rejected    Decision = "rejected"
	Exception   Decision = "exception"
	Quarantined Decision = "quarantined"
)

// Signature meanings (21 CFR 11.50).
const (
	MeaningApprove   = "approved for release"
	MeaningReject    = "rejected"
	MeaningException = "approved for exceptional release of a non-conforming lot"
	MeaningPhysician = "authorised exceptional release under medical necessity"
)

// ExceptionMeanings are the signature meanings of an exceptional release of
// a lot judged as rows for patient mrn, by QA and by the physician: each
// names every criterion the lot does not meet, donor eligibility included
// (a reactive donor is released only under medical necessity, and both
// signers must sign knowing it).
func ExceptionMeanings(rows []Row, mrn string) (qa, physician string) {
	despite := "; does not meet: " + strings.Join(Nonconforming(rows), ", ")
	return MeaningException + despite, MeaningPhysician + " for patient " + mrn + despite
}

// Disposition is one QA decision on a lot, with the evaluation it was based
// on and the signatures, each bound to the SHA-256 of Content().
type Disposition struct {
	ID          uuid.UUID
	LotID       uuid.UUID
	Lot         string // lab lot number
	DIN         string
	Decision    Decision
	Spec        string
	SpecVersion int
	Rows        []Row
	Reason      string
	Patient     string // MRN an exceptional release is restricted to
	PatientID   uuid.UUID
	Infused     []string // look-back: containers already infused when quarantined
	// Recall: containers thawed or dispensed but not infused when quarantined,
	// each with its state and patient. Omitted when empty so that the signed
	// content of dispositions written before it existed is unchanged.
	Recall []string `json:",omitempty"`
	// Unevaluated says why a rejection carries no evaluation rows
	// ("evaluation unavailable: …"); omitted when empty, as Recall.
	Unevaluated string `json:",omitempty"`
	At          time.Time
	By          string
	Signatures  []audit.Signature
}

// Content is the canonical encoding of what is signed: everything in the
// disposition except the signatures themselves.
func (d Disposition) Content() []byte {
	d.Signatures = nil
	b, _ := json.Marshal(d)
	return b
}

// Digest is the SHA-256 of Content().
func (d Disposition) Digest() [32]byte { return sha256.Sum256(d.Content()) }

// Approval asks for a lot's release. Passwords are checked by the store
// before anything is written.
type Approval struct {
	Lot      string
	Spec     string // NAME or NAME@VERSION; "" for the lot kind's default
	QA       string
	Password string
	// Exceptional release of a non-conforming lot for one named patient.
	Exception         bool
	Patient           string
	Reason            string
	Physician         string
	PhysicianPassword string
	// Seen, when set, is the lot's state the decision's form was shown
	// with (audit.SeenField): the release is refused, before any password
	// is checked, when the lot or one of its results has changed since.
	// Nil asks for no such check.
	Seen *uint64 `json:",omitempty"`
	// Shown, when set, is the specification version (NAME@VERSION) the
	// decision's form showed the lot evaluated against, which its
	// signature's meaning named: the release is refused (CheckShown),
	// before any password is checked, when it would be evaluated against
	// another version (one added since the page). Empty asks for no such
	// check, as on the command line, which names its specification.
	Shown string `json:",omitempty"`
}

// CheckShown refuses a release evaluated against spec when the form that
// asked for it showed another version (shown, NAME@VERSION; empty: no
// check), so that no one signs an evaluation they were not shown.
func CheckShown(shown string, spec Spec) error {
	if shown == "" {
		return nil
	}
	name, v, err := ParseSpecRef(shown)
	if err == nil && v == 0 {
		err = lot.Errorf(lot.EINVALID, "specification %q names no version", shown)
	}
	if err != nil {
		return lot.FieldErrorf("spec_shown", lot.EINVALID, "%s; give the specification version the lot was shown evaluated against, NAME@VERSION (e.g. %s) — nothing was signed", lot.ErrorMessage(err), spec.Ref())
	}
	if name != spec.Name || v != spec.Version {
		return lot.FieldErrorf("spec_shown", lot.ECONFLICT, "the form showed the lot evaluated against %s, but it would now be released against %s (the specification changed after the form was shown) — nothing was signed: reopen the lot's page, review the evaluation against %s and decide again",
			shown, spec.Ref(), spec.Ref())
	}
	return nil
}

// Check validates the request before any lookup.
func (a Approval) Check() error {
	if !a.Exception {
		if a.Patient != "" || a.Physician != "" {
			return lot.FieldErrorf("exception", lot.EINVALID, "a named patient and a co-signing physician belong to an exceptional release; make the release exceptional or drop them")
		}
		return lot.OnField("reason", lot.ValidateText("the reason", a.Reason, false))
	}
	if a.Patient == "" {
		return lot.FieldErrorf("patient-mrn", lot.EINVALID, "an exceptional release is for one named patient; give the patient's MRN")
	}
	if err := lot.ValidateText("the reason", a.Reason, true); err != nil {
		return lot.FieldErrorf("reason", lot.EINVALID, "an exceptional release needs a reason: the medical necessity")
	}
	if a.Physician == "" {
		return lot.FieldErrorf("co-signer", lot.EFORBIDDEN, "an exceptional release needs a physician's co-signature as well as QA's; give the physician's user name and password")
	}
	return nil
}

// CheckSegregation refuses a release signed by the person who registered the
// lot (EU GMP Annex 11; 21 CFR 211.22): the same login, or another login with
// the same printed name, compared folded (lot.SameName: spacing, width, case
// and Unicode form do not make another person).
func CheckSegregation(l lot.Lot, signer, registrant audit.User) error {
	if signer.Name == l.CreatedBy || lot.SameName(signer.FullName, registrant.FullName) {
		return lot.Errorf(lot.EFORBIDDEN, "segregation of duties: %s (%s) registered lot %s and may not also release it; another QA person must sign",
			registrant.FullName, l.CreatedBy, l.Number)
	}
	return nil
}

// CheckCoSignerRole refuses a co-signer of an exceptional release who is
// not an enabled physician.
func CheckCoSignerRole(phys audit.User) error {
	if phys.Role != audit.Physician || phys.Disabled {
		return lot.FieldErrorf("physician", lot.EFORBIDDEN, "the co-signing physician %s has role %s; the co-signature of an exceptional release needs an enabled physician", phys.Name, phys.Role)
	}
	return nil
}

// CheckCoSigner refuses a physician co-signature of an exceptional release
// by anyone but an enabled physician who is not the QA signer: two logins
// with one printed name are one person (lot.SameName), as for segregation
// of duties, and an exceptional release needs two.
func CheckCoSigner(qa, phys audit.User) error {
	if err := CheckCoSignerRole(phys); err != nil {
		return err
	}
	if phys.ID == qa.ID || lot.SameName(phys.FullName, qa.FullName) {
		return lot.FieldErrorf("physician", lot.EFORBIDDEN, "the co-signing physician %s and the QA signer %s have the same printed name %q; an exceptional release needs two different people: another physician must co-sign",
			phys.Name, qa.Name, phys.FullName)
	}
	return nil
}

// CheckRejectable refuses rejecting a lot that is already rejected; a lot in
// quarantine or a released one may be rejected.
func CheckRejectable(l lot.Lot) error {
	if l.Status == lot.Rejected {
		return lot.Errorf(lot.ECONFLICT, "lot %s is already rejected", l.Number)
	}
	return nil
}

// CheckApprovable says whether lot l may be approved on evaluation ev.
func CheckApprovable(l lot.Lot, ev Evaluation, exception bool, now time.Time) error {
	if l.Expired(now) {
		return lot.Errorf(lot.ECONFLICT, "lot %s expired on %s; an expired lot is never releasable", l.Number, lot.FormatDate(l.Expires))
	}
	if l.Status != lot.Quarantine {
		return lot.Errorf(lot.ECONFLICT, "lot %s is %s; only a lot in quarantine can be approved", l.Number, l.Status)
	}
	if exception {
		if ev.Pass {
			return lot.FieldErrorf("exception", lot.ECONFLICT, "lot %s conforms to %s@%d; approve it normally, not as an exceptional release", l.Number, ev.Spec, ev.Version)
		}
		return nil
	}
	if !ev.Pass {
		return lot.Errorf(lot.ECONFLICT, "lot %s does not conform to %s@%d: %s; nothing was signed (its evaluation against the specification shows every criterion)",
			l.Number, ev.Spec, ev.Version, strings.Join(ev.Failed(), ", ")).Run("release evaluate " + l.Number)
	}
	return nil
}

// Requarantine is a released lot sent back to quarantine automatically.
type Requarantine struct {
	Lot     string
	Reason  string
	Infused []string // containers already infused: the look-back list
	Recall  []string // containers thawed or dispensed, not infused: to recall
}

// LookBack sorts the containers of a lot that goes back to quarantine.
// infused lists those already given to a patient, each with the patient's
// MRN — "G12342600000101 (MRN-1001)": the look-back list, whose patients the
// physicians must now follow up. recall lists those out of the freezer and not yet infused — thawed,
// or dispensed to a patient (mrn names them) — which must be stopped and
// brought back; each says its state and patient. Nothing more may be
// dispensed from the lot while it is in quarantine (lot.CheckDispense), and
// a thawed bag can never be re-frozen, so recalled bags end discarded.
func LookBack(cs []lot.Container, mrn func(uuid.UUID) string) (infused, recall []string) {
	for _, c := range cs {
		switch c.State {
		case lot.Infused:
			who := "patient not recorded"
			if c.PatientID != uuid.Nil {
				who = mrn(c.PatientID)
			}
			infused = append(infused, c.Code()+" ("+who+")")
		case lot.Thawed:
			recall = append(recall, c.Code()+" (thawed)")
		case lot.Dispensed:
			recall = append(recall, c.Code()+" (dispensed to "+mrn(c.PatientID)+")")
		}
	}
	return infused, recall
}

// Certificate is the certificate of analysis of a lot.
type Certificate struct {
	Lot          lot.Lot
	Source       string // "donor D-0001" or "patient MRN-2001 (Hana Sato)"
	RestrictedTo string // MRN of an exceptional release
	Evaluation   Evaluation
	SpecTitle    string
	Results      []Result
	Dispositions []Disposition
	Expired      bool
	ChainHead    string
	// TreeHead is the audit trail's Merkle tree head ("N entries, root …").
	TreeHead  string
	Generated time.Time
	Facility  string
	// Provenance printed on every certificate: the database file, the
	// number of audit entries and whether `audit verify` passed when it was
	// produced (with the problems found), and who produced it (empty when
	// no acting user was given).
	Database       string
	AuditEntries   int
	Verified       bool
	AuditProblems  []string
	ProducedBy     string
	ProducedByName string
	ProducedByRole string
}

// Service records QC results and screenings, evaluates lots and signs their
// disposition. Writes return EFORBIDDEN for a role that may not, EAUTH for a
// wrong password, EINVALID for a bad value, ECONFLICT for a state that forbids
// it and ENOTFOUND for an unknown lot, donor, patient, result or specification.
type Service interface {
	Specs() ([]Spec, error)
	Spec(ref string) (Spec, error)
	AddSpec(actor string, s Spec) (Spec, error)

	RecordResult(actor, lotRef string, e Entry, corrects int, reason string) (Result, []Requarantine, error)
	VoidResult(actor, lotRef string, seq int, reason string) (Result, []Requarantine, error)
	Results(lotRef string) ([]Result, error)

	// Screen returns the screening recorded and the donor's status after
	// it (WithHistory), which is another screening when that one was
	// tested later.
	Screen(actor, donorRef string, s Screening) (recorded, status Screening, rq []Requarantine, err error)
	Screenings(donorRef string) ([]Screening, error)
	// CheckVoidScreening runs every check of VoidScreening except the
	// password, writing nothing. VoidScreening voids screening #seq of a
	// donor, signed by QA, and returns the donor's status after it (nil:
	// no screening counts) and the donor's lots in quarantine after a
	// release, which stay there until QA decides again.
	CheckVoidScreening(qa, donorRef string, seq int, reason string) error
	VoidScreening(qa, password, donorRef string, seq int, reason string) (voided Screening, status *Screening, quarantined []string, err error)

	Evaluate(lotRef, spec string) (Evaluation, error)
	// CheckApproval and CheckReject run every check of Approve and Reject
	// except the passwords, writing nothing, so that nobody is asked to sign
	// a decision that is not allowed; Approve and Reject check again.
	CheckApproval(a Approval) error
	Approve(a Approval) (Disposition, error)
	// seen, when set, is the lot's state the rejection's form was shown
	// with (audit.SeenField), as Approval.Seen.
	CheckReject(qa, lotRef, reason string, seen *uint64) error
	Reject(qa, password, lotRef, reason string, seen *uint64) (Disposition, error)
	Dispositions(lotRef string) ([]Disposition, error)
	Certificate(lotRef string) (Certificate, error)
}
