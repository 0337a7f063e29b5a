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

// TestRestoreRefusesWhenItCannotGiveTheFileItsOwner: a restore that cannot
// give the restored file the replaced file's owner (run as an account that
// is neither root nor the owner: chown is refused) refuses before anything
// is changed, naming the owner to run it as, rather than putting in place
// a file the service account cannot open. Run as root the file keeps its
// owner, group and mode (TestReview13RestoreAsRootTakesTheFileFromItsOwner
// in cmd/celltrack).
func TestRestoreRefusesWhenItCannotGiveTheFileItsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the database to another account")
	}
	db, backup := liveAndBackup(t)
	const service = 65534 // nobody
	if err := os.Chown(db.Path(), service, service); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, db.Path())
	chown = func(string, int, int) error {
		return &os.PathError{Op: "chown", Path: "x", Err: syscall.EPERM}
	}
	t.Cleanup(func() { chown = os.Chown })
	_, err := Restore(db.Path(), restoreOpts(db, backup))
	if lot.ErrorCode(err) != lot.ECONFLICT || lot.ErrorField(err) != "db" || !strings.Contains(lot.ErrorMessage(err), "uid 65534") || !strings.Contains(lot.ErrorMessage(err), "run restore as") {
		t.Fatalf("restore that cannot chown: %v (code %s, field %q); want a conflict on db naming uid 65534 and whom to run it as", err, lot.ErrorCode(err), lot.ErrorField(err))
	}
	if fileSum(t, db.Path()) != before {
		t.Fatal("the database changed")
	}
	noReplacedFile(t, db.Path())
}
