//go:build !unix

package store

import "os"

// keepOwner gives the copy to be put in place (tmp) the mode of the
// database it replaces (path); ownership is the system's own.
func keepOwner(path, tmp string) error {
	live, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return os.Chmod(tmp, live.Mode().Perm())
}
