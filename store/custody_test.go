package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

func custodyDB(t *testing.T) (*DB, *CustodyService, []lot.Container) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	cs, err := NewLotService(db).SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 3, CellsEach: 100_000_000})
	if err != nil {
		t.Fatal(err)
	}
	s := NewCustodyService(db)
	for _, site := range []lot.Site{{Code: "LAB", Name: "Cell lab"}, {Code: "CLINIC-A", Name: "Clinic A"}} {
		if _, err := s.AddSite("liu", site); err != nil {
			t.Fatal(err)
		}
	}
	return db, s, cs
}

func TestCustodyJourneyToDispenseAndReturn(t *testing.T) {
	db, s, cs := custodyDB(t)
	code := cs[0].Code()
	releaseUC(t, db, "LOT-1")
	steps := []func() (lot.Container, error){
		func() (lot.Container, error) { return s.Store("liu", code, "LN2-A rack 3") },
		func() (lot.Container, error) {
			return s.Ship("liu", code, lot.Move{Site: "CLINIC-A", Courier: "BioCour 7", Condition: "dry shipper"})
		},
		func() (lot.Container, error) {
			return s.Receive("nina", code, lot.Move{Site: "CLINIC-A", Excursion: "no"})
		},
		func() (lot.Container, error) {
			return s.Thaw("nina", code, lot.Thaw{Viability: 915, ViableCells: 91_000_000})
		},
		func() (lot.Container, error) { return s.Dispense("nina", code, "MRN-1") },
		func() (lot.Container, error) { return s.Return("nina", code, "infusion postponed") },
	}
	// Where `container show` says the bag is after each step: never a
	// freezer position it has left.
	where := []string{"LN2-A rack 3", "in transit to CLINIC-A", "received at CLINIC-A", "thawed at CLINIC-A",
		"dispensed at CLINIC-A", "returned at CLINIC-A"}
	for i, step := range steps {
		c, err := step()
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		if stored, _ := NewLotService(db).Container(code); c.Location != where[i] || stored.Location != where[i] {
			t.Errorf("step %d: location %q (stored %q), want %q", i+1, c.Location, stored.Location, where[i])
		}
	}
	c, es, err := s.History(code)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, string(e.To)+"@"+e.Site+":"+e.Custodian)
	}
	want := "created@:liu stored@LAB:liu shipped@LAB:courier BioCour 7 received@CLINIC-A:nina thawed@CLINIC-A:nina dispensed@CLINIC-A:nina returned@CLINIC-A:nina"
	if strings.Join(got, " ") != want {
		t.Fatalf("history\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if c.ViableCells != 91_000_000 || c.ThawViability != 915 || c.State != lot.Returned || c.PatientID != [16]byte{} {
		t.Fatalf("container after return: %+v", c)
	}
	before, _ := db.AuditCount()
	if _, err := s.Store("liu", code, "LN2-A"); !strings.Contains(lot.ErrorMessage(err), "can never be stored again") {
		t.Fatalf("re-storing a thawed bag: %v", err)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatalf("refusal wrote %d audit entries", after-before)
	}
	if c, err := s.Discard("liu", code, "thawed, returned unused"); err != nil || c.Location != "" {
		t.Fatalf("discard: location %q, %v; want none", c.Location, err)
	}
}

func TestCustodyRefusalsWriteNothing(t *testing.T) {
	db, s, cs := custodyDB(t)
	if _, err := s.Store("liu", cs[0].Code(), "LN2-A"); err != nil {
		t.Fatal(err)
	}
	before, _ := db.AuditCount()
	for name, try := range map[string]func() error{
		"nurse stores": func() error { _, err := s.Store("nina", cs[1].Code(), "x"); return err },
		"ship to unknown site": func() error {
			_, err := s.Ship("liu", cs[0].Code(), lot.Move{Site: "NOWHERE"})
			return err
		},
		"ship to where it is": func() error { _, err := s.Ship("liu", cs[0].Code(), lot.Move{Site: "LAB"}); return err },
		"receive unshipped":   func() error { _, err := s.Receive("nina", cs[0].Code(), lot.Move{Site: "LAB"}); return err },
		"dispense quarantined lot": func() error {
			if _, err := s.Thaw("liu", cs[0].Code(), lot.Thaw{Viability: 900, ViableCells: 9e7}); err != nil {
				return err
			}
			_, err := s.Dispense("liu", cs[0].Code(), "MRN-1")
			return err
		},
	} {
		err := try()
		if err == nil {
			t.Errorf("%s: allowed", name)
		}
		t.Logf("%s: %v", name, err)
	}
	// The quarantined-lot case thawed the bag first (one allowed move: an
	// event and the container, two audit entries); nothing else was written.
	if after, _ := db.AuditCount(); after != before+2 {
		t.Fatalf("audit grew by %d, want 2 (the thaw)", after-before)
	}
}

