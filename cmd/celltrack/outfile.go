package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
)

// forceFlag lets a command that writes --out replace an existing file.
var forceFlag = &cli.BoolFlag{Name: "force", Usage: "replace --out if it already exists"}

// writeOut writes a report, certificate or label file. Such files carry
// patient data, so they are created readable by their owner only (0600), and
// an existing file is never silently replaced — it may be another patient's
// report or an earlier print someone still needs — unless force. A write
// that fails removes what it wrote.
//
// With force the file is written beside path under a temporary name and then
// renamed over path, so that what is replaced is the directory entry path
// names: a symbolic link is replaced by the report, never followed into its
// target (which may be anything the user can write, another report or a
// file of the system), and a failed write leaves the old file as it was.
func writeOut(path string, data []byte, force bool) error {
	if force {
		return replaceOut(path, data)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return lot.Errorf(lot.ECONFLICT, "--out %s already exists; celltrack does not overwrite it — choose a new name, or add --force to replace it", path)
	} else if err != nil {
		return lot.Errorf(lot.EINVALID, "--out %s cannot be written: %v", path, err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return lot.Errorf(lot.EINVALID, "--out %s cannot be written: %v", path, err)
	}
	return nil
}

// replaceOut writes data to a new 0600 file in path's directory and renames
// it to path (rename replaces the entry, whatever it is: a file, or a link).
func replaceOut(path string, data []byte) error {
	st, err := os.Lstat(path)
	if err == nil && st.IsDir() {
		return lot.Errorf(lot.EINVALID, "--out %s is a directory; give a file name in it", path)
	}
	// --force replaces reports, never the records themselves: a database
	// (the live one, a backup, a file kept by restore) or a signing key.
	if err == nil && st.Mode().IsRegular() {
		if store.IsDatabaseFile(path) {
			return lot.Errorf(lot.EINVALID, "--out %s is a celltrack database; a report never replaces one, not even with --force — choose another file name", path)
		}
		if b, err := os.ReadFile(path); err == nil && bytes.HasPrefix(b, []byte("PRIVATE+KEY+")) {
			return lot.Errorf(lot.EINVALID, "--out %s is a checkpoint signing key; a report never replaces one, not even with --force — choose another file name", path)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return lot.Errorf(lot.EINVALID, "--out %s cannot be written: %v", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600) // CreateTemp makes it 0600; said here, not assumed
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return lot.Errorf(lot.EINVALID, "--out %s cannot be written: %v", path, err)
	}
	return nil
}
