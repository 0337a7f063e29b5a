package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// LotService implements lot.Service on a DB.
type LotService struct{ db *DB }

var _ lot.Service = (*LotService)(nil)

// NewLotService returns the lot service of db.
func NewLotService(db *DB) *LotService { return &LotService{db: db} }

// AddDonor registers an umbilical-cord donor (lab role).
func (s *LotService) AddDonor(actor string, d lot.Donor) (lot.Donor, error) {
	if err := lot.ValidateCode("donor id", d.Code); err != nil {
		return d, err
	}
	if err := lot.ValidateText("the collection site", d.Site, true); err != nil {
		return d, lot.OnField("site", err)
	}
	if d.Delivered.IsZero() || d.Consented.IsZero() {
		return d, lot.FieldErrorf("delivered", lot.EINVALID, "the delivery date and the consent date are required: when the cord was delivered and when the donor consented")
	}
	err := s.db.update(actor, audit.DonorAdd, func(w *writer) error {
		if d.Delivered.After(w.now) {
			return lot.FieldErrorf("delivered", lot.EINVALID, "the delivery date %s is in the future", lot.FormatDate(d.Delivered))
		}
		if d.Consented.After(w.now) {
			return lot.FieldErrorf("consented", lot.EINVALID, "the consent date %s is in the future", lot.FormatDate(d.Consented))
		}
		if _, ok := lookup(w.tx, "idx_donor_code", d.Code); ok {
			return lot.Errorf(lot.ECONFLICT, "donor %s is already registered; use another id, or look the donor up", d.Code).Run("donor show " + d.Code)
		}
		if err := refuseFolded(w.tx, "idx_donor_code_fold", d.Code, "donor show %s"); err != nil {
			return err
		}
		d.ID, d.CreatedAt, d.CreatedBy = s.db.NewID(), w.now, w.actor.Name
		if err := w.put(kindDonor, d.ID, string(audit.DonorAdd), "", toDonorRecord(d)); err != nil {
			return err
		}
		return writeIndexes(w.tx, kindDonor, d.ID)
	})
	return d, err
}

// Donor returns the donor with the given code.
func (s *LotService) Donor(ref string) (lot.Donor, error) {
	var d lot.Donor
	err := s.db.view(func(tx kv.Tx) (err error) { d, err = donorByRef(tx, ref); return err })
	return d, err
}

func donorByRef(tx kv.Tx, ref string) (lot.Donor, error) {
	id, ok := lookup(tx, "idx_donor_code", ref)
	if !ok {
		if u, err := uuid.Parse(ref); err == nil {
			id, ok = u, true
		}
	}
	var r donorRecord
	if ok {
		if found, err := get(tx, kindDonor, id, &r); err != nil || found {
			return r.donor(), err
		}
	}
	return lot.Donor{}, notFound("donor", ref, "check the donor id in the list of donors").Run("donor list")
}

// Donors lists every donor in registration order.
func (s *LotService) Donors() ([]lot.Donor, error) {
	var ds []lot.Donor
	err := s.db.view(func(tx kv.Tx) error {
		return forEach(tx, kindDonor, func(r *donorRecord) { ds = append(ds, r.donor()) })
	})
	return ds, err
}

