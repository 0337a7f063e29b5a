package store

import (
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
)

// BenchmarkDoseCheckSecondDose is the bedside check of day 7 of
// sle-uc-d0d7 after day 0 was given: the course has a given infusion, so
// the check reads the zone history of the course's days (the facility's
// and its site's zone changes, review 17 B) to count the day it was given
// on, from the facility's one zone change. On PostgreSQL with CELLTRACK_TEST_ENGINE=postgres and
// CELLTRACK_TEST_POSTGRES set.
//
//	go test ./store -run '^$' -bench DoseCheckSecondDose
func BenchmarkDoseCheckSecondDose(b *testing.B) {
	db, d := bedside(b, "0.5")
	// A facility whose zone was set: its record has an audit entry to read
	// (Europe/London is UTC+0 in November, so the days are the same).
	if _, err := NewCustodyService(db).SetFacilityZone("alice", "Europe/London", "the unit is in London"); err != nil {
		b.Fatal(err)
	}
	if _, _, err := d.Administer(mustUser(b, db, "nina"), mustUser(b, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		b.Fatal(err)
	}
	day7 := db.Now().AddDate(0, 0, 7)
	db.Now = func() time.Time { return day7 }
	if _, err := NewLotService(db).Weigh("nina", "MRN-1", 62_000, day7.Add(-time.Hour)); err != nil {
		b.Fatal(err)
	}
	dispense(b, db, bag2, day7.Add(-30*time.Minute), 100_000_000, "MRN-1")
	refs := []string{bag2}
	if r, err := d.Check("MRN-1", refs, 0); err != nil || !r.GO {
		b.Fatalf("check: %v %v", err, r.Failed())
	}
	for b.Loop() {
		if _, err := d.Check("MRN-1", refs, 0); err != nil {
			b.Fatal(err)
		}
	}
}
