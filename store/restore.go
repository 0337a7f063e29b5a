package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
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
	// Checkpoint is the signed checkpoint of Head, when a signer was given
	// and the source verified.
	Checkpoint []byte
	// RolledBack names the kept checkpoints a recorded restore rolled
	// back over (see SignCheckpointOver).
	RolledBack []string
}

// VerifiedBackup verifies the database — bbolt's page check and the whole of
// `audit verify` — and copies it to a new file at path, both from one read
// transaction, so the copy is exactly what was verified. A source that
// fails is still copied (the copy may be all there is), but the copy is
// marked in its meta as taken from a tampered or damaged database, with the
// problems, and the caller exits non-zero; `restore` refuses a marked copy.
//
// With a signer (the database's active checkpoint key, checked in the same
// transaction before anything is written), a verified copy's tree head —
// the one computed in the transaction that wrote the copy, never one read
// back from the file — is signed into rep.Checkpoint, after the file at
// path is read back and found to have that head (ECONFLICT otherwise: the
// file was changed or replaced after it was written, and nothing is signed).
func (db *DB) VerifiedBackup(path string, signer note.Signer) (BackupReport, error) {
	return db.VerifiedBackupOver(path, signer, nil)
}

// VerifiedBackupOver is VerifiedBackup for a signer whose checkpoints are
// kept together (the witness folder, with the backup's own checkpoint):
// with a signer, a trail that does not extend every checkpoint in kept — a
// file rolled back, cut or forked since — is refused (ECONFLICT) before
// anything is written or signed, as SignCheckpointOver refuses it.
func (db *DB) VerifiedBackupOver(path string, signer note.Signer, kept []KeptCheckpoint) (BackupReport, error) {
	var rep BackupReport
	n, err := db.backup(path, func(tx kv.Tx) error {
		if signer != nil {
			if err := checkSigner(tx, signer); err != nil {
				return err
			}
			rolled, err := refuseUnextended(tx, kept, "no backup was written and nothing was signed")
			if err != nil {
				return err
			}
			rep.RolledBack = rolled
		}
		v, problems, err := verifyAll(tx)
		if err != nil {
			return err
		}
		rep.Problems = append(rep.Problems, problems...)
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
		if signer != nil {
			if testHook != nil {
				testHook("backup written")
			}
			if err := checkCopyHead(path, rep.Head); err != nil {
				return rep, err
			}
			head := rep.Head
			head.Time = db.now()
			rep.Checkpoint, err = note.Sign(&note.Note{Text: string(audit.FormatCheckpoint(head))}, signer)
			if err != nil {
				return rep, err
			}
			rep.Head = head
		}
		return rep, nil
	}
	err = db.markFailedBackup(path, &rep)
	return rep, err
}

// checkCopyHead reads the backup at path back and refuses it unless its
// tree head is want: a checkpoint is signed only for the file that holds
// what was verified.
func checkCopyHead(path string, want audit.Head) error {
	b, err := Open(path, Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return lot.Wrapf(err, lot.ECONFLICT, "the backup %s was written and verified, but reading it back failed (%s), so its checkpoint was not signed — the file was changed or replaced after it was written", path, lot.ErrorMessage(err))
	}
	defer b.Close()
	got, err := b.TreeHead()
	if err != nil {
		return lot.Wrapf(err, lot.ECONFLICT, "the backup %s was written with the tree head %s, but its tree cannot be read back (%s), so its checkpoint was not signed — the file was changed or replaced after it was written; take the backup again", path, want, lot.ErrorMessage(err))
	}
	if got.Size != want.Size || got.Root != want.Root || got.Facility != want.Facility {
		return lot.Errorf(lot.ECONFLICT, "the backup %s was written with the tree head %s, but the file now has %s, so its checkpoint was not signed — the file was changed or replaced after it was written; take the backup again", path, want, got)
	}
	return nil
}

// testHook, when a test sets it, is called at the named stages of a
// restore, a backup or a login, so that a test can change files or records
// there as an attacker (or the account's owner) racing the command would.
var testHook func(stage string)

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
	Kept []KeptCheckpoint
	// Pinned are verifier keys from outside the database; when given, the
	// kept checkpoints are checked against them alone, and the backup must
	// register each of them.
	Pinned        []PinnedVerifier
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
	// Keys says which verifier keys the kept checkpoints were checked
	// against ("" when none were given).
	Keys string
	// Unproven is set when the replaced file could not be read, so that
	// whether the backup is older could not be read from it: the restore
	// then needed --allow-rollback or the kept checkpoints (Witness).
	Unproven bool
	// Witness says, when the replaced file could not be read, what the kept
	// checkpoints showed instead ("" when none were given).
	Witness string
	// Upgraded is the schema of a backup an older celltrack wrote (taken
	// before an update), whose copy restore upgraded as the actor, in
	// entry Backup.Size+1 of the restored trail; 0 when the backup was
	// up to date.
	Upgraded int
}

