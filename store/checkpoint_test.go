package store

import (
	"context"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// checkpointed is the trace story with a passing full verification
// recorded as the checkpoint, then one more custody event after it, so that
// the chain check has entries to walk.
func checkpointed(t *testing.T) (*DB, Checkpoint) {
	t.Helper()
	db := traceDB(t)
	v, err := db.Verify()
	if err != nil || !v.OK() {
		t.Fatalf("verify: %v %v", err, v.Problems)
	}
	if err := db.RecordCheckpoint(v); err != nil {
		t.Fatal(err)
	}
	cp, ok, err := db.Checkpoint()
	if err != nil || !ok || cp.Seq != uint64(v.Entries) || cp.Hash != v.Head {
		t.Fatalf("checkpoint %+v %v %v, verified %d entries", cp, ok, err, v.Entries)
	}
	custody(t, db, "liu", "G12342600000202", lot.Event{To: lot.Stored, Site: "LAB", Location: "LN2-B", Custodian: "liu"})
	return db, cp
}

// tamper overwrites the stored value of the record of kind with id, as a
// hex editor would, leaving the audit trail alone.
func tamper(t *testing.T, db *DB, kind string, id uuid.UUID, from, to string) {
	t.Helper()
	err := db.engine.Update(func(tx kv.Tx) error {
		b := tx.Bucket(recordBuckets[kind])
		v := string(b.Get(id[:]))
		if !strings.Contains(v, from) {
			t.Fatalf("%s %s has no %q: %s", kind, id, from, v)
		}
		return b.Put(id[:], []byte(strings.Replace(v, from, to, 1)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTraceVerifiesFromCheckpoint(t *testing.T) {
	db, cp := checkpointed(t)
	r, err := newTraces(db).Lot(context.Background(), "aud", "LOT-1")
	if err != nil {
		t.Fatal(err)
	}
	p := r.Produced
	n, _ := db.AuditCount()
	if p.Scope != report.ScopeReport || !p.Verified || p.ChainFrom != cp.Seq || p.AuditEntries != n || p.RecordsVerified < 10 {
		t.Fatalf("provenance: %+v (checkpoint %d, %d entries)", p, cp.Seq, n)
	}
	// Every format says what was verified, and none says PASSED.
	for _, f := range []string{"text", "md", "html", "pdf", "json", "csv"} {
		out := render(t, r, f)
		if strings.Contains(out, "PASSED") {
			t.Errorf("%s report of a report-scoped verification says PASSED", f)
		}
		if f == "pdf" {
			continue // compressed
		}
		want := map[string]string{"json": `"audit_verify_scope": "report"`, "csv": "report records and chain from entry"}[f]
		if want == "" {
			want = "NOT A FULL VERIFY"
		}
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("%s report does not say %q:\n%s", f, want, out)
		}
	}
	// --full-verify, and a database without a checkpoint, verify in full.
	full := newTraces(db)
	full.FullVerify = true
	if r, err := full.Lot(context.Background(), "aud", "LOT-1"); err != nil || r.Produced.Scope != report.ScopeFull || !r.Produced.Verified {
		t.Fatalf("full verify: %v %+v", err, r.Produced)
	}
	// The handling report does not list its records: it verifies in full.
	if r, err := newTraces(db).Handling(context.Background(), "aud", dose.HandlingFilter{}); err != nil || r.Produced.Scope != report.ScopeFull || !r.Produced.Verified {
		t.Fatalf("handling report: %v %+v", err, r.Produced)
	}
	if r, err := newTraces(traceDB(t)).Lot(context.Background(), "aud", "LOT-1"); err != nil || r.Produced.Scope != report.ScopeFull || !strings.Contains(render(t, r, "text"), "PASSED") {
		t.Fatalf("no checkpoint: %v %+v", err, r.Produced)
	}
}

func TestTraceFromCheckpointFindsTampering(t *testing.T) {
	lotOf := func(t *testing.T, db *DB, number string) lot.Lot {
		l, err := NewLotService(db).Lot(number)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	t.Run("a record in the report", func(t *testing.T) {
		db, _ := checkpointed(t)
		tamper(t, db, kindLot, lotOf(t, db, "LOT-1").ID, `"viability_tenths_pct":950`, `"viability_tenths_pct":990`)
		r, err := newTraces(db).Lot(context.Background(), "aud", "LOT-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Produced.Verified || !strings.Contains(strings.Join(r.Produced.Problems, "\n"), "lot LOT-1") {
			t.Fatalf("altered lot passed: %+v", r.Produced)
		}
		if out := render(t, r, "text"); !strings.Contains(out, "FAILED") {
			t.Errorf("text does not say FAILED:\n%s", out)
		}
	})
	t.Run("an entry after the checkpoint", func(t *testing.T) {
		db, cp := checkpointed(t)
		err := db.engine.Update(func(tx kv.Tx) error {
			b := tx.Bucket(bAudit)
			v := append([]byte(nil), b.Get(itob(cp.Seq+1))...)
			v[len(v)-2] ^= 1
			return b.Put(itob(cp.Seq+1), v)
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := newTraces(db).Donor(context.Background(), "aud", "D-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Produced.Verified || !strings.Contains(strings.Join(r.Produced.Problems, "\n"), "was altered") {
			t.Fatalf("altered entry passed: %+v", r.Produced)
		}
	})
	t.Run("the checkpoint's entry: full verify instead", func(t *testing.T) {
		db, cp := checkpointed(t)
		err := db.engine.Update(func(tx kv.Tx) error {
			b := tx.Bucket(bAudit)
			v := append([]byte(nil), b.Get(itob(cp.Seq))...)
			v[len(v)-2] ^= 1
			return b.Put(itob(cp.Seq), v)
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := newTraces(db).Lot(context.Background(), "aud", "LOT-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Produced.Scope != report.ScopeFull || r.Produced.Verified {
			t.Fatalf("report rested on an altered checkpoint: %+v", r.Produced)
		}
	})
	t.Run("a record outside the report: only a full verify sees it", func(t *testing.T) {
		db, _ := checkpointed(t)
		tamper(t, db, kindLot, lotOf(t, db, "LOT-X").ID, `"viability_tenths_pct":950`, `"viability_tenths_pct":990`)
		r, err := newTraces(db).Lot(context.Background(), "aud", "LOT-1")
		if err != nil {
			t.Fatal(err)
		}
		if !r.Produced.Verified || r.Produced.Scope != report.ScopeReport || strings.Contains(render(t, r, "text"), "PASSED") {
			t.Fatalf("report-scoped verification: %+v", r.Produced)
		}
		v, _ := db.Verify()
		if v.OK() {
			t.Fatal("full verify missed the altered lot")
		}
		// A failed full verification marks the checkpoint failed: reports
		// stop resting on it.
		if err := db.RecordCheckpoint(v); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.Checkpoint(); ok {
			t.Fatal("a failed verification left the checkpoint in use")
		}
		if r, _ := newTraces(db).Lot(context.Background(), "aud", "LOT-1"); r.Produced.Verified || r.Produced.Scope != report.ScopeFull {
			t.Fatalf("after the failed check: %+v", r.Produced)
		}
	})
}
