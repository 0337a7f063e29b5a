package store

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// Days at the site (issue 12). The facility has one time zone, set at init
// (UTC unless `init --tz` names another); a site may have its own. A
// patient's course counts its days in the zone of the site that treats the
// patient (the schedule's site), or the facility's when the schedule names
// no site or the site has no zone. Records keep UTC.

const kindFacility = "facility"

// facilityRecord is the facility's time zone (version 1). There is one; a
// file upgraded from before schema 6 has none until an admin sets the zone,
// and counts in UTC, as it always did.
type facilityRecord struct {
	V  int       `json:"v"`
	ID uuid.UUID `json:"id"`
	TZ string    `json:"tz"`
}

// facilityRec is the facility's record, the first of its bucket: a Seek to
// the empty key, which is First, and which a read ahead of that Seek
// answers (DB.ServedStart's).
func facilityRec(tx kv.Tx) (facilityRecord, bool, error) {
	k, _ := tx.Bucket(recordBuckets[kindFacility]).Cursor().Seek([]byte{})
	if k == nil {
		return facilityRecord{}, false, nil
	}
	return getKept(tx, kindFacility, uuid.UUID(k), keptFacility)
}

// storedZone loads a zone name read from a record; one this build does not
// know (a record edited outside celltrack) is refused, never read as UTC.
func storedZone(what, name string) (*time.Location, error) {
	loc, err := lot.LoadZone(what, name)
	if err != nil {
		return nil, lot.Errorf(lot.ECONFLICT, "the stored time zone %q of %s is not a time zone this celltrack knows; run the database check and contact the administrator", name, what).Run("check")
	}
	return loc, nil
}

// facilityZone returns the facility's time zone.
func facilityZone(tx kv.Tx) (*time.Location, error) {
	r, ok, err := facilityRec(tx)
	if err != nil || !ok {
		return time.UTC, err
	}
	return storedZone("the facility", r.TZ)
}

// lotZone is the facility's zone as a lot read in tx carries it
// (lot.Lot.FacilityZone): the expiry instant is a rule of the record,
// counted in the zone the transaction reads, never in a zone a process
// read when it started. A stored zone this build does not know is
// refused: a lot whose expiry instant is unknown is not read as UTC's.
func lotZone(tx kv.Tx) (lot.Zone, error) {
	loc, err := facilityZone(tx)
	return lot.ZoneOf(loc), err
}

// useZones are the zones of the places where container c is used under
// course ac (nil: the patient has none) — the site the bag is at (where it
// is dispensed, and where a dispensed bag is given) and the site of the
// course — in which its lot's expiry date begins as well as at the
// facility's (lot.Lot.ExpiresAt). Dispense, the bedside check, administer
// and the dose calculation's bags all count a lot's expiry in these zones,
// so one minute at one place gives one answer.
func useZones(tx kv.Tx, c lot.Container, ac *dose.Course) ([]*time.Location, error) {
	var at []*time.Location
	if c.Site != "" {
		site, err := siteByCode(tx, c.Site)
		if err != nil {
			return nil, err
		}
		loc, _, err := siteZone(tx, site)
		if err != nil {
			return nil, err
		}
		at = append(at, loc)
	}
	if ac != nil {
		at = append(at, ac.Zone)
	}
	return at, nil
}

// siteZone returns the zone days are counted in at site s, and where it
// comes from ("site CLINIC-CN", or "facility" when s has none).
func siteZone(tx kv.Tx, s lot.Site) (*time.Location, string, error) {
	if s.TZ != "" {
		loc, err := storedZone("site "+s.Code, s.TZ)
		return loc, "site " + s.Code, err
	}
	loc, err := facilityZone(tx)
	return loc, "facility", err
}

