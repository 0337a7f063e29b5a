package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
)

// Moving a database between engines (`celltrack migrate`) and the bbolt
// snapshot of a PostgreSQL database (`celltrack backup` there) are one copy:
// every bucket, bucket by bucket, through the kv seam, so the same code
// serves both directions and both engines. The values are copied byte for
// byte — records, indexes, meta, the audit entries, their entity links and
// the Merkle tree's stored hashes, the checkpoint keys — so every hash the
// trail holds verifies on the copy as on the original.

// bucketLister is a transaction of an engine that can list its buckets
// (both engines': boltkv and pgkv), so that a copy takes every bucket the
// source has, also one this celltrack does not know.
type bucketLister interface{ BucketNames() []string }

// bulkPutter is a transaction of an engine that puts many pairs into a
// bucket at once (pgkv: one statement instead of a round trip per pair).
type bulkPutter interface {
	PutMany(bucket []byte, keys, values [][]byte) error
}

// notCopied are the buckets a copy makes empty: sessions are who is logged
// in to this database now (the hash of each token, not audited), not its
// history; people log in to the copy with their own passwords, which the
// user records carry.
var notCopied = map[string]bool{string(bSessions): true}

// schemaBuckets are the buckets of the key schema.
func schemaBuckets() []string {
	names := []string{string(bMeta), string(bAudit), string(bAuditEntity), string(bAuditTree), string(bSessions)}
	for _, b := range indexBuckets {
		names = append(names, string(b))
	}
	for _, b := range recordBuckets {
		names = append(names, string(b))
	}
	sort.Strings(names)
	return names
}

// bucketNames lists the buckets of tx: all of them when the engine can say,
// else those of the key schema that tx has.
func bucketNames(tx kv.Tx) []string {
	if l, ok := tx.(bucketLister); ok {
		return l.BucketNames()
	}
	var names []string
	for _, n := range schemaBuckets() {
		if tx.Bucket([]byte(n)) != nil {
			names = append(names, n)
		}
	}
	return names
}

// copyBatch is how many pairs go to the target in one PutMany; copyChunk
// about how many bytes of pairs one commit of a new file takes, so that a
// copy of any size needs bounded memory.
const (
	copyBatch = 2000
	copyChunk = 64 << 20
)

// chunk is pairs of one bucket on their way to the target.
type chunk struct {
	name       []byte
	keys, vals [][]byte
}

// copyInto copies every bucket of src, in key order, through commit, which
// runs its function in a write transaction of the target: the same one each
// time (PostgreSQL, where the whole copy is one transaction) or a new one
// each time (a new file, committed every copyChunk bytes so that memory
// stays bounded; the file is put in place only when complete). The target
// must have none of the buckets. It returns how many pairs it copied.
func copyInto(src kv.Tx, commit func(fn func(dst kv.Tx) error) error) (int, error) {
	var pending []chunk
	pairs, size := 0, 0
	flush := func() error {
		err := commit(func(dst kv.Tx) error {
			bulk, _ := dst.(bulkPutter)
			for _, c := range pending {
				b := dst.Bucket(c.name)
				if b == nil {
					var err error
					if b, err = dst.CreateBucket(c.name); err != nil {
						return fmt.Errorf("create bucket %s in the copy: %w", c.name, err)
					}
				}
				b.SetFillPercent(appendFill) // keys arrive in order
				for i := 0; i < len(c.keys); i += copyBatch {
					j := min(i+copyBatch, len(c.keys))
					var err error
					if bulk != nil {
						err = bulk.PutMany(c.name, c.keys[i:j], c.vals[i:j])
					} else {
						for x := i; x < j && err == nil; x++ {
							err = b.Put(c.keys[x], c.vals[x])
						}
					}
					if err != nil {
						return fmt.Errorf("copy bucket %s: %w", c.name, err)
					}
				}
			}
			return nil
		})
		pending, size = pending[:0], 0
		return err
	}
	for _, name := range bucketNames(src) {
		pending = append(pending, chunk{name: []byte(name)}) // made even when empty
		if notCopied[name] {
			continue
		}
		c := src.Bucket([]byte(name)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			// The source's bytes are valid only in its transaction, and
			// the target keeps what it is given until it commits: a copy.
			last := &pending[len(pending)-1]
			last.keys, last.vals = append(last.keys, bytes.Clone(k)), append(last.vals, append([]byte{}, v...))
			pairs++
			if size += len(k) + len(v); size >= copyChunk {
				if err := flush(); err != nil {
					return pairs, err
				}
				pending = append(pending, chunk{name: []byte(name)})
			}
		}
	}
	return pairs, flush()
}

// sameTx is commit for copyInto when the whole copy is one transaction.
func sameTx(dst kv.Tx) func(func(kv.Tx) error) error {
	return func(fn func(kv.Tx) error) error { return fn(dst) }
}