// Restore replaces the database at path with a verified backup. It refuses
// (ECONFLICT, nothing touched) a backup that fails bbolt's page check or
// `audit verify`, one marked as taken from a tampered database, one of
// another facility, one that contradicts a kept checkpoint (a forgery, or a
// fork), and — unless opts.AllowRollback with a reason — one older than a
// kept checkpoint or than the database it replaces (a rollback: entries since
// would vanish). The database must not be in use: Restore holds its lock
// (EBUSY while a server or another command has it) for the whole restore,
// also when the file is damaged. Only damage — bbolt finds no valid meta
// page, a checksum fails, the file is empty or its pages cannot be read —
// lets a restore replace a file it cannot read; any other reason it does not
// open (permissions, a newer schema, a directory, a symbolic link, a bbolt
// file that is not celltrack's) is refused with that reason. A live file of
// an older schema is read, never upgraded: a refused restore writes nothing.
// A backup of an older schema (taken before an update) is restored through
// its copy, upgraded as opts.Actor (openBackupCopy) and judged by the trail
// it held; the backup file itself is never written.
//
// The backup is first copied beside the database (path + ".restoring"),
// and that copy — the very bytes put in place — is what is verified and
// compared with the live file and the kept checkpoints; it is then renamed
// over the database after the database is renamed aside. The replaced file
// is kept as path + ".replaced-" + time, and the restore is recorded in the
// restored trail as opts.Actor's entry, which a later `audit verify
// --checkpoint` can be read against.
func Restore(path string, opts RestoreOptions) (RestoreReport, error) {
	var rep RestoreReport
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.AllowRollback {
		if strings.TrimSpace(opts.Reason) == "" {
			return rep, lot.FieldErrorf("reason", lot.EUSAGE, "accepting a rollback needs a reason: say why entries made since the backup may be undone")
		}
		if err := lot.ValidateText("the reason", opts.Reason, true); err != nil {
			// A reason was given: what is wrong with it, not that it is missing.
			return rep, lot.FieldErrorf("reason", lot.ErrorCode(err), "%s — nothing was restored", lot.ErrorMessage(err))
		}
	}
	// The words that record a kept checkpoint rolled back over are the
	// restore's own: typed into what it records, they would excuse a
	// checkpoint it never rolled back over (restoredOver).
	for _, f := range []struct{ field, words, value string }{{"reason", "the reason", opts.Reason}, {"from", "the backup file name", opts.From}} {
		if strings.Contains(strings.ToLower(f.value), rolledOverMark) {
			return rep, lot.FieldErrorf(f.field, lot.EINVALID, "%s %q contains %q, the words restore records itself for a kept checkpoint it rolled back over; word it otherwise — nothing was restored", f.words, f.value, rolledOverMark)
		}
	}
	if _, err := os.Stat(opts.From); errors.Is(err, fs.ErrNotExist) {
		return rep, lot.FieldErrorf("from", lot.ENOTFOUND, "the backup file %s: no such file; give the file a backup wrote", opts.From)
	}
	if err := checkLivePath(path); err != nil {
		return rep, err
	}
	if sameFile(path, opts.From) {
		return rep, lot.FieldErrorf("from", lot.EINVALID, "the backup file %s is the database itself; give a backup file", opts.From)
	}

	// 1. The live file, locked for the whole restore so that no other
	// celltrack writes to it meanwhile; the acting user must be an admin
	// there (or, when it is damaged, in the backup).
	live, err := openLive(path, opts)
	if err != nil {
		return rep, err
	}
	defer live.close()
	if live.db != nil {
		if err := live.authenticate(opts); err != nil {
			return rep, err
		}
		if h, herr := live.db.TreeHead(); herr == nil {
			rep.Live, rep.LiveRead = h, true
		} else {
			live.why = fmt.Sprintf("opens but its audit tree cannot be read (%s)", lot.ErrorMessage(herr))
		}
	}
	// A damaged file is a reason to restore; the kept checkpoints are then
	// the only record of how far the trail had come.

	// 2. The backup, copied beside the database; the copy is what is
	// verified, and what is put in place: sound, verified, consistent with
	// every kept checkpoint, with opts.Actor an admin in it (the restore
	// is recorded as theirs in the restored trail).
	tmp := path + ".restoring"
	copied, err := copyFile(opts.From, tmp)
	if err != nil {
		return rep, err
	}
	placed := false
	defer func() {
		if !placed {
			os.Remove(tmp)
		}
	}()
	bk, err := openBackupCopy(tmp, live.db == nil, opts, &rep)
	if err != nil {
		return rep, err
	}
	bkOpen := true
	closeBk := func() {
		if bkOpen {
			bk.Close()
			bkOpen = false
		}
	}
	defer closeBk()
	var liveKeys []checkpointKeyRecord
	if live.db != nil {
		// After a rotation an older backup does not know the newer key
		// that signed the latest checkpoints; the replaced database does.
		live.db.view(func(tx kv.Tx) error {
			liveKeys, _ = checkpointKeys(tx)
			return nil
		})
	} else {
		// Nor can the damaged one say: the keys pinned from outside are
		// then trusted though the backup does not register them.
		for _, p := range opts.Pinned {
			liveKeys = append(liveKeys, checkpointKeyRecord{Verifier: strings.TrimSpace(p.Key)})
		}
	}
	if len(opts.Kept) > 0 {
		switch {
		case len(opts.Pinned) > 0 && live.db != nil:
			rep.Keys = "the verifier keys given from files alone (each registered by the backup or the replaced database)"
		case len(opts.Pinned) > 0:
			rep.Keys = "the verifier keys given from files alone (trusted without the backup registering them, as the replaced database could not be read)"
		case live.db != nil:
			rep.Keys = fmt.Sprintf("the verifier keys the backup registers and the %d the replaced database registered", len(liveKeys))
		default:
			rep.Keys = "the verifier keys the backup registers (the replaced database could not be read; give the file of a key registered after the backup)"
		}
	}
	bv, err := verifyBackup(bk, opts, rep.Upgraded > 0, liveKeys)
	if err != nil {
		return rep, err
	}
	if testHook != nil {
		testHook("restore verified")
	}
	if live.db == nil && rep.Upgraded == 0 {
		// The live file cannot be read: the backup's account is the
		// only one to check (an older backup's was, before its copy
		// was upgraded).
		if err := proveInBackup(bk, bv.user, opts); err != nil {
			return rep, err
		}
	}
	if err := refuseOtherDatabase(path, live, bv, opts); err != nil {
		return rep, err
	}
	if err := refuseReopening(live, bv, opts); err != nil {
		return rep, err
	}
	keys := ""
	if rep.Keys != "" {
		keys = "\n(the kept checkpoints were checked against " + rep.Keys + ")"
	}
	if len(bv.problems) > 0 {
		return rep, lot.FieldErrorf("from", lot.ECONFLICT, "the backup %s fails verification, so it is not restored and nothing was changed:\n  %s%s", opts.From, strings.Join(append(bv.problems, bv.witness...), "\n  "), keys)
	}
	if len(bv.witness) > 0 {
		return rep, witnessRefusal(opts, bv, keys)
	}
	rep.Backup = bv.head
	for _, r := range bv.ahead {
		rep.Rollback = append(rep.Rollback, fmt.Sprintf("the kept checkpoint %s is of %d entries; the backup has %d", r.Name, r.Head.Size, rep.Backup.Size))
	}

	if !rep.LiveRead {
		// Nothing to compare the backup's facility with: the admin names it.
		switch {
		case opts.Facility == "":
			return rep, lot.FieldErrorf("facility", lot.ECONFLICT, "%s %s, so the facility of the backup %s (%s) cannot be compared with it; if %s is this database's facility, repeat naming the facility, %s — nothing was changed", path, live.why, opts.From, rep.Backup.Facility, rep.Backup.Facility, rep.Backup.Facility)
		case opts.Facility != rep.Backup.Facility:
			return rep, lot.FieldErrorf("facility", lot.ECONFLICT, "the backup %s is a backup of facility %s, not of the facility named, %s — nothing was changed", opts.From, rep.Backup.Facility, opts.Facility)
		}
	}
	if !rep.LiveRead {
		// The replaced file's head cannot be read, so nothing shows how far
		// its trail had come: the backup may be older (an infusion recorded
		// since would vanish and its bag be GO again), or another database
		// of the same facility. Only the kept checkpoints can show it is
		// not, and then only up to the latest of them.
		rep.Unproven = true
		switch {
		case len(opts.Kept) == 0:
			rep.Rollback = append(rep.Rollback, fmt.Sprintf("how far the trail of %s had come cannot be read, so a rollback cannot be ruled out: any entry made after the backup's %d would vanish", path, rep.Backup.Size))
		case len(bv.ahead) == 0:
			rep.Witness = fmt.Sprintf("the backup (%d entries) extends every one of the %d kept checkpoint(s), the latest of %d entries; entries made after that checkpoint cannot be checked", rep.Backup.Size, len(opts.Kept), bv.latestKept)
		}
	}
	var forkedAt int64 // the first entry the two trails do not share, when they forked
	if rep.LiveRead {
		if rep.Live.Facility != rep.Backup.Facility {
			return rep, lot.FieldErrorf("from", lot.ECONFLICT, "the backup %s is a backup of facility %s; %s is facility %s — nothing was changed", opts.From, rep.Backup.Facility, path, rep.Live.Facility)
		}
		// Older only when the backup's trail is a prefix of the
		// database's: a copy that grew apart (a fork) is another history
		// since the entry where the two part, longer or shorter.
		n := min(rep.Live.Size, rep.Backup.Size)
		switch shared := sharedEntries(live.db, bk, n); {
		case shared < n:
			forkedAt = shared + 1
			rep.Rollback = append(rep.Rollback, fmt.Sprintf("%s (%d entries) and the backup (%d entries) share entries 1–%d only: the two histories differ from entry %d on — the database's %s would be replaced by the backup's %s", path, rep.Live.Size, rep.Backup.Size, shared, forkedAt, EntryRange(forkedAt, rep.Live.Size), EntryRange(forkedAt, rep.Backup.Size)))
		case rep.Live.Size > rep.Backup.Size:
			rep.Rollback = append(rep.Rollback, fmt.Sprintf("%s has %d entries; the backup has %d: %s since would vanish from the database", path, rep.Live.Size, rep.Backup.Size, EntryRange(rep.Backup.Size+1, rep.Live.Size)))
		}
	}
	if len(rep.Rollback) > 0 && !opts.AllowRollback && rep.Unproven && len(opts.Kept) > 0 {
		// The witness was given, and it shows the backup is older: it
		// lacks no checkpoint; the backup lacks the entries they cover.
		return rep, lot.FieldErrorf("allow-rollback", lot.ECONFLICT, "%s %s, and the %d kept checkpoint(s) given show that the backup %s is older than the history it would replace: its %d entries fall short of %d of them, so entries recorded after the backup would vanish; nothing was changed:\n  %s\nrestoring it would roll the audit trail back; give a later backup, one that extends every kept checkpoint, or, if a rollback must be accepted, repeat accepting it, with a reason (the restore, the reason and the checkpoints rolled back over are recorded)", path, live.why, len(opts.Kept), opts.From, rep.Backup.Size, len(bv.ahead), strings.Join(rep.Rollback, "\n  "))
	}
	if len(rep.Rollback) > 0 && !opts.AllowRollback && rep.Unproven {
		return rep, lot.FieldErrorf("checkpoint", lot.ECONFLICT, "%s %s, so restore cannot show that the backup %s is not older than the history it would replace; nothing was changed:\n  %s\nrestoring it could roll the audit trail back; give the folder of kept checkpoints as a witness, or, if a rollback must be accepted, repeat accepting it, with a reason (the restore, the reason and that a rollback could not be ruled out are recorded)", path, live.why, opts.From, strings.Join(rep.Rollback, "\n  "))
	}
	if forkedAt > 0 && !opts.AllowRollback {
		return rep, lot.FieldErrorf("allow-rollback", lot.ECONFLICT, "the backup %s is not an older state of the database but another history from entry %d on (a copy that grew apart), so nothing was changed:\n  %s\nrestoring it would discard the database's entries since entry %d for the backup's; give a backup of this database, or, if that is what must happen, repeat accepting the rollback, with a reason (the restore and the reason are recorded)", opts.From, forkedAt, strings.Join(rep.Rollback, "\n  "), forkedAt)
	}
	if len(rep.Rollback) > 0 && !opts.AllowRollback {
		return rep, lot.FieldErrorf("allow-rollback", lot.ECONFLICT, "the backup %s is older than the history it would replace, so nothing was changed:\n  %s\nrestoring it would roll the audit trail back; if that is what must happen, repeat accepting the rollback, with a reason (the restore and the reason are recorded)", opts.From, strings.Join(rep.Rollback, "\n  "))
	}

	// 3. The restore is recorded in the verified copy, as its trail's next
	// entry, BEFORE the copy is put in place, and the copy stays open — its
	// lock held — across the renames, as the replaced file's lock is held
	// until they are done: no other celltrack sees the backup in place
	// without its entry, nor writes to it before that entry (one that
	// waited on the replaced file's lock opens again what the path names
	// then; see openBolt). A restore stopped before the first rename leaves
	// the database as it was; one stopped between the renames leaves the
	// copy and the replaced file, which InterruptedRestore names.
	now := opts.Now().UTC()
	rep.Replaced = fmt.Sprintf("%s.replaced-%s", path, now.Format("20060102T150405Z"))
	for i := 2; ; i++ { // never over an earlier replaced file
		if _, err := os.Lstat(rep.Replaced); errors.Is(err, fs.ErrNotExist) {
			break
		}
		rep.Replaced = fmt.Sprintf("%s.replaced-%s-%d", path, now.Format("20060102T150405Z"), i)
	}
	closeBk()
	if err := sameCopy(tmp, copied, opts.From); err != nil {
		return rep, err
	}
	if err := keepOwner(path, tmp); err != nil {
		return rep, err
	}
	db, err := Open(tmp, Options{Timeout: opts.Timeout, Now: opts.Now})
	if err != nil {
		return rep, fmt.Errorf("the verified copy %s could not be opened to record the restore, so nothing was changed: %w", tmp, err)
	}
	defer db.Close()
	reason := fmt.Sprintf("restored from %s (%d entries, root %s); the replaced file is kept at %s", opts.From, rep.Backup.Size, audit.RootString(rep.Backup.Root), rep.Replaced)
	if rep.Upgraded > 0 {
		reason = fmt.Sprintf("restored from %s (%d entries, root %s; of schema %d, its copy upgraded to %d at entry %d); the replaced file is kept at %s", opts.From, rep.Backup.Size, audit.RootString(rep.Backup.Root), rep.Upgraded, SchemaVersion, rep.Backup.Size+1, rep.Replaced)
	}
	if rep.LiveRead {
		reason += fmt.Sprintf(" (%d entries, root %s)", rep.Live.Size, audit.RootString(rep.Live.Root))
	} else {
		reason += " (unreadable: " + live.why + ")"
		if rep.Witness != "" {
			reason += "; " + rep.Witness
		} else {
			reason += "; a rollback could not be ruled out"
		}
	}
	if len(rep.Rollback) > 0 {
		reason += "; ROLLBACK allowed: " + opts.Reason + " — " + strings.Join(rep.Rollback, "; ")
	}
	// The kept checkpoints the backup does not reach, in a form checkKept
	// reads back: they are then reported as rolled back by this entry. They
	// come last, after the rollback's own words, which end in none of them:
	// only this suffix is read back (restoredOver), so no text an admin
	// chose — the reason, a file name — can be taken for one.
	for _, r := range bv.ahead {
		reason += fmt.Sprintf("; %s tree size %d root %s", rolledOverMark, r.Head.Size, audit.RootString(r.Head.Root))
	}
	err = db.update(opts.Actor, audit.DatabaseRestore, func(w *writer) error {
		return w.event(kindUser, w.actor.ID, "database.restore", reason)
	})
	if err != nil {
		return rep, fmt.Errorf("the restore could not be recorded in the verified copy %s, so nothing was changed: %w", tmp, err)
	}
	if testHook != nil {
		testHook("restore recorded")
	}

	// 4. The swap: the copy, with its entry, is renamed over the database
	// after the database is renamed aside.
	if err := sameCopy(tmp, copied, opts.From); err != nil {
		return rep, err
	}
	if err := os.Rename(path, rep.Replaced); err != nil {
		return rep, fmt.Errorf("keep the replaced database as %s: %w", rep.Replaced, err)
	}
	if testHook != nil {
		testHook("restore renamed aside")
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Rename(rep.Replaced, path)
		return rep, fmt.Errorf("put the backup in place at %s: %w", path, err)
	}
	placed = true
	syncDir(filepath.Dir(path))
	if testHook != nil {
		testHook("restore placed")
	}
	// The replaced file's lock first: whoever waited on it finds the path
	// names another file and waits for the restored one's, released when
	// db closes.
	live.close()
	return rep, nil
}

