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
	db := newAliceAdamsDB(t, time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
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

// TestReview21RestoredAbsoluteExpiryRevivesEndedSession (review 21, finding
// B): fix20a ends open sessions when the admin shortens the absolute expiry
// ("a laptop was stolen"), but only by reading the expiry in force at each
// use (checkSession): once the admin sets it back, the session ended by the
// shortening — the stolen laptop's — works again, hours after it was
// refused. A session the facility's expiry ended should stay ended.
func TestReview21RestoredAbsoluteExpiryRevivesEndedSession(t *testing.T) {
	db := newTestDB(t)
	now := db.Now()
	db.Now = func() time.Time { return now }
	c, _, err := db.Login("liu", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := now
	set, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	was := set.AbsoluteExpiry
	set.AbsoluteExpiry = time.Hour
	if err := db.SetSettings("alice", set, "a laptop was stolen: sessions end after an hour"); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ { // active every 10 minutes until the 1h expiry ends the session
		now = now.Add(10 * time.Minute)
		_, next, err := db.Session(c)
		if err != nil {
			if lot.ErrorCode(err) != lot.ESESSION || i < 5 {
				t.Fatalf("liu's session after %d minutes: %v; want ended by the 1h absolute expiry after an hour", (i+1)*10, err)
			}
			break
		}
		c = next
	}
	set.AbsoluteExpiry = was
	if err := db.SetSettings("alice", set, "incident closed: back to the usual expiry"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute) // within the idle expiry of liu's last use (09:50)
	if _, _, err := db.Session(c); err == nil {
		t.Errorf("liu's session, ended at %s by the 1h absolute expiry, works again at %s once the expiry is set back to %s",
			lot.FormatTime(opened.Add(time.Hour)), lot.FormatTime(now), was)
	}
}
