package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// TraceSnapshot is the read side of the traceability reports (package
// trace builds them): the records and index walks a trace follows, in
// domain types, and the audit verification of what the report shows, all
// in one bbolt read transaction, so that a report's records and its
// provenance stamp are from the same moment. Every walk goes through an
// index (idx_lot_donor, idx_lot_patient, idx_container_lot,
// idx_event_container, idx_event_patient, idx_disposition_lot,
// idx_infusion_patient, idx_infusion_container, idx_reaction_infusion, …),
// so a trace's cost follows the size of its answer. It lives only inside
// ReadTrace's callback.
//
// The methods are thin: each calls the store's own reader of that record.
type TraceSnapshot struct {
	db *DB
	tx kv.Tx
	// ctx ends the whole verification of Stamp (ReadTraceContext).
	ctx context.Context
	// infusions holds each infusion record decoded in this snapshot: a lot's
	// trace meets every infusion twice (through its bag, then through its
	// patient's course for the departures from the protocol), and an
	// infusion, with its bedside check, is the largest record to decode.
	infusions map[uuid.UUID]dose.Infusion
	// aheadLots are the lots lotAhead has told the engine of.
	aheadLots map[uuid.UUID]bool
	// containers and schedules hold those read in this snapshot, by the
	// id they were read by: a trace reads a lot's containers, then each
	// infused bag again, and each infusion's schedule twice, for the
	// infusion's departures from its protocol.
	containers map[uuid.UUID]lot.Container
	schedules  map[uuid.UUID]dose.Schedule
	// zones holds the zone history of each site read (uuid.Nil: the
	// facility's alone), which every infusion of its courses consults.
	zones map[uuid.UUID]zonesOf
	// recorded holds the first audit entry of each record sought
	// (recordedSeq): each infusion of a course counts the days of all the
	// course's infusions, and is weighed against its weight's confirmation.
	recorded map[uuid.UUID]recordedAt
}

type recordedAt struct {
	seq uint64
	ok  bool
}

// ReadTrace runs fn on a read snapshot of the database.
func (db *DB) ReadTrace(fn func(*TraceSnapshot) error) error {
	return db.ReadTraceContext(context.Background(), fn)
}

// ReadTraceContext is ReadTrace for a request of a server: the report's
// reads — its rows, its verification — end with ctx's error once ctx is
// done (a stopping server cuts it).
func (db *DB) ReadTraceContext(ctx context.Context, fn func(*TraceSnapshot) error) error {
	return db.viewContext(ctx, func(tx kv.Tx) error { return fn(&TraceSnapshot{db: db, tx: tx, ctx: ctx}) })
}

// Prepare tells an engine that reads ahead (pgkv), before a trace's first
// read, what the trace of kind (a store kind: "lot", "patient", "donor",
// "container", as package trace names them) from ref by user reads whatever
// it finds, in the one round trip that begins the snapshot: the index key
// ref is looked up by, the facility (a lot's zone, a course's days), the
// checkpoint and the facility's name (the stamp), and the first pages of
// idx_user_name and of the users — the user who traces and the handlers
// the report names, every user of most databases. Each read then answers
// as without; a user past those pages is read as it comes.
func (s *TraceSnapshot) Prepare(user, kind, ref string) {
	if !kv.ReadsAhead(s.tx) {
		return
	}
	keys := []kv.BucketKey{{Bucket: bMeta, Key: metaCheckpoint}, {Bucket: bMeta, Key: []byte("facility")},
		{Bucket: []byte("idx_user_name"), Key: []byte(user)}}
	switch kind {
	case kindLot:
		keys = append(keys, kv.BucketKey{Bucket: []byte("idx_lot_number"), Key: []byte(ref)})
	case kindPatient:
		keys = append(keys, kv.BucketKey{Bucket: []byte("idx_patient_mrn"), Key: []byte(ref)})
	case kindDonor:
		keys = append(keys, kv.BucketKey{Bucket: []byte("idx_donor_code"), Key: []byte(ref)})
	case kindContainer:
		if din, n, err := lot.ParseContainerCode(ref); err == nil {
			keys = append(keys, kv.BucketKey{Bucket: []byte("idx_container_code"), Key: []byte(lot.ContainerCode(din, n))})
		}
	}
	kv.PrefetchReads(s.tx, kv.Reads{Keys: keys, Seeks: []kv.Seeks{facilitySeek()},
		Ends: []kv.End{{Bucket: []byte("idx_user_name")}, {Bucket: recordBuckets[kindUser]}}})
}