// sameCopy refuses when tmp is no longer the file restore copied the
// backup to (identity copied): something replaced it beside the database.
func sameCopy(tmp string, copied os.FileInfo, from string) error {
	if fi, err := os.Lstat(tmp); err != nil || !os.SameFile(fi, copied) {
		return lot.Errorf(lot.ECONFLICT, "%s, the verified copy of the backup %s, was replaced while restore verified it; nothing was changed — find out who writes beside the database", tmp, from)
	}
	return nil
}

// InterruptedRestore says, when path is missing but a restore's verified
// copy (path.restoring) and a replaced file (path.replaced-*) lie beside
// it — a restore stopped between its two renames — what they are and what
// to do; "" otherwise. The copy was verified, and the restore recorded in
// it, before the database was renamed aside; but whether the copy is
// intact cannot be known from here, so the way back is to put the replaced
// file back and run restore again, which verifies the backup anew.
func InterruptedRestore(path string) string {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	tmp := path + ".restoring"
	if fi, err := os.Lstat(tmp); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	replaced, _ := filepath.Glob(globEscape(path) + ".replaced-*")
	if len(replaced) == 0 {
		return ""
	}
	last := replaced[0]
	for _, r := range replaced[1:] {
		if fi, err := os.Stat(r); err == nil {
			if li, err := os.Stat(last); err != nil || fi.ModTime().After(li.ModTime()) {
				last = r
			}
		}
	}
	return fmt.Sprintf("a restore was interrupted between its two renames: %s is the backup's copy it had verified, and %s the database it renamed aside (the one most recently changed of %d replaced file(s)); the restore was recorded only in that copy, which was never put in place. Put the database back with `mv %s %s`, remove %s, and restore again (it verifies the backup again and records the restore) — or, if %s is the wrong file, check the others first", tmp, last, len(replaced), last, path, tmp, last)
}

