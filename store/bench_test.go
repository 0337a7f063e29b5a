package store

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// Benchmarks of the hot paths, so that a regression shows up in
// `go test -bench . ./store`. Whole-process timings at scale are made by
// internal/benchharness (BENCHMARKS.md).

func importRows(prefix string, n int, now time.Time) []lot.ImportRow {
	rows := make([]lot.ImportRow, n)
	for i := range rows {
		rows[i] = lot.ImportRow{Line: i + 2, Registration: lot.Registration{Number: fmt.Sprintf("%s-%d", prefix, i), Source: lot.SourceUC,
			Donor: "D-1", Cells: 2_000_000_000, Viability: 945, VolumeML: 2500, Manufactured: now.AddDate(0, 0, -5),
			Expires: now.AddDate(1, 0, 0), Passage: 4, Location: "LN2-A rack 3"}}
	}
	return rows
}

// BenchmarkWeigh is a single small audited write: one transaction, one
// record, two index entries, one audit entry.
func BenchmarkWeigh(b *testing.B) {
	db := newTestDB(b)
	s := NewLotService(db)
	at := db.Now().AddDate(0, -1, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Weigh("nina", "MRN-1", 62_000, at.Add(time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSchemaCheck is what every Open does before a command: the
// schema version and the buckets of the key schema, in one read-only
// transaction (issue 10).
func BenchmarkSchemaCheck(b *testing.B) {
	db := newTestDB(b)
	for b.Loop() {
		if v, lacking, err := db.checkSchema(nil, false); err != nil || v != SchemaVersion || len(lacking) > 0 {
			b.Fatal(v, lacking, err)
		}
	}
}

// BenchmarkImport imports 1000 lots per operation; lots/s is the figure the
// issue sets a target for (≥ 20,000).
func BenchmarkImport(b *testing.B) {
	db := newTestDB(b)
	s := NewLotService(db)
	const n = 1000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rows := importRows(fmt.Sprintf("B%d", i), n, db.Now())
		b.StartTimer()
		if _, err := s.Import("liu", rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lots/s")
}

// BenchmarkVerify verifies a trail of about 10,000 entries; entries/s is the
// figure the issue sets a target for (≥ 300,000).
func BenchmarkVerify(b *testing.B) {
	db := newTestDB(b)
	if _, err := NewLotService(db).Import("liu", importRows("V", 10_000, db.Now())); err != nil {
		b.Fatal(err)
	}
	entries := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := db.Verify()
		if err != nil || !v.OK() {
			b.Fatal(err, v.Problems)
		}
		entries += v.Entries
	}
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}

// harnessDB opens read-only the database the benchmark harness built and
// kept (`go run ./internal/benchharness -keep`) that CELLTRACK_BENCH_DB
// names, closed when the benchmark ends; it skips the benchmark when the
// variable is not set.
func harnessDB(b *testing.B) *DB {
	b.Helper()
	path := os.Getenv("CELLTRACK_BENCH_DB")
	if path == "" {
		b.Skip("CELLTRACK_BENCH_DB is not set")
	}
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkVerifyHarnessDB verifies a database kept by the harness
// (`go run ./internal/benchharness -sizes 10000 -keep`: ~283,000 entries,
// 479 MB), skipped unless CELLTRACK_BENCH_DB names its file. Its
// sub-benchmarks split `audit verify` into its parts: the whole, the chain
// and record check alone, the index check and the signature check.
func BenchmarkVerifyHarnessDB(b *testing.B) {
	db := harnessDB(b)
	b.Run("all", func(b *testing.B) {
		entries := 0
		for b.Loop() {
			v, err := db.Verify()
			if err != nil || !v.OK() {
				b.Fatal(err, v.Problems)
			}
			entries += v.Entries
		}
		b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("indexes", func(b *testing.B) {
		for b.Loop() {
			db.view(func(tx kv.Tx) error { verifyIndexes(tx); return nil })
		}
	})
	b.Run("signatures", func(b *testing.B) {
		for b.Loop() {
			db.view(func(tx kv.Tx) error { verifySignatures(tx); return nil })
		}
	})
}

// BenchmarkLotByDIN looks a lot up by its typed DIN among 10,000 lots.
func BenchmarkLotByDIN(b *testing.B) {
	db := newTestDB(b)
	s := NewLotService(db)
	ls, err := s.Import("liu", importRows("D", 10_000, db.Now()))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := ls[i%len(ls)].DIN
		if _, err := s.Lot(d.EyeReadable()); err != nil {
			b.Fatal(err)
		}
	}
}
