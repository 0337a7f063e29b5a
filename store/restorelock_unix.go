//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// lockDamaged takes the lock bbolt would take (an exclusive flock) on a
// file that bbolt refused to open as a database, so that a restore over a
// damaged file still waits for, and is refused by, any celltrack that holds
// it. It returns the function that releases it.
func lockDamaged(path string, timeout time.Duration) (func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, lot.Errorf(lot.EINVALID, "%s cannot be opened to lock it (%v); nothing was restored", path, err)
	}
	if openHook != nil {
		openHook(path)
	}
	start := time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			unlock := func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
			// Another restore may have put a file in place while this one
			// waited: the lock is then that of the file it renamed aside.
			fi, ferr := f.Stat()
			pi, perr := os.Stat(path)
			if ferr != nil || perr != nil || !os.SameFile(fi, pi) {
				unlock()
				return nil, lot.Errorf(lot.EBUSY, "%s was replaced while restore waited for its lock (another restore, or a file moved into place); nothing was restored — check what is at %s now and run restore again if it is still needed", path, path)
			}
			return unlock, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, lot.Errorf(lot.EINVALID, "%s cannot be locked (%v); nothing was restored", path, err)
		}
		if time.Since(start) > timeout {
			f.Close()
			return nil, lot.Errorf(lot.EBUSY, "%s is in use by another celltrack (a server, or another command); stop it before restoring", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