// globEscape escapes the characters filepath.Glob treats as a pattern.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`)
	return r.Replace(s)
}

// checkLivePath refuses a --db that restore must not rename: a missing
// file, a directory, a symbolic link (renaming the link would leave the
// file it points to as the live database) or anything but a regular file.
func checkLivePath(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && InterruptedRestore(path) != "":
		return lot.Errorf(lot.ENODB, "no database at %s to restore over: %s", path, InterruptedRestore(path)).Run("restore")
	case errors.Is(err, fs.ErrNotExist):
		return lot.FieldErrorf("db", lot.ENODB, "no database at %s to restore over; check the database path (restore replaces an existing database and keeps it; when the file is lost, copy the backup into place and check it)", path)
	case err != nil:
		return lot.FieldErrorf("db", lot.EINVALID, "the database %s cannot be examined (%v); nothing was restored", path, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := filepath.EvalSymlinks(path)
		if target == "" {
			target, _ = os.Readlink(path)
		}
		return lot.FieldErrorf("db", lot.EINVALID, "the database %s is a symbolic link to %s; restore replaces a file by renaming it and would replace only the link, leaving %s in use — give the file itself, %s; nothing was restored", path, target, target, target)
	case fi.IsDir():
		return lot.FieldErrorf("db", lot.EINVALID, "the database %s is a directory, not a database file; restore never replaces a directory — check the database path", path)
	case !fi.Mode().IsRegular():
		return lot.FieldErrorf("db", lot.EINVALID, "the database %s is not a regular file (%s); restore replaces only a database file — check the database path", path, FileKind(fi.Mode()))
	}
	return nil
}

