package store

import (
	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

const kindLabel = "label"

// labelRecord is the stored form of lot.LabelCount (version 1), one per
// container that ever had a label printed; idx_label_container finds it. It
// has an id of its own because the audit trail indexes entries by record id.
type labelRecord struct {
	V           int       `json:"v"`
	ID          uuid.UUID `json:"id"`
	ContainerID uuid.UUID `json:"container_id"`
	LotID       uuid.UUID `json:"lot_id"`
	Printed     int       `json:"printed"`
	Applied     int       `json:"applied"`
	Voided      int       `json:"voided"`
}

func toLabelRecord(id uuid.UUID, n lot.LabelCount) labelRecord {
	return labelRecord{1, id, n.ContainerID, n.LotID, n.Printed, n.Applied, n.Voided}
}

func (r labelRecord) count() lot.LabelCount {
	return lot.LabelCount{ID: r.ID, ContainerID: r.ContainerID, LotID: r.LotID, Printed: r.Printed, Applied: r.Applied, Voided: r.Voided}
}

// LabelService implements lot.LabelService on a DB.
type LabelService struct{ db *DB }

var _ lot.LabelService = (*LabelService)(nil)

// NewLabelService returns the label service of db.
func NewLabelService(db *DB) *LabelService { return &LabelService{db: db} }

// Print counts one printed label for each container named by ref (a
// container, or every container of a lot still in the chain) and calls render
// with them in the same transaction, before anything is counted: when render
// refuses (a character the label font cannot draw, a file that cannot be
// written), nothing is counted and the database is untouched (lab). With
// seen, the labels of ref must stand as the form showed them (labelsSeen).
func (s *LabelService) Print(actor, ref string, seen *uint64, render func(lot.LabelSet) error) (lot.LabelSet, error) {
	var set lot.LabelSet
	err := s.db.update(actor, audit.LabelPrint, func(w *writer) (err error) {
		if set, err = labelSet(w.tx, ref); err != nil {
			return err
		}
		if seen != nil {
			lotID, cs, what := uuid.Nil, set.Containers, "container "+set.Containers[0].Code()
			if l, err := lotByRef(w.tx, ref); err == nil {
				// A lot's page shows the lot and every container of it.
				if cs, err = containersOf(w.tx, l.ID); err != nil {
					return err
				}
				lotID, what = l.ID, "lot "+l.Number
			}
			if err := labelsSeen(w.tx, seen, what, "To print them again (a reprint), use the print button on the page as it is now, which shows the labels printed so far", lotID, cs...); err != nil {
				return err
			}
		}
		if err := render(set); err != nil {
			return err
		}
		for _, c := range set.Containers {
			id, n, err := labelCount(w.tx, c)
			if err != nil {
				return err
			}
			n.Printed++
			if err := w.putLabel(id, n, string(audit.LabelPrint), ""); err != nil {
				return err
			}
		}
		return nil
	})
	return set, err
}

// labelSet gathers the lot, the containers to label and, for an autologous
// lot, its source patient. ref is tried as a lot first, then as a container.
func labelSet(tx kv.Tx, ref string) (lot.LabelSet, error) {
	var set lot.LabelSet
	l, err := lotByRef(tx, ref)
	if err == nil {
		cs, err := containersOf(tx, l.ID)
		if err != nil {
			return set, err
		}
		for _, c := range cs {
			if lot.CheckLabel(c) == nil {
				set.Containers = append(set.Containers, c)
			}
		}
		if len(set.Containers) == 0 {
			return set, lot.Errorf(lot.ECONFLICT, "lot %s has no container that needs a label (split it first, or all are infused or discarded)", l.Number)
		}
	} else if lot.ErrorCode(err) != lot.ENOTFOUND {
		return set, err
	} else {
		c, cerr := containerByRef(tx, ref)
		if lot.ErrorCode(cerr) == lot.EINVALID {
			return set, notFound("lot or container", ref, "give a lot number, DIN or a container code from its label; the list of lots shows them").Run("lot list")
		} else if cerr != nil {
			return set, cerr
		}
		if err := lot.CheckLabel(c); err != nil {
			return set, err
		}
		if l, err = lotByID(tx, c.LotID); err != nil {
			return set, err
		}
		set.Containers = []lot.Container{c}
	}
	set.Lot = l
	if l.Source == lot.SourceRFib {
		p, err := patientByID(tx, l.PatientID)
		if err != nil {
			return set, err
		}
		set.Patient = &p
	}
	if l.Exceptional {
		p, err := patientByID(tx, l.RestrictedTo)
		if err != nil {
			return set, err
		}
		set.RestrictedTo = &p
	}
	return set, nil
}

// labelsSeen is checkSeen for a label form of the containers cs (a
// container's page: it, lotID uuid.Nil; a lot's: the lot lotID and every
// container of it): their state is the last audit entry about any of them
// or their label records (lot.LabelCount.ID).
func labelsSeen(tx kv.Tx, seen *uint64, what, todo string, lotID uuid.UUID, cs ...lot.Container) error {
	if seen == nil {
		return nil
	}
	ids := make([]uuid.UUID, 0, 1+2*len(cs))
	if lotID != uuid.Nil {
		ids = append(ids, lotID)
	}
	for _, c := range cs {
		ids = append(ids, c.ID)
		if id, ok := lookup(tx, "idx_label_container", string(c.ID[:])); ok {
			ids = append(ids, id)
		}
	}
	last, _, err := lastSeq(tx, false, ids...)
	if err != nil {
		return err
	}
	return seenRefusal(tx, *seen, last, what, "", todo)
}

// labelCount returns the label record id and counts of container c; a
// container never printed for has zero counts and a nil id.
func labelCount(tx kv.Tx, c lot.Container) (uuid.UUID, lot.LabelCount, error) {
	r := labelRecord{ContainerID: c.ID, LotID: c.LotID}
	id, ok := lookup(tx, "idx_label_container", string(c.ID[:]))
	if ok {
		if _, err := get(tx, kindLabel, id, &r); err != nil {
			return id, r.count(), err
		}
	}
	return id, r.count(), nil
}

// putLabel stores a container's label counts, creating the record (and its
// index entry) on the first print.
func (w *writer) putLabel(id uuid.UUID, n lot.LabelCount, action, reason string) error {
	if id != uuid.Nil {
		return w.put(kindLabel, id, action, reason, toLabelRecord(id, n))
	}
	id = w.db.NewID()
	if err := w.put(kindLabel, id, action, reason, toLabelRecord(id, n)); err != nil {
		return err
	}
	return writeIndexes(w.tx, kindLabel, id)
}

// Apply records that a printed label was put on the container (lab).
func (s *LabelService) Apply(actor, ref string, seen *uint64) (lot.LabelCount, error) {
	return s.change(actor, ref, audit.LabelApply, "", seen, func(c lot.Container, n *lot.LabelCount) error {
		if err := lot.CheckApply(c, *n); err != nil {
			return err
		}
		n.Applied++
		return nil
	})
}

// Void records that an unused printed label was destroyed, and why (lab).
func (s *LabelService) Void(actor, ref, reason string, seen *uint64) (lot.LabelCount, error) {
	return s.change(actor, ref, audit.LabelVoid, reason, seen, func(c lot.Container, n *lot.LabelCount) error {
		if err := lot.CheckVoid(c, *n, reason); err != nil {
			return err
		}
		n.Voided++
		return nil
	})
}

// change applies or voids a label of the container ref; with seen, its
// labels must stand as the form showed them (labelsSeen): with two printed,
// an apply sent again would record the spare as put on too.
func (s *LabelService) change(actor, ref string, action audit.Action, reason string, seen *uint64, fn func(lot.Container, *lot.LabelCount) error) (lot.LabelCount, error) {
	var n lot.LabelCount
	err := s.db.update(actor, action, func(w *writer) error {
		c, err := containerByRef(w.tx, ref)
		if err != nil {
			return err
		}
		if err := labelsSeen(w.tx, seen, "container "+c.Code(), "To apply or void another label, use the page as it is now, which shows the labels as they are", uuid.Nil, c); err != nil {
			return err
		}
		id, count, err := labelCount(w.tx, c)
		if err != nil {
			return err
		}
		n = count
		if err := fn(c, &n); err != nil {
			return err
		}
		return w.putLabel(id, n, string(action), reason)
	})
	return n, err
}

// Reconcile returns the containers of a lot and their label counts, in
// container order, reading only that lot's containers.
func (s *LabelService) Reconcile(ref string) (lot.Lot, []lot.Container, []lot.LabelCount, error) {
	var l lot.Lot
	var cs []lot.Container
	var ns []lot.LabelCount
	err := s.db.view(func(tx kv.Tx) (err error) {
		if l, err = lotByRef(tx, ref); err != nil {
			return err
		}
		if cs, err = containersOf(tx, l.ID); err != nil {
			return err
		}
		for _, c := range cs {
			_, n, err := labelCount(tx, c)
			if err != nil {
				return err
			}
			ns = append(ns, n)
		}
		return nil
	})
	return l, cs, ns, err
}
