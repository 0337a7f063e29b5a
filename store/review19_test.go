package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
)

// review19 finding A (fix17b): an infusion recorded with a --start before
// a zone change (administer takes a start up to 12 hours back) is judged by
// its bedside check in the zone in force at recording, but its history —
// schedule show's given day, every trace's deviations — counts it in the
// zone in force at its start. Steps: the facility (UTC) is set to
// Pacific/Honolulu at 09:10 UTC on 2026-11-25, set back to UTC at 09:40
// ("Honolulu was a mistake"); at 10:00 the nurse records infusion 1 with
// --start 09:30. The check counts 09:30 in UTC, 2026-11-25, the planned
// day: GO, signed. The patient trace then lists "given 1 day earlier than
// planned" (09:30 UTC is 23:30 on the 24th in Honolulu) and schedule show
// says it was given on the 24th — a day no check ever judged, on a record
// two nurses signed as on time. Expected: the day the check judged is the
// day the history keeps (README: "the day its bedside check judged").
func TestReview19BackdatedStartAcrossAZoneChangeIsJudgedTwoWays(t *testing.T) {
	db, d := bedside(t, "0.5")
	at := func(h, m int) { db.Now = func() time.Time { return time.Date(2026, 11, 25, h, m, 0, 0, time.UTC) } }
	cs := NewCustodyService(db)
	at(9, 10)
	if _, err := cs.SetFacilityZone("alice", "Pacific/Honolulu", "the unit is in Honolulu"); err != nil {
		t.Fatal(err)
	}
	at(9, 40)
	if _, err := cs.SetFacilityZone("alice", "UTC", "Honolulu was a mistake: the unit is in London"); err != nil {
		t.Fatal(err)
	}
	at(10, 0)
	start := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	a := dose.Administration{MRN: "MRN-1", Containers: []string{bag1}, Start: start}
	r, err := d.CheckAdministration(a)
	if err != nil || !r.GO {
		t.Fatalf("setup: the check of infusion 1 started 09:30 UTC on its planned day: %v %v", err, failed(r))
	}
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), a); err != nil {
		t.Fatal(err)
	}
	_, courses, err := d.Courses("MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := lot.FormatDate(courses[0].Entries[0].Given.DayIn(courses[0].Zone)); got != "2026-11-25" {
		t.Errorf("schedule show: infusion 1 given on %s; its bedside check judged it on 2026-11-25 (GO, signed)", got)
	}
	tr, err := newTraces(db).Patient(context.Background(), "nina", "MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, dv := range tr.Deviations {
		t.Errorf("the trace lists a deviation the GO check never saw: %s: %s", dv.Kind, dv.Detail)
	}
}

// review19 finding B (fix17b): a zone change and an infusion at the same
// instant — the clock of a test, a coarse clock, or two writes a clock tick
// apart — are ordered by the history against the order they were written.
// zonesOf's at() puts a change "in force after its instant", so an infusion
// recorded at the instant of a change is counted in the zone before it;
// but the infusion's bedside check ran after the change was committed, in
// the new zone. Steps: at 09:00 UTC on 2026-11-25 the facility (UTC) is set
// to Pacific/Honolulu; then, at the same instant, infusion 1 (planned
// 2026-11-25, window 24–26) is checked and recorded. The check counts
// 09:00 UTC in Honolulu: 2026-11-24, a day early, inside the window, GO.
// The history counts it in UTC: schedule show says given 2026-11-25 and the
// trace lists no deviation — the day-early infusion the check judged is
// gone from every report. Expected: the history counts the infusion in the
// zone its check counted it in (the change was written first).
func TestReview19ZoneChangeAtTheInstantOfAnInfusionIsUndoneInHistory(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, err := NewCustodyService(db).SetFacilityZone("alice", "Pacific/Honolulu", "the unit is in Honolulu"); err != nil {
		t.Fatal(err)
	}
	a := dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}
	r, err := d.CheckAdministration(a)
	if err != nil || !r.GO {
		t.Fatalf("setup: %v %v", err, failed(r))
	}
	// The check counts today, 09:00 UTC, in the zone of its report.
	checked := lot.ZoneName(r.Zone) + ": today " + lot.FormatDate(dose.DateIn(db.Now(), r.Zone))
	if checked != "Pacific/Honolulu: today 2026-11-24" {
		t.Fatalf("setup: the check counted %s; want Pacific/Honolulu: today 2026-11-24", checked)
	}
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), a); err != nil {
		t.Fatal(err)
	}
	_, courses, err := d.Courses("MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := lot.FormatDate(courses[0].Entries[0].Given.DayIn(courses[0].Zone)); got != "2026-11-24" {
		t.Errorf("schedule show: infusion 1 given on %s; its bedside check (%s) counted it on 2026-11-24, in the zone written before it", got, checked)
	}
	tr, err := newTraces(db).Patient(context.Background(), "nina", "MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Deviations) == 0 {
		t.Errorf("the trace lists no deviation for an infusion its check counted a day early (%s)", checked)
	}
}

