package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
)

// demoVisit is one infusion the demo gives: who, when and from which bag.
type demoVisit struct {
	mrn  string
	at   time.Time
	bag  lot.Container
	note string
}

// demoDosing puts two SLE patients on the day 0/day 7 regimen and the rFib
// Sjögren's patient on her 12 infusions, then gives every infusion the way a
// clinic would: weigh, thaw, dispense, bedside check, and administration
// signed by a nurse and a witness. One line per infusion.
func demoDosing(d *demo) error {
	ds := store.NewDoseService(d.db)
	ps, err := ds.Protocols()
	if err != nil {
		return err
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	d.say("\n-- dosing --\nprotocol list: %d built-in regimens (%s)", len(ps), strings.Join(names, ", "))
	today := dose.Date(d.now)
	var rfDates []time.Time
	for _, s := range []struct {
		mrn, protocol string
		start         time.Time
	}{{"MRN-1001", "sle-uc-d0d7", today}, {"MRN-1002", "sle-uc-d0d7", today}, {"MRN-2001", "ss-rfib-12", today.AddDate(0, 0, 1)}} {
		co, err := ds.CreateSchedule("pat", s.mrn, s.protocol, s.start, "")
		if err != nil {
			return err
		}
		last := co.Entries[len(co.Entries)-1]
		d.say("schedule create: %s on %s, %d infusion(s) from %s to %s", s.mrn, s.protocol, len(co.Entries),
			lot.FormatDate(co.Entries[0].Date), lot.FormatDate(last.Date))
		if s.protocol == "ss-rfib-12" {
			for _, e := range co.Entries {
				rfDates = append(rfDates, e.Date)
			}
		}
	}
	res, err := ds.Calc(dose.CalcRequest{MRN: "MRN-2001", Infusion: 8})
	if err != nil {
		return err
	}
	d.say("dose calc MRN-2001 infusion 8 (planned %s, 4 weeks after the 7th on %s): %s",
		lot.FormatDate(res.Entry.Date), lot.FormatDate(res.Course.Entries[6].Date), res.Calc.Working)

	uc, err := d.lots.Containers("LOT-UC-1")
	if err != nil {
		return err
	}
	rf, err := d.lots.Containers("LOT-RF-1")
	if err != nil {
		return err
	}
	cus := store.NewCustodyService(d.db)
	for _, c := range append(uc[:4:4], rf...) {
		if c.State == lot.Created {
			if _, err := cus.Store("liu", c.Code(), "LN2 tank A, rack 4"); err != nil {
				return err
			}
		}
	}
	d.say("container store: the 12 bags of LOT-RF-1 and bag %s in LN2 tank A, rack 4 at LAB", uc[3].Code())
	// Bag 01 was thawed at CLINIC-A by the custody step but not dispensed:
	// the bedside check stops it.
	r, err := ds.Check("MRN-1001", []string{uc[0].Code()}, 0)
	if err != nil {
		return err
	}
	if r.GO {
		return fmt.Errorf("the bedside check passed a bag that was not dispensed")
	}
	d.say("dose check MRN-1001, bag %s before dispensing: NO-GO — %s", uc[0].Code(), r.Failed()[0].Detail)

	visits := []demoVisit{
		{"MRN-1001", d.now.Add(30 * time.Minute), uc[0], "day 0"},
		{"MRN-1002", today.AddDate(0, 0, 1).Add(9 * time.Hour), uc[1], "day 0 given a day late, inside its ±1 day window"},
		{"MRN-1001", today.AddDate(0, 0, 7).Add(9 * time.Hour), uc[2], "day 7"},
		{"MRN-1002", today.AddDate(0, 0, 8).Add(9 * time.Hour), uc[3], "day 7, counted from the late day 0"},
	}
	for i, at := range rfDates {
		note := ""
		if i == 7 {
			note = "dose steps up to 7.5×10^7"
		}
		visits = append(visits, demoVisit{"MRN-2001", at.Add(10 * time.Hour), rf[i], note})
	}
	sort.SliceStable(visits, func(i, j int) bool { return visits[i].at.Before(visits[j].at) })
	weights := map[string]lot.Grams{"MRN-1001": 62_000, "MRN-1002": 71_400, "MRN-2001": 55_300}
	var reactTo string
	for _, v := range visits {
		in, err := d.infuse(ds, v, weights[v.mrn])
		if err != nil {
			return fmt.Errorf("%s %s: %w", v.mrn, lot.FormatTime(v.at), err)
		}
		note := ""
		if v.note != "" {
			note = "  (" + v.note + ")"
		}
		d.say("administer %s %s %2d/%-2d %s  bag %s: %s in %s mL, GO, signed nina + omar%s",
			lot.FormatDate(in.Start), v.mrn, in.Number, map[string]int{"sle-uc-d0d7": 2, "ss-rfib-12": 12}[in.Protocol],
			in.Protocol, v.bag.Code(), in.Given, in.Volume, note)
		if v.mrn == "MRN-1002" && in.Number == 1 {
			reactTo = in.ID.String()
		}
	}
	if _, err := ds.RecordReaction("nina", dose.NewReaction{Infusion: reactTo, Grade: 1, Text: "transient fever 38.1 °C, resolved in 2 h"}); err != nil {
		return err
	}
	d.say("dose reaction: grade 1 transient fever after MRN-1002's day 0 infusion")
	d.say("  see a course: celltrack schedule show MRN-2001; a bag: celltrack container history %s", rf[7].Code())
	return nil
}

// infuse gives one visit's infusion: the patient is weighed, the bag is
// thawed (post-thaw count 92 % of its cells) and
// dispensed half an hour before, then checked and administered.
func (d *demo) infuse(ds *store.DoseService, v demoVisit, weight lot.Grams) (dose.Infusion, error) {
	cs := store.NewCustodyService(d.db)
	bag := v.bag.Code()
	if d.now.Before(v.at.Add(-time.Hour)) {
		d.now = v.at.Add(-time.Hour)
	}
	if _, err := d.lots.Weigh("nina", v.mrn, weight, d.now); err != nil {
		return dose.Infusion{}, err
	}
	c, err := d.lots.Container(bag)
	if err != nil {
		return dose.Infusion{}, err
	}
	by := "liu" // at the home site the lab thaws and dispenses; at a clinic the nurse
	if c.Site != "" && c.Site != "LAB" {
		by = "nina"
	}
	if c.State != lot.Thawed {
		if _, err := cs.Thaw(by, bag, lot.Thaw{Viability: 920, ViableCells: c.Cells * 92 / 100}); err != nil {
			return dose.Infusion{}, err
		}
	}
	if _, err := cs.Dispense(by, bag, v.mrn); err != nil {
		return dose.Infusion{}, err
	}
	d.now = v.at
	if r, err := ds.Check(v.mrn, []string{bag}, 0); err != nil {
		return dose.Infusion{}, err
	} else if !r.GO {
		return dose.Infusion{}, r.Err()
	}
	nurse, err := d.db.Authenticate("nina", demoPassword, dose.MeaningAdminister)
	if err != nil {
		return dose.Infusion{}, err
	}
	witness, err := d.db.Authenticate("omar", demoPassword, dose.MeaningWitness)
	if err != nil {
		return dose.Infusion{}, err
	}
	in, _, err := ds.Administer(nurse, witness, dose.Administration{MRN: v.mrn, Containers: []string{bag}})
	d.advance(time.Hour)
	return in, err
}
