package store

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// BenchmarkTraceCheckpointed is a whole trace as `celltrack trace` runs it
// after a `celltrack check`: the report model and its verification against
// the checkpoint (the report's records and the chain since), beside 0 and
// 2,000 unrelated lots. The time per trace should not grow with them.
//
//	go test ./store -run '^$' -bench TraceCheckpointed -benchtime 200x
func BenchmarkTraceCheckpointed(b *testing.B) {
	for _, unrelated := range []int{0, 2000} {
		db := benchDB(b, unrelated)
		v, err := db.Verify()
		if err != nil || !v.OK() {
			b.Fatalf("verify: %v %v", err, v.Problems)
		}
		if err := db.RecordCheckpoint(v); err != nil {
			b.Fatal(err)
		}
		ts := newTraces(db)
		for _, c := range []struct {
			name  string
			trace func(user, ref string) (any, error)
			ref   string
		}{
			{"donor", func(u, r string) (any, error) { return ts.Donor(context.Background(), u, r) }, "D-1"},
			{"lot", func(u, r string) (any, error) { return ts.Lot(context.Background(), u, r) }, "LOT-1"},
			{"patient", func(u, r string) (any, error) { return ts.Patient(context.Background(), u, r) }, "MRN-1"},
		} {
			b.Run(fmt.Sprintf("%s/unrelated-lots=%d", c.name, unrelated), func(b *testing.B) {
				for b.Loop() {
					if _, err := c.trace("aud", c.ref); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDoseCheck is the bedside check of MRN-2, who has a bag of a
// released lot thawed and dispensed and whose infusion is due, beside n
// unrelated lots whose bags, one in ten, were dispensed to MRN-2 too; n from
// CELLTRACK_BENCH_LOTS (default 0 and 2000). The check reads the patient's
// course, weights and infusions and the named bag's lot: nothing that grows
// with the database.
//
//	go test ./store -run '^$' -bench DoseCheck -cpuprofile cpu.out
func BenchmarkDoseCheck(b *testing.B) {
	ns := benchLots(b, []int{0, 2000})
	for _, n := range ns {
		db := benchDB(b, n)
		now := db.Now()
		addTestUser(b, db, audit.User{Name: "pat", FullName: "Dr Pat", Role: audit.Physician})
		s := NewLotService(db)
		if _, err := s.Weigh("nina", "MRN-2", 62_000, now.Add(-time.Hour)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RegisterLot("liu", lot.Registration{Number: "LOT-DOSE", Source: lot.SourceUC, Donor: "D-1", Cells: 1_000_000_000,
			Viability: 950, VolumeML: 1000, Manufactured: now.AddDate(0, 0, -5), Expires: now.AddDate(1, 0, 0)}); err != nil {
			b.Fatal(err)
		}
		bags, err := s.SplitLot("liu", lot.Split{Lot: "LOT-DOSE", Containers: 1, CellsEach: 100_000_000, VolumeEach: 500})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := NewReleaseService(db).RecordResult("liu", "LOT-DOSE", release.Entry{Assay: "endotoxin", Value: "0.2"}, 0, ""); err != nil {
			b.Fatal(err)
		}
		changeLot(b, db, "LOT-DOSE", func(l *lot.Lot) { l.Status = lot.Released })
		d := NewDoseService(db)
		if _, err := d.CreateSchedule("pat", "MRN-2", "sle-uc-d0d7", now, ""); err != nil {
			b.Fatal(err)
		}
		dispense(b, db, bags[0].Code(), now.Add(-30*time.Minute), 100_000_000, "MRN-2")
		refs := []string{bags[0].Code()}
		if r, err := d.Check("MRN-2", refs, 0); err != nil || !r.GO {
			b.Fatalf("check: %v %v", err, r.Failed())
		}
		b.Run(fmt.Sprintf("lots=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := d.Check("MRN-2", refs, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHarnessDB runs `dose check` and the three traces in-process on
// a database the benchmark harness built and kept (go run
// ./internal/benchharness -keep); skipped unless CELLTRACK_BENCH_DB names
// its file. The harness prints the command with the references to trace.
func BenchmarkHarnessDB(b *testing.B) {
	db := harnessDB(b)
	ts, ds := newTraces(db), NewDoseService(db)
	bag := os.Getenv("CELLTRACK_BENCH_BAG")
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"dose-check", func() error { _, err := ds.Check("MRN-CHECK", []string{bag}, 0); return err }},
		{"trace-lot", func() error {
			_, err := ts.Lot(context.Background(), "aud", os.Getenv("CELLTRACK_BENCH_LOT"))
			return err
		}},
		{"trace-patient", func() error {
			_, err := ts.Patient(context.Background(), "aud", os.Getenv("CELLTRACK_BENCH_PATIENT"))
			return err
		}},
		{"trace-donor", func() error {
			_, err := ts.Donor(context.Background(), "aud", os.Getenv("CELLTRACK_BENCH_DONOR"))
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdminister is one `dose administer`: the bedside check again
// inside the writing transaction, the infusion, the bag's custody event and
// (schema 13) the schedule's list of infusions given, each with its audit
// entry. Each iteration doses a new patient on a new course from a bag
// dispensed for them, prepared with the timer stopped.
//
//	go test ./store -run '^$' -bench Administer
func BenchmarkAdminister(b *testing.B) {
	db := benchDB(b, 0)
	now := db.Now()
	for _, u := range []audit.User{{Name: "pat", FullName: "Dr Pat", Role: audit.Physician}, {Name: "omar", FullName: "Omar", Role: audit.Nurse}} {
		addTestUser(b, db, u)
	}
	s := NewLotService(db)
	// A lot holds at most 99 bags: a new released lot every 90 doses.
	newLot := func(k int) string {
		number := fmt.Sprintf("LOT-ADM-%d", k)
		if _, err := s.RegisterLot("liu", lot.Registration{Number: number, Source: lot.SourceUC, Donor: "D-1", Cells: 100_000_000_000,
			Viability: 950, VolumeML: 10_000, Manufactured: now.AddDate(0, 0, -5), Expires: now.AddDate(1, 0, 0)}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := NewReleaseService(db).RecordResult("liu", number, release.Entry{Assay: "endotoxin", Value: "0.2"}, 0, ""); err != nil {
			b.Fatal(err)
		}
		changeLot(b, db, number, func(l *lot.Lot) { l.Status = lot.Released })
		return number
	}
	var number string
	d := NewDoseService(db)
	nina, omar := mustUser(b, db, "nina"), mustUser(b, db, "omar")
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		mrn := fmt.Sprintf("MRN-ADM-%d", i)
		if i%90 == 1 {
			number = newLot(i / 90)
		}
		if _, err := s.AddPatient("nina", lot.Patient{MRN: mrn, Name: "Patient " + mrn, Born: now.AddDate(-40, 0, 0), Sex: "F"}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Weigh("nina", mrn, 62_000, now.Add(-time.Hour)); err != nil {
			b.Fatal(err)
		}
		bags, err := s.SplitLot("liu", lot.Split{Lot: number, Containers: 1, CellsEach: 100_000_000, VolumeEach: 500})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.CreateSchedule("pat", mrn, "sle-uc-d0d7", now, ""); err != nil {
			b.Fatal(err)
		}
		dispense(b, db, bags[0].Code(), now.Add(-30*time.Minute), 100_000_000, mrn)
		b.StartTimer()
		if _, rep, err := d.Administer(nina, omar, dose.Administration{MRN: mrn, Containers: []string{bags[0].Code()}}); err != nil {
			b.Fatalf("administer: %v %v", err, rep.Failed())
		}
	}
}
