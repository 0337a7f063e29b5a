package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// olderFile makes db's file one an older celltrack left (schema one
// behind), closed; it returns the file's tree head before that.
func olderFile(t *testing.T, db *DB) audit.Head {
	t.Helper()
	head, err := db.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	tamperFile(t, db, func(tx kv.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(SchemaVersion-1)))
	})
	t.Cleanup(func() { reopenBolt(t, db) })
	return head
}

// openAsIs opens the file at path as a backup does, closed when the test
// ends.
func openAsIs(t *testing.T, path string, now func() time.Time) *DB {
	t.Helper()
	db, err := OpenAsIs(path, Options{Timeout: time.Second, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// noScratch fails when a scratch copy of a backup was left in dir.
func noScratch(t *testing.T, dir string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(dir, ".*.verifying-*")); len(m) > 0 {
		t.Fatalf("the scratch copy was left: %v", m)
	}
}

// TestBackupOfOlderFile is review 8's finding 18: on a file an older
// celltrack wrote, backup was refused by the very message that says to
// take one. A nurse, an admin with a wrong password, and the admin's
// backup all leave the file byte for byte; the backup is the file as it
// was (its schema, its trail: the head it reports is the file's), verified
// on an upgraded scratch copy that is removed.
func TestBackupOfOlderFile(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-A")
	head := olderFile(t, db)
	path := db.Path()
	before := fileSum(t, path)
	o := openAsIs(t, path, db.Now)
	if o.Behind() != SchemaVersion-1 {
		t.Fatalf("Behind %d, want %d", o.Behind(), SchemaVersion-1)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "pre-upgrade.db")
	for _, c := range []struct {
		name, user, password string
		code                 string
		says                 string
	}{
		{"nurse", "nina", testPassword, lot.EFORBIDDEN, "only an admin backs it up"},
		{"wrong password", "alice", "wrong", lot.EAUTH, "not counted towards the lockout"},
		{"unknown", "bob", testPassword, lot.EFORBIDDEN, `no user "bob"`},
	} {
		_, err := o.VerifiedBackupOfOlder(out, c.user, c.password)
		if lot.ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %s saying %q", c.name, err, c.code, c.says)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: a refused backup wrote %s", c.name, out)
		}
		if fileSum(t, path) != before {
			t.Fatalf("%s: the refusal changed the older file", c.name)
		}
	}
	rep, err := o.VerifiedBackupOfOlder(out, "alice", testPassword)
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("the admin's backup: %v %v", err, rep.Problems)
	}
	if rep.Head.Size != head.Size || rep.Head.Root != head.Root || rep.Head.Facility != head.Facility || rep.Entries != int(head.Size) {
		t.Fatalf("reported head %v (%d entries), want the file's %v", rep.Head, rep.Entries, head)
	}
	if fileSum(t, path) != before {
		t.Fatal("the backup changed the older file")
	}
	noScratch(t, dir)
	b := openAsIs(t, out, db.Now)
	if b.Behind() != SchemaVersion-1 {
		t.Fatalf("the backup is at schema %d behind, want the file's %d", b.Behind(), SchemaVersion-1)
	}
	if _, err := o.VerifiedBackupOfOlder(out, "alice", testPassword); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("a second backup over the first: %v", err)
	}
}

// TestBackupOfOlderFileMarksAFailingCopy: an older file whose records no
// longer agree with its trail is copied (the copy may be all there is),
// marked, and restore refuses the copy; the file itself is left as it was.
func TestBackupOfOlderFileMarksAFailingCopy(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-A")
	if err := db.engine.Update(func(tx kv.Tx) error {
		b := tx.Bucket(recordBuckets[kindLot])
		k, v := b.Cursor().First()
		return b.Put(k, []byte(strings.Replace(string(v), "LOT-A", "LOT-Z", 1)))
	}); err != nil {
		t.Fatal(err)
	}
	olderFile(t, db)
	before := fileSum(t, db.Path())
	o := openAsIs(t, db.Path(), db.Now)
	dir := t.TempDir()
	out := filepath.Join(dir, "pre-upgrade.db")
	rep, err := o.VerifiedBackupOfOlder(out, "alice", testPassword)
	if err != nil || len(rep.Problems) == 0 {
		t.Fatalf("backup of a tampered older file: %v, problems %v", err, rep.Problems)
	}
	if fileSum(t, db.Path()) != before {
		t.Fatal("the backup changed the older file")
	}
	noScratch(t, dir)
	b := openAsIs(t, out, db.Now)
	b.view(func(tx kv.Tx) error {
		if err := refuseMarked(tx, out); err == nil {
			t.Error("the copy of a failing file is not marked")
		}
		return nil
	})
}