// scheduleZone returns the zone a course counts its days in: its site's, or
// the facility's.
func scheduleZone(tx kv.Tx, s dose.Schedule) (*time.Location, string, error) {
	if s.SiteID == uuid.Nil {
		loc, err := facilityZone(tx)
		return loc, "facility", err
	}
	site, err := siteByID(tx, s.SiteID)
	if err != nil {
		return nil, "", err
	}
	return siteZone(tx, site)
}

func siteByID(tx kv.Tx, id uuid.UUID) (lot.Site, error) {
	var r siteRecord
	found, err := get(tx, kindSite, id, &r)
	if err == nil && !found {
		err = notFound("site", id.String(), "the database lacks a site a schedule names; run the database check").Run("check")
	}
	return r.site(), err
}

// FacilityZone returns the facility's time zone (UTC in a file that never
// set one): the zone screens show times in.
func (db *DB) FacilityZone() (*time.Location, error) {
	loc := time.UTC
	err := db.view(func(tx kv.Tx) (err error) {
		loc, err = facilityZone(tx)
		return err
	})
	return loc, err
}

// putFacilityZone stores the facility's zone as action, audited with reason.
func (w *writer) putFacilityZone(zone, action, reason string) error {
	r, ok, err := facilityRec(w.tx)
	if err != nil {
		return err
	}
	if !ok {
		r = facilityRecord{V: 1, ID: w.db.NewID()}
	}
	r.TZ = zone
	return w.put(kindFacility, r.ID, action, reason, r)
}

// activeCoursesIn counts the courses not ended whose days are counted in
// the zone of the site siteID (uuid.Nil: the facility's zone, by every
// course whose site has none of its own or that names no site).
func activeCoursesIn(tx kv.Tx, siteID uuid.UUID, now time.Time) (int, error) {
	var ids []uuid.UUID
	err := forEach(tx, kindSchedule, func(r *scheduleRecord) { ids = append(ids, r.PatientID) })
	if err != nil {
		return 0, err
	}
	n, seen := 0, map[uuid.UUID]bool{}
	for _, pid := range ids {
		if seen[pid] {
			continue
		}
		seen[pid] = true
		cs, err := coursesOf(tx, pid, now)
		if err != nil {
			return 0, err
		}
		for _, c := range cs {
			if c.Ended {
				continue
			}
			switch {
			case siteID != uuid.Nil && c.Schedule.SiteID == siteID:
				n++
			case siteID == uuid.Nil && c.ZoneFrom == "facility":
				n++
			}
		}
	}
	return n, nil
}

// SetFacilityZone changes the facility's time zone (admin), with a reason
// kept in the audit trail beside the old and the new zone. Every course
// whose site has no zone of its own counts its days in the new zone from
// now on; the change says how many courses under way that moves.
func (s *CustodyService) SetFacilityZone(actor, zone, reason string) (lot.ZoneChange, error) {
	var ch lot.ZoneChange
	zone, err := checkZoneChange(zone, reason)
	if err != nil {
		return ch, err
	}
	err = s.db.update(actor, audit.ZoneSet, func(w *writer) error {
		r, ok, err := facilityRec(w.tx)
		if err != nil {
			return err
		}
		ch.Old, ch.New = "UTC", zone
		if ok {
			ch.Old = r.TZ
		}
		if ch.Old == zone {
			return lot.FieldErrorf("tz", lot.EINVALID, "the time zone %s is already the facility's time zone; nothing to change", zone)
		}
		if err := w.putFacilityZone(zone, string(audit.ZoneSet), fmt.Sprintf("facility time zone %s → %s: %s", ch.Old, zone, reason)); err != nil {
			return err
		}
		ch.ActiveCourses, err = activeCoursesIn(w.tx, uuid.Nil, w.now)
		return err
	})
	return ch, err
}