// AddPatient registers a patient (admin, physician or nurse).
func (s *LotService) AddPatient(actor string, p lot.Patient) (lot.Patient, error) {
	if err := lot.ValidateCode("MRN", p.MRN); err != nil {
		return p, lot.OnField("mrn", err)
	}
	if err := lot.ValidateText("the name", p.Name, true); err != nil {
		return p, lot.OnField("name", err)
	}
	if p.Born.IsZero() {
		return p, lot.FieldErrorf("born", lot.EINVALID, "the date of birth is required: the patient's date of birth")
	}
	p.FormerMRNs, p.Corrections = nil, nil
	if _, err := lot.ParseSex(string(p.Sex)); err != nil {
		return p, lot.OnField("sex", err)
	}
	err := s.db.update(actor, audit.PatientAdd, func(w *writer) error {
		if err := lot.CheckBorn("the date of birth", p.Born, w.now); err != nil {
			return lot.OnField("born", err)
		}
		if id, ok := lookup(w.tx, "idx_patient_mrn", p.MRN); ok {
			if err := formerMRN(w.tx, id, p.MRN); err != nil {
				return err
			}
			return lot.Errorf(lot.ECONFLICT, "patient %s is already registered; check the MRN, or look the patient up", p.MRN).Run("patient show " + p.MRN)
		}
		if other, ok, err := mrnFolded(w.tx, p.MRN, uuid.Nil); err != nil {
			return err
		} else if ok {
			return lot.Errorf(lot.ECONFLICT, "MRN %s differs from the registered MRN %s only in letter case; a wristband read in another case must never reach another person: if this is that patient use %s, otherwise ask the registry for a distinct MRN",
				p.MRN, other, other)
		}
		p.ID, p.CreatedAt, p.CreatedBy = s.db.NewID(), w.now, w.actor.Name
		if err := w.put(kindPatient, p.ID, string(audit.PatientAdd), "", toPatientRecord(p)); err != nil {
			return err
		}
		return writeIndexes(w.tx, kindPatient, p.ID)
	})
	return p, err
}

// CorrectPatient corrects the master data of the patient with MRN mrn
// (patient.correct): a mistyped name, date of birth, sex or MRN. The record
// keeps every correction with the old and new values (the audit entry keeps
// the whole record before and after). A changed MRN moves the patient's
// entry in idx_patient_mrn and keeps the old MRN there too, reserved to the
// patient: weights, schedules, infusions, custody events and autologous lots
// refer to the patient by id, so they stay attached.
func (s *LotService) CorrectPatient(actor, mrn string, fix lot.PatientFix, reason string) (lot.Patient, lot.Correction, error) {
	var p lot.Patient
	var c lot.Correction
	err := s.db.update(actor, audit.PatientCorrect, func(w *writer) error {
		old, err := patientByMRN(w.tx, mrn)
		if err != nil {
			return err
		}
		if p, c, err = lot.CorrectPatient(old, fix, w.actor.Name, reason, w.now); err != nil {
			return err
		}
		if fix.MRN != "" {
			if err := checkNewMRN(w.tx, old, fix.MRN); err != nil {
				return err
			}
		}
		prev := append([]byte(nil), w.tx.Bucket(recordBuckets[kindPatient]).Get(p.ID[:])...)
		if err := w.put(kindPatient, p.ID, string(audit.PatientCorrect), reason, toPatientRecord(p)); err != nil {
			return err
		}
		if fix.MRN == "" {
			return nil
		}
		return rewriteIndexes(w.tx, kindPatient, p.ID, prev)
	})
	return p, c, err
}

// checkNewMRN refuses (ECONFLICT) correcting patient p's MRN to one that is
// another patient's MRN, current or former, or differs from one only in
// letter case. A former MRN of p itself may be its MRN again.
func checkNewMRN(tx kv.Tx, p lot.Patient, mrn string) error {
	if id, ok := lookup(tx, "idx_patient_mrn", mrn); ok {
		if id == p.ID {
			return nil
		}
		if err := formerMRN(tx, id, mrn); err != nil {
			return err
		}
		other, err := patientByID(tx, id)
		if err != nil {
			return err
		}
		return lot.FieldErrorf("mrn", lot.ECONFLICT, "the MRN %s is the MRN of another patient (%s, born %s); an MRN names one person: check the wristband and the hospital record",
			mrn, other.Name, lot.FormatDate(other.Born))
	}
	other, ok, err := mrnFolded(tx, mrn, p.ID)
	if err != nil || !ok {
		return err
	}
	return lot.FieldErrorf("mrn", lot.ECONFLICT, "the MRN %s differs from the registered MRN %s only in letter case; a wristband read in another case must never reach another person: ask the registry for a distinct MRN",
		mrn, other)
}

// formerMRN returns ECONFLICT when mrn, found in idx_patient_mrn for the
// patient id, is no longer that patient's MRN but a former one, reserved.
func formerMRN(tx kv.Tx, id uuid.UUID, mrn string) error {
	p, err := patientByID(tx, id)
	if err != nil || p.MRN == mrn {
		return err
	}
	return lot.Errorf(lot.ECONFLICT, "MRN %s is a former MRN of patient %s (%s), corrected %s; a former MRN stays reserved to its patient because it may still be on a wristband, a label or a paper record: ask the registry for a distinct MRN",
		mrn, p.MRN, p.Name, correctedWhen(p, mrn))
}