// TestRestoreOlderBackup is review 8's finding 5: a backup taken before an
// update (older schema) was refused by restore with the generic older-file
// text. Restore upgrades its own copy, as the admin, and leaves the backup
// byte for byte; it is judged as any backup by the trail it holds (here
// older than the database: a rollback, refused unless accepted); the
// restored trail holds the upgrade, then the restore, both the admin's.
func TestRestoreOlderBackup(t *testing.T) {
	db, backup := liveAndBackup(t)
	b, err := Open(backup, Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	head, err := b.TreeHead()
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, backup, func(tx kv.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(SchemaVersion-1)))
	})
	kept, live := fileSum(t, backup), fileSum(t, db.Path())
	unchanged := func(what string) {
		t.Helper()
		if fileSum(t, backup) != kept {
			t.Fatalf("%s changed the backup", what)
		}
		if fileSum(t, db.Path()) != live {
			t.Fatalf("%s changed the database", what)
		}
		noReplacedFile(t, db.Path())
	}
	opts := restoreOpts(db, backup)
	opts.AllowRollback, opts.Reason = false, ""
	if _, err := Restore(db.Path(), opts); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "is older than the history it would replace") {
		t.Fatalf("an older backup older than the database: %v", err)
	}
	unchanged("the refused rollback")
	opts = restoreOpts(db, backup)
	opts.Actor = "nina"
	if _, err := Restore(db.Path(), opts); lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Fatalf("a nurse's restore: %v", err)
	}
	unchanged("the nurse's refused restore")

	rep, err := Restore(db.Path(), restoreOpts(db, backup))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Upgraded != SchemaVersion-1 || rep.Backup.Size != head.Size || rep.Backup.Root != head.Root {
		t.Fatalf("report: upgraded from %d, backup head %v; want %d and %v", rep.Upgraded, rep.Backup, SchemaVersion-1, head)
	}
	if fileSum(t, backup) != kept {
		t.Fatal("the restore changed the backup")
	}
	r, err := Open(db.Path(), Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v, err := r.Verify()
	if err != nil || !v.OK() {
		t.Fatalf("the restored database verifies: %v %v", err, v.Problems)
	}
	all, err := r.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(all)) != head.Size+2 {
		t.Fatalf("%d entries, want the backup's %d, the upgrade and the restore", len(all), head.Size)
	}
	up, re := all[len(all)-2], all[len(all)-1]
	if up.Action != string(audit.DatabaseUpgrade) || up.User != "alice" || re.Action != "database.restore" || re.User != "alice" {
		t.Fatalf("the last two entries: %s by %s, %s by %s", up.Action, up.User, re.Action, re.User)
	}
	if !strings.Contains(re.Reason, fmt.Sprintf("of schema %d, its copy upgraded to %d at entry %d", SchemaVersion-1, SchemaVersion, head.Size+1)) {
		t.Fatalf("the restore's reason does not say its copy was upgraded: %s", re.Reason)
	}
}

// TestRestoreOlderBackupOverDamagedFile: with the database unreadable the
// admin's password is checked in the backup — before its copy is
// upgraded; a wrong one restores nothing and leaves the backup as it was.
func TestRestoreOlderBackupOverDamagedFile(t *testing.T) {
	db, backup := liveAndBackup(t)
	rawUpdate(t, backup, func(tx kv.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(SchemaVersion-1)))
	})
	raw := damageMetaPages(t, db)
	kept := fileSum(t, backup)
	opts := restoreOpts(db, backup)
	opts.Password = "wrong"
	if _, err := Restore(db.Path(), opts); lot.ErrorCode(err) != lot.EAUTH || !strings.Contains(err.Error(), "checked in the backup") {
		t.Fatalf("a wrong password over a damaged file: %v", err)
	}
	if fileSum(t, backup) != kept || fileSum(t, db.Path()) != sumOf(raw) {
		t.Fatal("the refused restore changed the backup or the damaged file")
	}
	noReplacedFile(t, db.Path())
	rep, err := Restore(db.Path(), restoreOpts(db, backup))
	if err != nil || rep.Upgraded != SchemaVersion-1 || !rep.Unproven {
		t.Fatalf("restore over a damaged file: %v %+v", err, rep)
	}
	if fileSum(t, backup) != kept {
		t.Fatal("the restore changed the backup")
	}
}

