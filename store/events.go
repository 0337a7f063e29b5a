package store

import (
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// eventRecord is the stored form of lot.Event (version 1).
type eventRecord struct {
	V           int                `json:"v"`
	ID          uuid.UUID          `json:"id"`
	ContainerID uuid.UUID          `json:"container_id"`
	LotID       uuid.UUID          `json:"lot_id"`
	From        lot.ContainerState `json:"from,omitempty"`
	To          lot.ContainerState `json:"to"`
	At          time.Time          `json:"at"`
	By          string             `json:"by"`
	Site        string             `json:"site,omitempty"`
	Location    string             `json:"location,omitempty"`
	Custodian   string             `json:"custodian,omitempty"`
	PatientID   uuid.UUID          `json:"patient_id,omitzero"`
	Reason      string             `json:"reason,omitempty"`
	Details     map[string]string  `json:"details,omitempty"`
}

func toEventRecord(e lot.Event) eventRecord {
	return eventRecord{1, e.ID, e.ContainerID, e.LotID, e.From, e.To, e.At, e.By, e.Site, e.Location, e.Custodian, e.PatientID, e.Reason, e.Details}
}

func (r eventRecord) event() lot.Event {
	return lot.Event{ID: r.ID, ContainerID: r.ContainerID, LotID: r.LotID, From: r.From, To: r.To, At: r.At, By: r.By,
		Site: r.Site, Location: r.Location, Custodian: r.Custodian, PatientID: r.PatientID, Reason: r.Reason, Details: r.Details}
}

// appendEvent records a custody event for c, moving it from c.State to e.To,
// and stores c with its new state. The caller has checked that the move is
// allowed and set c's other fields; action names it in the audit trail.
func (w *writer) appendEvent(c *lot.Container, e lot.Event, action, reason string) error {
	e.ID, e.ContainerID, e.LotID, e.From, e.By = w.db.NewID(), c.ID, c.LotID, c.State, w.actor.Name
	if e.At.IsZero() {
		e.At = w.now
	}
	e.At = e.At.UTC()
	c.State = e.To
	if err := w.put(kindEvent, e.ID, action, reason, toEventRecord(e)); err != nil {
		return err
	}
	if err := writeIndexes(w.tx, kindEvent, e.ID); err != nil {
		return err
	}
	return w.put(kindContainer, c.ID, action, reason, toContainerRecord(*c))
}

// eventsOf returns the custody events of one container (or, with index
// idx_event_lot, of one lot), oldest first: UUIDv7 keys sort by time.
func eventsOf(tx kv.Tx, index string, parent uuid.UUID) ([]lot.Event, error) {
	return childRecords(tx, index, parent, kindEvent, eventRecord.event)
}
