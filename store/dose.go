package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// Entity kinds of dosing.
const (
	kindProtocol      = "protocol"
	kindSchedule      = "schedule"
	kindInfusion      = "infusion"
	kindReaction      = "reaction"
	kindWeightConfirm = "weight_confirmation"
)

// DoseService implements dose.Service on a DB: it keeps protocols, schedules
// and infusions, and runs the bedside check.
type DoseService struct{ db *DB }

// NewDoseService returns the dosing service of db.
func NewDoseService(db *DB) *DoseService { return &DoseService{db: db} }

var _ dose.Service = (*DoseService)(nil)

// ---- protocols

// protocolRecord stores a protocol as its documented file format (Spec), so
// that what is stored is exactly what `protocol show --json` prints.
type protocolRecord struct {
	V         int             `json:"v"`
	ID        uuid.UUID       `json:"id"`
	Name      string          `json:"name"`
	Version   int             `json:"version"`
	Spec      json.RawMessage `json:"spec"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

func toProtocolRecord(p dose.StoredProtocol) (protocolRecord, error) {
	spec, err := json.Marshal(p.File())
	return protocolRecord{1, p.ID, p.Name, p.Version, spec, p.CreatedAt, p.CreatedBy}, err
}

func (r protocolRecord) protocol() (dose.StoredProtocol, error) {
	p, err := dose.ParseProtocol(r.Spec)
	if err != nil {
		return dose.StoredProtocol{}, fmt.Errorf("stored protocol %s v%d: %w", r.Name, r.Version, err)
	}
	p.Version = r.Version
	return dose.StoredProtocol{Protocol: p, ID: r.ID, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}, nil
}

func protocolKey(name string, version int) []byte {
	return append([]byte(name+"\x00"), itob(uint64(version))...)
}

// addProtocol stores p as the next version of its name.
func (w *writer) addProtocol(p dose.Protocol, reason string) (dose.StoredProtocol, error) {
	if err := p.Validate(); err != nil {
		return dose.StoredProtocol{}, err
	}
	versions, err := protocolVersions(w.tx, p.Name)
	if err != nil {
		return dose.StoredProtocol{}, err
	}
	p.Version = len(versions) + 1
	sp := dose.StoredProtocol{Protocol: p, ID: w.db.NewID(), CreatedAt: w.now, CreatedBy: w.actor.Name}
	rec, err := toProtocolRecord(sp)
	if err != nil {
		return sp, err
	}
	if err := w.put(kindProtocol, sp.ID, string(audit.ProtocolAdd), reason, rec); err != nil {
		return sp, err
	}
	return sp, writeIndexes(w.tx, kindProtocol, sp.ID)
}

// installProtocols adds the built-in regimens; Init calls it in the
// transaction that creates the database.
func (w *writer) installProtocols() error {
	for _, p := range dose.Builtins() {
		if _, err := w.addProtocol(p, "built-in regimen installed at init: "+p.Source); err != nil {
			return err
		}
	}
	return nil
}

// protocolVersions returns every version of the protocol called name, oldest first.
func protocolVersions(tx kv.Tx, name string) ([]dose.StoredProtocol, error) {
	var ps []dose.StoredProtocol
	prefix := []byte(name + "\x00")
	c := tx.Bucket([]byte("idx_protocol_name")).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		p, err := protocolByID(tx, uuid.UUID(v))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// Every bedside check of a patient on a course reads its protocol version,
// which is never rewritten once stored: the parsed value is kept
// (decodedProtocols) and each caller gets a copy of its own.
func protocolByID(tx kv.Tx, id uuid.UUID) (dose.StoredProtocol, error) {
	v := tx.Bucket(recordBuckets[kindProtocol]).Get(id[:])
	if v == nil {
		return dose.StoredProtocol{}, fmt.Errorf("protocol %s is indexed but not stored", id)
	}
	return decodedProtocols.get(id, v)
}

// decodedProtocols holds protocol records parsed by protocolByID.
var decodedProtocols = newDecodedCache(func(id uuid.UUID, v []byte) (dose.StoredProtocol, error) {
	var r protocolRecord
	if err := unmarshalRecord(v, &r); err != nil {
		return dose.StoredProtocol{}, fmt.Errorf("decode %s %s: %w", kindProtocol, id, err)
	}
	return r.protocol()
}, func(p dose.StoredProtocol) dose.StoredProtocol {
	p.Bands, p.Changes, p.Phases = slices.Clone(p.Bands), slices.Clone(p.Changes), slices.Clone(p.Phases)
	return p
})

// protocolByName returns version of name, or its latest version when version is 0.
func protocolByName(tx kv.Tx, name string, version int) (dose.StoredProtocol, error) {
	ps, err := protocolVersions(tx, name)
	if err != nil {
		return dose.StoredProtocol{}, err
	}
	if len(ps) == 0 {
		return dose.StoredProtocol{}, notFound("protocol", name, "the list of protocols names them").Run("protocol list")
	}
	if version < 0 {
		return dose.StoredProtocol{}, lot.FieldErrorf("version", lot.EINVALID, "the protocol version %d is not a version; versions count from 1 (protocol %s has 1–%d)", version, name, len(ps))
	}
	if version == 0 {
		return ps[len(ps)-1], nil
	}
	if version < 1 || version > len(ps) {
		return dose.StoredProtocol{}, lot.Errorf(lot.ENOTFOUND, "protocol %s has versions 1–%d, not %d", name, len(ps), version)
	}
	return ps[version-1], nil
}

// AddProtocol stores p as a new version of its name (physician).
func (s *DoseService) AddProtocol(actor string, p dose.Protocol) (dose.StoredProtocol, error) {
	var sp dose.StoredProtocol
	err := s.db.update(actor, audit.ProtocolAdd, func(w *writer) (err error) {
		sp, err = w.addProtocol(p, "")
		return err
	})
	return sp, err
}

// Protocol returns a version of a protocol (0: the latest).
func (s *DoseService) Protocol(name string, version int) (dose.StoredProtocol, error) {
	var p dose.StoredProtocol
	err := s.db.view(func(tx kv.Tx) (err error) { p, err = protocolByName(tx, name, version); return err })
	return p, err
}

// Protocols lists the latest version of every protocol, by name.
func (s *DoseService) Protocols() ([]dose.StoredProtocol, error) {
	var ps []dose.StoredProtocol
	err := s.db.view(func(tx kv.Tx) error {
		latest := map[string]bool{}
		c := tx.Bucket([]byte("idx_protocol_name")).Cursor()
		var names []string
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			name := string(k[:bytes.IndexByte(k, 0)])
			if !latest[name] {
				latest[name] = true
				names = append(names, name)
			}
		}
		for _, n := range names {
			p, err := protocolByName(tx, n, 0)
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
		return nil
	})
	return ps, err
}

// ---- schedules

type dateChangeRecord struct {
	Infusion  int             `json:"infusion"`
	Date      time.Time       `json:"date"`
	Reason    string          `json:"reason"`
	Signature audit.Signature `json:"signature"`
}

type scheduleRecord struct {
	V               int                `json:"v"`
	ID              uuid.UUID          `json:"id"`
	PatientID       uuid.UUID          `json:"patient_id"`
	ProtocolID      uuid.UUID          `json:"protocol_id"`
	Protocol        string             `json:"protocol"`
	ProtocolVersion int                `json:"protocol_version"`
	Course          int                `json:"course"`
	Start           time.Time          `json:"start"`
	SiteID          uuid.UUID          `json:"site_id,omitzero"`
	Site            string             `json:"site,omitempty"`
	Changes         []dateChangeRecord `json:"changes,omitempty"`
	Given           []givenRecord      `json:"given,omitempty"`
	CreatedAt       time.Time          `json:"created_at"`
	CreatedBy       string             `json:"created_by"`
}

// givenRecord is an infusion a schedule records as given on it. A schedule
// record of version 2 (schema 13) carries the list, empty until its first
// infusion; one of version 1 has none (dose.Schedule.GivenListed).
type givenRecord struct {
	Infusion   int       `json:"infusion"`
	InfusionID uuid.UUID `json:"infusion_id"`
}

func toScheduleRecord(s dose.Schedule) scheduleRecord {
	r := scheduleRecord{1, s.ID, s.PatientID, s.ProtocolID, s.Protocol, s.ProtocolVersion, s.Course, s.Start, s.SiteID, s.Site, nil, nil, s.CreatedAt, s.CreatedBy}
	for _, c := range s.Changes {
		r.Changes = append(r.Changes, dateChangeRecord{c.Infusion, c.Date, c.Reason, c.Signature})
	}
	if s.GivenListed {
		r.V = 2
		for _, g := range s.Given {
			r.Given = append(r.Given, givenRecord{g.Number, g.InfusionID})
		}
	}
	return r
}

func (r scheduleRecord) schedule() dose.Schedule {
	s := dose.Schedule{ID: r.ID, PatientID: r.PatientID, ProtocolID: r.ProtocolID, Protocol: r.Protocol, ProtocolVersion: r.ProtocolVersion,
		Course: r.Course, Start: r.Start, SiteID: r.SiteID, Site: r.Site, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, GivenListed: r.V >= 2}
	for _, c := range r.Changes {
		s.Changes = append(s.Changes, dose.DateChange{Infusion: c.Infusion, Date: c.Date, Reason: c.Reason, Signature: c.Signature})
	}
	for _, g := range r.Given {
		s.Given = append(s.Given, dose.GivenInfusion{Number: g.Infusion, InfusionID: g.InfusionID})
	}
	return s
}

// coursesOf returns a patient's schedules, oldest first, planned as of now.
func coursesOf(tx kv.Tx, patientID uuid.UUID, now time.Time) ([]dose.Course, error) {
	infs, err := infusionsOfPatient(tx, patientID)
	if err != nil {
		return nil, err
	}
	return coursesWith(tx, patientID, now, infs)
}

// coursesWith is coursesOf given the patient's infusions, infs, read once
// by a caller that needs them too (the bedside check).
func coursesWith(tx kv.Tx, patientID uuid.UUID, now time.Time, infs []dose.Infusion) ([]dose.Course, error) {
	var cs []dose.Course
	for _, id := range childrenOf(tx, "idx_schedule_patient", patientID, kindSchedule) {
		r, _, err := getKept(tx, kindSchedule, id, keptSchedules)
		if err != nil {
			return nil, err
		}
		s := r.schedule()
		p, err := protocolByID(tx, s.ProtocolID)
		if err != nil {
			return nil, err
		}
		given, lacks, extra, err := givenOn(tx, s, infs, nil)
		if err != nil {
			return nil, err
		}
		loc, from, err := scheduleZone(tx, s)
		if err != nil {
			return nil, err
		}
		var zones *zonesOf
		plan := func() ([]dose.Entry, error) {
			if len(given) > 0 && zones == nil {
				z, err := scheduleZones(tx, s)
				if err != nil {
					return nil, err
				}
				zones = &z
			}
			if zones != nil {
				prefetchRecorded(tx, given)
				if err := dose.GivenDays(given, zones.given(func(id uuid.UUID) (uint64, bool) { return recordedSeq(tx, id) })); err != nil {
					return nil, err
				}
			}
			return dose.Plan(p.Protocol, s, given, now, loc), nil
		}
		es, err := plan()
		if err != nil {
			return nil, err
		}
		// A course stored before the list, still open by the index: its
		// infusion records decide (an index row more can only end it, and an
		// ended course takes no infusion, so one ended needs no walk).
		if !s.GivenListed && !dose.Ended(es) {
			stored, err := infusionsStored(tx, patientID, s.ID)
			if err != nil {
				return nil, err
			}
			if given, lacks, extra, err = givenOn(tx, s, infs, stored); err != nil {
				return nil, err
			}
			if es, err = plan(); err != nil {
				return nil, err
			}
		}
		cs = append(cs, dose.Course{Schedule: s, Protocol: p, Entries: es, Ended: dose.Ended(es), Zone: loc, ZoneFrom: from,
			IndexLacks: lacks, IndexExtra: extra})
	}
	return cs, nil
}

// givenOn returns the infusions given on schedule s, by number. A schedule
// that lists them (dose.Schedule.Given, audited with it) is the account:
// each listed infusion is taken from infs, the patient's infusions as the
// index lists them, or read by its id when the index lacks it; lacks names
// those, extra the infusions the index lists on s that the schedule does
// not. A schedule stored before the list (GivenListed false, a course begun
// before schema 13 and not infused since) has no audited list: its account is
// stored, the patient's infusion records themselves (infusionsStored, each
// audited and naming its schedule), and lacks names those on s the index
// does not list — the index alone is no account (review 8).
func givenOn(tx kv.Tx, s dose.Schedule, infs, stored []dose.Infusion) (given map[int]dose.GivenAt, lacks, extra []dose.GivenInfusion, err error) {
	given = map[int]dose.GivenAt{}
	if !s.GivenListed {
		indexed := make(map[uuid.UUID]bool, len(infs))
		for _, in := range infs {
			if in.ScheduleID == s.ID {
				indexed[in.ID] = true
				given[in.Number] = dose.GivenAt{InfusionID: in.ID, At: in.Start}
			}
		}
		for _, in := range stored {
			if in.ScheduleID == s.ID && !indexed[in.ID] {
				lacks = append(lacks, dose.GivenInfusion{Number: in.Number, InfusionID: in.ID})
				given[in.Number] = dose.GivenAt{InfusionID: in.ID, At: in.Start}
			}
		}
		return given, lacks, nil, nil
	}
	listed := make(map[uuid.UUID]bool, len(s.Given))
	for _, g := range s.Given {
		listed[g.InfusionID] = true
		at, found := time.Time{}, false
		for _, in := range infs {
			if in.ID == g.InfusionID {
				at, found = in.Start, true
				break
			}
		}
		if !found {
			lacks = append(lacks, g)
			var r infusionRecord
			if _, err := get(tx, kindInfusion, g.InfusionID, &r); err != nil {
				return nil, nil, nil, err
			}
			at = r.Start // zero when the record is gone too: checkIntact names it
		}
		given[g.Number] = dose.GivenAt{InfusionID: g.InfusionID, At: at}
	}
	for _, in := range infs {
		if in.ScheduleID == s.ID && !listed[in.ID] {
			extra = append(extra, dose.GivenInfusion{Number: in.Number, InfusionID: in.ID})
		}
	}
	return given, lacks, extra, nil
}

// activeCourse returns the patient's course that has not ended, if any.
func activeCourse(tx kv.Tx, patientID uuid.UUID, now time.Time) (*dose.Course, error) {
	infs, err := infusionsOfPatient(tx, patientID)
	if err != nil {
		return nil, err
	}
	return activeCourseWith(tx, patientID, now, infs)
}

// activeCourseWith is activeCourse given the patient's infusions, infs.
func activeCourseWith(tx kv.Tx, patientID uuid.UUID, now time.Time, infs []dose.Infusion) (*dose.Course, error) {
	cs, err := coursesWith(tx, patientID, now, infs)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if !cs[i].Ended {
			return &cs[i], nil
		}
	}
	return nil, nil
}

// CreateSchedule starts a course of a protocol's latest version for a
// patient on start (physician). A patient has one active course at a time; a
// second course of the same protocol starts after the first has ended, and
// never sooner after the patient's last infusion than dose.CheckCourseStart
// allows. site names the site that treats the patient on this course: its
// days are counted in that site's time zone ("" names none: the facility's).
func (s *DoseService) CreateSchedule(actor, mrn, protocol string, start time.Time, site string) (dose.Course, error) {
	var c dose.Course
	err := s.db.update(actor, audit.ScheduleCreate, func(w *writer) error {
		p, err := patientByMRN(w.tx, mrn)
		if err != nil {
			return err
		}
		pr, err := protocolByName(w.tx, protocol, 0)
		if err != nil {
			return err
		}
		cs, err := coursesOf(w.tx, p.ID, w.now)
		if err != nil {
			return err
		}
		course := 1
		for _, old := range cs {
			if !old.Ended {
				return lot.Errorf(lot.ECONFLICT, "patient %s is on course %d of %s, which has not ended; a physician changes that schedule, or wait until it ends",
					mrn, old.Schedule.Course, old.Schedule.Protocol).Run("schedule change")
			}
			if old.Schedule.Protocol == pr.Name {
				course = old.Schedule.Course + 1
			}
		}
		sc := dose.Schedule{ID: w.db.NewID(), PatientID: p.ID, ProtocolID: pr.ID, Protocol: pr.Name, ProtocolVersion: pr.Version,
			Course: course, Start: dose.Date(start), GivenListed: true, CreatedAt: w.now, CreatedBy: w.actor.Name}
		if site != "" {
			st, err := siteByCode(w.tx, site)
			if err != nil {
				return err
			}
			sc.SiteID, sc.Site = st.ID, st.Code
		}
		loc, from, err := scheduleZone(w.tx, sc)
		if err != nil {
			return err
		}
		last, lastDay, err := lastInfusion(w.tx, p.ID, sc)
		if err != nil {
			return err
		}
		if err := dose.CheckCourseStart(pr.Protocol, start, w.now, last, lastDay, loc); err != nil {
			return err
		}
		if err := w.put(kindSchedule, sc.ID, string(audit.ScheduleCreate), "", toScheduleRecord(sc)); err != nil {
			return err
		}
		if err := writeIndexes(w.tx, kindSchedule, sc.ID); err != nil {
			return err
		}
		es := dose.Plan(pr.Protocol, sc, nil, w.now, loc)
		c = dose.Course{Schedule: sc, Protocol: pr, Entries: es, Zone: loc, ZoneFrom: from}
		return nil
	})
	return c, err
}

// lastInfusion returns the patient's latest infusion on any course but s
// (a course being created has none), or nil when there is none, and the day
// a course s keeps clear of it (dose.LastInfusionDay): the later of its day
// on its own course and its day where s treats the patient, each counted in
// the zone in force at that site when it was recorded (zonesOf.given, as
// coursesWith's GivenDays count a course's own given days), so that a zone
// changed since does not move it (review 19 H), and a site in another zone
// does not count it a day earlier than its own course's history keeps it.
func lastInfusion(tx kv.Tx, patientID uuid.UUID, s dose.Schedule) (*dose.Infusion, time.Time, error) {
	ins, err := infusionsOfPatient(tx, patientID)
	if err != nil {
		return nil, time.Time{}, err
	}
	var last *dose.Infusion
	for i := range ins {
		if ins[i].ScheduleID != s.ID && (last == nil || ins[i].Start.After(last.Start)) {
			last = &ins[i]
		}
	}
	if last == nil {
		return nil, time.Time{}, nil
	}
	r, found, err := getKept(tx, kindSchedule, last.ScheduleID, keptSchedules)
	if err != nil {
		return nil, time.Time{}, err
	}
	if !found {
		return nil, time.Time{}, lot.Errorf(lot.EINTERNAL, "internal error: infusion %s names schedule %s, which is not stored; run the database check", last.ID, last.ScheduleID).Run("check")
	}
	var days [2]time.Time
	for i, sc := range []dose.Schedule{r.schedule(), s} {
		z, err := scheduleZones(tx, sc)
		if err != nil {
			return nil, time.Time{}, err
		}
		loc, err := z.given(func(id uuid.UUID) (uint64, bool) { return recordedSeq(tx, id) })(dose.GivenAt{InfusionID: last.ID, At: last.Start})
		if err != nil {
			return nil, time.Time{}, err
		}
		days[i] = dose.DateIn(last.Start, loc)
	}
	return last, dose.LastInfusionDay(days[0], days[1]), nil
}

// ChangeSchedule moves infusion n of the patient's active course to date, a
// signed, reasoned change by signer, who must be the acting physician and
// has been authenticated by the caller.
func (s *DoseService) ChangeSchedule(signer audit.User, mrn string, n int, date time.Time, reason string) (dose.Course, error) {
	var c dose.Course
	if err := lot.OnField("reason", lot.ValidateText("the reason", reason, true)); err != nil {
		return c, err
	}
	err := s.db.update(signer.Name, audit.ScheduleChange, func(w *writer) error {
		if err := stillProven(w.actor, signer, "signature.refused"); err != nil {
			return err
		}
		p, err := patientByMRN(w.tx, mrn)
		if err != nil {
			return err
		}
		ac, err := activeCourse(w.tx, p.ID, w.now)
		if err != nil {
			return err
		}
		if ac == nil {
			return lot.Errorf(lot.ECONFLICT, "patient %s has no active schedule to change", mrn)
		}
		if n < 1 || n > len(ac.Entries) {
			return lot.FieldErrorf("infusion", lot.EINVALID, "infusion %d is outside 1–%d of %s", n, len(ac.Entries), ac.Schedule.Protocol)
		}
		if e := ac.Entries[n-1]; e.Status == dose.Given {
			return lot.Errorf(lot.ECONFLICT, "infusion %d was given %s; a given infusion cannot be moved", n, lot.FormatTimeIn(e.Given.At, ac.Zone))
		}
		if today := dose.DateIn(w.now, ac.Zone); dose.Date(date).Before(today) {
			return lot.FieldErrorf("date", lot.EINVALID, "the new date %s is in the past (today is %s in %s)", lot.FormatDate(date), lot.FormatDate(today), lot.ZoneName(ac.Zone))
		}
		prev, prevDay, err := lastInfusion(w.tx, p.ID, ac.Schedule)
		if err != nil {
			return err
		}
		if err := dose.CheckDateChange(ac.Protocol.Protocol, ac.Schedule, ac.Entries, w.now, n, date, prev, prevDay, ac.Zone); err != nil {
			return err
		}
		sc := ac.Schedule
		ch := dose.DateChange{Infusion: n, Date: dose.Date(date), Reason: reason}
		ch.Signature = w.sign(w.actor, dose.MeaningSchedule, scheduleChangeDigest(sc.ID, ch))
		sc.Changes = append(sc.Changes, ch)
		if err := w.put(kindSchedule, sc.ID, string(audit.ScheduleChange), reason, toScheduleRecord(sc)); err != nil {
			return err
		}
		cs, err := activeCourse(w.tx, p.ID, w.now)
		if err != nil || cs == nil {
			return err
		}
		c = *cs
		return nil
	})
	return c, err
}

// Courses returns every course of a patient, oldest first, as of now.
func (s *DoseService) Courses(mrn string) (lot.Patient, []dose.Course, error) {
	var cs []dose.Course
	var p lot.Patient
	err := s.db.view(func(tx kv.Tx) (err error) {
		if p, err = patientByMRN(tx, mrn); err != nil {
			return err
		}
		cs, err = coursesOf(tx, p.ID, s.db.now())
		return err
	})
	return p, cs, err
}

// ---- weight confirmation

type weightConfirmRecord struct {
	V         int             `json:"v"`
	ID        uuid.UUID       `json:"id"`
	WeightID  uuid.UUID       `json:"weight_id"`
	Reason    string          `json:"reason"`
	Signature audit.Signature `json:"signature"`
}

// ConfirmWeight records a physician's signed confirmation of the patient's
// latest weight, needed when it changed more than 10 % since the last weight
// accepted for dosing (dose.Check). It confirms the weight shown and no
// other, and only when a bedside check needs it
// (dose.CheckWeightConfirmation, in the writing transaction): a weight
// recorded since the physician looked, or one no check needs confirmed, is
// refused, nothing written.
func (s *DoseService) ConfirmWeight(signer audit.User, mrn string, shown dose.WeightShown, reason string) (lot.Weight, error) {
	var wt lot.Weight
	if err := lot.OnField("reason", lot.ValidateText("the reason", reason, true)); err != nil {
		return wt, err
	}
	if shown == (dose.WeightShown{}) {
		return wt, dose.CheckWeightShown(shown, wt, mrn)
	}
	err := s.db.update(signer.Name, audit.WeightConfirm, func(w *writer) error {
		if err := stillProven(w.actor, signer, "signature.refused"); err != nil {
			return err
		}
		p, err := patientByMRN(w.tx, mrn)
		if err != nil {
			return err
		}
		if wt, err = weightToConfirm(w.tx, w.now, p, shown); err != nil {
			return err
		}
		r := weightConfirmRecord{V: 1, ID: w.db.NewID(), WeightID: wt.ID, Reason: reason}
		// The MRN as registered, not as typed (a wristband read in
		// another letter case finds the same patient).
		r.Signature = w.sign(w.actor, fmt.Sprintf("%s %s of %s", dose.MeaningConfirmWeight, wt.Grams, p.MRN), weightDigest(toWeightRecord(wt)))
		if err := w.put(kindWeightConfirm, r.ID, string(audit.WeightConfirm), reason, r); err != nil {
			return err
		}
		return writeIndexes(w.tx, kindWeightConfirm, r.ID)
	})
	return wt, err
}

// CheckConfirmWeight runs every check of ConfirmWeight but the signature,
// read only (see dose.Service).
func (s *DoseService) CheckConfirmWeight(mrn string, shown dose.WeightShown) (lot.Weight, error) {
	var wt lot.Weight
	if shown == (dose.WeightShown{}) {
		return wt, dose.CheckWeightShown(shown, wt, mrn)
	}
	err := s.db.view(func(tx kv.Tx) error {
		p, err := patientByMRN(tx, mrn)
		if err != nil {
			return err
		}
		wt, err = weightToConfirm(tx, s.db.now(), p, shown)
		return err
	})
	return wt, err
}

// weightToConfirm returns patient p's latest weight as of now when a
// confirmation of it, named as shown, may be signed
// (dose.CheckWeightConfirmation on the weights and what accepted them, as
// the bedside check reads them).
func weightToConfirm(tx kv.Tx, now time.Time, p lot.Patient, shown dose.WeightShown) (lot.Weight, error) {
	ins, err := infusionsOfPatient(tx, p.ID)
	if err != nil {
		return lot.Weight{}, err
	}
	f := dose.Facts{Now: now, Patient: p}
	if err := weightFacts(tx, &f, ins); err != nil {
		return lot.Weight{}, err
	}
	return dose.CheckWeightConfirmation(shown, f, p.MRN)
}

// ---- infusions

type infusedContainerRecord struct {
	ContainerID uuid.UUID  `json:"container_id"`
	LotID       uuid.UUID  `json:"lot_id"`
	Code        string     `json:"code"`
	Volume      lot.Tenths `json:"volume_tenths_ml"`
	Cells       lot.Cells  `json:"cells"`
}

type infusionRecord struct {
	V                      int                      `json:"v"`
	ID                     uuid.UUID                `json:"id"`
	PatientID              uuid.UUID                `json:"patient_id"`
	ScheduleID             uuid.UUID                `json:"schedule_id"`
	Protocol               string                   `json:"protocol"`
	ProtocolVersion        int                      `json:"protocol_version"`
	Course                 int                      `json:"course"`
	Number                 int                      `json:"number"`
	Start                  time.Time                `json:"start"`
	End                    time.Time                `json:"end"`
	WeightID               uuid.UUID                `json:"weight_id"`
	Weight                 lot.Grams                `json:"weight_grams"`
	Required               lot.Cells                `json:"required_cells"`
	Given                  lot.Cells                `json:"given_cells"`
	Volume                 lot.Tenths               `json:"volume_tenths_ml"`
	Deviation              lot.Tenths               `json:"deviation_tenths_pct"`
	EndotoxinMilliEUPerKgH int64                    `json:"endotoxin_milli_eu_per_kg_h"`
	Containers             []infusedContainerRecord `json:"containers"`
	Checks                 []dose.Result            `json:"checks"`
	Nurse                  audit.Signature          `json:"nurse"`
	Witness                audit.Signature          `json:"witness"`
}

func toInfusionRecord(in dose.Infusion) infusionRecord {
	r := infusionRecord{1, in.ID, in.PatientID, in.ScheduleID, in.Protocol, in.ProtocolVersion, in.Course, in.Number, in.Start, in.End,
		in.WeightID, in.Weight, in.Required, in.Given, in.Volume, in.Deviation, in.EndotoxinMilliEUPerKgH, nil, in.Checks, in.Nurse, in.Witness}
	for _, c := range in.Containers {
		r.Containers = append(r.Containers, infusedContainerRecord(c))
	}
	return r
}

func (r infusionRecord) infusion() dose.Infusion {
	in := dose.Infusion{ID: r.ID, PatientID: r.PatientID, ScheduleID: r.ScheduleID, Protocol: r.Protocol, ProtocolVersion: r.ProtocolVersion,
		Course: r.Course, Number: r.Number, Start: r.Start, End: r.End, WeightID: r.WeightID, Weight: r.Weight, Required: r.Required,
		Given: r.Given, Volume: r.Volume, Deviation: r.Deviation, EndotoxinMilliEUPerKgH: r.EndotoxinMilliEUPerKgH,
		Checks: r.Checks, Nurse: r.Nurse, Witness: r.Witness}
	for _, c := range r.Containers {
		in.Containers = append(in.Containers, dose.InfusedContainer(c))
	}
	return in
}

func infusionsIn(tx kv.Tx, index string, parent uuid.UUID) ([]dose.Infusion, error) {
	return infusionsMemo(tx, index, parent, nil)
}

// infusionsMemo is infusionsIn taking each infusion from memo when it is
// there and adding those it decodes (a nil memo: none kept), for a reader
// that meets one infusion more than once in a transaction (TraceSnapshot).
func infusionsMemo(tx kv.Tx, index string, parent uuid.UUID, memo map[uuid.UUID]dose.Infusion) ([]dose.Infusion, error) {
	var ins []dose.Infusion
	for _, id := range childrenOf(tx, index, parent, kindInfusion) {
		in, ok := memo[id]
		if !ok {
			var r infusionRecord
			if _, err := get(tx, kindInfusion, id, &r); err != nil {
				return nil, err
			}
			in = r.infusion()
			if memo != nil {
				memo[id] = in
			}
		}
		ins = append(ins, in)
	}
	return ins, nil
}

// infusionsOfPatient returns a patient's infusions, oldest first (for the
// traceability reports).
func infusionsOfPatient(tx kv.Tx, patientID uuid.UUID) ([]dose.Infusion, error) {
	return infusionsIn(tx, "idx_infusion_patient", patientID)
}

// infusionsStored returns a patient's infusions as the infusion records hold
// them, whatever the indexes say, in key (creation) order, from those made
// about when schedule was (a day before its UUIDv7 time, for a clock set
// back): an infusion on a course is made after its schedule. It walks the
// infusion records from there, decoding only those whose bytes hold the
// patient's id. It is the account of a course stored before its schedule
// listed the infusions given on it (givenOn); such a course gets its list at
// its next infusion, so the walk is made only while such a course is open.
func infusionsStored(tx kv.Tx, patientID, schedule uuid.UUID) ([]dose.Infusion, error) {
	var ins []dose.Infusion
	needle := []byte(patientID.String())
	c := tx.Bucket(recordBuckets[kindInfusion]).Cursor()
	for k, v := c.Seek(idsFrom(schedule, 24*time.Hour)); k != nil; k, v = c.Next() {
		if !bytes.Contains(v, needle) {
			continue
		}
		var r infusionRecord
		if err := unmarshalRecord(v, &r); err != nil {
			return nil, fmt.Errorf("decode %s %x: %w", kindInfusion, k, err)
		}
		if r.PatientID == patientID {
			ins = append(ins, r.infusion())
		}
	}
	return ins, nil
}

// idsFrom is the least UUIDv7 key made slack before id was (id's first 48
// bits are its Unix time in ms); for an id of another version, the first key.
func idsFrom(id uuid.UUID, slack time.Duration) []byte {
	from := make([]byte, 16)
	if id.Version() != 7 {
		return from
	}
	ms := uint64(id[0])<<40 | uint64(id[1])<<32 | uint64(id[2])<<24 | uint64(id[3])<<16 | uint64(id[4])<<8 | uint64(id[5])
	if d := uint64(slack.Milliseconds()); ms > d {
		ms -= d
	} else {
		ms = 0
	}
	for i := range 6 {
		from[i] = byte(ms >> (40 - 8*i))
	}
	return from
}

// infusionsRecorded returns a patient's infusions as the index lists them
// and, besides, those the patient's schedules record as given that the index
// lacks (dose.Schedule.Given, audited), oldest first: what `schedule show`
// and the traces list, so that an index row deleted behind celltrack's back
// hides no infusion from them.
func infusionsRecorded(tx kv.Tx, patientID uuid.UUID) ([]dose.Infusion, error) {
	ins, err := infusionsOfPatient(tx, patientID)
	if err != nil {
		return nil, err
	}
	return withScheduled(tx, patientID, ins)
}

// withScheduled adds to ins, the patient's infusions as the index lists
// them, those the patient's schedules record that ins lacks.
func withScheduled(tx kv.Tx, patientID uuid.UUID, ins []dose.Infusion) ([]dose.Infusion, error) {
	have := make(map[uuid.UUID]bool, len(ins))
	for _, in := range ins {
		have[in.ID] = true
	}
	added := false
	for _, id := range childrenOf(tx, "idx_schedule_patient", patientID, kindSchedule) {
		var r scheduleRecord
		if _, err := get(tx, kindSchedule, id, &r); err != nil {
			return nil, err
		}
		for _, g := range r.Given {
			if have[g.InfusionID] {
				continue
			}
			var ir infusionRecord
			if found, err := get(tx, kindInfusion, g.InfusionID, &ir); err != nil {
				return nil, err
			} else if !found {
				return nil, lot.Errorf(lot.EINTERNAL, "internal error: infusion %s (%d of schedule %s) is recorded on the schedule but not stored; run the database check", g.InfusionID, g.Infusion, id).Run("check")
			}
			have[g.InfusionID], added = true, true
			ins = append(ins, ir.infusion())
		}
	}
	if added {
		slices.SortFunc(ins, func(a, b dose.Infusion) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	}
	return ins, nil
}

// infusionsOfContainer returns the infusions a container went into (at most
// one), for the traceability reports.
func infusionsOfContainer(tx kv.Tx, containerID uuid.UUID) ([]dose.Infusion, error) {
	return infusionsIn(tx, "idx_infusion_container", containerID)
}

// Infusions returns a patient's infusions with their reactions.
func (s *DoseService) Infusions(mrn string) ([]dose.Infusion, map[uuid.UUID][]dose.Reaction, error) {
	var ins []dose.Infusion
	rs := map[uuid.UUID][]dose.Reaction{}
	err := s.db.view(func(tx kv.Tx) error {
		p, err := patientByMRN(tx, mrn)
		if err != nil {
			return err
		}
		if ins, err = infusionsRecorded(tx, p.ID); err != nil {
			return err
		}
		for _, in := range ins {
			if rs[in.ID], err = reactionsOf(tx, in.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return ins, rs, err
}

// ---- the bedside check

// weightFacts fills f's Weights, the patient's, and what accepted them for
// dosing: ConfirmedWeights (a physician's confirmation) and UsedWeights
// (an infusion of ins, the patient's, was given on it) — what the bedside
// check and a weight confirmation judge a weight by.
func weightFacts(tx kv.Tx, f *dose.Facts, ins []dose.Infusion) error {
	var err error
	if f.Weights, err = weightsOf(tx, f.Patient.ID); err != nil {
		return err
	}
	f.ConfirmedWeights, f.UsedWeights = map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	for _, w := range f.Weights {
		if _, ok := lookup(tx, "idx_weight_confirm", string(w.ID[:])); ok {
			f.ConfirmedWeights[w.ID] = true
		}
	}
	for _, in := range ins {
		f.UsedWeights[in.WeightID] = true
	}
	return nil
}

// facts gathers everything the bedside check reads, in tx. A code of refs
// it cannot find is refused on field "containers", the input that named it.
func facts(tx kv.Tx, now time.Time, p lot.Patient, refs []string, volume lot.Tenths) (dose.Facts, *dose.Course, error) {
	f := dose.Facts{Now: now, Patient: p, Refs: refs, Volume: volume}
	// What it reads of the patient and of each bag, asked for together
	// (a few round trips on PostgreSQL, nothing on bbolt).
	bedsideAhead(tx, p, refs)
	// The old copy of a migrated database: the target's records decide.
	if m, err := migratedMark(tx); err != nil {
		return f, nil, err
	} else if m != nil {
		f.OldCopy = m.BedsideNote()
	}
	// The patient's infusions are read once, for the course and for the
	// weights they used.
	ins, err := infusionsOfPatient(tx, p.ID)
	if err != nil {
		return f, nil, err
	}
	ac, err := activeCourseWith(tx, p.ID, now, ins)
	if err != nil {
		return f, nil, err
	}
	if ac != nil {
		f.Protocol, f.Schedule, f.Entries, f.Zone = &ac.Protocol.Protocol, &ac.Schedule, ac.Entries, ac.Zone
		f.IndexLacks, f.IndexExtra = ac.IndexLacks, ac.IndexExtra
	} else if f.Zone, err = facilityZone(tx); err != nil {
		return f, nil, err
	}
	if err := weightFacts(tx, &f, ins); err != nil {
		return f, nil, err
	}
	for _, ref := range refs {
		c, err := containerByRef(tx, ref)
		if err != nil {
			return f, nil, lot.OnField("containers", err)
		}
		cand, err := candidate(tx, c, ac)
		if err != nil {
			return f, nil, err
		}
		f.Containers = append(f.Containers, cand)
	}
	return f, ac, nil
}

// bedsideRecordsAhead tells an engine that reads ahead (pgkv) that the
// bedside check reads the records of the patient and the bags the
// command names, once their indexes (read before) give their ids: one
// round trip for all of them, not one each.
func bedsideRecordsAhead(tx kv.Tx, mrn string, refs []string) {
	if !kv.ReadsAhead(tx) {
		return
	}
	var keys []kv.BucketKey
	if id, ok := lookup(tx, "idx_patient_mrn", mrn); ok {
		keys = append(keys, kv.BucketKey{Bucket: recordBuckets[kindPatient], Key: id[:]})
	}
	for _, ref := range refs {
		if din, n, err := lot.ParseContainerCode(ref); err == nil {
			if id, ok := lookup(tx, "idx_container_code", lot.ContainerCode(din, n)); ok {
				keys = append(keys, kv.BucketKey{Bucket: recordBuckets[kindContainer], Key: id[:]})
			}
		}
	}
	kv.PrefetchKeys(tx, keys...)
}

// bedsideAhead tells an engine that reads ahead (pgkv) what facts,
// candidate and the check of the records against their audit entries
// (checkIntact, bedsideRecords) read of patient p and the bags refs, a
// level at a time, each level in one round trip for all of them: the
// indexes walked from the patient's, the bags' and the lots' ids with the
// lots, the bags' site codes and the facility; then the records those list
// — the patient's schedules, weights and their confirmations and
// infusions, each bag's site, custody events and infusions, its lot's
// results and dispositions; then the courses' protocols and the versions
// of the specifications the dispositions name; then those specifications.
// With each level go the audit_entity pairs of the records read before it
// (verifyCursors.prefetch), so that the check's own read of them finds
// them read. Each read then answers as without; what a level does not
// find (a record that does not decode, an index longer than read) is read
// as it comes. A bag refs names that cannot be read is left to candidate,
// which refuses it.
func bedsideAhead(tx kv.Tx, p lot.Patient, refs []string) {
	if !kv.ReadsAhead(tx) {
		return
	}
	a := readAhead{tx: tx}
	// The indexes, the lots, the site codes, the facility.
	idx := []kv.BucketKey{{Bucket: []byte("idx_infusion_patient"), Key: p.ID[:]}, {Bucket: []byte("idx_schedule_patient"), Key: p.ID[:]},
		{Bucket: []byte("idx_weight_patient"), Key: p.ID[:]}}
	a.checked(p.ID)
	var cs []lot.Container
	for _, ref := range refs {
		c, err := containerByRef(tx, ref)
		if err != nil {
			continue
		}
		cs = append(cs, c)
		a.records(kindLot, c.LotID)
		a.keys = append(a.keys, kv.BucketKey{Bucket: []byte("idx_site_code"), Key: []byte(c.Site)})
		idx = append(idx, kv.BucketKey{Bucket: []byte("idx_result_lot"), Key: c.LotID[:]}, kv.BucketKey{Bucket: []byte("idx_disposition_lot"), Key: c.LotID[:]},
			kv.BucketKey{Bucket: []byte("idx_event_container"), Key: c.ID[:]}, kv.BucketKey{Bucket: []byte("idx_infusion_container"), Key: c.ID[:]})
		a.checked(c.ID, c.LotID)
	}
	a.read(kv.Seeks{From: candidateChildren, Keys: idx}, facilitySeek())
	// The records the indexes list.
	if fr, ok, err := facilityRec(tx); err == nil && ok {
		a.checked(fr.ID)
	}
	schedules := a.children("idx_schedule_patient", p.ID, kindSchedule)
	a.checked(schedules...)
	infusions := a.children("idx_infusion_patient", p.ID, kindInfusion)
	a.checked(infusions...)
	weights := a.children("idx_weight_patient", p.ID, kindWeight)
	a.checked(weights...)
	for _, id := range weights {
		a.keys = append(a.keys, kv.BucketKey{Bucket: []byte("idx_weight_confirm"), Key: id[:]})
	}
	var dispositions []uuid.UUID
	for _, c := range cs {
		if id, ok := lookup(tx, "idx_site_code", c.Site); ok {
			a.records(kindSite, id)
		}
		results := a.children("idx_result_lot", c.LotID, kindResult)
		a.checked(results...)
		ds := a.children("idx_disposition_lot", c.LotID, kindDisposition)
		a.checked(ds...)
		dispositions = append(dispositions, ds...)
		a.children("idx_event_container", c.ID, kindEvent)
		a.children("idx_infusion_container", c.ID, kindInfusion)
	}
	a.read()
	// The courses' protocols, the specifications' versions, the weights'
	// confirmations.
	var r jsonFields
	for _, id := range schedules {
		if v := tx.Bucket(recordBuckets[kindSchedule]).Get(id[:]); v != nil {
			if r.parse(v); r.err == nil {
				if pid, err := uuid.Parse(r.str("protocol_id")); err == nil && r.err == nil {
					a.records(kindProtocol, pid)
					a.checked(pid)
				}
			}
		}
	}
	for _, id := range weights {
		if cid, ok := lookup(tx, "idx_weight_confirm", string(id[:])); ok {
			a.checked(cid)
		}
	}
	var specs []kv.BucketKey
	for _, id := range dispositions {
		if v := tx.Bucket(recordBuckets[kindDisposition]).Get(id[:]); v != nil {
			if r.parse(v); r.err == nil {
				if name := r.str("spec"); r.err == nil && name != "" {
					specs = append(specs, kv.BucketKey{Bucket: []byte("idx_spec_name"), Key: []byte(name + "@")})
				}
			}
		}
	}
	a.read(kv.Seeks{From: candidateChildren, Keys: specs})
	// The specifications.
	for _, s := range specs {
		c := tx.Bucket(s.Bucket).Cursor()
		for k, v := c.Seek(s.Key); k != nil && bytes.HasPrefix(k, s.Key); k, v = c.Next() {
			if len(v) == 16 {
				a.records(kindSpec, uuid.UUID(v))
				a.checked(uuid.UUID(v))
			}
		}
	}
	a.read()
}

// readAhead collects, for an engine that reads ahead (kv.ReadsAhead), what
// a read transaction reads next, and tells it all at once (read): one
// round trip for a level of a walk, whatever it holds.
type readAhead struct {
	tx   kv.Tx
	keys []kv.BucketKey
	ents []kv.BucketKey // audit_entity seeks (verifyCursors.prefetch)
}

// records adds the records of kind with ids.
func (a *readAhead) records(kind string, ids ...uuid.UUID) {
	for _, id := range ids {
		a.keys = append(a.keys, kv.BucketKey{Bucket: recordBuckets[kind], Key: id[:]})
	}
}

// children adds the records of kind an index lists under parent, as read
// before, and returns their ids.
func (a *readAhead) children(index string, parent uuid.UUID, kind string) []uuid.UUID {
	ids := children(a.tx, index, parent)
	a.records(kind, ids...)
	return ids
}

// checked adds the audit_entity pairs verifyRecord reads of the records
// with ids.
func (a *readAhead) checked(ids ...uuid.UUID) {
	for _, id := range ids {
		a.ents = append(a.ents, kv.BucketKey{Bucket: bAuditEntity, Key: entityUpper(id)})
	}
}

// read tells the engine what was added, with seeks, and starts the next
// level.
func (a *readAhead) read(seeks ...kv.Seeks) {
	kv.PrefetchReads(a.tx, kv.Reads{Keys: a.keys, Seeks: append(seeks, kv.Seeks{Below: prefetchBelow, From: 1, Keys: a.ents})})
	a.keys, a.ents = a.keys[:0], a.ents[:0]
}

// facilitySeek is the Seek whose page answers facilityRec's First: to the
// least key, with a pair below it asked for, so that the page runs from the
// table's start.
func facilitySeek() kv.Seeks {
	return kv.Seeks{Below: 1, From: 1, Keys: []kv.BucketKey{{Bucket: recordBuckets[kindFacility], Key: []byte{}}}}
}

// candidate gathers what the bedside check reads of container c, used
// under course ac (nil: none).
func candidate(tx kv.Tx, c lot.Container, ac *dose.Course) (dose.Candidate, error) {
	// What it reads of the container and its lot by key, and the indexes
	// it walks from their ids, each asked for together (a round trip for
	// each on PostgreSQL, nothing on bbolt).
	kv.PrefetchKeys(tx, kv.BucketKey{Bucket: recordBuckets[kindLot], Key: c.LotID[:]}, kv.BucketKey{Bucket: []byte("idx_site_code"), Key: []byte(c.Site)})
	kv.PrefetchSeeksIn(tx, 0, candidateChildren,
		kv.BucketKey{Bucket: []byte("idx_result_lot"), Key: c.LotID[:]}, kv.BucketKey{Bucket: []byte("idx_disposition_lot"), Key: c.LotID[:]},
		kv.BucketKey{Bucket: []byte("idx_event_container"), Key: c.ID[:]}, kv.BucketKey{Bucket: []byte("idx_infusion_container"), Key: c.ID[:]})
	l, err := lotByID(tx, c.LotID)
	if err != nil {
		return dose.Candidate{}, err
	}
	cand := dose.Candidate{Source: dose.Source{Container: c, Lot: l}}
	if cand.UsedIn, err = useZones(tx, c, ac); err != nil {
		return cand, err
	}
	if cand.EndotoxinMilliEUPerML, cand.EndotoxinFound, err = lotEndotoxin(tx, l.ID); err != nil {
		return cand, err
	}
	if cand.ViabilityFloor, cand.FloorSpec, cand.FloorWaived, err = viabilityFloor(tx, l); err != nil {
		return cand, err
	}
	if cand.DispensedAt, err = lastDispensed(tx, c.ID); err != nil {
		return cand, err
	}
	ins, err := infusionsOfContainer(tx, c.ID)
	cand.Infused = ins
	return cand, err
}

// candidateChildren is how many index pairs from each of its ids facts and
// candidate ask an engine to read ahead: a patient's infusions, schedules
// and weights, a bag's custody events and infusions, a lot's results and
// dispositions are mostly fewer (a walk past them reads on as without).
const candidateChildren = 16

// lastDispensed returns the time of the container's last dispensed event
// (zero when it was never dispensed). Of each custody event it decodes only
// "to" and, of a dispensed one, "at" (jsonFields, as encoding/json reads
// them into eventRecord): the bedside check reads nothing else of them, and
// a bag's history is most of what the check used to decode.
func lastDispensed(tx kv.Tx, containerID uuid.UUID) (time.Time, error) {
	var at time.Time
	var r jsonFields
	b := tx.Bucket(recordBuckets[kindEvent])
	for _, id := range childrenOf(tx, "idx_event_container", containerID, kindEvent) {
		v := b.Get(id[:])
		if v == nil {
			continue
		}
		if r.parse(v); r.err == nil && lot.ContainerState(r.need("to")) == lot.Dispensed {
			at = r.time("at")
		}
		if r.err != nil {
			return time.Time{}, fmt.Errorf("decode %s %s: %w", kindEvent, id, r.err)
		}
	}
	return at, nil
}

// viabilityFloor returns the post-thaw viability floor of the lot's latest
// release (approved or exceptional), release.ViabilityFloor, with that
// specification version as "name vN"; zero and "" when the lot was never
// released or the specification has no viability floor.
func viabilityFloor(tx kv.Tx, l lot.Lot) (floor lot.Tenths, spec, waived string, err error) {
	// The latest release decides: the decisions are read from the newest
	// back, each decoding only its "decision" until the release is found,
	// which alone is decoded whole (its rows and signatures are most of a
	// disposition's bytes).
	ids := childrenOf(tx, "idx_disposition_lot", l.ID, kindDisposition)
	b := tx.Bucket(recordBuckets[kindDisposition])
	var r jsonFields
	for i := len(ids) - 1; i >= 0; i-- {
		v := b.Get(ids[i][:])
		if v == nil {
			continue
		}
		r.parse(v)
		dec := release.Decision(r.need("decision"))
		if r.err != nil {
			return 0, "", "", fmt.Errorf("decode %s %s: %w", kindDisposition, ids[i], r.err)
		}
		if dec != release.Approved && dec != release.Exception {
			continue
		}
		// What ViabilityFloor reads of the release: its specification and,
		// of an exceptional one, the rows QA accepted failing, with the lot
		// and date it names them by. Signatures are not decoded.
		d := release.Disposition{Decision: dec, Spec: r.str("spec"), SpecVersion: r.num("spec_version")}
		if dec == release.Exception {
			d.Lot, d.At = r.str("lot"), r.time("at")
			if rows := r.raw("rows"); rows != nil {
				if err := unmarshalRecord(rows, &d.Rows); err != nil {
					r.fail("rows", err)
				}
			}
		}
		if r.err != nil {
			return 0, "", "", fmt.Errorf("decode %s %s: %w", kindDisposition, ids[i], r.err)
		}
		sp, err := specVersion(tx, d.Spec, d.SpecVersion)
		if err != nil {
			return 0, "", "", err
		}
		floor, waived, ok, err := release.ViabilityFloor(sp, d, l.Source)
		if !ok || err != nil {
			return 0, "", "", err
		}
		return floor, fmt.Sprintf("%s v%d", sp.Name, sp.Version), waived, nil
	}
	return 0, "", "", nil
}

// Check runs the bedside check for the patient and the containers named
// (read only). It returns the report; report.Err() is the NO-GO error.
func (s *DoseService) Check(mrn string, refs []string, volume lot.Tenths) (dose.Report, error) {
	return s.CheckAdministration(dose.Administration{MRN: mrn, Containers: refs, Volume: volume})
}

// administrationFacts reads what the bedside check of a looks at, as of
// its start (now when it has none; at most lot.ClockSkew ahead and 12 hours
// back), with its volume and the dose it was shown. An unknown patient is
// refused on field "mrn", and an unknown bag on "containers" (facts).
func administrationFacts(tx kv.Tx, now time.Time, a dose.Administration) (lot.Patient, time.Time, dose.Facts, *dose.Course, error) {
	// The keys the check reads that the command names, asked for together
	// (one round trip on PostgreSQL, nothing on bbolt).
	keys := []kv.BucketKey{{Bucket: []byte("idx_patient_mrn"), Key: []byte(a.MRN)}, {Bucket: bMeta, Key: metaMigrated}}
	for _, ref := range a.Containers {
		if din, n, err := lot.ParseContainerCode(ref); err == nil {
			keys = append(keys, kv.BucketKey{Bucket: []byte("idx_container_code"), Key: []byte(lot.ContainerCode(din, n))})
		}
	}
	kv.PrefetchKeys(tx, keys...)
	bedsideRecordsAhead(tx, a.MRN, a.Containers)
	p, err := patientByMRN(tx, a.MRN)
	if err != nil {
		return p, time.Time{}, dose.Facts{}, nil, lot.OnField("mrn", err)
	}
	start := a.Start
	if start.IsZero() {
		start = now
	}
	if err := lot.CheckNotFuture("the start time", start, now); err != nil {
		return p, start, dose.Facts{}, nil, lot.OnField("start", err)
	}
	if start.Before(now.Add(-12 * time.Hour)) {
		return p, start, dose.Facts{}, nil, lot.FieldErrorf("start", lot.EINVALID, "the start time %s must be within the last 12 hours", lot.FormatTime(start))
	}
	f, ac, err := facts(tx, start, p, a.Containers, a.Volume)
	f.Shown = a.Shown
	return p, start, f, ac, err
}

// CheckAdministration runs the bedside check of a as Administer will,
// read only (see dose.Service).
func (s *DoseService) CheckAdministration(a dose.Administration) (dose.Report, error) {
	var r dose.Report
	err := s.db.view(func(tx kv.Tx) error {
		if a.Recording {
			if err := refuseIfMigrated(tx); err != nil {
				return err
			}
		}
		_, _, f, ac, err := administrationFacts(tx, s.db.now(), a)
		if err != nil {
			return err
		}
		// A GO on records someone edited outside celltrack (an infusion
		// deleted, a bag set back to dispensed) would send the bag to the
		// patient although administer refuses to record it: the check reads
		// the same records and checks them against their audit entries too.
		if err := checkIntact(tx, bedsideRecords(tx, f, ac)...); err != nil {
			return err
		}
		r = dose.Check(f)
		return nil
	})
	if why := s.db.RolledBack(); err == nil && why != "" {
		// The records read may lack infusions the trail lost: a GO on
		// them could be a second dose.
		r.Checks = append([]dose.Result{{Name: "audit trail", Detail: "this server found the audit trail rolled back under it (" + why + "): infusions and other records may be missing, so no check on it can be trusted",
			Fix: "do not infuse on this check; call the administrator, who verifies the trail against the kept checkpoints and restores or investigates"}}, r.Checks...)
		r.GO = false
	}
	return r, err
}

// Administer records an infusion: it re-runs the whole bedside check inside
// the writing transaction (nothing can change between check and record) and,
// on GO, records the infusion with both signatures, marks each container
// infused and so the schedule entry given. nurse and witness have been
// authenticated by the caller; they must be different clinical users.
// Returns ENOGO with the report when a check fails, writing nothing.
func (s *DoseService) Administer(nurse, witness audit.User, a dose.Administration) (dose.Infusion, dose.Report, error) {
	var in dose.Infusion
	var rep dose.Report
	if err := dose.CheckSigners(nurse, witness); err != nil {
		return in, rep, err
	}
	err := s.db.update(nurse.Name, audit.DoseAdminister, func(w *writer) error {
		// Again inside the transaction: either could have been disabled since
		// they signed in.
		nu, err := userByName(w.tx, nurse.Name)
		if err != nil {
			return err
		}
		wu, err := userByName(w.tx, witness.Name)
		if err != nil {
			return err
		}
		if err := dose.CheckSigners(nu, wu); err != nil {
			return err
		}
		if err := stillProven(nu, nurse, "signature.refused"); err != nil {
			return err
		}
		if err := stillCoSigner(wu, witness, "witness"); err != nil {
			return err
		}
		p, start, f, ac, err := administrationFacts(w.tx, w.now, a)
		if err != nil {
			return err
		}
		if err := checkIntact(w.tx, bedsideRecords(w.tx, f, ac, nu, wu)...); err != nil {
			return err
		}
		rep = dose.Check(f)
		if err := rep.Err(); err != nil {
			return err
		}
		calc := rep.Calc
		in = dose.Infusion{ID: w.db.NewID(), PatientID: p.ID, ScheduleID: ac.Schedule.ID, Protocol: ac.Protocol.Name,
			ProtocolVersion: ac.Protocol.Version, Course: ac.Schedule.Course, Number: rep.Entry.Number,
			Start: start.UTC(), End: start.UTC().Add(time.Duration(ac.Protocol.InfusionMinutes) * time.Minute),
			WeightID: rep.Weight.ID, Weight: rep.Weight.Grams, Required: calc.Required, Given: calc.Given, Volume: calc.Volume,
			Deviation: calc.Deviation, EndotoxinMilliEUPerKgH: calc.EndotoxinMilliEUPerKgH, Checks: rep.Checks}
		for i, d := range calc.Draws {
			in.Containers = append(in.Containers, dose.InfusedContainer{ContainerID: d.ContainerID, LotID: f.Containers[i].Lot.ID,
				Code: d.Code, Volume: d.Draw, Cells: d.Cells})
		}
		sum := infusionDigest(toInfusionRecord(in))
		// Both signatures from the user records just re-read: the caller's copy
		// of the nurse may be stale (a renamed or re-roled user).
		in.Nurse, in.Witness = w.sign(nu, dose.MeaningAdminister, sum), w.sign(wu, dose.MeaningWitness, sum)
		if err := w.put(kindInfusion, in.ID, string(audit.DoseAdminister), "", toInfusionRecord(in)); err != nil {
			return err
		}
		if err := writeIndexes(w.tx, kindInfusion, in.ID); err != nil {
			return err
		}
		// The schedule records the infusion given on it, audited with it:
		// the account the bedside check holds the index to. A course stored
		// before the list gets it now, from what its entries hold.
		sc := ac.Schedule
		sc.Given, sc.GivenListed = append(dose.GivenFrom(ac.Entries), dose.GivenInfusion{Number: in.Number, InfusionID: in.ID}), true
		if err := w.put(kindSchedule, sc.ID, string(audit.DoseAdminister), "", toScheduleRecord(sc)); err != nil {
			return err
		}
		for i, cand := range f.Containers {
			c := cand.Container
			ev := lot.Event{To: lot.Infused, At: start, Site: c.Site, PatientID: p.ID, Custodian: nu.Name, Details: map[string]string{
				"patient_mrn": p.MRN, "infusion": in.ID.String(), "volume_ml": calc.Draws[i].Draw.String(), "cells": calc.Draws[i].Cells.Exact(), "witness": wu.Name}}
			// The bedside check found the bag dispensed; the custody state
			// machine has the last word on the move.
			if err := lot.CheckMove(c, lot.Infused); err != nil {
				return err
			}
			c.Custodian = nu.Name // the bag ends in the administering nurse's hands
			c.Location = lot.LocationAfter(lot.Infused, c.Location, "", c.Site)
			if err := w.appendEvent(&c, ev, string(audit.DoseAdminister), ""); err != nil {
				return err
			}
		}
		return nil
	})
	return in, rep, err
}

// ---- reactions

// reactionRecord is a reaction as stored: version 2 since schema 3, when
// reactions gained their number and corrections (Seq, Corrects, CorrectedBy,
// the void). Version 1 records read the same: the new fields are empty.
// Seq is 0 in reactions recorded
// before corrections existed; their number is their place in
// idx_reaction_infusion (ids are time-ordered), which is also what a new
// reaction's Seq is set to, so old and new records number the same way.
type reactionRecord struct {
	V           int       `json:"v"`
	ID          uuid.UUID `json:"id"`
	InfusionID  uuid.UUID `json:"infusion_id"`
	Grade       int       `json:"grade"`
	Text        string    `json:"text"`
	At          time.Time `json:"at"`
	By          string    `json:"by"`
	Seq         int       `json:"seq,omitempty"`
	Corrects    int       `json:"corrects,omitempty"`
	CorrectedBy int       `json:"corrected_by,omitempty"`
	VoidedAt    time.Time `json:"voided_at,omitzero"`
	VoidedBy    string    `json:"voided_by,omitempty"`
	VoidReason  string    `json:"void_reason,omitempty"`
}

// reaction converts the record; pos is its 1-based place among the
// infusion's reactions, the number of a record stored without one.
func (r reactionRecord) reaction(pos int) dose.Reaction {
	seq := r.Seq
	if seq == 0 {
		seq = pos
	}
	return dose.Reaction{ID: r.ID, InfusionID: r.InfusionID, Seq: seq, Grade: r.Grade, Text: r.Text, At: r.At, By: r.By,
		Corrects: r.Corrects, CorrectedBy: r.CorrectedBy, VoidedAt: r.VoidedAt, VoidedBy: r.VoidedBy, VoidReason: r.VoidReason}
}

func toReactionRecord(r dose.Reaction) reactionRecord {
	return reactionRecord{2, r.ID, r.InfusionID, r.Grade, r.Text, r.At, r.By, r.Seq, r.Corrects, r.CorrectedBy,
		r.VoidedAt, r.VoidedBy, r.VoidReason}
}

// reactionsOf returns an infusion's reactions, voided and corrected ones
// included, in the order they were recorded.
func reactionsOf(tx kv.Tx, infusionID uuid.UUID) ([]dose.Reaction, error) {
	var rs []dose.Reaction
	for i, id := range childrenOf(tx, "idx_reaction_infusion", infusionID, kindReaction) {
		var r reactionRecord
		if _, err := get(tx, kindReaction, id, &r); err != nil {
			return nil, err
		}
		rs = append(rs, r.reaction(i+1))
	}
	return rs, nil
}

// parseInfusionID reads an infusion id (field "infusion").
func parseInfusionID(infusion string) (uuid.UUID, error) {
	id, err := uuid.Parse(infusion)
	if err != nil {
		return id, lot.FieldErrorf("infusion", lot.EINVALID, "%q is not an infusion id; the patient's schedule lists them", infusion)
	}
	return id, nil
}

// infusionReactions returns the reactions of the infusion with id, or
// ENOTFOUND when there is no such infusion.
func infusionReactions(tx kv.Tx, id uuid.UUID, infusion string) ([]dose.Reaction, error) {
	var ir infusionRecord
	if found, err := get(tx, kindInfusion, id, &ir); err != nil {
		return nil, err
	} else if !found {
		return nil, notFound("infusion", infusion, "the patient's schedule lists their infusions").Run("schedule show MRN")
	}
	return reactionsOf(tx, id)
}

// infusionReactionCount is len(infusionReactions(tx, id, infusion)) without
// decoding them: the infusion's reactions counted in idx_reaction_infusion,
// as reactionsOf numbers them. The infusion must be stored as a JSON object
// (jsonFields: its members are not decoded); ENOTFOUND when it is not
// stored.
func infusionReactionCount(tx kv.Tx, id uuid.UUID, infusion string) (int, error) {
	v := tx.Bucket(recordBuckets[kindInfusion]).Get(id[:])
	if v == nil {
		return 0, notFound("infusion", infusion, "the patient's schedule lists their infusions").Run("schedule show MRN")
	}
	var f jsonFields
	if f.parse(v); f.err != nil {
		return 0, fmt.Errorf("decode %s %s: %w", kindInfusion, id, f.err)
	}
	return len(children(tx, "idx_reaction_infusion", id)), nil
}

// RecordReaction records an adverse reaction to an infusion (nurse,
// physician). With nr.Known set, the count of reactions its form knew of is
// checked against the infusion's in the writing transaction (one writer at
// a time on either engine): of two sends of one form, the second finds the
// first's reaction and is refused.
func (s *DoseService) RecordReaction(actor string, nr dose.NewReaction) (dose.Reaction, error) {
	if nr.Known != nil {
		if err := dose.CheckKnown(*nr.Known, nil); err != nil {
			return dose.Reaction{}, err
		}
	}
	return s.recordReaction(actor, nr.Infusion, nr.Known, 0, nr.Grade, nr.Text, "")
}

// CorrectReaction records a reaction that supersedes reaction #seq of the
// infusion (nurse, physician). The old one stays, marked corrected by the
// new one's number with who, when and reason, in the same transaction.
func (s *DoseService) CorrectReaction(actor, infusion string, seq, grade int, text, reason string) (dose.Reaction, error) {
	if err := dose.ValidateReactionReason("corrects", seq, reason); err != nil {
		return dose.Reaction{}, err
	}
	return s.recordReaction(actor, infusion, nil, seq, grade, text, reason)
}

// recordReaction records a reaction; a correction (corrects > 0, its
// reason already checked) supersedes reaction #corrects. A reaction with
// known set (not a correction) is refused when the infusion has more
// reactions than its form knew of.
func (s *DoseService) recordReaction(actor, infusion string, known *int, corrects, grade int, text, reason string) (dose.Reaction, error) {
	correction := corrects > 0
	var r dose.Reaction
	if err := dose.ValidateReaction(grade, text); err != nil {
		return r, err
	}
	id, err := parseInfusionID(infusion)
	if err != nil {
		return r, err
	}
	err = s.db.update(actor, audit.DoseReaction, func(w *writer) error {
		// A new reaction is numbered after the infusion's others, which
		// only a correction needs decoded (the one it supersedes): fifty
		// nurses recording at once decoded every earlier reaction of the
		// infusion in each write, inside the shared commit.
		var rs []dose.Reaction
		n, err := infusionReactionCount(w.tx, id, infusion)
		if err == nil && correction {
			rs, err = infusionReactions(w.tx, id, infusion)
			n = len(rs)
		}
		if err == nil && known != nil && n > *known {
			// Only a refusal decodes the reactions: to name the one
			// recorded since.
			if rs, err = infusionReactions(w.tx, id, infusion); err == nil {
				err = dose.CheckKnown(*known, rs)
			}
		}
		if err != nil {
			return err
		}
		r = dose.Reaction{ID: w.db.NewID(), InfusionID: id, Seq: n + 1, Grade: grade, Text: text, At: w.now, By: w.actor.Name, Corrects: corrects}
		if correction {
			old, err := dose.FindReaction(rs, infusion, corrects)
			if err != nil {
				return err
			}
			old.CorrectedBy, old.VoidedAt, old.VoidedBy, old.VoidReason = r.Seq, w.now, w.actor.Name, reason
			if err := w.put(kindReaction, old.ID, string(audit.DoseReaction)+".corrected", reason, toReactionRecord(old)); err != nil {
				return err
			}
		}
		if err := w.put(kindReaction, r.ID, string(audit.DoseReaction), reason, toReactionRecord(r)); err != nil {
			return err
		}
		return writeIndexes(w.tx, kindReaction, r.ID)
	})
	return r, err
}

// VoidReaction marks reaction #seq of the infusion void with a reason
// (nurse, physician); it stays in the record and in every report.
func (s *DoseService) VoidReaction(actor, infusion string, seq int, reason string) (dose.Reaction, error) {
	var r dose.Reaction
	if err := dose.ValidateReactionReason("void", seq, reason); err != nil {
		return r, err
	}
	id, err := parseInfusionID(infusion)
	if err != nil {
		return r, err
	}
	err = s.db.update(actor, audit.DoseReaction, func(w *writer) error {
		rs, err := infusionReactions(w.tx, id, infusion)
		if err != nil {
			return err
		}
		if r, err = dose.FindReaction(rs, infusion, seq); err != nil {
			return err
		}
		r.VoidedAt, r.VoidedBy, r.VoidReason = w.now, w.actor.Name, reason
		return w.put(kindReaction, r.ID, string(audit.DoseReaction)+".void", reason, toReactionRecord(r))
	})
	return r, err
}

// ---- calculation

// Calc works out an infusion's dose (read only).
func (s *DoseService) Calc(req dose.CalcRequest) (dose.CalcResult, error) {
	var res dose.CalcResult
	err := s.db.view(func(tx kv.Tx) error {
		now := s.db.now()
		p, err := patientByMRN(tx, req.MRN)
		if err != nil {
			return err
		}
		res.Patient = p
		ac, err := activeCourse(tx, p.ID, now)
		if err != nil {
			return err
		}
		if ac == nil {
			return lot.Errorf(lot.ECONFLICT, "patient %s has no active schedule; a physician creates one", req.MRN).Run("schedule create")
		}
		res.Course = *ac
		res.Entry = dose.Next(ac.Entries)
		if req.Infusion != 0 {
			if req.Infusion < 1 || req.Infusion > len(ac.Entries) {
				return lot.FieldErrorf("infusion", lot.EINVALID, "infusion %d is outside 1–%d of %s", req.Infusion, len(ac.Entries), ac.Protocol.Name)
			}
			res.Entry = ac.Entries[req.Infusion-1]
		}
		ws, err := weightsOf(tx, p.ID)
		if err != nil {
			return err
		}
		var ok bool
		if res.Weight, _, ok = dose.LatestWeight(ws, now); !ok {
			return lot.Errorf(lot.ECONFLICT, "patient %s has no weight; weigh the patient", req.MRN).Run("patient weigh")
		}
		if res.Candidates, err = candidates(tx, p, ac, now); err != nil {
			return err
		}
		var srcs []dose.Source
		if len(req.Containers) > 0 {
			// Named bags get the arithmetic, and also what the bedside check
			// would say now, so that the working of a bag this patient may
			// not receive never reads as a plan.
			f, _, err := facts(tx, now, p, req.Containers, 0)
			if err != nil {
				return err
			}
			for _, cand := range f.Containers {
				srcs = append(srcs, cand.Source)
			}
			res.Failed = dose.Check(f).Failed()
		} else {
			// Without bags, what would stop any bag: the patient, the
			// schedule, the weight.
			f, _, err := facts(tx, now, p, nil, 0)
			if err != nil {
				return err
			}
			for _, r := range dose.Check(f).Failed() {
				if r.Name != "container" {
					res.Failed = append(res.Failed, r)
				}
			}
			res.Proposed = true
			required, _, _, _ := dose.RequiredCells(ac.Protocol.Protocol, res.Entry.Number, res.Weight.Grams)
			var have lot.Cells
			for _, c := range res.Candidates {
				if have >= required {
					break
				}
				v, _ := c.Viable()
				have += v
				srcs = append(srcs, c)
			}
		}
		res.Calc = dose.Calculate(ac.Protocol.Protocol, res.Entry.Number, res.Weight.Grams, srcs, 0)
		return nil
	})
	return res, err
}

// candidates lists the containers the patient may receive under course ac:
// of lots of the product that pass lot.CheckLotUse for the patient in the
// zones the bag is used in (useZones, as dispense and the bedside check
// count them), dispensed for the patient or still dispensable
// (lot.MayBeDispensed). Bags already dispensed for the patient come first,
// then by lot and number.
func candidates(tx kv.Tx, p lot.Patient, ac *dose.Course, now time.Time) ([]dose.Source, error) {
	product := ac.Protocol.Product
	var lots []lot.Lot
	if product == lot.SourceRFib {
		for _, id := range childrenOf(tx, "idx_lot_patient", p.ID, kindLot) {
			l, err := lotByID(tx, id)
			if err != nil {
				return nil, err
			}
			lots = append(lots, l)
		}
	} else {
		zone, err := lotZone(tx)
		if err != nil {
			return nil, err
		}
		if err := forEach(tx, kindLot, func(r *lotRecord) { lots = append(lots, r.lot(zone)) }); err != nil {
			return nil, err
		}
	}
	// The zones depend on the bag's site only: read once a site.
	zones := map[string][]*time.Location{}
	var mine, others []dose.Source
	for _, l := range lots {
		// Unusable where the course is, unusable anywhere: most lots stop
		// here before their containers are read.
		if l.Source != product || !lot.UsableFor(l, p, now, ac.Zone) {
			continue
		}
		cs, err := containersOf(tx, l.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			mineNow := c.State == lot.Dispensed && c.PatientID == p.ID
			if !mineNow && !lot.MayBeDispensed(c) {
				continue
			}
			at, ok := zones[c.Site]
			if !ok {
				if at, err = useZones(tx, c, ac); err != nil {
					return nil, err
				}
				zones[c.Site] = at
			}
			// Only the expiry depends on where: the lot's other rules
			// passed above.
			if l.Expired(now, at...) {
				continue
			}
			if mineNow {
				mine = append(mine, dose.Source{Container: c, Lot: l})
			} else {
				others = append(others, dose.Source{Container: c, Lot: l})
			}
		}
	}
	out := append(mine, others...)
	for i := range out {
		var err error
		if out[i].EndotoxinMilliEUPerML, out[i].EndotoxinFound, err = lotEndotoxin(tx, out[i].Lot.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}
