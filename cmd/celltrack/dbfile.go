package main

import (
	"fmt"
	"os"
)

// warnWorldReadable warns on stderr when the database file can be read by
// every user of the machine: it holds patients' names and health data. init
// creates it 0600; a copy or a careless chmod can widen it. It is a warning,
// not a refusal, so that a read at the bedside is never blocked by it.
func (rt *runtime) warnWorldReadable(path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return
	}
	fmt.Fprintf(rt.stderr, "celltrack: warning: %s is readable by every user on this machine (mode %s); it holds patient data: chmod 600 %s\n",
		path, fi.Mode().Perm(), path)
}
