//go:build unix

package store

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// TestRestoreLocksADamagedFile: a file too damaged to open is still locked
// before it is renamed: while another process holds it (a server whose file
// was damaged under it), restore waits and then refuses, changing nothing.
func TestRestoreLocksADamagedFile(t *testing.T) {
	db, backup := liveAndBackup(t)
	good, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("not a database ", 400))
	if err := os.WriteFile(db.Path(), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(db.Path(), good, 0o600) }) // for newTestDB's cleanup
	f, err := os.Open(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, err = Restore(db.Path(), restoreOpts(db, backup))
	if lot.ErrorCode(err) != lot.EBUSY {
		t.Fatalf("restore over a damaged file another process holds: %v", err)
	}
	if fileSum(t, db.Path()) != sumOf(garbage) {
		t.Fatal("the held file changed")
	}
	noReplacedFile(t, db.Path())
	f.Close()
	rep, err := Restore(db.Path(), restoreOpts(db, backup))
	if err != nil || rep.LiveRead {
		t.Fatalf("restore over the damaged file once released: %v (live read %v)", err, rep.LiveRead)
	}
	if fileSum(t, rep.Replaced) != sumOf(garbage) {
		t.Fatal("the replaced file is not the damaged one")
	}
}

// A restore run as root over the service account's database puts back a
// file with that owner, group and mode (review13 E), not root's 0600.
func TestRestoreKeepsTheOwnerAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the file another owner")
	}
	db, backup := liveAndBackup(t)
	const service = 65534
	if err := os.Chown(db.Path(), service, service); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(db.Path(), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(db.Path(), restoreOpts(db, backup)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != service || st.Gid != service || fi.Mode().Perm() != 0o640 {
		t.Errorf("restored file: uid %d gid %d mode %04o, want %d %d 0640", st.Uid, st.Gid, fi.Mode().Perm(), service, service)
	}
}