// correctedWhen says when and by whom the MRN was corrected away from mrn.
func correctedWhen(p lot.Patient, mrn string) string {
	for _, c := range p.Corrections {
		for _, ch := range c.Changes {
			if ch.Field == "MRN" && ch.Old == mrn {
				return fmt.Sprintf("%s by %s (%s)", lot.FormatTime(c.At), c.By, c.Reason)
			}
		}
	}
	return "earlier"
}

// CorrectDonor corrects a donor's delivery or consent date or collection
// site (donor.correct), keeping the old and new values in the record and
// the audit trail. Screenings keep the consent date they were recorded
// with.
func (s *LotService) CorrectDonor(actor, ref string, fix lot.DonorFix, reason string) (lot.Donor, lot.Correction, error) {
	var d lot.Donor
	var c lot.Correction
	err := s.db.update(actor, audit.DonorCorrect, func(w *writer) error {
		old, err := donorByRef(w.tx, ref)
		if err != nil {
			return err
		}
		if d, c, err = lot.CorrectDonor(old, fix, w.actor.Name, reason, w.now); err != nil {
			return err
		}
		return w.put(kindDonor, d.ID, string(audit.DonorCorrect), reason, toDonorRecord(d))
	})
	return d, c, err
}

// mrnFolded returns a registered MRN, current or former, equal to mrn under
// Unicode case folding (MRN-1001 for mrn-1001) that belongs to a patient
// other than except (uuid.Nil: any patient); of several, the first in byte
// order. It reads idx_patient_mrn_fold under mrn's folded key and the few
// patients found there, not every MRN: registration used to read every key
// of idx_patient_mrn inside its write transaction, ~5 ms of CPU at 100k
// patients (BENCHMARKS.md, run M).
func mrnFolded(tx kv.Tx, mrn string, except uuid.UUID) (string, bool, error) {
	var found string
	for _, id := range mrnFoldedIDs(tx, mrn) {
		if id == except {
			continue
		}
		p, err := patientByID(tx, id)
		if err != nil {
			return "", false, err
		}
		for _, m := range append([]string{p.MRN}, p.FormerMRNs...) {
			if strings.EqualFold(m, mrn) && (found == "" || m < found) {
				found = m
			}
		}
	}
	return found, found != "", nil
}

// Patient returns the patient with the given MRN (or UUID).
func (s *LotService) Patient(mrn string) (lot.Patient, error) {
	var p lot.Patient
	err := s.db.view(func(tx kv.Tx) (err error) { p, err = patientByMRN(tx, mrn); return err })
	return p, err
}

func patientByMRN(tx kv.Tx, mrn string) (lot.Patient, error) {
	id, ok := lookup(tx, "idx_patient_mrn", mrn)
	if !ok {
		if u, err := uuid.Parse(mrn); err == nil {
			id, ok = u, true
		}
	}
	if ok {
		r, found, err := getKept(tx, kindPatient, id, keptPatients)
		if err != nil {
			return lot.Patient{}, err
		}
		if p := r.patient(); found && p.MRN != mrn && p.ID.String() != mrn {
			// A former MRN: on an old wristband or label. Never resolve it
			// silently; name the patient's MRN now.
			return lot.Patient{}, lot.Errorf(lot.ENOTFOUND, "no patient has MRN %s now: it was corrected to %s %s; use %s, and replace any wristband or label that still shows %s",
				mrn, p.MRN, correctedWhen(p, mrn), p.MRN, mrn)
		} else if found {
			return p, nil
		}
	}
	if p, ok, err := patientByFoldedMRN(tx, mrn); err != nil || ok {
		return p, err
	}
	return lot.Patient{}, notFound("patient with MRN", mrn, "check the wristband MRN against the list of patients").Run("patient list")
}

