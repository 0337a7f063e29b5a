package dose

import (
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the test machine holds

	"github.com/celltrack/celltrack/lot"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// utc reads an RFC 3339 instant.
func utc(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestDateIn is the day an instant falls on where the patient is treated.
func TestDateIn(t *testing.T) {
	for _, tc := range []struct {
		name, zone, at, want string
	}{
		{"07:00 on 10 December in Nanjing is 23:00 on 9 December UTC", "Asia/Shanghai", "2026-12-09T23:00:00Z", "2026-12-10"},
		{"one minute before midnight in Nanjing", "Asia/Shanghai", "2026-12-10T15:59:00Z", "2026-12-10"},
		{"midnight in Nanjing starts the next day", "Asia/Shanghai", "2026-12-10T16:00:00Z", "2026-12-11"},
		{"the same instant in UTC", "UTC", "2026-12-09T23:00:00Z", "2026-12-09"},
		{"21:00 in Charleston in January is 02:00 UTC next day", "America/New_York", "2027-01-11T02:00:00Z", "2027-01-10"},
		{"fixed UTC-5 (Bogotá)", "America/Bogota", "2027-01-11T04:59:00Z", "2027-01-10"},
		{"New York 23:30 EDT before the fall back", "America/New_York", "2026-11-01T03:30:00Z", "2026-10-31"},
		{"New York 01:30 EDT, the first of two 01:30s", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01"},
		{"New York 01:30 EST, the second 01:30", "America/New_York", "2026-11-01T06:30:00Z", "2026-11-01"},
		{"New York 23:30 EST after the fall back", "America/New_York", "2026-11-02T04:30:00Z", "2026-11-01"},
		{"New York 23:30 EST before spring forward", "America/New_York", "2027-03-14T04:30:00Z", "2027-03-13"},
		{"New York 03:30 EDT just after spring forward", "America/New_York", "2027-03-14T07:30:00Z", "2027-03-14"},
		{"New York 23:30 EDT on the short day", "America/New_York", "2027-03-15T03:30:00Z", "2027-03-14"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lot.FormatDate(DateIn(utc(t, tc.at), zone(t, tc.zone))); got != tc.want {
				t.Fatalf("DateIn(%s, %s) = %s, want %s", tc.at, tc.zone, got, tc.want)
			}
		})
	}
}

// TestPlanCountsDaysAtTheSite: "day 7", "today" and the windows are
// calendar days where the patient is treated, not in UTC.
func TestPlanCountsDaysAtTheSite(t *testing.T) {
	d0d7 := builtin(t, "sle-uc-d0d7") // day 0 and day 7 from the day actually given, ±1 day
	exact := d0d7
	exact.WindowDays = 0 // no window: "today" decides alone
	weekly := builtin(t, "ss-rfib-12")
	for _, tc := range []struct {
		name   string
		p      Protocol
		zone   string
		start  string
		given  map[int]string // infusion number → RFC 3339 instant
		now    string
		dates  []string // the first len(dates) planned dates
		status []Status // the first len(status) statuses
	}{
		{"Nanjing: the first dose at 07:00 on 10 December local makes day 7 the 17th", d0d7, "Asia/Shanghai", "2026-12-10",
			map[int]string{1: "2026-12-09T23:00:00Z"}, "2026-12-10T02:00:00Z",
			[]string{"2026-12-10", "2026-12-17"}, []Status{Given, Planned}},
		{"the same infusion counted in UTC would make day 7 the 16th", d0d7, "UTC", "2026-12-10",
			map[int]string{1: "2026-12-09T23:00:00Z"}, "2026-12-10T02:00:00Z",
			[]string{"2026-12-10", "2026-12-16"}, []Status{Given, Planned}},
		{"Nanjing: at 07:00 on 10 December local the infusion of the 10th is due", exact, "Asia/Shanghai", "2026-12-10",
			nil, "2026-12-09T23:00:00Z", []string{"2026-12-10"}, []Status{Due}},
		{"Nanjing: at 07:00 on 11 December local it was missed", exact, "Asia/Shanghai", "2026-12-10",
			nil, "2026-12-10T23:00:00Z", []string{"2026-12-10"}, []Status{Missed}},
		{"in UTC at that instant it would still be planned", exact, "UTC", "2026-12-10",
			nil, "2026-12-09T23:00:00Z", []string{"2026-12-10"}, []Status{Planned}},
		{"Nanjing: day 7 is due at 07:00 on the 17th local (23:00 on the 16th UTC)", exact, "Asia/Shanghai", "2026-12-10",
			map[int]string{1: "2026-12-09T23:00:00Z"}, "2026-12-16T23:00:00Z",
			[]string{"2026-12-10", "2026-12-17"}, []Status{Given, Due}},
		{"Charleston (UTC-5): a first dose at 21:00 on 10 January local makes day 7 the 17th", d0d7, "America/New_York", "2027-01-10",
			map[int]string{1: "2027-01-11T02:00:00Z"}, "2027-01-11T03:00:00Z",
			[]string{"2027-01-10", "2027-01-17"}, []Status{Given, Planned}},
		{"Charleston: at 21:00 on 17 January local day 7 is due, not missed", exact, "America/New_York", "2027-01-10",
			map[int]string{1: "2027-01-11T02:00:00Z"}, "2027-01-18T02:00:00Z",
			[]string{"2027-01-10", "2027-01-17"}, []Status{Given, Due}},
		{"New York across the fall back: a dose at 23:30 EDT on 31 October, the next 7 days on", exact, "America/New_York", "2026-10-31",
			map[int]string{1: "2026-11-01T03:30:00Z"}, "2026-11-08T04:30:00Z", // 23:30 EST on 7 November
			[]string{"2026-10-31", "2026-11-07"}, []Status{Given, Due}},
		{"New York across spring forward: weekly doses keep their weekday", weekly, "America/New_York", "2027-03-03",
			map[int]string{1: "2027-03-04T04:30:00Z", 2: "2027-03-11T04:30:00Z"}, // 23:30 EST on 3 and 10 March
			"2027-03-18T03:30:00Z", // 23:30 EDT on 17 March
			[]string{"2027-03-03", "2027-03-10", "2027-03-17"}, []Status{Given, Given, Due}},
		{"New York on the short day: 23:30 EDT on 14 March is still the 14th", exact, "America/New_York", "2027-03-14",
			nil, "2027-03-15T03:30:00Z", []string{"2027-03-14"}, []Status{Due}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			given := map[int]GivenAt{}
			for n, at := range tc.given {
				given[n] = GivenAt{At: utc(t, at)}
			}
			es := Plan(tc.p, Schedule{Start: day(tc.start)}, given, utc(t, tc.now), zone(t, tc.zone))
			var dates []string
			var status []Status
			for i, e := range es {
				if i < len(tc.dates) {
					dates = append(dates, lot.FormatDate(e.Date))
				}
				if i < len(tc.status) {
					status = append(status, e.Status)
				}
			}
			if !reflect.DeepEqual(dates, tc.dates) || !reflect.DeepEqual(status, tc.status) {
				t.Fatalf("dates %v status %v, want %v %v", dates, status, tc.dates, tc.status)
			}
		})
	}
}

// TestCourseRulesCountDaysAtTheSite: a start "in the past", the spacing
// after the last course and a moved date use the site's calendar days.
func TestCourseRulesCountDaysAtTheSite(t *testing.T) {
	d0d7 := builtin(t, "sle-uc-d0d7")
	single := builtin(t, "sle-uc-single")
	shanghai, ny := zone(t, "Asia/Shanghai"), zone(t, "America/New_York")
	nanjing7 := utc(t, "2026-12-09T23:00:00Z") // 07:00 on 10 December in Nanjing
	t.Run("start", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			start string
			loc   *time.Location
			now   time.Time
			last  *Infusion
			want  string // "" for accepted
		}{
			{"Nanjing at 07:00 on the 10th: the 9th is in the past", "2026-12-09", shanghai, nanjing7, nil, "is in the past; a schedule starts today (2026-12-10 in Asia/Shanghai)"},
			{"Nanjing at 07:00 on the 10th: the 10th is today", "2026-12-10", shanghai, nanjing7, nil, ""},
			{"the same instant in UTC: the 9th is still today", "2026-12-09", time.UTC, nanjing7, nil, ""},
			{"New York at 21:00 on 10 January: the 10th is today", "2027-01-10", ny, utc(t, "2027-01-11T02:00:00Z"), nil, ""},
			{"a second course counts the clear days from the local day of the last dose", "2026-12-11", shanghai, utc(t, "2026-12-10T02:00:00Z"),
				&Infusion{Start: nanjing7, Protocol: "sle-uc-single", Course: 1, Number: 1}, "the patient was last given an infusion on 2026-12-10"},
			{"… and the local day it ends on", "2026-12-12", shanghai, utc(t, "2026-12-10T02:00:00Z"),
				&Infusion{Start: nanjing7, Protocol: "sle-uc-single", Course: 1, Number: 1}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := CheckCourseStart(single, day(tc.start), tc.now, tc.last, day("2026-12-10"), tc.loc)
				switch {
				case tc.want == "" && err != nil:
					t.Fatalf("refused: %v", err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Fatalf("got %v, want %q", err, tc.want)
				}
			})
		}
	})
	t.Run("moved date", func(t *testing.T) {
		// Infusion 1 was given at 07:00 on 10 December in Nanjing; infusion
		// 2 may not be moved onto a day whose window touches that day.
		s := Schedule{Start: day("2026-12-10")}
		now := utc(t, "2026-12-10T02:00:00Z")
		given := map[int]GivenAt{1: {At: nanjing7}}
		es := Plan(d0d7, s, given, now, shanghai)
		if err := CheckDateChange(d0d7, s, es, now, 2, day("2026-12-11"), nil, time.Time{}, shanghai); err == nil ||
			!strings.Contains(err.Error(), "infusion 1 was given 2026-12-10") {
			t.Fatalf("moving infusion 2 to the 11th: %v, want a refusal naming the local day 2026-12-10", err)
		}
		if err := CheckDateChange(d0d7, s, es, now, 2, day("2026-12-12"), nil, time.Time{}, shanghai); err != nil {
			t.Fatalf("moving infusion 2 to the 12th: %v", err)
		}
	})
}