// EngineName names the engine of the database at path for people: "the
// file engine" or "PostgreSQL".
func EngineName(path string) string {
	if IsPostgres(path) {
		return "PostgreSQL"
	}
	return "the file engine"
}

// CheckMigration refuses a migration between two databases of one engine,
// before anything is opened, saying what to use instead.
func CheckMigration(from, to string) error {
	if err := CheckLocation("from", from); err != nil {
		return err
	}
	if err := CheckLocation("to", to); err != nil {
		return err
	}
	switch {
	case to == "":
		return lot.FieldErrorf("to", lot.EUSAGE, "a migration needs a target: a new file, or the postgres:// URL of an empty database")
	case !IsPostgres(from) && !IsPostgres(to):
		return lot.FieldErrorf("to", lot.EUSAGE, "the source %s and the target %s are both files: a migration moves a database between the file engine and PostgreSQL; copy a file by backing it up to %s", from, to, to)
	case IsPostgres(from) && IsPostgres(to):
		return lot.FieldErrorf("to", lot.EUSAGE, "the source %s and the target %s are both PostgreSQL databases: a migration moves a database between the file engine and PostgreSQL; copy one PostgreSQL database to another with the server's tools (pg_dump and pg_restore, or CREATE DATABASE … TEMPLATE)", DisplayName(from), DisplayName(to))
	}
	return nil
}

// MigrateReport is what a migration found and made.
type MigrateReport struct {
	// Source is the source's verification (its chain head and tree head),
	// SourceHead its tree head, read in the transaction that was copied.
	Source     Verification
	SourceHead audit.Head
	// Copied is the target's tree head as copied, before the migration
	// entry: equal to SourceHead, or nothing was committed.
	Copied audit.Head
	Pairs  int
	// Entry is the sequence number of the migration's audit entry.
	Entry uint64
	// Target is `audit verify` on the target after the commit, and
	// TargetPages its page check (none on PostgreSQL).
	Target      Verification
	TargetPages []string
	// Stale are the temporary copies of the target a killed migrate left
	// beside it: removed, or kept and why.
	Stale []StaleWrite
}

// actionMigrate is the action of the migration's audit entry on the target.
const actionMigrate = "database.migrate"

// OpenForMigrate opens the source of a migration for writing, because the
// migration marks it (migrated.go) in the transaction it copies, without
// bringing an older schema up: MigrateTo refuses one, as a read-only open
// did, after the command checked who asks.
func OpenForMigrate(path string, opts Options) (*DB, error) {
	opts.keepSchema, opts.ReadOnly, opts.Create = true, false, false
	return Open(path, opts)
}

