package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store"
)

// demoCustody stores the UC lot's bags, ships one to a clinic, receives and
// thaws it there, and prints the UC lot's labels into the demo folder.
func demoCustody(d *demo) error {
	cs := store.NewCustodyService(d.db)
	d.say("\n-- chain of custody --")
	for _, s := range []lot.Site{{Code: "LAB", Name: "Cell therapy lab"}, {Code: "CLINIC-A", Name: "Rheumatology day unit, Centre A"}} {
		site, err := cs.AddSite("liu", s)
		if err != nil {
			return err
		}
		d.say("site add: %s %s (home site: %v)", site.Code, site.Name, site.Home)
	}
	bags, err := d.lots.Containers("LOT-UC-1")
	if err != nil {
		return err
	}
	d.advance(time.Hour)
	for _, b := range bags[:3] {
		if _, err := cs.Store("liu", b.Code(), "LN2 tank A, rack 3"); err != nil {
			return err
		}
	}
	d.say("container store: 3 bags of LOT-UC-1 in LN2 tank A, rack 3 at LAB")
	bag := bags[0].Code()
	d.advance(24 * time.Hour)
	if _, err := cs.Ship("liu", bag, lot.Move{Site: "CLINIC-A", Courier: "BioCour 7", Condition: "dry shipper, LN2 vapour"}); err != nil {
		return err
	}
	d.say("container ship: %s from LAB to CLINIC-A by courier BioCour 7", bag)
	d.advance(3 * time.Hour)
	if _, err := cs.Receive("nina", bag, lot.Move{Site: "CLINIC-A", Condition: "shipper intact, logger OK", Excursion: "no"}); err != nil {
		return err
	}
	d.say("container receive: nurse nina received %s at CLINIC-A, no temperature excursion", bag)
	if _, err := cs.Thaw("nina", bag, lot.Thaw{Viability: 915, ViableCells: 91_500_000}); err != nil {
		return err
	}
	d.say("container thaw: %s thawed, post-thaw viability 91.5 %%, %s viable cells (doses use these)", bag, lot.Cells(91_500_000))
	if _, err := cs.Thaw("nina", bag, lot.Thaw{Viability: 915, ViableCells: 91_500_000}); err != nil {
		d.say("refused as expected: thawing it again: %s", lot.ErrorMessage(err))
	}
	if l, err := d.lots.Lot("LOT-UC-1"); err != nil {
		return err
	} else if l.Status != lot.Released { // a later demo step may release it
		if _, err := cs.Dispense("nina", bag, "MRN-1001"); err == nil {
			return fmt.Errorf("dispensing %s of unreleased lot LOT-UC-1 was allowed", bag)
		} else {
			d.say("refused as expected: dispensing a bag of a lot not yet released: %s", lot.ErrorMessage(err))
		}
	}
	fin, err := d.db.Facility()
	if err != nil {
		return err
	}
	var pdf []byte
	set, err := store.NewLabelService(d.db).Print("liu", "LOT-RF-1", nil, func(set lot.LabelSet) (err error) {
		pdf, err = report.Labels(set, fin, d.now)
		return err
	})
	if err != nil {
		return err
	}
	path := filepath.Join(d.dir, "LOT-RF-1-labels.pdf")
	if err := writeOut(path, pdf, false); err != nil {
		return err
	}
	d.say("label print: %d labels of autologous lot %s (FOR AUTOLOGOUS USE ONLY, patient MRN-2001) written to\n  %s", len(set.Containers), set.Lot.Number, path)
	// The lab puts every printed label on its bag, so the lot's label
	// reconciliation balances (FACT-JACIE): printed = applied.
	for _, c := range set.Containers {
		if _, err := store.NewLabelService(d.db).Apply("liu", c.Code(), nil); err != nil {
			return err
		}
	}
	d.say("label apply: all %d labels applied; reconcile: celltrack label reconcile %s", len(set.Containers), set.Lot.Number)
	d.say("  see a bag's journey: celltrack container history %s", bag)
	return nil
}
