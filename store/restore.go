package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/mod/sumdb/tlog"
)

// metaBackup marks a backup copy taken from a database that failed its
// verification; restore refuses such a copy.
var metaBackup = []byte("backup")

type backupMark struct {
	Taken    time.Time `json:"taken"`
	From     string    `json:"from"`
	Verified bool      `json:"verified"`
	Problems []string  `json:"problems"`
}

// BackupReport is what a verified backup found and wrote.
type BackupReport struct {
	Bytes    int64
	Head     audit.Head // the tree head of the copy
	Entries  int
	Problems []string // the source's verification problems; the copy is marked
}

// VerifiedBackup verifies the database — bbolt's page check and the whole of
// `audit verify` — and copies it to a new file at path, both from one read
// transaction, so the copy is exactly what was verified. A source that
// fails is still copied (the copy may be all there is), but the copy is
// marked in its meta as taken from a tampered or damaged database, with the
// problems, and the caller exits non-zero; `restore` refuses a marked copy.
func (db *DB) VerifiedBackup(path string) (BackupReport, error) {
	var rep BackupReport
	n, err := db.backup(path, func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			rep.Problems = append(rep.Problems, "page check: "+err.Error())
		}
		v, err := verifyTx(tx)
		if err != nil {
			return err
		}
		rep.Problems = append(rep.Problems, v.Problems...)
		rep.Entries = v.Entries
		rep.Head, err = treeHead(tx)
		if err != nil && len(rep.Problems) == 0 {
			return err
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Bytes = n
	if len(rep.Problems) == 0 {
		return rep, nil
	}
	mark, _ := json.Marshal(backupMark{Taken: db.now(), From: db.path, Verified: false, Problems: rep.Problems})
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err == nil {
		err = b.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(metaBackup, mark) })
		if cerr := b.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return rep, fmt.Errorf("mark the backup %s as taken from a database that failed verification: %w", path, err)
	}
	return rep, nil
}

// MeaningRestore is what the administrator's password confirms at a restore.
const MeaningRestore = "restored the database from a backup"

// RestoreOptions says what to restore and what the restore may undo.
type RestoreOptions struct {
	From  string // the backup file
	Actor string // an admin in the backup
	// Password is the actor's: a restore must work when the live file is
	// damaged, so it authenticates by password rather than by a session —
	// against the live file when it opens (a wrong one counts towards the
	// lockout there), else against the backup.
	Password string
	// Facility is the facility the admin says the database is, needed only
	// when the database does not open: the backup must be of it.
	Facility string
	// Kept are checkpoints kept outside the database (the witness copies);
	// a backup older than one of them is a rollback.
	Kept          []KeptCheckpoint
	AllowRollback bool
	Reason        string // required with AllowRollback
	Timeout       time.Duration
	Now           func() time.Time
}

// RestoreReport is what a restore did.
type RestoreReport struct {
	Backup   audit.Head // the tree head of the backup, now the database's
	Replaced string     // where the replaced file is kept
	Live     audit.Head // the replaced file's tree head (zero if unreadable)
	LiveRead bool
	Rollback []string // what the backup undoes, when AllowRollback let it
}

