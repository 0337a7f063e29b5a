//go:build unix

package store

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/celltrack/celltrack/lot"
)

// chown is os.Chown; a test replaces it to be refused as a user who is not
// root would be.
var chown = os.Chown

// keepOwner gives the copy a restore is about to put in place (tmp)
// the replaced file's owner, group and mode, so that the account that ran
// the database (a server's own) can open it after a restore run as
// another (root, under sudo, in an emergency), and a group read an
// operator gave stays given. It refuses (ECONFLICT, before anything is
// changed: the caller removes tmp) when it cannot: restore then names the
// owner to run it as.
func keepOwner(live, tmp string) error {
	li, err := os.Lstat(live)
	if err != nil {
		return fmt.Errorf("read the owner of %s: %w", live, err)
	}
	ti, err := os.Lstat(tmp)
	if err != nil {
		return fmt.Errorf("read the owner of %s: %w", tmp, err)
	}
	ls, ok1 := li.Sys().(*syscall.Stat_t)
	ts, ok2 := ti.Sys().(*syscall.Stat_t)
	if ok1 && ok2 && (ls.Uid != ts.Uid || ls.Gid != ts.Gid) {
		if err := chown(tmp, int(ls.Uid), int(ls.Gid)); err != nil {
			return lot.FieldErrorf("db", lot.ECONFLICT, "%s belongs to %s, group %s (mode %04o); restore, running as %s, cannot give the restored file the same owner (%v), and the account that uses the database could then not open it; run restore as %s or as root — nothing was restored", live, userName(ls.Uid), groupName(ls.Gid), li.Mode().Perm(), userName(uint32(os.Geteuid())), errCause(err), userName(ls.Uid))
		}
	}
	if li.Mode().Perm() != ti.Mode().Perm() {
		if err := os.Chmod(tmp, li.Mode().Perm()); err != nil {
			return fmt.Errorf("give %s the mode %04o of %s: %w", tmp, li.Mode().Perm(), live, err)
		}
	}
	return nil
}

// userName is "name (uid N)", or "uid N" for an id with no name here.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

// groupName is "name (gid N)", or "gid N".
func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name + " (gid " + id + ")"
	}
	return "gid " + id
}

// errCause is a path error's cause alone ("operation not permitted"): the
// message names the files itself.
func errCause(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