// mrnFoldedIDs returns the ids of the patients with an MRN, current or
// former, equal to mrn under case folding (idx_patient_mrn_fold), one per
// patient.
func mrnFoldedIDs(tx kv.Tx, mrn string) []uuid.UUID {
	b := tx.Bucket([]byte("idx_patient_mrn_fold"))
	if b == nil {
		return nil // a file before schema 9, read only to be upgraded
	}
	prefix := mrnFoldKey(mrn)
	var ids []uuid.UUID
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) == len(prefix)+16 {
			ids = append(ids, uuid.UUID(k[len(prefix):]))
		}
	}
	return ids
}

// patientByFoldedMRN answers an MRN typed or scanned in another letter case
// (mrn-1001: Caps Lock, a scanner's setting) with the patient whose MRN it
// is, as a bag code is read in any case. It is that patient's and no one
// else's: registration and `patient correct --mrn` refuse an MRN that
// differs from another patient's, current or former, only in letter case
// (mrnFolded), so a folded MRN names one person. The patient is answered
// with the MRN as registered, which every command shows and every record
// keeps (a custody event, a release decision); nothing typed is stored.
// It refuses (ENOTFOUND), naming the value typed and what it matches: a
// folded match that is only a former MRN (as patientByMRN refuses the exact
// one, naming the MRN now), and several patients, possible only in a
// database that held such MRNs before the refusal (then only the exact MRN
// reaches a patient). ok is false when no MRN folds to mrn.
func patientByFoldedMRN(tx kv.Tx, mrn string) (lot.Patient, bool, error) {
	var ps []lot.Patient
	for _, id := range mrnFoldedIDs(tx, mrn) {
		p, err := patientByID(tx, id)
		if err != nil {
			return lot.Patient{}, false, err
		}
		ps = append(ps, p)
	}
	switch {
	case len(ps) == 0:
		return lot.Patient{}, false, nil
	case len(ps) > 1:
		var named []string
		for _, p := range ps {
			named = append(named, fmt.Sprintf("MRN %s (%s, born %s)", p.MRN, p.Name, lot.FormatDate(p.Born)))
		}
		return lot.Patient{}, true, lot.Errorf(lot.ENOTFOUND, "no patient has MRN %s exactly, and it differs only in letter case from the MRNs of %d patients, %s, registered before such MRNs were refused: type the MRN exactly as the hospital record shows it, letter case included",
			mrn, len(ps), joinAnd(named)).Run("patient list")
	}
	p := ps[0]
	if strings.EqualFold(p.MRN, mrn) {
		return p, true, nil
	}
	for _, f := range p.FormerMRNs {
		if strings.EqualFold(f, mrn) {
			return lot.Patient{}, true, lot.Errorf(lot.ENOTFOUND, "no patient has MRN %s now: %s was corrected to %s %s; use %s, and replace any wristband or label that still shows %s",
				mrn, f, p.MRN, correctedWhen(p, f), p.MRN, f)
		}
	}
	return lot.Patient{}, false, fmt.Errorf("index idx_patient_mrn_fold: patient %s holds no MRN %s in any letter case", p.ID, mrn)
}

func patientByID(tx kv.Tx, id uuid.UUID) (lot.Patient, error) {
	var r patientRecord
	found, err := get(tx, kindPatient, id, &r)
	if err == nil && !found {
		err = fmt.Errorf("patient %s is referenced but missing", id)
	}
	return r.patient(), err
}

// Patients lists every patient in registration order.
func (s *LotService) Patients() ([]lot.Patient, error) {
	var ps []lot.Patient
	err := s.db.view(func(tx kv.Tx) error {
		return forEach(tx, kindPatient, func(r *patientRecord) { ps = append(ps, r.patient()) })
	})
	return ps, err
}

// Weigh records a body weight measured at the given time (physician or nurse).
func (s *LotService) Weigh(actor, mrn string, g lot.Grams, at time.Time) (lot.Weight, error) {
	var wt lot.Weight
	if err := lot.CheckWeight("the weight", g); err != nil {
		return wt, lot.OnField("kg", err)
	}
	err := s.db.update(actor, audit.PatientWeigh, func(w *writer) error {
		// at is the caller's: a run again (group commit, tx.go) must see
		// it as given, not the time of an earlier run.
		at := at
		if at.IsZero() {
			at = w.now
		}
		if err := lot.CheckNotFuture("the time weighed", at, w.now); err != nil {
			return lot.OnField("at", err)
		}
		p, err := patientByMRN(w.tx, mrn)
		if err != nil {
			return err
		}
		wt = lot.Weight{ID: s.db.NewID(), PatientID: p.ID, Grams: g, MeasuredAt: at.UTC(), RecordedBy: w.actor.Name, RecordedAt: w.now.UTC()}
		if err := w.put(kindWeight, wt.ID, string(audit.PatientWeigh), "", toWeightRecord(wt)); err != nil {
			return err
		}
		return writeIndexes(w.tx, kindWeight, wt.ID)
	})
	return wt, err
}

