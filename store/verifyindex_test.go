package store

import (
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestVerifyCatchesRepointedIndex repoints one lot's DIN and lot number at
// another lot with raw bbolt — every record still matches the audit trail,
// but a nurse scanning LOT-1's label would get LOT-2 — and shows verify
// naming it.
func TestVerifyCatchesRepointedIndex(t *testing.T) {
	for name, tc := range map[string]struct {
		tamper func(tx *bolt.Tx, l1, l2 []byte) error
		want   string
	}{
		"DIN repointed": {func(tx *bolt.Tx, l1, l2 []byte) error {
			return tx.Bucket([]byte("idx_lot_din")).Put([]byte("G123426000001"), l2)
		}, `index idx_lot_din: "G123426000001" points at lot `},
		"lot number repointed": {func(tx *bolt.Tx, l1, l2 []byte) error {
			return tx.Bucket([]byte("idx_lot_number")).Put([]byte("LOT-1"), l2)
		}, `which is "LOT-2": the index was changed outside celltrack`},
		"index entry deleted": {func(tx *bolt.Tx, l1, l2 []byte) error {
			return tx.Bucket([]byte("idx_lot_number")).Delete([]byte("LOT-2"))
		}, `lot "LOT-2" (`},
		"index entry added": {func(tx *bolt.Tx, l1, l2 []byte) error {
			return tx.Bucket([]byte("idx_lot_number")).Put([]byte("LOT-9"), l1)
		}, `index idx_lot_number: "LOT-9" points at lot`},
	} {
		t.Run(name, func(t *testing.T) {
			db := newTestDB(t)
			l1, l2 := registerUC(t, db, "LOT-1"), registerUC(t, db, "LOT-2")
			if v, err := db.Verify(); err != nil || !v.OK() {
				t.Fatalf("fresh database: %v %v", err, v.Problems)
			}
			if err := db.bolt.Update(func(tx *bolt.Tx) error { return tc.tamper(tx, l1.ID[:], l2.ID[:]) }); err != nil {
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