// Now is the store's clock (UTC).
func (s *TraceSnapshot) Now() time.Time { return s.db.now() }

// Database is the database file as a report names it: absolute and
// cleaned, so that "./../s1/lab.db" typed in one directory still names the
// file read when the report is read elsewhere; a PostgreSQL database by its
// URL without the password.
func (s *TraceSnapshot) Database() string {
	if IsPostgres(s.db.Path()) {
		return s.db.Path()
	}
	if abs, err := filepath.Abs(s.db.Path()); err == nil {
		return abs
	}
	return filepath.Clean(s.db.Path())
}

// User is the user called name: ENOTFOUND for an unknown name.
func (s *TraceSnapshot) User(name string) (audit.User, error) { return userByName(s.tx, name) }

// Donor is the donor with code or id ref: ENOTFOUND otherwise.
func (s *TraceSnapshot) Donor(ref string) (lot.Donor, error) { return donorByRef(s.tx, ref) }

// DonorByID is the donor with id; found is false when none is stored.
func (s *TraceSnapshot) DonorByID(id uuid.UUID) (d lot.Donor, found bool, err error) {
	var r donorRecord
	found, err = get(s.tx, kindDonor, id, &r)
	return r.donor(), found, err
}

// Patient is the patient with MRN mrn (current or former): ENOTFOUND otherwise.
func (s *TraceSnapshot) Patient(mrn string) (lot.Patient, error) { return patientByMRN(s.tx, mrn) }

// PatientByID is the patient with id; an error when none is stored.
func (s *TraceSnapshot) PatientByID(id uuid.UUID) (lot.Patient, error) { return patientByID(s.tx, id) }

// Lot is the lot with number, DIN or id ref: ENOTFOUND otherwise.
func (s *TraceSnapshot) Lot(ref string) (lot.Lot, error) { return lotByRef(s.tx, ref) }

// LotByID is the lot with id; an error when none is stored.
func (s *TraceSnapshot) LotByID(id uuid.UUID) (lot.Lot, error) { return lotByID(s.tx, id) }

// Container is the container with code or id ref: ENOTFOUND otherwise.
func (s *TraceSnapshot) Container(ref string) (lot.Container, error) {
	return containerByRef(s.tx, ref)
}

// ContainerByID is the container with id; found is false when none is stored.
func (s *TraceSnapshot) ContainerByID(id uuid.UUID) (c lot.Container, found bool, err error) {
	if c, ok := s.containers[id]; ok {
		return c, true, nil
	}
	var r containerRecord
	found, err = get(s.tx, kindContainer, id, &r)
	return r.container(), found, err
}

// LotsOfDonor are the ids of the lots made from a donor's cord
// (idx_lot_donor), oldest first.
func (s *TraceSnapshot) LotsOfDonor(donorID uuid.UUID) []uuid.UUID {
	return childrenOf(s.tx, "idx_lot_donor", donorID, kindLot)
}

// LotsOfPatient are the ids of the autologous lots made from a patient's
// cells (idx_lot_patient), oldest first.
func (s *TraceSnapshot) LotsOfPatient(patientID uuid.UUID) []uuid.UUID {
	return childrenOf(s.tx, "idx_lot_patient", patientID, kindLot)
}

