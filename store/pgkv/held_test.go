package pgkv_test

import (
	"bytes"
	"fmt"
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