// SetSiteZone gives a site its own time zone (admin), with a reason kept in
// the audit trail beside the old and the new zone ("" was the facility's).
func (s *CustodyService) SetSiteZone(actor, code, zone, reason string) (lot.ZoneChange, error) {
	ch := lot.ZoneChange{Site: code}
	zone, err := checkZoneChange(zone, reason)
	if err != nil {
		return ch, err
	}
	err = s.db.update(actor, audit.ZoneSet, func(w *writer) error {
		site, err := siteByCode(w.tx, code)
		if err != nil {
			return err
		}
		ch.Old, ch.New = site.TZ, zone
		if site.TZ == zone {
			return lot.FieldErrorf("tz", lot.EINVALID, "the time zone %s is already the time zone of site %s; nothing to change", zone, code)
		}
		old := site.TZ
		if old == "" {
			old = "the facility's"
		}
		site.TZ = zone
		if err := w.put(kindSite, site.ID, string(audit.ZoneSet), fmt.Sprintf("site %s time zone %s → %s: %s", code, old, zone, reason), toSiteRecord(site)); err != nil {
			return err
		}
		ch.ActiveCourses, err = activeCoursesIn(w.tx, site.ID, w.now)
		return err
	})
	return ch, err
}

// checkZoneChange checks a zone change's values and returns the zone's
// IANA name as stored.
func checkZoneChange(zone, reason string) (string, error) {
	loc, err := lot.LoadZone("the time zone", zone)
	if err != nil {
		return "", lot.OnField("tz", err)
	}
	return loc.String(), lot.OnField("reason", lot.ValidateText("the reason", reason, true))
}

// zonesOf are the zones a course's days have been counted in, over time:
// the zone changes of its site and of the facility are audited records
// (`site set-tz`), so the zone in force when an infusion was recorded is
// read from the few audit entries of those two records (audit_entity, an
// index seek on either engine), never from a scan of the trail. A given
// infusion's day is counted in the zone in force when it was recorded —
// the zone its bedside check, run in the same write, counted it in, which
// is the day the check judged — so that a later zone change does not
// recount history (review 17 B). "When" is the order of the audit trail,
// not a time: the change's entry precedes the infusion's or follows it,
// also at the same instant (review 19 B), and a --start backdated across
// a change is counted in the zone the check counted it in, the one in
// force at recording (review 19 A). "Today" and the days still to come
// are counted in the zone in force now.
type zonesOf struct {
	site     []zoneSpan // the site's zone from each of its versions ("" is the facility's); nil without a site
	facility []zoneSpan // the facility's; before its first, UTC
}

// zoneSpan is a zone in force from audit entry seq until the next span's
// (seq 0: from the start of the trail).
type zoneSpan struct {
	seq  uint64
	tz   string
	init bool           // the record's first version, written at init
	loc  *time.Location // tz loaded (nil for "": a site counting in the facility's)
	err  error          // why tz could not be loaded, said when it is used
}

// scheduleZones returns the zone history of course s's days (zonesOf).
func scheduleZones(tx kv.Tx, s dose.Schedule) (zonesOf, error) {
	var z zonesOf
	var err error
	if r, ok, ferr := facilityRec(tx); ferr != nil {
		return z, ferr
	} else if ok {
		if z.facility, err = zoneSpans(tx, kindFacility, r.ID, "the facility", func(v []byte) (string, error) {
			var fr facilityRecord
			err := unmarshalRecord(v, &fr)
			return fr.TZ, err
		}); err != nil {
			return z, err
		}
		// A facility record made by a zone change rather than at init (a
		// file from before schema 6, or an init without --tz) counted its
		// days in UTC before it.
		if len(z.facility) > 0 && !z.facility[0].init {
			z.facility = append([]zoneSpan{{tz: "UTC", loc: time.UTC}}, z.facility...)
		}
	}
	if s.SiteID != uuid.Nil {
		z.site, err = zoneSpans(tx, kindSite, s.SiteID, "site "+s.Site, func(v []byte) (string, error) {
			var sr siteRecord
			err := unmarshalRecord(v, &sr)
			return sr.TZ, err
		})
	}
	return z, err
}

