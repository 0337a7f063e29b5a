package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
)

// The client side of a login session: one file per database, 0600, in a
// 0700 directory under the user's config directory (CELLTRACK_CONFIG_DIR
// overrides os.UserConfigDir()/celltrack). It is named from a hash of the
// database's absolute path and holds store.Credentials.

// configDir is where session files live.
func (rt *runtime) configDir() (string, error) {
	if d := rt.getenv("CELLTRACK_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", lot.Errorf(lot.EUSAGE, "no config directory for the session file (%v); set CELLTRACK_CONFIG_DIR", err)
	}
	return filepath.Join(d, "celltrack"), nil
}

// sessionFile is the session file of the database at dbPath.
func (rt *runtime) sessionFile(dbPath string) (string, error) {
	dir, err := rt.configDir()
	if err != nil {
		return "", err
	}
	if store.IsPostgres(dbPath) {
		// One session per database whatever the working directory; named
		// without the password, which must not reach the disk.
		sum := sha256.Sum256([]byte(store.DisplayName(dbPath)))
		return filepath.Join(dir, "session-"+hex.EncodeToString(sum[:12])+".json"), nil
	}
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return "", fmt.Errorf("absolute path of %s: %w", dbPath, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(dir, "session-"+hex.EncodeToString(sum[:12])+".json"), nil
}

// loadSession reads the session file of the database at dbPath.
func (rt *runtime) loadSession(dbPath string) (store.Credentials, string, error) {
	var c store.Credentials
	path, err := rt.sessionFile(dbPath)
	if err != nil {
		return c, "", err
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, path, lot.Errorf(lot.ESESSION, "not logged in to %s; log in with `celltrack login NAME`", store.DisplayName(dbPath))
	}
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Whoever can read the file can act as its user until it expires.
		return c, path, lot.Errorf(lot.ESESSION, "the session file %s is readable by others (mode %04o), so it is not used; log in again with `celltrack login NAME` (it is written 0600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, path, fmt.Errorf("read session file: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Token == "" {
		return c, path, lot.Errorf(lot.ESESSION, "the session file %s is not one celltrack wrote (it was edited by hand); log in again with `celltrack login NAME`", path)
	}
	return c, path, nil
}

// saveSession writes c to path, 0600 in a 0700 directory, replacing the
// file in one rename so that a reader never sees half a file.
func saveSession(path string, c store.Credentials) error {
	return saveJSONFile(path, c)
}

// useSession checks the session of this database for a command and makes
// its user the acting user: --user (or CELLTRACK_USER), when given, must name
// the same person. Reads check in a read-only transaction and refresh only
// the session file; writes are checked again inside their transaction.
func (rt *runtime) useSession(c *cli.Context, db *store.DB, mode access) error {
	return rt.useSessionOf(c, dbPath(c), db, mode)
}

// useSessionOf is useSession on the database at dbAt, opened as db (the
// source of `celltrack migrate`, which need not be --db).
func (rt *runtime) useSessionOf(c *cli.Context, dbAt string, db *store.DB, mode access) error {
	sess := rt.loadSessionFile(dbAt)
	if sess.err != nil {
		return sess.err
	}
	check := db.Session
	if mode == checkDB {
		check = db.SessionOnly
	}
	info, next, err := check(sess.creds)
	return rt.takeSession(c, sess, info, next, err, db, mode)
}

// loadedSession is a session file as loadSession read it: its credentials
// and path, or why it cannot be used.
type loadedSession struct {
	creds store.Credentials
	path  string
	err   error
}

func (rt *runtime) loadSessionFile(dbAt string) loadedSession {
	creds, path, err := rt.loadSession(dbAt)
	return loadedSession{creds, path, err}
}

// takeSession makes the user of the session of sess, checked by the store
// as info, next and err (Session's results), the acting user: --user (or
// CELLTRACK_USER), when given, must name the same person. The client's
// moved last activity is saved, and a write's handle checks the session
// again in its own transaction.
func (rt *runtime) takeSession(c *cli.Context, sess loadedSession, info store.SessionInfo, next store.Credentials, err error, db *store.DB, mode access) error {
	if err != nil {
		return err
	}
	if want := flagValue(c, "user", (*cli.Context).String); want != "" && want != info.User.Name {
		return lot.Errorf(lot.EUSAGE, "--user (or CELLTRACK_USER) %s names someone other than the session's user %s; log in as %s with `celltrack login %s`, or drop --user", want, info.User.Name, want, want)
	}
	if next != sess.creds {
		if err := saveSession(sess.path, next); err != nil {
			return err
		}
	}
	c.App.Metadata = map[string]any{"user": info.User.Name}
	rt.session = &info
	if mode == writeDB {
		rt.db = db.WithSession(next)
	}
	return nil
}

func (rt *runtime) loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "open a session on this database (password at a hidden prompt, or one line on stdin)",
		ArgsUsage: "NAME",
		Description: "Every command but init, login, isbt check, demo and completion needs a live session and\n" +
			"acts as its user. A session ends after the facility's idle expiry (15 min by default)\n" +
			"or absolute expiry (12 h), at `celltrack logout`, or when an admin disables, resets or\n" +
			"changes the account. 5 wrong passwords in a row lock the account (`celltrack settings`).\n" +
			"When the password must be changed (after `user reset`), the new one is asked next\n" +
			"(with --password-stdin: a second line).\n" +
			"On a database an older celltrack wrote, an admin's login (right password, role admin)\n" +
			"upgrades it first, as `celltrack upgrade` does, recorded in the audit trail as\n" +
			"database.upgrade; anyone else's login is refused (exit 3) with nothing written.\n\n" +
			example("celltrack login nina"),
		Flags: []cli.Flag{passwordStdinFlag},
		Action: rt.action(loginDB, 1, func(c *cli.Context) error {
			// NAME is who logs in. A --user typed on the same command
			// line must name the same person, as at every other command
			// (else the session opened here is refused by the next one
			// anyway). CELLTRACK_USER is not read here: it is the shell's
			// standing setting, and login is how the acting user changes.
			name := c.Args().First()
			if want, ok := rt.typed("user"); ok && want != name {
				return lot.FieldErrorf("user", lot.EUSAGE, "--user %s names someone other than %s, who is logging in; nothing was done — log in as %s with `celltrack login %s`, or drop --user to log in as %s", want, name, want, want, name)
			}
			if rt.client != nil {
				pw, err := rt.password(c, name)
				if err != nil {
					return err
				}
				v, err := rt.client.login(name, pw)
				if lot.ErrorCode(err) == lot.EPASSWORD {
					// As locally: the new password is asked, and the
					// login is made with the change.
					fmt.Fprintf(rt.stderr, "celltrack: the password of %s must be changed now.\n", name)
					np, perr := rt.password(c, "new password of "+name)
					if perr != nil {
						return perr
					}
					v, err = rt.client.loginChange(name, pw, np)
				}
				if err != nil {
					return err
				}
				idle := time.Duration(v.IdleExpirySeconds) * time.Second
				return rt.out(map[string]any{"user": v.User, "full_name": v.FullName, "role": v.Role, "server": rt.client.base,
					"expires": v.Expires, "idle_expiry_seconds": v.IdleExpirySeconds}, func(w io.Writer) {
					fmt.Fprintf(w, "logged in as %s (%s, %s) to %s until %s at the latest; idle after %s\n",
						v.User, v.FullName, v.Role, rt.client.base, lot.FormatTime(v.Expires), audit.FormatDuration(idle))
				})
			}
			path, err := rt.sessionFile(dbPath(c))
			if err != nil {
				return err
			}
			pw, err := rt.password(c, name)
			if err != nil {
				return err
			}
			behind := rt.db.Behind()
			creds, info, err := rt.db.Login(name, pw, func() (string, error) {
				fmt.Fprintf(rt.stderr, "celltrack: the password of %s must be changed now.\n", name)
				return rt.password(c, "new password of "+name)
			})
			if err != nil {
				return err
			}
			if err := saveSession(path, creds); err != nil {
				return err
			}
			set, err := rt.users().Settings()
			if err != nil {
				return err
			}
			view := sessionView(dbName(c), info, set)
			var variants []store.CaseVariants
			if behind != 0 {
				// The admin's login upgraded the file: said as `celltrack
				// upgrade` says it, with the codes QA must look at.
				v, note, err := rt.db.Schema()
				if err != nil {
					return err
				}
				if variants, err = rt.db.CaseVariants(); err != nil {
					return err
				}
				view["upgraded"] = map[string]any{"from": behind, "schema": v, "migration": note, "case_variants": variantsView(variants)}
			}
			return rt.out(view, func(w io.Writer) {
				if behind != 0 {
					v, _, _ := rt.db.Schema()
					fmt.Fprintf(w, "upgraded %s from schema version %d to %d (audit entry database.upgrade by %s)\n", dbName(c), behind, v, info.User.Name)
					for _, cv := range variants {
						fmt.Fprintln(w, "WARNING: "+cv.String())
					}
				}
				fmt.Fprintf(w, "logged in as %s (%s, %s) to %s until %s at the latest; idle after %s\n",
					info.User.Name, info.User.FullName, info.User.Role, dbName(c), lot.FormatTime(info.Session.Expires), audit.FormatDuration(set.IdleExpiry))
			})
		}),
	}
}

