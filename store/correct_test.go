package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// TestCorrectMRNKeepsEverythingAttached: MRN-2 has weights, a schedule, an
// infusion and an autologous lot; after its MRN is corrected to MRN-20 all of
// them are found under MRN-20, the index moved, the old MRN is refused with
// the new one named, and audit verify (which rederives every index entry)
// passes.
func TestCorrectMRNKeepsEverythingAttached(t *testing.T) {
	db, d := bedside(t, "0.5")
	s := NewLotService(db)
	if _, err := d.CreateSchedule("pat", "MRN-2", "ss-rfib-12", db.Now(), ""); err != nil {
		t.Fatal(err)
	}
	dispense(t, db, "G12342600000201", db.Now().Add(-30*time.Minute), 100_000_000, "MRN-2")
	in, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-2", Containers: []string{"G12342600000201"}})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Patient("MRN-2")
	entries, _ := db.AuditCount()

	p, c, err := s.CorrectPatient("nina", "MRN-2", lot.PatientFix{MRN: "MRN-20", Name: "Hana Ito"}, "digits and surname missed at registration")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != before.ID || p.MRN != "MRN-20" || p.Name != "Hana Ito" || strings.Join(p.FormerMRNs, ",") != "MRN-2" ||
		c.Summary() != `MRN MRN-2 → MRN-20; name "Hana" → "Hana Ito"` || c.By != "nina" {
		t.Fatalf("corrected: %+v, %+v", p, c)
	}
	if n, _ := db.AuditCount(); n != entries+1 {
		t.Errorf("%d audit entries written; want 1", n-entries)
	}
	log, _ := db.AuditLog("MRN-20")
	last := log[len(log)-1]
	if last.Action != string(audit.PatientCorrect) || last.Reason != "digits and surname missed at registration" ||
		!strings.Contains(string(last.Prev), `"mrn":"MRN-2"`) || !strings.Contains(string(last.New), `"mrn":"MRN-20"`) {
		t.Errorf("audit entry: %s %q prev %s new %s", last.Action, last.Reason, last.Prev, last.New)
	}
	if ws, err := s.Weights("MRN-20"); err != nil || len(ws) != 1 {
		t.Errorf("weights under the new MRN: %v %v", ws, err)
	}
	if _, cs, err := d.Courses("MRN-20"); err != nil || len(cs) != 1 || cs[0].Entries[0].Given.InfusionID != in.ID {
		t.Errorf("schedule under the new MRN: %+v %v", cs, err)
	}
	if ins, _, err := d.Infusions("MRN-20"); err != nil || len(ins) != 1 || ins[0].ID != in.ID {
		t.Errorf("infusions under the new MRN: %v %v", ins, err)
	}
	if rf, err := s.Lot("RF-1"); err != nil || rf.PatientID != p.ID {
		t.Errorf("autologous lot's source patient: %v %v", rf.PatientID, err)
	}
	tr, err := newTraces(db).Patient(context.Background(), "alice", "MRN-20")
	var titles []string
	for _, sec := range tr.Sections {
		titles = append(titles, sec.Title)
	}
	if err != nil || len(tr.Infusions) != 1 || !strings.Contains(strings.Join(titles, "|"), "|Corrections of the patient MRN-20 record|") {
		t.Errorf("trace of the new MRN: %v, %d infusions, sections %q", err, len(tr.Infusions), titles)
	}
	// The old MRN: refused wherever it is typed, naming the new one.
	_, err = s.Patient("MRN-2")
	if lot.ErrorCode(err) != lot.ENOTFOUND || !strings.Contains(err.Error(), "no patient has MRN MRN-2 now: it was corrected to MRN-20 2026-11-25 09:00 UTC by nina") {
		t.Errorf("lookup of the former MRN: %v", err)
	}
	if _, err := d.Check("MRN-2", []string{bag2}, 0); lot.ErrorCode(err) != lot.ENOTFOUND {
		t.Errorf("bedside check with the former MRN: %v", err)
	}
	// ... and reserved: nobody else may have it.
	_, err = s.AddPatient("nina", lot.Patient{MRN: "MRN-2", Name: "Someone Else", Born: db.Now().AddDate(-30, 0, 0), Sex: "M"})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "MRN MRN-2 is a former MRN of patient MRN-20 (Hana Ito)") {
		t.Errorf("registering the former MRN: %v", err)
	}
	_, err = s.AddPatient("nina", lot.Patient{MRN: "mrn-2", Name: "Someone Else", Born: db.Now().AddDate(-30, 0, 0), Sex: "M"})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "only in letter case") {
		t.Errorf("registering the former MRN in lower case: %v", err)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Errorf("audit verify after the correction: %v %v", v.Problems, err)
	}
	// Back to the first MRN: current again, the mistaken one former.
	p, _, err = s.CorrectPatient("nina", "MRN-20", lot.PatientFix{MRN: "MRN-2"}, "the first MRN was right after all")
	if err != nil || p.MRN != "MRN-2" || strings.Join(p.FormerMRNs, ",") != "MRN-20" {
		t.Errorf("back to MRN-2: %+v %v", p, err)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Errorf("audit verify after the second correction: %v %v", v.Problems, err)
	}
}