// Weights returns a patient's weights in the order they count, the one that
// doses last (dose.SortWeights): a weight dated ahead counts as recorded.
func (s *LotService) Weights(mrn string) ([]lot.Weight, error) {
	var ws []lot.Weight
	err := s.db.view(func(tx kv.Tx) error {
		p, err := patientByMRN(tx, mrn)
		if err != nil {
			return err
		}
		ws, err = weightsOf(tx, p.ID)
		return err
	})
	dose.SortWeights(ws)
	return ws, err
}

func weightsOf(tx kv.Tx, patient uuid.UUID) ([]lot.Weight, error) {
	var ws []lot.Weight
	for _, id := range childrenOf(tx, "idx_weight_patient", patient, kindWeight) {
		r, _, err := getKept(tx, kindWeight, id, keptWeights)
		if err != nil {
			return nil, err
		}
		ws = append(ws, r.weight())
	}
	return ws, nil
}

// RegisterLot registers a lot in quarantine and issues its DIN (lab role).
func (s *LotService) RegisterLot(actor string, r lot.Registration) (lot.Lot, error) {
	var l lot.Lot
	err := s.db.update(actor, audit.LotRegister, func(w *writer) (err error) {
		l, err = w.registerLot(r)
		return err
	})
	return l, err
}

func (w *writer) registerLot(r lot.Registration) (lot.Lot, error) {
	if err := r.Validate(w.now); err != nil {
		return lot.Lot{}, err
	}
	if _, ok := lookup(w.tx, "idx_lot_number", r.Number); ok {
		return lot.Lot{}, lot.Errorf(lot.ECONFLICT, "lot %s is already registered; every lot number is used once", r.Number)
	}
	if err := refuseFolded(w.tx, "idx_lot_number_fold", r.Number, "lot show %s"); err != nil {
		return lot.Lot{}, err
	}
	zone, err := lotZone(w.tx)
	if err != nil {
		return lot.Lot{}, err
	}
	l := lot.Lot{ID: w.db.NewID(), Number: r.Number, Source: r.Source, Cells: r.Cells, Viability: r.Viability,
		VolumeML: r.VolumeML, Manufactured: r.Manufactured, Expires: r.Expires, Passage: r.Passage,
		Cryopreserved: r.Cryopreserved, Location: r.Location, Status: lot.Quarantine, CreatedAt: w.now, CreatedBy: w.actor.Name,
		FacilityZone: zone}
	if r.Source == lot.SourceUC {
		d, err := w.donor(r.Donor)
		if err != nil {
			return l, err
		}
		l.DonorID = d.ID
	} else {
		p, err := patientByMRN(w.tx, r.Patient)
		if err != nil {
			return l, err
		}
		l.PatientID = p.ID
	}
	din, err := w.nextDIN()
	if err != nil {
		return l, err
	}
	l.DIN = din
	if err := w.put(kindLot, l.ID, string(audit.LotRegister), "", toLotRecord(l)); err != nil {
		return l, err
	}
	return l, writeIndexes(w.tx, kindLot, l.ID)
}

// donor is donorByRef, remembered for the rest of the transaction.
func (w *writer) donor(ref string) (lot.Donor, error) {
	if d, ok := w.donors[ref]; ok {
		return d, nil
	}
	d, err := donorByRef(w.tx, ref)
	if err != nil {
		return d, err
	}
	if w.donors == nil {
		w.donors = map[string]lot.Donor{}
	}
	w.donors[ref] = d
	return d, nil
}

