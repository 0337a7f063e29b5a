package dose

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// TestDepartures: the ways an infusion that passed the bedside check can
// still depart from its plan, each as a clinician would recognise it, and
// the cases that are the plan itself.
func TestDepartures(t *testing.T) {
	d0d7, capped := builtin(t, "sle-uc-d0d7"), builtin(t, "sle-uc-single")
	capped.CapCells = 100_000_000
	planned := day("2026-12-02")
	entry := Entry{Number: 2, Date: planned, From: planned.AddDate(0, 0, -1), To: planned.AddDate(0, 0, 1)}
	at := func(d string, h int) time.Time { return day(d).Add(time.Duration(h) * time.Hour) }
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	full := []Source{bag(100_000_000, 500, 0)} // 2.0×10^6/mL
	for _, tc := range []struct {
		name   string
		p      Protocol
		start  time.Time
		w      lot.Grams
		srcs   []Source
		volume lot.Tenths // given at the bedside; 0: the computed one
		loc    *time.Location
		want   []string
	}{
		{"on the day planned, the computed volume: none", d0d7, at("2026-12-02", 10), 62_000, full, 0, nil, nil},
		{"on the day planned in Nanjing, the day before in UTC: none", d0d7, at("2026-12-01", 23), 62_000, full, 0, shanghai, nil},
		{"the day after in Nanjing, the planned day in UTC", d0d7, at("2026-12-02", 17), 62_000, full, 0, shanghai,
			[]string{"infusion day: infusion 2 given on 2026-12-03, 1 day(s) later than planned (2026-12-02; window 2026-12-01 to 2026-12-03)"}},
		{"the draw rounded to 0.1 mL is the plan: none", d0d7, at("2026-12-02", 10), 62_000, []Source{bag(94_500_000, 500, 0)}, 0, nil, nil},
		{"a dose capped by the protocol is the plan: none", capped, at("2026-12-02", 10), 120_000, []Source{bag(150_000_000, 1000, 0)}, 0, nil, nil},
		{"a day early, inside the window", d0d7, at("2026-12-01", 23), 62_000, full, 0, nil,
			[]string{"infusion day: infusion 2 given on 2026-12-01, 1 day(s) earlier than planned (2026-12-02; window 2026-12-01 to 2026-12-03)"}},
		{"a day late, inside the window", d0d7, at("2026-12-03", 0), 62_000, full, 0, nil,
			[]string{"infusion day: infusion 2 given on 2026-12-03, 1 day(s) later than planned (2026-12-02; window 2026-12-01 to 2026-12-03)"}},
		{"the nurse gave 33.0 mL of a computed 31.0 mL", d0d7, at("2026-12-02", 10), 62_000, full, 330, nil,
			[]string{"volume: 33.0 mL infused, 31.0 mL computed for these bags: 6.60×10^7 cells, +6.5 % from the required 6.20×10^7 (tolerance -10.0 %/+10.0 %)"}},
		{"the bags held less than required, inside tolerance", d0d7, at("2026-12-02", 10), 62_000, []Source{bag(60_000_000, 300, 0)}, 0, nil,
			[]string{"dose: the bags held 6.00×10^7 viable cells, all given: -3.2 % from the required 6.20×10^7 (tolerance -10.0 %/+10.0 %)"}},
		{"a day late and less volume", d0d7, at("2026-12-03", 8), 62_000, full, 300, nil,
			[]string{"infusion day: infusion 2 given on 2026-12-03, 1 day(s) later than planned (2026-12-02; window 2026-12-01 to 2026-12-03)",
				"volume: 30.0 mL infused, 31.0 mL computed for these bags: 6.00×10^7 cells, -3.2 % from the required 6.20×10^7 (tolerance -10.0 %/+10.0 %)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Calculate(tc.p, 2, tc.w, tc.srcs, 0)
			given := Calculate(tc.p, 2, tc.w, tc.srcs, tc.volume)
			in := Infusion{Number: 2, Start: tc.start, Weight: tc.w, Required: given.Required, Given: given.Given,
				Volume: given.Volume, Deviation: given.Deviation}
			var got []string
			for _, d := range Departures(tc.p, entry, in, plan, tc.loc) {
				got = append(got, d.Kind+": "+d.Detail)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
