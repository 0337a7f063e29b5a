package store

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store/kv"
)

// releasedUC registers LOT-1 and releases it (releaseUC).
func releasedUC(t *testing.T, db *DB) (*ReleaseService, lot.Lot) {
	t.Helper()
	l := registerUC(t, db, "LOT-1")
	return releaseUC(t, db, "LOT-1"), l
}

// releaseUC records every isct-uc-msc criterion passing for a registered UC
// lot, screens its donor D-1 negative and has QA user quinn approve it.
func releaseUC(t *testing.T, db *DB, ref string) *ReleaseService {
	t.Helper()
	addTestUser(t, db, audit.User{Name: "quinn", FullName: "Quinn", Role: audit.QA})
	rs := NewReleaseService(db)
	neg := []release.Marker{}
	for _, m := range release.ScreenMarkers {
		neg = append(neg, release.Marker{Name: m, Result: release.Negative})
	}
	if _, _, _, err := rs.Screen("liu", "D-1", release.Screening{Markers: neg}); err != nil {
		t.Fatal(err)
	}
	for _, e := range [][2]string{{"adherence", "pass"}, {"CD105", "98"}, {"CD73", "98"}, {"CD90", "98"}, {"CD45", "1"},
		{"CD34", "1"}, {"CD14", "1"}, {"CD19", "1"}, {"HLA-DR", "1"}, {"trilineage", "pass"}, {"sterility", "no-growth"},
		{"mycoplasma", "negative"}, {"endotoxin", "0.2"}, {"viability", "95"}, {"viable-cells", "1.9e9"}} {
		if _, _, err := rs.RecordResult("liu", ref, release.Entry{Assay: e[0], Value: e[1]}, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rs.Approve(release.Approval{Lot: ref, QA: "quinn", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestLotEndotoxinAndDispositionsContract(t *testing.T) {
	db := newTestDB(t)
	rs, l := releasedUC(t, db)
	// Read once before the correction: the voided result's record is
	// rewritten, and lotEndotoxin, which keeps results decoded
	// (endotoxinResults), must read it anew.
	if err := db.view(func(tx kv.Tx) error {
		if m, found, err := lotEndotoxin(tx, l.ID); err != nil || !found || m != 200 {
			t.Errorf("lotEndotoxin before the correction = %d %v %v; want 200 true", m, found, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A correction supersedes the first endotoxin result; lower, so that
	// the voided 0.2 read as still valid would win.
	// (Results are kept to 0.001 EU/mL, the unit of the dose arithmetic;
	// release.TestMilliEUPerML covers rounding up a finer stored result.)
	if _, _, err := rs.RecordResult("liu", "LOT-1", release.Entry{Assay: "endotoxin", Value: "0.134"}, 13, "re-read plate"); err != nil {
		t.Fatal(err)
	}
	err := db.view(func(tx kv.Tx) error {
		m, found, err := lotEndotoxin(tx, l.ID)
		if err != nil || !found || m != 134 { // 0.134 EU/mL = 134 mEU/mL
			t.Errorf("lotEndotoxin = %d %v %v; want 134 true", m, found, err)
		}
		ds, err := lotDispositions(tx, l.ID)
		if err != nil || len(ds) != 2 || ds[0].Decision != release.Approved || ds[1].Decision != release.Quarantined {
			t.Fatalf("dispositions = %+v %v; want approved then quarantined", ds, err)
		}
		sig := ds[0].Signatures[0]
		if sig.FullName != "Quinn" || sig.Meaning != release.MeaningApprove || sig.Signed != ds[0].Digest() {
			t.Errorf("signature %+v is not bound to the disposition's digest", sig)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := NewLotService(db).Lot("LOT-1"); got.Status != lot.Quarantine {
		t.Errorf("corrected result left the lot %s", got.Status)
	}
}

func TestPositiveDonorLooksBackAtInfusedContainers(t *testing.T) {
	db := newTestDB(t)
	rs, _ := releasedUC(t, db)
	cs, err := NewLotService(db).SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 2, CellsEach: 100_000_000})
	if err != nil {
		t.Fatal(err)
	}
	// The custody commands are another capability; mark bag 1 infused
	// into MRN-1 directly.
	mei, err := NewLotService(db).Patient("MRN-1")
	if err != nil {
		t.Fatal(err)
	}
	cs[0].PatientID = mei.ID // set at dispense
	err = db.update("liu", audit.LotSplit, func(w *writer) error {
		return w.appendEvent(&cs[0], lot.Event{To: lot.Infused, PatientID: mei.ID}, "test.infuse", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, rq, err := rs.Screen("liu", "D-1", release.Screening{Markers: panelWith("HTLV", release.Positive)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rq) != 1 || len(rq[0].Infused) != 1 || rq[0].Infused[0] != cs[0].Code()+" (MRN-1)" || !strings.Contains(rq[0].Reason, "HTLV positive") {
		t.Fatalf("requarantine = %+v; want LOT-1 with bag %s (MRN-1) in the look-back", rq, cs[0].Code())
	}
	if v, err := db.Verify(); err != nil || !v.OK() {
		t.Fatalf("verify: %v %v", err, v.Problems)
	}
}

func TestInitInstallsBuiltinSpecs(t *testing.T) {
	db := newTestDB(t)
	ss, err := NewReleaseService(db).Specs()
	if err != nil || len(ss) != 2 || ss[0].Name != "isct-uc-msc" || ss[1].Name != "rfib-autologous" || ss[0].Version != 1 {
		t.Fatalf("specs after init: %+v %v", ss, err)
	}
}

// TestCertificateStatesFailedVerification: a lot flipped from quarantine to
// released with a raw bbolt tool prints as RELEASED — so its certificate must
// say, in every format, that `audit verify` failed and name the record.
func TestCertificateStatesFailedVerification(t *testing.T) {
	db := newTestDB(t)
	l := registerUC(t, db, "LOT-1")
	c, err := NewReleaseService(db).Certificate("LOT-1")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verified || c.Database != db.Path() || len(c.ChainHead) != 64 || c.AuditEntries == 0 {
		t.Fatalf("provenance of an untouched database: %+v", c)
	}
	tamperLotStatus(t, db, l, "released")
	c, err = NewReleaseService(db).Certificate("LOT-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Verified || !strings.Contains(strings.Join(c.AuditProblems, "\n"), "lot LOT-1") {
		t.Fatalf("tampered lot certified as verified: %v %q", c.Verified, c.AuditProblems)
	}
	for name, render := range map[string]func(io.Writer, release.Certificate) error{
		"text": report.CertificateText, "md": report.CertificateMarkdown, "html": report.CertificateHTML,
	} {
		var b strings.Builder
		if err := render(&b, c); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"AUDIT VERIFY FAILED when this certificate was produced", "lot LOT-1 (" + l.ID.String() + ") differs"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s certificate lacks %q:\n%s", name, want, b.String())
			}
		}
	}
}

// A lot whose specification cannot be found may still be rejected, but the
// decision and its audit entry say that no evaluation was recorded.
func TestRejectRecordsUnavailableEvaluation(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	addTestUser(t, db, audit.User{Name: "quinn", FullName: "Quinn", Role: audit.QA})
	// Remove the built-in specification's index entry behind celltrack's back.
	err := db.engine.Update(func(tx kv.Tx) error {
		return tx.Bucket([]byte("idx_spec_name")).Delete(specKey(release.DefaultSpec(lot.SourceUC), 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	rs := NewReleaseService(db)
	if _, err := rs.Evaluate("LOT-1", ""); lot.ErrorCode(err) != lot.ENOTFOUND {
		t.Fatalf("evaluate after removing the spec: %v; want ENOTFOUND", err)
	}
	d, err := rs.Reject("quinn", testPassword, "LOT-1", "mycoplasma positive", nil)
	if err != nil {
		t.Fatal(err)
	}
	const want = "evaluation unavailable: "
	if !strings.HasPrefix(d.Unevaluated, want) || !strings.Contains(d.Unevaluated, "isct-uc-msc") || d.Spec != "" || len(d.Rows) != 0 {
		t.Errorf("rejection = spec %q rows %d unevaluated %q; want no spec, no rows and %q…", d.Spec, len(d.Rows), d.Unevaluated, want)
	}
	ds, err := rs.Dispositions("LOT-1")
	if err != nil || len(ds) != 1 || ds[0].Unevaluated != d.Unevaluated || ds[0].Signatures[0].Signed != ds[0].Digest() {
		t.Fatalf("stored rejection = %+v %v; want the note, signed", ds, err)
	}
	es, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	if last := es[len(es)-1]; !strings.Contains(last.Reason, want) {
		t.Errorf("last audit entry %q does not say the evaluation was unavailable", last.Reason)
	}
}

// TestRecordResultOneValidPerAssay: a passing sterility result entered after
// a growth, with a later or an older test date, is refused and writes
// nothing, so the growth can never be outvoted; a correction replaces it.
func TestRecordResultOneValidPerAssay(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-B")
	rs := NewReleaseService(db)
	if _, _, err := rs.RecordResult("liu", "LOT-B", release.Entry{Assay: "sterility", Value: "growth"}, 0, ""); err != nil {
		t.Fatal(err)
	}
	n, _ := db.AuditCount()
	for _, tested := range []time.Time{{}, db.Now().AddDate(0, 0, -3)} {
		_, _, err := rs.RecordResult("liu", "LOT-B", release.Entry{Assay: "sterility", Value: "no-growth", Tested: tested}, 0, "")
		if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "#1 growth") {
			t.Errorf("tested %v: err %v, want ECONFLICT naming #1 growth", tested, err)
		}
	}
	if m, _ := db.AuditCount(); m != n {
		t.Errorf("refusals wrote %d audit entries", m-n)
	}
	ev, err := rs.Evaluate("LOT-B", "")
	if err != nil || !strings.Contains(strings.Join(ev.Failed(), ", "), "sterility FAIL") {
		t.Errorf("evaluate: %v %v; want sterility FAIL", ev.Failed(), err)
	}
	if _, _, err := rs.RecordResult("liu", "LOT-B", release.Entry{Assay: "sterility", Value: "no-growth"}, 1, "plate mislabelled"); err != nil {
		t.Fatalf("correction: %v", err)
	}
	if ev, _ := rs.Evaluate("LOT-B", ""); strings.Contains(strings.Join(ev.Failed(), ", "), "sterility") {
		t.Errorf("after the correction: %v", ev.Failed())
	}
}

// TestCorrectionKeepsTheTestDate: a correction without --tested keeps the
// date the corrected result was tested (the regression review: a mistyped
// value corrected days later was stored as tested that day); a retest gives
// its own date.
func TestCorrectionKeepsTheTestDate(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-B")
	rs := NewReleaseService(db)
	tested := db.Now().AddDate(0, 0, -3).Truncate(24 * time.Hour)
	if _, _, err := rs.RecordResult("liu", "LOT-B", release.Entry{Assay: "CD73", Value: "9.8", Tested: tested}, 0, ""); err != nil {
		t.Fatal(err)
	}
	r, _, err := rs.RecordResult("liu", "LOT-B", release.Entry{Assay: "CD73", Value: "98"}, 1, "decimal point misplaced")
	if err != nil || !r.Tested.Equal(tested) {
		t.Fatalf("correction tested %v (%v), want %v", r.Tested, err, tested)
	}
	retest := db.Now().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	r, _, err = rs.RecordResult("liu", "LOT-B", release.Entry{Assay: "CD73", Value: "97", Tested: retest}, 2, "repeat on a fresh sample")
	if err != nil || !r.Tested.Equal(retest) {
		t.Fatalf("retest tested %v (%v), want %v", r.Tested, err, retest)
	}
}

// TestApproveRefusesSupersededSpec: after isct-uc-msc@2 is added, approving
// against @1 is refused and writes nothing; the latest version is accepted.
func TestApproveRefusesSupersededSpec(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	rs := releaseUC(t, db, "LOT-1") // releases LOT-1 against @1 while it is the latest
	registerUC(t, db, "LOT-2")
	v2 := release.Builtins()[0]
	v2.Title += ", rev 2"
	if _, err := rs.AddSpec("quinn", v2); err != nil {
		t.Fatal(err)
	}
	for _, e := range [][2]string{{"adherence", "pass"}, {"CD105", "98"}, {"CD73", "98"}, {"CD90", "98"}, {"CD45", "1"},
		{"CD34", "1"}, {"CD14", "1"}, {"CD19", "1"}, {"HLA-DR", "1"}, {"trilineage", "pass"}, {"sterility", "no-growth"},
		{"mycoplasma", "negative"}, {"endotoxin", "0.2"}, {"viability", "95"}, {"viable-cells", "1.9e9"}} {
		if _, _, err := rs.RecordResult("liu", "LOT-2", release.Entry{Assay: e[0], Value: e[1]}, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := db.AuditCount()
	_, err := rs.Approve(release.Approval{Lot: "LOT-2", Spec: "isct-uc-msc@1", QA: "quinn", Password: testPassword})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "isct-uc-msc@1 is superseded: the latest version of isct-uc-msc is 2") {
		t.Fatalf("approve against @1: %v", err)
	}
	if m, _ := db.AuditCount(); m != n {
		t.Errorf("refusal wrote %d audit entries", m-n)
	}
	if d, err := rs.Approve(release.Approval{Lot: "LOT-2", Spec: "isct-uc-msc@2", QA: "quinn", Password: testPassword}); err != nil || d.SpecVersion != 2 {
		t.Fatalf("approve against @2: %+v %v", d, err)
	}
}

// TestLaxSpecCannotReleaseFailingSafetyResults: QA's one-criterion spec
// (viability ≥ 50 %) is refused; one stored before that rule does not let a
// lot with sterility growth and mycoplasma positive be approved normally.
func TestLaxSpecCannotReleaseFailingSafetyResults(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	rs := releaseUC(t, db, "LOT-1")
	lax := release.Spec{Name: "lax", Title: "only viability", Kinds: []lot.Source{lot.SourceUC},
		Criteria: []release.Criterion{{Assays: []release.Assay{"viability"}, Op: release.AtLeast, Min: "50", Unit: release.Percent}}}
	if _, err := rs.AddSpec("quinn", lax); lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), "sterility equals no-growth, mycoplasma equals negative") {
		t.Fatalf("AddSpec(lax): %v", err)
	}
	// As a database written before the rule holds it.
	if err := db.update("quinn", audit.ReleaseSpecAdd, func(w *writer) error { _, err := w.addSpec(lax, "legacy"); return err }); err != nil {
		t.Fatal(err)
	}
	registerUC(t, db, "LOT-2")
	for _, e := range [][2]string{{"viability", "95"}, {"sterility", "growth"}, {"mycoplasma", "positive"}} {
		if _, _, err := rs.RecordResult("liu", "LOT-2", release.Entry{Assay: e[0], Value: e[1]}, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := rs.Approve(release.Approval{Lot: "LOT-2", Spec: "lax", QA: "quinn", Password: testPassword})
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "sterility (unlisted) FAIL, mycoplasma (unlisted) FAIL") {
		t.Fatalf("approve against lax: %v", err)
	}
}

// TestResultNumberFromOne: --corrects -1 is not a plain new result, and
// --void 0 is not a lookup that finds nothing: both are refused as values.
func TestResultNumberFromOne(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	rs := NewReleaseService(db)
	if _, _, err := rs.RecordResult("liu", "LOT-1", release.Entry{Assay: "CD90", Value: "97"}, -1, ""); lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), "-1 is not a result number") || lot.ErrorField(err) != "corrects" {
		t.Errorf("corrects -1: %v", err)
	}
	if _, _, err := rs.VoidResult("liu", "LOT-1", 0, "mix-up"); lot.ErrorCode(err) != lot.EINVALID || !strings.Contains(lot.ErrorMessage(err), "0 is not a result number") || lot.ErrorField(err) != "void" {
		t.Errorf("void 0: %v", err)
	}
	if got, _ := rs.Results("LOT-1"); len(got) != 0 {
		t.Errorf("recorded %d results", len(got))
	}
}

// TestScreeningStatusIsTheLatestTested: an all-negative screening with an
// older test date, entered after an indeterminate one, is recorded as
// entered but does not clear the donor.
func TestScreeningStatusIsTheLatestTested(t *testing.T) {
	db := newTestDB(t)
	rs := NewReleaseService(db)
	now := db.Now()
	if _, _, _, err := rs.Screen("liu", "D-1", release.Screening{Markers: panelWith("HBV", release.Indeterminate), Tested: now.AddDate(0, 0, -5)}); err != nil {
		t.Fatal(err)
	}
	rec, status, _, err := rs.Screen("liu", "D-1", release.Screening{Markers: panelWith("HBV", release.Negative), Tested: now.AddDate(0, 0, -10)})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Eligible() || status.Eligible() || status.ID == rec.ID || !status.Tested.Equal(now.AddDate(0, 0, -5)) {
		t.Errorf("recorded %+v, status %+v; want the older negative recorded and the indeterminate standing", rec, status)
	}
	ss, err := rs.Screenings("D-1")
	if err != nil || len(ss) != 2 || ss[0].Markers[1].Result != release.Indeterminate || ss[1].Markers[1].Result != release.Negative {
		t.Errorf("screenings %+v %v; want both, as entered", ss, err)
	}
}

// TestExceptionalReleaseOfReactiveDonorSignsKnowingly: the exceptional
// release stays possible, and both signatures name donor eligibility.
func TestExceptionalReleaseOfReactiveDonorSignsKnowingly(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-1")
	rs := releaseUC(t, db, "LOT-1")
	addTestUser(t, db, audit.User{Name: "pat", FullName: "Pat", Role: audit.Physician})
	registerUC(t, db, "LOT-2")
	if _, _, _, err := rs.Screen("liu", "D-1", release.Screening{Markers: panelWith("HBV", release.Positive)}); err != nil {
		t.Fatal(err)
	}
	d, err := rs.Approve(release.Approval{Lot: "LOT-2", QA: "quinn", Password: testPassword, Exception: true, Patient: "MRN-1",
		Reason: "no alternative", Physician: "pat", PhysicianPassword: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Signatures) != 2 {
		t.Fatalf("signatures %+v", d.Signatures)
	}
	for _, s := range d.Signatures {
		if !strings.Contains(s.Meaning, "donor eligibility FAIL (ineligible: HBV positive)") || !strings.Contains(s.Meaning, "viability MISSING") {
			t.Errorf("%s signed %q; want donor eligibility and every missing result named", s.User, s.Meaning)
		}
	}
}

// panelWith is a screening panel, every marker negative but marker, which
// has result r.
func panelWith(marker string, r release.Reactivity) []release.Marker {
	var ms []release.Marker
	for _, m := range release.ScreenMarkers {
		res := release.Negative
		if m == marker {
			res = r
		}
		ms = append(ms, release.Marker{Name: m, Result: res})
	}
	return ms
}

// TestSpecVersionDecodesTheStoredBytes: the bedside check's specification
// (specVersion) is the stored record's, also after the bytes under its id
// change (a restored or tampered file read by the same process): the kept
// decoded value is used only for the bytes it was decoded from. A missing
// version is refused as specByRef refuses it.
func TestSpecVersionDecodesTheStoredBytes(t *testing.T) {
	db := newTestDB(t)
	read := func() release.Spec {
		t.Helper()
		var sp release.Spec
		err := db.view(func(tx kv.Tx) (err error) { sp, err = specVersion(tx, "isct-uc-msc", 1); return err })
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	first := read()
	if first.Name != "isct-uc-msc" || first.Version != 1 || len(first.Criteria) == 0 || read().Title != first.Title {
		t.Fatalf("spec %+v", first)
	}
	err := db.engine.Update(func(tx kv.Tx) error {
		b := tx.Bucket(recordBuckets[kindSpec])
		v := b.Get(first.ID[:])
		changed := bytes.Replace(v, []byte(fmt.Sprintf(`"title":%q`, first.Title)), []byte(`"title":"changed under the cache"`), 1)
		if bytes.Equal(changed, v) {
			t.Fatalf("no title in %s", v)
		}
		return b.Put(first.ID[:], changed)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); got.Title != "changed under the cache" {
		t.Fatalf("after the stored bytes changed: title %q", got.Title)
	}
	err = db.view(func(tx kv.Tx) error {
		_, err := specVersion(tx, "isct-uc-msc", 7)
		if lot.ErrorCode(err) != lot.ENOTFOUND || !strings.Contains(err.Error(), "has versions 1–1") {
			t.Errorf("missing version: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