// nextDIN issues the next Donation Identification Number of this facility
// for the current year.
func (w *writer) nextDIN() (lot.DIN, error) {
	meta := w.tx.Bucket(bMeta)
	fin := string(meta.Get([]byte("facility")))
	if !w.finHeld || fin != w.fin {
		if err := refuseFacilityChanged(w.tx); err != nil {
			return lot.DIN{}, err
		}
		w.fin, w.finHeld = fin, true
	}
	yy := w.now.Year() % 100
	key := []byte(fmt.Sprintf("din/%02d", yy))
	var seq uint64
	if v := meta.Get(key); len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	seq++
	if seq > 999999 {
		return lot.DIN{}, lot.Errorf(lot.ECONFLICT, "facility %s has issued all 999999 DINs for year %02d", fin, yy)
	}
	din := lot.DIN{FIN: fin, Year: yy, Seq: int(seq)}
	// The counter is one unaudited meta value: a DIN it gives that a lot
	// already holds is refused, never issued twice (review 8).
	if id, ok := lookup(w.tx, "idx_lot_din", din.String()); ok {
		return lot.DIN{}, lot.Errorf(lot.ECONFLICT, "DIN %s, next by the DIN counter (meta %s), is already issued to lot %s; "+
			"the counter was set back outside celltrack (or the file restored beside newer labels), so nothing was registered: "+
			"have an admin verify the audit trail and restore a sound backup", din.EyeReadable(), key, lotName(w.tx, id)).Run("audit verify")
	}
	return din, meta.Put(key, itob(seq))
}

// lotName is the lab number of lot id, or its id when the record is gone.
func lotName(tx kv.Tx, id uuid.UUID) string {
	var r lotRecord
	if found, err := get(tx, kindLot, id, &r); err != nil || !found {
		return id.String()
	}
	return r.Number
}

// Lot returns the lot named by ref: lab lot number, DIN or UUID.
func (s *LotService) Lot(ref string) (lot.Lot, error) {
	var l lot.Lot
	err := s.db.view(func(tx kv.Tx) (err error) { l, err = lotByRef(tx, ref); return err })
	return l, err
}

func lotByRef(tx kv.Tx, ref string) (lot.Lot, error) {
	id, ok := lookup(tx, "idx_lot_number", ref)
	if !ok && looksLikeDIN(ref) {
		din, err := lot.ParseDIN(ref)
		if err != nil {
			return lot.Lot{}, err
		}
		id, ok = lookup(tx, "idx_lot_din", din.String())
	}
	if !ok {
		if u, err := uuid.Parse(ref); err == nil {
			id, ok = u, true
		}
	}
	if ok {
		var r lotRecord
		if found, err := get(tx, kindLot, id, &r); err != nil || found {
			if err != nil {
				return lot.Lot{}, err
			}
			zone, err := lotZone(tx)
			return r.lot(zone), err
		}
	}
	return lot.Lot{}, notFound("lot", ref, "give the lab lot number, the DIN from the label, or the UUID; the list of lots shows them").Run("lot list")
}

func lotByID(tx kv.Tx, id uuid.UUID) (lot.Lot, error) {
	r, found, err := getKept(tx, kindLot, id, keptLots)
	if err == nil && !found {
		err = fmt.Errorf("lot %s is referenced but missing", id)
	}
	if err != nil {
		return lot.Lot{}, err
	}
	zone, err := lotZone(tx)
	return r.lot(zone), err
}

// looksLikeDIN reports whether ref has the shape of a DIN (letter, then
// digits, 13 or 14 characters once spaces are dropped), so that a mistyped DIN
// gets the DIN parser's precise message rather than "no lot".
func looksLikeDIN(ref string) bool {
	s := strings.TrimPrefix(strings.NewReplacer(" ", "", "-", "").Replace(ref), "=")
	return (len(s) == 13 || len(s) == 14) && s[0] >= 'A' && s[0] <= 'Z' && strings.Trim(s[1:13], "0123456789") == ""
}

