package store

import (
	"bytes"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// TestStartChecksSeesEveryValue feeds more than one batch (checkBatchBytes)
// of lots and containers, partly interleaved with feed as verifyTx does, and
// checks the worker saw every record once, in bucket order, with its value.
func TestStartChecksSeesEveryValue(t *testing.T) {
	db := newTestDB(t)
	if _, err := NewLotService(db).Import("liu", importRows("W", 1500, db.Now())); err != nil {
		t.Fatal(err)
	}
	err := db.view(func(tx kv.Tx) error {
		kinds := []string{kindLot, kindContainer, kindLot}
		seen := make([][]uuid.UUID, len(kinds))
		vals := make([]map[uuid.UUID][]byte, len(kinds))
		checks := make([]valueCheck, len(kinds))
		for i, kind := range kinds {
			vals[i] = map[uuid.UUID][]byte{}
			checks[i] = valueCheck{kind, func(id uuid.UUID, val []byte) {
				seen[i] = append(seen[i], id)
				vals[i][id] = val
			}}
		}
		r := startChecks(tx, checks)
		for range 3 {
			r.feed()
		}
		r.wait()
		total, size := 0, 0
		for i, kind := range kinds {
			var want []uuid.UUID
			tx.Bucket(recordBuckets[kind]).ForEach(func(k, v []byte) error {
				want = append(want, uuid.UUID(k))
				size += len(v)
				if !bytes.Equal(vals[i][uuid.UUID(k)], v) {
					t.Errorf("%s %x: the worker saw another value", kind, k)
				}
				return nil
			})
			if len(seen[i]) != len(want) {
				t.Fatalf("%s: the worker saw %d records, the bucket holds %d", kind, len(seen[i]), len(want))
			}
			for j := range want {
				if seen[i][j] != want[j] {
					t.Fatalf("%s: record %d is %s, want %s (bucket order)", kind, j, seen[i][j], want[j])
				}
			}
			total += len(want)
		}
		if size < 2*checkBatchBytes {
			t.Fatalf("%d records of %d bytes: the test does not span several batches", total, size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStartChecksPanic: a panic in a check reaches the caller's goroutine
// (where the store tells damage from bugs) after the feeder has finished,
// instead of killing the process or blocking the feeder.
func TestStartChecksPanic(t *testing.T) {
	db := newTestDB(t)
	if _, err := NewLotService(db).Import("liu", importRows("P", 1500, db.Now())); err != nil {
		t.Fatal(err)
	}
	var got any
	db.engine.View(func(tx kv.Tx) error {
		defer func() { got = recover() }()
		r := startChecks(tx, []valueCheck{{kindLot, func(uuid.UUID, []byte) { panic("check failed") }}})
		r.wait()
		return nil
	})
	if got != "check failed" {
		t.Fatalf("recovered %v, want the check's panic", got)
	}
}
