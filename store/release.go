package store

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// Entity kinds of the release capability.
const (
	kindSpec        = "spec"
	kindResult      = "result"
	kindScreening   = "screening"
	kindDisposition = "disposition"
)

// ReleaseService implements release.Service on a DB.
type ReleaseService struct{ db *DB }

var _ release.Service = (*ReleaseService)(nil)

// NewReleaseService returns the release service of db.
func NewReleaseService(db *DB) *ReleaseService { return &ReleaseService{db: db} }

// Stored forms (version 1).

type specRecord struct {
	V         int                 `json:"v"`
	ID        uuid.UUID           `json:"id"`
	Name      string              `json:"name"`
	Version   int                 `json:"version"`
	Title     string              `json:"title"`
	Kinds     []lot.Source        `json:"kinds"`
	Source    string              `json:"source,omitempty"`
	Criteria  []release.Criterion `json:"criteria"`
	CreatedAt time.Time           `json:"created_at"`
	CreatedBy string              `json:"created_by"`
}

func toSpecRecord(s release.Spec) specRecord {
	return specRecord{1, s.ID, s.Name, s.Version, s.Title, s.Kinds, s.Source, s.Criteria, s.CreatedAt, s.CreatedBy}
}

func (r specRecord) spec() release.Spec {
	return release.Spec{ID: r.ID, Name: r.Name, Version: r.Version, Title: r.Title, Kinds: r.Kinds, Source: r.Source,
		Criteria: r.Criteria, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

type resultRecord struct {
	V          int           `json:"v"`
	ID         uuid.UUID     `json:"id"`
	LotID      uuid.UUID     `json:"lot_id"`
	Seq        int           `json:"seq"`
	Assay      release.Assay `json:"assay"`
	Value      string        `json:"value"`
	Unit       release.Unit  `json:"unit,omitempty"`
	Method     string        `json:"method,omitempty"`
	Tested     time.Time     `json:"tested"`
	RecordedAt time.Time     `json:"recorded_at"`
	RecordedBy string        `json:"recorded_by"`
	Corrects   int           `json:"corrects,omitempty"`
	VoidedAt   time.Time     `json:"voided_at,omitzero"`
	VoidedBy   string        `json:"voided_by,omitempty"`
	VoidReason string        `json:"void_reason,omitempty"`
}

func toResultRecord(r release.Result) resultRecord {
	return resultRecord{1, r.ID, r.LotID, r.Seq, r.Assay, r.Value.Text, r.Value.Unit, r.Method, r.Tested, r.RecordedAt,
		r.RecordedBy, r.Corrects, r.VoidedAt, r.VoidedBy, r.VoidReason}
}

func (r resultRecord) result() release.Result {
	return release.Result{ID: r.ID, LotID: r.LotID, Seq: r.Seq, Assay: r.Assay, Value: release.Value{Text: r.Value, Unit: r.Unit},
		Method: r.Method, Tested: r.Tested, RecordedAt: r.RecordedAt, RecordedBy: r.RecordedBy, Corrects: r.Corrects,
		VoidedAt: r.VoidedAt, VoidedBy: r.VoidedBy, VoidReason: r.VoidReason}
}

// screeningRecord is a donor's screening; a voided one also carries QA's
// signature of the void, bound to the record without that signature
// (screeningDigest). The void fields are omitted while empty, so a screening
// stored before voiding existed reads and verifies unchanged.
type screeningRecord struct {
	V             int              `json:"v"`
	ID            uuid.UUID        `json:"id"`
	DonorID       uuid.UUID        `json:"donor_id"`
	Markers       []release.Marker `json:"markers"`
	Consented     time.Time        `json:"consented,omitzero"`
	Tested        time.Time        `json:"tested"`
	RecordedAt    time.Time        `json:"recorded_at"`
	RecordedBy    string           `json:"recorded_by"`
	VoidedAt      time.Time        `json:"voided_at,omitzero"`
	VoidedBy      string           `json:"voided_by,omitempty"`
	VoidReason    string           `json:"void_reason,omitempty"`
	VoidSignature *signatureRecord `json:"void_signature,omitempty"`
}

func toScreeningRecord(s release.Screening) screeningRecord {
	r := screeningRecord{1, s.ID, s.DonorID, s.Markers, s.Consented, s.Tested, s.RecordedAt, s.RecordedBy,
		s.VoidedAt, s.VoidedBy, s.VoidReason, nil}
	if s.Voided() {
		sig := toSignatureRecord(s.VoidSignature)
		r.VoidSignature = &sig
	}
	return r
}

func (r screeningRecord) screening() release.Screening {
	s := release.Screening{ID: r.ID, DonorID: r.DonorID, Markers: r.Markers, Consented: r.Consented, Tested: r.Tested,
		RecordedAt: r.RecordedAt, RecordedBy: r.RecordedBy, VoidedAt: r.VoidedAt, VoidedBy: r.VoidedBy, VoidReason: r.VoidReason}
	if r.VoidSignature != nil {
		s.VoidSignature = r.VoidSignature.signature()
	}
	return s
}

type signatureRecord struct {
	UserID   uuid.UUID  `json:"user_id"`
	User     string     `json:"user"`
	FullName string     `json:"full_name"`
	Role     audit.Role `json:"role"`
	Time     time.Time  `json:"time"`
	Meaning  string     `json:"meaning"`
	Signed   string     `json:"signed_sha256"`
}

func toSignatureRecord(s audit.Signature) signatureRecord {
	return signatureRecord{s.UserID, s.User, s.FullName, s.Role, s.Time, s.Meaning, fmt.Sprintf("%x", s.Signed)}
}

func (s signatureRecord) signature() audit.Signature {
	sig := audit.Signature{UserID: s.UserID, User: s.User, FullName: s.FullName, Role: s.Role, Time: s.Time, Meaning: s.Meaning}
	if b, err := hex.DecodeString(s.Signed); err == nil && len(b) == len(sig.Signed) {
		copy(sig.Signed[:], b)
	}
	return sig
}

type dispositionRecord struct {
	V           int               `json:"v"`
	ID          uuid.UUID         `json:"id"`
	LotID       uuid.UUID         `json:"lot_id"`
	Lot         string            `json:"lot"`
	DIN         string            `json:"din"`
	Decision    release.Decision  `json:"decision"`
	Spec        string            `json:"spec,omitempty"`
	SpecVersion int               `json:"spec_version,omitempty"`
	Rows        []release.Row     `json:"rows,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	Patient     string            `json:"patient,omitempty"`
	PatientID   uuid.UUID         `json:"patient_id,omitzero"`
	Infused     []string          `json:"infused,omitempty"`
	Recall      []string          `json:"recall,omitempty"`
	Unevaluated string            `json:"unevaluated,omitempty"`
	At          time.Time         `json:"at"`
	By          string            `json:"by"`
	Signatures  []signatureRecord `json:"signatures,omitempty"`
}

func toDispositionRecord(d release.Disposition) dispositionRecord {
	r := dispositionRecord{1, d.ID, d.LotID, d.Lot, d.DIN, d.Decision, d.Spec, d.SpecVersion, d.Rows, d.Reason, d.Patient,
		d.PatientID, d.Infused, d.Recall, d.Unevaluated, d.At, d.By, nil}
	for _, s := range d.Signatures {
		r.Signatures = append(r.Signatures, toSignatureRecord(s))
	}
	return r
}

func (r dispositionRecord) disposition() release.Disposition {
	d := release.Disposition{ID: r.ID, LotID: r.LotID, Lot: r.Lot, DIN: r.DIN, Decision: r.Decision, Spec: r.Spec,
		SpecVersion: r.SpecVersion, Rows: r.Rows, Reason: r.Reason, Patient: r.Patient, PatientID: r.PatientID,
		Infused: r.Infused, Recall: r.Recall, Unevaluated: r.Unevaluated, At: r.At, By: r.By}
	for _, s := range r.Signatures {
		d.Signatures = append(d.Signatures, s.signature())
	}
	return d
}

// installBuiltinSpecs writes the built-in specifications as version 1; Init
// calls it in its own transaction.
func (w *writer) installBuiltinSpecs() error {
	for _, s := range release.Builtins() {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("built-in specification %s: %w", s.Name, err)
		}
		if _, err := w.addSpec(s, "built-in specification installed at init"); err != nil {
			return err
		}
	}
	return nil
}

func specKey(name string, version int) []byte {
	return append([]byte(name+"@"), itob(uint64(version))...)
}

// specVersions returns every version of the named specification, oldest first.
func specVersions(tx kv.Tx, name string) ([]release.Spec, error) {
	var ss []release.Spec
	prefix := []byte(name + "@")
	c := tx.Bucket([]byte("idx_spec_name")).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
		var r specRecord
		if _, err := get(tx, kindSpec, uuid.UUID(v), &r); err != nil {
			return nil, err
		}
		ss = append(ss, r.spec())
	}
	return ss, nil
}

func (w *writer) addSpec(s release.Spec, reason string) (release.Spec, error) {
	old, err := specVersions(w.tx, s.Name)
	if err != nil {
		return s, err
	}
	s.Version = 1
	if n := len(old); n > 0 {
		if old[n-1].SameContent(s) {
			return s, lot.Errorf(lot.ECONFLICT, "specification %s is identical to its latest version %d; nothing was written", s.Name, old[n-1].Version)
		}
		s.Version = old[n-1].Version + 1
	}
	s.ID, s.CreatedAt, s.CreatedBy = w.db.NewID(), w.now, w.actor.Name
	if err := w.put(kindSpec, s.ID, string(audit.ReleaseSpecAdd), reason, toSpecRecord(s)); err != nil {
		return s, err
	}
	return s, writeIndexes(w.tx, kindSpec, s.ID)
}

func specByRef(tx kv.Tx, ref string) (release.Spec, error) {
	name, version, err := release.ParseSpecRef(ref)
	if err != nil {
		return release.Spec{}, err
	}
	ss, err := specVersions(tx, name)
	if err != nil {
		return release.Spec{}, err
	}
	if len(ss) == 0 {
		return release.Spec{}, notFound("specification", name, "the list of specifications names them").Run("release spec list")
	}
	if version == 0 {
		return ss[len(ss)-1], nil
	}
	for _, s := range ss {
		if s.Version == version {
			return s, nil
		}
	}
	return release.Spec{}, notFound("specification version", ref, fmt.Sprintf("%s has versions 1–%d", name, ss[len(ss)-1].Version))
}

// specVersion returns version (> 0) of the named specification, reading
// that one record through idx_spec_name; when there is none, specByRef's
// refusal, which lists the versions there are.
//
// A specification version is never rewritten, and every bedside check of a
// released lot reads one, a few kilobytes of JSON: the decoded value is
// kept (decodedSpecs) and used again while the stored bytes are the same.
// The caller must not change the slices of the returned value.
func specVersion(tx kv.Tx, name string, version int) (release.Spec, error) {
	if id, ok := lookup(tx, "idx_spec_name", string(specKey(name, version))); ok && version > 0 {
		if v := tx.Bucket(recordBuckets[kindSpec]).Get(id[:]); v != nil {
			sp, err := decodedSpecs.get(id, v)
			if err != nil {
				return release.Spec{}, err
			}
			if sp.Name == name && sp.Version == version {
				return sp, nil
			}
		}
	}
	return specByRef(tx, fmt.Sprintf("%s@%d", name, version))
}

// decodedSpecs holds specification records decoded by specVersion.
var decodedSpecs = newDecodedCache(func(id uuid.UUID, v []byte) (release.Spec, error) {
	var r specRecord
	if err := unmarshalRecord(v, &r); err != nil {
		return release.Spec{}, fmt.Errorf("decode %s %s: %w", kindSpec, id, err)
	}
	return r.spec(), nil
}, nil)

// Specs lists every version of every specification, by name then version.
func (s *ReleaseService) Specs() ([]release.Spec, error) {
	var ss []release.Spec
	err := s.db.view(func(tx kv.Tx) error {
		return tx.Bucket([]byte("idx_spec_name")).ForEach(func(k, v []byte) error {
			var r specRecord
			if _, err := get(tx, kindSpec, uuid.UUID(v), &r); err != nil {
				return err
			}
			ss = append(ss, r.spec())
			return nil
		})
	})
	return ss, err
}

// Spec returns NAME (latest version) or NAME@VERSION.
func (s *ReleaseService) Spec(ref string) (release.Spec, error) {
	var sp release.Spec
	err := s.db.view(func(tx kv.Tx) (err error) { sp, err = specByRef(tx, ref); return err })
	return sp, err
}

// AddSpec stores a specification as version 1, or as the next version of the
// one with the same name (QA role).
func (s *ReleaseService) AddSpec(actor string, sp release.Spec) (release.Spec, error) {
	if err := sp.Validate(); err != nil {
		return sp, err
	}
	err := s.db.update(actor, audit.ReleaseSpecAdd, func(w *writer) (err error) {
		sp, err = w.addSpec(sp, "")
		return err
	})
	return sp, err
}

func resultsOf(tx kv.Tx, lotID uuid.UUID) ([]release.Result, error) {
	return childRecords(tx, "idx_result_lot", lotID, kindResult, resultRecord.result)
}

// lotEndotoxin returns the valid endotoxin result of the lot in EU/mL ×
// 1000, rounded up (contract with the dosing and traceability code). Of
// several valid results (a database written before release.CheckNewResult)
// it returns the highest: the dose is never computed from the better one.
func lotEndotoxin(tx kv.Tx, lotID uuid.UUID) (milliEUPerML int64, found bool, err error) {
	// Every bedside check of a bag reads its lot's dozen results: each is
	// taken through endotoxinResults, which decodes a result again only
	// when its stored bytes changed (a void, an edit).
	var refused error
	b := tx.Bucket(recordBuckets[kindResult])
	for _, id := range childrenOf(tx, "idx_result_lot", lotID, kindResult) {
		v := b.Get(id[:])
		if v == nil {
			continue
		}
		e, err := endotoxinResults.get(id, v)
		if err != nil {
			return 0, false, err
		}
		// release.Valid(rs)["endotoxin"], one result at a time.
		if e.assay != "endotoxin" || e.r.Assay != "endotoxin" || e.r.Voided() {
			continue
		}
		if e.err != nil {
			// Refused after every result is read, as before: a result
			// that does not decode is named first.
			if refused == nil {
				refused = e.err
			}
			continue
		}
		if !found || e.milli > milliEUPerML {
			milliEUPerML, found = e.milli, true
		}
	}
	if refused != nil {
		return 0, false, refused
	}
	return milliEUPerML, found, nil
}

// endotoxinResult is what lotEndotoxin reads of a result record: its assay
// as jsonFields reads it (encoding/json's reading of "assay") and, of an
// endotoxin result only, the whole result with release.MilliEUPerML of it
// (err: its refusal, returned only when the result is valid).
type endotoxinResult struct {
	assay release.Assay
	r     release.Result
	milli int64
	err   error
}

// endotoxinResults holds result records as lotEndotoxin reads them. The
// value is a function of the stored bytes alone, as decodedCache requires.
var endotoxinResults = &decodedCache[uuid.UUID, endotoxinResult]{
	decode: func(id uuid.UUID, v []byte) (endotoxinResult, error) {
		// Of the others only "assay" is read.
		var f jsonFields
		f.parse(v)
		e := endotoxinResult{assay: release.Assay(f.str("assay"))}
		if f.err != nil {
			return e, fmt.Errorf("decode %s %s: %w", kindResult, id, f.err)
		}
		if e.assay != "endotoxin" {
			return e, nil
		}
		var r resultRecord
		if err := unmarshalRecord(v, &r); err != nil {
			return e, fmt.Errorf("decode %s %s: %w", kindResult, id, err)
		}
		e.r = r.result()
		e.milli, e.err = release.MilliEUPerML(e.r)
		return e, nil
	},
	max: maxCheckedEntries, m: map[uuid.UUID]decodedValue[endotoxinResult]{},
}

// lotDispositions returns the lot's approve, reject, exception and automatic
// quarantine decisions with their signatures, oldest first.
func lotDispositions(tx kv.Tx, lotID uuid.UUID) ([]release.Disposition, error) {
	return childRecords(tx, "idx_disposition_lot", lotID, kindDisposition, dispositionRecord.disposition)
}

// RecordResult records a QC result (lab role). With corrects > 0 it is a
// correction: result #corrects of the same assay is voided with reason, and
// a released lot goes back to quarantine. A new result that makes a released
// lot fail a criterion that did not fail before (release.NewFailures) — a
// sterility "growth" after an exceptional release signed while sterility was
// MISSING — sends it back to quarantine too, in the same transaction. With
// e.Seen set, a lot changed since the result's form was shown is refused in
// the writing transaction (lotSeen).
func (s *ReleaseService) RecordResult(actor, lotRef string, e release.Entry, corrects int, reason string) (release.Result, []release.Requarantine, error) {
	r, err := e.Check()
	if err != nil {
		return r, nil, err
	}
	if corrects < 0 {
		return r, nil, release.CheckResultNumber("corrects", corrects)
	}
	if corrects > 0 {
		if err := lot.ValidateText("the reason", reason, true); err != nil {
			return r, nil, lot.FieldErrorf("reason", lot.EINVALID, "the reason is required with a correction: say why result #%d was wrong", corrects)
		}
	} else if reason != "" {
		return r, nil, lot.FieldErrorf("corrects", lot.EINVALID, "a reason is for a correction; give the number of the result it corrects too, or drop the reason")
	}
	var rq []release.Requarantine
	err = s.db.update(actor, audit.ReleaseResult, func(w *writer) error {
		l, err := lotByRef(w.tx, lotRef)
		if err != nil {
			return err
		}
		if err := lotSeen(w.tx, e.Seen, l, "Look at the lot's results as they are now and record the result again if it is still needed"); err != nil {
			return err
		}
		rs, err := resultsOf(w.tx, l.ID)
		if err != nil {
			return err
		}
		if r.Tested.IsZero() {
			// A correction of a mistyped value keeps the test date of the
			// result it corrects; a retest gives its own --tested.
			r.Tested = w.now
			for _, old := range rs {
				if corrects > 0 && old.Seq == corrects {
					r.Tested = old.Tested
				}
			}
		}
		r.ID, r.LotID, r.Seq, r.RecordedAt, r.RecordedBy, r.Corrects = s.db.NewID(), l.ID, len(rs)+1, w.now, w.actor.Name, corrects
		var before release.Evaluation
		var spec string
		if corrects == 0 && l.Status == lot.Released {
			ds, err := lotDispositions(w.tx, l.ID)
			if err != nil {
				return err
			}
			spec = release.ReleasedAgainst(ds)
			if before, _, err = s.db.evaluate(w.tx, l, spec, w.now); err != nil {
				return err
			}
		}
		var old release.Result
		if corrects > 0 {
			if old, err = findResult(rs, l, corrects); err != nil {
				return err
			}
			if err := release.CheckCorrection(old, r); err != nil {
				return err
			}
		}
		if err := release.CheckNewResult(l, rs, r, corrects, w.now); err != nil {
			return err
		}
		if corrects > 0 {
			why := fmt.Sprintf("corrected by result #%d: %s", r.Seq, reason)
			if rq, err = w.voidResult(l, old, why); err != nil {
				return err
			}
		}
		if err := w.put(kindResult, r.ID, string(audit.ReleaseResult), reason, toResultRecord(r)); err != nil {
			return err
		}
		if err := writeIndexes(w.tx, kindResult, r.ID); err != nil {
			return err
		}
		if before.Spec == "" {
			return nil
		}
		after, _, err := s.db.evaluate(w.tx, l, spec, w.now)
		if err != nil {
			return err
		}
		if failed := release.NewFailures(before, after); len(failed) > 0 {
			q, err := w.requarantine(l, fmt.Sprintf("QC result #%d (%s %s) recorded after release: lot %s no longer conforms to %s@%d (%s); lot returned to quarantine",
				r.Seq, r.Assay, r.Display(), l.Number, after.Spec, after.Version, strings.Join(failed, ", ")))
			rq = append(rq, q)
			return err
		}
		return nil
	})
	return r, rq, err
}

func findResult(rs []release.Result, l lot.Lot, seq int) (release.Result, error) {
	if seq < 1 || seq > len(rs) {
		return release.Result{}, notFound("result", fmt.Sprintf("#%d of lot %s", seq, l.Number), fmt.Sprintf("lot %s has results #1–#%d, which its results list", l.Number, len(rs))).Run("release results " + l.Number)
	}
	r := rs[seq-1]
	if r.Voided() {
		return r, lot.Errorf(lot.ECONFLICT, "result #%d of lot %s was already voided on %s: %s", seq, l.Number, lot.FormatTime(r.VoidedAt), r.VoidReason)
	}
	return r, nil
}

// voidResult voids r and, if the lot is released, returns it to quarantine.
func (w *writer) voidResult(l lot.Lot, r release.Result, reason string) ([]release.Requarantine, error) {
	r.VoidedAt, r.VoidedBy, r.VoidReason = w.now, w.actor.Name, reason
	if err := w.put(kindResult, r.ID, string(audit.ReleaseResult)+".void", reason, toResultRecord(r)); err != nil {
		return nil, err
	}
	if l.Status != lot.Released {
		return nil, nil
	}
	q, err := w.requarantine(l, fmt.Sprintf("QC result #%d (%s %s) of released lot %s was voided (%s); lot returned to quarantine",
		r.Seq, r.Assay, r.Display(), l.Number, reason))
	return []release.Requarantine{q}, err
}

// VoidResult voids result #seq of a lot with a reason (lab role); a released
// lot goes back to quarantine in the same transaction.
func (s *ReleaseService) VoidResult(actor, lotRef string, seq int, reason string) (release.Result, []release.Requarantine, error) {
	var r release.Result
	if err := release.CheckResultNumber("void", seq); err != nil {
		return r, nil, err
	}
	if err := lot.ValidateText("the reason", reason, true); err != nil {
		return r, nil, lot.FieldErrorf("reason", lot.EINVALID, "the reason is required: say why result #%d is void", seq)
	}
	var rq []release.Requarantine
	err := s.db.update(actor, audit.ReleaseResult, func(w *writer) error {
		l, err := lotByRef(w.tx, lotRef)
		if err != nil {
			return err
		}
		rs, err := resultsOf(w.tx, l.ID)
		if err != nil {
			return err
		}
		if r, err = findResult(rs, l, seq); err != nil {
			return err
		}
		rq, err = w.voidResult(l, r, reason)
		r.VoidedAt, r.VoidedBy, r.VoidReason = w.now, w.actor.Name, reason
		return err
	})
	return r, rq, err
}

// requarantine sends a released lot back to quarantine, lifting any
// exceptional restriction, and records the decision with the look-back list
// and the containers to recall (release.LookBack).
func (w *writer) requarantine(l lot.Lot, reason string) (release.Requarantine, error) {
	infused, recall, err := lookBack(w.tx, l)
	if err != nil {
		return release.Requarantine{}, err
	}
	l.Status, l.Exceptional, l.RestrictedTo = lot.Quarantine, false, uuid.Nil
	if err := w.put(kindLot, l.ID, "release.requarantine", reason, toLotRecord(l)); err != nil {
		return release.Requarantine{}, err
	}
	d := release.Disposition{ID: w.db.NewID(), LotID: l.ID, Lot: l.Number, DIN: l.DIN.String(), Decision: release.Quarantined,
		Reason: reason, Infused: infused, Recall: recall, At: w.now, By: w.actor.Name}
	if err := w.putDisposition(d, reason); err != nil {
		return release.Requarantine{}, err
	}
	return release.Requarantine{Lot: l.Number, Reason: reason, Infused: infused, Recall: recall}, nil
}

// lookBack lists the lot's infused containers and those to recall
// (release.LookBack), naming patients by MRN.
func lookBack(tx kv.Tx, l lot.Lot) (infused, recall []string, err error) {
	cs, err := containersOf(tx, l.ID)
	if err != nil {
		return nil, nil, err
	}
	infused, recall = release.LookBack(cs, func(id uuid.UUID) string {
		if p, err := patientByID(tx, id); err == nil {
			return p.MRN
		}
		return id.String()
	})
	return infused, recall, nil
}

func (w *writer) putDisposition(d release.Disposition, reason string) error {
	if err := w.put(kindDisposition, d.ID, "release."+string(d.Decision), reason, toDispositionRecord(d)); err != nil {
		return err
	}
	return writeIndexes(w.tx, kindDisposition, d.ID)
}

// Results lists a lot's QC results, voided ones included, in order.
func (s *ReleaseService) Results(lotRef string) ([]release.Result, error) {
	var rs []release.Result
	err := s.db.view(func(tx kv.Tx) error {
		l, err := lotByRef(tx, lotRef)
		if err != nil {
			return err
		}
		rs, err = resultsOf(tx, l.ID)
		return err
	})
	return rs, err
}

// screeningsOf returns a donor's screenings in the order they were entered
// (their UUIDv7 ids), numbered 1, 2, ….
func screeningsOf(tx kv.Tx, donorID uuid.UUID) ([]release.Screening, error) {
	ss, err := childRecords(tx, "idx_screening_donor", donorID, kindScreening, screeningRecord.screening)
	for i := range ss {
		ss[i].Seq = i + 1
	}
	return ss, err
}

// Screen records a donor's infectious-disease screening (lab role) and
// returns it with the donor's status after it (release.WithHistory: the
// screening with the latest test date, and every positive marker ever). An
// ineligible status sends every released lot of the donor back to quarantine
// in the same transaction.
func (s *ReleaseService) Screen(actor, donorRef string, sc release.Screening) (recorded, status release.Screening, rq []release.Requarantine, err error) {
	if len(sc.Markers) != len(release.ScreenMarkers) {
		return sc, sc, nil, lot.Errorf(lot.EINVALID, "a screening records all of %v", release.ScreenMarkers)
	}
	err = s.db.update(actor, audit.DonorScreen, func(w *writer) error {
		d, err := donorByRef(w.tx, donorRef)
		if err != nil {
			return err
		}
		if sc.Tested.IsZero() {
			sc.Tested = w.now
		}
		if sc.Tested.After(w.now) {
			return lot.FieldErrorf("tested", lot.EINVALID, "the test date %s is in the future", lot.FormatDate(sc.Tested))
		}
		sc.ID, sc.DonorID, sc.Consented, sc.RecordedAt, sc.RecordedBy = s.db.NewID(), d.ID, d.Consented, w.now, w.actor.Name
		earlier, err := screeningsOf(w.tx, d.ID)
		if err != nil {
			return err
		}
		sc.Seq = len(earlier) + 1
		status = release.WithHistory(append(earlier, sc))
		if err := w.put(kindScreening, sc.ID, string(audit.DonorScreen), "", toScreeningRecord(sc)); err != nil {
			return err
		}
		if err := writeIndexes(w.tx, kindScreening, sc.ID); err != nil {
			return err
		}
		if status.Eligible() {
			return nil
		}
		released, err := donorLots(w.tx, d.ID, lot.Released)
		if err != nil {
			return err
		}
		for _, l := range released {
			q, err := w.requarantine(l, fmt.Sprintf("donor %s screened ineligible on %s (%s); released lot %s returned to quarantine",
				d.Code, lot.FormatDate(status.Tested), strings.Join(status.Problems(), ", "), l.Number))
			if err != nil {
				return err
			}
			rq = append(rq, q)
		}
		return nil
	})
	return sc, status, rq, err
}

// donorLots returns the donor's lots in the given status.
func donorLots(tx kv.Tx, donorID uuid.UUID, status lot.Status) ([]lot.Lot, error) {
	var ls []lot.Lot
	for _, id := range childrenOf(tx, "idx_lot_donor", donorID, kindLot) {
		l, err := lotByID(tx, id)
		if err != nil {
			return nil, err
		}
		if l.Status == status {
			ls = append(ls, l)
		}
	}
	return ls, nil
}

// Screenings lists a donor's screenings, oldest first.
func (s *ReleaseService) Screenings(donorRef string) ([]release.Screening, error) {
	var ss []release.Screening
	err := s.db.view(func(tx kv.Tx) error {
		d, err := donorByRef(tx, donorRef)
		if err != nil {
			return err
		}
		ss, err = screeningsOf(tx, d.ID)
		return err
	})
	return ss, err
}

// checkScreeningVoid finds the signer, the donor and the screening QA
// voids, and checks that the signer may and the screening can be voided.
func checkScreeningVoid(tx kv.Tx, qa, donorRef string, seq int, reason string) (lot.Donor, audit.User, []release.Screening, error) {
	u, err := userByName(tx, qa)
	if err != nil {
		return lot.Donor{}, u, nil, err
	}
	if err := audit.Authorize(u, audit.DonorScreenVoid); err != nil {
		return lot.Donor{}, u, nil, err
	}
	d, err := donorByRef(tx, donorRef)
	if err != nil {
		return d, u, nil, err
	}
	ss, err := screeningsOf(tx, d.ID)
	if err != nil {
		return d, u, nil, err
	}
	sc, err := release.CheckScreeningVoid(d.Code, ss, seq, reason)
	if err != nil {
		return d, u, nil, err
	}
	return d, u, ss, checkIntact(tx, recordRef{kindScreening, sc.ID}, recordRef{kindUser, u.ID})
}

// CheckVoidScreening runs every check of VoidScreening except the password,
// and writes nothing; VoidScreening runs them again when it writes.
func (s *ReleaseService) CheckVoidScreening(qa, donorRef string, seq int, reason string) error {
	return s.db.view(func(tx kv.Tx) error { _, _, _, err := checkScreeningVoid(tx, qa, donorRef, seq, reason); return err })
}

// VoidScreening voids screening #seq of a donor — a mistyped entry — with
// QA's signature bound to the voided record (screeningDigest). The voided
// screening stays visible but counts for nothing; the donor's status after
// it is returned (nil: no screening counts). Nothing else changes: a lot the
// screening sent back to quarantine stays there until QA decides again, and
// quarantined lists the donor's lots in quarantine after a release.
func (s *ReleaseService) VoidScreening(qa, password, donorRef string, seq int, reason string) (voided release.Screening, status *release.Screening, quarantined []string, err error) {
	if err := s.CheckVoidScreening(qa, donorRef, seq, reason); err != nil {
		return voided, nil, nil, err
	}
	signer, err := s.db.Authenticate(qa, password, release.VoidMeaning(seq, reason))
	if err != nil {
		return voided, nil, nil, err
	}
	err = s.db.update(qa, audit.DonorScreenVoid, func(w *writer) error {
		d, u, ss, err := checkScreeningVoid(w.tx, qa, donorRef, seq, reason)
		if err != nil {
			return err
		}
		if err := stillProven(u, signer, "signature.refused"); err != nil {
			return err
		}
		voided = ss[seq-1]
		voided.VoidedAt, voided.VoidedBy, voided.VoidReason = w.now, w.actor.Name, reason
		rec := toScreeningRecord(voided)
		voided.VoidSignature = w.sign(u, release.VoidMeaning(seq, reason), screeningDigest(rec))
		why := fmt.Sprintf("screening #%d of donor %s (tested %s: %s) voided, signed by %s: %s",
			seq, d.Code, lot.FormatDate(voided.Tested), voided.Summary(), u.FullName, reason)
		if err := w.put(kindScreening, voided.ID, string(audit.DonorScreenVoid), why, toScreeningRecord(voided)); err != nil {
			return err
		}
		ss[seq-1] = voided
		status = release.Current(ss)
		held, err := donorLots(w.tx, d.ID, lot.Quarantine)
		if err != nil {
			return err
		}
		for _, l := range held {
			ds, err := lotDispositions(w.tx, l.ID)
			if err != nil {
				return err
			}
			if len(ds) > 0 && ds[len(ds)-1].Decision == release.Quarantined {
				quarantined = append(quarantined, l.Number)
			}
		}
		return nil
	})
	return voided, status, quarantined, err
}

// evaluate judges l against the named specification (default: its kind's).
func (db *DB) evaluate(tx kv.Tx, l lot.Lot, specRef string, now time.Time) (release.Evaluation, release.Spec, error) {
	if specRef == "" {
		specRef = release.DefaultSpec(l.Source)
	}
	sp, err := specByRef(tx, specRef)
	if err != nil {
		return release.Evaluation{}, sp, err
	}
	rs, err := resultsOf(tx, l.ID)
	if err != nil {
		return release.Evaluation{}, sp, err
	}
	var donor *release.Donor
	if l.Source == lot.SourceUC {
		d, err := donorByRef(tx, l.DonorID.String())
		if err != nil {
			return release.Evaluation{}, sp, err
		}
		donor = &release.Donor{Code: d.Code}
		ss, err := screeningsOf(tx, d.ID)
		if err != nil {
			return release.Evaluation{}, sp, err
		}
		donor.Screening = release.Current(ss)
	}
	ev, err := release.Evaluate(sp, l, rs, donor, now)
	return ev, sp, err
}

// Evaluate judges a lot against a specification (default: its kind's
// built-in, latest version).
func (s *ReleaseService) Evaluate(lotRef, spec string) (release.Evaluation, error) {
	var ev release.Evaluation
	err := s.db.view(func(tx kv.Tx) error {
		l, err := lotByRef(tx, lotRef)
		if err != nil {
			return err
		}
		ev, _, err = s.db.evaluate(tx, l, spec, s.db.now())
		return err
	})
	return ev, err
}

// approvalPlan is what a checked approval will write.
type approvalPlan struct {
	lot      lot.Lot
	ev       release.Evaluation
	patient  lot.Patient
	qa, phys audit.User
}

// planApproval checks everything an approval needs, without writing.
//
// Of the co-signing physician, whose name the QA signer types, signed false
// (before the passwords) judges only that it is not the QA signer's own:
// the rest is said to the physician's right password (CoSigner), and
// checked again with signed true, in the writing transaction.
func (db *DB) planApproval(tx kv.Tx, a release.Approval, now time.Time, signed bool) (approvalPlan, error) {
	var p approvalPlan
	var err error
	if p.qa, err = userByName(tx, a.QA); err != nil {
		return p, err
	}
	if err := audit.Authorize(p.qa, audit.ReleaseApprove); err != nil {
		return p, err
	}
	if p.lot, err = lotByRef(tx, a.Lot); err != nil {
		return p, err
	}
	if err := lotSeen(tx, a.Seen, p.lot, reviewAgain); err != nil {
		return p, err
	}
	registrant, err := userByName(tx, p.lot.CreatedBy)
	if err != nil {
		return p, err
	}
	if err := checkIntact(tx, approvalRecords(tx, a, p.lot, p.qa, registrant)...); err != nil {
		return p, err
	}
	if err := release.CheckSegregation(p.lot, p.qa, registrant); err != nil {
		return p, err
	}
	var sp release.Spec
	if p.ev, sp, err = db.evaluate(tx, p.lot, a.Spec, now); err != nil {
		return p, err
	}
	versions, err := specVersions(tx, sp.Name)
	if err != nil {
		return p, err
	}
	if err := release.CheckCurrent(sp, versions[len(versions)-1]); err != nil {
		return p, err
	}
	if err := release.CheckShown(a.Shown, sp); err != nil {
		return p, err
	}
	if err := release.CheckApprovable(p.lot, p.ev, a.Exception, now); err != nil {
		return p, err
	}
	if !a.Exception {
		return p, nil
	}
	if p.patient, err = patientByMRN(tx, a.Patient); err != nil {
		return p, err
	}
	if err := lot.CheckAutologous(p.lot, p.patient); err != nil {
		return p, err
	}
	if !signed {
		if a.Physician == p.qa.Name {
			return p, release.CheckCoSigner(p.qa, p.qa)
		}
		return p, nil
	}
	if p.phys, err = userByName(tx, a.Physician); err != nil {
		return p, err
	}
	return p, release.CheckCoSigner(p.qa, p.phys)
}

// CheckApproval runs every check of Approve except the passwords and what
// only the physician's password may tell of the co-signer, and writes
// nothing, so that a command can refuse a decision that is not allowed
// before asking anyone to sign. Approve runs the same checks again in its
// writing transaction.
func (s *ReleaseService) CheckApproval(a release.Approval) error {
	if err := a.Check(); err != nil {
		return err
	}
	return s.db.view(func(tx kv.Tx) error { _, err := s.db.planApproval(tx, a, s.db.now(), false); return err })
}

// Approve releases a lot (QA role) after checking the evaluation, segregation
// of duties and expiry, and the signers' passwords before anything is written.
// An exceptional release also needs a physician's co-signature and restricts
// the lot to one patient. With a.Seen set, a lot changed since the form was
// shown is refused before the passwords are checked (CheckApproval), and
// again in the writing transaction.
func (s *ReleaseService) Approve(a release.Approval) (release.Disposition, error) {
	var d release.Disposition
	if err := s.CheckApproval(a); err != nil {
		return d, err
	}
	meaning := release.MeaningApprove
	if a.Exception {
		meaning = release.MeaningException
	}
	qa, err := s.db.Authenticate(a.QA, a.Password, meaning)
	if err != nil {
		return d, err
	}
	var phys audit.User
	if a.Exception {
		// The physician's name was typed by QA: one answer for an unknown
		// name and a wrong password, as for the witness (CoSigner).
		if phys, err = s.db.CoSigner("physician", a.Physician, a.PhysicianPassword, release.MeaningPhysician); err != nil {
			return d, err
		}
	}
	err = s.db.update(a.QA, audit.ReleaseApprove, func(w *writer) error {
		p, err := s.db.planApproval(w.tx, a, w.now, true)
		if err != nil {
			return err
		}
		if err := stillProven(p.qa, qa, "signature.refused"); err != nil {
			return err
		}
		if a.Exception {
			if err := stillCoSigner(w.tx, p.phys, phys, "physician"); err != nil {
				return err
			}
		}
		l := p.lot
		d = release.Disposition{ID: s.db.NewID(), LotID: l.ID, Lot: l.Number, DIN: l.DIN.String(), Decision: release.Approved,
			Spec: p.ev.Spec, SpecVersion: p.ev.Version, Rows: p.ev.Rows, Reason: a.Reason, At: w.now, By: w.actor.Name}
		l.Status = lot.Released
		if a.Exception {
			d.Decision, d.Patient, d.PatientID = release.Exception, p.patient.MRN, p.patient.ID
			l.Exceptional, l.RestrictedTo = true, p.patient.ID
		}
		digest := d.Digest()
		if !a.Exception {
			d.Signatures = []audit.Signature{w.sign(p.qa, meaning, digest)}
		} else {
			qaMeaning, physMeaning := release.ExceptionMeanings(p.ev.Rows, p.patient.MRN)
			d.Signatures = []audit.Signature{w.sign(p.qa, qaMeaning, digest), w.sign(p.phys, physMeaning, digest)}
		}
		why := fmt.Sprintf("%s against %s@%d, signed by %s", meaning, d.Spec, d.SpecVersion, p.qa.FullName)
		if a.Exception {
			why = fmt.Sprintf("EXCEPTIONAL release for patient %s only (%s), signed by %s and %s; does not meet: %s",
				p.patient.MRN, a.Reason, p.qa.FullName, p.phys.FullName, strings.Join(release.Nonconforming(p.ev.Rows), ", "))
		}
		if err := w.put(kindLot, l.ID, string(audit.ReleaseApprove), why, toLotRecord(l)); err != nil {
			return err
		}
		return w.putDisposition(d, why)
	})
	return d, err
}

// reviewAgain is what to do when a decision's form saw the lot otherwise.
const reviewAgain = "Nothing was signed: review the lot's results as they are now and decide again"

// checkReject finds the signer and the lot of a rejection and checks that
// the signer may reject and the lot may be rejected, and with seen set that
// the lot has not changed since the rejection's form was shown.
func checkReject(tx kv.Tx, qa, lotRef string, seen *uint64) (lot.Lot, audit.User, error) {
	u, err := userByName(tx, qa)
	if err != nil {
		return lot.Lot{}, u, err
	}
	if err := audit.Authorize(u, audit.ReleaseReject); err != nil {
		return lot.Lot{}, u, err
	}
	l, err := lotByRef(tx, lotRef)
	if err != nil {
		return l, u, err
	}
	if err := lotSeen(tx, seen, l, reviewAgain); err != nil {
		return l, u, err
	}
	if err := checkIntact(tx, append(lotRecords(tx, l), recordRef{kindUser, u.ID})...); err != nil {
		return l, u, err
	}
	return l, u, release.CheckRejectable(l)
}

// CheckReject runs every check of Reject except the password, and writes
// nothing; Reject runs the same checks again in its writing transaction.
func (s *ReleaseService) CheckReject(qa, lotRef, reason string, seen *uint64) error {
	if err := lot.OnField("reason", lot.ValidateText("the reason", reason, true)); err != nil {
		return err
	}
	return s.db.view(func(tx kv.Tx) error { _, _, err := checkReject(tx, qa, lotRef, seen); return err })
}

// Reject rejects a lot in quarantine or a released one (QA role, signed); a
// released lot's decision carries its look-back and recall lists. With seen
// set, a lot changed since the form was shown is refused before the password
// is checked, and again in the writing transaction.
func (s *ReleaseService) Reject(qa, password, lotRef, reason string, seen *uint64) (release.Disposition, error) {
	var d release.Disposition
	if err := s.CheckReject(qa, lotRef, reason, seen); err != nil {
		return d, err
	}
	signer, err := s.db.Authenticate(qa, password, release.MeaningReject)
	if err != nil {
		return d, err
	}
	err = s.db.update(qa, audit.ReleaseReject, func(w *writer) error {
		l, u, err := checkReject(w.tx, qa, lotRef, seen)
		if err != nil {
			return err
		}
		if err := stillProven(u, signer, "signature.refused"); err != nil {
			return err
		}
		d = release.Disposition{ID: s.db.NewID(), LotID: l.ID, Lot: l.Number, DIN: l.DIN.String(), Decision: release.Rejected,
			Reason: reason, At: w.now, By: w.actor.Name}
		// A lot that cannot be evaluated may still be rejected (the safe
		// direction), but the decision says so rather than silently
		// carrying no specification rows.
		ev, _, err := s.db.evaluate(w.tx, l, "", w.now)
		if err != nil {
			d.Unevaluated = "evaluation unavailable: " + err.Error()
		} else {
			d.Spec, d.SpecVersion, d.Rows = ev.Spec, ev.Version, ev.Rows
		}
		if l.Status == lot.Released {
			if d.Infused, d.Recall, err = lookBack(w.tx, l); err != nil {
				return err
			}
		}
		d.Signatures = []audit.Signature{w.sign(u, release.MeaningReject, d.Digest())}
		l.Status, l.Exceptional, l.RestrictedTo = lot.Rejected, false, uuid.Nil
		why := "rejected by " + u.FullName + ": " + reason
		if d.Unevaluated != "" {
			why += " (" + d.Unevaluated + ")"
		}
		if err := w.put(kindLot, l.ID, string(audit.ReleaseReject), why, toLotRecord(l)); err != nil {
			return err
		}
		return w.putDisposition(d, why)
	})
	return d, err
}

// Dispositions lists a lot's decisions, oldest first.
func (s *ReleaseService) Dispositions(lotRef string) ([]release.Disposition, error) {
	var ds []release.Disposition
	err := s.db.view(func(tx kv.Tx) error {
		l, err := lotByRef(tx, lotRef)
		if err != nil {
			return err
		}
		ds, err = lotDispositions(tx, l.ID)
		return err
	})
	return ds, err
}

// Certificate assembles a lot's certificate of analysis: the evaluation
// against the specification version of its latest approval (or the default
// specification), its results, decisions and the audit chain head.
func (s *ReleaseService) Certificate(lotRef string) (release.Certificate, error) {
	var c release.Certificate
	now := s.db.now()
	err := s.db.view(func(tx kv.Tx) error {
		l, err := lotByRef(tx, lotRef)
		if err != nil {
			return err
		}
		c.Lot, c.Generated, c.Expired = l, now, l.Expired(now)
		c.Facility = string(tx.Bucket(bMeta).Get([]byte("facility")))
		if l.Source == lot.SourceUC {
			d, err := donorByRef(tx, l.DonorID.String())
			if err != nil {
				return err
			}
			c.Source = "allogeneic; donor " + d.Code
		} else {
			p, err := patientByID(tx, l.PatientID)
			if err != nil {
				return err
			}
			c.Source = fmt.Sprintf("autologous; source patient %s (%s)", p.MRN, p.Name)
		}
		if l.RestrictedTo != uuid.Nil {
			p, err := patientByID(tx, l.RestrictedTo)
			if err != nil {
				return err
			}
			c.RestrictedTo = p.MRN
		}
		if c.Dispositions, err = lotDispositions(tx, l.ID); err != nil {
			return err
		}
		var sp release.Spec
		if c.Evaluation, sp, err = s.db.evaluate(tx, l, release.ReleasedAgainst(c.Dispositions), now); err != nil {
			return err
		}
		c.SpecTitle = sp.Title
		if c.Results, err = resultsOf(tx, l.ID); err != nil {
			return err
		}
		// Verified in the same read transaction, so the head printed is
		// that of the records the certificate shows.
		v, err := verifyTx(tx)
		if err != nil {
			return err
		}
		c.ChainHead, c.AuditEntries, c.Verified, c.AuditProblems = v.HeadHex(), v.Entries, v.OK(), v.Problems
		if th, err := treeHead(tx); err == nil {
			c.TreeHead = th.String()
		}
		return nil
	})
	c.Database = s.db.Path()
	return c, err
}
