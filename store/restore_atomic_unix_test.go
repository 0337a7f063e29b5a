//go:build unix

package store

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// Environment of the child process TestRestoreKilledAfterEachStep starts:
// the stage at which the child kills itself, the database and the backup.
const (
	envKillAt   = "CELLTRACK_TEST_RESTORE_KILL_AT"
	envKillDB   = "CELLTRACK_TEST_RESTORE_KILL_DB"
	envKillFrom = "CELLTRACK_TEST_RESTORE_KILL_FROM"
)

// lastEntry is the action and reason of the last audit entry of the file at
// path, opened read-only.
func lastEntry(t *testing.T, path string) (action, reason string, n int) {
	t.Helper()
	db, err := Open(path, Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	es, err := db.AuditLog("")
	if err != nil || len(es) == 0 {
		t.Fatalf("audit log of %s: %d entries, %v", path, len(es), err)
	}
	e := es[len(es)-1]
	return e.Action, e.Reason, len(es)
}

// TestRestoreKilledAfterEachStep: a restore killed (SIGKILL, as the
// reviewer's strace did at its first write) after each of its steps — the
// backup verified, the restore recorded in the copy, the database renamed
// aside, the copy put in place — is never a silent rollback. Before the
// first rename the database is as it was, byte for byte; after the second
// the backup is in place WITH its database.restore entry as its last; in
// between no database is there, and every open names the two files and says
// how to put the old one back, which gives back the database untouched.
func TestRestoreKilledAfterEachStep(t *testing.T) {
	if stage := os.Getenv(envKillAt); stage != "" {
		// The child: restore, and die at the stage, as a kill -9 would.
		FailedPasswordDelay = 0
		testHook = func(s string) {
			if s == stage {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		_, err := Restore(os.Getenv(envKillDB), RestoreOptions{From: os.Getenv(envKillFrom), Actor: "alice", Password: testPassword,
			AllowRollback: true, Reason: "test", Timeout: 5 * time.Second})
		t.Fatalf("the restore ran past %q without being killed (err %v)", stage, err)
	}
	for _, tc := range []struct {
		stage string
		want  string // "not done", "interrupted", "done"
	}{
		{"restore verified", "not done"},
		{"restore recorded", "not done"},
		{"restore renamed aside", "interrupted"},
		{"restore placed", "done"},
	} {
		t.Run(strings.ReplaceAll(tc.stage, " ", "_"), func(t *testing.T) {
			db, backup := liveAndBackup(t)
			path := db.Path()
			before := fileSum(t, path)
			_, _, liveEntries := lastEntry(t, path)
			_, _, backupEntries := lastEntry(t, backup)
			cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreKilledAfterEachStep$", "-test.count=1")
			cmd.Env = append(os.Environ(), envKillAt+"="+tc.stage, envKillDB+"="+path, envKillFrom+"="+backup)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("the child was not killed at %q: %v\n%s", tc.stage, err, out)
			}
			replaced, _ := filepath.Glob(path + ".replaced-*")
			switch tc.want {
			case "not done":
				if fileSum(t, path) != before {
					t.Fatal("the database changed, though the restore was stopped before its first rename")
				}
				if len(replaced) != 0 {
					t.Fatalf("replaced files: %v", replaced)
				}
				if action, _, n := lastEntry(t, path); n != liveEntries || action == "database.restore" {
					t.Fatalf("the database has %d entries (was %d), the last %s", n, liveEntries, action)
				}
				// The copy left beside it is named for what it is.
				_, err := Restore(path, restoreOpts(db, backup))
				if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "an earlier restore was stopped before it replaced the database, which it left as it was") {
					t.Fatalf("restore beside the copy left: %v", err)
				}
				if fileSum(t, path) != before {
					t.Fatal("the refused restore changed the database")
				}
			case "interrupted":
				if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) || len(replaced) != 1 {
					t.Fatalf("after a kill between the renames: %s: %v; replaced %v", path, err, replaced)
				}
				_, err := Open(path, Options{Timeout: time.Second})
				msg := lot.ErrorMessage(err)
				if lot.ErrorCode(err) != lot.ENODB || !strings.Contains(msg, "a restore was interrupted between its two renames") ||
					!strings.Contains(msg, "the restore was recorded only in that copy, which was never put in place") || !strings.Contains(msg, "mv "+replaced[0]+" "+path) {
					t.Fatalf("open after a kill between the renames: %v", err)
				}
				if action, _, n := lastEntry(t, path+".restoring"); action != "database.restore" || n != backupEntries+1 {
					t.Fatalf("the copy's last entry is %s (%d entries; the backup had %d)", action, n, backupEntries)
				}
				// As the message says: the database back, untouched.
				if err := os.Rename(replaced[0], path); err != nil {
					t.Fatal(err)
				}
				os.Remove(path + ".restoring")
				if fileSum(t, path) != before {
					t.Fatal("the replaced file was changed")
				}
			case "done":
				action, reason, n := lastEntry(t, path)
				if action != "database.restore" || n != backupEntries+1 || !strings.Contains(reason, "the replaced file is kept at "+replaced[0]) {
					t.Fatalf("the restored file ends with %s (%d entries; the backup had %d): %s", action, n, backupEntries, reason)
				}
				if len(replaced) != 1 || fileSum(t, replaced[0]) != before {
					t.Fatalf("the replaced file %v is not the database as it was", replaced)
				}
				if _, err := os.Lstat(path + ".restoring"); err == nil {
					t.Fatal("the copy is still beside the database")
				}
			}
		})
	}
}

