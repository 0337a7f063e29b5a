package store

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// Test-only helpers that set a lot's status or a bag's thaw and dispense
// directly, so that each bedside case below reaches its state in one line
// (a thaw hours ago, a lot expired an hour ago). They write through the
// audited writer so that `audit verify` still passes. The same path through
// the real release and custody services is TestBedsideThroughReleaseAndCustody
// here and the dose_*.txtar stories.

func asAdmin(t testing.TB, db *DB, fn func(w *writer) error) {
	t.Helper()
	err := db.engine.Update(func(tx kv.Tx) error {
		u, err := userByName(tx, "alice")
		if err != nil {
			return err
		}
		return fn(&writer{db: db, tx: tx, actor: u, now: db.now()})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func changeLot(t testing.TB, db *DB, number string, fn func(l *lot.Lot)) {
	t.Helper()
	asAdmin(t, db, func(w *writer) error {
		l, err := lotByRef(w.tx, number)
		if err != nil {
			return err
		}
		fn(&l)
		return w.put(kindLot, l.ID, "test.lot", "test setup", toLotRecord(l))
	})
}

// dispense thaws container code at thawed with viable cells counted, and
// dispenses it for patient mrn (viable 0: no post-thaw count; mrn "": thaw only).
func dispense(t testing.TB, db *DB, code string, thawed time.Time, viable lot.Cells, mrn string) {
	t.Helper()
	asAdmin(t, db, func(w *writer) error {
		c, err := containerByRef(w.tx, code)
		if err != nil {
			return err
		}
		c.ThawedAt, c.ViableCells = thawed, viable
		if err := w.appendEvent(&c, lot.Event{To: lot.Thawed, At: thawed}, "test.thaw", ""); err != nil {
			return err
		}
		if mrn == "" {
			return nil
		}
		p, err := patientByMRN(w.tx, mrn)
		if err != nil {
			return err
		}
		c.PatientID = p.ID
		return w.appendEvent(&c, lot.Event{To: lot.Dispensed, PatientID: p.ID}, "test.dispense", "")
	})
}

// bedside builds the GO state: MRN-1 (62.0 kg, weighed an hour ago) on
// sle-uc-d0d7 from today; LOT-1 released with the QC result endotoxin
// (EU/mL; "" records none) for it and RF-1, split into
// bags of 1×10^8 cells in 50.0 mL; bag 01 thawed 30 minutes ago with 1×10^8
// viable cells (2.0×10^6/mL) and dispensed for MRN-1. MRN-2 is an rFib
// source patient with lot RF-1.
func bedside(t testing.TB, endotoxin string) (*DB, *DoseService) {
	t.Helper()
	db := newTestDB(t)
	now := db.Now()
	for _, u := range []audit.User{{Name: "pat", FullName: "Dr Pat", Role: audit.Physician}, {Name: "omar", FullName: "Omar", Role: audit.Nurse}} {
		addTestUser(t, db, u)
	}
	s := NewLotService(db)
	if _, err := s.AddPatient("nina", lot.Patient{MRN: "MRN-2", Name: "Hana", Born: now.AddDate(-50, 0, 0), Sex: "F"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"MRN-1", "MRN-2"} {
		if _, err := s.Weigh("nina", m, 62_000, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	registerUC(t, db, "LOT-1")
	if _, err := s.SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 4, CellsEach: 100_000_000, VolumeEach: 500}); err != nil {
		t.Fatal(err)
	}
	_, err := s.RegisterLot("liu", lot.Registration{Number: "RF-1", Source: lot.SourceRFib, Patient: "MRN-2", Cells: 1_000_000_000,
		Viability: 950, VolumeML: 1000, Manufactured: now.AddDate(0, 0, -5), Expires: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SplitLot("liu", lot.Split{Lot: "RF-1", Containers: 2, CellsEach: 100_000_000, VolumeEach: 500}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"LOT-1", "RF-1"} {
		if endotoxin != "" { // the real QC result, read by lotEndotoxin
			if _, _, err := NewReleaseService(db).RecordResult("liu", n, release.Entry{Assay: "endotoxin", Value: endotoxin}, 0, ""); err != nil {
				t.Fatal(err)
			}
		}
		changeLot(t, db, n, func(l *lot.Lot) { l.Status = lot.Released })
	}
	d := NewDoseService(db)
	if _, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-d0d7", now, ""); err != nil {
		t.Fatal(err)
	}
	dispense(t, db, "G12342600000101", now.Add(-30*time.Minute), 100_000_000, "MRN-1")
	return db, d
}

const bag1, bag2 = "G12342600000101", "G12342600000102"

func failed(r dose.Report) []string {
	var names []string
	for _, c := range r.Failed() {
		name := c.Name
		if i := strings.LastIndex(name, " G1234"); i > 0 {
			name = name[:i] // the check of one container
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func TestBedsideGOAndAdminister(t *testing.T) {
	db, d := bedside(t, "0.5")
	r, err := d.Check("MRN-1", []string{bag1}, 0)
	if err != nil || !r.GO {
		t.Fatalf("check: %v %v", err, failed(r))
	}
	if r.Calc.Volume != 310 || r.Calc.Required != 62_000_000 || r.Calc.EndotoxinMilliEUPerKgH != 250 {
		t.Fatalf("calc: %s mL, %d cells, %d mEU/kg/h", r.Calc.Volume, r.Calc.Required, r.Calc.EndotoxinMilliEUPerKgH)
	}
	nina, _ := db.User("nina")
	omar, _ := db.User("omar")
	in, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	if in.Number != 1 || in.Given != 62_000_000 || in.Volume != 310 || in.Nurse.User != "nina" || in.Witness.User != "omar" ||
		in.Nurse.Signed != in.Witness.Signed || !in.End.Equal(in.Start.Add(time.Hour)) {
		t.Fatalf("infusion: %+v", in)
	}
	c, _ := NewLotService(db).Container(bag1)
	if c.State != lot.Infused {
		t.Fatalf("container state %s", c.State)
	}
	_, cs, _ := d.Courses("MRN-1")
	if cs[0].Entries[0].Status != dose.Given || cs[0].Entries[0].Given.InfusionID != in.ID {
		t.Fatalf("schedule entry not given: %+v", cs[0].Entries[0])
	}
	err = db.view(func(tx kv.Tx) error {
		p, _ := patientByMRN(tx, "MRN-1")
		byP, err := infusionsOfPatient(tx, p.ID)
		if err != nil || len(byP) != 1 || byP[0].ID != in.ID {
			t.Fatalf("infusionsOfPatient: %v %v", byP, err)
		}
		byC, err := infusionsOfContainer(tx, c.ID)
		if err != nil || len(byC) != 1 || byC[0].ID != in.ID {
			t.Fatalf("infusionsOfContainer: %v %v", byC, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same bag again: already infused, and no infusion is due.
	r, _ = d.Check("MRN-1", []string{bag1}, 0)
	if got := strings.Join(failed(r), ","); !strings.Contains(got, "container not used") || !strings.Contains(got, "infusion due") {
		t.Fatalf("second use of a bag: %s", got)
	}
	// It says what happened, first: into whom, when, by whom, which infusion.
	if want := "bag " + bag1 + " was already infused into patient MRN-1"; !strings.HasPrefix(r.Repeat, want) || !strings.Contains(r.Repeat, in.ID.String()) ||
		!strings.Contains(r.Repeat, "(nina)") || r.Checks[0].Name != "container not used "+bag1 || !strings.Contains(lot.ErrorMessage(r.Err()), "NO-GO: "+want) {
		t.Fatalf("second use of a bag does not say what happened: %q, first check %+v", r.Repeat, r.Checks[0])
	}
	if _, err := d.RecordReaction("nina", dose.NewReaction{Infusion: in.ID.String(), Grade: 1, Text: "transient fever 38.1 °C"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RecordReaction("nina", dose.NewReaction{Infusion: in.ID.String(), Grade: 7, Text: "x"}); lot.ErrorCode(err) != lot.EINVALID {
		t.Fatalf("grade 7: %v", err)
	}
	if v, _ := db.Verify(); !v.OK() {
		t.Fatalf("audit verify: %v", v.Problems)
	}
}

// TestAdministerSignsFromTheStoredRecord: the nurse's signature is built from
// the user record read inside the transaction, as the witness's is, not from
// the caller's copy, which may be stale or wrong.
func TestAdministerSignsFromTheStoredRecord(t *testing.T) {
	db, d := bedside(t, "0.5")
	nina, omar := mustUser(t, db, "nina"), mustUser(t, db, "omar")
	stored := nina
	nina.FullName, omar.FullName = "Stale Name", "Stale Witness"
	in, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	if in.Nurse.FullName != stored.FullName || in.Nurse.Role != stored.Role || in.Nurse.UserID != stored.ID {
		t.Errorf("nurse signature %+v, want the stored record's name %q", in.Nurse, stored.FullName)
	}
	if in.Witness.FullName == "Stale Witness" {
		t.Errorf("witness signature from the caller's copy: %+v", in.Witness)
	}
}

func TestBedsideNOGO(t *testing.T) {
	hour := time.Hour
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, db *DB, d *DoseService)
		endotoxin string // EU/mL; "" none
		mrn       string
		bags      []string
		volume    lot.Tenths
		want      string // the failed checks, sorted
	}{
		{"lot in quarantine", func(t *testing.T, db *DB, d *DoseService) {
			changeLot(t, db, "LOT-1", func(l *lot.Lot) { l.Status = lot.Quarantine })
		}, "0.5", "MRN-1", []string{bag1}, 0, "lot released"},
		{"lot expired", func(t *testing.T, db *DB, d *DoseService) {
			changeLot(t, db, "LOT-1", func(l *lot.Lot) { l.Expires = db.Now().Add(-hour) })
		}, "0.5", "MRN-1", []string{bag1}, 0, "lot not expired"},
		{"exceptional release for another patient", func(t *testing.T, db *DB, d *DoseService) {
			p, _ := NewLotService(db).Patient("MRN-2")
			changeLot(t, db, "LOT-1", func(l *lot.Lot) { l.Exceptional, l.RestrictedTo = true, p.ID })
		}, "0.5", "MRN-1", []string{bag1}, 0, "lot released"},
		{"another patient's autologous cells", func(t *testing.T, db *DB, d *DoseService) {
			dispense(t, db, "G12342600000201", db.Now().Add(-hour), 100_000_000, "MRN-1")
		}, "0.5", "MRN-1", []string{"G12342600000201"}, 0, "chain of identity,product"},
		{"thawed but not dispensed", func(t *testing.T, db *DB, d *DoseService) {
			dispense(t, db, bag2, db.Now().Add(-hour), 100_000_000, "")
		}, "0.5", "MRN-1", []string{bag2}, 0, "container dispensed"},
		{"dispensed for another patient", func(t *testing.T, db *DB, d *DoseService) {
			dispense(t, db, bag2, db.Now().Add(-hour), 100_000_000, "MRN-2")
		}, "0.5", "MRN-1", []string{bag2}, 0, "container dispensed"},
		{"thawed too long ago", func(t *testing.T, db *DB, d *DoseService) {
			dispense(t, db, bag2, db.Now().Add(-5*hour), 100_000_000, "MRN-1")
		}, "0.5", "MRN-1", []string{bag2}, 0, "thaw window"},
		{"no post-thaw count", func(t *testing.T, db *DB, d *DoseService) {
			dispense(t, db, bag2, db.Now().Add(-hour), 0, "MRN-1")
		}, "0.5", "MRN-1", []string{bag2}, 0, "post-thaw count"},
		{"no endotoxin result", nil, "", "MRN-1", []string{bag1}, 0, "endotoxin result"},
		// 10.001 EU/mL × 31.0 mL ÷ 62.0 kg = 5.0005 EU/kg over 1 h
		{"endotoxin above 5 EU/kg/h", nil, "10.001", "MRN-1", []string{bag1}, 0, "endotoxin dose"},
		{"dose above tolerance", nil, "0.5", "MRN-1", []string{bag1}, 350, "dose"},
		{"too few cells", func(t *testing.T, db *DB, d *DoseService) {
			dispense(t, db, bag2, db.Now().Add(-hour), 50_000_000, "MRN-1")
		}, "0.5", "MRN-1", []string{bag2}, 0, "dose"},
		{"a bag not needed for the dose", func(t *testing.T, db *DB, d *DoseService) {
			dispense(t, db, bag2, db.Now().Add(-hour), 100_000_000, "MRN-1")
		}, "0.5", "MRN-1", []string{bag1, bag2}, 0, "container needed"},
		{"the same bag twice", nil, "0.5", "MRN-1", []string{bag1, "G1234 26 000001 01"}, 0, "container given once"},
		{"no schedule", func(t *testing.T, db *DB, d *DoseService) {
			dispense(t, db, "G12342600000201", db.Now().Add(-hour), 100_000_000, "MRN-2")
		}, "0.5", "MRN-2", []string{"G12342600000201"}, 0, "patient scheduled"},
		{"no infusion due today", func(t *testing.T, db *DB, d *DoseService) {
			if _, err := d.CreateSchedule("pat", "MRN-2", "ss-rfib-12", db.Now().AddDate(0, 0, 5), ""); err != nil {
				t.Fatal(err)
			}
			dispense(t, db, "G12342600000201", db.Now().Add(-hour), 50_000_000, "MRN-2")
		}, "0.5", "MRN-2", []string{"G12342600000201"}, 0, "infusion due"},
		{"weight too old", func(t *testing.T, db *DB, d *DoseService) {
			// eight days later the only weight is too old; infusion 1 is moved to that day
			db.Now = func() time.Time { return time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC) }
			if _, err := d.ChangeSchedule(mustUser(t, db, "pat"), "MRN-1", 1, db.Now(), "moved for the test"); err != nil {
				t.Fatal(err)
			}
			dispense(t, db, bag2, db.Now().Add(-hour), 100_000_000, "MRN-1")
		}, "0.5", "MRN-1", []string{bag2}, 0, "weight"},
		{"weight changed more than 10 % unconfirmed", func(t *testing.T, db *DB, d *DoseService) {
			if _, err := NewLotService(db).Weigh("nina", "MRN-1", 68_300, db.Now().Add(-10*time.Minute)); err != nil {
				t.Fatal(err)
			}
			dispense(t, db, bag2, db.Now().Add(-hour), 100_000_000, "MRN-1")
		}, "0.5", "MRN-1", []string{bag2}, 0, "weight change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, d := bedside(t, tc.endotoxin)
			if tc.setup != nil {
				tc.setup(t, db, d)
			}
			r, err := d.Check(tc.mrn, tc.bags, tc.volume)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(failed(r), ","); r.GO || got != tc.want || lot.ErrorCode(r.Err()) != lot.ENOGO {
				t.Fatalf("failed checks %q, want %q\n%v", got, tc.want, r.Failed())
			}
			// administer refuses with the same reasons and writes nothing.
			before, _ := db.AuditCount()
			_, _, err = d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"),
				dose.Administration{MRN: tc.mrn, Containers: tc.bags, Volume: tc.volume, Start: db.Now()})
			if lot.ErrorCode(err) != lot.ENOGO {
				t.Fatalf("administer: %v", err)
			}
			if after, _ := db.AuditCount(); after != before {
				t.Fatalf("a refused administration wrote %d audit entries", after-before)
			}
		})
	}
}

func mustUser(t testing.TB, db *DB, name string) audit.User {
	t.Helper()
	u, err := db.User(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestWeightChangeConfirmedByPhysician(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, err := NewLotService(db).Weigh("nina", "MRN-1", 68_300, db.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ConfirmWeight(mustUser(t, db, "nina"), "MRN-1", dose.WeightShown{Grams: 68_300}, "re-weighed"); lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Fatalf("nurse confirming: %v", err)
	}
	wt, err := d.ConfirmWeight(mustUser(t, db, "pat"), "MRN-1", dose.WeightShown{Grams: 68_300}, "re-weighed twice, fluid overload")
	if err != nil {
		t.Fatal(err)
	}
	// The signature stores the meaning the password prompt authenticated.
	err = db.view(func(tx kv.Tx) error {
		id, ok := lookup(tx, "idx_weight_confirm", string(wt.ID[:]))
		var r weightConfirmRecord
		if _, err := get(tx, kindWeightConfirm, id, &r); err != nil || !ok {
			return fmt.Errorf("confirmation of %s: found %v, %v", wt.ID, ok, err)
		}
		if want := dose.MeaningConfirmWeight + " 68.3 kg of MRN-1"; r.Signature.Meaning != want {
			t.Errorf("signature meaning %q, want %q", r.Signature.Meaning, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := d.Check("MRN-1", []string{bag1}, 0) // 68.3 kg needs 6.83×10^7: 34.15 mL, drawn as 34.2 mL = 6.84×10^7
	if !r.GO || r.Calc.Required != 68_300_000 || r.Calc.Draws[0].Draw != 342 || r.Calc.Given != 68_400_000 {
		t.Fatalf("after confirmation: %v %+v", failed(r), r.Calc.Draws)
	}
}

// TestWeightConfirmationNamesTheWeightShown: the physician's confirmation
// names the weight the check showed (review 17): by its value (the command
// line's --kg) or its record (the API's WeightID). A weight recorded since
// — here a transposed 27.0 after the 72.0 shown — is refused with the
// latest weight named, and nothing is written.
func TestWeightConfirmationNamesTheWeightShown(t *testing.T) {
	db, d := bedside(t, "0.5")
	ls := NewLotService(db)
	shown, err := ls.Weigh("nina", "MRN-1", 72_000, db.Now().Add(-20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	later, err := ls.Weigh("omar", "MRN-1", 27_000, db.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	pat := mustUser(t, db, "pat")
	for _, tc := range []struct {
		name  string
		named dose.WeightShown
		code  string
	}{
		{"no weight named", dose.WeightShown{}, lot.EUSAGE},
		{"the value shown, another weight since", dose.WeightShown{Grams: 72_000}, lot.ECONFLICT},
		{"the record shown, another weight since", dose.WeightShown{ID: shown.ID}, lot.ECONFLICT},
		{"the latest record with another value", dose.WeightShown{ID: later.ID, Grams: 72_000}, lot.ECONFLICT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := auditLen(t, db)
			_, err := d.ConfirmWeight(pat, "MRN-1", tc.named, "re-weighed: fluid overload")
			if lot.ErrorCode(err) != tc.code || lot.ErrorField(err) != "weight" {
				t.Fatalf("%v (code %s, field %q); want %s on the field weight", err, lot.ErrorCode(err), lot.ErrorField(err), tc.code)
			}
			if tc.code == lot.ECONFLICT && !strings.Contains(err.Error(), "the latest weight of MRN-1 is now 27.0 kg") || !strings.Contains(err.Error(), "nothing was signed") {
				t.Errorf("the refusal does not say which weight is latest and that nothing was signed: %v", err)
			}
			if n := auditLen(t, db); n != before {
				t.Errorf("a refused confirmation wrote %d audit entries", n-before)
			}
		})
	}
	for _, named := range []dose.WeightShown{{ID: later.ID}, {Grams: 27_000}} {
		wt, err := d.ConfirmWeight(pat, "MRN-1", named, "re-weighed: fluid overload")
		if err == nil && wt.ID != later.ID {
			t.Fatalf("confirmed %s, want the latest weight %s", wt.ID, later.ID)
		}
		if named.ID != uuid.Nil && err != nil || named.ID == uuid.Nil && lot.ErrorCode(err) != lot.ECONFLICT {
			t.Fatalf("naming %+v, the latest weight: %v (the first confirms it, the second finds it confirmed)", named, err)
		}
	}
}

// TestWeightChangeFromTheLastInfusion: on day 7 the change is measured from
// the weight infusion 1 was given with, so weighing the changed weight
// again does not clear it (the bedside review: 62.0 → 82.0 → 82.0 was GO).
func TestWeightChangeFromTheLastInfusion(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	day7 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return day7 }
	dispense(t, db, bag2, day7.Add(-30*time.Minute), 100_000_000, "MRN-1")
	for _, at := range []time.Duration{-time.Hour, -30 * time.Minute} {
		if _, err := NewLotService(db).Weigh("nina", "MRN-1", 82_000, day7.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := d.Check("MRN-1", []string{bag2}, 0)
	if err != nil || r.GO || strings.Join(failed(r), ",") != "weight change" ||
		!strings.Contains(lot.ErrorMessage(r.Err()), "82.0 kg is +32.3 % since 62.0 kg on 2026-11-25 (the weight an earlier infusion was given with)") {
		t.Fatalf("82.0 kg entered twice after 62.0 kg: %v %v %v", err, failed(r), r.Err())
	}
	if _, err := d.ConfirmWeight(mustUser(t, db, "pat"), "MRN-1", dose.WeightShown{Grams: 82_000}, "re-weighed twice, fluid overload"); err != nil {
		t.Fatal(err)
	}
	if r, _ := d.Check("MRN-1", []string{bag2}, 0); !r.GO || r.Calc.Required != 82_000_000 {
		t.Fatalf("after confirmation: %v", failed(r))
	}
}

func TestAdministerRefusesWitnessAndRoles(t *testing.T) {
	db, d := bedside(t, "0.5")
	a := dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}
	for name, pair := range map[string][2]string{"witness is the nurse": {"nina", "nina"}, "lab witness": {"nina", "liu"}, "admin administers": {"alice", "nina"}} {
		before, _ := db.AuditCount()
		if _, _, err := d.Administer(mustUser(t, db, pair[0]), mustUser(t, db, pair[1]), a); lot.ErrorCode(err) != lot.EFORBIDDEN {
			t.Errorf("%s: %v", name, err)
		}
		if after, _ := db.AuditCount(); after != before {
			t.Errorf("%s wrote", name)
		}
	}
}

func TestSecondCourseAfterTheFirstEnds(t *testing.T) {
	db, d := bedside(t, "0.5")
	if _, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-d0d7", db.Now(), ""); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("second course while the first runs: %v", err)
	}
	db.Now = func() time.Time { return time.Date(2027, 6, 1, 9, 0, 0, 0, time.UTC) } // both infusions missed: the course ended
	c, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-d0d7", db.Now(), "")
	if err != nil || c.Schedule.Course != 2 {
		t.Fatalf("second course: %v %d", err, c.Schedule.Course)
	}
}

// The bedside through the real services: QA's release (with its endotoxin
// result), custody's store, thaw and dispense, then the check and the signed
// administration, which moves the bag to infused through the custody state
// machine.
func TestBedsideThroughReleaseAndCustody(t *testing.T) {
	db := newTestDB(t)
	for _, u := range []audit.User{{Name: "pat", FullName: "Dr Pat", Role: audit.Physician}, {Name: "omar", FullName: "Omar", Role: audit.Nurse}} {
		addTestUser(t, db, u)
	}
	releasedUC(t, db) // LOT-1, endotoxin 0.2 EU/mL
	bags, err := NewLotService(db).SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 2, CellsEach: 100_000_000, VolumeEach: 500})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewLotService(db).Weigh("nina", "MRN-1", 62_000, db.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	d := NewDoseService(db)
	if _, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-d0d7", db.Now(), ""); err != nil {
		t.Fatal(err)
	}
	cs := NewCustodyService(db)
	bag := bags[0].Code()
	if _, err := cs.AddSite("liu", lot.Site{Code: "LAB", Name: "Cell lab"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Store("liu", bag, "LN2-A rack 3"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Thaw("liu", bag, lot.Thaw{Viability: 1000, ViableCells: 100_000_000}); err != nil {
		t.Fatal(err)
	}
	if r, _ := d.Check("MRN-1", []string{bag}, 0); !strings.Contains(strings.Join(failed(r), ","), "container dispensed") {
		t.Fatalf("a thawed, undispensed bag passed: %v", failed(r))
	}
	if _, err := cs.Dispense("liu", bag, "MRN-1"); err != nil {
		t.Fatal(err)
	}
	r, err := d.Check("MRN-1", []string{bag}, 0)
	if err != nil || !r.GO {
		t.Fatalf("check: %v %v", err, r.Failed())
	}
	// 0.2 EU/mL × 31.0 mL ÷ 62.0 kg over one hour = 0.1 EU/kg/h, from the QC record.
	if r.Calc.Volume != 310 || r.Calc.EndotoxinMilliEUPerKgH != 100 {
		t.Fatalf("calc: %s mL, %d mEU/kg/h", r.Calc.Volume, r.Calc.EndotoxinMilliEUPerKgH)
	}
	// The post-thaw viability is checked against the floor of the
	// specification version QA released the lot against (isct-uc-msc v1: ≥ 80 %).
	if !strings.Contains(fmt.Sprint(r.Checks), "100.0 % viable after thaw (floor 80.0 % of isct-uc-msc v1)") {
		t.Fatalf("post-thaw viability not shown with its floor: %v", r.Checks)
	}
	bag2 := bags[1].Code()
	if _, err := cs.Store("liu", bag2, "LN2-A rack 3"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Thaw("liu", bag2, lot.Thaw{Viability: 799, ViableCells: 79_900_000}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Dispense("liu", bag2, "MRN-1"); err != nil {
		t.Fatal(err)
	}
	low, err := d.Check("MRN-1", []string{bag2}, 0)
	if err != nil || low.GO || strings.Join(failed(low), ",") != "post-thaw viability" ||
		!strings.Contains(lot.ErrorMessage(low.Err()), "79.9 % viable after thaw is below the floor of 80.0 % of isct-uc-msc v1, which lot LOT-1 was released against") {
		t.Fatalf("79.9 %% viable: %v %v", err, low.Err())
	}
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag}})
	if err != nil {
		t.Fatal(err)
	}
	c, es, err := cs.History(bag)
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	// The bag was stored at "LN2-A rack 3" and is now in the patient.
	if c.Location != "" {
		t.Errorf("infused bag still shows location %q", c.Location)
	}
	if c.State != lot.Infused || c.Custodian != "nina" || last.To != lot.Infused || last.From != lot.Dispensed || last.Site != "LAB" ||
		last.Details["infusion"] != in.ID.String() || last.Details["witness"] != "omar" || last.Details["patient_mrn"] != "MRN-1" {
		t.Fatalf("infused event: %+v", last)
	}
	if _, err := cs.Return("liu", bag, "x"); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Fatalf("returning an infused bag: %v", err)
	}
}

// TestProtocolByIDDecodesTheStoredBytes: the protocol a check reads is the
// stored record's, each caller's copy its own (a change to one does not
// reach the next caller), and after the bytes under its id change, the new
// ones are read.
func TestProtocolByIDDecodesTheStoredBytes(t *testing.T) {
	db := newTestDB(t)
	read := func() dose.StoredProtocol {
		t.Helper()
		var p dose.StoredProtocol
		err := db.view(func(tx kv.Tx) (err error) { p, err = protocolByName(tx, "sle-uc-d0d7", 0); return err })
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := read()
	if len(first.Phases) == 0 {
		t.Fatalf("protocol %+v has no phases", first)
	}
	count := first.Phases[0].Count
	first.Phases[0].Count = 99
	first.Phases = append(first.Phases, dose.Phase{Count: 1})
	if again := read(); again.Phases[0].Count != count || len(again.Phases) != len(first.Phases)-1 {
		t.Fatalf("a caller's change reached the next caller: %+v", again.Phases)
	}
	err := db.engine.Update(func(tx kv.Tx) error {
		b := tx.Bucket(recordBuckets[kindProtocol])
		v := b.Get(first.ID[:])
		changed := bytes.Replace(v, []byte(fmt.Sprintf(`"created_by":%q`, first.CreatedBy)), []byte(`"created_by":"someone-else"`), 1)
		if bytes.Equal(changed, v) {
			t.Fatalf("no created_by in %s", v)
		}
		return b.Put(first.ID[:], changed)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); got.CreatedBy != "someone-else" {
		t.Fatalf("after the stored bytes changed: created by %q", got.CreatedBy)
	}
}

// TestCheckNamesTheInputNotFound: the bedside check names the input it
// could not find or read — the wristband's MRN or a bag's code — so that each front
// end points at it (the page's box, the command's argument or --container).
func TestCheckNamesTheInputNotFound(t *testing.T) {
	_, d := bedside(t, "0.5")
	for _, c := range []struct {
		name, mrn, bag, code, field string
	}{
		{"unknown patient", "MRN-9", bag1, lot.ENOTFOUND, "mrn"},
		{"unknown bag", "MRN-1", "G12342600000199", lot.ENOTFOUND, "containers"},
		{"not a bag code", "MRN-1", "nope", lot.EINVALID, "containers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.Check(c.mrn, []string{c.bag}, 0)
			if lot.ErrorCode(err) != c.code || lot.ErrorField(err) != c.field {
				t.Fatalf("got %v (%s, field %q), want %s on %q", err, lot.ErrorCode(err), lot.ErrorField(err), c.code, c.field)
			}
		})
	}
}
