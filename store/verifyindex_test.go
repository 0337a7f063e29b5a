package store

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// TestVerifyCatchesRepointedIndex repoints one lot's DIN and lot number at
// another lot with raw bbolt — every record still matches the audit trail,
// but a nurse scanning LOT-1's label would get LOT-2 — and shows verify
// naming it.
func TestVerifyCatchesRepointedIndex(t *testing.T) {
	for name, tc := range map[string]struct {
		tamper func(tx kv.Tx, l1, l2 []byte) error
		want   string
	}{
		"DIN repointed": {func(tx kv.Tx, l1, l2 []byte) error {
			return tx.Bucket([]byte("idx_lot_din")).Put([]byte("G123426000001"), l2)
		}, `index idx_lot_din: key "G123426000001" points at lot LOT-2 (`},
		"lot number repointed": {func(tx kv.Tx, l1, l2 []byte) error {
			return tx.Bucket([]byte("idx_lot_number")).Put([]byte("LOT-1"), l2)
		}, `instead of lot LOT-1 (`},
		"index entry deleted": {func(tx kv.Tx, l1, l2 []byte) error {
			return tx.Bucket([]byte("idx_lot_number")).Delete([]byte("LOT-2"))
		}, `lot LOT-2 (`},
		"index entry added": {func(tx kv.Tx, l1, l2 []byte) error {
			return tx.Bucket([]byte("idx_lot_number")).Put([]byte("LOT-9"), l1)
		}, `index idx_lot_number: key "LOT-9" points at lot LOT-1 (`},
	} {
		t.Run(name, func(t *testing.T) {
			skipDerived(t, "idx_lot_number")
			db := newTestDB(t)
			l1, l2 := registerUC(t, db, "LOT-1"), registerUC(t, db, "LOT-2")
			if v, err := db.Verify(); err != nil || !v.OK() {
				t.Fatalf("fresh database: %v %v", err, v.Problems)
			}
			if err := db.engine.Update(func(tx kv.Tx) error { return tc.tamper(tx, l1.ID[:], l2.ID[:]) }); err != nil {
				t.Fatal(err)
			}
			v, err := db.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if v.OK() || !strings.Contains(strings.Join(v.Problems, "\n"), tc.want) {
				t.Fatalf("verify did not name the tampered index (%q): %q", tc.want, v.Problems)
			}
		})
	}
}

