package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOutFilesArePrivate: a report written with --out carries patient data
// and is created 0600; one replaced with --force becomes 0600 too.
func TestOutFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	db := labCopy(t, dir)
	fresh, old := filepath.Join(dir, "fresh.md"), filepath.Join(dir, "old.md")
	if err := os.WriteFile(old, []byte("an old report"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--user", "aud", "trace", "donor", "--format", "md", "--out", fresh, "D-0001"},
		{"--user", "aud", "trace", "donor", "--force", "--format", "md", "--out", old, "D-0001"},
	} {
		if r := celltrack(db, "", args...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	for _, p := range []string{fresh, old} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %s, want -rw-------", filepath.Base(p), perm)
		}
	}
}
