//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// abandoned says whether the temporary file at path is no longer being
// written: writeNewFile's copy is a bbolt file, which bbolt holds under an
// exclusive flock while it writes it, so a file nobody holds is one whose
// writer died (a killed migrate or backup).
func abandoned(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) || err != nil {
		return false
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}