// TestCheckShowsSiteTime: the bedside check reads "today" and every time
// in the zone of the site that treats the patient.
func TestCheckShowsSiteTime(t *testing.T) {
	f := goodFacts(t)
	f.Zone = zone(t, "Asia/Shanghai")
	// 09:00 UTC on 25 November is 17:00 in Nanjing; the planned day moves
	// to the 27th: not due today there.
	s := *f.Schedule
	s.Start = day("2026-11-27")
	f.Schedule, f.Entries = &s, Plan(*f.Protocol, s, nil, f.Now, f.Zone)
	r := Check(f)
	var due, thaw, weight string
	for _, c := range r.Checks {
		switch {
		case c.Name == "infusion due":
			due = c.Detail
		case strings.HasPrefix(c.Name, "thaw window"):
			thaw = c.Detail
		case c.Name == "weight":
			weight = c.Detail
		}
	}
	if want := "no infusion is due today (2026-11-25 in Asia/Shanghai)"; !strings.Contains(due, want) {
		t.Errorf("due: %q, want %q", due, want)
	}
	if want := "thawed 2026-11-25 16:30 +08:00"; !strings.Contains(thaw, want) {
		t.Errorf("thaw: %q, want %q", thaw, want)
	}
	if want := "measured 2026-11-25 16:00 +08:00"; !strings.Contains(weight, want) {
		t.Errorf("weight: %q, want %q", weight, want)
	}
}

// TestLastInfusionDayIsTheLaterCount: the day a new course keeps clear of
// the last infusion is the later of its day on its own course and its day
// at the new course's site — Kiritimati's 2nd beside Honolulu's 1st for one
// instant, whichever of the two treated the patient before.
func TestLastInfusionDayIsTheLaterCount(t *testing.T) {
	for _, tc := range []struct{ onCourse, atSite, want string }{
		{"2026-12-02", "2026-12-01", "2026-12-02"}, // old course in Kiritimati, new at Honolulu
		{"2026-12-01", "2026-12-02", "2026-12-02"}, // old course in Honolulu, new at Kiritimati
		{"2026-12-02", "2026-12-02", "2026-12-02"}, // one zone
	} {
		if got := LastInfusionDay(day(tc.onCourse), day(tc.atSite)); !got.Equal(day(tc.want)) {
			t.Errorf("LastInfusionDay(%s on its course, %s at the site) = %s, want %s", tc.onCourse, tc.atSite, got.Format(time.DateOnly), tc.want)
		}
	}
}