// Lots lists lots matching f in registration order. With f.Last it walks
// the lots from the newest back (ids are UUIDv7, in registration order)
// and stops at the f.Last-th match.
func (s *LotService) Lots(f lot.LotFilter) ([]lot.Lot, error) {
	var ls []lot.Lot
	match := func(r *lotRecord) bool {
		return (f.Status == "" || r.Status == f.Status) && (f.Source == "" || r.Source == f.Source)
	}
	err := s.db.view(func(tx kv.Tx) error {
		zone, err := lotZone(tx)
		if err != nil {
			return err
		}
		if f.Last <= 0 {
			return forEach(tx, kindLot, func(r *lotRecord) {
				if match(r) {
					ls = append(ls, r.lot(zone))
				}
			})
		}
		c := tx.Bucket(recordBuckets[kindLot]).Cursor()
		for k, _ := c.Last(); k != nil && len(ls) < f.Last; k, _ = c.Prev() {
			var r lotRecord
			if _, err := get(tx, kindLot, uuid.UUID(k), &r); err != nil {
				return err
			}
			if match(&r) {
				ls = append(ls, r.lot(zone))
			}
		}
		slices.Reverse(ls)
		return nil
	})
	return ls, err
}

// Import registers every row in one transaction, or none: each bad row is
// reported with its line number, and nothing is written if any row is bad.
func (s *LotService) Import(actor string, rows []lot.ImportRow) ([]lot.Lot, error) {
	var ls []lot.Lot
	err := s.db.update(actor, audit.LotImport, func(w *writer) error {
		var problems []string
		type firstRow struct {
			line   int
			number string
		}
		seen := make(map[string]firstRow, len(rows)) // by foldKey: two rows in one letter case or in two
		prefetchDonors(w.tx, rows)
		var key []byte
		for _, row := range rows {
			key = appendFoldKey(key[:0], row.Number)
			if first, dup := seen[string(key)]; dup {
				if first.number == row.Number {
					problems = append(problems, fmt.Sprintf("line %d: lot_number %q repeats line %d", row.Line, row.Number, first.line))
				} else {
					problems = append(problems, fmt.Sprintf("line %d: lot_number %q differs from %q on line %d only in letter case; one lot number names one lot: keep one of the rows, or give this lot a distinct number", row.Line, row.Number, first.number, first.line))
				}
				continue
			}
			seen[string(key)] = firstRow{row.Line, row.Number}
			l, err := w.registerLot(row.Registration)
			if err != nil {
				problems = append(problems, lot.ImportProblem(row.Line, err))
				if lot.ErrorCode(err) == lot.EINTERNAL {
					return err
				}
				continue
			}
			ls = append(ls, l)
		}
		if len(problems) > 0 {
			return lot.ImportError(problems)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// prefetchDonors tells the engine that the donors the rows name are read
// next (kv.Prefetch): on PostgreSQL they come in a few round trips, not
// one per 32 donors, and an import does not stop between two of its sends
// of buffered writes to ask for the next ones.
func prefetchDonors(tx kv.Tx, rows []lot.ImportRow) {
	idx := tx.Bucket([]byte("idx_donor_code"))
	if _, ok := idx.(kv.Prefetcher); !ok {
		return // bbolt: every read is in memory already
	}
	var codes [][]byte
	seen := map[string]bool{}
	for _, r := range rows {
		if r.Source == lot.SourceUC && !seen[r.Donor] {
			seen[r.Donor] = true
			codes = append(codes, []byte(r.Donor))
		}
	}
	if len(codes) < 2 {
		return
	}
	kv.Prefetch(idx, codes...)
	ids := make([]uuid.UUID, 0, len(codes))
	for _, c := range codes {
		if id, ok := lookup(tx, "idx_donor_code", string(c)); ok {
			ids = append(ids, id)
		}
	}
	prefetch(tx, kindDonor, ids)
}

// SplitLot divides a lot into containers whose codes derive from the DIN.
// With sp.Seen, the lot must stand as the form showed it (checkSeen): a
// split sent again does not split the lot again.
func (s *LotService) SplitLot(actor string, sp lot.Split) ([]lot.Container, error) {
	var cs []lot.Container
	err := s.db.update(actor, audit.LotSplit, func(w *writer) error {
		l, err := lotByRef(w.tx, sp.Lot)
		if err != nil {
			return err
		}
		if err := checkSeen(w.tx, sp.Seen, "lot "+l.Number, "To split more of it, use the form on the page as it is now, which shows the containers made", l.ID); err != nil {
			return err
		}
		if err := lot.CheckSplit(l, sp); err != nil {
			return err
		}
		vol := sp.VolumeEach
		if vol == 0 {
			vol = lot.Tenths(int64(l.VolumeML) * int64(sp.CellsEach) / int64(l.Cells))
		}
		for i := 1; i <= sp.Containers; i++ {
			c := lot.Container{ID: s.db.NewID(), LotID: l.ID, DIN: l.DIN, Number: l.Containers + i, Cells: sp.CellsEach,
				VolumeML: vol, Location: l.Location, Custodian: w.actor.Name, CreatedAt: w.now, CreatedBy: w.actor.Name}
			// A code already issued is never issued again (the lot's count of
			// containers, or its DIN, may have been set back).
			code := lot.ContainerCode(c.DIN, c.Number)
			if id, ok := lookup(w.tx, "idx_container_code", code); ok {
				return lot.Errorf(lot.ECONFLICT, "container code %s (container %d of lot %s) is already issued to container %s; "+
					"the file was changed outside celltrack, so nothing was split: have an admin verify the audit trail and restore a sound backup",
					code, c.Number, l.Number, id).Run("audit verify")
			}
			created := lot.Event{To: lot.Created, Location: l.Location, Custodian: w.actor.Name}
			if err := w.appendEvent(&c, created, string(audit.LotSplit), ""); err != nil {
				return err
			}
			if err := writeIndexes(w.tx, kindContainer, c.ID); err != nil {
				return err
			}
			cs = append(cs, c)
		}
		l.Containers += sp.Containers
		l.CellsSplit += lot.Cells(int64(sp.CellsEach) * int64(sp.Containers))
		return w.put(kindLot, l.ID, string(audit.LotSplit), "", toLotRecord(l))
	})
	return cs, err
}

// Container returns the container named by its code or UUID.
func (s *LotService) Container(ref string) (lot.Container, error) {
	var c lot.Container
	err := s.db.view(func(tx kv.Tx) (err error) { c, err = containerByRef(tx, ref); return err })
	return c, err
}

func containerByRef(tx kv.Tx, ref string) (lot.Container, error) {
	var id uuid.UUID
	ok := false
	if u, err := uuid.Parse(ref); err == nil {
		id, ok = u, true
	} else {
		din, n, err := lot.ParseContainerCode(ref)
		if err != nil {
			return lot.Container{}, err
		}
		id, ok = lookup(tx, "idx_container_code", lot.ContainerCode(din, n))
	}
	if ok {
		if r, found, err := getKept(tx, kindContainer, id, keptContainers); err != nil || found {
			return r.container(), err
		}
	}
	return lot.Container{}, notFound("container", ref, "scan or type the code on the container label; its lot's list of containers shows them").Run("container list LOT")
}

// Containers lists a lot's containers in number order.
func (s *LotService) Containers(lotRef string) ([]lot.Container, error) {
	var cs []lot.Container
	err := s.db.view(func(tx kv.Tx) error {
		l, err := lotByRef(tx, lotRef)
		if err != nil {
			return err
		}
		cs, err = containersOf(tx, l.ID)
		return err
	})
	return cs, err
}

func containersOf(tx kv.Tx, lotID uuid.UUID) ([]lot.Container, error) {
	return containersMemo(tx, lotID, nil)
}

// containersMemo is containersOf adding each container it decodes to memo
// by the id its index names (a nil memo: none kept), for a reader that
// meets a container again in the same transaction (TraceSnapshot).
func containersMemo(tx kv.Tx, lotID uuid.UUID, memo map[uuid.UUID]lot.Container) ([]lot.Container, error) {
	var cs []lot.Container
	for _, id := range childrenOf(tx, "idx_container_lot", lotID, kindContainer) {
		var r containerRecord
		if _, err := get(tx, kindContainer, id, &r); err != nil {
			return nil, err
		}
		c := r.container()
		if memo != nil {
			memo[id] = c
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Number < cs[j].Number })
	return cs, nil
}

// forEach decodes every record of kind, in key (creation) order.
func forEach[R any](tx kv.Tx, kind string, fn func(*R)) error {
	return tx.Bucket(recordBuckets[kind]).ForEach(func(k, v []byte) error {
		var r R
		if _, err := get(tx, kind, uuid.UUID(k), &r); err != nil {
			return err
		}
		fn(&r)
		return nil
	})
}
