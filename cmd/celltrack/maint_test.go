package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckFindsDamage edits a donor's site in the file's bytes, as a hex
// editor would: check exits 3 and names the altered record. The text is no
// longer in the audit entries: since schema 8 they are stored compressed and
// do not repeat the value they set (an entry altered in its bytes is caught
// by store's TestVerifyCatchesAlteredAndDeletedAuditEntries).
func TestCheckFindsDamage(t *testing.T) {
	dir := t.TempDir()
	db := labCopy(t, dir)
	if r := celltrack(db, "", "check"); r.code != 0 || !strings.Contains(r.stdout, "check: OK") {
		t.Fatalf("sound database: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("Maternity ward 5")) {
		t.Fatal("fixture site not found in the file")
	}
	damaged := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(damaged, bytes.ReplaceAll(data, []byte("Maternity ward 5"), []byte("Maternity ward 6")), 0o600); err != nil {
		t.Fatal(err)
	}
	copySessions(t, db, damaged)
	r := celltrack(damaged, "", "check")
	if r.code != exitRefused {
		t.Errorf("damaged database: exit %d, want %d", r.code, exitRefused)
	}
	for _, want := range []string{"PROBLEM: donor D-0001", "differs from the value its last audit entry", "changed outside celltrack", "check: FAILED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output does not say %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "check failed") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// TestCheckRefusesATruncatedFile: a file cut short (a copy interrupted by a
// full disk) is refused as damaged (exit 3) by check, reads and writes alike;
// bbolt's panic on the bad page used to crash celltrack with a stack trace.
func TestCheckRefusesATruncatedFile(t *testing.T) {
	dir := t.TempDir()
	db := labCopy(t, dir)
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.db")
	if err := os.WriteFile(cut, data[:len(data)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check"}, {"lot", "list"}, {"--user", "nina", "patient", "weigh", "--kg", "60", "MRN-1001"}} {
		r := celltrack(cut, "", args...)
		if r.code != exitRefused || !strings.Contains(r.stderr, "cut.db is damaged") {
			t.Errorf("%s on a truncated file: exit %d: %s%s", args[0], r.code, r.stdout, r.stderr)
		}
	}
}
