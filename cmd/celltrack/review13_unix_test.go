//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// review13 finding E: restore run as root (the usual way in an emergency:
// sudo) over a database the service account owns puts back a file root
// owns, mode 0600: the server, run as its own account, can no longer open
// the database it was just restored for. The replaced file keeps its owner
// and mode (the file renamed aside), the new one has neither. README says
// to run restore "as the account that owns the database" only for a file
// restore cannot open — root opens every file.
// Expected: the restored file gets the replaced file's owner, group and
// mode (or restore refuses, naming the owner, before anything is changed).
func TestReview13RestoreAsRootTakesTheFileFromItsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, as the restore it shows runs as root")
	}
	path := newCLIDB(t)
	backup := filepath.Join(filepath.Dir(path), "b.db")
	if code, _, stderr := runCLI(path, "--user", "alice", "backup", "--out", backup); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	const service = 65534 // nobody: the service account
	if err := os.Chown(path, service, service); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLIStdin(path, fixturePassword+"\n", "--user", "alice", "restore", "--from", backup, "--password-stdin")
	if code != 0 {
		return // refused: acceptable when it says why
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != service || st.Gid != service || fi.Mode().Perm() != 0o640 {
		t.Errorf("restore as root over a database owned by uid %d (0640) left it owned by uid %d gid %d, mode %04o: the service can no longer open it\n%s", service, st.Uid, st.Gid, fi.Mode().Perm(), stderr)
	}
}
