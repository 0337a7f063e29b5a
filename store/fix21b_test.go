package store

import (
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// TestFix21bRestoredIdleExpiryRevivesNoSession: the idle expiry's twin of
// review 21's finding B. An admin shortens the idle expiry to end the
// sessions left open (a stolen laptop, idle six minutes), then sets it back:
// the session the shorter expiry ended stays ended, although its last use is
// within the restored one. A session used since the shortening, by reads
// only (the client file's activity), is not ended by the setting back.
func TestFix21bRestoredIdleExpiryRevivesNoSession(t *testing.T) {
	db := newTestDB(t)
	now := db.Now()
	db.Now = func() time.Time { return now }
	stolen, _, err := db.Login("liu", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	busy, _, err := db.Login("nina", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	was := set.IdleExpiry
	set.IdleExpiry = 5 * time.Minute
	if err := db.SetSettings("alice", set, "a laptop was stolen: end the idle sessions"); err != nil {
		t.Fatal(err)
	}
	for range 3 { // nina reads every 3 minutes; liu's laptop is untouched
		now = now.Add(3 * time.Minute)
		if _, busy, err = db.Session(busy); err != nil {
			t.Fatalf("nina's session, read every 3 minutes: %v", err)
		}
	}
	if _, _, err := db.Session(stolen); lot.ErrorCode(err) != lot.ESESSION {
		t.Fatalf("liu's session idle 9 minutes under a 5-minute idle expiry: %v, want ESESSION", err)
	}
	set.IdleExpiry = was
	if err := db.SetSettings("alice", set, "incident closed: back to the usual idle expiry"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, _, err := db.Session(stolen); lot.ErrorCode(err) != lot.ESESSION {
		t.Errorf("liu's session, ended by the 5-minute idle expiry, after it is set back to %s: %v, want ESESSION", was, err)
	}
	if _, _, err := db.Session(busy); err != nil {
		t.Errorf("nina's session, read a minute before, after the idle expiry is set back: %v", err)
	}
}
