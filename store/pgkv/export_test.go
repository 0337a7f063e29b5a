package pgkv

// SetFlushAt makes transactions send their buffered writes after n, for a
// test of the sends in the middle of a transaction; the returned func
// restores the default.
func SetFlushAt(n int) func() {
	old := flushAt
	flushAt = n
	return func() { flushAt = old }
}