// TestCorrectPatientRefusals: each refusal has its code and writes nothing.
func TestCorrectPatientRefusals(t *testing.T) {
	db, _ := bedside(t, "0.5")
	s := NewLotService(db)
	if _, _, err := s.CorrectPatient("nina", "MRN-2", lot.PatientFix{MRN: "MRN-22"}, "typo"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPatient("nina", lot.Patient{MRN: "AB-1", Name: "Ana", Born: db.Now().AddDate(-30, 0, 0), Sex: "F"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, actor, mrn string
		fix              lot.PatientFix
		reason, code     string
		want             string
	}{
		{"another patient's MRN", "nina", "MRN-1", lot.PatientFix{MRN: "MRN-22"}, "typo", lot.ECONFLICT, "the MRN MRN-22 is the MRN of another patient (Hana, born"},
		{"another patient's former MRN", "nina", "MRN-1", lot.PatientFix{MRN: "MRN-2"}, "typo", lot.ECONFLICT, "MRN MRN-2 is a former MRN of patient MRN-22"},
		{"another patient's MRN in other case", "nina", "MRN-1", lot.PatientFix{MRN: "ab-1"}, "typo", lot.ECONFLICT, "the MRN ab-1 differs from the registered MRN AB-1 only in letter case"},
		{"blank reason", "nina", "MRN-1", lot.PatientFix{Name: "Mei Li"}, " ", lot.EINVALID, "the reason is required"},
		{"no change", "nina", "MRN-1", lot.PatientFix{Name: "Mei"}, "typo", lot.ECONFLICT, `"Mei" is already the patient's name`},
		{"nothing given", "nina", "MRN-1", lot.PatientFix{}, "typo", lot.EINVALID, "nothing to correct"},
		{"born in the future", "nina", "MRN-1", lot.PatientFix{Born: db.Now().AddDate(0, 0, 1)}, "typo", lot.EINVALID, "is in the future"},
		{"unknown patient", "nina", "MRN-9", lot.PatientFix{Name: "X"}, "typo", lot.ENOTFOUND, `no patient with MRN "MRN-9"`},
		{"by its former MRN", "nina", "MRN-2", lot.PatientFix{Name: "X"}, "typo", lot.ENOTFOUND, "it was corrected to MRN-22"},
		{"the lab may not", "liu", "MRN-1", lot.PatientFix{Name: "Mei Li"}, "typo", lot.EFORBIDDEN, "may not patient.correct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := db.AuditCount()
			_, _, err := s.CorrectPatient(tc.actor, tc.mrn, tc.fix, tc.reason)
			if lot.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want %s %q", err, tc.code, tc.want)
			}
			if m, _ := db.AuditCount(); m != n {
				t.Errorf("%d audit entries written by a refusal", m-n)
			}
		})
	}
	// Its own MRN in another case is a correction of that patient's MRN.
	if p, _, err := s.CorrectPatient("nina", "AB-1", lot.PatientFix{MRN: "ab-1"}, "the registry writes it in lower case"); err != nil || p.MRN != "ab-1" {
		t.Errorf("own MRN in lower case: %+v %v", p, err)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Errorf("audit verify: %v %v", v.Problems, err)
	}
}

