package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/mod/sumdb/note"
)

// liveAndBackup returns a database of two lots, closed (a restore takes its
// lock) and reopened for newTestDB's cleanup when the test ends, and a
// verified backup of it taken when it had one lot.
func liveAndBackup(t *testing.T) (db *DB, backup string) {
	t.Helper()
	db = newTestDB(t)
	registerUC(t, db, "LOT-A")
	backup = filepath.Join(t.TempDir(), "old.db")
	if _, err := db.VerifiedBackup(backup, nil); err != nil {
		t.Fatal(err)
	}
	registerUC(t, db, "LOT-B")
	db.Close()
	t.Cleanup(func() { reopenBolt(t, db) })
	return db, backup
}

// reopenBolt reopens db's file (whatever is at its path now) so that
// newTestDB's cleanup can check and close it.
func reopenBolt(t *testing.T, db *DB) {
	b, err := boltkv.Open(db.Path(), &boltkv.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("reopen %s: %v", db.Path(), err)
	}
	db.engine = b
}

func restoreOpts(db *DB, from string) RestoreOptions {
	return RestoreOptions{From: from, Actor: "alice", Password: testPassword, Facility: "G1234",
		AllowRollback: true, Reason: "test", Timeout: 300 * time.Millisecond, Now: db.Now}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// rawUpdate changes the closed database file at path as another program
// would.
func rawUpdate(t *testing.T, path string, fn func(tx kv.Tx) error) {
	t.Helper()
	b, err := boltkv.Open(path, &boltkv.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func noReplacedFile(t *testing.T, path string) {
	t.Helper()
	if m, _ := filepath.Glob(path + ".replaced-*"); len(m) > 0 {
		t.Fatalf("a refused restore renamed the database: %v", m)
	}
	if _, err := os.Lstat(path + ".restoring"); err == nil {
		t.Fatal("a refused restore left its copy of the backup")
	}
}

// TestRestoreRefusesWhatIsNotDamage: only a damaged file may be replaced
// without being read. A file of a newer schema, a directory, a symbolic
// link and a bbolt file that is not celltrack's are refused with their
// cause, and nothing is renamed — even with --facility and
// --allow-rollback given, which a damaged file would need.
func TestRestoreRefusesWhatIsNotDamage(t *testing.T) {
	t.Run("newer schema", func(t *testing.T) {
		db, backup := liveAndBackup(t)
		rawUpdate(t, db.Path(), func(tx kv.Tx) error {
			return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(SchemaVersion+1)))
		})
		before := fileSum(t, db.Path())
		_, err := Restore(db.Path(), restoreOpts(db, backup))
		if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), fmt.Sprintf("has schema version %d, newer than this celltrack", SchemaVersion+1)) || !strings.Contains(err.Error(), "nothing was restored") {
			t.Fatalf("restore over a newer schema: %v", err)
		}
		if fileSum(t, db.Path()) != before {
			t.Fatal("the database changed")
		}
		noReplacedFile(t, db.Path())
		rawUpdate(t, db.Path(), func(tx kv.Tx) error {
			return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(SchemaVersion)))
		})
	})
	t.Run("schema before the audit tree", func(t *testing.T) {
		db, backup := liveAndBackup(t)
		rawUpdate(t, db.Path(), func(tx kv.Tx) error {
			if err := tx.DeleteBucket(bAuditTree); err != nil {
				return err
			}
			return tx.Bucket(bMeta).Put([]byte("schema"), []byte("4"))
		})
		before := fileSum(t, db.Path())
		_, err := Restore(db.Path(), restoreOpts(db, backup))
		if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "from before the audit tree") || !strings.Contains(err.Error(), "upgrade the copy") || lot.ErrorCommand(err) != "upgrade" {
			t.Fatalf("restore over a file without the tree: %v", err)
		}
		if fileSum(t, db.Path()) != before {
			t.Fatal("the database changed")
		}
		noReplacedFile(t, db.Path())
		up, err := openUpgraded(db.Path(), Options{Timeout: time.Second, Now: db.Now}) // upgraded for newTestDB's cleanup
		if err != nil {
			t.Fatal(err)
		}
		up.Close()
	})
	t.Run("directory", func(t *testing.T) {
		db, backup := liveAndBackup(t)
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Restore(dir, restoreOpts(db, backup))
		if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "is a directory") {
			t.Fatalf("restore over a directory: %v", err)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("the directory is gone: %v", err)
		}
		noReplacedFile(t, dir)
	})
	t.Run("symbolic link", func(t *testing.T) {
		db, backup := liveAndBackup(t)
		link := filepath.Join(t.TempDir(), "link.db")
		if err := os.Symlink(db.Path(), link); err != nil {
			t.Fatal(err)
		}
		before := fileSum(t, db.Path())
		_, err := Restore(link, restoreOpts(db, backup))
		if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "is a symbolic link to "+db.Path()) || !strings.Contains(err.Error(), "give the file itself, "+db.Path()) || lot.ErrorField(err) != "db" {
			t.Fatalf("restore over a symbolic link: %v", err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("the link was replaced: %v", err)
		}
		if fileSum(t, db.Path()) != before {
			t.Fatal("the database changed")
		}
		noReplacedFile(t, link)
	})
	t.Run("bbolt file of another program", func(t *testing.T) {
		db, backup := liveAndBackup(t)
		other := filepath.Join(t.TempDir(), "other.db")
		rawUpdate(t, other, func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("things")); return err })
		before := fileSum(t, other)
		_, err := Restore(other, restoreOpts(db, backup))
		if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "not a celltrack database") {
			t.Fatalf("restore over another program's bbolt file: %v", err)
		}
		if fileSum(t, other) != before {
			t.Fatal("the file changed")
		}
		noReplacedFile(t, other)
	})
}

