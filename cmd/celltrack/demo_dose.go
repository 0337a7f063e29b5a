package main

import (
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
)

// demoDosing puts two SLE patients on the day 0/day 7 regimen and the rFib
// Sjögren's patient on her 12 infusions, and shows the dose working. The
// infusions themselves need released lots and dispensed bags (release and
// custody steps).
func demoDosing(d *demo) error {
	ds := store.NewDoseService(d.db)
	ps, err := ds.Protocols()
	if err != nil {
		return err
	}
	d.say("\nprotocol list: %d built-in regimens installed at init", len(ps))
	for _, p := range ps {
		d.say("  %-16s %s, %s (%s)", p.Name, p.DoseText(1), p.ScheduleText(), p.Source)
	}
	for _, s := range []struct{ mrn, protocol string }{
		{"MRN-1001", "sle-uc-d0d7"}, {"MRN-1002", "sle-uc-d0d7"}, {"MRN-2001", "ss-rfib-12"},
	} {
		co, err := ds.CreateSchedule("pat", s.mrn, s.protocol, dose.Date(d.now))
		if err != nil {
			return err
		}
		last := co.Entries[len(co.Entries)-1]
		d.say("schedule create: %s on %s, %d infusion(s) from %s to %s", s.mrn, s.protocol, len(co.Entries),
			lot.FormatDate(co.Entries[0].Date), lot.FormatDate(last.Date))
	}
	res, err := ds.Calc(store.CalcRequest{MRN: "MRN-1001"})
	if err != nil {
		return err
	}
	d.say("dose calc MRN-1001: %s", res.Calc.Working)
	res, err = ds.Calc(store.CalcRequest{MRN: "MRN-2001", Infusion: 8})
	if err != nil {
		return err
	}
	d.say("dose calc MRN-2001 infusion 8 (planned %s, 4 weeks after the 7th on %s): %s",
		lot.FormatDate(res.Entry.Date), lot.FormatDate(res.Course.Entries[6].Date), res.Calc.Working)
	cs, err := d.lots.Containers("LOT-UC-1")
	if err != nil {
		return err
	}
	r, err := ds.Check("MRN-1001", []string{cs[0].Code()}, 0)
	if err != nil {
		return err
	}
	d.say("dose check MRN-1001 with bag %s: GO=%v, %d check(s) failed, first: %s", cs[0].Code(), r.GO, len(r.Failed()), r.Failed()[0].Detail)
	return nil
}
