package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"golang.org/x/mod/sumdb/note"
)

// keyedFixture is the lab fixture in a file at the tests' fixed clock, open,
// with a checkpoint key registered: the database, its path and the key's
// signer. The caller closes it.
func keyedFixture(t *testing.T) (*store.DB, string, note.Signer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ct.db")
	now, _ := time.Parse(time.RFC3339, testNow)
	clock := func() time.Time { return now }
	if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), "lab", clock); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(path, store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "celltrack-G1234")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	if _, err := db.RegisterCheckpointKey("alice", vkey); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db, path, signer
}

// The server's checkpointer writes a new checkpoint at each tick when
// entries were added since the last, and none when nothing was; every file
// it wrote verifies against the trail.
func TestServeCheckpointerTicks(t *testing.T) {
	db, _, signer := keyedFixture(t)
	defer db.Close()
	dir := t.TempDir()
	ck := &checkpointer{db: db, signer: signer, dir: dir, every: 20 * time.Millisecond, log: log.New(io.Discard, "", 0)}
	files := func() int {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	if err := ck.sign(); err != nil || files() != 1 {
		t.Fatalf("first checkpoint: %v, %d files", err, files())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ck.run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond)
	if files() != 1 {
		t.Errorf("%d checkpoints while nothing was added, want 1", files())
	}
	// An entry added: the next tick signs it (the name carries the size).
	set, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.IdleExpiry = 20 * time.Minute
	if err := db.SetSettings("alice", set, "longer idle time on the ward"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for files() != 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if files() != 2 {
		t.Fatalf("%d checkpoints after an entry was added, want 2", files())
	}
	var kept []store.KeptCheckpoint
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, store.KeptCheckpoint{Name: e.Name(), Note: b})
	}
	cv, err := db.VerifyCheckpoints(kept)
	if err != nil || !cv.OK() {
		t.Fatalf("the server's checkpoints do not verify: %v %+v", err, cv.Problems)
	}
}

// TestServeCheckpointerRefusesARollback: the server's writer checks the
// checkpoints already in its folder and signs nothing for a trail that does
// not extend them (an older file put in place since): a checkpoint of the
// rolled-back trail beside the one it contradicts would hide the rollback.
func TestServeCheckpointerRefusesARollback(t *testing.T) {
	db, path, signer := keyedFixture(t)
	old := filepath.Join(t.TempDir(), "old.db")
	if _, err := db.Backup(old); err != nil {
		t.Fatal(err)
	}
	set, _ := db.Settings()
	set.IdleExpiry = 20 * time.Minute
	if err := db.SetSettings("alice", set, "longer idle time on the ward"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ck := &checkpointer{db: db, signer: signer, dir: dir, every: time.Minute, log: log.New(io.Discard, "", 0)}
	if err := ck.sign(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	data, _ := os.ReadFile(old)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(path, store.Options{Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ck.db, ck.last = db, 0
	err = ck.sign()
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "the trail does not extend 1 of the checkpoints already kept, so none was signed") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("signing a rolled-back trail beside its checkpoint: %v", err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("%d files in the checkpoint folder, want the 1 from before the rollback", len(es))
	}
}

// TestServeCheckpointersShareAFolder (review 15 C): two servers on one
// database with one key and one witness folder sign the same tree head in
// the same second — at start after a power cut, and at stop — and each
// writes its own file: neither stops on the other's name. A file of an
// older celltrack's name (time and size only) is still read, and one the
// other server has created but not yet written when the folder is read is
// read again once written, not held against the trail.
func TestServeCheckpointersShareAFolder(t *testing.T) {
	db, _, signer := keyedFixture(t)
	defer db.Close()
	dir := t.TempDir()
	servers := []*checkpointer{
		{db: db, signer: signer, dir: dir, every: time.Minute, log: log.New(io.Discard, "", 0)},
		{db: db, signer: signer, dir: dir, every: time.Minute, log: log.New(io.Discard, "", 0)},
	}
	for i, ck := range servers {
		if err := ck.sign(); err != nil {
			t.Fatalf("server %d's checkpoint at start, the same tree head in the same second as server 0's: %v", i, err)
		}
	}
	es, _ := os.ReadDir(dir)
	if len(es) != 2 {
		t.Fatalf("%d files after two servers signed, want 2", len(es))
	}
	// An older celltrack's name: checkpoint-<time>-<size>.txt.
	first, _ := os.ReadFile(filepath.Join(dir, es[0].Name()))
	size := servers[0].last
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("checkpoint-20261125T090000Z-%d.txt", size)), first, 0o600); err != nil {
		t.Fatal(err)
	}
	// Another server's file, created and not yet written.
	pending := filepath.Join(dir, "checkpoint-20261125T090000Z-0-another.txt")
	if err := os.WriteFile(pending, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.WriteFile(pending, first, 0o600)
	}()
	set, _ := db.Settings()
	set.IdleExpiry = 20 * time.Minute
	if err := db.SetSettings("alice", set, "longer idle time on the ward"); err != nil {
		t.Fatal(err)
	}
	for i, ck := range servers {
		if err := ck.sign(); err != nil {
			t.Fatalf("server %d's checkpoint at stop, the same tree head in the same second: %v", i, err)
		}
	}
	if db.RolledBack() != "" {
		t.Fatalf("a server found the trail rolled back: %s", db.RolledBack())
	}
	kept, _, err := readWitness(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 6 {
		t.Errorf("the folder's reader read %d checkpoints, want 6 (2 at start, 2 at stop, the older name, the other server's)", len(kept))
	}
	cv, err := db.VerifyCheckpoints(kept)
	if err != nil || !cv.OK() {
		t.Fatalf("the servers' checkpoints do not verify: %v %+v", err, cv.Problems)
	}
}
