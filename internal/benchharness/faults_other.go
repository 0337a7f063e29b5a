//go:build !unix

package main

import "os"

// minorFaults is -1 where the system does not report page faults.
func minorFaults(*os.ProcessState) int64 { return -1 }