// FileKind names what a file that is not a regular one is, for messages.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// liveFile is the database a restore replaces, held locked.
type liveFile struct {
	path string
	db   *DB // open when it opened as a celltrack database; holds bbolt's lock
	// old is set when its schema is older than this celltrack's: it is
	// read, never written (nor upgraded): a refused restore leaves it as it was.
	old    bool
	noTree bool // of a schema before the audit tree (5)
	schema int
	unlock func() // the lock held on a damaged file
	why    string // why it cannot be compared with the backup ("does not open", …)
}

func (l *liveFile) close() {
	if l.db != nil {
		l.db.Close()
		l.db = nil
	}
	if l.unlock != nil {
		l.unlock()
		l.unlock = nil
	}
}

// isDamage reports whether err, from opening or first reading a file, says
// the file is damaged: bbolt opened it and rejected what it holds (no valid
// meta page, a checksum, a file too small for its pages, an empty file), or
// reading its pages panicked in bbolt (recoverDamage). An error of the
// system — permissions, a read-only disk, a directory, no such file — or a
// lock timeout is not damage, nor any other refusal of celltrack's.
func isDamage(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	switch {
	case err == nil, errors.Is(err, boltkv.ErrTimeout), errors.As(err, &pe), errors.As(err, &errno):
		return false
	case lot.ErrorCode(err) != lot.EINTERNAL:
		return lot.ErrorCode(err) == lot.ECONFLICT // recoverDamage's
	}
	return true
}

