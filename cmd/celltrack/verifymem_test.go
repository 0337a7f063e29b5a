package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestVerifyBoundsItsMemory: a local `audit verify` sets the soft memory
// limit that keeps the 100k verify under 256 MiB (boundVerifyMemory), and
// leaves the process's pacing alone when GOMEMLIMIT or GOGC is given.
func TestVerifyBoundsItsMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)

	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	debug.SetMemoryLimit(math.MaxInt64)
	boundVerifyMemory()
	if got := debug.SetMemoryLimit(-1); got != verifyMemoryLimit {
		t.Errorf("memory limit after boundVerifyMemory: %d, want %d", got, verifyMemoryLimit)
	}

	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(math.MaxInt64)
	boundVerifyMemory()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory limit with GOMEMLIMIT given: %d, want it untouched", got)
	}
}
