package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// The process keeps the last entry of its own last commit, and names the
// entries it acknowledged when the trail no longer holds them (review13 A).
func TestOwnHeadNamesTheEntriesThatVanished(t *testing.T) {
	db, _ := bedside(t, "0.5")
	head, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	if db.own.done.seq != uint64(head.Size) || len(db.own.pending) != 0 {
		t.Fatalf("own head %d (%d pending), trail %d entries", db.own.done.seq, len(db.own.pending), head.Size)
	}
	var lost string
	own := db.ownHead()
	db.view(func(tx kv.Tx) error { lost = ownHeadLost(tx, own); return nil })
	if lost != "" {
		t.Fatalf("the trail as committed: %s", lost)
	}
	// Entries removed beneath the process (a dump put back), bypassing it.
	raw := db.engine.(ownEngine).Engine
	if err := raw.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bAudit)
		for _, n := range []int64{head.Size, head.Size - 1} {
			if err := b.Delete(itob(uint64(n))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.view(func(tx kv.Tx) error { lost = ownHeadLost(tx, own); return nil })
	if want := EntryRange(head.Size-1, head.Size) + " vanished"; !strings.Contains(lost, want) {
		t.Errorf("after the last two entries were removed: %q, want it to say %q", lost, want)
	}
}

// Once the process found the trail rolled back it writes nothing more onto
// it, and a bedside check is NO-GO naming why, whatever the records say
// (review13 B).
func TestRolledBackRefusesWritesAndEveryGO(t *testing.T) {
	db, d := bedside(t, "0.5")
	if r, err := d.Check("MRN-1", []string{bag1}, 0); err != nil || !r.GO {
		t.Fatalf("setup: %v %v", err, failed(r))
	}
	db.MarkRolledBack("entry 40 vanished")
	r, err := d.Check("MRN-1", []string{bag1}, 0)
	if err != nil || r.GO || len(r.Failed()) != 1 || r.Checks[0].Name != "audit trail" ||
		lot.ErrorCode(r.Err()) != lot.ENOGO || !strings.Contains(lot.ErrorMessage(r.Err()), "entry 40 vanished") {
		t.Fatalf("bedside check on a trail known rolled back: %v, GO %v, %v", err, r.GO, lot.ErrorMessage(r.Err()))
	}
	before, _ := db.TreeHead()
	nina, _ := db.User("nina")
	omar, _ := db.User("omar")
	_, _, err = d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "entry 40 vanished") {
		t.Errorf("administer on a trail known rolled back: %v, want ECONFLICT naming it", err)
	}
	if _, _, err := db.Login("nina", testPassword, nil); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Errorf("login on a trail known rolled back: %v, want ECONFLICT", err)
	}
	if after, _ := db.TreeHead(); after != before {
		t.Errorf("the trail went from %d to %d entries", before.Size, after.Size)
	}
}
