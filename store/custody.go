package store

import (
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

const kindSite = "site"

// siteRecord is the stored form of lot.Site (version 1).
type siteRecord struct {
	V         int       `json:"v"`
	ID        uuid.UUID `json:"id"`
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Home      bool      `json:"home,omitempty"`
	TZ        string    `json:"tz,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

func toSiteRecord(s lot.Site) siteRecord {
	return siteRecord{1, s.ID, s.Code, s.Name, s.Home, s.TZ, s.CreatedAt, s.CreatedBy}
}

func (r siteRecord) site() lot.Site {
	return lot.Site{ID: r.ID, Code: r.Code, Name: r.Name, Home: r.Home, TZ: r.TZ, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

// CustodyService implements lot.CustodyService on a DB.
type CustodyService struct{ db *DB }

var _ lot.CustodyService = (*CustodyService)(nil)

// NewCustodyService returns the custody service of db.
func NewCustodyService(db *DB) *CustodyService { return &CustodyService{db: db} }

// moveAction is the permission each move needs.
var moveAction = map[lot.ContainerState]audit.Action{
	lot.Stored: audit.ContainerStore, lot.Shipped: audit.ContainerShip, lot.Received: audit.ContainerReceive,
	lot.Thawed: audit.ContainerThaw, lot.Dispensed: audit.ContainerDispense, lot.Discarded: audit.ContainerDiscard,
	lot.Returned: audit.ContainerReturn, lot.Quarantined: audit.ContainerQuarantine,
}

// Store puts a container into storage at its current site (lab).
func (s *CustodyService) Store(actor, ref, location string) (lot.Container, error) {
	return s.move(actor, ref, lot.Move{To: lot.Stored, Location: location})
}

// Ship sends a stored container from its site to m.Site (lab).
func (s *CustodyService) Ship(actor, ref string, m lot.Move) (lot.Container, error) {
	m.To = lot.Shipped
	return s.move(actor, ref, m)
}

// Receive takes a shipped container in at m.Site, which must be where it was
// shipped to (lab or nurse).
func (s *CustodyService) Receive(actor, ref string, m lot.Move) (lot.Container, error) {
	m.To = lot.Received
	return s.move(actor, ref, m)
}

// Thaw records a thaw and its post-thaw numbers, which doses then use (lab or
// nurse).
func (s *CustodyService) Thaw(actor, ref string, t lot.Thaw) (lot.Container, error) {
	return s.move(actor, ref, lot.Move{To: lot.Thawed, Thaw: t})
}

// Dispense hands a thawed container over for the patient with MRN mrn (lab or
// nurse).
func (s *CustodyService) Dispense(actor, ref, mrn string) (lot.Container, error) {
	return s.move(actor, ref, lot.Move{To: lot.Dispensed, Patient: mrn})
}

// Discard takes a container out of use for good (lab).
func (s *CustodyService) Discard(actor, ref, reason string) (lot.Container, error) {
	return s.move(actor, ref, lot.Move{To: lot.Discarded, Reason: reason})
}

// Return brings a dispensed, not infused container back into custody (lab or
// nurse).
func (s *CustodyService) Return(actor, ref, reason string) (lot.Container, error) {
	return s.move(actor, ref, lot.Move{To: lot.Returned, Reason: reason})
}

// Quarantine holds a container pending investigation (lab).
func (s *CustodyService) Quarantine(actor, ref, reason string) (lot.Container, error) {
	return s.move(actor, ref, lot.Move{To: lot.Quarantined, Reason: reason})
}

// Move makes the move m.To with the values of m. With m.Seen set, the
// container's state its form was shown with is checked in the writing
// transaction (checkSeen): of one form sent twice, on any number of
// servers, the second finds the first's move and is refused.
func (s *CustodyService) Move(actor, ref string, m lot.Move) (lot.Container, error) {
	return s.move(actor, ref, m)
}

// move checks and records one custody step in one transaction: the event,
// its indexes, and the container's new state, each with its audit entry.
func (s *CustodyService) move(actor, ref string, m lot.Move) (lot.Container, error) {
	if err := m.Validate(); err != nil {
		return lot.Container{}, err
	}
	action := moveAction[m.To]
	var c lot.Container
	err := s.db.update(actor, action, func(w *writer) (err error) {
		if c, err = containerByRef(w.tx, ref); err != nil {
			return err
		}
		if err := checkSeen(w.tx, m.Seen, "container "+c.Code(), "Look at the container as it is now and decide again", c.ID); err != nil {
			return err
		}
		if err := checkIntact(w.tx, moveRecords(c)...); err != nil {
			return err
		}
		if c.Site == "" { // containers start at the home site
			home, err := homeSite(w.tx)
			if err != nil {
				return err
			}
			c.Site = home.Code
		}
		where := c.Site
		if m.To == lot.Received {
			where = m.Site
		}
		if site, err := siteByCode(w.tx, where); err != nil {
			return err
		} else if err := audit.AuthorizeAtSite(w.actor, action, site.Code, site.Home); err != nil {
			return err
		}
		e := lot.Event{To: m.To, Site: c.Site, Custodian: w.actor.Name, Reason: m.Reason, Details: map[string]string{}}
		if err := w.prepareMove(&c, &e, m); err != nil {
			return err
		}
		if len(e.Details) == 0 {
			e.Details = nil
		}
		return w.appendEvent(&c, e, string(action), m.Reason)
	})
	return c, err
}

// lastEvent returns c's latest custody event. Every container is stored with
// its 'created' event; none means the file was changed outside celltrack.
func (w *writer) lastEvent(c *lot.Container) (lot.Event, error) {
	es, err := eventsOf(w.tx, "idx_event_container", c.ID)
	if err != nil {
		return lot.Event{}, err
	}
	if len(es) == 0 {
		return lot.Event{}, lot.Errorf(lot.ECONFLICT, "container %s has no custody events, not even 'created': its history was changed outside celltrack; nothing was written — run the database check and report it to QA", c.Code()).Run("check")
	}
	return es[len(es)-1], nil
}

// prepareMove checks the move's rules and sets the container's and event's
// move-specific fields.
func (w *writer) prepareMove(c *lot.Container, e *lot.Event, m lot.Move) error {
	if err := lot.CheckMove(*c, m.To); err != nil {
		return err
	}
	if c.State == lot.Received {
		last, err := w.lastEvent(c)
		if err != nil {
			return err
		}
		if err := lot.CheckAfterReceipt(*c, last, m.To); err != nil {
			return err
		}
	}
	switch m.To {
	case lot.Stored:
		e.Location = m.Location
	case lot.Shipped:
		dest, err := siteByCode(w.tx, m.Site)
		if err != nil {
			return err
		}
		if err := lot.CheckShip(*c, dest.Code); err != nil {
			return err
		}
		e.Details["from_site"], e.Details["to_site"] = c.Site, dest.Code
		setDetail(e.Details, "courier", m.Courier)
		setDetail(e.Details, "condition", m.Condition)
		e.Custodian = "courier"
		if m.Courier != "" {
			e.Custodian = "courier " + m.Courier
		}
		c.Site = dest.Code
	case lot.Received:
		if _, err := siteByCode(w.tx, m.Site); err != nil {
			return err
		}
		if err := lot.CheckReceive(*c, m.Site); err != nil {
			return err
		}
		e.Site = m.Site
		setDetail(e.Details, "condition", m.Condition)
		setDetail(e.Details, "excursion", m.Excursion)
	case lot.Thawed:
		t := m.Thaw
		if t.At.IsZero() {
			t.At = w.now
		}
		t.At = t.At.UTC()
		last, err := w.lastEvent(c)
		if err != nil {
			return err
		}
		if err := lot.CheckThaw(*c, t, w.now, last.At); err != nil {
			return err
		}
		c.ThawedAt, c.ThawViability, c.ViableCells = t.At, t.Viability, t.ViableCells
		e.At = t.At
		e.Details["viability_pct"], e.Details["viable_cells"] = t.Viability.String(), t.ViableCells.Exact()
	case lot.Dispensed:
		p, err := patientByMRN(w.tx, m.Patient)
		if err != nil {
			return err
		}
		l, err := lotByID(w.tx, c.LotID)
		if err != nil {
			return err
		}
		ac, err := activeCourse(w.tx, p.ID, w.now)
		if err != nil {
			return err
		}
		at, err := useZones(w.tx, *c, ac)
		if err != nil {
			return err
		}
		if err := lot.CheckDispense(*c, l, p, w.now, at...); err != nil {
			return err
		}
		c.PatientID, e.PatientID = p.ID, p.ID
		e.Details["patient_mrn"] = p.MRN
	case lot.Returned:
		e.PatientID, c.PatientID = c.PatientID, uuid.Nil
	}
	c.Custodian = e.Custodian
	c.Location = lot.LocationAfter(m.To, c.Location, m.Location, c.Site)
	return nil
}

func setDetail(d map[string]string, key, value string) {
	if value != "" {
		d[key] = value
	}
}

// History returns the container and its custody events, oldest first.
func (s *CustodyService) History(ref string) (lot.Container, []lot.Event, error) {
	var c lot.Container
	var es []lot.Event
	err := s.db.view(func(tx kv.Tx) (err error) {
		if c, err = containerByRef(tx, ref); err != nil {
			return err
		}
		es, err = eventsOf(tx, "idx_event_container", c.ID)
		return err
	})
	return c, es, err
}

// AddSite registers a site (lab). The first site added becomes the home site:
// every container starts there. site.TZ, when set, is the site's own time
// zone; otherwise it uses the facility's.
func (s *CustodyService) AddSite(actor string, site lot.Site) (lot.Site, error) {
	if err := lot.ValidateCode("site id", site.Code); err != nil {
		return site, err
	}
	if site.TZ != "" {
		loc, err := lot.LoadZone("the time zone", site.TZ)
		if err != nil {
			return site, lot.OnField("tz", err)
		}
		site.TZ = loc.String()
	}
	if err := lot.ValidateText("the site name", site.Name, true); err != nil {
		return site, lot.OnField("name", err)
	}
	err := s.db.update(actor, audit.SiteAdd, func(w *writer) error {
		if _, ok := lookup(w.tx, "idx_site_code", site.Code); ok {
			return lot.Errorf(lot.ECONFLICT, "site %s already exists; use another id, one the list of sites does not show", site.Code).Run("site list")
		}
		if err := refuseFolded(w.tx, "idx_site_code_fold", site.Code, "site list"); err != nil {
			return err
		}
		k, _ := w.tx.Bucket(recordBuckets[kindSite]).Cursor().First()
		site.ID, site.Home, site.CreatedAt, site.CreatedBy = w.db.NewID(), k == nil, w.now, w.actor.Name
		if err := w.put(kindSite, site.ID, string(audit.SiteAdd), "", toSiteRecord(site)); err != nil {
			return err
		}
		return writeIndexes(w.tx, kindSite, site.ID)
	})
	return site, err
}

// Sites lists every site, the home site first.
func (s *CustodyService) Sites() ([]lot.Site, error) {
	var ss []lot.Site
	err := s.db.view(func(tx kv.Tx) error {
		return forEach(tx, kindSite, func(r *siteRecord) { ss = append(ss, r.site()) })
	})
	return ss, err
}

func siteByCode(tx kv.Tx, code string) (lot.Site, error) {
	var r siteRecord
	if id, ok := lookup(tx, "idx_site_code", code); ok {
		if found, err := get(tx, kindSite, id, &r); err != nil || found {
			return r.site(), err
		}
	}
	return lot.Site{}, notFound("site", code, "check the site id in the list of sites, or an admin adds the site").Run("site list")
}

// homeSite is the first site added.
func homeSite(tx kv.Tx) (lot.Site, error) {
	k, v := tx.Bucket(recordBuckets[kindSite]).Cursor().First()
	if k == nil || v == nil {
		return lot.Site{}, lot.Errorf(lot.ECONFLICT, "no site is registered yet; the lab adds the facility's own (home) site first, with its code and name (e.g. LAB, 'Cell lab')")
	}
	var r siteRecord
	_, err := get(tx, kindSite, uuid.UUID(k), &r)
	return r.site(), err
}
