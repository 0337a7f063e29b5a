package store

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/trace"
	"github.com/google/uuid"
)

var update = flag.Bool("update", false, "rewrite the golden files of the trace reports")

// newTraces is the trace reports of db, as cmd wires them: package trace's
// builder over this store's read snapshots.
func newTraces(db *DB) *trace.Service { return trace.New(db.ReadTraceContext) }

// confirmedWeightTrace is review 17 D's story on the bedside state: nina
// weighs MRN-1 68.3 kg ten minutes ago (+10.2 % on the 62.0 kg before), Dr
// Pat signs the confirmation the 10 % gate asks for ("re-weighed twice,
// fluid overload"), and nina gives bag 01 witnessed by omar. It returns
// MRN-1's patient trace and when the 68.3 kg was measured.
func confirmedWeightTrace(t *testing.T) (report.Report, time.Time) {
	t.Helper()
	db, d := bedside(t, "0.5")
	measured := db.Now().Add(-10 * time.Minute)
	if _, err := NewLotService(db).Weigh("nina", "MRN-1", 68_300, measured); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ConfirmWeight(mustUser(t, db, "pat"), "MRN-1", dose.WeightShown{Grams: 68_300}, "re-weighed twice, fluid overload"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}}); err != nil {
		t.Fatal(err)
	}
	r, err := newTraces(db).Patient(context.Background(), "nina", "MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	return r, measured
}

// The store's read snapshot is what package trace reads, and is told
// which trace it serves (TraceSnapshot.Prepare).
var (
	_ trace.Snapshot = (*TraceSnapshot)(nil)
	_ trace.Preparer = (*TraceSnapshot)(nil)
)

// TestTraceKindsAreTheStoreKinds: package trace names the trace it asks a
// snapshot to prepare for by its kind, which Prepare reads as the store
// kind of the record traced.
func TestTraceKindsAreTheStoreKinds(t *testing.T) {
	for trace, kind := range map[string]string{trace.KindLot: kindLot, trace.KindPatient: kindPatient,
		trace.KindDonor: kindDonor, trace.KindContainer: kindContainer} {
		if trace != kind {
			t.Errorf("trace kind %q is store kind %q", trace, kind)
		}
	}
}

// TestAuditEntityNamesAreTheStoreKinds: a report names the records it shows
// by audit entity name (audit.Ref), which the store verifies in the bucket
// of its kind; every name a trace uses must be a kind with a bucket.
func TestAuditEntityNamesAreTheStoreKinds(t *testing.T) {
	for entity, kind := range map[string]string{
		audit.EntityUser: kindUser, audit.EntityDonor: kindDonor, audit.EntityPatient: kindPatient, audit.EntityLot: kindLot,
		audit.EntityContainer: kindContainer, audit.EntityEvent: kindEvent, audit.EntityLabel: kindLabel,
		audit.EntityScreening: kindScreening, audit.EntityDisposition: kindDisposition, audit.EntityProtocol: kindProtocol,
		audit.EntitySchedule: kindSchedule, audit.EntityInfusion: kindInfusion, audit.EntityReaction: kindReaction,
	} {
		if entity != kind {
			t.Errorf("audit entity %q is store kind %q", entity, kind)
		}
		if recordBuckets[entity] == nil {
			t.Errorf("audit entity %q has no record bucket", entity)
		}
	}
}

