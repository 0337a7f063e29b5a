package main

import (
	"io"
	"os"
	"testing"
	"time"
)

// BenchmarkCommandHarnessDB runs whole command lines in-process — flags,
// the session file, the session check, the command, the output — on a
// database the benchmark harness kept (go run ./internal/benchharness
// -keep), without the process start that dominates their wall time, so
// that a profile shows what a login session costs each command (issue 10;
// BENCHMARKS.md, run M). Skipped unless CELLTRACK_BENCH_DB names the file,
// CELLTRACK_BENCH_BAG the bag of MRN-CHECK and CELLTRACK_BENCH_CONFIG a
// config directory in which nina is logged in to it:
//
//	CELLTRACK_BENCH_DB=…/db-100000.db CELLTRACK_BENCH_BAG=… CELLTRACK_BENCH_CONFIG=…/homes/nina \
//	  go test ./cmd/celltrack -run '^$' -bench CommandHarnessDB -cpuprofile cpu.out
//
// With CELLTRACK_BENCH_AUD_CONFIG, a config directory in which aud is
// logged in to the same file, it also runs `trace lot` and `trace donor`
// (text, the default) of CELLTRACK_BENCH_LOT and CELLTRACK_BENCH_DONOR:
// the report built, verified and rendered, as the command does it.
func BenchmarkCommandHarnessDB(b *testing.B) {
	path, bag, config := os.Getenv("CELLTRACK_BENCH_DB"), os.Getenv("CELLTRACK_BENCH_BAG"), os.Getenv("CELLTRACK_BENCH_CONFIG")
	if path == "" || bag == "" || config == "" {
		b.Skip("CELLTRACK_BENCH_DB, CELLTRACK_BENCH_BAG and CELLTRACK_BENCH_CONFIG are not set")
	}
	audConfig := os.Getenv("CELLTRACK_BENCH_AUD_CONFIG")
	at := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, config string
		args         func(i int) []string
	}{
		{"dose-check", config, func(int) []string {
			return []string{"celltrack", "--db", path, "--user", "nina", "dose", "check", "--container", bag, "MRN-CHECK"}
		}},
		{"patient-weigh", config, func(i int) []string {
			return []string{"celltrack", "--db", path, "--user", "nina", "patient", "weigh", "--kg", "62.5",
				"--at", at.Add(time.Duration(i) * time.Second).Format(time.RFC3339), "MRN-1"}
		}},
		{"trace-lot", audConfig, func(int) []string {
			return []string{"celltrack", "--db", path, "--user", "aud", "trace", "lot", os.Getenv("CELLTRACK_BENCH_LOT")}
		}},
		{"trace-donor", audConfig, func(int) []string {
			return []string{"celltrack", "--db", path, "--user", "aud", "trace", "donor", os.Getenv("CELLTRACK_BENCH_DONOR")}
		}},
	} {
		if c.config == "" {
			continue
		}
		getenv := func(k string) string {
			if k == "CELLTRACK_CONFIG_DIR" {
				return c.config
			}
			return ""
		}
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if code := runEnv(c.args(i), nil, io.Discard, io.Discard, nil, getenv); code != 0 {
					b.Fatalf("exit %d", code)
				}
				i++
			}
		})
	}
}
