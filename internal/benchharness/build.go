package main

import (
	"fmt"
	"github.com/celltrack/celltrack/dose"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store"
)

// The shape of every benchmark database, the same at every size so that a
// trace's answer is the same size at 1k and at 100k lots:
//
//   - one donor per lotsPerDonor lots (D-00000, D-00001, …);
//   - one lot in releasedEvery is released and split into bagsPerRelease
//     bags of 1×10^8 cells, each stored, shipped to the clinic, received,
//     thawed, dispensed to a patient of its own and infused (7 custody
//     events and one infusion per bag); the last bag of the first such lot
//     is left thawed and dispensed for MRN-CHECK, for `dose check`;
//   - every other lot is split into two bags, each stored (4 events).
//
// So n lots give n/100 × 100 infusions (one per lot) and about 11 custody
// events per lot: 1.1M events and 100k infusions at 100k lots.
const (
	lotsPerDonor   = 10
	releasedEvery  = 98
	bagsPerRelease = 98
	benchPassword  = "bench-amber-falcon-river-9"
	// benchFirstPassword is the one-time password alice types at `user
	// add`; each user's first login changes it to benchPassword.
	benchFirstPassword = "bench-one-time-birch-comet-31"
)

func donorCode(i int) string     { return fmt.Sprintf("D-%05d", i/lotsPerDonor) }
func lotNumber(i int) string     { return fmt.Sprintf("LOT-%07d", i) }
func released(i int) bool        { return i%releasedEvery == releasedEvery/2 }
func patientMRN(i, j int) string { return fmt.Sprintf("P-%07d-%03d", i, j) }

// clock is the simulated time of the in-process build: it advances one
// second per service call, so events keep their order and a bag's thaw,
// dispense and infusion fall within the protocol's windows.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

// prepare adds the donors and the clinic site, before the import that
// names the donors.
func prepare(path string, n int, day func(int) time.Time) error {
	ck := &clock{t: day(-215)}
	db, err := store.Open(path, store.Options{Now: ck.now})
	if err != nil {
		return err
	}
	defer db.Close()
	ls, cs := store.NewLotService(db), store.NewCustodyService(db)
	return db.Bulk(func() error {
		for _, s := range []lot.Site{{Code: "LAB", Name: "Cell lab"}, {Code: "CLINIC", Name: "Infusion clinic"}} {
			if _, err := cs.AddSite("liu", s); err != nil {
				return err
			}
		}
		for i := 0; i < n; i += lotsPerDonor {
			if _, err := ls.AddDonor("liu", lot.Donor{Code: donorCode(i), Site: "Maternity ward 5", Delivered: day(-220), Consented: day(-225)}); err != nil {
				return fmt.Errorf("donor %s: %w", donorCode(i), err)
			}
		}
		return nil
	})
}