// Restore replaces the database at path with a verified backup. It refuses
// (ECONFLICT, nothing touched) a backup that fails bbolt's page check or
// `audit verify`, one marked as taken from a tampered database, one of
// another facility, one that contradicts a kept checkpoint (a forgery, or a
// fork), and — unless opts.AllowRollback with a reason — one older than a
// kept checkpoint or than the database it replaces (a rollback: entries since
// would vanish). The database must not be in use: Restore holds its lock
// (EBUSY while a server or another command has it). The replaced file is
// kept beside it, path + ".replaced-" + time, and the restore is recorded
// in the restored trail as opts.Actor's entry, which a later `audit verify
// --checkpoint` can be read against.
func Restore(path string, opts RestoreOptions) (RestoreReport, error) {
	var rep RestoreReport
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AllowRollback {
		if err := lot.ValidateText("--reason", opts.Reason, true); err != nil {
			return rep, lot.Errorf(lot.EUSAGE, "--allow-rollback needs --reason: say why entries made since the backup may be undone")
		}
	}
	if _, err := os.Stat(opts.From); errors.Is(err, fs.ErrNotExist) {
		return rep, lot.Errorf(lot.ENOTFOUND, "--from %s: no such file; give the backup file `celltrack backup` wrote", opts.From)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return rep, lot.Errorf(lot.ENODB, "no database at %s to restore over; check --db or CELLTRACK_DB (restore replaces an existing database and keeps it; when the file is lost, copy the backup into place and run `celltrack check`)", path)
	}
	if sameFile(path, opts.From) {
		return rep, lot.Errorf(lot.EINVALID, "--from %s is the database itself; give a backup file", opts.From)
	}

	// 1. The live file, locked for the whole restore so that no other
	// celltrack writes to it meanwhile; the acting user must be an admin
	// there (or, when it cannot be read, in the backup).
	live, err := Open(path, Options{Timeout: opts.Timeout, Now: opts.Now})
	switch {
	case lot.ErrorCode(err) == lot.EBUSY:
		return rep, lot.Errorf(lot.EBUSY, "%s is in use by another celltrack (a server, or another command); stop it before restoring", path)
	case err == nil:
		defer func() {
			if live != nil {
				live.Close()
			}
		}()
		u, err := live.User(opts.Actor)
		if err != nil {
			return rep, err
		}
		if err := audit.Authorize(u, audit.DatabaseRestore); err != nil {
			return rep, err
		}
		if _, err := live.checkPasswordOf(u, opts.Password, "signature.refused", "wrong password for signature: "+MeaningRestore); err != nil {
			return rep, err
		}
		if h, herr := live.TreeHead(); herr == nil {
			rep.Live, rep.LiveRead = h, true
		}
	}
	// A damaged file is a reason to restore; the kept checkpoints are then
	// the only record of how far the trail had come.

	// 2. The backup, read-only: sound, verified, consistent with every
	// kept checkpoint, with opts.Actor an admin in it (the restore is
	// recorded as theirs in the restored trail).
	bk, err := Open(opts.From, Options{ReadOnly: true, Timeout: opts.Timeout, Now: opts.Now})
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrChecksum) {
		return rep, lot.Errorf(lot.EINVALID, "--from %s is not a celltrack database (%v); give the backup file `celltrack backup` wrote", opts.From, err)
	} else if err != nil {
		return rep, lot.Errorf(lot.ErrorCode(err), "--from %s: %s", opts.From, lot.ErrorMessage(err))
	}
	var ahead []CheckpointResult
	err = func() error {
		defer bk.Close()
		var mark []byte
		bk.view(func(tx *bolt.Tx) error { mark = append(mark, tx.Bucket(bMeta).Get(metaBackup)...); return nil })
		if mark != nil {
			return lot.Errorf(lot.ECONFLICT, "--from %s was taken from a database that failed its verification (%s); it is not restored — choose an earlier backup", opts.From, mark)
		}
		u, err := bk.User(opts.Actor)
		if err != nil {
			return lot.Errorf(lot.ECONFLICT, "--from %s: %s; the restore is recorded in the restored trail as its admin's, so restore as an admin the backup knows", opts.From, lot.ErrorMessage(err))
		}
		if err := audit.Authorize(u, audit.DatabaseRestore); err != nil {
			return lot.Errorf(lot.ECONFLICT, "--from %s: %s (in the backup); restore as an admin the backup knows", opts.From, lot.ErrorMessage(err))
		}
		if live == nil && !audit.CheckPassword(u.Hash, opts.Password) {
			// The live file cannot be read: the backup's account is the
			// only one to check. Nothing can count the failure, so it
			// costs the same delay as any wrong password.
			time.Sleep(FailedPasswordDelay)
			return lot.Errorf(lot.EAUTH, "wrong password for user %s (checked in the backup %s, as the database does not open); nothing was restored", opts.Actor, opts.From)
		}
		var problems []string
		for _, e := range bk.Check() {
			problems = append(problems, "page check: "+e.Error())
		}
		cv, err := bk.VerifyCheckpoints(opts.Kept)
		if err != nil {
			return err
		}
		for _, r := range cv.Checkpoints {
			if r.Ahead {
				ahead = append(ahead, r)
			}
		}
		for _, p := range cv.Problems {
			if !isAhead(p, ahead) {
				problems = append(problems, p)
			}
		}
		if len(problems) > 0 {
			return lot.Errorf(lot.ECONFLICT, "--from %s fails verification, so it is not restored and nothing was changed:\n  %s", opts.From, strings.Join(problems, "\n  "))
		}
		rep.Backup = cv.Tree
		return nil
	}()
	if err != nil {
		return rep, err
	}
	for _, r := range ahead {
		rep.Rollback = append(rep.Rollback, fmt.Sprintf("the kept checkpoint %s is of %d entries; the backup has %d", r.Name, r.Head.Size, rep.Backup.Size))
	}

	if !rep.LiveRead {
		// Nothing to compare the backup's facility with: the admin names it.
		switch {
		case opts.Facility == "":
			return rep, lot.Errorf(lot.ECONFLICT, "%s does not open, so the facility of --from %s (%s) cannot be compared with it; if %s is this database's facility, repeat with --facility %s — nothing was changed", path, opts.From, rep.Backup.Facility, rep.Backup.Facility, rep.Backup.Facility)
		case opts.Facility != rep.Backup.Facility:
			return rep, lot.Errorf(lot.ECONFLICT, "--from %s is a backup of facility %s, not of --facility %s — nothing was changed", opts.From, rep.Backup.Facility, opts.Facility)
		}
	}
	if rep.LiveRead {
		if rep.Live.Facility != rep.Backup.Facility {
			return rep, lot.Errorf(lot.ECONFLICT, "--from %s is a backup of facility %s; %s is facility %s — nothing was changed", opts.From, rep.Backup.Facility, path, rep.Live.Facility)
		}
		if rep.Live.Size > rep.Backup.Size {
			rep.Rollback = append(rep.Rollback, fmt.Sprintf("%s has %d entries; the backup has %d: %s since would vanish from the database", path, rep.Live.Size, rep.Backup.Size, EntryRange(rep.Backup.Size+1, rep.Live.Size)))
		} else if ok, err := extends(opts.From, rep.Backup, rep.Live); err != nil {
			return rep, err
		} else if !ok {
			rep.Rollback = append(rep.Rollback, fmt.Sprintf("%s (%d entries) is not a prefix of the backup's trail: the two histories differ", path, rep.Live.Size))
		}
	}
	if len(rep.Rollback) > 0 && !opts.AllowRollback {
		return rep, lot.Errorf(lot.ECONFLICT, "--from %s is older than the history it would replace, so nothing was changed:\n  %s\nrestoring it would roll the audit trail back; if that is what must happen, repeat with --allow-rollback --reason \"…\" (the restore and the reason are recorded)", opts.From, strings.Join(rep.Rollback, "\n  "))
	}

	// 3. The swap: the backup is copied next to the database, synced, and
	// renamed over it after the database is renamed aside.
	now := opts.Now().UTC()
	rep.Replaced = fmt.Sprintf("%s.replaced-%s", path, now.Format("20060102T150405Z"))
	for i := 2; ; i++ { // never over an earlier replaced file
		if _, err := os.Lstat(rep.Replaced); errors.Is(err, fs.ErrNotExist) {
			break
		}
		rep.Replaced = fmt.Sprintf("%s.replaced-%s-%d", path, now.Format("20060102T150405Z"), i)
	}
	tmp := path + ".restoring"
	if err := copyFile(opts.From, tmp); err != nil {
		return rep, err
	}
	if err := os.Rename(path, rep.Replaced); err != nil {
		os.Remove(tmp)
		return rep, fmt.Errorf("keep the replaced database as %s: %w", rep.Replaced, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Rename(rep.Replaced, path)
		return rep, fmt.Errorf("put the backup in place at %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	if live != nil {
		live.Close()
		live = nil
	}

	// 4. The restore is the restored trail's next entry.
	db, err := Open(path, Options{Timeout: opts.Timeout, Now: opts.Now})
	if err != nil {
		return rep, fmt.Errorf("the backup is in place at %s but could not be opened to record the restore: %w", path, err)
	}
	defer db.Close()
	reason := fmt.Sprintf("restored from %s (%d entries, root %s); the replaced file is kept at %s", opts.From, rep.Backup.Size, audit.RootString(rep.Backup.Root), rep.Replaced)
	if rep.LiveRead {
		reason += fmt.Sprintf(" (%d entries, root %s)", rep.Live.Size, audit.RootString(rep.Live.Root))
	} else {
		reason += " (unreadable)"
	}
	if len(rep.Rollback) > 0 {
		reason += "; ROLLBACK allowed: " + opts.Reason + " — " + strings.Join(rep.Rollback, "; ")
	}
	err = db.update(opts.Actor, audit.DatabaseRestore, func(w *writer) error {
		return w.event(kindUser, w.actor.ID, "database.restore", reason)
	})
	if err != nil {
		return rep, fmt.Errorf("the backup is in place at %s but the restore could not be recorded: %w", path, err)
	}
	return rep, nil
}

// isAhead reports whether problem p is that of a checkpoint in ahead.
func isAhead(p string, ahead []CheckpointResult) bool {
	for _, r := range ahead {
		if p == r.Problem {
			return true
		}
	}
	return false
}

// extends reports whether the backup's tree (head b) has the live file's
// tree (head l) as a prefix.
func extends(backup string, b, l audit.Head) (bool, error) {
	if l.Size == 0 {
		return true, nil
	}
	bk, err := Open(backup, Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return false, err
	}
	defer bk.Close()
	var ok bool
	err = bk.view(func(tx *bolt.Tx) error {
		p, err := tlog.ProveTree(b.Size, l.Size, bucketHashes{tx.Bucket(bAuditTree)})
		ok = err == nil && tlog.CheckTree(p, b.Size, b.Root, l.Size, l.Root) == nil
		return nil
	})
	return ok, err
}

// sameFile reports whether a and b are one file.
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// copyFile copies src to a new file dst (0600), synced.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return lot.Errorf(lot.ECONFLICT, "%s exists: an earlier restore was interrupted; remove it after checking it is not needed, and run restore again", dst)
	} else if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
