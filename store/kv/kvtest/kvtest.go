// Package kvtest is the conformance suite of the storage seam: what store
// relies on from every engine (package kv's doc), checked the same way on
// each. An engine's tests call Run with a function opening a new, empty
// database.
package kvtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
)

// Run runs the suite; open returns a new empty database, closed by the
// suite.
func Run(t *testing.T, open func(t *testing.T) kv.Engine) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, e kv.Engine)
	}{
		{"Order", testOrder},
		{"EmptyValues", testEmptyValues},
		{"Missing", testMissing},
		{"CursorEnds", testCursorEnds},
		{"CursorPages", testCursorPages},
		{"CursorDeleteWhileWalking", testCursorDelete},
		{"WritesThenReadsInOneTx", testWritesThenReads},
		{"RollbackOnError", testRollback},
		{"SnapshotIsolation", testSnapshot},
		{"SingleWriter", testSingleWriter},
		{"KeyN", testKeyN},
		{"Buckets", testBuckets},
		{"ReadOnlyTx", testReadOnly},
		{"ViewContext", testViewContext},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := open(t)
			defer e.Close()
			c.fn(t, e)
		})
	}
}

var bkt = []byte("things")

func mustUpdate(t *testing.T, e kv.Engine, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := e.Update(fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func mustView(t *testing.T, e kv.Engine, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := e.View(fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// fill makes bucket bkt holding keys, each with value "v"+key.
func fill(t *testing.T, e kv.Engine, keys ...[]byte) {
	t.Helper()
	mustUpdate(t, e, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bkt)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put(k, append([]byte("v"), k...)); err != nil {
				return err
			}
		}
		return nil
	})
}

func walk(c kv.Cursor, desc bool) [][]byte {
	var ks [][]byte
	k, _ := c.First()
	if desc {
		k, _ = c.Last()
	}
	for k != nil {
		ks = append(ks, bytes.Clone(k))
		if desc {
			k, _ = c.Prev()
		} else {
			k, _ = c.Next()
		}
	}
	return ks
}

func showKeys(ks [][]byte) string {
	s := "["
	for i, k := range ks {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%x", k)
	}
	return s + "]"
}

func equalKeys(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// testOrder: keys come back in bytewise order, whatever order they went in:
// 0x00 and 0xff bytes, prefixes before their extensions, big-endian numbers.
func testOrder(t *testing.T, e kv.Engine) {
	want := [][]byte{
		{0x00}, {0x00, 0x00}, {0x00, 0x01}, {0x01}, {0x01, 0x00}, {0x7f}, {0x80}, {0xfe, 0xff}, {0xff}, {0xff, 0x00},
		[]byte("a"), []byte("ab"), []byte("b"),
	}
	slices.SortFunc(want, bytes.Compare)
	in := slices.Clone(want)
	rand.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	fill(t, e, in...)
	mustView(t, e, func(tx kv.Tx) error {
		b := tx.Bucket(bkt)
		if got := walk(b.Cursor(), false); !equalKeys(got, want) {
			t.Errorf("forward walk: %s, want %s", showKeys(got), showKeys(want))
		}
		rev := slices.Clone(want)
		slices.Reverse(rev)
		if got := walk(b.Cursor(), true); !equalKeys(got, rev) {
			t.Errorf("backward walk: %s, want %s", showKeys(got), showKeys(rev))
		}
		var got [][]byte
		b.ForEach(func(k, v []byte) error {
			if !bytes.Equal(v, append([]byte("v"), k...)) {
				t.Errorf("ForEach %x: value %q", k, v)
			}
			got = append(got, bytes.Clone(k))
			return nil
		})
		if !equalKeys(got, want) {
			t.Errorf("ForEach: %s, want %s", showKeys(got), showKeys(want))
		}
		return nil
	})
}

// testEmptyValues: a key stored with a nil or empty value comes back with a
// non-nil empty value (store keeps index entries with no value, and tells
// "present" from "missing" by nil).
func testEmptyValues(t *testing.T, e kv.Engine) {
	mustUpdate(t, e, func(tx kv.Tx) error {
		b, err := tx.CreateBucket(bkt)
		if err != nil {
			return err
		}
		if err := b.Put([]byte("nil"), nil); err != nil {
			return err
		}
		return b.Put([]byte("empty"), []byte{})
	})
	mustView(t, e, func(tx kv.Tx) error {
		b := tx.Bucket(bkt)
		for _, k := range []string{"nil", "empty"} {
			if v := b.Get([]byte(k)); v == nil || len(v) != 0 {
				t.Errorf("Get(%q) = %#v, want a non-nil empty value", k, v)
			}
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil || len(v) != 0 {
				t.Errorf("cursor at %q: value %#v, want a non-nil empty value", k, v)
			}
		}
		if k, v := c.Seek([]byte("nil")); string(k) != "nil" || v == nil {
			t.Errorf("Seek(nil) = %q, %#v", k, v)
		}
		return nil
	})
}

// testMissing: a missing key and a missing bucket are nil.
func testMissing(t *testing.T, e kv.Engine) {
	mustView(t, e, func(tx kv.Tx) error {
		if b := tx.Bucket(bkt); b != nil {
			t.Errorf("Bucket(%q) in a new database = %v, want nil", bkt, b)
		}
		return nil
	})
	fill(t, e, []byte("a"))
	mustView(t, e, func(tx kv.Tx) error {
		b := tx.Bucket(bkt)
		if b == nil {
			t.Fatalf("Bucket(%q) = nil after it was created", bkt)
		}
		if v := b.Get([]byte("b")); v != nil {
			t.Errorf("Get(missing) = %#v, want nil", v)
		}
		if v := b.Get([]byte("a")); string(v) != "va" {
			t.Errorf("Get(a) = %q, want va", v)
		}
		if b := tx.Bucket([]byte("other")); b != nil {
			t.Errorf("Bucket(other) = %v, want nil", b)
		}
		return nil
	})
}

// testCursorEnds: moves at both ends and Seek outside the keys.
func testCursorEnds(t *testing.T, e kv.Engine) {
	mustUpdate(t, e, func(tx kv.Tx) error { _, err := tx.CreateBucket(bkt); return err })
	mustView(t, e, func(tx kv.Tx) error {
		c := tx.Bucket(bkt).Cursor()
		if k, _ := c.First(); k != nil {
			t.Errorf("First on an empty bucket = %q", k)
		}
		if k, _ := c.Last(); k != nil {
			t.Errorf("Last on an empty bucket = %q", k)
		}
		if k, _ := c.Seek([]byte("a")); k != nil {
			t.Errorf("Seek on an empty bucket = %q", k)
		}
		return nil
	})
	fill(t, e, []byte("b"), []byte("d"), []byte("f"))
	mustView(t, e, func(tx kv.Tx) error {
		c := tx.Bucket(bkt).Cursor()
		for _, m := range []struct {
			name string
			move func() ([]byte, []byte)
			want string // "" for nil
		}{
			{"First", c.First, "b"},
			{"Prev at first", c.Prev, ""},
			{"Last", c.Last, "f"},
			{"Next at last", c.Next, ""},
			{"Seek before all", func() ([]byte, []byte) { return c.Seek([]byte("a")) }, "b"},
			{"Seek exact", func() ([]byte, []byte) { return c.Seek([]byte("d")) }, "d"},
			{"Next after seek", c.Next, "f"},
			{"Seek between", func() ([]byte, []byte) { return c.Seek([]byte("c")) }, "d"},
			{"Prev after seek", c.Prev, "b"},
			{"Seek past end", func() ([]byte, []byte) { return c.Seek([]byte("g")) }, ""},
			{"Seek empty", func() ([]byte, []byte) { return c.Seek(nil) }, "b"},
			{"Last again", c.Last, "f"},
			{"Prev from last", c.Prev, "d"},
		} {
			k, v := m.move()
			switch {
			case m.want == "" && k != nil:
				t.Errorf("%s = %q, want nil", m.name, k)
			case m.want != "" && string(k) != m.want:
				t.Errorf("%s = %q, want %q", m.name, k, m.want)
			case m.want != "" && string(v) != "v"+m.want:
				t.Errorf("%s: value %q, want %q", m.name, v, "v"+m.want)
			}
		}
		return nil
	})
}

func seqKey(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

// testCursorPages: a bucket larger than any engine's page of prefetched
// pairs, walked both ways, turning round in the middle.
func testCursorPages(t *testing.T, e kv.Engine) {
	const n = 700
	var keys [][]byte
	for i := range n {
		keys = append(keys, seqKey(i*3))
	}
	fill(t, e, keys...)
	mustView(t, e, func(tx kv.Tx) error {
		b := tx.Bucket(bkt)
		if got := walk(b.Cursor(), false); !equalKeys(got, keys) {
			t.Errorf("forward walk: %d keys, want %d", len(got), n)
		}
		if got := walk(b.Cursor(), true); len(got) != n || !bytes.Equal(got[0], keys[n-1]) {
			t.Errorf("backward walk: %d keys, want %d", len(got), n)
		}
		c := b.Cursor()
		k, _ := c.Seek(seqKey(3*200 - 1))
		if !bytes.Equal(k, seqKey(600)) {
			t.Fatalf("Seek = %x, want %x", k, seqKey(600))
		}
		// Forward across a page boundary, then back the same way.
		for i := 201; i < 400; i++ {
			if k, _ := c.Next(); !bytes.Equal(k, seqKey(3*i)) {
				t.Fatalf("Next to %d = %x", i, k)
			}
		}
		for i := 398; i >= 100; i-- {
			if k, _ := c.Prev(); !bytes.Equal(k, seqKey(3*i)) {
				t.Fatalf("Prev to %d = %x", i, k)
			}
		}
		if k, _ := c.Next(); !bytes.Equal(k, seqKey(3*101)) {
			t.Fatalf("Next after turning = %x", k)
		}
		return nil
	})
}

// testCursorDelete: deleting through the cursor while walking (how store
// drops expired sessions and stale index entries). (Writing through the
// bucket while a cursor is out is undefined in bbolt, so store never does.)
func testCursorDelete(t *testing.T, e kv.Engine) {
	const n = 300
	var keys [][]byte
	for i := range n {
		keys = append(keys, seqKey(i))
	}
	fill(t, e, keys...)
	mustUpdate(t, e, func(tx kv.Tx) error {
		c := tx.Bucket(bkt).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if binary.BigEndian.Uint64(k)%2 == 1 {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	mustView(t, e, func(tx kv.Tx) error {
		got := walk(tx.Bucket(bkt).Cursor(), false)
		if len(got) != n/2 {
			t.Fatalf("after deleting the odd keys: %d keys, want %d", len(got), n/2)
		}
		for i, k := range got {
			if !bytes.Equal(k, seqKey(2*i)) {
				t.Fatalf("key %d = %x, want %x", i, k, seqKey(2*i))
			}
		}
		return nil
	})
}

// testWritesThenReads: a write transaction reads its own writes.
func testWritesThenReads(t *testing.T, e kv.Engine) {
	fill(t, e, []byte("a"), []byte("c"))
	mustUpdate(t, e, func(tx kv.Tx) error {
		b := tx.Bucket(bkt)
		if err := b.Put([]byte("b"), []byte("vb")); err != nil {
			return err
		}
		if err := b.Put([]byte("a"), []byte("changed")); err != nil {
			return err
		}
		if err := b.Delete([]byte("c")); err != nil {
			return err
		}
		if err := b.Delete([]byte("never there")); err != nil {
			t.Errorf("Delete of a missing key: %v", err)
		}
		if v := b.Get([]byte("a")); string(v) != "changed" {
			t.Errorf("Get(a) after Put = %q", v)
		}
		if v := b.Get([]byte("c")); v != nil {
			t.Errorf("Get(c) after Delete = %q", v)
		}
		if got := walk(b.Cursor(), false); !equalKeys(got, [][]byte{[]byte("a"), []byte("b")}) {
			t.Errorf("walk after writes: %s", showKeys(got))
		}
		if n := b.KeyN(); n != 2 {
			t.Errorf("KeyN after writes = %d, want 2", n)
		}
		return nil
	})
}

// testRollback: an Update whose fn fails leaves nothing behind, new buckets
// included, and returns fn's error.
func testRollback(t *testing.T, e kv.Engine) {
	fill(t, e, []byte("a"))
	boom := errors.New("refused")
	err := e.Update(func(tx kv.Tx) error {
		if err := tx.Bucket(bkt).Put([]byte("a"), []byte("changed")); err != nil {
			return err
		}
		if err := tx.Bucket(bkt).Put([]byte("b"), []byte("new")); err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("other")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	mustView(t, e, func(tx kv.Tx) error {
		b := tx.Bucket(bkt)
		if v := b.Get([]byte("a")); string(v) != "va" {
			t.Errorf("a after rollback = %q, want va", v)
		}
		if v := b.Get([]byte("b")); v != nil {
			t.Errorf("b after rollback = %q, want nil", v)
		}
		if tx.Bucket([]byte("other")) != nil {
			t.Errorf("bucket created in a rolled-back transaction exists")
		}
		return nil
	})
	// The engine's view of its buckets survives the rollback too.
	mustUpdate(t, e, func(tx kv.Tx) error {
		_, err := tx.CreateBucket([]byte("other"))
		return err
	})
}

// testSnapshot: a View sees one state, whatever an Update commits meanwhile.
func testSnapshot(t *testing.T, e kv.Engine) {
	// Grow the database first and free the room again: a bbolt writer
	// that must grow its memory map waits for open readers, and this
	// test's reader waits for the writer.
	mustUpdate(t, e, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("ballast"))
		if err != nil {
			return err
		}
		for i := range 256 {
			if err := b.Put(seqKey(i), make([]byte, 16<<10)); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdate(t, e, func(tx kv.Tx) error { return tx.DeleteBucket([]byte("ballast")) })
	fill(t, e, []byte("a"))
	fill(t, e, []byte("a"))
	mustView(t, e, func(tx kv.Tx) error {
		b := tx.Bucket(bkt)
		if v := b.Get([]byte("a")); string(v) != "va" {
			t.Fatalf("a = %q", v)
		}
		done := make(chan error)
		go func() {
			done <- e.Update(func(tx kv.Tx) error {
				if err := tx.Bucket(bkt).Put([]byte("a"), []byte("changed")); err != nil {
					return err
				}
				return tx.Bucket(bkt).Put([]byte("b"), []byte("new"))
			})
		}()
		if err := <-done; err != nil {
			t.Fatalf("concurrent update: %v", err)
		}
		if v := b.Get([]byte("a")); string(v) != "va" {
			t.Errorf("a in the view after a concurrent update = %q, want va", v)
		}
		if v := b.Get([]byte("b")); v != nil {
			t.Errorf("b in the view after a concurrent update = %q, want nil", v)
		}
		if n := b.KeyN(); n != 1 {
			t.Errorf("KeyN in the view = %d, want 1", n)
		}
		return nil
	})
	mustView(t, e, func(tx kv.Tx) error {
		if v := tx.Bucket(bkt).Get([]byte("a")); string(v) != "changed" {
			t.Errorf("a in a later view = %q, want changed", v)
		}
		return nil
	})
}

// testSingleWriter: read-increment-write from many goroutines loses
// nothing, because writers run one at a time.
func testSingleWriter(t *testing.T, e kv.Engine) {
	fill(t, e)
	const workers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := e.Update(func(tx kv.Tx) error {
					b := tx.Bucket(bkt)
					n := uint64(0)
					if v := b.Get([]byte("n")); v != nil {
						n = binary.BigEndian.Uint64(v)
					}
					return b.Put([]byte("n"), binary.BigEndian.AppendUint64(nil, n+1))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	mustView(t, e, func(tx kv.Tx) error {
		if n := binary.BigEndian.Uint64(tx.Bucket(bkt).Get([]byte("n"))); n != workers*each {
			t.Errorf("counter = %d after %d increments: lost updates", n, workers*each)
		}
		return nil
	})
}

// testKeyN counts keys, after puts, overwrites and deletes.
func testKeyN(t *testing.T, e kv.Engine) {
	fill(t, e, []byte("a"), []byte("b"), []byte("c"))
	mustUpdate(t, e, func(tx kv.Tx) error {
		b := tx.Bucket(bkt)
		b.Put([]byte("a"), []byte("again"))
		b.Delete([]byte("b"))
		return nil
	})
	mustView(t, e, func(tx kv.Tx) error {
		if n := tx.Bucket(bkt).KeyN(); n != 2 {
			t.Errorf("KeyN = %d, want 2", n)
		}
		return nil
	})
}

// testBuckets: creating, re-creating and deleting buckets; buckets are
// separate key spaces.
func testBuckets(t *testing.T, e kv.Engine) {
	fill(t, e, []byte("a"))
	mustUpdate(t, e, func(tx kv.Tx) error {
		if _, err := tx.CreateBucket(bkt); err == nil {
			t.Errorf("CreateBucket of an existing bucket succeeded")
		}
		if _, err := tx.CreateBucket(nil); err == nil {
			t.Errorf("CreateBucket with no name succeeded")
		}
		b, err := tx.CreateBucketIfNotExists(bkt)
		if err != nil || b == nil || string(b.Get([]byte("a"))) != "va" {
			t.Errorf("CreateBucketIfNotExists of an existing bucket: %v, %v", b, err)
		}
		o, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		if o.Get([]byte("a")) != nil {
			t.Errorf("a new bucket sees another bucket's key")
		}
		if err := o.Put([]byte("x"), []byte("1")); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("missing")); err == nil {
			t.Errorf("DeleteBucket of a missing bucket succeeded")
		}
		return nil
	})
	mustUpdate(t, e, func(tx kv.Tx) error {
		if err := tx.DeleteBucket([]byte("other")); err != nil {
			return err
		}
		if tx.Bucket([]byte("other")) != nil {
			t.Errorf("Bucket after DeleteBucket in the same tx is not nil")
		}
		return nil
	})
	mustUpdate(t, e, func(tx kv.Tx) error {
		if tx.Bucket([]byte("other")) != nil {
			t.Errorf("Bucket after DeleteBucket is not nil")
		}
		o, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		if n := o.KeyN(); n != 0 {
			t.Errorf("a re-created bucket has %d keys, want 0", n)
		}
		return nil
	})
	mustView(t, e, func(tx kv.Tx) error {
		if tx.Bucket([]byte("other")) == nil || tx.Bucket(bkt) == nil {
			t.Errorf("buckets missing after re-creation")
		}
		return nil
	})
}

// testReadOnly: a View's transaction says it is not writable and refuses
// writes; an Update's is writable; Batch writes like Update.
func testReadOnly(t *testing.T, e kv.Engine) {
	fill(t, e, []byte("a"))
	mustView(t, e, func(tx kv.Tx) error {
		if tx.Writable() {
			t.Errorf("View tx is writable")
		}
		if err := tx.Bucket(bkt).Put([]byte("b"), []byte("x")); err == nil {
			t.Errorf("Put in a View succeeded")
		}
		if _, err := tx.CreateBucket([]byte("new")); err == nil {
			t.Errorf("CreateBucket in a View succeeded")
		}
		return nil
	})
	if err := e.Batch(func(tx kv.Tx) error {
		if !tx.Writable() {
			t.Errorf("Batch tx is not writable")
		}
		return tx.Bucket(bkt).Put([]byte("c"), []byte("vc"))
	}); err != nil {
		t.Fatalf("batch: %v", err)
	}
	mustView(t, e, func(tx kv.Tx) error {
		if v := tx.Bucket(bkt).Get([]byte("c")); string(v) != "vc" {
			t.Errorf("c after Batch = %q", v)
		}
		return nil
	})
}

// testViewContext: a ViewContext whose context is done already runs
// nothing and returns the context's error; one cancelled while it walks
// (a stopping server's download) is ended by the engine within
// kv.CheckEvery reads — by a panic carrying the context's error, as a read
// that cannot be answered ends — whether it walks a cursor or Gets keys;
// with a live context it reads everything as View does.
func testViewContext(t *testing.T, e kv.Engine) {
	n := 3 * kv.CheckEvery
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = seqKey(i)
	}
	fill(t, e, keys...)

	done, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := e.ViewContext(done, func(kv.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("ViewContext with a cancelled context: %v, fn ran %v; want context.Canceled and nothing run", err, ran)
	}

	seen := 0
	if err := e.ViewContext(context.Background(), func(tx kv.Tx) error {
		seen = len(walk(tx.Bucket(bkt).Cursor(), false))
		return nil
	}); err != nil || seen != n {
		t.Errorf("ViewContext with a live context: %d keys, %v; want %d", seen, err, n)
	}

	for _, how := range []string{"cursor", "get"} {
		ctx, cancel := context.WithCancel(context.Background())
		read := 0
		p := func() (p any) {
			defer func() { p = recover() }()
			err := e.ViewContext(ctx, func(tx kv.Tx) error {
				b := tx.Bucket(bkt)
				if how == "cursor" {
					c := b.Cursor()
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
						if read++; read == 10 {
							cancel()
						}
					}
					return nil
				}
				for _, k := range keys {
					if b.Get(k) == nil {
						return fmt.Errorf("key %x missing", k)
					}
					if read++; read == 10 {
						cancel()
					}
				}
				return nil
			})
			return err
		}()
		err, _ := p.(error)
		if !errors.Is(err, context.Canceled) || read > 10+kv.CheckEvery+1 {
			t.Errorf("%s walk cancelled after 10 of %d keys: %d read, ended with %v; want at most %d and context.Canceled", how, n, read, p, 10+kv.CheckEvery+1)
		}
		cancel()
	}
}
