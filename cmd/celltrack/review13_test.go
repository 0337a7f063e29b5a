package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// review13 finding G (low): refusals of audit checkpoint that are about one
// input do not name it for programs: --out an existing file (backup's twin
// refusal carries "field":"out" and "(--out)") and a --key file others can
// read come back without "field", and the first gives a signing key's
// reason ("a lost signing key cannot be recovered") for a checkpoint.
func TestReview13CheckpointRefusalsNameNoField(t *testing.T) {
	path := newCLIDB(t)
	dir := filepath.Dir(path)
	key := filepath.Join(dir, "ck.key")
	if code, _, stderr := runCLI(path, "audit", "key", "init", "--name", "celltrack-G1234", "--out", key); code != 0 {
		t.Fatalf("key init: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(path, "--user", "alice", "audit", "key", "register", "--verifier-file", key+".pub"); code != 0 {
		t.Fatalf("key register: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "w", "a.checkpoint")
	os.MkdirAll(filepath.Dir(out), 0o700)
	if code, _, stderr := runCLI(path, "--user", "alice", "audit", "checkpoint", "--key", key, "--out", out); code != 0 {
		t.Fatalf("checkpoint: exit %d: %s", code, stderr)
	}
	first, _ := os.ReadFile(out)
	dbBefore, _ := os.ReadFile(path)
	if code, _, stderr := runCLI(path, "--json", "--user", "alice", "audit", "checkpoint", "--key", key, "--out", out); code != exitRefused || !strings.Contains(stderr, `"field":"out"`) {
		t.Errorf("--out an existing checkpoint: exit %d, %s; want exit 3 with \"field\":\"out\" as backup's refusal has", code, stderr)
	} else if !strings.Contains(stderr, "a checkpoint file") || strings.Contains(stderr, "signing key") {
		t.Errorf("--out an existing checkpoint gives another file's reason: %s", stderr)
	}
	os.Chmod(key, 0o644)
	if code, _, stderr := runCLI(path, "--json", "--user", "alice", "audit", "checkpoint", "--key", key, "--out", out+"2"); code != exitRefused || !strings.Contains(stderr, `"field":"key"`) {
		t.Errorf("--key readable by others: exit %d, %s; want exit 3 with \"field\":\"key\"", code, stderr)
	}
	// Fixed (fix13b): each refusal writes nothing.
	if now, _ := os.ReadFile(out); string(now) != string(first) {
		t.Error("the refused checkpoint changed the existing --out file")
	}
	if _, err := os.Lstat(out + "2"); err == nil {
		t.Error("the checkpoint refused for its key was written")
	}
	if now, _ := os.ReadFile(path); string(now) != string(dbBefore) {
		t.Error("the refused checkpoints changed the database")
	}
}

// review13 finding H (low): a server killed -9 leaves its marker (NAME.serve);
// after a reboot or a container restart its pid is another process's (pid 1
// in a container, a shell). restore then refuses with exit 11 "celltrack
// serve (pid N, since …) holds DB; stop that server" — a server that does
// not exist, in the emergency restore is for — and, unlike the marker's two
// other refusals, never says that if no server runs the marker is to be
// removed. The database's own lock is free (nothing holds it), which restore
// can test for the admin who can open it.
// Expected: the live-pid refusal also says what to do when no server runs
// (remove the marker), or restore sees the lock free and goes on.
func TestReview13RestoreBlockedByMarkerOfReusedPID(t *testing.T) {
	path := newCLIDB(t)
	backup := filepath.Join(filepath.Dir(path), "b.db")
	if code, _, stderr := runCLI(path, "--user", "alice", "backup", "--out", backup); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	// The marker of a server killed long ago, whose pid is now this test's.
	if err := writeServerFile(path, serverFile{URL: "http://127.0.0.1:8080", PID: os.Getpid(), Started: time.Now().Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLIStdin(path, fixturePassword+"\n", "--user", "alice", "restore", "--from", backup, "--password-stdin")
	if code == exitBusy && !strings.Contains(stderr, "remove") {
		t.Errorf("restore refused by the marker of a server that is gone, whose pid another process has: exit %d: %s\nwant it to say what to do when no server runs (remove %s), as the marker's other refusals do", code, stderr, serverFilePath(path))
	}
}
