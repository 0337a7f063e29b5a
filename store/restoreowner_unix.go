//go:build unix

package store

import (
	"fmt"
	"os"
	"os/user"
	"syscall"

	"github.com/celltrack/celltrack/lot"
)

// keepOwner gives the copy to be put in place (tmp) the owner, group and
// mode of the database it replaces (path): a restore run as root (sudo, in
// an emergency) over the service account's file must not leave the server
// a file it cannot open, nor drop the group read an operator gave. It
// refuses, before anything is changed, when this process cannot give the
// copy that owner or group, naming them and the account to run as.
func keepOwner(path, tmp string) error {
	live, err := os.Stat(path)
	if err != nil {
		return nil // checkLivePath found it; a file gone since fails the rename
	}
	want, ok := live.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	cp, err := os.Stat(tmp)
	if err != nil {
		return fmt.Errorf("the copy %s: %w", tmp, err)
	}
	if got := cp.Sys().(*syscall.Stat_t); got.Uid != want.Uid || got.Gid != want.Gid {
		if err := os.Chown(tmp, int(want.Uid), int(want.Gid)); err != nil {
			owner, group := fmt.Sprint(want.Uid), fmt.Sprint(want.Gid)
			if u, err := user.LookupId(owner); err == nil {
				owner = u.Username
			}
			if g, err := user.LookupGroupId(group); err == nil {
				group = g.Name
			}
			return lot.FieldErrorf("db", lot.EINVALID, "the database %s belongs to user %s, group %s, and this restore (run as uid %d) cannot give the restored file that owner and group (%v): the server, run as its own account, could not open it; run restore as %s (or as root) — nothing was restored", path, owner, group, os.Geteuid(), err, owner)
		}
	}
	if err := os.Chmod(tmp, live.Mode().Perm()); err != nil {
		return fmt.Errorf("give the copy %s the mode of %s (%04o): %w", tmp, path, live.Mode().Perm(), err)
	}
	return nil
}