func TestLabelCountsAreStoredAndAudited(t *testing.T) {
	db, _, cs := custodyDB(t)
	l := NewLabelService(db)
	rendered := 0
	if _, err := l.Print("liu", "LOT-1", nil, func(set lot.LabelSet) error { rendered = len(set.Containers); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Print("liu", cs[0].Code(), nil, func(lot.LabelSet) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Apply("liu", cs[0].Code(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Void("liu", cs[0].Code(), "duplicate print", nil); err != nil {
		t.Fatal(err)
	}
	before, _ := db.AuditCount()
	if _, err := l.Void("liu", cs[0].Code(), "again", nil); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("void with no unused label: %v", err)
	}
	if _, err := l.Print("nina", "LOT-1", nil, func(lot.LabelSet) error { return nil }); lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Fatalf("nurse prints: %v", err)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatal("refusals wrote audit entries")
	}
	_, _, ns, err := l.Reconcile("LOT-1")
	if err != nil {
		t.Fatal(err)
	}
	var total lot.LabelCount
	for _, n := range ns {
		total = total.Add(n)
	}
	// 3 labels for the lot + 1 reprint of container 01; 1 applied, 1 voided.
	if rendered != 3 || total.Printed != 4 || total.Applied != 1 || total.Voided != 1 || total.Unused() != 2 {
		t.Fatalf("rendered %d, totals %+v", rendered, total)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("audit verify: %v %v", err, v.Problems)
	}
}

// TestRequarantineRecallsBagsOutOfTheFreezer: a released lot whose result is
// voided after one bag was dispensed and another thawed lists both to recall
// in its decision, with the patient, and dispenses nothing more.
func TestRequarantineRecallsBagsOutOfTheFreezer(t *testing.T) {
	db, s, cs := custodyDB(t)
	rs := releaseUC(t, db, "LOT-1")
	for _, c := range cs[:2] {
		if _, err := s.Store("liu", c.Code(), "LN2-A"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Thaw("liu", c.Code(), lot.Thaw{Viability: 900, ViableCells: 90_000_000}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Dispense("liu", cs[0].Code(), "MRN-1"); err != nil {
		t.Fatal(err)
	}
	_, rq, err := rs.VoidResult("liu", "LOT-1", 13, "assay run invalid")
	if err != nil {
		t.Fatal(err)
	}
	want := cs[0].Code() + " (dispensed to MRN-1), " + cs[1].Code() + " (thawed)"
	if len(rq) != 1 || strings.Join(rq[0].Recall, ", ") != want || len(rq[0].Infused) != 0 {
		t.Fatalf("requarantine = %+v; want recall %q", rq, want)
	}
	ds, err := rs.Dispositions("LOT-1")
	if err != nil || strings.Join(ds[len(ds)-1].Recall, ", ") != want {
		t.Fatalf("stored decision = %+v %v; want recall %q", ds, err, want)
	}
	if _, err := s.Dispense("liu", cs[1].Code(), "MRN-1"); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("dispensing from a quarantined lot: %v; want conflict", err)
	}
}

// TestThawOfAContainerWithoutEventsIsRefused: every container is stored with
// its 'created' event; one whose events were removed outside celltrack is
// refused with a clear message (it used to panic on the empty list).
func TestThawOfAContainerWithoutEventsIsRefused(t *testing.T) {
	db, s, cs := custodyDB(t)
	code := cs[0].Code()
	releaseUC(t, db, "LOT-1")
	for _, step := range []func() (lot.Container, error){
		func() (lot.Container, error) { return s.Store("liu", code, "LN2-A rack 3") },
		func() (lot.Container, error) {
			return s.Ship("liu", code, lot.Move{Site: "CLINIC-A", Courier: "BioCour 7", Condition: "dry shipper"})
		},
		func() (lot.Container, error) {
			return s.Receive("nina", code, lot.Move{Site: "CLINIC-A", Excursion: "no"})
		},
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	err := db.engine.Update(func(tx kv.Tx) error {
		for _, id := range children(tx, "idx_event_container", cs[0].ID) {
			if err := tx.Bucket([]byte("idx_event_container")).Delete(append(cs[0].ID[:], id[:]...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := db.AuditCount()
	_, err = s.Thaw("nina", code, lot.Thaw{Viability: 915, ViableCells: 91_000_000})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "has no custody events") {
		t.Fatalf("thaw without events: %v", err)
	}
	if after, _ := db.AuditCount(); after != before {
		t.Fatalf("the refusal wrote %d audit entries", after-before)
	}
}
