package dose

import (
	"fmt"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Schedule is one course of a protocol for one patient: the protocol version
// it follows, the start date, and the signed date changes made since. The
// planned dates are not stored: Plan derives them, so that a later infusion
// can follow the actual date of the one before.
type Schedule struct {
	ID              uuid.UUID
	PatientID       uuid.UUID
	ProtocolID      uuid.UUID
	Protocol        string
	ProtocolVersion int
	Course          int       // 1 for the first course of this protocol, 2 for a repeat …
	Start           time.Time // date of infusion 1: a calendar date, stored as midnight UTC
	// SiteID and Site name the site that treats the patient on this course
	// (uuid.Nil and "" when none was given): its days are counted in that
	// site's time zone, or the facility's when neither is set.
	SiteID  uuid.UUID
	Site    string
	Changes []DateChange
	// Given lists the infusions recorded on this course, by number, as
	// `dose administer` records them in the same transaction as the
	// infusion: the audited account of what was given, which the bedside
	// check compares with the patient's infusion index (an index row no
	// audit entry covers can be deleted unnoticed). GivenListed is false for
	// a course stored before schedules carried the list (schema 13): its
	// list is made at its next infusion from what the index then holds.
	Given       []GivenInfusion
	GivenListed bool
	CreatedAt   time.Time
	CreatedBy   string
}

// GivenInfusion is one infusion a schedule records as given on it.
type GivenInfusion struct {
	Number     int
	InfusionID uuid.UUID
}

// GivenFrom returns the infusions given on a course as its entries say, by
// number: the list `dose administer` extends with the infusion it records.
func GivenFrom(es []Entry) []GivenInfusion {
	var gs []GivenInfusion
	for _, e := range es {
		if e.Status == Given {
			gs = append(gs, GivenInfusion{Number: e.Number, InfusionID: e.Given.InfusionID})
		}
	}
	return gs
}

// DateChange moves one planned infusion to another date: a signed, reasoned
// change by a physician.
type DateChange struct {
	Infusion  int
	Date      time.Time
	Reason    string
	Signature audit.Signature
}

// Status is where a planned infusion stands today.
type Status string

// Entry statuses.
const (
	Planned Status = "planned" // its window has not opened
	Due     Status = "due"     // today is inside its window
	Given   Status = "given"   // an infusion was recorded for it
	Missed  Status = "missed"  // its window closed without an infusion
)

// GivenAt is a recorded infusion for a schedule entry.
type GivenAt struct {
	InfusionID uuid.UUID
	At         time.Time
	// Day is the calendar date it was given on where the patient was
	// treated, At counted in the zone in force when it was recorded
	// (midnight UTC, as DateIn): the day its bedside check judged. A zone
	// changed since does not recount it — given infusions are history
	// (review 17 B).
	// Zero: At counted in the zone the plan is made in.
	Day time.Time
}

// DayIn returns the day g was given on: Day, or At counted in loc when
// Day is not known.
func (g GivenAt) DayIn(loc *time.Location) time.Time {
	if !g.Day.IsZero() {
		return g.Day
	}
	return DateIn(g.At, loc)
}

// ZoneAt returns the time zone a course's days were counted in when
// infusion g was recorded (its site's, or the facility's, as they were
// then): the zone its bedside check counted it in, also for a start
// recorded after the fact.
type ZoneAt func(g GivenAt) (*time.Location, error)

// GivenDays sets the Day of each infusion in given: the day it was given
// on in the zone its check counted it in, zoneAt.
func GivenDays(given map[int]GivenAt, zoneAt ZoneAt) error {
	for n, g := range given {
		if g.At.IsZero() {
			continue
		}
		loc, err := zoneAt(g)
		if err != nil {
			return err
		}
		g.Day = DateIn(g.At, loc)
		given[n] = g
	}
	return nil
}

// Entry is one planned infusion of a schedule.
type Entry struct {
	Number       int
	Date         time.Time // planned date
	From, To     time.Time // the window, inclusive dates
	Dose         string
	Status       Status
	Given        GivenAt
	FromPrevious bool // the date follows the actual date of the infusion before
}

// Date returns the calendar date of t read in UTC, as midnight UTC: it
// normalises a value that already is a calendar date (a --start or --date
// typed as YYYY-MM-DD). The day an instant falls on at a site is DateIn.
func Date(t time.Time) time.Time {
	return DateIn(t, time.UTC)
}

// DateIn returns the calendar date on which the instant t falls in loc,
// as midnight UTC (the form every date of a schedule takes, so that dates
// compare and add days without any zone): an infusion at 07:00 on
// 10 December in Nanjing, 23:00 on 9 December UTC, is on 2026-12-10 in
// Asia/Shanghai. Calendar arithmetic on the result (AddDate) is exact
// across daylight-saving changes, which only move the local clock.
func DateIn(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Plan lays out every infusion of schedule s under protocol p as of now,
// given the infusions already recorded (by infusion number), counting days
// in loc, the time zone of the site that treats the patient: "today" is a
// calendar day there, and so is the day an infusion was given unless its
// GivenAt.Day names the day in the zone in force then. Infusion 1 is on the
// start date; each later one is the phase's interval after the one
// before — after its actual date when the protocol follows actual dates and
// it was given, otherwise after its planned date. A signed date change
// overrides the date of its infusion, and later ones follow from it.
func Plan(p Protocol, s Schedule, given map[int]GivenAt, now time.Time, loc *time.Location) []Entry {
	today := DateIn(now, loc)
	var es []Entry
	var prev time.Time
	for n := 1; n <= p.Infusions(); n++ {
		e := Entry{Number: n, Dose: p.DoseText(n)}
		switch {
		case n == 1:
			e.Date = Date(s.Start)
		case p.FollowActual && !given[n-1].At.IsZero():
			e.Date = given[n-1].DayIn(loc).AddDate(0, 0, p.interval(n))
			e.FromPrevious = true
		default:
			e.Date = prev.AddDate(0, 0, p.interval(n))
		}
		for _, c := range s.Changes {
			if c.Infusion == n {
				e.Date, e.FromPrevious = Date(c.Date), false
			}
		}
		e.From, e.To = e.Date.AddDate(0, 0, -p.WindowDays), e.Date.AddDate(0, 0, p.WindowDays)
		switch g, ok := given[n]; {
		case ok:
			e.Status, e.Given = Given, g
		case today.After(e.To):
			e.Status = Missed
		case !today.Before(e.From):
			e.Status = Due
		default:
			e.Status = Planned
		}
		prev = e.Date
		es = append(es, e)
	}
	return es
}

// Ended reports whether a course is over: every infusion given or missed.
func Ended(es []Entry) bool {
	for _, e := range es {
		if e.Status == Planned || e.Status == Due {
			return false
		}
	}
	return true
}

// DueEntry returns the entry due today, if any.
func DueEntry(es []Entry) (Entry, bool) {
	for _, e := range es {
		if e.Status == Due {
			return e, true
		}
	}
	return Entry{}, false
}

// Next returns the first entry not yet given or missed (for `dose calc`
// without --infusion), or the last entry when the course is over.
func Next(es []Entry) Entry {
	for _, e := range es {
		if e.Status == Due || e.Status == Planned {
			return e
		}
	}
	return es[len(es)-1]
}

// CheckDateChange checks that moving infusion n (1-based) of schedule s
// (planned as es as of now) to date keeps every infusion of the course
// strictly ordered and apart: it plans the course again with the change,
// as Plan will after it is stored (later infusions that follow the moved
// one move with it), and requires every infusion's days to end before the
// next one's begin — the day it was given for a given infusion, its ±window
// otherwise — for every pair, whether or not the other infusion was moved
// before. Otherwise two infusions could be due, and given, on one day. Two
// infusions already given are history and not compared. prev is the
// patient's last infusion on an earlier course, or nil, and prevDay the day
// it was given on where s treats the patient, counted in the zone in force
// when it was given (as GivenAt.Day): no infusion of this course may then be
// planned before EarliestCourseStart after it, the rule CheckCourseStart
// applies when the course is created. The other days are counted in loc,
// the zone of the site that treats the patient.
func CheckDateChange(p Protocol, s Schedule, es []Entry, now time.Time, n int, date time.Time, prev *Infusion, prevDay time.Time, loc *time.Location) error {
	date = Date(date)
	given := map[int]GivenAt{}
	for _, e := range es {
		if e.Status == Given {
			given[e.Number] = e.Given
		}
	}
	s.Changes = append(append([]DateChange(nil), s.Changes...), DateChange{Infusion: n, Date: date})
	after := Plan(p, s, given, now, loc)
	w := p.WindowDays
	from, to := date.AddDate(0, 0, -w), date.AddDate(0, 0, w)
	if prev != nil {
		earliest := EarliestCourseStart(p, prevDay)
		for _, e := range after {
			if e.Status != Given && e.Date.Before(earliest) {
				return lot.FieldErrorf("date", lot.EINVALID, "the new date %s would plan infusion %d on %s, too soon after the patient's last infusion of an earlier course on %s (%s course %d, infusion %d); a course of %s keeps %d days clear of it; choose a date that plans it on %s or later",
					lot.FormatDate(date), e.Number, lot.FormatDate(e.Date), lot.FormatDate(prevDay), prev.Protocol, prev.Course, prev.Number, p.Name,
					int(earliest.Sub(Date(prevDay)).Hours()/24), lot.FormatDate(earliest))
			}
		}
	}
	for i, a := range after {
		for _, b := range after[i+1:] {
			_, aTo := days(a, loc)
			bFrom, _ := days(b, loc)
			if aTo.Before(bFrom) || (a.Status == Given && b.Status == Given) {
				continue
			}
			switch {
			case b.Number == n:
				return lot.FieldErrorf("date", lot.EINVALID, "the new date %s would open infusion %d's window (±%d days) on %s, but %s; two infusions may never be due on one day; choose %s or later",
					lot.FormatDate(date), n, w, lot.FormatDate(from), describe(a, loc), lot.FormatDate(aTo.AddDate(0, 0, w+1)))
			case a.Number == n:
				return lot.FieldErrorf("date", lot.EINVALID, "the new date %s would close infusion %d's window (±%d days) on %s, but %s; two infusions may never be due on one day; choose %s or earlier, or move infusion %d first",
					lot.FormatDate(date), n, w, lot.FormatDate(to), describe(b, loc), lot.FormatDate(bFrom.AddDate(0, 0, -w-1)), b.Number)
			default:
				return lot.FieldErrorf("date", lot.EINVALID, "the new date %s for infusion %d would give overlapping days: %s, and %s; two infusions may never be due on one day; choose another date or move infusion %d first",
					lot.FormatDate(date), n, describe(a, loc), describe(b, loc), b.Number)
			}
		}
	}
	return nil
}

// days returns the first and last day an entry takes: the day it was given
// (in loc), or its window.
func days(e Entry, loc *time.Location) (from, to time.Time) {
	if e.Status == Given {
		d := e.Given.DayIn(loc)
		return d, d
	}
	return e.From, e.To
}

// describe says which days an entry takes, for a refusal.
func describe(e Entry, loc *time.Location) string {
	if e.Status == Given {
		return fmt.Sprintf("infusion %d was given %s", e.Number, lot.FormatDate(e.Given.DayIn(loc)))
	}
	return fmt.Sprintf("infusion %d is planned %s (window %s to %s)", e.Number, lot.FormatDate(e.Date), lot.FormatDate(e.From), lot.FormatDate(e.To))
}

// MinInterval returns the shortest number of days between two infusions of
// a course of p, or 0 for a single-infusion protocol.
func (p Protocol) MinInterval() int {
	m := 0
	for n := 2; n <= p.Infusions(); n++ {
		if i := p.interval(n); i > 0 && (m == 0 || i < m) {
			m = i
		}
	}
	return m
}

// LastInfusionDay is the day a new course keeps clear of the patient's
// last infusion (EarliestCourseStart, CheckCourseStart, CheckDateChange):
// the later of its day on its own course (onCourse: counted in the zone of
// the site that course treated the patient at, in force when it was given,
// the day that course's history keeps) and its day where the new course
// treats the patient (atSite: counted in that site's zone, likewise). One
// infusion falls on two days at two sites whose zones are a day apart
// (Pacific/Honolulu and Pacific/Kiritimati at the same instant); counting
// the later keeps the new course clear of the day on either count, and the
// refusal never names a day before the one the old course's `schedule
// show` keeps.
func LastInfusionDay(onCourse, atSite time.Time) time.Time {
	onCourse, atSite = Date(onCourse), Date(atSite)
	if atSite.After(onCourse) {
		return atSite
	}
	return onCourse
}

// EarliestCourseStart returns the first date a new course of p may start
// after the patient's last infusion (on any course), given on lastDay
// (LastInfusionDay: counted in the zones in force when it was given, so
// that a zone changed since does not move it, review 19 H): its shortest
// interval later, as if the new
// course's first infusion were the next infusion of a course, and never so
// early that the first infusion's window (±WindowDays) opens on or before
// that day.
func EarliestCourseStart(p Protocol, lastDay time.Time) time.Time {
	return Date(lastDay).AddDate(0, 0, max(p.MinInterval(), p.WindowDays+1))
}

// CheckCourseStart checks the start date of a new course of p as of now: not
// in the past (a course is a prescription from today on; a dose given
// before it was prescribed is recorded by no course), and, when the patient
// was given an infusion before (last, on any course), not before
// EarliestCourseStart — otherwise a second full dose could be due the day the
// first course ended. lastDay is the day last was given on
// (EarliestCourseStart: in the zone in force then); "today" is the calendar
// day in loc, the zone of the site that will treat the patient.
func CheckCourseStart(p Protocol, start, now time.Time, last *Infusion, lastDay time.Time, loc *time.Location) error {
	start = Date(start)
	if today := DateIn(now, loc); start.Before(today) {
		return lot.FieldErrorf("start", lot.EINVALID, "the start date %s is in the past; a schedule starts today (%s in %s) or later", lot.FormatDate(start), lot.FormatDate(today), lot.ZoneName(loc))
	}
	if last == nil {
		return nil
	}
	if earliest := EarliestCourseStart(p, lastDay); start.Before(earliest) {
		return lot.FieldErrorf("start", lot.ECONFLICT, "the start date %s is too soon: the patient was last given an infusion on %s (%s course %d, infusion %d), and a course of %s may start %d days after it at the earliest (its shortest interval, or its ±%d-day window clear of that day); choose %s or later",
			lot.FormatDate(start), lot.FormatDate(lastDay), last.Protocol, last.Course, last.Number, p.Name,
			int(earliest.Sub(Date(lastDay)).Hours()/24), p.WindowDays, lot.FormatDate(earliest))
	}
	return nil
}
