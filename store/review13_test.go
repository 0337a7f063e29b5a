package store

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/internal/pgtest"
	"golang.org/x/mod/sumdb/note"
)

// review13 finding I: restore does not exist on PostgreSQL (exit 2), so a
// `database.restore` entry written there was not written by restore — yet
// one whose reason ends "; rolled back over the kept checkpoint of tree
// size N root R" still turns that checkpoint's mismatch into "rolled back",
// not a problem, for audit verify --checkpoint, check, backup --key and the
// server's start. The sites' role may append to the audit tables (README
// "Least privilege"), so after a DBA put an older dump back, one appended
// entry — here written through the store, as an INSERT computed with
// celltrack's own code would be — silences every witness.
// Expected: on PostgreSQL, such an entry excuses nothing (and verify names
// it).
func TestReview13ForgedRestoreEntryExcusesRollbackOnPostgres(t *testing.T) {
	FailedPasswordDelay = 0
	server := pgtest.Server(t)
	path := pgtest.URL(t)
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	opts := Options{Now: func() time.Time { return now }}
	db, err := Open(path, Options{Create: true, Now: opts.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Init("G1234", audit.User{Name: "alice", FullName: "Alice"}, testPassword); err != nil {
		t.Fatal(err)
	}
	skey, vkey, _ := note.GenerateKey(rand.Reader, "celltrack-G1234")
	signer, _ := note.NewSigner(skey)
	if _, err := db.RegisterCheckpointKey("alice", vkey); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The DBA's older dump: a copy of the database as it is now.
	older, drop, err := pgtest.CreateDatabase(server, pgtest.Name(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop() })
	if db, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	set, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	set.IdleExpiry = 20 * time.Minute
	if err := db.SetSettings("alice", set, "longer idle time on the ward"); err != nil {
		t.Fatal(err)
	}
	msg, head, err := db.SignCheckpoint(signer, true)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	kept := []KeptCheckpoint{{Name: "witness/latest.checkpoint", Note: msg}}

	// The database put back from the dump: the witness shows it.
	back, err := Open(older, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	cv, err := back.VerifyCheckpoints(kept)
	if err != nil || len(cv.Checkpoints) != 1 || cv.Checkpoints[0].Problem == "" {
		t.Fatalf("setup: the rolled-back database does not fail the witness: %v %+v", err, cv.Checkpoints)
	}
	// One appended entry, as no restore on PostgreSQL ever writes.
	reason := fmt.Sprintf("restored from nightly.db; ROLLBACK allowed: disk fault — x; %s tree size %d root %s", rolledOverMark, head.Size, audit.RootString(head.Root))
	if err := back.update("alice", audit.DatabaseRestore, func(w *writer) error {
		return w.event(kindUser, w.actor.ID, "database.restore", reason)
	}); err != nil {
		t.Fatal(err)
	}
	cv, err = back.VerifyCheckpoints(kept)
	if err != nil {
		t.Fatal(err)
	}
	if r := cv.Checkpoints[0]; r.Problem == "" {
		t.Errorf("on PostgreSQL, where restore does not exist, an appended database.restore entry excuses the rolled-back checkpoint: %q (verify ok=%v)\nwant the checkpoint still a problem", r.RolledBack, cv.OK())
	}
	// Fixed (fix13b): the problem names the entry (the trail's last) and
	// why it excuses nothing.
	last, err := back.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	if r := cv.Checkpoints[0]; !strings.Contains(r.Problem, fmt.Sprintf("entry %d, a database.restore entry", last.Size)) || !strings.Contains(r.Problem, "where restore does not exist") || cv.OK() {
		t.Errorf("the checkpoint's problem does not name the appended restore entry: %q (verify ok=%v)", r.Problem, cv.OK())
	}
}
