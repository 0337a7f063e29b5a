package pgkv_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
	"github.com/jackc/pgx/v5/pgxpool"
)

// turnCounter counts round trips on the connections it dialled: a write
// to the server after reading from it (or the first write) starts one.
type turnCounter struct {
	mu    sync.Mutex
	turns int
}

func (c *turnCounter) hook(cfg *pgxpool.Config) {
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countedConn{Conn: nc, c: c}, nil
	}
}

func (c *turnCounter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.turns
}

type countedConn struct {
	net.Conn
	c    *turnCounter
	read bool
	sent bool
}

func (cc *countedConn) Write(p []byte) (int, error) {
	cc.c.mu.Lock()
	if !cc.sent || cc.read {
		cc.c.turns++
	}
	cc.sent, cc.read = true, false
	cc.c.mu.Unlock()
	return cc.Conn.Write(p)
}

func (cc *countedConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	if n > 0 {
		cc.c.mu.Lock()
		cc.read = true
		cc.c.mu.Unlock()
	}
	return n, err
}

// TestReadRoundTrips counts what a command's reads cost in round trips
// with the server, as a process of its own does them (a new engine): a
// read transaction after the first is one round trip for the COMMIT of the
// one before (held, Engine.hold), BEGIN and its first read together; a
// Seek to a key Get read, and a Get of a key a cursor page holds, are
// answered without the server.
func TestReadRoundTrips(t *testing.T) {
	e, u := create(t)
	if err := e.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		for i := range 10 {
			if err := b.Put(fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var c turnCounter
	defer pgkv.SetConfigHook(c.hook)()
	before := c.n()
	e2, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	open := c.n() - before
	// Connecting is the startup message and, with a password, the
	// authentication's exchanges; then the schema version, with the
	// bucket registry, unprepared.
	t.Logf("Open: %d round trips", open)

	// The first transaction has the registry Open read: BEGIN goes with
	// its Get; its COMMIT goes with the next BEGIN.
	before = c.n()
	view := func(fn func(tx kv.Tx)) {
		t.Helper()
		if err := e2.View(func(tx kv.Tx) error { fn(tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	view(func(tx kv.Tx) {
		if v := tx.Bucket([]byte("things")).Get([]byte("k03")); string(v) != "v3" {
			t.Errorf("Get k03 = %q", v)
		}
	})
	if n := c.n() - before; n != 1 {
		t.Errorf("the first read transaction took %d round trips, want 1 (BEGIN with the Get)", n)
	}
	before = c.n()
	view(func(tx kv.Tx) {
		b := tx.Bucket([]byte("things"))
		if v := b.Get([]byte("k04")); string(v) != "v4" {
			t.Errorf("Get k04 = %q", v)
		}
		// The Seek that verifies a record after reading it.
		if k, v := b.Cursor().Seek([]byte("k04")); string(k) != "k04" || string(v) != "v4" {
			t.Errorf("Seek k04 = %q %q", k, v)
		}
	})
	if n := c.n() - before; n != 1 {
		t.Errorf("a read transaction with a Get and a Seek to its key took %d round trips, want 1 (the last one's COMMIT, BEGIN and the Get)", n)
	}
	before = c.n()
	view(func(tx kv.Tx) {
		b := tx.Bucket([]byte("things"))
		cur := b.Cursor()
		n := 0
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			n++
		}
		if n != 10 {
			t.Errorf("the cursor walked %d pairs, want 10", n)
		}
		// Keys the page holds, and one it shows absent.
		if v := b.Get([]byte("k07")); string(v) != "v7" {
			t.Errorf("Get k07 = %q", v)
		}
		if v := b.Get([]byte("k07x")); v != nil {
			t.Errorf("Get k07x = %q, want nil", v)
		}
		if v := b.Get([]byte("k99")); v != nil {
			t.Errorf("Get k99 = %q, want nil", v)
		}
	})
	if n := c.n() - before; n != 1 {
		t.Errorf("a walk and Gets inside it took %d round trips, want 1 (the last one's COMMIT, BEGIN and the first page)", n)
	}
}

// TestReadSeesABucketMadeElsewhere: a read transaction answers Tx.Bucket
// from the registry the engine cached before it sent anything; when
// another process created (or deleted) a bucket since, the read runs again
// with the registry read anew, whether or not it sent a statement.
func TestReadSeesABucketMadeElsewhere(t *testing.T) {
	e, u := create(t)
	e2, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	// e2 caches the registry.
	if err := e2.View(func(tx kv.Tx) error { tx.Bucket([]byte("meta")); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"fresh1", "fresh2"} {
		if err := e.Update(func(tx kv.Tx) error {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := e2.View(func(tx kv.Tx) error {
			b := tx.Bucket([]byte(name))
			if b == nil {
				if i == 0 {
					return fmt.Errorf("no bucket %s", name) // sends nothing
				}
				return nil
			}
			got = b.Get([]byte("k"))
			return nil
		}); err != nil {
			t.Fatalf("a read after another engine made %s: %v", name, err)
		}
		if string(got) != "v" {
			t.Fatalf("%s/k = %q through an engine that cached the registry before it was made, want v", name, got)
		}
	}
}

// TestPrefetch: the keys Prefetch reads in one statement are answered by
// the Gets that follow without the server, present or absent, and a
// transaction's own buffered writes still win.
func TestPrefetch(t *testing.T) {
	e, u := create(t)
	key := func(i int) []byte { k := make([]byte, 16); k[0], k[15] = 1, byte(i); return k }
	val := func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) }
	if err := e.Update(func(tx kv.Tx) error {
		for _, name := range []string{"things", "settings"} { // the generic table, and one of its own
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for i := range 10 {
				if err := b.Put(key(i*3), []byte(val(i*3))); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e2, c := countedEngine(t, u)
	for _, name := range []string{"things", "settings"} {
		keys := [][]byte{key(3), key(4), key(27), key(12), key(3)}
		want := map[int]string{3: val(3), 4: "", 27: val(27), 12: val(12)}
		// In a read transaction, as its first statement (with BEGIN).
		before := c.n()
		if err := e2.View(func(tx kv.Tx) error {
			b := tx.Bucket([]byte(name))
			kv.Prefetch(b, keys...)
			for _, k := range keys {
				w := want[int(k[15])]
				if v := b.Get(k); string(v) != w || (v == nil) != (w == "") {
					t.Errorf("%s: Get %x after Prefetch = %q, want %q", name, k, v, w)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n := c.n() - before; n != 1 {
			t.Errorf("%s: a Prefetch and Gets of its keys took %d round trips, want 1 (the last one's COMMIT, BEGIN and the Prefetch)", name, n)
		}
		// In a write transaction, over its own writes.
		if err := e2.Update(func(tx kv.Tx) error {
			b := tx.Bucket([]byte(name))
			if err := b.Put(key(4), []byte(`{"n":"new"}`)); err != nil {
				return err
			}
			if err := b.Delete(key(12)); err != nil {
				return err
			}
			kv.Prefetch(b, keys...)
			if v := b.Get(key(4)); string(v) != `{"n":"new"}` {
				t.Errorf("%s: Get 4 = %q, want this transaction's write", name, v)
			}
			if v := b.Get(key(12)); v != nil {
				t.Errorf("%s: Get 12 = %q, want nil (deleted in this transaction)", name, v)
			}
			if v := b.Get(key(27)); string(v) != val(27) {
				t.Errorf("%s: Get 27 = %q", name, v)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLongWalkFetchesLongPages: a cursor that keeps going up in a table of
// its own fetches walkPage pairs at a time once it has fetched two pages of
// pageSize, so a walk over a whole table (audit verify) is one round trip
// per 1,024 pairs; every pair comes once and in order, and the pages it
// fetched still answer a Seek and a Prev in the same transaction without
// the server. The generic table keeps pages of pageSize (tx.go, walkPage).
func TestLongWalkFetchesLongPages(t *testing.T) {
	e, u := create(t)
	const n = 3000
	key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i+1)) } // a trail key's 8 bytes
	buckets := []string{"audit", "things"}
	if err := e.Update(func(tx kv.Tx) error {
		for _, name := range buckets {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range n {
				if err := b.Put(key(i), fmt.Appendf(nil, "v%d", i)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e2, c := countedEngine(t, u)
	// audit: pages of 128, 128, then 1,024 × 3 (the last one short: the
	// end); the last transaction's COMMIT and BEGIN go with the first.
	// things: 24 pages of 128 and a page for the Seek (of the walk's, only
	// the last 16 are kept).
	for name, want := range map[string]int{"audit": 5, "things": 25} {
		before := c.n()
		err := e2.View(func(tx kv.Tx) error {
			b := tx.Bucket([]byte(name))
			i := 0
			cur := b.Cursor()
			for k, v := cur.First(); k != nil; k, v = cur.Next() {
				if !bytes.Equal(k, key(i)) || string(v) != fmt.Sprintf("v%d", i) {
					t.Fatalf("%s: pair %d of the walk: %x %q, want %x", name, i, k, v, key(i))
				}
				i++
			}
			if i != n {
				t.Errorf("%s: the walk met %d pairs, want %d", name, i, n)
			}
			// In the second long page (pairs 1,280–2,303), and the pair before.
			c2 := b.Cursor()
			if k, _ := c2.Seek(key(1500)); !bytes.Equal(k, key(1500)) {
				t.Errorf("%s: Seek %x = %x", name, key(1500), k)
			}
			if k, _ := c2.Prev(); !bytes.Equal(k, key(1499)) {
				t.Errorf("%s: Prev from %x = %x", name, key(1500), k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.n() - before; got != want {
			t.Errorf("%s: a walk over %d pairs, a Seek and a Prev took %d round trips, want %d", name, n, got, want)
		}
	}
}

// countedEngine opens the database at u as a new process would, its round
// trips counted, and runs its first transaction (which reads the bucket
// registry), so that what a test counts after is what a command's later
// transactions cost.
func countedEngine(t *testing.T, u string) (*pgkv.Engine, *turnCounter) {
	t.Helper()
	c := &turnCounter{}
	t.Cleanup(pgkv.SetConfigHook(c.hook))
	e, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.View(func(tx kv.Tx) error { tx.Bucket([]byte("meta")); return nil }); err != nil {
		t.Fatal(err)
	}
	return e, c
}

// TestEndPageKeepsEarlierSends: a Seek to a key a send of this
// transaction wrote several sends ago, near the table's end, is answered
// from the page at the end that each send carries (written, carry) — not
// by the server, where on an import it waited for the send under way (the
// audit tree's left siblings, issue 14) — and so is one to a key the page
// held before the sends.
func TestEndPageKeepsEarlierSends(t *testing.T) {
	defer pgkv.SetFlushAt(10)()
	e, u := create(t)
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		for i := range 100 {
			if err := b.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	var c turnCounter
	defer pgkv.SetConfigHook(c.hook)()
	e2, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	mustUpdateKV(t, e2, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("things"))
		if k, _ := b.Cursor().Last(); string(k) != "k099" {
			t.Fatalf("Last = %q, want k099", k)
		}
		// Six sends of 11 keys each, above the table's.
		for i := 100; i < 166; i++ {
			if err := b.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "w%d", i)); err != nil {
				return err
			}
		}
		b.KeyN() // sends the rest and waits: nothing under way below
		for _, want := range []string{"k100", "k110", "k098"} {
			before := c.n()
			k, v := b.Cursor().Seek([]byte(want))
			if string(k) != want || len(v) == 0 {
				t.Errorf("Seek %s = %q %q", want, k, v)
			}
			if n := c.n() - before; n != 0 {
				t.Errorf("Seek %s took %d round trips, want 0: the page at the end lost it", want, n)
			}
		}
		return nil
	})
}