// openLive opens the database at path for a restore, taking its lock,
// without upgrading it. A damaged file is locked (lockDamaged) and returned
// without a database; every other failure to open is refused with its cause.
func openLive(path string, opts RestoreOptions) (*liveFile, error) {
	l := &liveFile{path: path, why: "does not open"}
	bdb, err := openBolt(path, &boltkv.Options{Timeout: opts.Timeout, OpenFile: openFile(false)})
	switch {
	case errors.Is(err, boltkv.ErrTimeout):
		return nil, lot.Errorf(lot.EBUSY, "%s is in use by another celltrack (a server, or another command); stop it before restoring", path)
	case err != nil && isDamage(err):
		return l.damaged(opts.Timeout)
	case errors.Is(err, fs.ErrPermission):
		return nil, lot.Errorf(lot.EINVALID, "%s cannot be opened for writing (%v): it is not damaged, so restore does not replace it — run restore as the account that owns the database (the one the server runs as), with every celltrack stopped; nothing was restored", path, err)
	case err != nil:
		return nil, lot.Errorf(lot.EINVALID, "%s cannot be opened (%v): that is not damage a backup repairs, so nothing was restored — fix the cause and run restore again", path, err)
	}
	db := &DB{engine: bdb, path: path, Now: opts.Now, NewID: func() uuid.UUID { return uuid.Must(uuid.NewV7()) }}
	var foreign bool
	err = db.view(func(tx kv.Tx) error {
		if tx.Bucket(bMeta) == nil {
			foreign = true
			return nil
		}
		v, err := schemaOf(tx, path)
		if err != nil {
			return err
		}
		l.schema, l.old = v, needsMigration(tx, v)
		l.noTree = tx.Bucket(bAuditTree) == nil
		return nil
	})
	switch {
	case err != nil && (isDamage(err) || lot.ErrorCode(err) == lot.EINVALID):
		// unreadable pages, or a schema version celltrack never wrote
		db.Close()
		return l.damaged(opts.Timeout)
	case err != nil:
		db.Close()
		return nil, err
	case foreign:
		db.Close()
		return nil, lot.FieldErrorf("db", lot.EINVALID, "%s is a bbolt file but not a celltrack database (no meta bucket); restore replaces only a celltrack database — check the database path; nothing was restored", path)
	case l.schema > SchemaVersion:
		db.Close()
		return nil, lot.Errorf(lot.ECONFLICT, "%s has schema version %d, newer than this celltrack (%d): a newer celltrack wrote it, and this one cannot tell what restoring would undo — run restore with that newer celltrack (upgrade this one); nothing was restored", path, l.schema, SchemaVersion)
	case l.noTree:
		db.Close()
		return nil, lot.Errorf(lot.ECONFLICT, "%s is of schema version %d, from before the audit tree, so restore cannot tell what the backup would undo; copy it aside, upgrade the copy (which builds the tree and keeps every record), then restore; nothing was restored", path, l.schema).Run("upgrade")
	}
	l.db = db
	return l, nil
}

func (l *liveFile) damaged(timeout time.Duration) (*liveFile, error) {
	unlock, err := lockDamaged(l.path, timeout)
	if err != nil {
		return nil, err
	}
	l.unlock, l.why = unlock, "does not open"
	return l, nil
}

// authenticate checks that opts.Actor is an admin of the live file with
// the password given, writing nothing for a right one (a refused restore
// leaves the file as it was). A wrong password counts towards the lockout there —
// unless the file is of an older schema: restore writes nothing into a file
// it may be about to replace, so then the failure only costs the delay.
func (l *liveFile) authenticate(opts RestoreOptions) error {
	u, err := l.db.User(opts.Actor)
	if err != nil {
		return err
	}
	if err := audit.Authorize(u, audit.DatabaseRestore); err != nil {
		return err
	}
	if !l.old {
		// A right password resets no count here: the file is replaced
		// by the restore that is done, and one refused writes nothing.
		_, err := l.db.provePassword(u, opts.Password, "signature.refused", "wrong password for signature: "+MeaningRestore, true)
		return err
	}
	return l.db.proveOlder(u, opts.Password, l.path, l.schema, "restored")
}

// backupVerification is what restore found of the copy of the backup.
type backupVerification struct {
	user     audit.User // opts.Actor in the backup
	problems []string   // the backup's own: page check, audit verify
	// witness are the problems of the kept checkpoints (one forged, of
	// another database, contradicting the backup) and of the pinned keys;
	// failedKept names the checkpoints among them.
	witness    []string
	failedKept []string
	ahead      []CheckpointResult
	head       audit.Head
	dbID       string // the backup's database identity (meta db_id)
	// first is the hash of the backup's first audit entry (its tree of
	// size 1), set when it has one.
	first    tlog.Hash
	hasFirst bool
	// latestKept is the largest tree size of the kept checkpoints.
	latestKept int64
	// marked is set when the backup carries a migration mark (a backup
	// of the old copy of a migrated database).
	marked bool
}

