package pgkv_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
	"github.com/google/uuid"
)

// TestDerivedBucketsReadLots: the lot index buckets are read from the lots
// table (schema 3). A transaction that writes lots and their index pairs
// reads its own pairs before and after they are sent (sends every few
// writes here), counts them, and after the commit every pair reads back
// from the lots rows alone; a pair that no lots row gives went nowhere;
// deleting the bucket leaves the lots; SQL cannot write the views.
func TestDerivedBucketsReadLots(t *testing.T) {
	restore := pgkv.SetFlushAt(5)
	defer restore()
	e, _ := create(t)
	names := []string{"donors", "lots", "idx_lot_number", "idx_lot_number_fold", "idx_lot_din", "idx_lot_donor"}
	type lotRow struct {
		id          uuid.UUID
		number, din string
		donor       uuid.UUID // the zero id: none
	}
	var lots []lotRow
	for i := range 12 {
		l := lotRow{id: uuid.Must(uuid.NewV7()), number: fmt.Sprintf("Lot-%02d", i), din: fmt.Sprintf("G1234260%05d", i)}
		if i%3 != 0 {
			l.donor = uuid.Must(uuid.NewV7())
		}
		lots = append(lots, l)
	}
	pairs := func(l lotRow) map[string][2][]byte {
		fold := append([]byte(strings.ToUpper(l.number)), 0)
		return map[string][2][]byte{
			"idx_lot_number":      {[]byte(l.number), l.id[:]},
			"idx_lot_number_fold": {append(fold, l.id[:]...), {}},
			"idx_lot_din":         {[]byte(l.din), l.id[:]},
			"idx_lot_donor":       {append(bytes.Clone(l.donor[:]), l.id[:]...), {}},
		}
	}
	err := e.Update(func(tx kv.Tx) error {
		for _, n := range names {
			if _, err := tx.CreateBucket([]byte(n)); err != nil {
				return err
			}
		}
		for i, l := range lots {
			donor := ""
			if l.donor != uuid.Nil {
				donor = fmt.Sprintf(`,"donor_id":"%s"`, l.donor)
				if err := tx.Bucket([]byte("donors")).Put(l.donor[:], []byte(fmt.Sprintf(`{"code":"D-%d"}`, i))); err != nil {
					return err
				}
			}
			rec := fmt.Sprintf(`{"id":"%s","number":"%s","din":"%s","source":"uc"%s}`, l.id, l.number, l.din, donor)
			if err := tx.Bucket([]byte("lots")).Put(l.id[:], []byte(rec)); err != nil {
				return err
			}
			for b, p := range pairs(l) {
				if err := tx.Bucket([]byte(b)).Put(p[0], p[1]); err != nil {
					return err
				}
			}
			// Its own writes, sent or not.
			for b, p := range pairs(l) {
				if v := tx.Bucket([]byte(b)).Get(p[0]); !bytes.Equal(v, p[1]) || v == nil {
					t.Errorf("lot %d: %s %x reads %x in its transaction, want %x", i, b, p[0], v, p[1])
				}
			}
		}
		if err := tx.Bucket([]byte("idx_lot_number")).Put([]byte("stray"), lots[0].id[:]); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A count sends what the bucket's pairs are read from: a lot not sent
	// yet is counted (rolled back after).
	restore()
	rollBack := errors.New("roll back")
	err = e.Update(func(tx kv.Tx) error {
		id := uuid.Must(uuid.NewV7())
		if err := tx.Bucket([]byte("lots")).Put(id[:], []byte(`{"number":"LOT-X","din":"G123426099999","source":"uc"}`)); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("idx_lot_din")).Put([]byte("G123426099999"), id[:]); err != nil {
			return err
		}
		if n := tx.Bucket([]byte("idx_lot_din")).KeyN(); n != len(lots)+1 {
			t.Errorf("idx_lot_din counts %d in a transaction with a lot unsent, want %d", n, len(lots)+1)
		}
		return rollBack
	})
	if err != rollBack {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := exec(t, e, "DELETE FROM kv WHERE bucket = $1", n); err != nil { // none is there to delete
			t.Fatal(err)
		}
	}
	e.View(func(tx kv.Tx) error {
		for _, l := range lots {
			for b, p := range pairs(l) {
				if v := tx.Bucket([]byte(b)).Get(p[0]); !bytes.Equal(v, p[1]) || v == nil {
					t.Errorf("%s %x reads %x from lots, want %x", b, p[0], v, p[1])
				}
			}
		}
		if v := tx.Bucket([]byte("idx_lot_number")).Get([]byte("stray")); v != nil {
			t.Errorf("a pair no lot gives was stored: %x", v)
		}
		// In key order, as bbolt gives them.
		var got, want [][]byte
		for _, l := range lots {
			want = append(want, pairs(l)["idx_lot_donor"][0])
		}
		c := tx.Bucket([]byte("idx_lot_donor")).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			got = append(got, bytes.Clone(k))
		}
		slices.SortFunc(want, bytes.Compare)
		if len(got) != len(want) {
			t.Fatalf("idx_lot_donor walks %d keys, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("idx_lot_donor key %d: %x, want %x", i, got[i], want[i])
			}
		}
		return nil
	})
	if err := exec(t, e, "DELETE FROM idx_lot_number"); err == nil || !strings.Contains(err.Error(), "idx_lot_number is read from lots; DELETE refused") {
		t.Errorf("SQL DELETE from a view: %v", err)
	}
	if err := e.Update(func(tx kv.Tx) error { return tx.DeleteBucket([]byte("idx_lot_number")) }); err != nil {
		t.Fatal(err)
	}
	e.View(func(tx kv.Tx) error {
		if tx.Bucket([]byte("idx_lot_number")) != nil {
			t.Error("idx_lot_number still exists")
		}
		if n := tx.Bucket([]byte("lots")).KeyN(); n != len(lots) {
			t.Errorf("%d lots after idx_lot_number was deleted, want %d", n, len(lots))
		}
		return nil
	})
}
