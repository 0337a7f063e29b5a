package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
)

var passwordStdinFlag = &cli.BoolFlag{Name: "password-stdin", Usage: "read the password(s) from standard input, one per line"}

func (rt *runtime) initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create a new database with its facility number and first admin",
		ArgsUsage: " ",
		Description: "Only init creates a database; every other command refuses a missing file.\n" +
			"--tz is the facility's IANA time zone: days (\"day 7\", \"today\") are counted in it at every site without\n" +
			"a zone of its own, and screens show local time in it. Without --tz it is UTC, said in the output.\n\n" +
			example("printf 'correct horse battery\\n' | celltrack --db lab.db init --facility G1234 --tz Asia/Shanghai --admin alice --full-name 'Alice Admin' --password-stdin"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "facility", Required: true, Usage: "the ISBT 128 Facility Identification Number, e.g. G1234"},
			&cli.StringFlag{Name: "admin", Required: true, Usage: "the first admin's user name"},
			&cli.StringFlag{Name: "full-name", Usage: "the admin's printed name, shown on signatures (default: the user name)"},
			&cli.StringFlag{Name: "tz", Value: "UTC", Usage: "the facility's IANA time `ZONE`, e.g. Asia/Shanghai or America/New_York"},
			passwordStdinFlag,
		},
		Action: rt.action(noDB, 0, func(c *cli.Context) error {
			fin := c.String("facility")
			if err := lot.ValidateFIN(fin); err != nil {
				return err
			}
			zone, err := lot.LoadZone("--tz", c.String("tz"))
			if err != nil {
				return err
			}
			if err := folderExists(dbPath(c)); err != nil {
				return err
			}
			admin := audit.User{Name: c.String("admin"), FullName: c.String("full-name")}
			if admin.FullName == "" {
				admin.FullName = admin.Name
			}
			pw, err := rt.password(c, "new admin "+admin.Name)
			if err != nil {
				return err
			}
			// store.Create checks everything before it makes the file and
			// removes a file it made if init fails.
			db, u, err := store.Create(dbPath(c), store.Options{OneShot: true, Timeout: flagValue(c, "lock-timeout", (*cli.Context).Duration), Now: rt.now, Zone: zone.String()}, fin, admin, pw)
			if err != nil {
				return err
			}
			rt.db = db
			return rt.out(map[string]any{"database": dbName(c), "facility": fin, "admin": u.Name, "time_zone": zone.String()}, func(w io.Writer) {
				fmt.Fprintf(w, "created %s for facility %s; admin is %s\n", dbName(c), fin, u.Name)
				fmt.Fprintf(w, "facility time zone %s: days are counted in it at every site without a zone of its own\n", zone)
			})
		}),
	}
}