// MigrateTo copies this database (opened by OpenForMigrate; actor is the
// admin of the checked session, which the command checked) to a new database
// at to, on the other engine, with its whole history, records the migration
// on the target as actor's entry, and marks this database as migrated to it
// (migrated.go), so that it takes no more writes. All of it runs in one
// write transaction of the source: the source takes no other write between
// the copy and its mark, and when anything fails before the target is kept
// the transaction is rolled back and the source is neither marked nor
// changed. The source must not be marked already, must pass the page check
// and `audit verify` in that transaction, or nothing is written
// (ECONFLICT). The target must be new: a file that does not exist (written
// under a temporary name beside it and linked into place only when it
// verifies) or a PostgreSQL database without tables (the schema and the copy
// made in one transaction) — else ECONFLICT, untouched. Before the target
// commits, its tree head must equal the source's and the whole of `audit
// verify` must pass on it; after, the target is opened again and checked as
// `celltrack check` would (rep.Target), and only then is the source marked:
// its own database.migrate entry (Size+1, as on the target, with the
// target's name) and the meta mark, committed together. The one failure left
// between the two databases is the source's commit itself failing after the
// target was kept: the error says so.
func (db *DB) MigrateTo(to, actor string, timeout time.Duration) (rep MigrateReport, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	if err := CheckMigration(db.path, to); err != nil {
		return rep, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	target := DisplayName(to)
	if !IsPostgres(to) {
		if err := checkNewFile(to); err != nil {
			return rep, err
		}
		rep.Stale = removeStaleWrites(to)
	}
	markTo := target
	if !IsPostgres(to) {
		if abs, err := filepath.Abs(to); err == nil {
			markTo = abs
		}
	}
	tdb := &DB{path: target, Now: db.Now, NewID: db.NewID}
	reason := fmt.Sprintf("migrated from %s (%s)", EngineName(db.path), db.engine.Describe())
	// finish runs in the target's last write transaction, once the copy
	// is in it: the heads compared, the migration's entry, audit verify.
	finish := func(dst kv.Tx) error {
		var err error
		if rep.Copied, err = treeHead(dst); err != nil {
			return fmt.Errorf("the copy's audit tree: %w", err)
		}
		if rep.Copied.Size != rep.SourceHead.Size || rep.Copied.Root != rep.SourceHead.Root || rep.Copied.Facility != rep.SourceHead.Facility {
			return lot.Errorf(lot.ECONFLICT, "the copy at %s has the tree head %s, the source %s has %s; nothing was kept — report it", target, rep.Copied, db.path, rep.SourceHead)
		}
		err = tdb.asActor(dst, actor, audit.DatabaseMigrate, func(w *writer) error {
			return w.event(kindUser, w.actor.ID, actionMigrate, fmt.Sprintf("%s with %d entries, root %s", reason, rep.SourceHead.Size, audit.RootString(rep.SourceHead.Root)))
		})
		if err != nil {
			return err
		}
		rep.Entry = uint64(rep.SourceHead.Size) + 1
		v, err := verifyTx(dst)
		if err != nil {
			return err
		}
		if !v.OK() {
			return lot.Errorf(lot.ECONFLICT, "the copy at %s fails audit verify, so nothing was kept:\n  %s", target, strings.Join(v.Problems, "\n  "))
		}
		return nil
	}
	// kept is set once the target is in place; a source transaction that
	// runs again after it (an engine's retry) or fails to commit must not
	// read as "nothing happened".
	kept := false
	err = db.engine.Update(func(src kv.Tx) error {
		if kept {
			return lot.Errorf(lot.ECONFLICT, "the source's transaction was retried after the target was kept")
		}
		if err := refuseIfMigrated(src); err != nil {
			return lot.Wrapf(err, lot.ECONFLICT, "%s; nothing was written to %s", lot.ErrorMessage(err), target)
		}
		if v, err := schemaOf(src, db.path); err != nil {
			return err
		} else if needsMigration(src, v) {
			return lot.Errorf(lot.ECONFLICT, "%s was written by an older celltrack (schema version %d; this one writes %d) and must be upgraded before it is migrated; an admin upgrades it first (nothing was written to %s)", db.path, v, SchemaVersion, target).Run("upgrade")
		}
		var problems []string
		for _, err := range checkPages(src) {
			problems = append(problems, "page check: "+err.Error())
		}
		v, err := verifyTx(src)
		if err != nil {
			return err
		}
		problems = append(problems, v.Problems...)
		if len(problems) > 0 {
			return lot.Errorf(lot.ECONFLICT, "the source %s fails verification, so it is not migrated and nothing was written to %s:\n  %s\ncheck it and report it to QA", db.path, target, strings.Join(problems, "\n  "))
		}
		rep.Source = v
		if rep.SourceHead, err = treeHead(src); err != nil {
			return err
		}
		if IsPostgres(to) {
			err := pgkv.CreateFilled(to, pgkv.Options{LockTimeout: timeout}, func(dst kv.Tx) (err error) {
				if rep.Pairs, err = copyInto(src, sameTx(dst)); err != nil {
					return err
				}
				return finish(dst)
			})
			if err := migrateTargetError(to, err); err != nil {
				return err
			}
			// A target that fails its check is not kept: its error
			// says to drop it, and the source stays unmarked.
			if err := db.checkTarget(to, to, &rep); err != nil {
				return err
			}
			kept = true
		} else {
			err := writeNewFile(to, timeout, func(e kv.Engine) (err error) {
				if rep.Pairs, err = copyInto(src, e.Update); err != nil {
					return err
				}
				return e.Update(finish)
			}, func(tmp string) error {
				return db.checkTarget(tmp, to, &rep)
			})
			if err != nil {
				return err
			}
			kept = true
		}
		return db.asActor(src, actor, audit.DatabaseMigrate, func(w *writer) error {
			mark := MigratedMark{V: 1, To: markTo, Engine: EngineName(to), At: w.now, By: w.actor.Name,
				Size: rep.SourceHead.Size, Root: audit.RootString(rep.SourceHead.Root), Entry: uint64(rep.SourceHead.Size) + 1}
			if err := w.event(kindUser, w.actor.ID, actionMigrate, fmt.Sprintf("migrated to %s (%s) with %d entries, root %s; this database takes no more writes", markTo, EngineName(to), mark.Size, mark.Root)); err != nil {
				return err
			}
			raw, err := json.Marshal(mark)
			if err != nil {
				return err
			}
			return src.Bucket(bMeta).Put(metaMigrated, raw)
		})
	})
	if err != nil && kept {
		return rep, lot.Errorf(lot.ECONFLICT, "the target %s was made and checked, but the source %s could not be marked as migrated to it: %s — the source still takes writes: stop using it now, work on %s, and report it", target, db.path, lot.ErrorMessage(err), target)
	}
	return rep, err
}

// checkTarget opens the copy at path (named to for people) read-only and
// runs the page check and `audit verify` on it, as `celltrack check` does.
func (db *DB) checkTarget(path, to string, rep *MigrateReport) error {
	t, err := Open(path, Options{ReadOnly: true, Now: db.Now})
	if err != nil {
		return fmt.Errorf("open the copy %s to check it: %w", DisplayName(to), err)
	}
	defer t.Close()
	for _, e := range t.Check() {
		rep.TargetPages = append(rep.TargetPages, "page check: "+e.Error())
	}
	if rep.Target, err = t.Verify(); err != nil {
		return err
	}
	if len(rep.TargetPages) > 0 || !rep.Target.OK() {
		what := "the file is not kept"
		if IsPostgres(to) {
			what = "drop that database and migrate again"
		}
		return lot.Errorf(lot.ECONFLICT, "the copy at %s fails its check after the migration (%s):\n  %s", DisplayName(to), what, strings.Join(append(rep.TargetPages, rep.Target.Problems...), "\n  "))
	}
	return nil
}

// migrateTargetError words a PostgreSQL target's refusal.
func migrateTargetError(to string, err error) error {
	var ee *pgkv.EmptyError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return lot.FieldErrorf("to", lot.ECONFLICT, "the target %s; nothing was written", ee.Error())
	case lot.ErrorCode(err) != lot.EINTERNAL:
		return err // a refusal of fill's, already worded
	}
	perr := postgresOpenError(to, err)
	if lot.ErrorCode(perr) == lot.ENODB {
		return lot.FieldErrorf("to", lot.ENODB, "the target: %s; nothing was written there", lot.ErrorMessage(perr))
	}
	return perr
}

