//go:build !unix

package store

import (
	"fmt"
	"os"
)

// keepOwner gives the copy a restore puts in place the replaced file's
// mode; ownership is not a file mode on this system.
func keepOwner(live, tmp string) error {
	li, err := os.Lstat(live)
	if err != nil {
		return fmt.Errorf("read the mode of %s: %w", live, err)
	}
	if err := os.Chmod(tmp, li.Mode().Perm()); err != nil {
		return fmt.Errorf("give %s the mode of %s: %w", tmp, live, err)
	}
	return nil
}