// ContainersOf are a lot's containers (idx_container_lot), by number.
//
// A lot's trace reads next what they and their lot lead to: an engine that
// reads ahead (pgkv) is told so the first time (lotAhead).
func (s *TraceSnapshot) ContainersOf(lotID uuid.UUID) ([]lot.Container, error) {
	if s.containers == nil {
		s.containers = map[uuid.UUID]lot.Container{}
	}
	cs, err := containersMemo(s.tx, lotID, s.containers)
	if err == nil && !s.aheadLots[lotID] {
		if s.aheadLots == nil {
			s.aheadLots = map[uuid.UUID]bool{}
		}
		s.aheadLots[lotID] = true
		lotAhead(s.tx, lotID, cs)
	}
	return cs, err
}

// EventsOfContainer are a container's custody events (idx_event_container),
// oldest first.
func (s *TraceSnapshot) EventsOfContainer(id uuid.UUID) ([]lot.Event, error) {
	return eventsOf(s.tx, "idx_event_container", id)
}

// EventsOfPatient are the custody events naming a patient
// (idx_event_patient), oldest first; each carries the id its index names.
//
// A patient's trace asks for them first, then for the rest of what the
// patient's indexes list: an engine that reads ahead (pgkv) is told all of
// it here (patientAhead).
func (s *TraceSnapshot) EventsOfPatient(id uuid.UUID) ([]lot.Event, error) {
	patientAhead(s.tx, id)
	var es []lot.Event
	for _, eid := range childrenOf(s.tx, "idx_event_patient", id, kindEvent) {
		var r eventRecord
		if _, err := get(s.tx, kindEvent, eid, &r); err != nil {
			return nil, err
		}
		e := r.event()
		e.ID = eid
		es = append(es, e)
	}
	return es, nil
}

// InfusionsOfPatient are a patient's infusions (idx_infusion_patient, and
// those the patient's schedules record that it lacks), oldest first.
func (s *TraceSnapshot) InfusionsOfPatient(id uuid.UUID) ([]dose.Infusion, error) {
	ins, err := s.infusionsIn("idx_infusion_patient", id)
	if err != nil {
		return nil, err
	}
	return withScheduled(s.tx, id, ins)
}

// InfusionsOfContainer are the infusions a container went into
// (idx_infusion_container).
func (s *TraceSnapshot) InfusionsOfContainer(id uuid.UUID) ([]dose.Infusion, error) {
	return s.infusionsIn("idx_infusion_container", id)
}

// infusionsIn is store's infusionsIn with each record decoded once per
// snapshot (the snapshot is one read transaction, so a record cannot change
// under it).
func (s *TraceSnapshot) infusionsIn(index string, parent uuid.UUID) ([]dose.Infusion, error) {
	if s.infusions == nil {
		s.infusions = map[uuid.UUID]dose.Infusion{}
	}
	return infusionsMemo(s.tx, index, parent, s.infusions)
}

// Reactions are an infusion's reactions (idx_reaction_infusion), in order.
func (s *TraceSnapshot) Reactions(infusionID uuid.UUID) ([]dose.Reaction, error) {
	return reactionsOf(s.tx, infusionID)
}

// Weight is the weight record with id that infusion infusionID was dosed
// on, with the physician's confirmation of it (idx_weight_confirm) when
// that was written before the infusion — in the audit trail's order, the
// one its bedside check, run in the infusion's write, could count; found
// is false when no weight is stored.
func (s *TraceSnapshot) Weight(id, infusionID uuid.UUID) (w lot.Weight, conf *dose.WeightConfirmation, found bool, err error) {
	var r weightRecord
	if found, err = get(s.tx, kindWeight, id, &r); !found || err != nil {
		return w, nil, found, err
	}
	if cid, ok := lookup(s.tx, "idx_weight_confirm", string(id[:])); ok && s.recordedBefore(cid, infusionID) {
		var cr weightConfirmRecord
		ok, err := get(s.tx, kindWeightConfirm, cid, &cr)
		if err != nil {
			return w, nil, true, err
		}
		if ok {
			conf = &dose.WeightConfirmation{ID: cr.ID, WeightID: cr.WeightID, Reason: cr.Reason, Signature: cr.Signature}
		}
	}
	return r.weight(), conf, true, nil
}

