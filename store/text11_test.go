package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// text11: a refusal rebuilt from another's words kept the words and lost
// the rest: restore by an admin the backup does not know answered
// ECONFLICT with no field, where the store's own refusal names the acting
// user (field "user", which the command line words as --user NAME or
// CELLTRACK_USER). lot.Wrapf keeps the original's code, field and command,
// and the original in the chain.
func TestText11RestoreByActorNotInBackupKeepsField(t *testing.T) {
	db, backup := liveAndBackup(t)
	reopenBolt(t, db)
	const pw = "amber-fjord-cobalt-77"
	if _, err := db.AddUser("alice", audit.User{Name: "bob", FullName: "Bob Kerr", Role: audit.Admin}, "pewter-lagoon-osprey-64", testPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChangePassword("bob", "pewter-lagoon-osprey-64", pw, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileSum(t, db.Path())
	opts := restoreOpts(db, backup)
	opts.Actor, opts.Password = "bob", pw
	_, err := Restore(db.Path(), opts)
	var inner *lot.Error
	if lot.ErrorField(err) != "user" || lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), `no user "bob"`) ||
		!strings.Contains(err.Error(), "restore as an admin the backup knows") || !errors.As(errors.Unwrap(err), &inner) {
		t.Errorf("restore by bob, whom the backup does not know: %v (code %s, field %q); want the store's refusal of an unknown user — EFORBIDDEN, field user — said of the backup, wrapping it",
			err, lot.ErrorCode(err), lot.ErrorField(err))
	}
	if fileSum(t, db.Path()) != before {
		t.Errorf("the refused restore changed the database")
	}
	noReplacedFile(t, db.Path())
}
