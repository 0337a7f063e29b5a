package store

import (
	"bytes"
	"fmt"
	"reflect"
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

// refusedIntact checks that err is the refusal of a write resting on a
// record changed outside celltrack, naming that record, and that nothing was
// written: the audit trail is as long as before and the tampered record is
// still there for `audit verify` to name (not overwritten by the write).
func refusedIntact(t *testing.T, db *DB, entries int, err error, record string) {
	t.Helper()
	if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), record) ||
		!strings.Contains(err.Error(), "changed outside celltrack") ||
		!strings.Contains(err.Error(), "nothing was written — run the database check and contact the administrator") || lot.ErrorCommand(err) != "check" {
		t.Fatalf("got %v; want ECONFLICT naming %s", err, record)
	}
	if n, _ := db.AuditCount(); n != entries {
		t.Fatalf("the refusal wrote %d audit entries", n-entries)
	}
	v, _ := db.Verify()
	if !strings.Contains(strings.Join(v.Problems, "\n"), record) {
		t.Fatalf("audit verify no longer names %s: %v", record, v.Problems)
	}
}

// TestApprovalRefusesTamperedRecords: LOT-1 was released, then a sterility
// result "growth" sent it back to quarantine. Each row edits one record the
// approval rests on with raw bbolt; approving is then refused, before any
// password (CheckApproval) and again when the decision would be written.
// Without the check the first row releases a lot whose sterility grew.
func TestApprovalRefusesTamperedRecords(t *testing.T) {
	for _, tc := range []struct {
		name, approver string
		tamper         func(t *testing.T, db *DB, growth release.Result) (record string)
	}{
		{"failing result edited to pass", "quinn", func(t *testing.T, db *DB, growth release.Result) string {
			tamper(t, db, kindResult, growth.ID, `"value":"growth"`, `"value":"no-growth"`)
			return "result " + growth.ID.String()
		}},
		{"specification edited to accept growth", "quinn", func(t *testing.T, db *DB, _ release.Result) string {
			sp, err := NewReleaseService(db).Spec("isct-uc-msc")
			if err != nil {
				t.Fatal(err)
			}
			tamper(t, db, kindSpec, sp.ID, `"result":"no-growth"`, `"result":"growth"`)
			return "spec isct-uc-msc (" + sp.ID.String() + ")"
		}},
		{"nurse's role edited to qa", "nina", func(t *testing.T, db *DB, _ release.Result) string {
			nina := mustUser(t, db, "nina")
			tamper(t, db, kindUser, nina.ID, `"role":"nurse"`, `"role":"qa"`)
			return "user nina (" + nina.ID.String() + ")"
		}},
		{"lot record edited", "quinn", func(t *testing.T, db *DB, growth release.Result) string {
			tamper(t, db, kindResult, growth.ID, `"value":"growth"`, `"value":"no-growth"`)
			l, _ := NewLotService(db).Lot("LOT-1")
			tamper(t, db, kindLot, l.ID, `"number":"LOT-1"`, `"number":"LOT-1","note":"x"`)
			return "lot LOT-1 (" + l.ID.String() + ")"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t)
			rs, _ := releasedUC(t, db)
			// A late sterility reading corrects the one the lot was released on.
			sterility := 0
			rs0, err := rs.Results("LOT-1")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs0 {
				if r.Assay == "sterility" {
					sterility = r.Seq
				}
			}
			growth, rq, err := rs.RecordResult("liu", "LOT-1", release.Entry{Assay: "sterility", Value: "growth"}, sterility, "14-day reading")
			if err != nil || len(rq) != 1 {
				t.Fatalf("sterility growth: %v %v", rq, err)
			}
			record := tc.tamper(t, db, growth)
			n, _ := db.AuditCount()
			a := release.Approval{Lot: "LOT-1", QA: tc.approver, Password: testPassword}
			refusedIntact(t, db, n, rs.CheckApproval(a), record)
			_, err = rs.Approve(a)
			refusedIntact(t, db, n, err, record)
			if l, _ := NewLotService(db).Lot("LOT-1"); l.Status == lot.Released {
				t.Fatal("the lot was released")
			}
		})
	}
}

// TestRejectRefusesTamperedLot: a rejection would overwrite the edited lot
// record and bury the edit under a valid audit entry.
func TestRejectRefusesTamperedLot(t *testing.T) {
	db := newTestDB(t)
	rs, l := releasedUC(t, db)
	tamper(t, db, kindLot, l.ID, `"status":"released"`, `"status":"quarantine"`)
	n, _ := db.AuditCount()
	refusedIntact(t, db, n, rs.CheckReject("quinn", "LOT-1", "edited", nil), "lot LOT-1")
	_, err := rs.Reject("quinn", testPassword, "LOT-1", "edited", nil)
	refusedIntact(t, db, n, err, "lot LOT-1")
}