// verifyBackup verifies the copy bk in one read transaction: its backup
// mark, the actor, the page check, the whole of `audit verify`, every kept
// checkpoint, and whether its tree extends the live file's (rep.Live).
func verifyBackup(bk *DB, opts RestoreOptions, upgraded bool, liveKeys []checkpointKeyRecord) (backupVerification, error) {
	var bv backupVerification
	err := bk.view(func(tx kv.Tx) error {
		if err := refuseMarked(tx, opts.From); err != nil {
			return err
		}
		u, err := userByName(tx, opts.Actor)
		if err != nil {
			return notInBackup(opts.From, err)
		}
		if err := audit.Authorize(u, audit.DatabaseRestore); err != nil {
			return lot.Wrapf(err, lot.ECONFLICT, "the backup %s: %s (in the backup); restore as an admin the backup knows", opts.From, lot.ErrorMessage(err))
		}
		bv.user = u
		v, problems, err := verifyAll(tx)
		if err != nil {
			return err
		}
		bv.problems = problems
		// The backup's own trail: an older backup's copy ends with the
		// upgrade restore made, which is no part of what was backed up
		// (and keeps every hash before it).
		bv.head = v.Tree
		if upgraded && v.Tree.Size > 0 {
			if bv.head, err = headAt(tx, v.Tree.Size-1); err != nil {
				return err
			}
		}
		results, pinProblems, err := checkKeptAlso(tx, opts.Kept, opts.Pinned, liveKeys, bv.head.Size)
		if err != nil {
			return err
		}
		bv.witness = append(bv.witness, pinProblems...)
		bv.dbID = string(tx.Bucket(bMeta).Get(metaDBID))
		bv.marked = tx.Bucket(bMeta).Get(metaMigrated) != nil
		for _, r := range results {
			bv.latestKept = max(bv.latestKept, r.Head.Size)
			if r.Ahead {
				bv.ahead = append(bv.ahead, r)
			} else if r.Problem != "" {
				bv.witness = append(bv.witness, r.Problem)
				bv.failedKept = append(bv.failedKept, r.Name)
			}
		}
		if bv.head.Size > 0 {
			bv.first, err = tlog.TreeHash(1, newTreeHashes(tx))
			bv.hasFirst = err == nil
		}
		return nil
	})
	return bv, err
}

// notInBackup is restore's refusal of an actor the backup does not know:
// err's, said of the backup (its code and field: the acting user).
func notInBackup(from string, err error) error {
	return lot.Wrapf(err, lot.ECONFLICT, "the backup %s: %s; the restore is recorded in the restored trail as its admin's, so restore as an admin the backup knows", from, lot.ErrorMessage(err))
}

// witnessRefusal refuses a backup that itself verifies when a kept
// checkpoint or a pinned key does not check out against it: the message
// names the checkpoints and says why each fails, not that the backup does.
func witnessRefusal(opts RestoreOptions, bv backupVerification, keys string) error {
	var what []string
	switch n := len(bv.failedKept); {
	case n == 1:
		what = append(what, "the kept checkpoint "+bv.failedKept[0]+" does not verify against it")
	case n > 1:
		what = append(what, fmt.Sprintf("%d kept checkpoints (%s) do not verify against it", n, strings.Join(bv.failedKept, ", ")))
	}
	if pins := len(bv.witness) - len(bv.failedKept); pins > 0 {
		what = append(what, fmt.Sprintf("%d verifier key(s) given from files are registered neither by it nor by the replaced database", pins))
	}
	return lot.FieldErrorf("verifier-file", lot.ECONFLICT, "the backup %s passes its own verification (page check and audit verify), but %s — so it is not restored and nothing was changed:\n  %s%s\na checkpoint that does not verify is forged, of another database, or signed with a key neither the backup nor the replaced database registers, and one the backup's trail does not extend contradicts it: find out which before restoring (give the file of the verifier key kept outside the database; leave out a checkpoint that is not this database's)",
		opts.From, strings.Join(what, ", and "), strings.Join(bv.witness, "\n  "), keys)
}

// refuseOtherDatabase refuses, whatever the flags, a backup of another
// database (another meta db_id: another site's file of the facility, a test
// or training file): it is not an older state of this database but another
// history, and putting it in place would replace every patient, bag and
// infusion recorded here — no --allow-rollback covers that. The live file's
// identity is read from it, or, when it does not open, from its readable
// pages; a file (or backup) that names none cannot be compared.
func refuseOtherDatabase(path string, live *liveFile, bv backupVerification, opts RestoreOptions) error {
	ids := live.dbIDs()
	sameID := len(ids) == 0 || bv.dbID == "" || contains(ids, bv.dbID)
	if live.db != nil && bv.hasFirst {
		if same, ok := live.sameFirstEntry(bv.first); ok {
			if same {
				// One history whose identities may have been made apart:
				// a backup taken before schema 4 (no db_id) and upgraded
				// apart from the database. Whether it is older is then
				// judged as for any backup.
				return nil
			}
			if sameID {
				// The db_id is one unaudited meta value, copied at will;
				// the first audit entry (its init's admin, with a random
				// id, at its time) is hashed into every later one.
				return lot.FieldErrorf("from", lot.ECONFLICT, "the backup %s names this database's id (meta db_id %s), but its first audit entry is not %s's: it is another database's history from entry 1 (a db_id is not audited and can be copied) — restoring it would replace everything recorded in %s, so it is refused whatever is accepted (accepting a rollback covers an older backup of this database only); nothing was changed — give a backup of %s itself, and report the backup to QA", opts.From, bv.dbID, path, path, path)
			}
		}
	}
	if sameID {
		return nil
	}
	what := fmt.Sprintf("%s is the database %s", path, strings.Join(ids, ", "))
	if live.db == nil {
		what = fmt.Sprintf("%s %s, but its readable pages name the database %s", path, live.why, strings.Join(ids, ", "))
	}
	return lot.FieldErrorf("from", lot.ECONFLICT, "%s, and the backup %s is a backup of the database %s: another database of facility %s, whose history is not this one's — restoring it would replace everything recorded in %s, so it is refused whatever is accepted (accepting a rollback covers an older backup of this database only); nothing was changed — give a backup of %s itself", what, opts.From, bv.dbID, bv.head.Facility, path, path)
}

