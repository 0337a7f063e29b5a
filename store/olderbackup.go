package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"golang.org/x/mod/sumdb/tlog"
)

// A file an older celltrack wrote is refused by every command until an
// admin upgrades it, and the refusal says to take a backup first. Backing
// it up and restoring a backup taken before an update must therefore work
// without upgrading (writing) the file itself: backup reads it, as it is,
// and verifies an upgraded scratch copy of what it wrote; restore upgrades
// its own copy of the backup (NAME.restoring), never the backup. Neither
// has a session to go by (only an admin's login upgrades an older file, and
// a login writes): the admin gives their password, checked read-only, as
// restore checks it.

// OpenAsIs opens the database file at path read-only, leaving a schema an
// older celltrack wrote as it is (Behind says which), for a backup or a
// check of a kept backup: a backup of such a file is VerifiedBackupOfOlder's,
// by an admin's password. Anything else is refused as Open refuses it; on
// PostgreSQL an older schema is refused too (its backups are the server's
// tools').
func OpenAsIs(path string, opts Options) (*DB, error) {
	opts.ReadOnly, opts.Create = true, false
	opts.keepSchema = !IsPostgres(path)
	return Open(path, opts)
}

// OlderWords says, for a message, how a file of schema v that needs an
// upgrade (Behind) stands to this celltrack: "at schema version 12, older
// than this celltrack's 13", or, for one of this version that lacks a
// bucket of its key schema, that it does.
func OlderWords(v int) string {
	if v >= SchemaVersion {
		return fmt.Sprintf("at schema version %d but lacking buckets of its key schema", v)
	}
	return fmt.Sprintf("at schema version %d, older than this celltrack's %d", v, SchemaVersion)
}

// proveOlder checks, reading only, that u gave their password, one they
// may sign with (refuseMustChange), on db, a file of an older schema
// (db.behind, or schema) at path that what — "restored", "written" — must
// not write into: a wrong password is not counted towards the lockout
// (counting it would write to the file), and costs FailedPasswordDelay as
// a counted one does.
func (db *DB) proveOlder(u audit.User, password, path string, schema int, what string) error {
	if u.Disabled {
		return lot.Errorf(lot.EFORBIDDEN, "user %s is disabled and cannot sign; another user signs, or an admin enables the account", u.Name).Run("user enable " + u.Name)
	}
	if err := audit.CheckLogin(u, db.now()); err != nil {
		return err
	}
	if !audit.CheckPassword(u.Hash, password) {
		time.Sleep(FailedPasswordDelay)
		return lot.Errorf(lot.EAUTH, "wrong password for user %s; nothing was %s (not counted towards the lockout: %s is %s, and nothing is written into it)", u.Name, what, path, OlderWords(schema))
	}
	return db.refuseMustChange(u)
}

