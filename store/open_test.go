package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
)

func TestOpenRefusals(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nosuch.db")
	if _, err := Open(missing, Options{}); lot.ErrorCode(err) != lot.ENODB || !strings.Contains(err.Error(), "no database at "+missing) {
		t.Errorf("missing file: %v; want ENODB", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("opening a missing database created it")
	}
	if _, err := Open(missing, Options{ReadOnly: true}); lot.ErrorCode(err) != lot.ENODB {
		t.Errorf("missing file, read-only: %v; want ENODB", err)
	}
	// A kept backup that is not there is not offered to be initialized:
	// that would make an empty database under the backup's name.
	_, err := OpenAsIs(missing, Options{Role: KeptBackup})
	if lot.ErrorCode(err) != lot.ENODB || lot.ErrorField(err) != "backup" || !strings.Contains(err.Error(), "no backup at "+missing+"; check the path of the backup file") || strings.Contains(err.Error(), "initialize") {
		t.Errorf("missing backup: %v (field %q); want ENODB on backup, naming the backup, not offering init", err, lot.ErrorField(err))
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("opening a missing backup created it")
	}
	db := newTestDB(t)
	if _, err := Open(db.Path(), Options{Create: true}); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("create over an existing file: %v; want ECONFLICT", err)
	}
	if _, err := Open(dir, Options{}); lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: %v; want EINVALID", err)
	}
	// A bbolt file that celltrack did not make.
	other := filepath.Join(dir, "other.db")
	b, err := boltkv.Open(other, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := Open(other, Options{}); lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "is not a celltrack database") {
		t.Errorf("foreign bbolt file: %v; want EINVALID", err)
	}
}

// TestOpenRefusesNewerSchema: a database written by a newer celltrack is
// refused rather than misread.
func TestOpenRefusesNewerSchema(t *testing.T) {
	db := newTestDB(t)
	path := db.Path()
	err := db.engine.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), []byte("99")) })
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(path, Options{ReadOnly: true, Timeout: time.Second})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), fmt.Sprintf("has schema version 99, newer than this celltrack (%d)", SchemaVersion)) {
		t.Fatalf("newer schema: %v; want ECONFLICT", err)
	}
	// Reopen so that newTestDB's cleanup can check and close it.
	db.engine, err = boltkv.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestInitCreatesPrivateFile(t *testing.T) {
	db := newTestDB(t)
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("database mode %s, want -rw-------", perm)
	}
}

// TestOpenNeverCreatesOutsideInit: a file that vanishes between Open's check
// and bbolt's open is not made anew (bbolt asks for O_CREATE on every
// writable open), init never takes over a file that appeared meanwhile, and
// an empty file is refused, left as it was.
func TestOpenNeverCreatesOutsideInit(t *testing.T) {
	dir := t.TempDir()
	gone := filepath.Join(dir, "gone.db")
	if _, err := openFile(false)(gone, os.O_RDWR|os.O_CREATE, 0o600); !os.IsNotExist(err) {
		t.Errorf("a vanished file: %v; want not-exist", err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("opening a vanished database created it")
	}
	appeared := filepath.Join(dir, "appeared.db")
	if err := os.WriteFile(appeared, []byte("someone else's file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openFile(true)(appeared, os.O_RDWR|os.O_CREATE, 0o600); !os.IsExist(err) {
		t.Errorf("init over a file that appeared: %v; want exist", err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		if _, err := Open(empty, Options{ReadOnly: ro, Timeout: time.Second}); lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(err.Error(), "is an empty file") {
			t.Errorf("an empty file (read-only %t): %v; want EINVALID", ro, err)
		}
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was changed: %v %v", fi, err)
	}
}