// refuseReopening refuses, whatever the flags, a backup without the
// migration mark over the old copy of a migrated database (marked, or its
// mark removed while its trail says it was migrated away): the restored
// file would take writes again beside the target — the second history,
// the double dose, that the mark exists to prevent — with no
// database.reopen entry saying so. The mark is not carried into the
// restored file instead: the backup's trail has no database.migrate entry
// for it to agree with, and what the target recorded since is in neither.
// Reopening is `migrate --reopen-source`'s, audited with its reason; after
// it, the restore is judged as any other.
func refuseReopening(live *liveFile, bv backupVerification, opts RestoreOptions) error {
	if live.db == nil || bv.marked {
		return nil
	}
	var m *MigratedMark
	if err := live.db.view(func(tx kv.Tx) (err error) {
		if m, err = migratedMark(tx); m == nil && err == nil {
			m = migratedByTrail(tx)
		}
		return err
	}); err != nil || m == nil {
		return err
	}
	return lot.FieldErrorf("from", lot.ECONFLICT, "%s was migrated to %s (%s) on %s by %s (its audit entry %d, database.migrate): it is the old copy, and the site works on the target; the backup %s carries no migration mark (taken before the migration), so restoring it would make the old copy take writes again — a second history beside the target. It is refused whatever is accepted; nothing was changed. Work on %s (restore there with its own tools if it needs it); if this copy must take writes again because the target was lost, an admin first reopens %s as the migration's source, with a reason (audited), then repeats the restore%s",
		live.path, m.To, m.Engine, lot.FormatTime(m.At), m.By, m.Entry, opts.From, m.To, live.path, m.changedNote())
}

// sameFirstEntry reports whether the live file's first audit entry hashes
// to first: an init's first entry (its admin, with a random id, at its time)
// is its database's own. ok is false when the live file's tree cannot be
// read.
func (l *liveFile) sameFirstEntry(first tlog.Hash) (same, ok bool) {
	l.db.view(func(tx kv.Tx) error {
		if h, err := tlog.TreeHash(1, newTreeHashes(tx)); err == nil {
			same, ok = h == first, true
		}
		return nil
	})
	return same, ok
}

// sharedEntries is how many first entries the live file's trail and the
// backup's have in common (their trees of that size are one), up to n, the
// smaller of the two sizes: n when one extends the other, less when they
// forked.
func sharedEntries(live, bk *DB, n int64) int64 {
	var shared int64
	live.view(func(ltx kv.Tx) error {
		return bk.view(func(btx kv.Tx) error {
			lh, bh := newTreeHashes(ltx), newTreeHashes(btx)
			same := func(k int64) bool {
				a, err1 := tlog.TreeHash(k, lh)
				b, err2 := tlog.TreeHash(k, bh)
				return err1 == nil && err2 == nil && a == b
			}
			// The trees agree up to the fork and differ from it on.
			lo, hi := int64(0), n
			for lo < hi {
				mid := lo + (hi-lo+1)/2
				if same(mid) {
					lo = mid
				} else {
					hi = mid - 1
				}
			}
			shared = lo
			return nil
		})
	})
	return shared
}

// dbIDs is the database identity (meta db_id) the live file names: read
// from it when it opened, else found in its readable pages (scanDBIDs).
func (l *liveFile) dbIDs() []string {
	if l.db != nil {
		var id string
		if err := l.db.view(func(tx kv.Tx) error { id = string(tx.Bucket(bMeta).Get(metaDBID)); return nil }); err == nil && id != "" {
			return []string{id}
		}
	}
	return scanDBIDs(l.path)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sameFile reports whether a and b are one file.
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// copyFile copies src to a new file dst (0600), synced, from one open
// handle of src, which must be a regular file. It returns what dst is (its
// identity, to check that the file later renamed is the one copied).
func copyFile(src, dst string) (os.FileInfo, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, lot.FieldErrorf("from", lot.EINVALID, "the backup file %s cannot be read: %v", src, err)
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, lot.FieldErrorf("from", lot.EINVALID, "the backup file %s is not a regular file; give the file a backup wrote", src)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, lot.Errorf(lot.ECONFLICT, "%s exists: an earlier restore was stopped before it replaced the database, which it left as it was; the file is that restore's copy of its backup (perhaps with the restore recorded in it), never put in place — remove it and run restore again; nothing was restored", dst)
	} else if err != nil {
		return nil, fmt.Errorf("create %s: %w", dst, err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = out.Stat()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return nil, fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return fi, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
