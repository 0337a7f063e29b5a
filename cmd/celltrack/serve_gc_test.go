package main

import (
	"runtime/debug"
	"testing"
)

// TestPaceGC: the server and the traces pace the collector (paceGC) unless
// GOGC or GOMEMLIMIT is set, which then decide alone.
func TestPaceGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
	for _, tc := range []struct {
		name, gogc, gomemlimit string
		percent                int
		limit                  int64
	}{
		{"neither set", "", "", gcPercent, gcMemoryLimit},
		{"GOGC set", "50", "", 100, 1 << 40},
		{"GOMEMLIMIT set", "", "1GiB", 100, 1 << 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 40)
			paceGC()
			if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(1<<40); p != tc.percent || l != tc.limit {
				t.Errorf("GC percent %d, memory limit %d; want %d, %d", p, l, tc.percent, tc.limit)
			}
		})
	}
}