// review19 finding G (fix17b, review 17 D): the trace shows, under an
// infusion, "the physician's signed confirmation" of the weight it was
// dosed on — any confirmation of that weight record, whenever it was
// signed. Steps: infusion 1 is given at 09:00 on 62.0 kg, a weight that
// needed no confirmation (GO, no physician involved); at 11:00 the
// physician confirms the same 62.0 kg record (ConfirmWeight does not ask
// whether a confirmation is needed, and the weight is still the latest).
// The patient trace now shows under infusion 1 "Weight signed: Dr Pat …
// confirmed the weight 62.0 kg" — an infusion's record gains, after it was
// given, a signature that had no part in it, and reads as if a physician
// let its weight through. Expected: the trace of an infusion shows the
// confirmation only when it was signed before the infusion (the one the
// bedside check could have counted); a later one is not the infusion's.
// Since left14b the later confirmation is not even written: no check needs
// a weight an infusion was given on confirmed (dose.CheckWeightConfirmation),
// so it is refused, nothing written, and the trace stays as it was.
func TestReview19TraceAttachesALaterWeightConfirmationToAnEarlierInfusion(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC) }
	before := auditLen(t, db)
	if _, err := d.ConfirmWeight(mustUser(t, db, "pat"), "MRN-1", dose.WeightShown{Grams: 62_000}, "re-weighed after the infusion"); lot.ErrorCode(err) != lot.ECONFLICT ||
		!strings.Contains(lot.ErrorMessage(err), "an earlier infusion was given on it") {
		t.Fatalf("the physician confirms 62.0 kg after an infusion was given on it: %v; want ECONFLICT, no check needs it", err)
	}
	if n := auditLen(t, db); n != before {
		t.Errorf("the refused confirmation wrote %d entries", n-before)
	}
	tr, err := newTraces(db).Patient(context.Background(), "nina", "MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Infusions) != 1 || tr.Infusions[0].WeightRecord == nil {
		t.Fatalf("setup: the trace's infusion carries no weight record: %+v", tr.Infusions)
	}
	in := tr.Infusions[0]
	if c := in.WeightRecord.Confirmation; c != nil {
		t.Errorf("the trace of infusion 1, given %s, shows the weight confirmation %s signed at %s — after it was given, by a physician its check never needed",
			lot.FormatTime(in.Start), c.By, lot.FormatTime(c.At))
	}
}

// review19 finding H (fix17b): a new course's earliest start is counted
// from the last infusion's day recounted in the zone of today, not the day
// history keeps for it. fix17b keeps a given infusion's day in the zone in
// force when it was given (schedule show, traces, the course's own plan),
// but dose.EarliestCourseStart (CreateSchedule's CheckCourseStart, and
// ChangeSchedule's check against an earlier course) still does
// DateIn(last.Start, loc) with the zone now. Steps: MRN-1's course of
// sle-uc-d0d7 ends with infusion 2 at 09:00 UTC on 2026-12-02 (UTC
// facility: given on the 2nd, as schedule show keeps it); at 09:30 the
// facility is set to Pacific/Honolulu; at 10:00 the physician creates a
// course of sle-uc-single starting 2026-12-03. The rule ("never so early
// that the first infusion's window (±1 day) opens on or before that day")
// makes the 4th the earliest; counted in Honolulu the last infusion was on
// the 1st, so the 3rd is accepted — its window opens on the 2nd, the day
// history says the last dose was given: a second full dose may be due the
// day the first course ended, which the rule exists to prevent. Expected:
// refused (ECONFLICT on start), the last infusion's day the one history
// keeps.
func TestReview19NewCourseStartCountsTheLastInfusionInTodaysZone(t *testing.T) {
	db, d, at := d0d7EndsOnTheSecond(t, 9)
	at(2, 9, 30)
	if _, err := NewCustodyService(db).SetFacilityZone("alice", "Pacific/Honolulu", "the unit is in Honolulu"); err != nil {
		t.Fatal(err)
	}
	at(2, 10, 0)
	_, cs, err := d.Courses("MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	if !cs[0].Ended || lot.FormatDate(cs[0].Entries[1].Given.DayIn(cs[0].Zone)) != "2026-12-02" {
		t.Fatalf("setup: the course is not ended with infusion 2 kept on 2026-12-02: ended %t, %+v", cs[0].Ended, cs[0].Entries[1].Given)
	}
	before := auditLen(t, db)
	_, err = d.CreateSchedule("pat", "MRN-1", "sle-uc-single", time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), "")
	if lot.ErrorCode(err) != lot.ECONFLICT {
		t.Errorf("a course of sle-uc-single starting 2026-12-03, its window opening on 2026-12-02, the day the last infusion was given as history keeps it: %v; want ECONFLICT (earliest 2026-12-04)", err)
	}
	if n := auditLen(t, db); err != nil && n != before {
		t.Errorf("the refusal wrote %d entries", n-before)
	}
}
