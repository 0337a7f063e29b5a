package store

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
)

// mistypedReactive has LOT-1 of donor D-1 released, then a screening #2
// with syphilis typed positive by mistake, which returned LOT-1 to
// quarantine.
func mistypedReactive(t *testing.T) (*DB, *ReleaseService) {
	t.Helper()
	db := newTestDB(t)
	rs, _ := releasedUC(t, db)
	if _, _, rq, err := rs.Screen("liu", "D-1", release.Screening{Markers: panelWith("syphilis", release.Positive)}); err != nil || len(rq) != 1 {
		t.Fatalf("screen: %v, requarantined %v", err, rq)
	}
	return db, rs
}

func donorEligibility(t *testing.T, rs *ReleaseService) release.Row {
	t.Helper()
	ev, err := rs.Evaluate("LOT-1", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ev.Rows {
		if r.Criterion == "donor eligibility" {
			return r
		}
	}
	t.Fatal("no donor eligibility row")
	return release.Row{}
}

// TestVoidScreeningRefusals: every refusal, the wrong password included,
// leaves the screenings as they were; all but the wrong password leave the
// database file byte for byte unchanged.
func TestVoidScreeningRefusals(t *testing.T) {
	db, rs := mistypedReactive(t)
	for _, c := range []struct {
		name, qa, donor, reason string
		seq                     int
		code, want              string
	}{
		{"unknown donor", "quinn", "D-404", "typo", 2, lot.ENOTFOUND, "D-404"},
		{"number never recorded", "quinn", "D-1", "typo", 3, lot.ENOTFOUND, "donor D-1 has no screening #3"},
		{"number zero", "quinn", "D-1", "typo", 0, lot.EINVALID, "0 is not a screening number"},
		{"blank reason", "quinn", "D-1", " ", 2, lot.EINVALID, "the reason is required"},
		{"lab may not", "liu", "D-1", "typo", 2, lot.EFORBIDDEN, "which may not donor.screen.void"},
	} {
		before, _ := os.ReadFile(db.Path())
		if err := rs.CheckVoidScreening(c.qa, c.donor, c.seq, c.reason); lot.ErrorCode(err) != c.code || !strings.Contains(lot.ErrorMessage(err), c.want) {
			t.Errorf("%s: check: %v, want %s %q", c.name, err, c.code, c.want)
		}
		if _, _, _, err := rs.VoidScreening(c.qa, testPassword, c.donor, c.seq, c.reason); lot.ErrorCode(err) != c.code || !strings.Contains(lot.ErrorMessage(err), c.want) {
			t.Errorf("%s: void: %v, want %s %q", c.name, err, c.code, c.want)
		}
		if after, _ := os.ReadFile(db.Path()); !bytes.Equal(before, after) {
			t.Errorf("%s: the refusal changed the database", c.name)
		}
	}
	if _, _, _, err := rs.VoidScreening("quinn", "not-the-password", "D-1", 2, "typo"); lot.ErrorCode(err) != lot.EAUTH {
		t.Errorf("wrong password: %v", err)
	}
	ss, err := rs.Screenings("D-1")
	if err != nil || len(ss) != 2 || ss[1].Voided() {
		t.Fatalf("screenings after the refusals: %+v %v", ss, err)
	}
	if r := donorEligibility(t, rs); r.Verdict != release.Fail {
		t.Errorf("donor eligibility %v, want FAIL while the mistyped screening counts", r)
	}
}

// TestVoidScreening: QA's signed void makes the donor eligible again, keeps
// the voided screening visible, leaves the lot in quarantine and verifies.
func TestVoidScreening(t *testing.T) {
	db, rs := mistypedReactive(t)
	voided, status, quarantined, err := rs.VoidScreening("quinn", testPassword, "D-1", 2, "syphilis typed positive")
	if err != nil {
		t.Fatal(err)
	}
	sg := voided.VoidSignature
	if voided.Seq != 2 || !voided.Voided() || voided.VoidedBy != "quinn" || sg.FullName != "Quinn" || sg.Role != "qa" ||
		sg.Meaning != "voided donor screening #2: syphilis typed positive" || !sg.Time.Equal(db.Now()) {
		t.Errorf("voided %+v", voided)
	}
	if status == nil || !status.Eligible() || status.Seq != 1 {
		t.Errorf("status after the void %+v; want screening #1, eligible", status)
	}
	if len(quarantined) != 1 || quarantined[0] != "LOT-1" {
		t.Errorf("quarantined %v, want LOT-1", quarantined)
	}
	if l, err := NewLotService(db).Lot("LOT-1"); err != nil || l.Status != lot.Quarantine {
		t.Errorf("LOT-1 %v %v; a void releases nothing", l.Status, err)
	}
	if r := donorEligibility(t, rs); r.Verdict != release.Pass {
		t.Errorf("donor eligibility %+v, want PASS", r)
	}
	ss, err := rs.Screenings("D-1")
	if err != nil || len(ss) != 2 || !ss[1].Voided() || ss[1].VoidSignature != sg || ss[1].Status() != "VOID 2026-11-25 by quinn: syphilis typed positive" {
		t.Errorf("screenings %+v %v", ss, err)
	}
	if _, _, _, err := rs.VoidScreening("quinn", testPassword, "D-1", 2, "again"); lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(lot.ErrorMessage(err), "already voided") {
		t.Errorf("second void: %v", err)
	}
	verifyOK(t, db)
	// Voiding the remaining screening leaves the donor not screened.
	if _, status, _, err := rs.VoidScreening("quinn", testPassword, "D-1", 1, "wrong donor"); err != nil || status != nil {
		t.Errorf("void of the last valid screening: status %+v, %v", status, err)
	}
	if r := donorEligibility(t, rs); r.Verdict != release.Missing {
		t.Errorf("donor eligibility %+v, want MISSING", r)
	}
	verifyOK(t, db)
}

// TestVerifyCatchesAnEditedVoidedScreening: the void's signature is bound to
// the voided screening, so a consistent forgery of the record is named.
func TestVerifyCatchesAnEditedVoidedScreening(t *testing.T) {
	db, rs := mistypedReactive(t)
	if _, _, _, err := rs.VoidScreening("quinn", testPassword, "D-1", 2, "syphilis typed positive"); err != nil {
		t.Fatal(err)
	}
	ss, _ := rs.Screenings("D-1")
	var first, second screeningRecord
	db.view(func(tx kv.Tx) error {
		get(tx, kindScreening, ss[0].ID, &first)
		get(tx, kindScreening, ss[1].ID, &second)
		return nil
	})
	id := ss[1].ID.String()
	t.Run("voided screening's markers edited", func(t *testing.T) {
		forge(t, db, kindScreening, ss[1].ID, func(r *screeningRecord) { r.Markers = panelWith("HIV-1/2", release.Positive) })
		onlySignatureProblems(t, db, "screening "+id, "the signature of quinn", "voided donor screening #2: syphilis typed positive")
	})
	t.Run("signature removed", func(t *testing.T) {
		forge(t, db, kindScreening, ss[1].ID, func(r *screeningRecord) { *r = second; r.VoidSignature = nil })
		onlySignatureProblems(t, db, "screening "+id, "is void but carries no signature")
	})
	t.Run("put back", func(t *testing.T) {
		forge(t, db, kindScreening, ss[1].ID, func(r *screeningRecord) { *r = second })
		verifyOK(t, db)
	})
	t.Run("void copied onto the other screening", func(t *testing.T) {
		forge(t, db, kindScreening, ss[0].ID, func(r *screeningRecord) {
			r.VoidedAt, r.VoidedBy, r.VoidReason, r.VoidSignature = second.VoidedAt, second.VoidedBy, second.VoidReason, second.VoidSignature
		})
		onlySignatureProblems(t, db, "screening "+ss[0].ID.String(), "the signature of quinn")
	})
}
