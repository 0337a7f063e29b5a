package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// Backup writes a consistent copy of the whole database to a new file at
// path, from one read transaction, while other processes keep writing (bbolt
// readers never block the writer). The file is created 0600 and never
// overwrites an existing one; a partial file is removed on failure. Restoring
// is copying the file back while no celltrack runs. It returns the bytes
// written.
func (db *DB) Backup(path string) (int64, error) {
	return db.backup(path, nil)
}

// backup writes the copy from one read transaction, after running before
// (a verification) in it when given. A file is copied as it is (bbolt's
// WriteTo); any other engine's database — PostgreSQL's — is written as a
// bbolt file, a snapshot, bucket by bucket through the kv seam (copyTx),
// from that same read transaction (REPEATABLE READ on PostgreSQL).
func (db *DB) backup(path string, before func(tx kv.Tx) error) (int64, error) {
	exists := lot.FieldErrorf("out", lot.ECONFLICT, "the backup file %s already exists; a backup never overwrites a file — choose a new name", path)
	if _, err := os.Lstat(path); err == nil {
		return 0, exists
	}
	// Written under a temporary name beside it (0600) and linked into
	// place once complete: a backup killed or failing midway leaves no
	// truncated file under the name a later restore would be given.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".writing-*")
	if err != nil {
		return 0, lot.FieldErrorf("out", lot.EINVALID, "the backup file %s cannot be created: %v", path, err)
	}
	tmp := f.Name()
	var n int64
	snapshot := false
	err = db.view(func(tx kv.Tx) (err error) {
		if before != nil {
			if err := before(tx); err != nil {
				return err
			}
		}
		if wt, ok := tx.(io.WriterTo); ok {
			n, err = wt.WriteTo(f)
			return err
		}
		// A snapshot: bbolt writes the file itself, so it is written
		// beside it and put in place of the empty file made above.
		snapshot = true
		f.Close()
		if err := os.Remove(tmp); err != nil {
			return err
		}
		return writeNewFile(path, DefaultTimeout, func(e kv.Engine) error {
			_, err := copyInto(tx, e.Update)
			return err
		}, nil)
	})
	if !snapshot {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil && snapshot {
		var fi os.FileInfo
		if fi, err = os.Stat(path); err == nil {
			n = fi.Size()
		}
	}
	if err == nil && !snapshot {
		if lerr := os.Link(tmp, path); errors.Is(lerr, fs.ErrExist) {
			err = exists
		} else if lerr != nil {
			err = fmt.Errorf("put the backup in place at %s: %w", path, lerr)
		} else {
			syncDir(filepath.Dir(path))
		}
	}
	if !snapshot { // a snapshot's own file is removed by writeNewFile
		os.Remove(tmp)
	}
	if err != nil {
		if err == exists {
			return 0, err
		}
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	return n, nil
}

// recoverDamage turns a panic raised by bbolt while reading a damaged file
// (a page that does not identify as itself, say) into a refusal that names
// the file and says what to do, instead of a crash with a stack trace. bbolt
// has already rolled the transaction back when the panic reaches here. Any
// other panic is a bug in celltrack, not damage: telling the user to restore
// a backup would send them to replace a good file, so it is EINTERNAL with the
// panic value and the stack.
//
// Every caller also defers debug.SetPanicOnFault(debug.SetPanicOnFault(true))
// before it: bbolt reads the file through mmap, and a page read past the end
// of a truncated file faults, which would otherwise kill the process instead
// of panicking inside bbolt.
//
// A panic carrying a *kv.Error is an engine's read that could not be
// answered (kv's contract: reads do not return errors): it becomes this
// call's error, worded by engineError when the engine says why (busy,
// unavailable, in doubt).
//
// A transaction that returns (not panics with) such a *kv.Error — a write
// that waited for another writer past the lock timeout, or collided with
// others until the engine gave up — is worded the same way: this is the one
// place where every transaction of either engine passes, so exit 11 and
// HTTP 503 follow wherever a write runs.
func (db *DB) recoverDamage(err *error) {
	if r := recover(); r != nil {
		var ke *kv.Error
		if e, ok := r.(error); ok && errors.As(e, &ke) {
			if w := engineError(db.path, e); w != e {
				*err = w
				return
			}
			*err = fmt.Errorf("read %s: %w", db.path, ke)
			return
		}
		if panickedInBolt() {
			*err = lot.Errorf(lot.ECONFLICT, "the database file %s is damaged (%v); nothing was written — run the database check and restore the last good backup", db.path, r).Run("check")
			return
		}
		*err = lot.Errorf(lot.EINTERNAL, "internal error (a bug in celltrack, not damage to %s; nothing was written — please report it with this text): panic: %v\n%s", db.path, r, debug.Stack())
		return
	}
	if *err != nil && lot.ErrorCode(*err) == lot.EINTERNAL {
		*err = engineError(db.path, *err)
	}
}

// panickedInBolt reports whether the panic being recovered was raised by
// bbolt's own code (its page checks and assertions, or a runtime error such
// as an index out of range while it decoded a page). It must be called from
// the deferred function that recovers: the panicking frames are still on the
// stack, below runtime.gopanic.
func panickedInBolt() bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	seenPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			seenPanic = true
		case seenPanic && !strings.HasPrefix(f.Function, "runtime."):
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt.") || strings.HasPrefix(f.Function, "go.etcd.io/bbolt/")
		}
		if !more {
			return false
		}
	}
}