func (rt *runtime) logoutCommand() *cli.Command {
	return &cli.Command{
		Name:        "logout",
		Usage:       "end this database's session",
		ArgsUsage:   " ",
		Description: example("celltrack logout"),
		Action: rt.action(authDB, 0, func(c *cli.Context) error {
			if rt.client != nil {
				user, ended, err := rt.client.logout(func(user string) error { return logoutUser(c, user) })
				if err != nil {
					return err
				}
				if !ended {
					return rt.out(map[string]any{"logged_out": user, "ended": false}, func(w io.Writer) {
						fmt.Fprintf(w, "the session of %s had already ended; removed its session file\n", user)
					})
				}
				return rt.out(map[string]any{"logged_out": user, "ended": true}, func(w io.Writer) {
					fmt.Fprintf(w, "logged out %s from %s\n", user, rt.client.base)
				})
			}
			creds, path, err := rt.loadSession(dbPath(c))
			if err != nil {
				return err
			}
			if err := logoutUser(c, creds.User); err != nil {
				return err
			}
			u, err := rt.db.Logout(creds)
			os.Remove(path)
			if lot.ErrorCode(err) == lot.ESESSION {
				return rt.out(map[string]any{"logged_out": creds.User, "ended": false}, func(w io.Writer) {
					fmt.Fprintf(w, "the session of %s had already ended; removed its session file\n", creds.User)
				})
			}
			if err != nil {
				return err
			}
			return rt.out(map[string]any{"logged_out": u.Name, "ended": true}, func(w io.Writer) {
				fmt.Fprintf(w, "logged out %s from %s\n", u.Name, dbName(c))
			})
		}),
	}
}

