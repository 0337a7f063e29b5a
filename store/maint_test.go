package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// TestEveryWrongPasswordIsDelayedAndRecorded: each refused password holds
// the caller for FailedPasswordDelay (a lower bound, so the check cannot
// flake) and adds one security event to the audit trail.
func TestEveryWrongPasswordIsDelayedAndRecorded(t *testing.T) {
	db := newTestDB(t)
	FailedPasswordDelay = 20 * time.Millisecond
	defer func() { FailedPasswordDelay = 0 }()
	before, _ := db.AuditCount()
	for i := 0; i < 3; i++ {
		start := time.Now()
		_, err := db.Authenticate("liu", "guess-number-"+string(rune('1'+i)), "release")
		if lot.ErrorCode(err) != lot.EAUTH {
			t.Fatalf("wrong password %d: %v", i, err)
		}
		if d := time.Since(start); d < FailedPasswordDelay {
			t.Errorf("wrong password %d refused after %s, before the fixed delay %s", i, d, FailedPasswordDelay)
		}
	}
	if after, _ := db.AuditCount(); after != before+3 {
		t.Errorf("3 wrong passwords added %d audit entries, want 3", after-before)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Errorf("verify after refused passwords: %v %v", err, v.Problems)
	}
}

// TestBackupIsAConsistentDatabase: a backup opens, passes the page check and
// audit verify, holds the same records, and never overwrites a file.
func TestBackupIsAConsistentDatabase(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	out := filepath.Join(t.TempDir(), "backup.db")
	if _, err := db.Backup(out); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Backup(out); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("second backup to the same file: %v", err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode: %v %v", fi.Mode(), err)
	}
	b, err := Open(out, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if errs := b.Check(); len(errs) > 0 {
		t.Fatal(errs)
	}
	v, err := b.Verify()
	if err != nil || !v.OK() {
		t.Fatalf("verify backup: %v %v", err, v.Problems)
	}
	want, _ := db.AuditCount()
	if v.Entries != want {
		t.Errorf("backup has %d entries, want %d", v.Entries, want)
	}
	if _, err := NewLotService(b).Lot("LOT-1"); err != nil {
		t.Error(err)
	}
}
