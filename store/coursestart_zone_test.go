package store

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
)

// d0d7EndsOnTheSecond is bedside's MRN-1 (UTC facility) with its course of
// sle-uc-d0d7 ended by infusion 2 at h:00 UTC on 2026-12-02; at sets the
// clock to h:m UTC on day of December 2026.
func d0d7EndsOnTheSecond(t *testing.T, h int) (*DB, *DoseService, func(day, h, m int)) {
	t.Helper()
	return d0d7EndsOnTheSecondIn(t, "", h)
}

// d0d7EndsOnTheSecondIn is d0d7EndsOnTheSecond with the facility's zone
// set to tz ("": UTC) before infusion 1, so the course's days are counted
// there.
func d0d7EndsOnTheSecondIn(t *testing.T, tz string, h int) (*DB, *DoseService, func(day, h, m int)) {
	t.Helper()
	db, d := bedside(t, "0.5")
	if tz != "" {
		if _, err := NewCustodyService(db).SetFacilityZone("alice", tz, "the unit's zone"); err != nil {
			t.Fatal(err)
		}
	}
	nina, omar := mustUser(t, db, "nina"), mustUser(t, db, "omar")
	if _, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	at := func(day, h, m int) {
		db.Now = func() time.Time { return time.Date(2026, 12, day, h, m, 0, 0, time.UTC) }
	}
	at(2, h-1, 30)
	if _, err := NewLotService(db).Weigh("nina", "MRN-1", 62_000, db.Now()); err != nil {
		t.Fatal(err)
	}
	dispense(t, db, bag2, db.Now(), 100_000_000, "MRN-1")
	at(2, h, 0)
	if _, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag2}}); err != nil {
		t.Fatalf("setup: infusion 2 at %02d:00 UTC on 2026-12-02: %v", h, err)
	}
	return db, d, at
}

// TestMovedCourseKeepsClearOfTheLastInfusionAcrossAZoneChange: moving a
// course's infusion towards the patient's last infusion of an earlier
// course counts that infusion's day as history keeps it — in the zone in
// force when it was given — not recounted in the zone now (review 19 H,
// the ChangeSchedule half). MRN-1's course of sle-uc-d0d7 ends at 09:00
// UTC on 2026-12-02 (UTC facility); a course of sle-uc-single is created
// for the 4th, the earliest; the facility then moves to Pacific/Honolulu,
// where 09:00 UTC was still the 1st. Moving the new course to the 3rd would
// open its window on the 2nd, the day the last dose was given: refused,
// nothing written.
func TestMovedCourseKeepsClearOfTheLastInfusionAcrossAZoneChange(t *testing.T) {
	db, d, at := d0d7EndsOnTheSecond(t, 9)
	at(2, 9, 10)
	if _, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-single", time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), ""); err != nil {
		t.Fatalf("setup: a course starting on the earliest day, 2026-12-04: %v", err)
	}
	at(2, 9, 30)
	if _, err := NewCustodyService(db).SetFacilityZone("alice", "Pacific/Honolulu", "the unit is in Honolulu"); err != nil {
		t.Fatal(err)
	}
	at(2, 10, 0)
	pat := mustUser(t, db, "pat")
	before := auditLen(t, db)
	_, err := d.ChangeSchedule(pat, "MRN-1", 1, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), "moved for the test")
	if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), "last infusion of an earlier course on 2026-12-02") ||
		!strings.Contains(lot.ErrorMessage(err), "on 2026-12-04 or later") {
		t.Errorf("moving the new course to 2026-12-03, its window opening on 2026-12-02, the day the last infusion was given as history keeps it: %v; want EINVALID naming 2026-12-02 and 2026-12-04", err)
	}
	if n := auditLen(t, db); err != nil && n != before {
		t.Errorf("the refusal wrote %d entries", n-before)
	}
	if _, err := d.ChangeSchedule(pat, "MRN-1", 1, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), "moved for the test"); err != nil {
		t.Errorf("moving it to 2026-12-05, clear of the last infusion: %v", err)
	}
}

