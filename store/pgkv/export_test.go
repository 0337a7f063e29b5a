package pgkv

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SetFlushAt makes transactions send their buffered writes after n, for a
// test of the sends in the middle of a transaction; the returned func
// restores the default.
func SetFlushAt(n int) func() {
	old := flushAt
	flushAt = n
	return func() { flushAt = old }
}

// Pending is how many keys the write transaction tx holds unsent.
func Pending(t any) int { return t.(*tx).pendingN }

// SetConfigHook makes every engine opened from now on pass its pool's
// configuration to hook first; the returned func removes it.
func SetConfigHook(hook func(*pgxpool.Config)) func() {
	configHook = hook
	return func() { configHook = nil }
}

// SetCopyMin makes a flush send the pairs of a table by COPY from n of
// them (copy.go); the returned func restores the default.
func SetCopyMin(n int) func() {
	old := copyMin
	copyMin = n
	return func() { copyMin = old }
}

// SetHeldFor makes a held read transaction end after d (Engine.hold); the
// returned func restores the default.
func SetHeldFor(d time.Duration) func() {
	old := heldFor
	heldFor = d
	return func() { heldFor = old }
}
