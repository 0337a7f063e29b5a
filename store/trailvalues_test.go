package store

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// TestLeanEntriesReadTheValuesTheySet: since schema 8 a state entry holds
// not the value it set but its SHA-256; the value is read from the record's
// next entry (its previous value) or from the record. On a trail where
// records are created, changed and changed again (a dispensed and infused
// bag, a corrected patient), every entry of the whole log and of each
// record's history reads a value whose SHA-256 is the one its header holds,
// each change's previous value is the value the record's entry before it
// set, and the last value of each record is the stored one.
func TestLeanEntriesReadTheValuesTheySet(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, err := d.CreateSchedule("pat", "MRN-2", "ss-rfib-12", db.Now(), ""); err != nil {
		t.Fatal(err)
	}
	dispense(t, db, "G12342600000201", db.Now().Add(-30*time.Minute), 100_000_000, "MRN-2")
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-2", Containers: []string{"G12342600000201"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewLotService(db).CorrectPatient("nina", "MRN-2", lot.PatientFix{MRN: "MRN-20"}, "digit missed at registration"); err != nil {
		t.Fatal(err)
	}
	all, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	last := map[[16]byte]string{}
	changed, lean := 0, 0
	for _, e := range all {
		if !e.State {
			continue
		}
		if e.Lean {
			lean++
		}
		if got := sha256.Sum256(e.New); got != e.NewSHA() || len(e.New) == 0 {
			t.Fatalf("entry %d (%s %s) reads a value that is not the one it set: %s", e.Seq, e.Entity, e.Action, e.New)
		}
		if prev, ok := last[e.ID]; ok {
			changed++
			if string(e.Prev) != prev {
				t.Fatalf("entry %d: previous value %s, but the entry before set %s", e.Seq, e.Prev, prev)
			}
		}
		last[e.ID] = string(e.New)
		hist, err := db.AuditLog(e.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			if h.Seq == e.Seq && string(h.New) != string(e.New) {
				t.Fatalf("entry %d reads %s in its record's history, %s in the whole log", e.Seq, h.New, e.New)
			}
		}
	}
	if lean == 0 || changed < 3 {
		t.Fatalf("%d lean entries, %d changes: the trail does not exercise the history", lean, changed)
	}
	err = db.engine.View(func(tx kv.Tx) error {
		for id, v := range last {
			found := false
			for _, b := range recordBuckets {
				if s := tx.Bucket(b).Get(id[:]); s != nil {
					found = string(s) == v
				}
			}
			if !found {
				t.Errorf("record %x: the last entry's value is not the stored one", id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
