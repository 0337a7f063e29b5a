package store

import (
	"fmt"
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