func (rt *runtime) userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage users and roles",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a user with a role (admin only)",
				ArgsUsage: "NAME",
				Description: "Roles: admin, lab, qa, physician, nurse, auditor.\n\n" +
					"The password is one-time, as after `user reset`: the admin typed it, so it signs nothing,\n" +
					"and the user's first login asks for a new one, chosen by the user.\n\n" +
					"Giving the role qa or physician is an e-signature of the admin: the admin's password is\n" +
					"asked after the new user's (with --password-stdin: a second line).\n\n" +
					example("printf 'amber-falcon-river-9\\n' | celltrack user add --role lab --full-name 'Liu Wei' --password-stdin liu"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "role", Required: true, Usage: "admin, lab, qa, physician, nurse or auditor"},
					&cli.StringFlag{Name: "full-name", Usage: "the printed name shown on signatures (default: NAME)"},
					passwordStdinFlag,
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					role, err := audit.ParseRole(c.String("role"))
					if err != nil {
						return err
					}
					u := audit.User{Name: c.Args().First(), FullName: c.String("full-name"), Role: role}
					if u.FullName == "" {
						u.FullName = u.Name
					}
					pw, err := rt.password(c, "new user "+u.Name)
					if err != nil {
						return err
					}
					adminPw, err := rt.grantPassword(c, role)
					if err != nil {
						return err
					}
					u, err = rt.users().AddUser(actor(c), u, pw, adminPw)
					if err != nil {
						return err
					}
					return rt.out(userView(u), func(w io.Writer) {
						fmt.Fprintf(w, "added user %s (%s); the password is one-time: it must be changed at the first login\n", u.Name, u.Role)
					})
				}),
			},
			{
				Name:      "list",
				Usage:     "list users: the staff directory, and to an admin or auditor each account's state",
				ArgsUsage: " ",
				Description: "Everyone sees the staff directory: name, role and printed name. Only an admin or an\n" +
					"auditor sees each account's state too (active, locked, disabled), its last login and its\n" +
					"password's age.\n\n" +
					example("celltrack --user alice user list"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					viewer, err := rt.users().User(actor(c))
					if err != nil {
						return err
					}
					us, err := rt.users().Users(viewer.Name)
					if err != nil {
						return err
					}
					if !audit.SeesAccountState(viewer.Role) {
						return rt.out(directoryViews(us), func(w io.Writer) {
							tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
							fmt.Fprintln(tw, "NAME\tROLE\tFULL NAME")
							for _, u := range us {
								fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, u.FullName)
							}
							tw.Flush()
						})
					}
					set, err := rt.users().Settings()
					if err != nil {
						return err
					}
					now := rt.clock()
					views := make([]map[string]any, len(us))
					for i, u := range us {
						views[i] = userView(u)
						views[i]["status"], views[i]["locked_until"] = userStatus(u, now), lockedUntil(u, now)
						views[i]["last_login"], views[i]["password_changed"] = timeOrNil(u.LastLogin), timeOrNil(u.PasswordChanged)
						views[i]["must_change_password"] = audit.PasswordExpired(u, now, set)
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tLAST LOGIN\tPASSWORD AGE\tFULL NAME")
						for _, u := range us {
							age := "-"
							if !u.PasswordChanged.IsZero() {
								age = fmt.Sprintf("%dd", int(now.Sub(u.PasswordChanged).Hours()/24))
							}
							if audit.PasswordExpired(u, now, set) {
								age += " (must change)"
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, userStatus(u, now), orDash(u.LastLogin), age, u.FullName)
						}
						tw.Flush()
					})
				}),
			},
			{
				Name:        "disable",
				Usage:       "disable a user (admin only); the user's records stay",
				ArgsUsage:   "NAME",
				Description: example("celltrack --user alice user disable --reason 'left the unit' liu"),
				Flags:       []cli.Flag{&cli.StringFlag{Name: "reason", Required: true, Usage: "why the user is disabled"}},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					u, err := rt.users().DisableUser(actor(c), c.Args().First(), c.String("reason"), nil)
					if err != nil {
						return err
					}
					return rt.out(userView(u), func(w io.Writer) { fmt.Fprintf(w, "disabled user %s\n", u.Name) })
				}),
			},
			rt.adminUserCommand("enable", "enable a disabled user again (admin only)", "celltrack user enable --reason 'back from leave' liu",
				func(c *cli.Context, name, reason string) (audit.User, string, error) {
					u, err := rt.users().EnableUser(actor(c), name, reason, nil)
					return u, "enabled user " + name, err
				}),
			rt.adminUserCommand("unlock", "lift a lockout after wrong passwords (admin only)", "celltrack user unlock --reason 'identity checked by phone' nina",
				func(c *cli.Context, name, reason string) (audit.User, string, error) {
					u, err := rt.users().UnlockUser(actor(c), name, reason, nil)
					return u, "unlocked user " + name, err
				}),
			{
				Name:      "reset",
				Usage:     "set a one-time password that NAME must change at the next login (admin only)",
				ArgsUsage: "NAME",
				Description: "The user's sessions end and any lockout is lifted. The one-time password must pass the\n" +
					"password policy; give it to the person out of band.\n\n" +
					example("celltrack user reset --reason 'forgot the password' --password-stdin nina"),
				Flags: []cli.Flag{&cli.StringFlag{Name: "reason", Required: true, Usage: "why the password is reset"}, passwordStdinFlag},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					name := c.Args().First()
					pw, err := rt.password(c, "one-time password of "+name)
					if err != nil {
						return err
					}
					u, err := rt.users().ResetPassword(actor(c), name, pw, c.String("reason"), nil)
					if err != nil {
						return err
					}
					return rt.out(userView(u), func(w io.Writer) {
						fmt.Fprintf(w, "reset the password of %s; it must be changed at the next login\n", name)
					})
				}),
			},
			{
				Name:      "role",
				Usage:     "give NAME another role (admin only); qa and physician need the admin's signature",
				ArgsUsage: "NAME ROLE",
				Description: "The user's sessions end. Giving qa or physician is an e-signature of the admin: the\n" +
					"admin's password is asked.\n\n" +
					example("celltrack user role --reason 'moved to QA' --password-stdin liu qa"),
				Flags: []cli.Flag{&cli.StringFlag{Name: "reason", Required: true, Usage: "why the role changes"}, passwordStdinFlag},
				Action: rt.action(writeDB, 2, func(c *cli.Context) error {
					name := c.Args().Get(0)
					role, err := audit.ParseRole(c.Args().Get(1))
					if err != nil {
						return err
					}
					adminPw, err := rt.grantPassword(c, role)
					if err != nil {
						return err
					}
					u, err := rt.users().SetRole(actor(c), name, role, c.String("reason"), adminPw)
					if err != nil {
						return err
					}
					return rt.out(userView(u), func(w io.Writer) { fmt.Fprintf(w, "user %s now has role %s\n", name, u.Role) })
				}),
			},
			{
				Name:      "passwd",
				Usage:     "change your own password (the current one, then the new one)",
				ArgsUsage: " ",
				Description: "The new password needs at least 12 characters, must not contain your user name or a\n" +
					"part of your printed name, and must not be easy to guess (zxcvbn strength 3 of 4).\n\n" +
					example("celltrack user passwd"),
				Flags: []cli.Flag{passwordStdinFlag},
				Action: rt.action(writeDB, 0, func(c *cli.Context) error {
					old, err := rt.password(c, "current password of "+actor(c))
					if err != nil {
						return err
					}
					pw, err := rt.password(c, "new password of "+actor(c))
					if err != nil {
						return err
					}
					u, err := rt.users().ChangePassword(actor(c), old, pw, nil)
					if err != nil {
						return err
					}
					return rt.out(userView(u), func(w io.Writer) { fmt.Fprintf(w, "changed the password of %s\n", u.Name) })
				}),
			},
		},
	}
}