// logoutUser refuses a logout whose --user (or CELLTRACK_USER) names
// someone other than user, the session's: the same answer on a database
// here and through a server.
func logoutUser(c *cli.Context, user string) error {
	if want := flagValue(c, "user", (*cli.Context).String); want != "" && want != user {
		return lot.FieldErrorf("user", lot.EUSAGE, "--user (or CELLTRACK_USER) %s names someone other than the session's user %s; nothing was done — drop --user to log %s out", want, user, user)
	}
	return nil
}

func (rt *runtime) whoamiCommand() *cli.Command {
	return &cli.Command{
		Name:        "whoami",
		Usage:       "print the session's user, role, database, start and expiry",
		ArgsUsage:   " ",
		Description: example("celltrack whoami"),
		Action: rt.action(readDB, 0, func(c *cli.Context) error {
			set, err := rt.users().Settings()
			if err != nil {
				return err
			}
			var info store.SessionInfo
			where := dbName(c)
			if rt.client != nil {
				if info.User, info.Session, err = web.RemoteSession(rt.client); err != nil {
					return err
				}
				where = rt.client.base
			} else {
				info = *rt.session
			}
			return rt.out(sessionView(where, info, set), func(w io.Writer) {
				fmt.Fprintf(w, "user      %s (%s, %s)\n", info.User.Name, info.User.FullName, info.User.Role)
				fmt.Fprintf(w, "database  %s\n", where)
				fmt.Fprintf(w, "started   %s\n", lot.FormatTime(info.Session.Created))
				fmt.Fprintf(w, "expires   %s, or after %s idle (at %s)\n", lot.FormatTime(info.Session.Expires), audit.FormatDuration(set.IdleExpiry), lot.FormatTime(idleEnd(info, set)))
			})
		}),
	}
}

func idleEnd(info store.SessionInfo, set audit.Settings) time.Time {
	t := info.Session.LastActivity.Add(set.IdleExpiry)
	if t.After(info.Session.Expires) {
		return info.Session.Expires
	}
	return t
}

func sessionView(db string, info store.SessionInfo, set audit.Settings) map[string]any {
	return map[string]any{"user": info.User.Name, "full_name": info.User.FullName, "role": info.User.Role, "database": db,
		"started": info.Session.Created, "expires": info.Session.Expires, "idle_expires": idleEnd(info, set)}
}