// TestRestoreWriterWaitingOnTheLock: a nurse's command opened the database
// while a restore held it, and waits for its lock. When the restore is
// done, its write lands in the restored file AFTER the restore entry — not
// in the file renamed aside, nor before the entry in the restored one.
func TestRestoreWriterWaitingOnTheLock(t *testing.T) {
	db, backup := liveAndBackup(t)
	path := db.Path()
	before := fileSum(t, path)
	reopenedBefore := reopened.Load()
	opened := make(chan struct{})
	var once sync.Once
	wrote := make(chan error, 1)
	testHook = func(stage string) {
		if stage != "restore recorded" {
			return
		}
		openHook = func(name string) {
			if name == path {
				once.Do(func() { close(opened) })
			}
		}
		go func() {
			w, err := Open(path, Options{Timeout: 20 * time.Second, Now: db.Now})
			if err != nil {
				wrote <- err
				return
			}
			defer w.Close()
			_, err = NewLotService(w).AddPatient("nina", lot.Patient{MRN: "MRN-9", Name: "Noor", Born: db.Now().AddDate(-30, 0, 0), Sex: "F"})
			wrote <- err
		}()
		// The writer has opened the file still at path (the one the
		// restore is about to rename aside) and waits for its lock.
		<-opened
	}
	defer func() { testHook, openHook = nil, nil }()
	if _, err := Restore(path, restoreOpts(db, backup)); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("the waiting write: %v", err)
	}
	replaced, _ := filepath.Glob(path + ".replaced-*")
	if len(replaced) != 1 || fileSum(t, replaced[0]) != before {
		t.Fatalf("the replaced file %v was written to", replaced)
	}
	if reopened.Load() == reopenedBefore {
		t.Fatal("the writer never found the path naming another file: it did not wait on the replaced file's lock")
	}
	r, err := Open(path, Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	es, err := r.AuditLog("")
	if err != nil || len(es) < 2 {
		t.Fatal(len(es), err)
	}
	if a := es[len(es)-2].Action; a != "database.restore" {
		t.Fatalf("the entry before the nurse's is %s, not the restore", a)
	}
	if _, err := NewLotService(r).Patient("MRN-9"); err != nil {
		t.Fatalf("the nurse's patient in the restored file: %v", err)
	}
}

// TestRestoreLockOfAReplacedDamagedFile: a restore over a damaged file
// waited for its lock while another restore put a file in its place. The
// lock it then gets is that of the file renamed aside: it is refused
// (EBUSY), not taken as the lock of what the path names now.
func TestRestoreLockOfAReplacedDamagedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ct.db")
	if err := os.WriteFile(path, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	holder, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := syscall.Flock(int(holder.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	opened := make(chan struct{})
	openHook = func(string) { close(opened) }
	defer func() { openHook = nil }()
	go func() {
		unlock, err := lockDamaged(path, 10*time.Second)
		if unlock != nil {
			unlock()
		}
		got <- err
	}()
	// The other restore: its copy renamed into place, then its lock of the
	// replaced file released.
	<-opened
	if err := os.Rename(path, path+".replaced"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("restored"), 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Flock(int(holder.Fd()), syscall.LOCK_UN)
	err = <-got
	if lot.ErrorCode(err) != lot.EBUSY || !strings.Contains(lot.ErrorMessage(err), "was replaced while restore waited for its lock") {
		t.Fatalf("lock of a file replaced meanwhile: %v", err)
	}
}

// TestRestoreRefusesAnotherDatabase: a backup of another database (another
// db_id, another first entry) is refused outright — even with
// --allow-rollback — naming both identities, and nothing is touched. A
// backup of this database whose db_id was made apart (one taken before
// schema 4 and upgraded on its own: the same first entry) is judged as any
// older backup: a rollback, restored with --allow-rollback.
func TestRestoreRefusesAnotherDatabase(t *testing.T) {
	db, backup := liveAndBackup(t)
	other := newTestDB(t)
	otherBackup := filepath.Join(t.TempDir(), "other.db")
	if _, err := other.VerifiedBackup(otherBackup, nil); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, db.Path())
	_, err := Restore(db.Path(), restoreOpts(db, otherBackup))
	msg := lot.ErrorMessage(err)
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(msg, "another database of facility G1234") || !strings.Contains(msg, "refused whatever is accepted") {
		t.Fatalf("restore of another database's backup: %v", err)
	}
	for _, p := range []string{db.Path(), otherBackup} {
		d, err := Open(p, Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var id string
		d.view(func(tx kv.Tx) error { id = string(tx.Bucket(bMeta).Get(metaDBID)); return nil })
		d.Close()
		if id == "" || !strings.Contains(msg, id) {
			t.Fatalf("the refusal does not name the database %s of %s: %s", id, p, msg)
		}
	}
	if fileSum(t, db.Path()) != before {
		t.Fatal("the database changed")
	}
	noReplacedFile(t, db.Path())

	// Its own backup, its db_id made apart.
	rawUpdate(t, backup, func(tx kv.Tx) error {
		return tx.Bucket(bMeta).Put(metaDBID, []byte("01900000-0000-7000-8000-000000000000"))
	})
	if _, err := Restore(db.Path(), restoreOpts(db, backup)); err != nil {
		t.Fatalf("restore of this database's backup with a db_id made apart: %v", err)
	}
}
