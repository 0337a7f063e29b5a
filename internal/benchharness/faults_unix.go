//go:build unix

package main

import (
	"os"
	"syscall"
)

// minorFaults is the minor page faults of a finished process (rusage
// ru_minflt): unlike its CPU time, the count does not move with the load of
// a shared machine, so it shows a change of a few tens of µs that CPU
// medians at load 10–20 cannot (issue 10: a write's fresh heap pages and a
// larger binary cost ~2–5 µs a fault).
func minorFaults(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Minflt)
	}
	return -1
}