// checkNewFile refuses a target file that exists, or whose folder does not.
func checkNewFile(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return lot.FieldErrorf("to", lot.ECONFLICT, "the target %s already exists; a migration writes only a new file and never overwrites one — choose a new name", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return lot.FieldErrorf("to", lot.EINVALID, "the target %s: %v", path, err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return lot.FieldErrorf("to", lot.EINVALID, "the target %s: the folder %s does not exist; create it first", path, filepath.Dir(path))
	}
	return nil
}

// writeNewFile makes a new bbolt file at path: fill writes it under a
// temporary name in the same folder (0600), check (given the temporary
// name) reads it back once it is closed, and only then is it linked in as
// path — never over a file that appeared meanwhile. On any failure the
// temporary file is removed and path never exists.
func writeNewFile(path string, timeout time.Duration, fill func(kv.Engine) error, check func(tmp string) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".writing-*")
	if err != nil {
		return lot.Errorf(lot.EINVALID, "%s cannot be created: %v", path, err)
	}
	tmp := f.Name()
	f.Close()
	defer func() {
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	e, err := boltkv.Open(tmp, &boltkv.Options{Timeout: timeout, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		return os.OpenFile(name, flag&^os.O_CREATE, perm) // the empty file just made, which bbolt initialises
	}})
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	err = fill(e)
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(tmp); err != nil {
			return err
		}
	}
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return lot.Errorf(lot.ECONFLICT, "%s appeared while celltrack wrote it; it was not overwritten — choose a new name", path)
	} else if err != nil {
		return fmt.Errorf("put %s in place: %w", path, err)
	}
	os.Remove(tmp)
	tmp = ""
	syncDir(filepath.Dir(path))
	return nil
}

// staleAge is how long a temporary file must have been left unchanged
// before removeStaleWrites takes it for abandoned: a live writer changes
// its file as it copies, and between creating it and bbolt's lock on it a
// moment passes in which it is held by nobody.
const staleAge = time.Minute

// StaleWrite is a temporary copy writeNewFile left behind, beside path:
// Removed when removeStaleWrites deleted it, else why it was kept.
type StaleWrite struct {
	Path    string
	Removed bool
	Kept    string
}

// removeStaleWrites deletes the temporary copies of path that a killed
// migrate (or PostgreSQL backup) left beside it — each a full copy of the
// database, patient data and password hashes with it — when nobody holds
// them and they have not changed for staleAge, and returns what it found.
func removeStaleWrites(path string) []StaleWrite {
	names, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+".writing-*"))
	var found []StaleWrite
	for _, n := range names {
		fi, err := os.Lstat(n)
		switch {
		case err != nil || !fi.Mode().IsRegular():
			continue
		case time.Since(fi.ModTime()) < staleAge:
			found = append(found, StaleWrite{Path: n, Kept: "changed less than a minute ago: another celltrack may be writing it"})
		case !abandoned(n):
			found = append(found, StaleWrite{Path: n, Kept: "another process holds it"})
		case os.Remove(n) != nil:
			found = append(found, StaleWrite{Path: n, Kept: "it cannot be removed"})
		default:
			found = append(found, StaleWrite{Path: n, Removed: true})
		}
	}
	return found
}