// everyIndexDB is a database with at least one entry in every index
// bucket, written through the services: the bedside database, an infusion
// and its reaction, a confirmed weight, a donor screening, a rejected lot,
// a site and a printed label.
func everyIndexDB(t *testing.T) *DB {
	t.Helper()
	db, d := bedside(t, "0.5")
	pat := mustUser(t, db, "pat")
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RecordReaction("nina", dose.NewReaction{Infusion: in.ID.String(), Grade: 1, Text: "flushing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLotService(db).Weigh("nina", "MRN-1", 68_300, db.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ConfirmWeight(pat, "MRN-1", dose.WeightShown{Grams: 68_300}, "re-weighed twice"); err != nil {
		t.Fatal(err)
	}
	addTestUser(t, db, audit.User{Name: "quinn", FullName: "Quinn", Role: audit.QA})
	rs := NewReleaseService(db)
	var neg []release.Marker
	for _, m := range release.ScreenMarkers {
		neg = append(neg, release.Marker{Name: m, Result: release.Negative})
	}
	if _, _, _, err := rs.Screen("liu", "D-1", release.Screening{Markers: neg}); err != nil {
		t.Fatal(err)
	}
	registerUC(t, db, "LOT-R")
	if _, err := rs.Reject("quinn", testPassword, "LOT-R", "mycoplasma positive", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCustodyService(db).AddSite("liu", lot.Site{Code: "LAB", Name: "Cell lab"}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLabelService(db).Print("liu", bag2, nil, func(lot.LabelSet) error { return nil }); err != nil {
		t.Fatal(err)
	}
	db.view(func(tx kv.Tx) error {
		for _, b := range indexBuckets {
			if tx.Bucket(b).KeyN() == 0 {
				t.Errorf("index %s is empty: add a record that has an entry in it to everyIndexDB", b)
			}
		}
		return nil
	})
	verifyOK(t, db)
	return db
}

// TestVerifyChecksEveryIndex tampers with every index bucket of the key
// schema through raw bbolt — one entry deleted, one stray entry added, one
// entry moved to another parent or key — and shows verify naming the
// bucket, the key and the record each time, where before it checked only
// the six lookup indexes: a deleted idx_result_lot entry hid a failing QC
// result from the release evaluation with verify passing.
func TestVerifyChecksEveryIndex(t *testing.T) {
	db := everyIndexDB(t)
	type entry struct{ k, v []byte }
	first := func(b string) (e entry) {
		db.view(func(tx kv.Tx) error {
			k, v := tx.Bucket([]byte(b)).Cursor().First()
			e = entry{bytes.Clone(k), bytes.Clone(v)}
			return nil
		})
		return e
	}
	// other is an id of another record of some kind, to move an entry to.
	var other uuid.UUID
	db.view(func(tx kv.Tx) error {
		k, _ := tx.Bucket(recordBuckets[kindSpec]).Cursor().Last()
		other = uuid.UUID(k)
		return nil
	})
	nobody := uuid.New() // no record's id
	for _, name := range indexBuckets {
		bucket := string(name)
		e := first(bucket)
		// The record the entry belongs to: a lookup entry holds its id, a
		// composite key ends in it.
		owner := e.v
		if len(owner) == 0 {
			owner = e.k[len(e.k)-16:]
		}
		moved := append(bytes.Clone(e.k), 'x') // a lookup key
		if len(e.v) == 0 {                     // a composite key: another parent, the same record
			moved = append(other[:], e.k[16:]...)
		}
		for _, tc := range []struct {
			name   string
			tamper func(b kv.Bucket) error
			want   []string
		}{
			{"deleted", func(b kv.Bucket) error { return b.Delete(e.k) },
				[]string{"is missing from index " + bucket + " (key " + keyText(e.k) + ")", uuid.UUID(owner).String()}},
			{"stray", func(b kv.Bucket) error {
				if len(e.v) == 0 {
					return b.Put(append(other[:], nobody[:]...), nil)
				}
				return b.Put([]byte("stray"), nobody[:])
			}, []string{"index " + bucket + ": key ", "which is not stored: it was added outside celltrack"}},
			{"moved", func(b kv.Bucket) error {
				if err := b.Delete(e.k); err != nil {
					return err
				}
				return b.Put(moved, e.v)
			}, []string{"index " + bucket + ": key " + keyText(moved) + " points at ", "is missing from index " + bucket + " (key " + keyText(e.k) + ")"}},
		} {
			t.Run(bucket+"/"+tc.name, func(t *testing.T) {
				skipDerived(t, bucket)
				before, err := db.Verify()
				if err != nil {
					t.Fatal(err)
				}
				if err := db.engine.Update(func(tx kv.Tx) error { return tc.tamper(tx.Bucket(name)) }); err != nil {
					t.Fatal(err)
				}
				v, err := db.Verify()
				// Put the bucket back for the next case.
				if err := db.engine.Update(func(tx kv.Tx) error {
					b := tx.Bucket(name)
					b.Delete(moved)
					b.Delete([]byte("stray"))
					b.Delete(append(other[:], nobody[:]...))
					return b.Put(e.k, e.v)
				}); err != nil {
					t.Fatal(err)
				}
				if err != nil {
					t.Fatal(err)
				}
				if v.Head != before.Head {
					t.Fatalf("the tamper changed the chain head; it should touch the index only")
				}
				all := strings.Join(v.Problems, "\n")
				for _, w := range tc.want {
					if !strings.Contains(all, w) {
						t.Errorf("verify did not say %q; it said:\n%s", w, all)
					}
				}
				for _, p := range v.Problems {
					if !strings.Contains(p, bucket) {
						t.Errorf("verify named something other than %s: %s", bucket, p)
					}
				}
			})
		}
	}
	verifyOK(t, db)
}