// TestCustodyRefusesTamperedLotOrContainer: a lot in quarantine edited to
// "released" is not dispensed, nor is any of its containers moved; a
// container edited from "stored" to "thawed" is not dispensed.
func TestCustodyRefusesTamperedLotOrContainer(t *testing.T) {
	t.Run("lot status edited to released", func(t *testing.T) {
		db, s, cs := custodyDB(t)
		for _, step := range []func() (lot.Container, error){
			func() (lot.Container, error) { return s.Store("liu", cs[0].Code(), "LN2-A") },
			func() (lot.Container, error) {
				return s.Thaw("liu", cs[0].Code(), lot.Thaw{Viability: 915, ViableCells: 91_000_000})
			},
		} {
			if _, err := step(); err != nil {
				t.Fatal(err)
			}
		}
		l, _ := NewLotService(db).Lot("LOT-1")
		tamper(t, db, kindLot, l.ID, `"status":"quarantine"`, `"status":"released"`)
		n, _ := db.AuditCount()
		_, err := s.Dispense("liu", cs[0].Code(), "MRN-1")
		refusedIntact(t, db, n, err, "lot LOT-1")
		_, err = s.Store("liu", cs[1].Code(), "LN2-B")
		refusedIntact(t, db, n, err, "lot LOT-1")
		_, err = s.Quarantine("liu", cs[1].Code(), "found edited")
		refusedIntact(t, db, n, err, "lot LOT-1")
	})
	t.Run("container state edited to thawed", func(t *testing.T) {
		db, s, cs := custodyDB(t)
		releaseUC(t, db, "LOT-1")
		if _, err := s.Store("liu", cs[0].Code(), "LN2-A"); err != nil {
			t.Fatal(err)
		}
		tamper(t, db, kindContainer, cs[0].ID, `"state":"stored"`, `"state":"thawed"`)
		n, _ := db.AuditCount()
		_, err := s.Dispense("liu", cs[0].Code(), "MRN-1")
		refusedIntact(t, db, n, err, "container "+cs[0].ID.String())
	})
}

