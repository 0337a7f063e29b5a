package store

import (
	"context"
	"errors"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
)

// TestLongReadsEndWithTheirContext: each read a stopping server cuts — the
// full-verify traces, the reports (the handling report's rows, the access
// review), `audit verify` with a tree head, the whole verify and the audit
// log's walk — ends with its context's error once the context is done,
// on either engine, and writes nothing; with a live context each answers.
// The engine's part (a walk cut within kv.CheckEvery reads) is kvtest's
// ViewContext.
func TestLongReadsEndWithTheirContext(t *testing.T) {
	for _, engine := range []string{"bbolt", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			if engine == "postgres" {
				t.Setenv(envEngine, "postgres")
			}
			db := traceDB(t)
			v, err := db.Verify()
			if err != nil {
				t.Fatal(err)
			}
			head := v.Tree
			full := newTraces(db)
			full.FullVerify = true
			reads := []struct {
				name string
				read func(ctx context.Context) error
			}{
				{"trace lot --full-verify", func(ctx context.Context) error { _, err := full.Lot(ctx, "aud", "LOT-1"); return err }},
				{"trace donor --full-verify", func(ctx context.Context) error { _, err := full.Donor(ctx, "aud", "D-1"); return err }},
				{"trace patient --full-verify", func(ctx context.Context) error { _, err := full.Patient(ctx, "aud", "MRN-1"); return err }},
				{"trace container --full-verify", func(ctx context.Context) error {
					_, err := full.Container(ctx, "aud", "G12342600000101")
					return err
				}},
				{"report handling", func(ctx context.Context) error {
					_, err := newTraces(db).Handling(ctx, "aud", dose.HandlingFilter{})
					return err
				}},
				{"report access", func(ctx context.Context) error { _, err := newTraces(db).Access(ctx, "aud"); return err }},
				{"audit verify --tree-head", func(ctx context.Context) error {
					cv, err := db.VerifyCheckpointsPinned(ctx, []audit.KeptCheckpoint{{Name: "printed", Printed: &head}}, nil)
					if err == nil && !cv.OK() {
						t.Errorf("the tree head of the trail itself: %+v", cv)
					}
					return err
				}},
				{"audit verify", func(ctx context.Context) error { _, err := db.VerifyContext(ctx); return err }},
				{"audit log", func(ctx context.Context) error {
					return db.EachAuditEntry(ctx, "alice", "", func(audit.Entry) error { return nil })
				}},
			}
			before, err := db.AuditCount()
			if err != nil {
				t.Fatal(err)
			}
			done, cancel := context.WithCancel(context.Background())
			cancel()
			for _, r := range reads {
				if err := r.read(done); !errors.Is(err, context.Canceled) {
					t.Errorf("%s with a cancelled context: %v, want context.Canceled", r.name, err)
				}
			}
			if after, err := db.AuditCount(); err != nil || after != before {
				t.Errorf("the cut reads wrote: %d audit entries, then %d (%v)", before, after, err)
			}
			for _, r := range reads {
				if err := r.read(context.Background()); err != nil {
					t.Errorf("%s with a live context: %v", r.name, err)
				}
			}
		})
	}
}