// zoneHistories holds the zone history of each record read (zoneSpans), by
// record id, with the key and stored hash of the last audit entry it was
// read from: every bedside check of a course with an infusion given reads
// it, and it changes only with a new entry of its record. The hash chains
// the whole trail before it, so another database's record with the same
// id (a copy that went its own way) does not match.
var zoneHistories sync.Map // uuid.UUID → zoneHistory

type zoneHistory struct {
	last  string
	hash  [32]byte
	spans []zoneSpan
}

// zoneSpans reads the zone of each version of record id of kind (named
// what) from its audit entries, oldest first, keeping only the versions
// that changed it.
func zoneSpans(tx kv.Tx, kind string, id uuid.UUID, what string, tzOf func([]byte) (string, error)) ([]zoneSpan, error) {
	seqs := entitySeqs(tx, id)
	if len(seqs) == 0 {
		return nil, nil
	}
	last := string(seqs[len(seqs)-1])
	hash, err := audit.StoredHash(tx.Bucket(bAudit).Get(seqs[len(seqs)-1]))
	if err != nil {
		return nil, fmt.Errorf("zone history of %s %s: %w", kind, id, err)
	}
	if h, ok := zoneHistories.Load(id); ok && h.(zoneHistory).last == last && h.(zoneHistory).hash == hash {
		return h.(zoneHistory).spans, nil
	}
	es, err := decodeEntries(tx, seqs)
	if err != nil {
		return nil, err
	}
	var spans []zoneSpan
	for _, e := range es {
		if !e.State || len(e.New) == 0 {
			continue
		}
		tz, err := tzOf(e.New)
		if err != nil {
			return nil, fmt.Errorf("zone history of %s %s: audit entry %d: %w", kind, id, e.Seq, err)
		}
		if n := len(spans); n == 0 || spans[n-1].tz != tz {
			sp := zoneSpan{seq: e.Seq, tz: tz, init: e.Action == "init"}
			if tz != "" {
				sp.loc, sp.err = storedZone(what, tz)
			}
			spans = append(spans, sp)
		}
	}
	zoneHistories.Store(id, zoneHistory{last, hash, spans})
	return spans, nil
}

// at returns the span in force after audit entry seq among spans: the
// last that began before it, or the first when none did (a record's first
// version is its zone from the start); ok is false when spans is empty.
func at(spans []zoneSpan, seq uint64) (sp zoneSpan, ok bool) {
	for i, s := range spans {
		if i > 0 && s.seq > seq {
			break
		}
		sp, ok = s, true
	}
	return sp, ok
}

// after returns the zone a course's days were counted in by a write after
// audit entry seq.
func (z zonesOf) after(seq uint64) (*time.Location, error) {
	if sp, ok := at(z.site, seq); ok && sp.tz != "" {
		return sp.loc, sp.err
	}
	if sp, ok := at(z.facility, seq); ok {
		return sp.loc, sp.err
	}
	return time.UTC, nil
}

// given is z as a dose.ZoneAt: the zone infusion g's bedside check counted
// it in, the one in force when its record was written, by recorded (a
// recordedSeq). An infusion the trail has no entry of (a damaged trail,
// which the database check names) is counted in the zone in force now.
func (z zonesOf) given(recorded func(uuid.UUID) (uint64, bool)) dose.ZoneAt {
	return func(g dose.GivenAt) (*time.Location, error) {
		seq, ok := recorded(g.InfusionID)
		if !ok {
			seq = math.MaxUint64
		}
		return z.after(seq)
	}
}

// prefetchRecorded tells an engine across a network (pgkv) that
// recordedSeq is about to seek the first audit entry of each infusion in
// given: one round trip for all of them.
func prefetchRecorded(tx kv.Tx, given map[int]dose.GivenAt) {
	keys := make([][]byte, 0, len(given))
	for _, g := range given {
		keys = append(keys, g.InfusionID[:])
	}
	kv.PrefetchSeeks(tx.Bucket(bAuditEntity), 0, 1, keys...)
}
