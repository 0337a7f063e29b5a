package store

import (
	"bytes"
	"fmt"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// handlingRows reads the handling of the infusions f selects, oldest first.
func handlingRows(tx kv.Tx, f dose.HandlingFilter) ([]dose.Handling, error) {
	var hs []dose.Handling
	seen := map[uuid.UUID]bool{}
	b := tx.Bucket([]byte("idx_event_infused"))
	if b == nil {
		return nil, lot.Errorf(lot.ECONFLICT, "this database was created before the infusion time index (idx_event_infused) existed; create a new database with this celltrack")
	}
	c := b.Cursor()
	k, _ := c.First()
	if !f.From.IsZero() {
		k, _ = c.Seek(itob(uint64(f.From.UnixNano())))
	}
	var end []byte
	if !f.To.IsZero() {
		end = itob(uint64(f.To.UnixNano()))
	}
	for ; k != nil && (end == nil || bytes.Compare(k[:8], end) < 0); k, _ = c.Next() {
		var er eventRecord
		if _, err := get(tx, kindEvent, uuid.UUID(k[8:]), &er); err != nil {
			return nil, err
		}
		id, err := uuid.Parse(er.Details["infusion"])
		if err != nil || seen[id] {
			continue // a bag marked infused without a recorded dose has no handling data
		}
		seen[id] = true
		var ir infusionRecord
		if found, err := get(tx, kindInfusion, id, &ir); err != nil {
			return nil, err
		} else if !found {
			return nil, fmt.Errorf("infusion %s is referenced by event %s but missing", id, er.ID)
		}
		in := ir.infusion()
		if f.Protocol != "" && in.Protocol != f.Protocol {
			continue
		}
		p, err := patientByID(tx, in.PatientID)
		if err != nil {
			return nil, err
		}
		for _, ic := range in.Containers {
			h, err := containerHandling(tx, ic.ContainerID)
			if err != nil {
				return nil, err
			}
			h.Infusion, h.Patient, h.Protocol, h.Course, h.Number = in.ID, p.MRN, in.Protocol, in.Course, in.Number
			h.Start, h.End, h.Cells, h.Given, h.Weight = in.Start, in.End, ic.Cells, in.Given, in.Weight
			hs = append(hs, h)
		}
	}
	return hs, nil
}

// containerHandling reads a container's thaw record, lot and first storage.
func containerHandling(tx kv.Tx, id uuid.UUID) (dose.Handling, error) {
	var cr containerRecord
	if found, err := get(tx, kindContainer, id, &cr); err != nil || !found {
		return dose.Handling{}, fmt.Errorf("container %s: missing or unreadable (%v)", id, err)
	}
	c := cr.container()
	l, err := lotByID(tx, c.LotID)
	if err != nil {
		return dose.Handling{}, err
	}
	h := dose.Handling{Container: c.Code(), Lot: l.Number, ThawedAt: c.ThawedAt, Viability: c.ThawViability}
	es, err := eventsOf(tx, "idx_event_container", c.ID)
	if err != nil {
		return h, err
	}
	for _, e := range es {
		if e.To == lot.Stored {
			h.StoredAt = e.At
			break
		}
	}
	return h, nil
}