// TestNewCourseAtAnotherSiteCountsTheLastInfusionThere: a new course at a
// site in another zone counts the last infusion's day in that site's zone
// (as in force when it was given), as it did before review 19 H: MRN-1's
// course ended at 20:00 UTC on 2026-12-02 at the UTC facility, 04:00 on the
// 3rd in Nanjing; a course of sle-uc-single at CLINIC-CN starting on the
// 4th would open its window on the 3rd there, the Nanjing day of that dose.
func TestNewCourseAtAnotherSiteCountsTheLastInfusionThere(t *testing.T) {
	db, d, at := d0d7EndsOnTheSecond(t, 20)
	if _, err := NewCustodyService(db).AddSite("liu", lot.Site{Code: "CLINIC-CN", Name: "Nanjing", TZ: "Asia/Shanghai"}); err != nil {
		t.Fatal(err)
	}
	at(2, 20, 30)
	before := auditLen(t, db)
	_, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-single", time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), "CLINIC-CN")
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "last given an infusion on 2026-12-03") ||
		!strings.Contains(lot.ErrorMessage(err), "choose 2026-12-05 or later") {
		t.Errorf("a course at CLINIC-CN starting 2026-12-04: %v; want ECONFLICT naming 2026-12-03 in Nanjing and 2026-12-05", err)
	}
	if n := auditLen(t, db); err != nil && n != before {
		t.Errorf("the refusal wrote %d entries", n-before)
	}
	if _, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-single", time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), "CLINIC-CN"); err != nil {
		t.Errorf("a course at CLINIC-CN starting 2026-12-05: %v", err)
	}
}

// TestNewCourseAtASiteADayBehindKeepsTheOldCoursesDay: a new course at a
// site whose zone counts the last infusion a day earlier than its own
// course did keeps clear of the later day (dose.LastInfusionDay). MRN-1's
// course of sle-uc-d0d7 is counted in Pacific/Kiritimati (UTC+14) and ends
// with infusion 2 at 09:00 UTC on 2026-12-02: 23:00 on the 2nd there, as its
// `schedule show` keeps it; at CLINIC-HNL (Pacific/Honolulu, UTC-10) the
// same instant is 23:00 on the 1st. A course of sle-uc-single at CLINIC-HNL
// starting on the 3rd would open its window on the 2nd, the day the old
// course gave that dose: refused by `schedule create` and by a `schedule
// change` moving a course to it, naming 2026-12-02; nothing written.
func TestNewCourseAtASiteADayBehindKeepsTheOldCoursesDay(t *testing.T) {
	db, d, at := d0d7EndsOnTheSecondIn(t, "Pacific/Kiritimati", 9)
	if _, err := NewCustodyService(db).AddSite("liu", lot.Site{Code: "CLINIC-HNL", Name: "Honolulu", TZ: "Pacific/Honolulu"}); err != nil {
		t.Fatal(err)
	}
	_, old, err := d.Courses("MRN-1")
	if err != nil || len(old) != 1 || !old[0].Ended || len(old[0].Entries) != 2 || !old[0].Entries[1].Given.Day.Equal(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("setup: the old course keeps infusion 2 on 2026-12-02 in Kiritimati: %+v, %v", old, err)
	}
	at(2, 9, 30)
	before := auditLen(t, db)
	_, err = d.CreateSchedule("pat", "MRN-1", "sle-uc-single", time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), "CLINIC-HNL")
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "last given an infusion on 2026-12-02") ||
		!strings.Contains(lot.ErrorMessage(err), "choose 2026-12-04 or later") {
		t.Errorf("a course at CLINIC-HNL starting 2026-12-03: %v; want ECONFLICT naming 2026-12-02 (its day on the old course) and 2026-12-04", err)
	}
	if n := auditLen(t, db); n != before {
		t.Errorf("the refusal wrote %d entries", n-before)
	}
	if _, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-single", time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), "CLINIC-HNL"); err != nil {
		t.Fatalf("a course at CLINIC-HNL starting 2026-12-04: %v", err)
	}
	pat := mustUser(t, db, "pat")
	before = auditLen(t, db)
	_, err = d.ChangeSchedule(pat, "MRN-1", 1, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), "moved for the test")
	if lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), "last infusion of an earlier course on 2026-12-02") ||
		!strings.Contains(lot.ErrorMessage(err), "on 2026-12-04 or later") {
		t.Errorf("moving the new course to 2026-12-03: %v; want EINVALID naming 2026-12-02 and 2026-12-04", err)
	}
	if n := auditLen(t, db); n != before {
		t.Errorf("the refusal wrote %d entries", n-before)
	}
}
