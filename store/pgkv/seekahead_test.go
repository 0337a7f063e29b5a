package pgkv_test

import (
	"fmt"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
)

// moves is what a cursor answers, from a Seek to each of seeks: the pair it
// lands on (Last when none), the two before it and, with next, the one
// after — what store's record checks ask of audit_entity and audit_entries
// (verifyRecord, entryWithPrev).
func moves(b kv.Bucket, seeks [][]byte, next bool) []string {
	var out []string
	for _, s := range seeks {
		c := b.Cursor()
		k, v := c.Seek(s)
		out = append(out, fmt.Sprintf("seek %x: %x %s", s, k, v))
		if k == nil {
			k, v = c.Last()
			out = append(out, fmt.Sprintf(" last: %x %s", k, v))
		}
		for range 2 {
			k, v = c.Prev()
			out = append(out, fmt.Sprintf(" prev: %x %s", k, v))
		}
		if next {
			c2 := b.Cursor()
			c2.Seek(s)
			k, v = c2.Next()
			out = append(out, fmt.Sprintf(" next: %x %s", k, v))
		}
	}
	return out
}

// TestPrefetchSeeks: after PrefetchSeeks, Seeks to its keys and the moves
// around them answer exactly as without it — keys present and absent, before
// the first pair and past the last, in the generic table and in tables of
// their own, over a write transaction's buffered writes, for one bucket or
// several (PrefetchSeeksIn) — and a read transaction's Seeks and Prevs
// within what was read cost no round trip of their own.
func TestPrefetchSeeks(t *testing.T) {
	e, u := create(t)
	key := func(i, j int) []byte { k := make([]byte, 24); k[0], k[15], k[23] = 1, byte(i), byte(j); return k }
	if err := e.Update(func(tx kv.Tx) error {
		for _, name := range []string{"things", "audit_entity", "meta"} { // the generic table, and one of its own
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for i := 2; i < 40; i += 3 { // records 2, 5, … with 1 to 4 entries each
				for j := range 1 + i%4 {
					if err := b.Put(key(i, j+1), fmt.Appendf(nil, "v%d.%d", i, j+1)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var seeks [][]byte
	for i := range 42 { // before the first record, each one's upper bound, past the last
		seeks = append(seeks, append(key(i, 0)[:16:16], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	}
	seeks = append(seeks, key(0, 0), key(5, 1), key(41, 9))
	e2, c := countedEngine(t, u)
	for _, name := range []string{"things", "audit_entity"} {
		var want, got, wantNoNext []string
		if err := e2.View(func(tx kv.Tx) error {
			want, wantNoNext = moves(tx.Bucket([]byte(name)), seeks, true), moves(tx.Bucket([]byte(name)), seeks, false)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, below := range []int{0, 1, 3} {
			before := c.n()
			if err := e2.View(func(tx kv.Tx) error {
				b := tx.Bucket([]byte(name))
				if !kv.PrefetchSeeks(b, below, 1, seeks...) {
					t.Fatalf("%s: the bucket is no SeekPrefetcher", name)
				}
				got = moves(b, seeks, false)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !equalLines(t, name, got, wantNoNext) {
				continue
			}
			// One round trip: the last one's COMMIT, BEGIN and the
			// prefetch. With three pairs below each key every Prev
			// lands within what was read; with fewer, the Prevs
			// that go further fetch pages.
			if n := c.n() - before; below == 3 && n != 1 {
				t.Errorf("%s: PrefetchSeeks of %d keys and the moves within them took %d round trips, want 1", name, len(seeks), n)
			}
			// A Next past the pair a Seek landed on goes beyond what
			// was read: answered as without, from a page fetched.
			if err := e2.View(func(tx kv.Tx) error {
				b := tx.Bucket([]byte(name))
				kv.PrefetchSeeks(b, below, 1, seeks...)
				got = moves(b, seeks, true)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			equalLines(t, name+" (with Next)", got, want)
		}
		// Of several buckets at once: the same answers; one round trip
		// for the Seeks of two buckets and the moves within them.
		before := c.n()
		if err := e2.View(func(tx kv.Tx) error {
			var bks []kv.BucketKey
			for _, other := range []string{name, "meta", "nothing"} {
				for _, k := range seeks {
					bks = append(bks, kv.BucketKey{Bucket: []byte(other), Key: k})
				}
			}
			kv.PrefetchSeeksIn(tx, 3, 1, bks...)
			got = moves(tx.Bucket([]byte(name)), seeks, false)
			moves(tx.Bucket([]byte("meta")), seeks, false)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		equalLines(t, name+" (of several buckets)", got, wantNoNext)
		if n := c.n() - before; n != 1 {
			t.Errorf("%s: PrefetchSeeksIn of %d keys of two buckets and the moves within them took %d round trips, want 1", name, 2*len(seeks), n)
		}
		// In a write transaction, over its own writes (rolled back).
		write := func(b kv.Bucket) {
			b.Put(key(5, 9), []byte("new"))
			b.Delete(key(8, 1))
			b.Put(key(41, 1), []byte("last"))
		}
		errRollback := fmt.Errorf("roll back")
		for _, prefetch := range []bool{false, true} {
			err := e2.Update(func(tx kv.Tx) error {
				b := tx.Bucket([]byte(name))
				write(b)
				if prefetch {
					kv.PrefetchSeeks(b, 3, 1, seeks...)
					got = moves(b, seeks, true)
				} else {
					want = moves(b, seeks, true)
				}
				return errRollback
			})
			if err != errRollback {
				t.Fatal(err)
			}
		}
		equalLines(t, name+" (writing)", got, want)
	}
}

func equalLines(t *testing.T, what string, got, want []string) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d answers, want %d", what, len(got), len(want))
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: after PrefetchSeeks %s, want %s", what, got[i], want[i])
			return false
		}
	}
	return true
}
