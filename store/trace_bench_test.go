package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/trace"
)

// BenchmarkTrace builds the donor, lot and patient traces of the look-back
// story alone and beside thousands of unrelated lots (each split into two
// bags, one bag in ten dispensed to another patient). The time per trace
// stays the same: a trace reads only the records its indexes lead to.
//
//	go test ./store -run '^$' -bench Trace -benchtime 200x
//
// It measures the report model; the provenance stamp adds `audit verify`,
// which reads the whole audit trail by design (see BenchmarkTraceStamped).
func BenchmarkTrace(b *testing.B) {
	for _, unrelated := range []int{0, 2000} {
		db := benchDB(b, unrelated)
		for _, c := range []struct{ name, ref string }{
			{trace.KindDonor, "D-1"},
			{trace.KindLot, "LOT-1"},
			{trace.KindPatient, "MRN-1"},
			{trace.KindContainer, "G12342600000101"},
		} {
			b.Run(fmt.Sprintf("%s/unrelated-lots=%d", c.name, unrelated), func(b *testing.B) {
				for b.Loop() {
					err := db.ReadTrace(func(s *TraceSnapshot) error { _, _, err := trace.Build(s, c.name, c.ref); return err })
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkTraceStamped is a whole `trace donor`: the model plus the
// provenance block, whose audit verification grows with the database.
func BenchmarkTraceStamped(b *testing.B) {
	for _, unrelated := range []int{0, 2000} {
		db := benchDB(b, unrelated)
		b.Run(fmt.Sprintf("donor/unrelated-lots=%d", unrelated), func(b *testing.B) {
			for b.Loop() {
				if _, err := newTraces(db).Donor(context.Background(), "aud", "D-1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTraceLotScale is a whole `trace lot` (model + provenance) and the
// model alone beside n unrelated lots, n from CELLTRACK_BENCH_LOTS
// (comma-separated; default 1000):
//
//	CELLTRACK_BENCH_LOTS=1000,100000 go test ./store -run '^$' -bench TraceLotScale -benchtime 20x -timeout 60m
func BenchmarkTraceLotScale(b *testing.B) {
	for _, n := range benchLots(b, []int{1000}) {
		db := benchDB(b, n)
		b.Run(fmt.Sprintf("model/lots=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := db.ReadTrace(func(s *TraceSnapshot) error { _, _, err := trace.Build(s, trace.KindLot, "LOT-1"); return err }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("verify/lots=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := db.Verify(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("stamped/lots=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := newTraces(db).Lot(context.Background(), "aud", "LOT-1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchDB is the look-back story plus n lots of the unrelated donor D-2.
func benchDB(b *testing.B, n int) *DB {
	b.Helper()
	db := traceDB(b)
	db.engine.(ownEngine).Engine.(*boltkv.Engine).SetNoSync(true) // setup speed only; the traces read
	s := NewLotService(db)
	now := db.Now()
	rows := make([]lot.ImportRow, n)
	for i := range rows {
		rows[i] = lot.ImportRow{Line: i + 2, Registration: lot.Registration{Number: fmt.Sprintf("BULK-%05d", i), Source: lot.SourceUC, Donor: "D-2",
			Cells: 1_000_000_000, Viability: 900, VolumeML: 100, Manufactured: now.AddDate(0, 0, -3), Expires: now.AddDate(1, 0, 0)}}
	}
	if n > 0 {
		if _, err := s.Import("liu", rows); err != nil {
			b.Fatal(err)
		}
	}
	other, err := s.Patient("MRN-2")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		cs, err := s.SplitLot("liu", lot.Split{Lot: fmt.Sprintf("BULK-%05d", i), Containers: 2, CellsEach: 100_000_000})
		if err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			custody(b, db, "nina", cs[0].Code(), lot.Event{To: lot.Dispensed, Site: "CLINIC-1", Custodian: "nina", PatientID: other.ID})
		}
	}
	return db
}

// benchLots is CELLTRACK_BENCH_LOTS (comma-separated lot counts), else def.
func benchLots(b *testing.B, def []int) []int {
	v := os.Getenv("CELLTRACK_BENCH_LOTS")
	if v == "" {
		return def
	}
	var ns []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			b.Fatalf("CELLTRACK_BENCH_LOTS: %v", err)
		}
		ns = append(ns, n)
	}
	return ns
}