// Dispositions are a lot's release decisions (idx_disposition_lot), oldest
// first.
func (s *TraceSnapshot) Dispositions(lotID uuid.UUID) ([]release.Disposition, error) {
	return lotDispositions(s.tx, lotID)
}

// Results are a lot's QC results (idx_result_lot), voided ones included.
func (s *TraceSnapshot) Results(lotID uuid.UUID) ([]release.Result, error) {
	return resultsOf(s.tx, lotID)
}

// Screenings are a donor's screenings (idx_screening_donor), voided ones
// included.
func (s *TraceSnapshot) Screenings(donorID uuid.UUID) ([]release.Screening, error) {
	return screeningsOf(s.tx, donorID)
}

// Labels are container c's label record id (uuid.Nil when no label was
// ever printed for it), its counts now, and its history: one step per
// audit entry of the label record that set a value.
func (s *TraceSnapshot) Labels(c lot.Container) (uuid.UUID, lot.LabelCount, []lot.LabelStep, error) {
	id, n, err := labelCount(s.tx, c)
	if err != nil || id == uuid.Nil {
		return id, n, nil, err
	}
	es, err := recordEntries(s.tx, id)
	if err != nil {
		return id, n, nil, err
	}
	var steps []lot.LabelStep
	for _, e := range es {
		if !e.State && len(e.New) == 0 {
			continue // an event that set no value
		}
		var r labelRecord
		if err := unmarshalRecord(e.New, &r); err != nil {
			return id, n, nil, fmt.Errorf("label history of container %s: audit entry %d: %w", c.Code(), e.Seq, err)
		}
		steps = append(steps, lot.LabelStep{At: e.Time, Action: e.Action, By: e.User, Reason: e.Reason, After: r.count()})
	}
	return id, n, steps, nil
}

// Schedule is the course schedule with id; found is false when none is
// stored.
func (s *TraceSnapshot) Schedule(id uuid.UUID) (sc dose.Schedule, found bool, err error) {
	if sc, ok := s.schedules[id]; ok {
		return sc, true, nil
	}
	var r scheduleRecord
	if found, err = get(s.tx, kindSchedule, id, &r); !found || err != nil {
		return r.schedule(), found, err
	}
	if s.schedules == nil {
		s.schedules = map[uuid.UUID]dose.Schedule{}
	}
	sc = r.schedule()
	s.schedules[id] = sc
	return sc, true, nil
}

// Protocol is the protocol version with id.
func (s *TraceSnapshot) Protocol(id uuid.UUID) (dose.StoredProtocol, error) {
	return protocolByID(s.tx, id)
}

// ProtocolNamed is the latest version of the protocol called name:
// ENOTFOUND for an unknown name.
func (s *TraceSnapshot) ProtocolNamed(name string) (dose.StoredProtocol, error) {
	return protocolByName(s.tx, name, 0)
}

// Zones is the time zone a schedule's days were counted in when an
// infusion was recorded (its site's, or the facility's, as they were then),
// read from the zone changes' audit entries once per site in this snapshot.
func (s *TraceSnapshot) Zones(sc dose.Schedule) (dose.ZoneAt, error) {
	if z, ok := s.zones[sc.SiteID]; ok {
		return z.given(s.recordedSeq), nil
	}
	z, err := scheduleZones(s.tx, sc)
	if err != nil {
		return nil, err
	}
	if s.zones == nil {
		s.zones = map[uuid.UUID]zonesOf{}
	}
	s.zones[sc.SiteID] = z
	return z.given(s.recordedSeq), nil
}

// recordedSeq is recordedSeq, once per record in this snapshot.
func (s *TraceSnapshot) recordedSeq(id uuid.UUID) (uint64, bool) {
	r, ok := s.recorded[id]
	if !ok {
		r.seq, r.ok = recordedSeq(s.tx, id)
		if s.recorded == nil {
			s.recorded = map[uuid.UUID]recordedAt{}
		}
		s.recorded[id] = r
	}
	return r.seq, r.ok
}

