package boltkv

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/celltrack/celltrack/store/kv"
	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T) *Engine {
	t.Helper()
	e, err := Open(filepath.Join(t.TempDir(), "kv.db"), &Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestMissingBucketIsNil: store tests `tx.Bucket(name) == nil`; an adapter
// around a nil *bolt.Bucket would be a non-nil interface and crash on use.
func TestMissingBucketIsNil(t *testing.T) {
	e := open(t)
	err := e.View(func(tx kv.Tx) error {
		if b := tx.Bucket([]byte("none")); b != nil {
			t.Errorf("missing bucket: %#v; want a nil kv.Bucket", b)
		}
		if tx.Writable() {
			t.Error("a View transaction says it is writable")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBucketsAndCursors: the adapters pass bbolt's answers through —
// ordered keys, nil past either end, KeyN, cursor deletes, and a write
// rolled back on error.
func TestBucketsAndCursors(t *testing.T) {
	e := open(t)
	err := e.Update(func(tx kv.Tx) error {
		if !tx.Writable() {
			t.Error("an Update transaction says it is not writable")
		}
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		b.SetFillPercent(0.95)
		for _, k := range []string{"c", "a", "b", "d"} {
			if err := b.Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket([]byte("b")); err == nil {
			t.Error("CreateBucket of an existing bucket: no error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := e.Update(func(tx kv.Tx) error { tx.Bucket([]byte("b")).Put([]byte("z"), nil); return boom }); err != boom {
		t.Fatalf("Update returned %v; want its function's error", err)
	}
	err = e.Batch(func(tx kv.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		if k, _ := c.Seek([]byte("d")); string(k) != "d" {
			t.Errorf("Seek(d) = %q", k)
		}
		return c.Delete()
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if n := b.KeyN(); n != 3 {
			t.Errorf("KeyN = %d; want 3 (a, b, c: d deleted, z rolled back)", n)
		}
		var keys []string
		b.ForEach(func(k, v []byte) error { keys = append(keys, string(k)); return nil })
		if got := string(bytes.Join(toBytes(keys), nil)); got != "abc" {
			t.Errorf("ForEach order %q; want abc", got)
		}
		c := b.Cursor()
		if k, v := c.Last(); string(k) != "c" || string(v) != "vc" {
			t.Errorf("Last = %q %q", k, v)
		}
		if k, _ := c.Prev(); string(k) != "b" {
			t.Errorf("Prev = %q", k)
		}
		if k, _ := c.First(); string(k) != "a" {
			t.Errorf("First = %q", k)
		}
		c.Next()
		c.Next()
		if k, _ := c.Next(); k != nil {
			t.Errorf("Next past the end = %q; want nil", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Update(func(tx kv.Tx) error { return tx.DeleteBucket([]byte("b")) }); err != nil {
		t.Fatal(err)
	}
}

func toBytes(s []string) [][]byte {
	var out [][]byte
	for _, x := range s {
		out = append(out, []byte(x))
	}
	return out
}

// TestAdaptersDoNotAllocate: a bucket handle and its Get through the seam
// cost what they cost on bbolt directly (the adapters are pointer-shaped),
// so the store's hot paths — the bedside check, a write — do not pay for
// the interface.
func TestAdaptersDoNotAllocate(t *testing.T) {
	e := open(t)
	e.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	e.db.View(func(btx *bolt.Tx) error {
		// Names and keys made beforehand, as store's bucket names are: a
		// []byte("…") conversion passed to an interface method escapes
		// (the compiler cannot see the callee), which is the caller's
		// allocation, not the adapter's.
		name, key := []byte("b"), []byte("k")
		raw := testing.AllocsPerRun(100, func() { btx.Bucket(name).Get(key) })
		tx := kv.Tx(Tx{tx: btx})
		seam := testing.AllocsPerRun(100, func() { tx.Bucket(name).Get(key) })
		if seam > raw {
			t.Errorf("Bucket+Get through the seam: %.0f allocations; bbolt's own: %.0f", seam, raw)
		}
		// A read-only transaction of the engine opens each bucket once.
		cached := kv.Tx(Tx{btx, &opened{}})
		cached.Bucket(name)
		if again := testing.AllocsPerRun(100, func() { cached.Bucket(name).Get(key) }); again != 0 {
			t.Errorf("Bucket+Get again in a read-only transaction: %.0f allocations; bbolt's own: %.0f (the bucket is opened again, or Get makes a cursor)", again, raw)
		}
		return nil
	})
}

// TestReadOnlyGetIsBoltsGet: a read-only transaction's Get, which seeks
// with a cursor its bucket keeps (readBucket), answers as bolt.Bucket.Get —
// a key there, one between others, one past the end, a nested bucket's
// name, an empty value — also for goroutines sharing the transaction.
func TestReadOnlyGetIsBoltsGet(t *testing.T) {
	e := open(t)
	err := e.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"b", "d", "f"} {
			if err := b.Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		if err := b.Put([]byte("e"), []byte{}); err != nil {
			return err
		}
		_, err = e2b(tx).Bucket([]byte("b")).CreateBucket([]byte("nested"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "nested", "z"}
	err = e.db.View(func(btx *bolt.Tx) error {
		raw := btx.Bucket([]byte("b"))
		tx := kv.Tx(Tx{btx, &opened{}})
		check := func(t *testing.T) {
			for _, k := range keys {
				want, got := raw.Get([]byte(k)), tx.Bucket([]byte("b")).Get([]byte(k))
				if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Errorf("Get(%q) = %q (nil %v); bbolt's: %q (nil %v)", k, got, got == nil, want, want == nil)
				}
			}
		}
		check(t)
		done := make(chan bool)
		for range 4 {
			go func() {
				for range 50 {
					check(t)
				}
				done <- true
			}()
		}
		for range 4 {
			<-done
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// e2b is the bbolt transaction of a write transaction of this engine.
func e2b(tx kv.Tx) *bolt.Tx { return tx.(Tx).tx }

// TestFileOnlyCapabilities: what store reaches outside the seam — the page
// check and the copy a backup writes — and the lock timeout's error.
func TestFileOnlyCapabilities(t *testing.T) {
	e := open(t)
	var buf bytes.Buffer
	err := e.View(func(tx kv.Tx) error {
		if errs := tx.(interface{ Check() []error }).Check(); len(errs) > 0 {
			t.Errorf("page check of a new file: %v", errs)
		}
		_, err := tx.(Tx).WriteTo(&buf)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len() == 0 {
		t.Error("WriteTo wrote nothing")
	}
	if e.Describe() != e.path {
		t.Errorf("Describe = %q; want the path %q", e.Describe(), e.path)
	}
	if _, err := Open(e.path, &Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrTimeout) {
		t.Errorf("second open of a locked file: %v; want ErrTimeout", err)
	}
}