// TestAdministerRefusesTamperedRecords: the bedside GO state of bedside(),
// with one record the dose rests on edited; the infusion is refused.
func TestAdministerRefusesTamperedRecords(t *testing.T) {
	idOf := func(t *testing.T, db *DB, index, key string) uuid.UUID {
		var id uuid.UUID
		err := db.view(func(tx kv.Tx) error {
			var ok bool
			if id, ok = lookup(tx, index, key); !ok {
				t.Fatalf("no %s in %s", key, index)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, tc := range []struct {
		name, kind, index, key, from, to string
	}{
		{"lot expiry moved", kindLot, "idx_lot_number", "LOT-1", `"expires":"2027`, `"expires":"2029`},
		{"container cells raised", kindContainer, "idx_container_code", bag1, `"cells":100000000`, `"cells":900000000`},
		{"patient born earlier", kindPatient, "idx_patient_mrn", "MRN-1", `"born":"1986`, `"born":"1966`},
		{"witness's printed name edited", kindUser, "idx_user_name", "omar", `"full_name":"Omar"`, `"full_name":"Omar B"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, d := bedside(t, "0.5")
			id := idOf(t, db, tc.index, tc.key)
			tamper(t, db, tc.kind, id, tc.from, tc.to)
			n, _ := db.AuditCount()
			_, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
			refusedIntact(t, db, n, err, tc.kind+" ")
			refusedIntact(t, db, n, err, id.String())
			// The bedside check reads the same records but the signers':
			// no GO on them (the hostile review: a GO, then administer
			// refused).
			if tc.kind != kindUser {
				_, err = d.Check("MRN-1", []string{bag1}, 0)
				refusedIntact(t, db, n, err, id.String())
			}
		})
	}
	t.Run("weight raised", func(t *testing.T) {
		db, d := bedside(t, "0.5")
		var w lot.Weight
		_ = db.view(func(tx kv.Tx) error {
			p, _ := patientByMRN(tx, "MRN-1")
			ws, err := weightsOf(tx, p.ID)
			w = ws[len(ws)-1]
			return err
		})
		tamper(t, db, kindWeight, w.ID, `"grams":62000`, `"grams":82000`)
		n, _ := db.AuditCount()
		_, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
		refusedIntact(t, db, n, err, "weight "+w.ID.String())
	})
	// The facility's time zone decides which calendar day "due today" is.
	t.Run("facility time zone edited", func(t *testing.T) {
		db, d := bedside(t, "0.5")
		var fr facilityRecord
		_ = db.view(func(tx kv.Tx) (err error) { fr, _, err = facilityRec(tx); return err })
		tamper(t, db, kindFacility, fr.ID, `"tz":"UTC"`, `"tz":"Pacific/Kiritimati"`)
		n, _ := db.AuditCount()
		_, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
		refusedIntact(t, db, n, err, "facility "+fr.ID.String())
	})
}

// TestAdministerRefusesTamperedReleaseSpec: the bedside decides on the
// viability floor of the specification the lot was released against, so an
// infusion rests on that specification too (the code review: its floor
// edited from 80 to 50 % with raw bbolt let a bag thawed at 70 % be given).
func TestAdministerRefusesTamperedReleaseSpec(t *testing.T) {
	db := newTestDB(t)
	for _, u := range []audit.User{{Name: "pat", FullName: "Dr Pat", Role: audit.Physician}, {Name: "omar", FullName: "Omar", Role: audit.Nurse}} {
		addTestUser(t, db, u)
	}
	releasedUC(t, db)
	ls, cs, d := NewLotService(db), NewCustodyService(db), NewDoseService(db)
	bags, err := ls.SplitLot("liu", lot.Split{Lot: "LOT-1", Containers: 2, CellsEach: 100_000_000, VolumeEach: 500})
	if err != nil {
		t.Fatal(err)
	}
	bag := bags[0].Code()
	steps := []func() error{
		func() error { _, err := ls.Weigh("nina", "MRN-1", 62_000, db.Now().Add(-time.Hour)); return err },
		func() error { _, err := d.CreateSchedule("pat", "MRN-1", "sle-uc-d0d7", db.Now(), ""); return err },
		func() error { _, err := cs.AddSite("liu", lot.Site{Code: "LAB", Name: "Cell lab"}); return err },
		func() error { _, err := cs.Store("liu", bag, "LN2-A rack 3"); return err },
		func() error {
			_, err := cs.Thaw("liu", bag, lot.Thaw{Viability: 700, ViableCells: 70_000_000})
			return err
		},
		func() error { _, err := cs.Dispense("liu", bag, "MRN-1"); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := d.Check("MRN-1", []string{bag}, 0); r.GO {
		t.Fatal("a bag thawed at 70 % under an 80 % floor is GO")
	}
	var specID uuid.UUID
	_ = db.view(func(tx kv.Tx) error {
		specID, _ = lookup(tx, "idx_spec_name", string(specKey("isct-uc-msc", 1)))
		return nil
	})
	// The check lists the specification versions of the lot's decisions as
	// specByRef finds them from the decoded dispositions (dispositionSpecs
	// reads only "spec" and "spec_version").
	_ = db.view(func(tx kv.Tx) error {
		ds := children(tx, "idx_disposition_lot", bags[0].LotID)
		all, err := lotDispositions(tx, bags[0].LotID)
		if err != nil || len(all) == 0 {
			t.Fatalf("dispositions: %v %v", all, err)
		}
		var want []recordRef
		for _, d := range all {
			if sp, err := specByRef(tx, fmt.Sprintf("%s@%d", d.Spec, d.SpecVersion)); err == nil {
				want = append(want, recordRef{kindSpec, sp.ID})
			}
		}
		if got := dispositionSpecs(tx, ds); !reflect.DeepEqual(got, want) || len(got) == 0 {
			t.Fatalf("dispositionSpecs: %v, specByRef: %v", got, want)
		}
		return nil
	})
	tamper(t, db, kindSpec, specID, `"assays":["viability"],"op":"\u003e=","min":"80"`, `"assays":["viability"],"op":"\u003e=","min":"50"`)
	n, _ := db.AuditCount()
	// The read-only check refuses too: a spec version decoded before the
	// edit is decoded again from its new bytes.
	_, err = d.Check("MRN-1", []string{bag}, 0)
	refusedIntact(t, db, n, err, "spec isct-uc-msc")
	_, _, err = d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag}})
	refusedIntact(t, db, n, err, "spec isct-uc-msc")
}

// TestAdministerRefusesTamperedEarlierInfusion: the weight-change check
// measures from the weight an earlier infusion was given with, so an
// infusion rests on the patient's earlier infusions (the code review: one
// repointed at an unconfirmed +32 % weight let it be used unconfirmed).
func TestAdministerRefusesTamperedEarlierInfusion(t *testing.T) {
	db, d := bedside(t, "0.5")
	in1, _, err := d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag1}})
	if err != nil {
		t.Fatal(err)
	}
	day7 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return day7 }
	dispense(t, db, bag2, day7.Add(-30*time.Minute), 100_000_000, "MRN-1")
	w82, err := NewLotService(db).Weigh("nina", "MRN-1", 82_000, day7.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tamper(t, db, kindInfusion, in1.ID, `"weight_id":"`+in1.WeightID.String()+`"`, `"weight_id":"`+w82.ID.String()+`"`)
	n, _ := db.AuditCount()
	_, _, err = d.Administer(mustUser(t, db, "nina"), mustUser(t, db, "omar"), dose.Administration{MRN: "MRN-1", Containers: []string{bag2}})
	refusedIntact(t, db, n, err, "infusion "+in1.ID.String())
}

// TestCheckRefusesEntryAlteredAfterAGO: the bedside check keeps the audit
// entries it has checked (checkedEntries); one altered after a GO — its own
// bytes, or the hash of the entry before it that its hash covers — is
// checked anew, and the next check refuses, naming it.
func TestCheckRefusesEntryAlteredAfterAGO(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *DB, s uint64)
	}{
		{"its entry altered", func(t *testing.T, db *DB, s uint64) {
			rawSetEntry(t, db, s, reencode(t, db, s, false, func(e *audit.Entry) { e.User = "mallory" }))
		}},
		{"the entry before it forged, its hash recomputed", func(t *testing.T, db *DB, s uint64) {
			rawSetEntry(t, db, s-1, reencode(t, db, s-1, true, func(e *audit.Entry) { e.Reason = "backdated" }))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, d := bedside(t, "0.5")
			for range 2 { // the second is answered from what the first kept
				if rep, err := d.Check("MRN-1", []string{bag1}, 0); err != nil || rep.Err() != nil {
					t.Fatalf("check before: %v %v", err, rep.Err())
				}
			}
			var s uint64
			if err := db.view(func(tx kv.Tx) error {
				id, ok := lookup(tx, "idx_lot_number", "LOT-1")
				if !ok {
					t.Fatal("no LOT-1")
				}
				c := tx.Bucket(bAuditEntity).Cursor()
				for k, _ := c.Seek(id[:]); k != nil && bytes.HasPrefix(k, id[:]); k, _ = c.Next() {
					s = btoi(k[16:])
				}
				return nil
			}); err != nil || s < 2 {
				t.Fatalf("LOT-1's last entry %d: %v", s, err)
			}
			tc.tamper(t, db, s)
			_, err := d.Check("MRN-1", []string{bag1}, 0)
			if lot.ErrorCode(err) != lot.ECONFLICT || !strings.Contains(err.Error(), alteredLinked(s)) {
				t.Fatalf("check after: %v; want ECONFLICT naming entry %d", err, s)
			}
		})
	}
}

// TestCheckRefusesRecordAlteredAfterAGO: the bedside check keeps the sums
// of the records it has checked (recordSums) and its lot's results decoded
// (endotoxinResults); a record edited with a raw tool after a GO is new
// bytes, and the next check refuses, naming it, as the first would have.
func TestCheckRefusesRecordAlteredAfterAGO(t *testing.T) {
	for _, tc := range []struct {
		name, kind, from, to string
		id                   func(tx kv.Tx) uuid.UUID
	}{
		{"lot expiry moved", kindLot, `"expires":"2027`, `"expires":"2029`, func(tx kv.Tx) uuid.UUID {
			id, _ := lookup(tx, "idx_lot_number", "LOT-1")
			return id
		}},
		{"endotoxin lowered", kindResult, `"value":"0.5"`, `"value":"0.05"`, func(tx kv.Tx) uuid.UUID {
			l, _ := lookup(tx, "idx_lot_number", "LOT-1")
			for _, id := range children(tx, "idx_result_lot", l) {
				var r resultRecord
				if _, err := get(tx, kindResult, id, &r); err == nil && r.Assay == "endotoxin" {
					return id
				}
			}
			return uuid.Nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, d := bedside(t, "0.5")
			for range 2 { // the second is answered from what the first kept
				if rep, err := d.Check("MRN-1", []string{bag1}, 0); err != nil || rep.Err() != nil {
					t.Fatalf("check before: %v %v", err, rep.Err())
				}
			}
			var id uuid.UUID
			_ = db.view(func(tx kv.Tx) error { id = tc.id(tx); return nil })
			if id == uuid.Nil {
				t.Fatal("no record to alter")
			}
			tamper(t, db, tc.kind, id, tc.from, tc.to)
			n, _ := db.AuditCount()
			_, err := d.Check("MRN-1", []string{bag1}, 0)
			refusedIntact(t, db, n, err, tc.kind+" ")
			refusedIntact(t, db, n, err, id.String())
		})
	}
}