// TestCorrectDonor: dates and site corrected, old and new in the record and
// the audit trail; the lab only.
func TestCorrectDonor(t *testing.T) {
	db := newTestDB(t)
	s := NewLotService(db)
	before, _ := s.Donor("D-1")
	day := before.Delivered.AddDate(0, 0, -1)
	d, c, err := s.CorrectDonor("liu", "D-1", lot.DonorFix{Delivered: day}, "delivery record says a day earlier")
	if err != nil || !d.Delivered.Equal(day) || len(d.Corrections) != 1 || c.Changes[0].Old != lot.FormatDate(before.Delivered) {
		t.Fatalf("corrected: %+v %+v %v", d, c, err)
	}
	again, _ := s.Donor("D-1")
	if len(again.Corrections) != 1 || again.Corrections[0].Reason != "delivery record says a day earlier" {
		t.Errorf("stored: %+v", again)
	}
	if _, _, err := s.CorrectDonor("nina", "D-1", lot.DonorFix{Site: "ward 2"}, "typo"); lot.ErrorCode(err) != lot.EFORBIDDEN {
		t.Errorf("a nurse correcting a donor: %v", err)
	}
	if _, _, err := s.CorrectDonor("liu", "D-1", lot.DonorFix{Delivered: day}, "typo"); lot.ErrorCode(err) != lot.ECONFLICT {
		t.Errorf("the same date again: %v", err)
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Errorf("audit verify: %v %v", v.Problems, err)
	}
}

// TestOpenUpgradesAnOlderFile: a file of an earlier schema (2, or 3, the
// version before 7) opens read-only only after `upgrade`; the upgrade notes
// what version 7 adds, and the upgraded file takes corrections and verifies.
func TestOpenUpgradesAnOlderFile(t *testing.T) {
	for _, from := range []string{"2", "3"} {
		t.Run("from "+from, func(t *testing.T) { upgradeFrom(t, from) })
	}
}

func upgradeFrom(t *testing.T, from string) {
	db := newTestDB(t)
	path := tamperFile(t, db, func(tx kv.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), []byte(from)) })
	_, err := Open(path, Options{ReadOnly: true, Timeout: time.Second})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), "schema version "+from+"; this celltrack needs "+strconv.Itoa(SchemaVersion)) {
		t.Fatalf("read-only open of a version %s file: %v", from, err)
	}
	up, err := openUpgraded(path, Options{Timeout: time.Second, Now: db.Now})
	if err != nil {
		t.Fatal(err)
	}
	db.engine = up.engine
	v, note, err := up.Schema()
	if err != nil || v != SchemaVersion || !strings.Contains(note, `"from":`+from) || !strings.Contains(note, "7: patient and donor records may carry corrections") {
		t.Fatalf("schema %d, note %q, %v", v, note, err)
	}
	if _, _, err := NewLotService(up).CorrectPatient("nina", "MRN-1", lot.PatientFix{MRN: "MRN-100"}, "typo"); err != nil {
		t.Fatal(err)
	}
	if v, err := up.Verify(); err != nil || !v.OK() {
		t.Errorf("audit verify after upgrade and correction: %v %v", v.Problems, err)
	}
}

// TestKeptPatientIsTheCallersCopy: patientByMRN keeps the record decoded
// (keptPatients); a caller that changes the former MRNs or a correction's
// changes it was given — CorrectPatient appends to them — changes its own
// copy, never what the next reader of the same bytes gets.
func TestKeptPatientIsTheCallersCopy(t *testing.T) {
	db, _ := bedside(t, "0.5")
	if _, _, err := NewLotService(db).CorrectPatient("nina", "MRN-2", lot.PatientFix{MRN: "MRN-20"}, "digits missed at registration"); err != nil {
		t.Fatal(err)
	}
	read := func() lot.Patient {
		var p lot.Patient
		if err := db.view(func(tx kv.Tx) (err error) { p, err = patientByMRN(tx, "MRN-20"); return err }); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := read()
	if len(p.FormerMRNs) != 1 || len(p.Corrections) != 1 || len(p.Corrections[0].Changes) == 0 {
		t.Fatalf("patient %+v; want one former MRN and one correction", p)
	}
	p.FormerMRNs[0], p.Corrections[0].Changes[0].New = "MRN-X", "changed by the caller"
	if q := read(); q.FormerMRNs[0] != "MRN-2" || q.Corrections[0].Changes[0].New == "changed by the caller" {
		t.Fatalf("the next read got the caller's changes: %+v", q)
	}
}