// history builds the custody events, releases and infusions of n imported
// lots in-process, through the store's services, one Bulk transaction per
// released lot and per 500 other lots. It returns the custody events and
// infusions it recorded.
func history(path string, n int, day func(int) time.Time) (events, infusions int, err error) {
	ck := &clock{t: day(-190)}
	db, err := store.Open(path, store.Options{Now: ck.now, Timeout: time.Minute})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	ls, cs, rs, ds := store.NewLotService(db), store.NewCustodyService(db), store.NewReleaseService(db), store.NewDoseService(db)
	user := func(name string) (audit.User, error) { return db.Authenticate(name, benchPassword, "benchmark build") }
	nina, err := user("nina")
	if err != nil {
		return 0, 0, err
	}
	omar, err := user("omar")
	if err != nil {
		return 0, 0, err
	}
	neg := []release.Marker{}
	for _, m := range release.ScreenMarkers {
		neg = append(neg, release.Marker{Name: m, Result: release.Negative})
	}
	// Screen every donor; store the plain lots in batches.
	const batch = 500
	for from := 0; from < n; from += batch {
		err := db.Bulk(func() error {
			for i := from; i < min(from+batch, n); i++ {
				if i%lotsPerDonor == 0 {
					if _, _, _, err := rs.Screen("liu", donorCode(i), release.Screening{Markers: neg}); err != nil {
						return fmt.Errorf("screen %s: %w", donorCode(i), err)
					}
				}
				if released(i) {
					continue
				}
				bags, err := ls.SplitLot("liu", lot.Split{Lot: lotNumber(i), Containers: 2, CellsEach: 1_000_000_000})
				if err != nil {
					return fmt.Errorf("split %s: %w", lotNumber(i), err)
				}
				for k, b := range bags {
					if _, err := cs.Store("liu", b.Code(), fmt.Sprintf("LN2-A rack %d pos %d", i%40, k)); err != nil {
						return fmt.Errorf("store %s: %w", b.Code(), err)
					}
				}
				events += 2 * len(bags) // created, stored
			}
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
	}
	checkBag := ""
	for i := releasedEvery / 2; i < n; i += releasedEvery {
		err := db.Bulk(func() error {
			number := lotNumber(i)
			for _, e := range [][2]string{{"adherence", "pass"}, {"CD105", "98"}, {"CD73", "98"}, {"CD90", "98"}, {"CD45", "1"},
				{"CD34", "1"}, {"CD14", "1"}, {"CD19", "1"}, {"HLA-DR", "1"}, {"trilineage", "pass"}, {"sterility", "no-growth"},
				{"mycoplasma", "negative"}, {"endotoxin", "0.2"}, {"viability", "95"}, {"viable-cells", "9.6e9"}} {
				if _, _, err := rs.RecordResult("liu", number, release.Entry{Assay: e[0], Value: e[1]}, 0, ""); err != nil {
					return fmt.Errorf("result %s of %s: %w", e[0], number, err)
				}
			}
			if _, err := rs.Approve(release.Approval{Lot: number, QA: "quinn", Password: benchPassword}); err != nil {
				return fmt.Errorf("approve %s: %w", number, err)
			}
			bags, err := ls.SplitLot("liu", lot.Split{Lot: number, Containers: bagsPerRelease + 1, CellsEach: 100_000_000, VolumeEach: 500})
			if err != nil {
				return fmt.Errorf("split %s: %w", number, err)
			}
			for j, b := range bags[:bagsPerRelease] {
				if err := infuse(ls, cs, ds, nina, omar, b.Code(), patientMRN(i, j), ck); err != nil {
					return fmt.Errorf("%s: %w", b.Code(), err)
				}
			}
			events += len(bags) + 6*bagsPerRelease // created; stored, shipped, received, thawed, dispensed, infused
			infusions += bagsPerRelease
			if checkBag == "" {
				checkBag = bags[bagsPerRelease].Code()
			}
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
	}
	// MRN-CHECK's bag is thawed and dispensed now, in real time, so that
	// `dose check` finds it within its thaw window.
	ck.t = time.Now().UTC().Add(-time.Minute)
	events += 5 // stored, shipped, received, thawed, dispensed
	return events, infusions, db.Bulk(func() error { return journey(ls, cs, ds, checkBag, "MRN-CHECK", ck) })
}

// infuse takes one bag from the freezer to patient mrn's vein.
func infuse(ls *store.LotService, cs *store.CustodyService, ds *store.DoseService, nina, omar audit.User, code, mrn string, ck *clock) error {
	// A course starts today or later: a journey that began before midnight
	// and scheduled after it would start yesterday (refused). At 100k
	// lots the simulated clock crosses ~11 midnights; a journey takes a
	// few simulated seconds, so one that would cross starts the next day.
	if next := ck.t.Truncate(24 * time.Hour).Add(24 * time.Hour); next.Sub(ck.t) < 10*time.Minute {
		ck.t = next.Add(time.Minute)
	}
	if err := journey(ls, cs, ds, code, mrn, ck); err != nil {
		return err
	}
	_, rep, err := ds.Administer(nina, omar, dose.Administration{MRN: mrn, Containers: []string{code}})
	if err != nil {
		return fmt.Errorf("administer: %w (%v)", err, rep.Failed())
	}
	return nil
}

// journey registers patient mrn, weighs and schedules them, and takes the
// bag from the freezer to dispensed for them.
func journey(ls *store.LotService, cs *store.CustodyService, ds *store.DoseService, code, mrn string, ck *clock) error {
	now := ck.t
	if _, err := ls.AddPatient("nina", lot.Patient{MRN: mrn, Name: "Bench Patient", Born: now.AddDate(-40, 0, 0), Sex: "F"}); err != nil {
		return fmt.Errorf("patient: %w", err)
	}
	if _, err := ls.Weigh("nina", mrn, 62_000, now); err != nil {
		return fmt.Errorf("weigh: %w", err)
	}
	if _, err := ds.CreateSchedule("pat", mrn, "ss-uc-single", now, ""); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	steps := []func() error{
		func() error { _, err := cs.Store("liu", code, "LN2-A rack 1"); return err },
		func() error {
			_, err := cs.Ship("liu", code, lot.Move{To: lot.Shipped, Site: "CLINIC", Courier: "ColdChain", Condition: "dry shipper"})
			return err
		},
		func() error {
			_, err := cs.Receive("nina", code, lot.Move{To: lot.Received, Site: "CLINIC", Condition: "frozen", Excursion: "no"})
			return err
		},
		func() error {
			_, err := cs.Thaw("nina", code, lot.Thaw{Viability: 950, ViableCells: 95_000_000})
			return err
		},
		func() error { _, err := cs.Dispense("nina", code, mrn); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
