package pgkv_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
)

// fillEnds makes buckets "things" (200 pairs, more than a cursor's page),
// "meta" (3 pairs) and "empty" (none).
func fillEnds(t *testing.T, e *pgkv.Engine) {
	t.Helper()
	if err := e.Update(func(tx kv.Tx) error {
		for name, n := range map[string]int{"things": 200, "meta": 3, "empty": 0} {
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for i := range n {
				if err := b.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "%s%d", name, i)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// walkEnds is what cursors read from the ends of the three buckets: up to
// steps moves from each.
func walkEnds(tx kv.Tx, steps int) []string {
	var out []string
	for _, name := range []string{"things", "meta", "empty"} {
		c := tx.Bucket([]byte(name)).Cursor()
		k, v := c.Last()
		for i := 0; i < steps && k != nil; i++ {
			out = append(out, fmt.Sprintf("%s last-%d %s=%s", name, i, k, v))
			k, v = c.Prev()
		}
		out = append(out, fmt.Sprintf("%s prev ends at %q", name, k))
		c = tx.Bucket([]byte(name)).Cursor()
		k, v = c.First()
		for i := 0; i < steps && k != nil; i++ {
			out = append(out, fmt.Sprintf("%s first+%d %s=%s", name, i, k, v))
			k, v = c.Next()
		}
		out = append(out, fmt.Sprintf("%s next ends at %q", name, k))
	}
	return out
}

var allEnds = []kv.End{
	{Bucket: []byte("things"), Last: true}, {Bucket: []byte("things")}, {Bucket: []byte("meta"), Last: true},
	{Bucket: []byte("meta")}, {Bucket: []byte("empty"), Last: true}, {Bucket: []byte("empty")},
	{Bucket: []byte("things"), Last: true}, {Bucket: []byte("nothing"), Last: true},
}

// TestPrefetchEnds: the pages a cursor's First and Last fetch, read for
// several buckets in one round trip (kv.Reads.Ends), answer the moves
// within them without the server, and every move — beyond them too —
// as without; a bucket that does not exist is left out, an empty one
// answers that it is; in a write transaction its own buffered writes
// still win.
func TestPrefetchEnds(t *testing.T) {
	e, u := create(t)
	fillEnds(t, e)
	e2, c := countedEngine(t, u)
	var want, got []string
	if err := e2.View(func(tx kv.Tx) error { want = walkEnds(tx, 250); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e2.View(func(tx kv.Tx) error {
		kv.PrefetchReads(tx, kv.Reads{Ends: allEnds})
		got = walkEnds(tx, 250)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	equalLines(t, "walks from prefetched ends", got, want)
	before := c.n()
	if err := e2.View(func(tx kv.Tx) error {
		kv.PrefetchReads(tx, kv.Reads{Ends: allEnds})
		got = walkEnds(tx, 100)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := c.n() - before; n != 1 {
		t.Errorf("PrefetchReads of %d ends of three buckets and 100 moves from each took %d round trips, want 1 (the last one's COMMIT, BEGIN and the prefetch)", len(allEnds), n)
	}
	if err := e2.Update(func(tx kv.Tx) error {
		things := tx.Bucket([]byte("things"))
		things.Put([]byte("k9999"), []byte("new"))
		things.Delete([]byte("k0000"))
		kv.PrefetchReads(tx, kv.Reads{Ends: allEnds})
		if k, v := things.Cursor().Last(); string(k) != "k9999" || string(v) != "new" {
			t.Errorf("Last after a buffered Put: %s=%s, want k9999=new", k, v)
		}
		if k, _ := things.Cursor().First(); string(k) != "k0001" {
			t.Errorf("First after a buffered Delete of the first key: %s, want k0001", k)
		}
		return errors.New("roll back")
	}); err == nil {
		t.Fatal("the write was not rolled back")
	}
}

// TestUpdateReading: a write told what it reads first (UpdateReading)
// costs one round trip less than one that reads the same in its function
// (BEGIN and the lock go with the reads), reads and writes the same, and
// its function runs only with the lock held: busy while another writer
// holds the database, it never runs. A bucket another process made since
// the registry was cached is seen.
func TestUpdateReading(t *testing.T) {
	e, u := create(t)
	fillEnds(t, e)
	e2, c := countedEngine(t, u)
	first := kv.Reads{Keys: []kv.BucketKey{{Bucket: []byte("meta"), Key: []byte("k0001")}, {Bucket: []byte("things"), Key: []byte("k0100")}},
		Ends: []kv.End{{Bucket: []byte("things"), Last: true}}}
	write := func(i int, out *[]string) func(tx kv.Tx) error {
		return func(tx kv.Tx) error {
			kv.PrefetchReads(tx, first)
			*out = append(*out, string(tx.Bucket([]byte("meta")).Get([]byte("k0001"))), string(tx.Bucket([]byte("things")).Get([]byte("k0100"))))
			k, _ := tx.Bucket([]byte("things")).Cursor().Last()
			*out = append(*out, string(k))
			return tx.Bucket([]byte("things")).Put(fmt.Appendf(nil, "z%d", i), []byte("x"))
		}
	}
	var plain, told []string
	before := c.n()
	if err := e2.Update(write(1, &plain)); err != nil {
		t.Fatal(err)
	}
	nPlain := c.n() - before
	before = c.n()
	if err := e2.UpdateReading(first, write(2, &told)); err != nil {
		t.Fatal(err)
	}
	nTold := c.n() - before
	if nTold != nPlain-1 {
		t.Errorf("a write told its first reads took %d round trips, one reading them itself %d: want one less", nTold, nPlain)
	}
	equalLines(t, "reads", told, []string{"meta1", "things100", "z1"})
	equalLines(t, "reads", plain, []string{"meta1", "things100", "k0199"})

	// Another process makes a bucket: the cached registry is out of date.
	if err := e.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("later")); return err }); err != nil {
		t.Fatal(err)
	}
	if err := e2.UpdateReading(first, func(tx kv.Tx) error {
		if tx.Bucket([]byte("later")) == nil {
			t.Error("a bucket made by another process since the registry was cached is not seen")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	b, err := pgkv.Open(u, pgkv.Options{LockTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.View(func(tx kv.Tx) error { tx.Bucket([]byte("meta")); return nil }); err != nil {
		t.Fatal(err) // the registry cached: UpdateReading sends BEGIN with the reads
	}
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- e.Update(func(tx kv.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	ran := false
	err = b.UpdateReading(first, func(tx kv.Tx) error { ran = true; return nil })
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ke *kv.Error
	if !errors.As(err, &ke) || !ke.Busy {
		t.Errorf("UpdateReading while another writer holds the database: %v, want a busy *kv.Error", err)
	}
	if ran {
		t.Error("fn ran without the writer lock")
	}
}
