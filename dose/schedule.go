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
	Start           time.Time // date of infusion 1, midnight UTC
	Changes         []DateChange
	CreatedAt       time.Time
	CreatedBy       string
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

// Date returns the calendar date (midnight UTC) of t.
func Date(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Plan lays out every infusion of schedule s under protocol p as of now,
// given the infusions already recorded (by infusion number). Infusion 1 is on
// the start date; each later one is the phase's interval after the one
// before — after its actual date when the protocol follows actual dates and
// it was given, otherwise after its planned date. A signed date change
// overrides the date of its infusion, and later ones follow from it.
func Plan(p Protocol, s Schedule, given map[int]GivenAt, now time.Time) []Entry {
	today := Date(now)
	var es []Entry
	var prev time.Time
	for n := 1; n <= p.Infusions(); n++ {
		e := Entry{Number: n, Dose: p.DoseText(n)}
		switch {
		case n == 1:
			e.Date = Date(s.Start)
		case p.FollowActual && !given[n-1].At.IsZero():
			e.Date = Date(given[n-1].At).AddDate(0, 0, p.interval(n))
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

// CheckDateChange checks that moving infusion n (1-based) of a course whose
// protocol has a ±window-day window to date keeps the infusions apart: its
// window must open after the infusion before — after the day it was given,
// or after its window when not given — and close before any later infusion
// already given. Otherwise two infusions could be due, and given, on one day.
func CheckDateChange(es []Entry, window, n int, date time.Time) error {
	date = Date(date)
	from, to := date.AddDate(0, 0, -window), date.AddDate(0, 0, window)
	if n >= 2 {
		prev := es[n-2]
		ref, what := prev.To, fmt.Sprintf("the window of infusion %d ends %s", prev.Number, lot.FormatDate(prev.To))
		if prev.Status == Given {
			ref, what = Date(prev.Given.At), fmt.Sprintf("infusion %d was given %s", prev.Number, lot.FormatDate(prev.Given.At))
		}
		if !from.After(ref) {
			return lot.Errorf(lot.EINVALID, "--date %s would open infusion %d's window (±%d days) on %s, but %s; choose %s or later",
				lot.FormatDate(date), n, window, lot.FormatDate(from), what, lot.FormatDate(ref.AddDate(0, 0, window+1)))
		}
	}
	for _, e := range es[n:] {
		if e.Status == Given && !to.Before(Date(e.Given.At)) {
			return lot.Errorf(lot.EINVALID, "--date %s would close infusion %d's window on %s, but infusion %d was given %s; choose a date before %s",
				lot.FormatDate(date), n, lot.FormatDate(to), e.Number, lot.FormatDate(e.Given.At), lot.FormatDate(Date(e.Given.At).AddDate(0, 0, -window)))
		}
	}
	return nil
}
