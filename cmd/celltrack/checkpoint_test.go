package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// TestKeyInitFilePermissions: the signing key is written 0600 whatever the
// umask, its verifier 0644, and the pair signs and verifies with x/mod's
// note package alone.
func TestKeyInitFilePermissions(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	key := filepath.Join(dir, "ck.key")
	var out, errb bytes.Buffer
	if code := run([]string{"celltrack", "audit", "key", "init", "--name", "celltrack-test", "--out", key}, strings.NewReader(""), &out, &errb, time.Now); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for path, want := range map[string]os.FileMode{key: 0o600, key + ".pub": 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
	skey, _ := os.ReadFile(key)
	vkey, _ := os.ReadFile(key + ".pub")
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: "x\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil || verifier.Name() != "celltrack-test" {
		t.Fatalf("the pair does not verify: %v", err)
	}
	if !strings.Contains(out.String(), strings.TrimSpace(string(vkey))) {
		t.Errorf("the verifier key is not printed: %s", out.String())
	}
}