// TestRestoreOlderBackupJudgedByItsOwnTrail: the copy of an older backup
// ends with the upgrade restore made, entry N+1 of its trail, which is no
// part of the backup. A kept checkpoint of the database at N+1 entries
// (what the database had recorded since the backup — its own upgrade,
// say) is then a checkpoint the backup does not reach, a rollback to be
// accepted, not one the backup contradicts: it is checked against the
// backup's N entries, and the restore records rolling back over it.
func TestRestoreOlderBackupJudgedByItsOwnTrail(t *testing.T) {
	db, backup := liveAndBackup(t)
	b := openAsIs(t, backup, db.Now)
	head, err := b.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	reopenBolt(t, db)
	var next audit.Head
	if err := db.view(func(tx kv.Tx) (err error) { next, err = headAt(tx, head.Size+1); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rawUpdate(t, backup, func(tx kv.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("schema"), []byte(fmt.Sprint(SchemaVersion-1)))
	})
	opts := restoreOpts(db, backup)
	opts.AllowRollback, opts.Reason = false, ""
	opts.Kept = []KeptCheckpoint{{Name: "report", Printed: &next}}
	_, err = Restore(db.Path(), opts)
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "older than the history it would replace") || strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a kept checkpoint one entry past the older backup: %v", err)
	}
	noReplacedFile(t, db.Path())
	opts.AllowRollback, opts.Reason = true, "test"
	rep, err := Restore(db.Path(), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("the kept checkpoint report is of %d entries; the backup has %d", head.Size+1, head.Size)
	if len(rep.Rollback) == 0 || rep.Rollback[0] != want {
		t.Fatalf("rollback %q, want first %q", rep.Rollback, want)
	}
}

// TestOlderWords: a file of this version that needs an upgrade lacks a
// bucket; it is not called older than itself.
func TestOlderWords(t *testing.T) {
	for _, c := range []struct {
		v    int
		want string
	}{
		{SchemaVersion - 1, fmt.Sprintf("at schema version %d, older than this celltrack's %d", SchemaVersion-1, SchemaVersion)},
		{SchemaVersion, fmt.Sprintf("at schema version %d but lacking buckets of its key schema", SchemaVersion)},
	} {
		if got := OlderWords(c.v); got != c.want {
			t.Errorf("OlderWords(%d) = %q, want %q", c.v, got, c.want)
		}
	}
}

// TestBackupOfOlderFileOneTimePasswordSignsNothing: on a file of an older
// schema the password is checked without writing (proveOlder), and a
// one-time password an admin typed signs nothing there either, as on a
// file of this schema (review 12, finding B): EPASSWORD, no backup, the
// file byte for byte.
func TestBackupOfOlderFileOneTimePasswordSignsNothing(t *testing.T) {
	db := newTestDB(t)
	const otp = "pewter-lagoon-osprey-64"
	if _, err := db.AddUser("alice", audit.User{Name: "bob", FullName: "Bob Kerr", Role: audit.Admin}, "amber-fjord-cobalt-77", testPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResetPassword("alice", "bob", otp, "forgot it", nil); err != nil {
		t.Fatal(err)
	}
	olderFile(t, db)
	path := db.Path()
	before := fileSum(t, path)
	o := openAsIs(t, path, db.Now)
	out := filepath.Join(t.TempDir(), "pre-upgrade.db")
	_, err := o.VerifiedBackupOfOlder(out, "bob", otp)
	if lot.ErrorCode(err) != lot.EPASSWORD || !strings.Contains(err.Error(), "the password of bob must be changed before bob can sign") {
		t.Errorf("backup of an older file signed with bob's one-time password: %v, want EPASSWORD naming the password to change", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused backup wrote %s", out)
	}
	if fileSum(t, path) != before {
		t.Errorf("the refusal changed the older file")
	}
}
