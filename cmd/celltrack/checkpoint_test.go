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

// TestCheckpointFlagsReadOneWay: `audit verify`, `check` and `restore`
// read --checkpoint and --verifier-file with one helper, so each bad use
// of them gets the same exit code and the same message from all three,
// and nothing is written.
func TestCheckpointFlagsReadOneWay(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"junk.checkpoint": "hello\n",
		"signing.key":     "PRIVATE+KEY+celltrack+f2104329+AcoFb/b+JKB9RWOLyfFKi466Z3nqWp6AVEdZ4UgGvp1F\n",
		"garbled.pub":     "celltrack+zz+AQ\n",
		"empty/.keep":     "",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(dir, "empty/.keep"))
	backup := filepath.Join(dir, "old.db")
	commands := map[string][]string{
		"audit verify": {"--user", "aud", "audit", "verify"},
		"check":        {"check", "--no-checkpoint"},
		"restore":      {"--user", "alice", "restore", "--password-stdin", "--from", backup},
	}
	cases := []struct {
		name  string
		flags []string
		code  int
		want  string
	}{
		{"pinned key without checkpoint", []string{"--verifier-file", filepath.Join(dir, "garbled.pub")}, 2,
			"--verifier-file pins the key that checks the --checkpoint files; give --checkpoint too"},
		{"checkpoint missing", []string{"--checkpoint", filepath.Join(dir, "none")}, 5,
			"--checkpoint " + filepath.Join(dir, "none") + ": stat"},
		{"checkpoint folder empty", []string{"--checkpoint", filepath.Join(dir, "empty")}, 3,
			"--checkpoint " + filepath.Join(dir, "empty")},
		{"pinned signing key", []string{"--checkpoint", filepath.Join(dir, "junk.checkpoint"), "--verifier-file", filepath.Join(dir, "signing.key")}, 3,
			"--verifier-file " + filepath.Join(dir, "signing.key") + " holds a signing key, not a verifier key"},
		{"pinned key garbled", []string{"--checkpoint", filepath.Join(dir, "junk.checkpoint"), "--verifier-file", filepath.Join(dir, "garbled.pub")}, 3,
			"--verifier-file " + filepath.Join(dir, "garbled.pub") + " is not a verifier key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs := map[string]string{}
			for name, args := range commands {
				db := labCopy(t, t.TempDir())
				if name == "restore" {
					if _, err := os.Stat(backup); err != nil {
						if got := celltrack(db, "", "--user", "aud", "backup", "--out", backup); got.code != 0 {
							t.Fatalf("backup: %s", got.stderr)
						}
					}
				}
				before := fileSum(t, db)
				got := celltrack(db, pw, append(append([]string(nil), args...), tc.flags...)...)
				if got.code != tc.code || !strings.Contains(got.stderr, tc.want) {
					t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", name, got.code, got.stderr, tc.code, tc.want)
				}
				if fileSum(t, db) != before {
					t.Errorf("%s: a refusal changed the database", name)
				}
				msgs[name] = got.stderr
			}
			if msgs["check"] != msgs["audit verify"] || msgs["restore"] != msgs["audit verify"] {
				t.Errorf("the three commands answer differently:\n%q", msgs)
			}
		})
	}
}