// TestIsDamage: what counts as a damaged file, which restore may replace
// without reading, and what does not (it is refused with its cause).
func TestIsDamage(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"no valid meta page", fmt.Errorf("open x: %w", berrors.ErrInvalid), true},
		{"checksum", berrors.ErrChecksum, true},
		{"version mismatch", berrors.ErrVersionMismatch, true},
		{"empty file", errEmptyFile, true},
		{"cut short", errors.New("file size too small 6000"), true},
		{"panic in bbolt while reading", lot.Errorf(lot.ECONFLICT, "the database file x is damaged"), true},
		{"permission denied", &fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, false},
		{"read-only file system", &fs.PathError{Op: "open", Path: "x", Err: syscall.EROFS}, false},
		{"is a directory", &fs.PathError{Op: "open", Path: "x", Err: syscall.EISDIR}, false},
		{"lock timeout", berrors.ErrTimeout, false},
		{"newer schema", lot.Errorf(lot.EINVALID, "x has schema version 8"), false},
	} {
		if got := isDamage(c.err); got != c.want {
			t.Errorf("%s: isDamage = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRestoreNeverUpgradesTheLiveFile: a live file of an older schema is
// read, not upgraded: a refused restore (a rollback, a wrong password)
// leaves every byte of it.
func TestRestoreNeverUpgradesTheLiveFile(t *testing.T) {
	db, backup := liveAndBackup(t)
	rawUpdate(t, db.Path(), func(tx kv.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(SchemaVersion-1)))
	})
	before := fileSum(t, db.Path())
	opts := restoreOpts(db, backup)
	opts.AllowRollback, opts.Reason = false, ""
	_, err := Restore(db.Path(), opts)
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "is older than the history it would replace") {
		t.Fatalf("a rollback over an older-schema file: %v", err)
	}
	if fileSum(t, db.Path()) != before {
		t.Fatal("the refused restore changed (upgraded) the live file")
	}
	opts.Password = "wrong"
	_, err = Restore(db.Path(), opts)
	if lot.ErrorCode(err) != lot.EAUTH || !strings.Contains(err.Error(), "not counted towards the lockout") {
		t.Fatalf("a wrong password: %v", err)
	}
	if fileSum(t, db.Path()) != before {
		t.Fatal("the wrong password was written into the older-schema file")
	}
	noReplacedFile(t, db.Path())
}

