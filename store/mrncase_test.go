package store

import (
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestMRNInAnotherLetterCaseFindsThePatient: registration refuses an MRN
// differing from another only in letter case, so a look-up in another case
// (mrn-1, Caps Lock on) answers the one patient it can be, with her MRN as
// registered; a database that held two such MRNs before the refusal (made
// here by writing the second patient past AddPatient's check) answers
// only the exact MRN, and the refusal names both patients — never one of
// them for the other.
func TestMRNInAnotherLetterCaseFindsThePatient(t *testing.T) {
	db := newTestDB(t)
	s := NewLotService(db)
	for _, typed := range []string{"MRN-1", "mrn-1", "Mrn-1"} {
		p, err := s.Patient(typed)
		if err != nil || p.MRN != "MRN-1" {
			t.Fatalf("Patient(%q) = %q, %v; want MRN-1", typed, p.MRN, err)
		}
	}
	if _, err := s.Patient("mrn-2"); lot.ErrorCode(err) != lot.ENOTFOUND {
		t.Fatalf("Patient(mrn-2), no one's MRN in any case: %v", err)
	}
	// A second patient, mrn-1, as a database written before the refusal
	// could hold her.
	err := db.update("nina", audit.PatientAdd, func(w *writer) error {
		p := lot.Patient{ID: db.NewID(), MRN: "mrn-1", Name: "Ana", Born: w.now.AddDate(-30, 0, 0), Sex: "F", CreatedAt: w.now, CreatedBy: "nina"}
		if err := w.put(kindPatient, p.ID, string(audit.PatientAdd), "", toPatientRecord(p)); err != nil {
			return err
		}
		return writeIndexes(w.tx, kindPatient, p.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	for typed, name := range map[string]string{"MRN-1": "Mei", "mrn-1": "Ana"} {
		if p, err := s.Patient(typed); err != nil || p.Name != name {
			t.Errorf("Patient(%q), her exact MRN: %s, %v; want %s", typed, p.Name, err, name)
		}
	}
	p, err := s.Patient("Mrn-1")
	if lot.ErrorCode(err) != lot.ENOTFOUND || !strings.Contains(lot.ErrorMessage(err), "no patient has MRN Mrn-1 exactly") ||
		!strings.Contains(lot.ErrorMessage(err), "MRN MRN-1 (Mei, born") || !strings.Contains(lot.ErrorMessage(err), "MRN mrn-1 (Ana, born") {
		t.Errorf("Patient(Mrn-1) with MRN-1 and mrn-1 registered: %q, %v; want ENOTFOUND naming both patients", p.MRN, err)
	}
}