// recordedBefore says whether record a was written before record b, by
// their first audit entries; a record the trail has no entry of is not.
func (s *TraceSnapshot) recordedBefore(a, b uuid.UUID) bool {
	sa, oka := s.recordedSeq(a)
	sb, okb := s.recordedSeq(b)
	return oka && okb && sa < sb
}

// Handling is the handling of every container of the infusions f selects,
// oldest first. It seeks the period in idx_event_infused and reads only the
// infusions, containers, lots and custody events of that period.
func (s *TraceSnapshot) Handling(f dose.HandlingFilter) ([]dose.Handling, error) {
	return handlingRows(s.tx, f)
}

// Accounts is every account with its role changes, logins, wrong passwords
// and locks from the audit trail (which it reads whole).
func (s *TraceSnapshot) Accounts() ([]audit.AccessRow, error) { return accessRows(s.tx) }

// Settings are the database's session and password settings.
func (s *TraceSnapshot) Settings() audit.Settings { return settingsTx(s.tx) }

// Stamp verifies the audit trail for a report showing the records refs.
// When the database has a checkpoint (the head of the last passing full
// verification, recorded by `celltrack check`) and full is false, it checks
// those records against their latest audit entries and the chain from the
// checkpoint to the head (verifyReport); otherwise, or when the checkpoint's
// entry is gone or changed, it runs the whole of `audit verify` (verifyTx),
// which reads every entry and record.
func (s *TraceSnapshot) Stamp(refs []audit.Ref, full bool) (audit.Stamp, error) {
	if cp, ok := checkpointOf(s.tx); ok && !full {
		rr := make([]recordRef, len(refs))
		for i, r := range refs {
			rr[i] = recordRef{r.Kind, r.ID}
		}
		if rv, ok := verifyReport(s.tx, cp, rr); ok {
			st := audit.Stamp{Head: hex.EncodeToString(rv.Head[:]), Entries: int(rv.HeadSeq), Problems: rv.Problems,
				Scoped: true, Records: rv.Records, ChainFrom: rv.From, FullVerifyAt: cp.At}
			if th, err := treeHead(s.tx); err == nil {
				st.Tree = th.String()
			}
			return st, nil
		}
	}
	v, err := verifyTxContext(s.ctx, s.tx)
	if err != nil {
		return audit.Stamp{}, err
	}
	st := audit.Stamp{Head: v.HeadHex(), Entries: v.Entries, Problems: v.Problems}
	if v.Tree.Size > 0 {
		st.Tree = v.Tree.String()
	}
	return st, nil
}

// patientAhead tells an engine that reads ahead (pgkv) what a patient's
// trace reads of patient id, a level at a time, each in one round trip:
// the indexes walked from the patient (custody events, infusions,
// schedules, autologous lots) with the facility; the records they list;
// the containers the events and infusions name, with the index of each
// infusion's reactions; the containers' lots, the courses' protocols and
// the indexes walked from each container and lot (custody events,
// infusions, release decisions); the lots' donors and the records those
// indexes list. Each read then answers as without; what a level does not
// find is read as it comes.
func patientAhead(tx kv.Tx, id uuid.UUID) {
	if !kv.ReadsAhead(tx) {
		return
	}
	w := walkAhead{readAhead: readAhead{tx: tx}}
	w.seek("idx_event_patient", id)
	w.seek("idx_infusion_patient", id)
	w.seek("idx_schedule_patient", id)
	w.seek("idx_lot_patient", id)
	w.level(facilitySeek())
	events := w.children("idx_event_patient", id, kindEvent)
	infusions := w.children("idx_infusion_patient", id, kindInfusion)
	schedules := w.children("idx_schedule_patient", id, kindSchedule)
	w.children("idx_lot_patient", id, kindLot)
	w.level()
	containers := w.ids(kindEvent, "container_id", events)
	for _, iid := range infusions {
		if v := tx.Bucket(recordBuckets[kindInfusion]).Get(iid[:]); v != nil {
			var ir infusionRecord
			if unmarshalRecord(v, &ir) == nil {
				for _, c := range ir.infusion().Containers {
					containers = append(containers, c.ContainerID)
				}
			}
		}
	}
	w.records(kindContainer, containers...)
	next := w.infused(infusions)
	w.level()
	w.infusedNext(next)
	lots := w.ids(kindContainer, "lot_id", containers)
	w.records(kindLot, lots...)
	w.records(kindProtocol, w.ids(kindSchedule, "protocol_id", schedules)...)
	w.seek("idx_event_container", containers...)
	w.seek("idx_infusion_container", containers...)
	w.seek("idx_disposition_lot", lots...)
	w.level()
	w.records(kindDonor, w.ids(kindLot, "donor_id", lots)...)
	for _, c := range containers {
		w.children("idx_event_container", c, kindEvent)
		w.children("idx_infusion_container", c, kindInfusion)
	}
	for _, l := range lots {
		w.children("idx_disposition_lot", l, kindDisposition)
	}
	w.level()
}