// TestRestorePutsInPlaceWhatItVerified: the backup file is swapped for an
// older one right after restore verified it (a symbolic link flipped, a
// file renamed over it). What is put in place is the copy restore verified,
// and the restore entry tells the truth about it.
func TestRestorePutsInPlaceWhatItVerified(t *testing.T) {
	db, old := liveAndBackup(t)
	good := filepath.Join(t.TempDir(), "good.db")
	b, err := Open(db.Path(), Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifiedBackup(good, nil); err != nil {
		t.Fatal(err)
	}
	goodHead, _ := b.TreeHead()
	b.Close()
	testHook = func(stage string) {
		if stage == "restore verified" {
			if err := os.Rename(old, good); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHook = nil }()
	opts := restoreOpts(db, good)
	opts.AllowRollback, opts.Reason = false, ""
	rep, err := Restore(db.Path(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Backup.Size != goodHead.Size || rep.Backup.Root != goodHead.Root {
		t.Fatalf("reported %v, want %v", rep.Backup, goodHead)
	}
	r, err := Open(db.Path(), Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, _ := r.AuditCount(); int64(n) != goodHead.Size+1 {
		t.Fatalf("the restored file has %d entries; the verified backup had %d (+1 for the restore)", n, goodHead.Size)
	}
	if _, err := NewLotService(r).Lot("LOT-B"); err != nil {
		t.Fatalf("LOT-B, in the verified backup: %v", err)
	}
}

// TestBackupSignsOnlyTheVerifiedCopy: backup --key signs the tree head of
// the transaction that wrote the copy, and only after reading the file back
// finds that head; a file swapped in between gets no signature.
func TestBackupSignsOnlyTheVerifiedCopy(t *testing.T) {
	db, signer, vkey := keyed(t)
	registerUC(t, db, "LOT-A")
	dir := t.TempDir()
	older := filepath.Join(dir, "older.db")
	if _, err := db.VerifiedBackup(older, nil); err != nil {
		t.Fatal(err)
	}
	registerUC(t, db, "LOT-B")

	out := filepath.Join(dir, "now.db")
	rep, err := db.VerifiedBackup(out, signer)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(vkey)
	n, err := note.Open(rep.Checkpoint, note.VerifierList(v))
	if err != nil {
		t.Fatalf("the backup's checkpoint: %v", err)
	}
	h, _ := audit.ParseCheckpoint([]byte(n.Text))
	cp, _ := Open(out, Options{ReadOnly: true, Timeout: time.Second})
	copyHead, _ := cp.TreeHead()
	cp.Close()
	if h.Size != copyHead.Size || h.Root != copyHead.Root {
		t.Fatalf("checkpoint %v; the copy is %v", h, copyHead)
	}

	swapped := filepath.Join(dir, "swapped.db")
	testHook = func(stage string) {
		if stage == "backup written" {
			data, _ := os.ReadFile(older)
			os.Remove(swapped)
			if err := os.WriteFile(swapped, data, 0o600); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHook = nil }()
	rep, err = db.VerifiedBackup(swapped, signer)
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "was changed or replaced after it was written") || rep.Checkpoint != nil {
		t.Fatalf("a copy swapped before signing: %v, checkpoint %q", err, rep.Checkpoint)
	}

	// A key that is not the database's signs nothing and writes nothing.
	other, _ := newKey(t, "celltrack-G1234")
	testHook = nil
	wrong := filepath.Join(dir, "wrongkey.db")
	if _, err := db.VerifiedBackup(wrong, other); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("backup with an unregistered key: %v", err)
	}
	if _, err := os.Stat(wrong); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("backup with an unregistered key wrote %s: %v", wrong, err)
	}
}

func sumOf(b []byte) [32]byte { return sha256.Sum256(b) }

// TestRestoreOverDamagedNeedsWitnessOrRollback: a live file whose meta pages
// are zeroed cannot show how far its trail had come, so an older backup is
// refused unless --allow-rollback is given, and the file is left as it was;
// its data pages still name its database, which the backup shares.
func TestRestoreOverDamagedNeedsWitnessOrRollback(t *testing.T) {
	db, backup := liveAndBackup(t)
	var id string
	if b, err := Open(backup, Options{ReadOnly: true, Timeout: time.Second}); err == nil {
		id, _ = b.DatabaseID()
		b.Close()
	}
	raw := damageMetaPages(t, db)
	if got := scanDBIDs(db.Path()); len(got) != 1 || got[0] != id || id == "" {
		t.Fatalf("database ids in the damaged file: %v, want [%s]", got, id)
	}
	opts := restoreOpts(db, backup)
	opts.AllowRollback, opts.Reason = false, ""
	_, err := Restore(db.Path(), opts)
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "a rollback cannot be ruled out") {
		t.Fatalf("restore over a damaged file without --allow-rollback: %v", err)
	}
	if fileSum(t, db.Path()) != sumOf(raw) {
		t.Fatal("a refused restore changed the damaged file")
	}
	noReplacedFile(t, db.Path())
	rep, err := Restore(db.Path(), restoreOpts(db, backup))
	if err != nil || !rep.Unproven || len(rep.Rollback) != 1 {
		t.Fatalf("restore with --allow-rollback: %v %+v", err, rep)
	}
}

// damageMetaPages clears both meta pages of db's closed file, so that it
// no longer opens, and returns what the file then holds; the good file is
// put back for newTestDB's cleanup.
func damageMetaPages(t *testing.T, db *DB) []byte {
	t.Helper()
	raw, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	good := append([]byte(nil), raw...)
	t.Cleanup(func() { os.WriteFile(db.Path(), good, 0o600) })
	clear(raw[:2*4096])
	if err := os.WriteFile(db.Path(), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestBackupWrittenUnderTemporaryName: the copy is written beside --out
// under a temporary name and linked into place once complete, so a backup
// killed midway leaves nothing under the name; one that fails leaves
// nothing at all.
func TestBackupWrittenUnderTemporaryName(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-A")
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	_, err := db.backup(out, func(kv.Tx) error {
		if _, err := os.Lstat(out); err == nil {
			t.Error("the final name exists while the copy is being written")
		}
		if m, _ := filepath.Glob(filepath.Join(dir, ".b.db.writing-*")); len(m) != 1 {
			t.Errorf("the temporary copy: %v", m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup: %v %v", fi, err)
	}
	failed := filepath.Join(dir, "c.db")
	if _, err := db.backup(failed, func(kv.Tx) error { return errors.New("stop") }); err == nil {
		t.Fatal("a failing backup succeeded")
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Fatalf("a failed backup left files: %v", left)
	}
}

// TestRestoreOverMigratedCopyRefused: a backup taken before the migration
// (no mark) put over the old copy would make it take writes again beside
// the target; refused whatever the flags, naming the migration and
// --reopen-source, nothing changed. After the audited reopening the same
// restore is an ordinary rollback (review 8, finding 3).
func TestRestoreOverMigratedCopyRefused(t *testing.T) {
	db := newTestDB(t)
	backup := filepath.Join(t.TempDir(), "before.db")
	if _, err := db.VerifiedBackup(backup, nil); err != nil {
		t.Fatal(err)
	}
	markMigrated(t, db, "/srv/site.db")
	db.Close()
	before := fileSum(t, db.Path())
	_, err := Restore(db.Path(), restoreOpts(db, backup))
	if msg := lot.ErrorMessage(err); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(msg, "was migrated to /srv/site.db") || !strings.Contains(msg, "database.migrate") || !strings.Contains(msg, "reopens "+db.Path()+" as the migration's source") || !strings.Contains(msg, "nothing was changed") {
		t.Fatalf("restore of a pre-migration backup over the old copy: %v", err)
	}
	if fileSum(t, db.Path()) != before {
		t.Fatal("the refused restore changed the database")
	}
	noReplacedFile(t, db.Path())
	reopenBolt(t, db)
	if _, err := db.ReopenMigrated("alice", "target lost"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Cleanup(func() { reopenBolt(t, db) })
	if _, err := Restore(db.Path(), restoreOpts(db, backup)); err != nil {
		t.Fatalf("restore after the reopening: %v", err)
	}
}

// TestRestoreForkIsNotOlder: a backup of a copy that grew apart — here
// shorter than the database, one entry of its own — is not "older": the
// refusal names the entry where the two histories part; with
// --allow-rollback it is restored, recorded as such (review 8, findings
// 15 and 19).
func TestRestoreForkIsNotOlder(t *testing.T) {
	db := newTestDB(t)
	base := entryCount(t, db)
	fork := filepath.Join(t.TempDir(), "fork.db")
	if _, err := db.VerifiedBackup(fork, nil); err != nil {
		t.Fatal(err)
	}
	registerUC(t, db, "LOT-A")
	registerUC(t, db, "LOT-B")
	f, err := Open(fork, Options{Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	registerUC(t, f, "LOT-F")
	f.Close()
	db.Close()
	t.Cleanup(func() { reopenBolt(t, db) })
	before := fileSum(t, db.Path())
	opts := restoreOpts(db, fork)
	opts.AllowRollback = false
	_, err = Restore(db.Path(), opts)
	want := fmt.Sprintf("another history from entry %d on", base+1)
	if msg := lot.ErrorMessage(err); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(msg, want) || strings.Contains(msg, "is older") || !strings.Contains(msg, "the two histories differ") {
		t.Fatalf("restore of a shorter fork: %v, want %q", err, want)
	}
	if fileSum(t, db.Path()) != before {
		t.Fatal("the refused restore changed the database")
	}
	noReplacedFile(t, db.Path())
	rep, err := Restore(db.Path(), restoreOpts(db, fork))
	if err != nil || len(rep.Rollback) != 1 || !strings.Contains(rep.Rollback[0], fmt.Sprintf("share entries 1–%d only", base)) {
		t.Fatalf("restore of the fork with --allow-rollback: %v %q", err, rep.Rollback)
	}
}
