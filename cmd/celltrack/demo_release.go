package main

import (
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store"
)

// demoQC is a conforming QC panel; the rFib lot adds karyotype and identity.
var demoQC = [][2]string{{"adherence", "pass"}, {"CD105", "98.2"}, {"CD73", "99.1"}, {"CD90", "97.5"}, {"CD45", "0.4"},
	{"CD34", "0.3"}, {"CD14", "0.9"}, {"CD19", "0.2"}, {"HLA-DR", "1.0"}, {"trilineage", "pass"}, {"sterility", "no-growth"},
	{"mycoplasma", "negative"}, {"endotoxin", "0.12"}, {"viability", "94.5"}}

// demoRelease screens the donor, records QC, has QA release the UC and rFib
// lots with password signatures, and rejects a third lot.
func demoRelease(d *demo) error {
	rs := store.NewReleaseService(d.db)
	d.advance(24 * time.Hour)
	var neg []release.Marker
	for _, m := range release.ScreenMarkers {
		neg = append(neg, release.Marker{Name: m, Result: release.Negative})
	}
	if _, _, _, err := rs.Screen("liu", "D-0001", release.Screening{Markers: neg, Tested: day(2026, 8, 29)}); err != nil {
		return err
	}
	d.say("donor screen: D-0001 negative for HIV-1/2, HBV, HCV, syphilis and HTLV; eligible")
	panels := map[string][][2]string{
		"LOT-UC-1": append(demoQC[:len(demoQC):len(demoQC)], [2]string{"viable-cells", "2.36e9"}),
		"LOT-RF-1": append(demoQC[:len(demoQC):len(demoQC)], [2]string{"viable-cells", "1.1e9"}, [2]string{"karyotype", "normal"}, [2]string{"identity", "pass"}),
	}
	for _, number := range []string{"LOT-UC-1", "LOT-RF-1"} {
		for _, r := range panels[number] {
			if _, _, err := rs.RecordResult("liu", number, release.Entry{Assay: r[0], Value: r[1], Tested: day(2026, 9, 1)}, 0, ""); err != nil {
				return err
			}
		}
		ev, err := rs.Evaluate(number, "")
		if err != nil {
			return err
		}
		d.say("release result: %d QC results for %s; evaluate against %s@%d: pass=%v", len(panels[number]), number, ev.Spec, ev.Version, ev.Pass)
		d.advance(2 * time.Hour)
		disp, err := rs.Approve(release.Approval{Lot: number, QA: "quinn", Password: demoPassword})
		if err != nil {
			return err
		}
		d.say("release approve: %s released by %s — %s", number, disp.Signatures[0].FullName, disp.Signatures[0].Meaning)
	}
	x, err := d.lots.RegisterLot("liu", lot.Registration{Number: "LOT-UC-2", Source: lot.SourceUC, Donor: "D-0001",
		Cells: 800_000_000, Viability: 880, VolumeML: 800, Manufactured: day(2026, 8, 30), Expires: day(2027, 8, 30)})
	if err != nil {
		return err
	}
	if _, _, err := rs.RecordResult("liu", x.Number, release.Entry{Assay: "mycoplasma", Value: "positive"}, 0, ""); err != nil {
		return err
	}
	d.advance(time.Hour)
	if _, err := rs.Reject("quinn", demoPassword, x.Number, "mycoplasma positive", nil); err != nil {
		return err
	}
	d.say("release reject: %s rejected by quinn (mycoplasma positive)", x.Number)
	return nil
}