// walkAhead is readAhead for a trace's walk: index seeks from ids, and the
// ids records read before name.
type walkAhead struct {
	readAhead
	idx []kv.BucketKey
	// firsts are audit_entity Seeks to records' ids: the first entry of
	// each, which recordedSeq reads.
	firsts []kv.BucketKey
	r      jsonFields
}

// seek adds Seeks to the ids in index, reading up to candidateChildren
// pairs from each.
func (w *walkAhead) seek(index string, ids ...uuid.UUID) {
	for _, id := range ids {
		w.idx = append(w.idx, kv.BucketKey{Bucket: []byte(index), Key: id[:]})
	}
}

// level reads what was added, with more, in one round trip.
func (w *walkAhead) level(more ...kv.Seeks) {
	w.read(append(more, kv.Seeks{From: candidateChildren, Keys: w.idx}, kv.Seeks{From: 1, Keys: w.firsts})...)
	w.idx, w.firsts = nil, nil
}

// recorded adds the Seeks recordedSeq makes for the records with ids.
func (w *walkAhead) recorded(ids ...uuid.UUID) {
	for _, id := range ids {
		w.firsts = append(w.firsts, kv.BucketKey{Bucket: bAuditEntity, Key: id[:]})
	}
}

// infused adds what a patient's trace reads of each of the infusions with
// ids (as read before; a patient's are few) besides the records its
// indexes list: its weight record and the index of that weight's
// confirmation, its course, its first audit entry (recordedSeq: the zone
// its days were counted in), the index of its reactions and its patient's
// indexes of infusions and courses (the course's other days), with the
// facility's audit_entity pairs (its zone history). The next level
// (infusedNext) reads what those lead to.
func (w *walkAhead) infused(ids []uuid.UUID) (next infusedAhead) {
	b := w.tx.Bucket(recordBuckets[kindInfusion])
	patients := map[uuid.UUID]bool{}
	for _, id := range ids {
		v := b.Get(id[:])
		if v == nil {
			continue
		}
		if w.r.parse(v); w.r.err != nil {
			continue
		}
		weight, schedule, patient := w.r.id("weight_id"), w.r.id("schedule_id"), w.r.id("patient_id")
		if w.r.err != nil {
			w.r.err = nil
			continue
		}
		if weight != uuid.Nil {
			w.records(kindWeight, weight)
			w.keys = append(w.keys, kv.BucketKey{Bucket: []byte("idx_weight_confirm"), Key: weight[:]})
			next.weights = append(next.weights, weight)
		}
		if schedule != uuid.Nil {
			w.records(kindSchedule, schedule)
			next.schedules = append(next.schedules, schedule)
		}
		if patient != uuid.Nil && !patients[patient] {
			patients[patient] = true
			w.seek("idx_infusion_patient", patient)
			w.seek("idx_schedule_patient", patient)
			next.patients = append(next.patients, patient)
		}
		w.seek("idx_reaction_infusion", id)
		w.recorded(id)
		next.infusions = append(next.infusions, id)
	}
	if len(ids) > 0 {
		if f, ok, err := facilityRec(w.tx); err == nil && ok {
			w.seek(string(bAuditEntity), f.ID)
			next.facility = f.ID
		}
	}
	return next
}

