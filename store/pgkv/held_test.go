package pgkv_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
)

// TestHeldReadEnds: a read transaction's COMMIT, held for the next
// transaction (Engine.hold), is sent before that one begins, so it sees
// what was written since; when no transaction comes, a timer ends it and
// the connection goes back to the pool; an engine closed with one held
// closes.
func TestHeldReadEnds(t *testing.T) {
	defer pgkv.SetHeldFor(100 * time.Millisecond)()
	e, u := create(t)
	e2, _ := countedEngine(t, u)
	read := func() []byte {
		var v []byte
		if err := e2.View(func(tx kv.Tx) error {
			if b := tx.Bucket([]byte("things")); b != nil {
				v = bytes.Clone(b.Get([]byte("k")))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range 3 {
		want := fmt.Sprintf("v%d", i)
		if err := e.Update(func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("things"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte(want))
		}); err != nil {
			t.Fatal(err)
		}
		if v := read(); string(v) != want {
			t.Fatalf("a read after another engine wrote %s saw %q", want, v)
		}
	}
	if n := e2.Pool().Stat().AcquiredConns(); n != 1 {
		t.Errorf("right after a read, %d connections acquired, want 1 (held)", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e2.Pool().Stat().AcquiredConns() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the held read transaction did not end within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The connection went back to the pool idle, not dropped in a
	// transaction: the next read takes it.
	if n := e2.Pool().Stat().IdleConns(); n != 1 {
		t.Errorf("%d idle connections after the held read ended, want 1", n)
	}
	if v := read(); string(v) != "v2" {
		t.Errorf("a read after the held one ended saw %q", v)
	}
	e3, err := pgkv.Open(u, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e3.View(func(tx kv.Tx) error { tx.Bucket([]byte("things")).Get([]byte("k")); return nil }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e3.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close with a held read transaction did not return within 10 s")
	}
}

// TestIdleReadNoPing: a read on a connection idle in the pool for over a
// second takes as many round trips as one on a connection just given back
// — pgxpool pings such a connection first by default, a round trip of its
// own before every request of a server used at people's pace — and when
// the server closed that connection meanwhile, the read is run again on
// another and answers; a write still has its connection pinged.
func TestIdleReadNoPing(t *testing.T) {
	defer pgkv.SetHeldFor(10 * time.Millisecond)()
	e, u := create(t)
	if err := e.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	e2, c := countedEngine(t, u)
	released := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for e2.Pool().Stat().AcquiredConns() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the held read transaction did not end within 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	read := func() int {
		t.Helper()
		released()
		n := c.n()
		var v []byte
		if err := e2.View(func(tx kv.Tx) error {
			v = bytes.Clone(tx.Bucket([]byte("things")).Get([]byte("k")))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if string(v) != "v" {
			t.Fatalf("the read saw %q, want v", v)
		}
		return c.n() - n
	}
	read() // the bucket registry read
	fresh := read()
	released()
	time.Sleep(1200 * time.Millisecond) // idle for over a second: pgxpool's ping
	if idle := read(); idle != fresh {
		t.Errorf("a read on a connection idle for over a second took %d round trips, one on a connection just given back %d", idle, fresh)
	}
	// The server ends the idle connection (a restart would): the read's
	// first round trip finds it closed, and the read is run again.
	released()
	if err := exec(t, e, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	read()
	// Several idle connections, all ended by the server, and a read with
	// one retry: its first attempt meets a dead connection, its second is
	// pinged, so that the pool drops the dead ones instead of handing out
	// the next.
	e3, err := pgkv.Open(u, pgkv.Options{Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			<-start
			if err := e3.View(func(tx kv.Tx) error {
				tx.Bucket([]byte("things")).Get([]byte("k"))
				time.Sleep(50 * time.Millisecond) // the three at once: three connections
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	for deadline := time.Now().Add(10 * time.Second); e3.Pool().Stat().AcquiredConns() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held read transaction did not end within 10 s")
		}
	}
	if n := e3.Pool().Stat().IdleConns(); n < 2 {
		t.Fatalf("%d idle connections, want at least 2 for this test", n)
	}
	if err := exec(t, e, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	func() {
		defer func() { // a read's failure is raised as a *kv.Error panic
			if r := recover(); r != nil {
				t.Errorf("a read with one retry after the server ended every idle connection: %v", r)
			}
		}()
		if err := e3.View(func(tx kv.Tx) error { tx.Bucket([]byte("things")).Get([]byte("k")); return nil }); err != nil {
			t.Errorf("a read with one retry after the server ended every idle connection: %v", err)
		}
	}()
	// A write's connection is pinged as before: one round trip more
	// after the pause than right after another write.
	write := func() int {
		t.Helper()
		released()
		n := c.n()
		if err := e2.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("things")).Put([]byte("w"), []byte("w")) }); err != nil {
			t.Fatal(err)
		}
		return c.n() - n
	}
	// Right after: the fewest of three in a row (the pool may hand out
	// another of its connections, idle for longer, to one of them).
	w0 := min(write(), write(), write())
	time.Sleep(1200 * time.Millisecond)
	if w1 := write(); w1 != w0+1 {
		t.Errorf("a write on a connection idle for over a second took %d round trips, right after another %d: want one more (the ping)", w1, w0)
	}
}
