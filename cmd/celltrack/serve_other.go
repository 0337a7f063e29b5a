//go:build !unix

package main

// processAlive cannot tell on this system; the server file is then trusted,
// and a stale one shows an address no server answers at.
func processAlive(pid int) bool { return true }