// adminUserCommand is an admin's change to an account that needs only a
// reason.
func (rt *runtime) adminUserCommand(name, usage, ex string, fn func(c *cli.Context, name, reason string) (audit.User, string, error)) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "NAME", Description: example(ex),
		Flags: []cli.Flag{&cli.StringFlag{Name: "reason", Required: true, Usage: "why"}},
		Action: rt.action(writeDB, 1, func(c *cli.Context) error {
			u, msg, err := fn(c, c.Args().First(), c.String("reason"))
			if err != nil {
				return err
			}
			return rt.out(userView(u), func(w io.Writer) { fmt.Fprintln(w, msg) })
		}),
	}
}

// grantPassword reads the admin's password when role needs a signed grant.
func (rt *runtime) grantPassword(c *cli.Context, role audit.Role) (string, error) {
	if role != audit.QA && role != audit.Physician {
		return "", nil
	}
	return rt.password(c, actor(c)+" (admin), signing the grant of role "+string(role))
}

func userStatus(u audit.User, now time.Time) string {
	switch {
	case u.Disabled:
		return "disabled"
	case u.Locked(now):
		return "locked"
	}
	return "active"
}

func lockedUntil(u audit.User, now time.Time) any {
	if u.Locked(now) {
		return u.LockedUntil
	}
	return nil
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func orDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return lot.FormatTime(t)
}

// directoryViews are the staff directory's entries (audit.Directory) as
// `user list --json` gives them to a role that does not see account state:
// no field of the account's state, not even a false or empty one.
func directoryViews(us []audit.User) []map[string]any {
	vs := make([]map[string]any, len(us))
	for i, u := range us {
		vs[i] = map[string]any{"id": u.ID, "name": u.Name, "full_name": u.FullName, "role": u.Role}
	}
	return vs
}

func userView(u audit.User) map[string]any {
	return map[string]any{"id": u.ID, "name": u.Name, "full_name": u.FullName, "role": u.Role, "disabled": u.Disabled, "created_at": u.CreatedAt}
}

// folderExists refuses, before any password is asked, an init whose --db
// file would go in a folder that does not exist (a mistyped path): init
// makes the database file, never the folders above it.
func folderExists(path string) error {
	if store.IsPostgres(path) {
		return nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return lot.FieldErrorf("db", lot.EINVALID, "--db %s: the folder %s does not exist; check the path, or make the folder first (mkdir -p %s) — nothing was created", path, dir, dir)
	case err == nil && !fi.IsDir():
		return lot.FieldErrorf("db", lot.EINVALID, "--db %s: %s is a file, not a folder; check the path — nothing was created", path, dir)
	}
	return nil // any other error is the open's to report
}
