package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// TestEachAuditEntryIsAuditLog: the audit log read a batch at a time, each
// batch in its own transaction (EachAuditEntry, which a server's download
// streams), is AuditLog's — every entry, in order, with the value each set
// and its previous hash — for the whole trail and one record, in batches
// of 1 to more than the trail, where a record's next state entry is often
// in a later batch than the lean entry whose value it holds. It ends with
// the context's error once the context is done, and with fn's.
func TestEachAuditEntryIsAuditLog(t *testing.T) {
	db := newTestDB(t)
	// nina's account changes between the lots: her state entries are
	// batches apart.
	for i := range 3 {
		change := db.DisableUser
		if i%2 == 1 {
			change = db.EnableUser
		}
		if _, err := change("alice", "nina", "leave of absence", nil); err != nil {
			t.Fatal(err)
		}
		registerUC(t, db, fmt.Sprintf("LOT-E%d", i))
	}
	all, err := db.AuditLog("")
	if err != nil {
		t.Fatal(err)
	}
	// The case that needs the next batch: a record with two state entries.
	states := map[uuid.UUID]int{}
	for _, e := range all {
		if e.State {
			states[e.ID]++
		}
	}
	twice := 0
	for _, n := range states {
		if n > 1 {
			twice++
		}
	}
	if twice == 0 {
		t.Fatalf("no record of the %d entries has two state entries: the test shows nothing", len(all))
	}
	defer func(n int) { auditBatch = n }(auditBatch)
	for _, entity := range []string{"", "LOT-E1", "MRN-1", "nina"} {
		want, err := db.AuditLog(entity)
		if err != nil || len(want) == 0 {
			t.Fatalf("AuditLog(%q): %d entries, %v", entity, len(want), err)
		}
		for _, batch := range []int{1, 2, 3, 7, len(want) + 1} {
			auditBatch = batch
			var got []audit.Entry
			err := db.EachAuditEntry(context.Background(), "alice", entity, func(e audit.Entry) error {
				got = append(got, e)
				return nil
			})
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("EachAuditEntry(%q) in batches of %d: %d entries, %v; want AuditLog's %d", entity, batch, len(got), err, len(want))
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Errorf("first difference, entry %d:\n got %+v\nwant %+v", want[i].Seq, got[i], want[i])
						break
					}
				}
			}
		}
	}
	if err := db.EachAuditEntry(context.Background(), "alice", "LOT-NONE", func(audit.Entry) error { return nil }); lot.ErrorCode(err) != lot.ENOTFOUND {
		t.Errorf("EachAuditEntry of no such record: %v, want ENOTFOUND", err)
	}

	auditBatch = 2
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = db.EachAuditEntry(ctx, "alice", "", func(audit.Entry) error {
		if n++; n == 3 {
			cancel() // a stopping server
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 4 {
		t.Errorf("cancelled after the 3rd entry: %d entries, %v; want the rest of that batch (4) and context.Canceled", n, err)
	}
	stop := errors.New("client gone")
	if err := db.EachAuditEntry(context.Background(), "alice", "", func(audit.Entry) error { return stop }); err != stop {
		t.Errorf("fn's error: %v", err)
	}
}

// TestVerifyContextEndsWithTheContext: a verification whose context is
// done (a stopping server's request) ends with its error instead of
// walking the whole trail; with a live one it is Verify.
func TestVerifyContextEndsWithTheContext(t *testing.T) {
	db := newTestDB(t)
	registerUC(t, db, "LOT-V1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.VerifyContext(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyContext with a cancelled context: %v, want context.Canceled", err)
	}
	v, err := db.VerifyContext(context.Background())
	w, werr := db.Verify()
	if err != nil || werr != nil || !reflect.DeepEqual(v, w) || v.Entries == 0 {
		t.Errorf("VerifyContext %+v %v, Verify %+v %v", v, err, w, werr)
	}
}
