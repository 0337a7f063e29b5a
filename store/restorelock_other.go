//go:build !unix

package store

import (
	"time"

	"github.com/celltrack/celltrack/lot"
)

// lockDamaged refuses: without flock this celltrack cannot tell whether
// another celltrack holds a file bbolt does not open, and a restore must not
// rename a file in use.
func lockDamaged(path string, timeout time.Duration) (func(), error) {
	return nil, lot.Errorf(lot.ECONFLICT, "%s does not open as a database, and on this system restore cannot lock such a file to make sure no celltrack uses it; stop every celltrack, move the file aside and copy the backup into its place, then run the database check", path).Run("check")
}