// VerifiedBackupOfOlder is VerifiedBackup of a file an older celltrack
// wrote (opened by OpenAsIs; db.Behind() > 0), as actor, an admin who
// proves their password, checked without writing anything. The file is
// read and copied to path as it is, from one read transaction, which also
// writes a scratch copy beside path; the scratch copy is upgraded as actor
// (what restore does to its copy of the backup) and verified — bbolt's page
// check and the whole of `audit verify` — then removed. The report's Head
// and Entries are the backup's own trail (the upgrade's entry, which exists
// only in the scratch copy, is not counted); a copy that fails, or that
// cannot be upgraded, is marked as VerifiedBackup marks one. The file at
// db's path is left byte for byte. No checkpoint is signed: sign one of the
// upgraded database.
func (db *DB) VerifiedBackupOfOlder(path, actor, password string) (BackupReport, error) {
	var rep BackupReport
	if db.behind == 0 {
		return rep, lot.Errorf(lot.EINTERNAL, "%s is up to date: back it up with VerifiedBackup", db.path)
	}
	u, err := db.User(actor)
	if err != nil {
		return rep, err
	}
	// The backup holds every password hash, and verifying it means
	// upgrading a copy: an admin's, as only an admin upgrades.
	if err := audit.Authorize(u, audit.DatabaseUpgrade); err != nil {
		return rep, lot.Wrapf(err, lot.EFORBIDDEN, "%s; %s is %s, and only an admin backs it up (its copy is verified by upgrading it) — ask an admin; nothing was written", lot.ErrorMessage(err), db.path, OlderWords(db.behind))
	}
	if err := db.proveOlder(u, password, db.path, db.behind, "written"); err != nil {
		return rep, err
	}
	scratch, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".verifying-*")
	if err != nil {
		return rep, lot.FieldErrorf("out", lot.EINVALID, "the backup file %s cannot be written beside: %v", path, err)
	}
	defer os.Remove(scratch.Name())
	n, err := db.backup(path, func(tx kv.Tx) error {
		wt, ok := tx.(io.WriterTo)
		if !ok {
			return lot.Errorf(lot.EINVALID, "%s cannot be copied as a file", db.path)
		}
		for _, e := range checkPages(tx) {
			rep.Problems = append(rep.Problems, "page check: "+e.Error())
		}
		rep.Entries = int(trailSize(tx))
		_, err := wt.WriteTo(scratch)
		if err == nil {
			err = scratch.Sync()
		}
		if cerr := scratch.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return rep, err
	}
	rep.Bytes = n
	if len(rep.Problems) == 0 {
		var problems []string
		rep.Head, problems = verifyUpgraded(scratch.Name(), actor, int64(rep.Entries), db.Now)
		rep.Problems = append(rep.Problems, problems...)
	}
	if len(rep.Problems) > 0 {
		err := db.markFailedBackup(path, &rep)
		return rep, err
	}
	return rep, nil
}

// verifyUpgraded upgrades the scratch copy at path as actor and verifies
// it, returning the tree head of its first size entries (the trail as
// copied: the upgrade keeps every hash) and every problem found; an
// upgrade that fails is one.
func verifyUpgraded(path, actor string, size int64, now func() time.Time) (audit.Head, []string) {
	up, _, err := OpenForUpgrade(path, Options{Timeout: time.Second, Now: now})
	if err == nil {
		_, _, err = up.Upgrade(actor)
		up.Close()
	}
	if err != nil {
		return audit.Head{}, []string{"the copy cannot be upgraded to this celltrack's schema to be verified, so neither can a restore of it: " + lot.ErrorMessage(err)}
	}
	s, err := Open(path, Options{ReadOnly: true, Timeout: time.Second, Now: now})
	if err != nil {
		return audit.Head{}, []string{"the upgraded copy does not open: " + lot.ErrorMessage(err)}
	}
	defer s.Close()
	var head audit.Head
	var problems []string
	err = s.view(func(tx kv.Tx) (err error) {
		if _, problems, err = verifyAll(tx); err != nil {
			return err
		}
		head, err = headAt(tx, size)
		return err
	})
	if err != nil && len(problems) == 0 {
		problems = append(problems, lot.ErrorMessage(err))
	}
	return head, problems
}

// verifyAll runs bbolt's page check and the whole of `audit verify` in
// tx: the verification, and every problem either finds.
func verifyAll(tx kv.Tx) (Verification, []string, error) {
	var problems []string
	for _, e := range checkPages(tx) {
		problems = append(problems, "page check: "+e.Error())
	}
	v, err := verifyTx(tx)
	if err != nil {
		return v, problems, err
	}
	return v, append(problems, v.Problems...), nil
}

// headAt is the tree head of tx's first size entries.
func headAt(tx kv.Tx, size int64) (audit.Head, error) {
	h := audit.Head{Facility: string(tx.Bucket(bMeta).Get([]byte("facility"))), Size: size}
	if size == 0 {
		return h, nil
	}
	var err error
	h.Root, err = tlog.TreeHash(size, newTreeHashes(tx))
	return h, err
}

// markFailedBackup marks the backup at path as taken from a database that
// failed its verification, with rep's problems: restore refuses it. The
// mark may grow the file: rep.Bytes is its size after.
func (db *DB) markFailedBackup(path string, rep *BackupReport) error {
	mark, _ := json.Marshal(backupMark{Taken: db.now(), From: db.path, Verified: false, Problems: rep.Problems})
	b, err := boltkv.Open(path, &boltkv.Options{Timeout: time.Second})
	if err == nil {
		err = b.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put(metaBackup, mark) })
		if cerr := b.Close(); err == nil {
			err = cerr
		}
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Stat(path)
	}
	if err != nil {
		return fmt.Errorf("mark the backup %s as taken from a database that failed verification: %w", path, err)
	}
	rep.Bytes = fi.Size()
	return nil
}

