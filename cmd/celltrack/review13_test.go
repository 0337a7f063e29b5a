package main

import (
	"crypto/rand"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/store"
	"golang.org/x/mod/sumdb/note"
)

// review13 finding A: a server on PostgreSQL signs a checkpoint of a trail
// from which its own acknowledged write was removed. The server writes a
// witness checkpoint at size N; it then commits a write (entry N+1) and
// answers "done"; the DBA puts back a dump taken at size N (pg_restore
// --clean: every table as it was) while the server runs; the next write
// makes the trail N+1 entries again, another history. At the next tick the
// server's checkpointer verifies the trail (it verifies by itself), finds it
// extends every checkpoint in its folder (they stop at N) and signs it: the
// witness now attests, under the facility's key, a history without the
// write the same server acknowledged a minute before — an infusion, say, so
// the bag is GO again. Nothing anywhere will ever show the loss: every later
// checkpoint extends this one. The server held the evidence (the tree head
// of its own last commit) and did not use it.
// Expected: sign refuses (no file), naming the entry the server wrote that
// the trail no longer holds.
func TestReview13ServerSignsTrailWithoutItsOwnAcknowledgedWrite(t *testing.T) {
	dump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Skip("pg_dump not installed")
	}
	restore, err := exec.LookPath("pg_restore")
	if err != nil {
		t.Skip("pg_restore not installed")
	}
	url := pgtest.URL(t)
	if err := runFixture(url, filepath.Join(t.TempDir(), "homes"), "lab", nil); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	skey, vkey, _ := note.GenerateKey(rand.Reader, "celltrack-G1234")
	signer, _ := note.NewSigner(skey)
	if _, err := db.RegisterCheckpointKey("alice", vkey); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ck := &checkpointer{db: db, signer: signer, dir: dir, every: time.Minute, log: log.New(io.Discard, "", 0)}
	if err := ck.sign(); err != nil {
		t.Fatal(err)
	}
	snapshot := filepath.Join(t.TempDir(), "at-n.dump")
	if out, err := exec.Command(dump, "-Fc", "-f", snapshot, url).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	// The server's acknowledged write: entry N+1.
	set, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.IdleExpiry = 20 * time.Minute
	if err := db.SetSettings("alice", set, "longer idle time on the ward"); err != nil {
		t.Fatal(err)
	}
	acked, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	// The DBA puts the dump back while the server runs.
	if out, err := exec.Command(restore, "--clean", "--if-exists", "-d", url, snapshot).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	// Another write: the trail has N+1 entries again, another history.
	set.IdleExpiry = 25 * time.Minute
	if err := db.SetSettings("alice", set, "a little longer"); err != nil {
		t.Fatal(err)
	}
	now, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	if now.Size != acked.Size || now.Root == acked.Root {
		t.Fatalf("setup: the trail after the rollback is %d entries (root %x), want %d with another root", now.Size, now.Root, acked.Size)
	}
	err = ck.sign()
	es, _ := os.ReadDir(dir)
	if err == nil || len(es) != 1 {
		t.Errorf("the server signed a trail that no longer holds the write it acknowledged at tree size %d: sign() = %v, %d checkpoints in its folder (want an error naming the lost entry, and the 1 from before)", acked.Size, err, len(es))
	}
}
