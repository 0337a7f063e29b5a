package main

import (
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/celltrack/celltrack/store"
)

// Review 16 C: the hash an unknown user name is checked against is made
// when the server starts (webApp, which serve calls before it listens),
// not by the first unknown name — which would then cost two argon2id runs
// where a known name's wrong password costs one, and tell them apart by
// time. It is checked in a fresh process (this test run again by itself),
// where nothing else has made the hash yet; no time is measured.
func TestServerStartMakesUnknownNameHash(t *testing.T) {
	if os.Getenv("CELLTRACK_TEST_UNKNOWN_NAME_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestServerStartMakesUnknownNameHash$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "CELLTRACK_TEST_UNKNOWN_NAME_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("in a fresh process: %v\n%s", err, out)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "ct.db")
	now := testClock()
	if err := runFixture(path, filepath.Join(t.TempDir(), "homes"), "lab", now); err != nil {
		t.Fatal(err)
	}
	if store.UnknownNamesPrepared() {
		t.Fatal("the unknown name's hash was made before the server started: this test would prove nothing")
	}
	db, err := store.Open(path, store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	webApp(db, false, log.New(io.Discard, "", 0))
	if !store.UnknownNamesPrepared() {
		t.Error("the server started without the hash an unknown name is checked against: its first unknown name would cost two argon2id runs, a known name's wrong password one")
	}
}
