package dose

import (
	"fmt"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// Departure is a way an infusion departed from its plan although the
// bedside check let it through — inside the schedule's window and the
// protocol's dose tolerance. A trace lists departures as deviations, with
// exceptional releases, so an auditor sees them together.
type Departure struct {
	Kind   string // OffDay, OffVolume or OffDose
	Detail string
}

// Departure kinds.
const (
	OffDay    = "infusion day"
	OffVolume = "volume"
	OffDose   = "dose"
)

// Departures lists how infusion in of protocol p departed from its plan:
//
//   - given on another day than e, its schedule entry, planned (the window
//     allows it; the plan names one day);
//   - a volume other than planned: planned is Calculate for the same bags,
//     weight and infusion without a volume, the volume `dose calc` proposed;
//     the dose then differs from the required one by in.Deviation;
//   - the volume planned, but a dose other than the required one because the
//     bags held less (planned.Short): all of it was given, inside tolerance.
//
// Rounding a draw to 0.1 mL is the plan, not a departure; nor is a dose
// capped by the protocol.
// Days are counted in loc, the zone of the site that treats the patient as
// it was when in was given (the zone its bedside check counted in); e is
// planned with the days of the infusions before counted likewise.
func Departures(p Protocol, e Entry, in Infusion, planned Calculation, loc *time.Location) []Departure {
	var ds []Departure
	tol := fmt.Sprintf("-%s %%/+%s %%", p.ToleranceMinus, p.TolerancePlus)
	if given := DateIn(in.Start, loc); !given.Equal(e.Date) {
		early := "later"
		if given.Before(e.Date) {
			early = "earlier"
		}
		days := int(given.Sub(e.Date).Hours() / 24)
		if days < 0 {
			days = -days
		}
		ds = append(ds, Departure{OffDay, fmt.Sprintf("infusion %d given on %s, %d day(s) %s than planned (%s; window %s to %s)",
			in.Number, lot.FormatDate(given), days, early, lot.FormatDate(e.Date), lot.FormatDate(e.From), lot.FormatDate(e.To))})
	}
	switch {
	case in.Volume != planned.Volume:
		ds = append(ds, Departure{OffVolume, fmt.Sprintf("%s mL infused, %s mL computed for these bags: %s cells, %s from the required %s (tolerance %s)",
			in.Volume, planned.Volume, in.Given, FormatDeviation(in.Deviation), in.Required, tol)})
	case planned.Short:
		ds = append(ds, Departure{OffDose, fmt.Sprintf("the bags held %s viable cells, all given: %s from the required %s (tolerance %s)",
			in.Given, FormatDeviation(in.Deviation), in.Required, tol)})
	}
	return ds
}