// infusedAhead is what infused found for the level after it.
type infusedAhead struct {
	infusions, weights, schedules, patients []uuid.UUID
	facility                                uuid.UUID
}

// infusedNext adds what the infusions infused read lead to: their
// reactions, the protocols of their courses, the confirmations of their
// weights with the first audit entry of each, the patients' other
// infusions and courses with the first audit entry of each infusion, and
// the facility's last audit entry (its zone history's key).
func (w *walkAhead) infusedNext(n infusedAhead) {
	for _, id := range n.infusions {
		w.children("idx_reaction_infusion", id, kindReaction)
	}
	w.records(kindProtocol, w.ids(kindSchedule, "protocol_id", n.schedules)...)
	for _, id := range n.weights {
		if cid, ok := lookup(w.tx, "idx_weight_confirm", string(id[:])); ok {
			w.records(kindWeightConfirm, cid)
			w.recorded(cid)
		}
	}
	for _, p := range n.patients {
		w.recorded(w.children("idx_infusion_patient", p, kindInfusion)...)
		w.children("idx_schedule_patient", p, kindSchedule)
	}
	if n.facility != uuid.Nil {
		if seqs := entitySeqs(w.tx, n.facility); len(seqs) > 0 {
			w.keys = append(w.keys, kv.BucketKey{Bucket: bAudit, Key: seqs[len(seqs)-1]})
		}
	}
}

// ids is field, an id, of each record of kind with ids of (as read
// before; none where a record is missing or its field is not an id).
func (w *walkAhead) ids(kind, field string, of []uuid.UUID) []uuid.UUID {
	var out []uuid.UUID
	b := w.tx.Bucket(recordBuckets[kind])
	for _, id := range of {
		if v := b.Get(id[:]); v != nil {
			if w.r.parse(v); w.r.err == nil {
				if u := w.r.id(field); w.r.err == nil && u != uuid.Nil {
					out = append(out, u)
				}
			}
		}
	}
	return out
}

// lotAhead tells an engine that reads ahead (pgkv) what a lot's trace reads
// after lot lotID's containers cs, a level at a time, each in one round
// trip: the indexes walked from each container and the lot (custody
// events, infusions, labels, results, release decisions) and the patients
// the bags were dispensed to; then the records those indexes list. Each
// read then answers as without; what it does not find is read as it comes.
// It stops there. Two more levels (what each infusion leads to: infused,
// infusedNext, as a patient's trace reads them) took a 100k lot of 98
// infused bags from 64 round trips to 16–18, but made it slower on a server
// (trace14-bench.md), as two more levels had for a command in session 12
// (pgwall12-bench.md): PostgreSQL finds each of a few hundred keys of a
// read-ahead by an index descent of its own, where the reads as they come
// find the bags' weights, courses, audit entries and their patients'
// indexes side by side (their ids were made together), a page of them in
// each round trip.
func lotAhead(tx kv.Tx, lotID uuid.UUID, cs []lot.Container) {
	if !kv.ReadsAhead(tx) || len(cs) == 0 {
		return
	}
	w := walkAhead{readAhead: readAhead{tx: tx}}
	ids := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
		if c.PatientID != uuid.Nil {
			w.records(kindPatient, c.PatientID)
		}
		w.keys = append(w.keys, kv.BucketKey{Bucket: []byte("idx_label_container"), Key: c.ID[:]})
	}
	w.seek("idx_event_container", ids...)
	w.seek("idx_infusion_container", ids...)
	w.seek("idx_result_lot", lotID)
	w.seek("idx_disposition_lot", lotID)
	w.level(facilitySeek())
	for _, c := range cs {
		w.children("idx_event_container", c.ID, kindEvent)
		w.children("idx_infusion_container", c.ID, kindInfusion)
		if id, ok := lookup(tx, "idx_label_container", string(c.ID[:])); ok {
			w.records(kindLabel, id)
		}
	}
	w.children("idx_result_lot", lotID, kindResult)
	w.children("idx_disposition_lot", lotID, kindDisposition)
	w.level()
}
