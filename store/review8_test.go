package store

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// Review 8: a course begun before schema 13 (its schedule record of
// version 1, with no list of the infusions given) keeps review 7's double
// dose after the upgrade: the upgrade to 13 rewrites no record, and the
// list is made only at the course's next infusion, so until then the
// bedside check has nothing but the unaudited infusion indexes. With
// infusion 1 given under schema 12 and its index rows deleted, a second bag
// is GO for infusion 1 again, and administer records it. The infusion
// records themselves, each audited, name the schedule; the upgrade (or the
// check) can build the list from them.
func TestReview8LegacyCourseIndexCutSecondDose(t *testing.T) {
	db, d := bedside(t, "0.5")
	nina, omar := mustUser(t, db, "nina"), mustUser(t, db, "omar")
	in, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	// As a schema 12 database holds the course after infusion 1: version 1,
	// no list (the record as the schema 12 celltrack wrote it, audited).
	legacy := storedSchedule(t, db).schedule()
	legacy.GivenListed, legacy.Given = false, nil
	asAdmin(t, db, func(w *writer) error {
		return w.put(kindSchedule, legacy.ID, "test.schedule", "as stored before schema 13", toScheduleRecord(legacy))
	})
	if r := storedSchedule(t, db); r.V != 1 {
		t.Fatalf("legacy schedule stored as v%d", r.V)
	}
	verifyOK(t, db)

	// The infusion indexes emptied outside celltrack (review 7).
	if err := db.engine.Update(func(tx kv.Tx) error {
		for _, name := range []string{"idx_infusion_patient", "idx_infusion_container", "idx_event_infused"} {
			b := tx.Bucket([]byte(name))
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dispense(t, db, bag2, db.Now().Add(-10*time.Minute), 100_000_000, "MRN-1")
	rep, err := d.Check("MRN-1", []string{bag2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.GO {
		t.Errorf("a second bag is GO for the infusion already given (%s) on a course stored before schema 13", in.ID)
	}
	before := auditLen(t, db)
	if again, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag2}}); err == nil {
		t.Errorf("administer recorded a second infusion %d (%s) after infusion %d (%s)", again.Number, again.ID, in.Number, in.ID)
	} else {
		if !strings.Contains(err.Error(), "NO-GO") {
			t.Errorf("administer refused, but not as NO-GO: %v", err)
		}
		if after := auditLen(t, db); after != before {
			t.Errorf("the refusal wrote %d audit entries", after-before)
		}
	}
}

// Review 8 (finding 7): a split never issues a container code already
// issued. The lot's count of containers set back (here by an audited
// rewrite, as a restored or hand-edited record would hold it), the next
// split would number its bags from 1 again and give them the codes of the
// bags already labelled; it is refused naming the code, nothing written.
func TestReview8SplitRefusesIssuedContainerCode(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	ls := NewLotService(db)
	cs, err := ls.SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 2, CellsEach: 100_000_000})
	if err != nil {
		t.Fatal(err)
	}
	changeLot(t, db, "LOT-1", func(l *lot.Lot) { l.Containers, l.CellsSplit = 0, 0 })
	before := auditLen(t, db)
	_, err = ls.SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 1, CellsEach: 100_000_000})
	if err == nil {
		t.Fatalf("a split after the count was set back issued code %s again", cs[0].Code())
	}
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), cs[0].Code()) || !strings.Contains(err.Error(), "nothing was split") {
		t.Errorf("refusal %v (code %s): want a conflict naming %s", err, lot.ErrorCode(err), cs[0].Code())
	}
	if after := auditLen(t, db); after != before {
		t.Errorf("the refusal wrote %d audit entries", after-before)
	}
}

// idsFrom seeks the infusion walk of a course stored before schema 13 to
// the infusions made about when its schedule was: a UUIDv7's first 48 bits
// less the slack, every key for an id of another version.
func TestIdsFrom(t *testing.T) {
	id := uuid.MustParse("01a24222-3c12-79c6-bfdc-7b193f19c34e")
	from := idsFrom(id, time.Hour)
	ms := func(b []byte) int64 {
		var v int64
		for _, c := range b[:6] {
			v = v<<8 | int64(c)
		}
		return v
	}
	if got, want := ms(from), ms(id[:])-3_600_000; got != want || len(from) != 16 || string(from[6:]) != string(make([]byte, 10)) {
		t.Errorf("idsFrom(%s, 1h) = %x, want ms %d then zeros", id, from, want)
	}
	if got := idsFrom(uuid.MustParse("9b2e4c1a-0f3d-4e5a-8b6c-7d8e9f0a1b2c"), time.Hour); string(got) != string(make([]byte, 16)) {
		t.Errorf("a UUIDv4 seeks to %x, want the first key", got)
	}
}
