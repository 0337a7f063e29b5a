package store

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestReview21AdminOwnNameWithInitialOrSuffix (review 21, finding A): the
// admin look-alike check (fix20b, lot.MayBeSameName) folds word order,
// titles, accents and confusable letters, but an admin adds a second
// account of her own by writing a middle initial, an initial for the first
// name, or a number or shift note after her name — forms a printed name on
// a signature takes every day. Each should be refused as the admin's own
// (forbidden, exit 3, nothing written), as "Adams, Alice" is; on main each
// is created, and the admin can then witness her own signatures.
func TestReview21AdminOwnNameWithInitialOrSuffix(t *testing.T) {
	FailedPasswordDelay = 0
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	db, err := Open(testDBPath(t), Options{Create: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Init("G1234", audit.User{Name: "alice", FullName: "Alice Adams"}, testPassword); err != nil {
		t.Fatal(err)
	}
	for i, full := range []string{"Alice M. Adams", "A. Adams", "Alice Adams 2", "Alice Adams (nights)"} {
		name := []string{"am1", "am2", "am3", "am4"}[i]
		before, _ := db.AuditCount()
		_, err := db.AddUser("alice", audit.User{Name: name, FullName: full, Role: audit.Nurse}, testFirstPassword, testPassword)
		if lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), "reads as the admin's own") {
			t.Errorf("alice adds %s --full-name %q: %v; want refused as the admin's own printed name", name, full, err)
		}
		if after, _ := db.AuditCount(); after != before {
			t.Errorf("alice adds %s --full-name %q: %d audit entries written", name, full, after-before)
		}
	}
}