// openBackupCopy opens restore's copy of the backup (tmp) read-only. The
// copy of a backup an older celltrack wrote (one taken before an update)
// is first upgraded, as opts.Actor, who must be an admin in it: the
// upgrade is the restored trail's entry before the restore's, and
// rep.Upgraded says from which schema. The backup file itself is never
// written. unproven says the actor's password has not been checked (the
// live file does not open): it is then checked in the copy before it is
// upgraded.
func openBackupCopy(tmp string, unproven bool, opts RestoreOptions, rep *RestoreReport) (*DB, error) {
	o := Options{ReadOnly: true, keepSchema: true, Timeout: opts.Timeout, Now: opts.Now}
	bk, err := Open(tmp, o)
	if err != nil {
		return nil, backupOpenError(err, tmp, opts.From)
	}
	from := bk.behind
	if from == 0 {
		return bk, nil
	}
	// What is refused whatever its schema is refused before the copy is
	// upgraded: a marked backup, a wrong password.
	err = bk.view(func(tx kv.Tx) error { return refuseMarked(tx, opts.From) })
	if err == nil && unproven {
		var u audit.User
		if u, err = bk.User(opts.Actor); err == nil {
			err = proveInBackup(bk, u, opts)
		} else {
			err = notInBackup(opts.From, err)
		}
	}
	bk.Close()
	if err != nil {
		return nil, err
	}
	up, _, err := OpenForUpgrade(tmp, Options{Timeout: opts.Timeout, Now: opts.Now})
	if err == nil {
		_, _, err = up.Upgrade(opts.Actor)
		up.Close()
	}
	if err != nil {
		return nil, lot.FieldErrorf("from", lot.ECONFLICT, "the backup %s is %s (taken before an update): restore upgrades its own copy of it as %s, recorded in the restored trail, and that failed: %s — restore as an admin the backup knows; nothing was restored, and the backup is left as it was", opts.From, OlderWords(from), opts.Actor, strings.ReplaceAll(lot.ErrorMessage(err), tmp, opts.From))
	}
	o.keepSchema = false
	if bk, err = Open(tmp, o); err != nil {
		return nil, backupOpenError(err, tmp, opts.From)
	}
	rep.Upgraded = from
	return bk, nil
}

// backupOpenError words why restore's copy tmp of the backup from does
// not open.
func backupOpenError(err error, tmp, from string) error {
	if errors.Is(err, boltkv.ErrInvalid) || errors.Is(err, boltkv.ErrVersionMismatch) || errors.Is(err, boltkv.ErrChecksum) {
		return lot.FieldErrorf("from", lot.EINVALID, "the backup file %s is not a celltrack database (%v); give the file a backup wrote", from, err)
	}
	return lot.FieldErrorf("from", lot.ErrorCode(err), "the backup file %s: %s", from, strings.ReplaceAll(lot.ErrorMessage(err), tmp, from))
}

// refuseMarked refuses a backup marked as taken from a database that
// failed its verification.
func refuseMarked(tx kv.Tx, from string) error {
	if mark := tx.Bucket(bMeta).Get(metaBackup); mark != nil {
		return lot.FieldErrorf("from", lot.ECONFLICT, "the backup %s was taken from a database that failed its verification (%s); it is not restored — choose an earlier backup", from, mark)
	}
	return nil
}

// proveInBackup checks opts.Password against u, the actor's account in
// bk, the backup, when the live file cannot be read: the backup's account
// is then the only one to check, and a password that must be changed
// there signs no restore (refuseMustChange). Nothing can count a wrong
// password, so it costs the same delay as any wrong password.
func proveInBackup(bk *DB, u audit.User, opts RestoreOptions) error {
	if !audit.CheckPassword(u.Hash, opts.Password) {
		time.Sleep(FailedPasswordDelay)
		return lot.Errorf(lot.EAUTH, "wrong password for user %s (checked in the backup %s, as the database does not open); nothing was restored", opts.Actor, opts.From)
	}
	return bk.refuseMustChange(u)
}