// custody appends a custody event to the container with the given code, as
// the custody commands will: the test stands in for them until they exist,
// through the same writer.appendEvent.
func custody(t testing.TB, db *DB, user, code string, e lot.Event) {
	t.Helper()
	err := db.engine.Update(func(tx kv.Tx) error {
		u, err := userByName(tx, user)
		if err != nil {
			return err
		}
		c, err := containerByRef(tx, code)
		if err != nil {
			return err
		}
		// Set the container's fields as the custody commands do before
		// appending the event.
		c.Custodian, c.Site, c.PatientID = e.Custodian, e.Site, e.PatientID
		if e.Location != "" {
			c.Location = e.Location
		}
		w := &writer{db: db, tx: tx, actor: u, now: db.now()}
		return w.appendEvent(&c, e, "test."+string(e.To), e.Reason)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// traceDB is the look-back story: donor D-1 gave two UC lots; three patients
// received containers of them; an unrelated donor's lot and an autologous
// rFib lot (patient MRN-RF) share the database.
func traceDB(t testing.TB) *DB {
	t.Helper()
	db := newTestDB(t)
	s := NewLotService(db)
	now := db.Now()
	for _, p := range []lot.Patient{
		{MRN: "MRN-2", Name: "Sara Lind", Born: now.AddDate(-47, 0, 0), Sex: "F"},
		{MRN: "MRN-3", Name: "Tom Berg", Born: now.AddDate(-36, 0, 0), Sex: "M"},
		{MRN: "MRN-RF", Name: "Hana Sato", Born: now.AddDate(-58, 0, 0), Sex: "F"},
	} {
		if _, err := s.AddPatient("nina", p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddDonor("liu", lot.Donor{Code: "D-2", Site: "ward", Delivered: now.AddDate(0, 0, -9), Consented: now.AddDate(0, 0, -19)}); err != nil {
		t.Fatal(err)
	}
	reg := func(number string, r lot.Registration) {
		r.Number, r.Cells, r.Viability, r.VolumeML = number, 2_000_000_000, 950, 1000
		r.Manufactured, r.Expires = now.AddDate(0, 0, -5), now.AddDate(1, 0, 0)
		if _, err := s.RegisterLot("liu", r); err != nil {
			t.Fatal(err)
		}
	}
	split := func(number string, n int) {
		if _, err := s.SplitLot("liu", lot.Split{Lot: number, Containers: n, CellsEach: 100_000_000, VolumeEach: 500}); err != nil {
			t.Fatal(err)
		}
	}
	reg("LOT-1", lot.Registration{Source: lot.SourceUC, Donor: "D-1", Location: "LN2-A rack 3"}) // DIN ...000001
	split("LOT-1", 3)
	// Labels for LOT-1, one applied; a negative screening of D-1: the
	// traces show their histories.
	ls := NewLabelService(db)
	if _, err := ls.Print("liu", "LOT-1", nil, func(lot.LabelSet) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Apply("liu", "G12342600000101", nil); err != nil {
		t.Fatal(err)
	}
	var neg []release.Marker
	for _, m := range release.ScreenMarkers {
		neg = append(neg, release.Marker{Name: m, Result: release.Negative})
	}
	if _, _, _, err := NewReleaseService(db).Screen("liu", "D-1", release.Screening{Markers: neg, Tested: now.AddDate(0, 0, -8)}); err != nil {
		t.Fatal(err)
	}
	reg("LOT-X", lot.Registration{Source: lot.SourceUC, Donor: "D-2"}) // 000002, unrelated
	split("LOT-X", 2)
	reg("LOT-2", lot.Registration{Source: lot.SourceUC, Donor: "D-1"}) // 000003
	split("LOT-2", 1)
	reg("LOT-RF", lot.Registration{Source: lot.SourceRFib, Patient: "MRN-RF"}) // 000004
	split("LOT-RF", 2)

	ids := map[string]uuid.UUID{}
	for _, mrn := range []string{"MRN-1", "MRN-2", "MRN-3", "MRN-RF", "MRN-X"} {
		if p, err := s.Patient(mrn); err == nil {
			ids[mrn] = p.ID
		}
	}
	h := func(n int) time.Time { return now.Add(time.Duration(n) * time.Hour) }
	const b1, b2, b3, c1, rf1 = "G12342600000101", "G12342600000102", "G12342600000103", "G12342600000301", "G12342600000401"
	custody(t, db, "liu", b1, lot.Event{To: lot.Stored, At: h(1), Site: "LAB", Location: "LN2-A rack 3 pos 7", Custodian: "liu"})
	custody(t, db, "liu", b1, lot.Event{To: lot.Shipped, At: h(2), Site: "LAB", Custodian: "courier", Details: map[string]string{"to": "CLINIC-1", "courier": "ColdChain Ltd", "condition": "dry shipper"}})
	custody(t, db, "nina", b1, lot.Event{To: lot.Received, At: h(5), Site: "CLINIC-1", Custodian: "nina", Details: map[string]string{"excursion": "no"}})
	custody(t, db, "nina", b1, lot.Event{To: lot.Thawed, At: h(6), Site: "CLINIC-1", Custodian: "nina", Details: map[string]string{"viability_pct": "91.0", "viable_cells": "91000000"}})
	custody(t, db, "nina", b1, lot.Event{To: lot.Dispensed, At: h(7), Site: "CLINIC-1", Custodian: "nina", PatientID: ids["MRN-1"]})
	custody(t, db, "nina", b1, lot.Event{To: lot.Infused, At: h(8), Site: "CLINIC-1", Custodian: "nina", PatientID: ids["MRN-1"]})
	custody(t, db, "liu", b2, lot.Event{To: lot.Dispensed, At: h(9), Site: "LAB", Custodian: "nina", PatientID: ids["MRN-2"]})
	custody(t, db, "liu", b3, lot.Event{To: lot.Discarded, At: h(10), Site: "LAB", Custodian: "liu", Reason: "bag cracked on thaw"})
	custody(t, db, "nina", c1, lot.Event{To: lot.Dispensed, At: h(11), Site: "CLINIC-1", Custodian: "nina", PatientID: ids["MRN-3"]})
	custody(t, db, "nina", c1, lot.Event{To: lot.Infused, At: h(12), Site: "CLINIC-1", Custodian: "nina", PatientID: ids["MRN-3"]})
	custody(t, db, "nina", rf1, lot.Event{To: lot.Dispensed, At: h(13), Site: "CLINIC-1", Custodian: "nina", PatientID: ids["MRN-RF"]})
	custody(t, db, "nina", rf1, lot.Event{To: lot.Infused, At: h(14), Site: "CLINIC-1", Custodian: "nina", PatientID: ids["MRN-RF"]})
	custody(t, db, "liu", "G12342600000201", lot.Event{To: lot.Stored, At: h(15), Site: "LAB", Location: "LN2-B", Custodian: "liu"})
	addTestUser(t, db, audit.User{Name: "aud", FullName: "Ada Auditor", Role: audit.Auditor})
	return db
}

// golden compares got, with the per-run database path and audit head
// replaced, with testdata/NAME; -update rewrites it.
func golden(t *testing.T, db *DB, r report.Report, name, got string) {
	t.Helper()
	got = strings.ReplaceAll(got, db.Path(), "<db>")
	got = strings.ReplaceAll(got, r.Produced.AuditHead, "<audit-head>")
	if r.Produced.AuditTree != "" {
		got = strings.ReplaceAll(got, r.Produced.AuditTree, "<audit-tree>")
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./store -run Golden -update` to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; run with -update and review the diff.\n--- got ---\n%s", name, got)
	}
}

func render(t *testing.T, r report.Report, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.Render(&b, r, format); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTraceGolden(t *testing.T) {
	db := traceDB(t)
	ts := newTraces(db)
	for _, c := range []struct {
		name  string
		trace func(ctx context.Context, user, ref string) (report.Report, error)
		ref   string
	}{
		{"donor_lookback", ts.Donor, "D-1"},
		{"patient_autologous", ts.Patient, "MRN-RF"},
		{"patient_allogeneic", ts.Patient, "MRN-1"},
		{"lot_forward", ts.Lot, "LOT-1"},
		{"container", ts.Container, "G12342600000101"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := c.trace(context.Background(), "aud", c.ref)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Produced.Verified || r.Produced.By != "aud" || r.Produced.Database != db.Path() || len(r.Produced.AuditHead) != 64 {
				t.Fatalf("provenance: %+v", r.Produced)
			}
			text := render(t, r, "text")
			for i, line := range strings.Split(text, "\n") {
				if n := len([]rune(line)); n > report.TextWidth {
					t.Errorf("text line %d is %d columns: %q", i+1, n, line)
				}
			}
			golden(t, db, r, c.name+".txt", text)
			golden(t, db, r, c.name+".csv", render(t, r, "csv"))
		})
	}
}

// TestTraceLookBackFindsEveryRecipient is the look-back question itself:
// donor D-1's cells were infused into MRN-1 and MRN-3 — and no one else,
// though MRN-RF received an rFib bag and lot LOT-X of donor D-2 shares the
// database; a bag dispensed to MRN-2 and not infused is listed apart, and
// MRN-2 is not counted as a recipient.
func TestTraceLookBackFindsEveryRecipient(t *testing.T) {
	db := traceDB(t)
	r, err := newTraces(db).Donor(context.Background(), "aud", "D-1")
	if err != nil {
		t.Fatal(err)
	}
	var recipients, dispensed *report.Table
	var summary []report.Field
	for _, s := range r.Sections {
		switch s.Title {
		case "Recipients":
			recipients = s.Table
		case "Dispensed, not infused (not recipients)":
			dispensed = s.Table
		case "Summary":
			summary = s.Fields
		}
		if strings.Contains(s.Title, "LOT-X") {
			t.Errorf("unrelated lot LOT-X in the look-back: %q", s.Title)
		}
	}
	if recipients == nil {
		t.Fatal("no Recipients section")
	}
	got := ""
	for _, row := range recipients.Rows {
		got += strings.Join([]string{row[0], row[2], row[4], row[5]}, " ") + "\n"
	}
	want := "MRN-1 G12342600000101 2026-11-25 16:00 UTC 2026-11-25 17:00 UTC\n" +
		"MRN-3 G12342600000301 2026-11-25 20:00 UTC 2026-11-25 21:00 UTC\n"
	if got != want {
		t.Errorf("recipients:\n%s\nwant:\n%s", got, want)
	}
	if dispensed == nil || len(dispensed.Rows) != 1 || strings.Join(dispensed.Rows[0], " ") != "MRN-2 "+dispensed.Rows[0][1]+" G12342600000102 LOT-1 2026-11-25 18:00 UTC" {
		t.Errorf("dispensed, not infused: %v", dispensed)
	}
	if !slices.Contains(summary, report.Field{Label: "Recipients", Value: "2 patient(s) infused"}) ||
		!slices.Contains(summary, report.Field{Label: "Not infused", Value: "1 container(s) dispensed to 1 patient(s) and not infused: not counted as recipients"}) {
		t.Errorf("summary: %v", summary)
	}
	// MRN-2's own trace: the bag was dispensed, never infused.
	pr, err := newTraces(db).Patient(context.Background(), "aud", "MRN-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range pr.Sections {
		if s.Title == "Summary" {
			summary = s.Fields
		}
	}
	if !slices.Contains(summary, report.Field{Label: "Received", Value: "none: no container has been infused into this patient"}) ||
		!slices.Contains(summary, report.Field{Label: "Not infused", Value: "G12342600000102 (dispensed, not infused; dispensed now)"}) {
		t.Errorf("MRN-2's summary: %v", summary)
	}
	for _, e := range r.Events {
		if e.Lot != "LOT-1" && e.Lot != "LOT-2" {
			t.Errorf("event of lot %s in donor D-1's look-back", e.Lot)
		}
	}
}

func TestTraceRefusals(t *testing.T) {
	db := traceDB(t)
	ts := newTraces(db)
	before, _ := db.AuditCount()
	for name, c := range map[string]struct {
		err  error
		code string
	}{
		"unknown donor":     {func() error { _, err := ts.Donor(context.Background(), "aud", "D-404"); return err }(), lot.ENOTFOUND},
		"unknown patient":   {func() error { _, err := ts.Patient(context.Background(), "aud", "MRN-404"); return err }(), lot.ENOTFOUND},
		"unknown lot":       {func() error { _, err := ts.Lot(context.Background(), "aud", "LOT-404"); return err }(), lot.ENOTFOUND},
		"unknown container": {func() error { _, err := ts.Container(context.Background(), "aud", "G12342600009901"); return err }(), lot.ENOTFOUND},
		"no user":           {func() error { _, err := ts.Donor(context.Background(), "", "D-1"); return err }(), lot.EFORBIDDEN},
		"unknown user":      {func() error { _, err := ts.Donor(context.Background(), "mallory", "D-1"); return err }(), lot.EFORBIDDEN},
	} {
		if lot.ErrorCode(c.err) != c.code {
			t.Errorf("%s: got %v, want %s", name, c.err, c.code)
		}
	}
	if after, _ := db.AuditCount(); after != before {
		t.Errorf("a trace wrote %d audit entries", after-before)
	}
	if _, err := db.DisableUser("alice", "aud", "left the company", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Donor(context.Background(), "aud", "D-1"); lot.ErrorCode(err) != lot.EFORBIDDEN || !strings.Contains(err.Error(), "user aud is disabled") {
		t.Errorf("disabled user: got %v", err)
	}
}

// TestTraceStatesFailedVerification: a report made from a tampered database
// says so, with the problem, in every format.
func TestTraceStatesFailedVerification(t *testing.T) {
	db := traceDB(t)
	err := db.engine.Update(func(tx kv.Tx) error {
		return tx.Bucket(bAudit).Delete(itob(5))
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := newTraces(db).Donor(context.Background(), "aud", "D-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Produced.Verified || len(r.Produced.Problems) == 0 {
		t.Fatalf("tampered database reported as verified: %+v", r.Produced)
	}
	for _, f := range []string{"text", "md", "html", "json"} {
		if out := render(t, r, f); !strings.Contains(out, "FAILED") && !strings.Contains(out, `"audit_verified": false`) {
			t.Errorf("%s report does not say verification failed", f)
		}
	}
}

// TestTraceShowsReleaseDecisions: a lot approved by QA and sent back to
// quarantine by a corrected result shows both decisions, the approval with
// its signature (name, time, meaning) and the automatic return as unsigned.
func TestTraceShowsReleaseDecisions(t *testing.T) {
	db := newTestDB(t)
	rs, _ := releasedUC(t, db)
	if _, _, err := rs.RecordResult("liu", "LOT-1", release.Entry{Assay: "endotoxin", Value: "0.9"}, 13, "re-read plate"); err != nil {
		t.Fatal(err)
	}
	addTestUser(t, db, audit.User{Name: "aud", FullName: "Ada Auditor", Role: audit.Auditor})
	r, err := newTraces(db).Lot(context.Background(), "aud", "LOT-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Decisions) != 2 || r.Decisions[0].Decision != "approved" || r.Decisions[1].Decision != "quarantined" {
		t.Fatalf("decisions: %+v", r.Decisions)
	}
	sig := r.Decisions[0].Signatures
	if len(sig) != 1 || sig[0].By != "quinn" || sig[0].FullName != "Quinn" || sig[0].Meaning != release.MeaningApprove || sig[0].At.IsZero() {
		t.Errorf("approval signature: %+v", sig)
	}
	text := render(t, r, "text")
	for _, want := range []string{"Release decision on lot LOT-1: APPROVED", "Signed          Quinn (quinn, qa) signed 2026-11-25 09:00 UTC: approved for",
		"Release decision on lot LOT-1: QUARANTINED", "Signature       none: automatic, on an action by liu", "Specification   isct-uc-msc v1"} {
		if !strings.Contains(text, want) {
			t.Errorf("lot trace lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(render(t, r, "json"), `"decision": "quarantined"`) {
		t.Error("JSON lacks the decisions")
	}
}

// TestTraceShowsInfusions: an administered infusion appears in the lot,
// patient and container traces with its dose, both signatures and its
// reaction; its custody row in the CSV is an infusion row carrying the dose.
func TestTraceShowsInfusions(t *testing.T) {
	db, d := bedside(t, "0.5")
	nina, omar := mustUser(t, db, "nina"), mustUser(t, db, "omar")
	in, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RecordReaction("nina", dose.NewReaction{Infusion: in.ID.String(), Grade: 1, Text: "transient fever 38.1 °C"}); err != nil {
		t.Fatal(err)
	}
	addTestUser(t, db, audit.User{Name: "aud", FullName: "Ada Auditor", Role: audit.Auditor})
	ts := newTraces(db)
	for name, trace := range map[string]func() (report.Report, error){
		"lot":       func() (report.Report, error) { return ts.Lot(context.Background(), "aud", "LOT-1") },
		"patient":   func() (report.Report, error) { return ts.Patient(context.Background(), "aud", "MRN-1") },
		"container": func() (report.Report, error) { return ts.Container(context.Background(), "aud", bag1) },
		"donor":     func() (report.Report, error) { return ts.Donor(context.Background(), "aud", "D-1") },
	} {
		r, err := trace()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Infusions) != 1 {
			t.Fatalf("%s: infusions %+v", name, r.Infusions)
		}
		// 62.0 kg × 1.00×10^6/kg = 6.20×10^7 cells in 31.0 mL of a bag at 2.0×10^6/mL.
		got := r.Infusions[0]
		if got.CellsExact != "62000000" || got.CellsPerKg != "1.00×10^6" || got.VolumeML != "31.0" || got.Patient != "MRN-1" ||
			got.Nurse.By != "nina" || got.Witness.By != "omar" || got.Witness.Meaning != dose.MeaningWitness ||
			len(got.Reactions) != 1 || !got.End.Equal(got.Start.Add(time.Hour)) {
			t.Errorf("%s: infusion %+v", name, got)
		}
		text := render(t, r, "text")
		for _, want := range []string{"Cells given", "6.20×10^7 viable cells (62000000)", "Cells/kg", "31.0 mL",
			"Nurse           Nina (nina, nurse) signed 2026-11-25 09:00 UTC", "Witness         Omar (omar, nurse) signed",
			"grade 1: transient fever"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s trace lacks %q:\n%s", name, want, text)
			}
		}
		csv := render(t, r, "csv")
		if !strings.Contains(csv, ",infusion,") || !strings.Contains(csv, "cells_per_kg=1.00×10^6") || !strings.Contains(csv, "dose_cells=62000000") {
			t.Errorf("%s CSV lacks the infusion row:\n%s", name, csv)
		}
		if strings.Count(csv, ",infusion,") != 1 {
			t.Errorf("%s CSV has %d infusion rows, want 1", name, strings.Count(csv, ",infusion,"))
		}
	}
}

// TestTraceFlagsBrokenChainOfIdentity: an autologous bag that reached
// another patient is named in a warning section of both traces.
func TestTraceFlagsBrokenChainOfIdentity(t *testing.T) {
	db := traceDB(t)
	p, _ := NewLotService(db).Patient("MRN-2")
	custody(t, db, "nina", "G12342600000402", lot.Event{To: lot.Dispensed, Site: "CLINIC-1", Custodian: "nina", PatientID: p.ID})
	for name, r := range map[string]func() (report.Report, error){
		"patient MRN-2": func() (report.Report, error) { return newTraces(db).Patient(context.Background(), "aud", "MRN-2") },
		"lot LOT-RF":    func() (report.Report, error) { return newTraces(db).Lot(context.Background(), "aud", "LOT-RF") },
	} {
		rep, err := r()
		if err != nil {
			t.Fatal(err)
		}
		text := render(t, rep, "text")
		if !strings.Contains(text, "CHAIN OF IDENTITY BROKEN") || !strings.Contains(text, "G12342600000402") {
			t.Errorf("%s: broken chain of identity not reported:\n%s", name, text)
		}
	}
	rep, _ := newTraces(db).Patient(context.Background(), "aud", "MRN-RF")
	if strings.Contains(render(t, rep, "text"), "CHAIN OF IDENTITY BROKEN") {
		t.Error("the source patient's own bag is flagged")
	}
}

// TestTraceReadsOnlyWhatItsIndexesLeadTo: a record that no index of the
// trace leads to is never read. Every record bucket gets an unreadable
// record (not JSON) that nothing refers to; a trace that scanned a bucket
// would fail to decode it. Every kind of trace still builds the same report.
// (The provenance's `audit verify` reads everything by design, so the report
// model is built on its own, as BenchmarkTrace does.)
func TestTraceReadsOnlyWhatItsIndexesLeadTo(t *testing.T) {
	db := traceDB(t)
	builds := map[string][2]string{
		"donor":      {trace.KindDonor, "D-1"},
		"lot":        {trace.KindLot, "LOT-1"},
		"patient":    {trace.KindPatient, "MRN-RF"},
		"allogeneic": {trace.KindPatient, "MRN-1"},
		"container":  {trace.KindContainer, "G12342600000101"},
	}
	model := func(build [2]string) (string, error) {
		var out string
		err := db.ReadTrace(func(s *TraceSnapshot) error {
			r, _, err := trace.Build(s, build[0], build[1])
			if err != nil {
				return err
			}
			b, err := json.Marshal(r)
			out = string(b)
			return err
		})
		return out, err
	}
	before := map[string]string{}
	for name, build := range builds {
		m, err := model(build)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		before[name] = m
	}
	err := db.engine.Update(func(tx kv.Tx) error {
		for _, b := range recordBuckets {
			id := uuid.Must(uuid.NewV7())
			if err := tx.Bucket(b).Put(id[:], []byte("not a record {")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, build := range builds {
		m, err := model(build)
		if err != nil {
			t.Errorf("%s trace read a record no index leads to: %v", name, err)
			continue
		}
		if m != before[name] {
			t.Errorf("%s trace changed when unrelated records were added", name)
		}
	}
}

// TestTraceListsInfusionDeviations: an infusion given with the computed
// volume is no deviation; one given with another volume, inside tolerance,
// is listed once with its infusion, patient, lot, bag and nurse, and counted
// in the summary.
func TestTraceListsInfusionDeviations(t *testing.T) {
	for _, c := range []struct {
		name   string
		volume lot.Tenths // 0: the computed 31.0 mL
		want   string
	}{
		{"computed volume", 0, ""},
		{"30.0 mL of a computed 31.0 mL", 300, "volume: 30.0 mL infused, 31.0 mL computed for these bags: 6.00×10^7 cells, -3.2 % from the required 6.20×10^7 (tolerance -10.0 %/+10.0 %)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, d := bedside(t, "0.5")
			nina, _ := db.User("nina")
			omar, _ := db.User("omar")
			in, _, err := d.Administer(nina, omar, dose.Administration{MRN: "MRN-1", Containers: []string{bag1}, Volume: c.volume})
			if err != nil {
				t.Fatal(err)
			}
			for _, trace := range []func() (report.Report, error){
				func() (report.Report, error) { return newTraces(db).Patient(context.Background(), "nina", "MRN-1") },
				func() (report.Report, error) { return newTraces(db).Lot(context.Background(), "nina", "LOT-1") },
				func() (report.Report, error) { return newTraces(db).Container(context.Background(), "nina", bag1) },
			} {
				r, err := trace()
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, dv := range r.Deviations {
					got = append(got, dv.Kind+": "+dv.Detail)
					if dv.Infusion != in.ID.String() || dv.Patient != "MRN-1" || dv.Lot != "LOT-1" || dv.Container != bag1 || dv.By != "nina" {
						t.Errorf("%s: deviation %+v does not name its infusion, patient, lot, bag and nurse", r.Kind, dv)
					}
				}
				if strings.Join(got, "\n") != c.want {
					t.Errorf("%s trace: deviations %q, want %q", r.Kind, got, c.want)
				}
				summary := r.Sections[0].Title
				for _, s := range r.Sections {
					if s.Title == "Summary" {
						summary = fmt.Sprint(s.Fields)
					}
				}
				if want := map[bool]string{true: "{Deviations none}", false: "{Deviations 1, listed under Deviations}"}[c.want == ""]; !strings.Contains(summary, want) {
					t.Errorf("%s trace: summary %s lacks %s", r.Kind, summary, want)
				}
			}
		})
	}
}
