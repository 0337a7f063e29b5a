package main

import (
	"fmt"
	"io"
	"text/tabwriter"

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
			db, u, err := store.Create(dbPath(c), store.Options{Timeout: flagValue(c, "lock-timeout", (*cli.Context).Duration), Now: rt.now, Zone: zone.String()}, fin, admin, pw)
			if err != nil {
				return err
			}
			rt.db = db
			return rt.out(map[string]any{"database": dbPath(c), "facility": fin, "admin": u.Name, "time_zone": zone.String()}, func(w io.Writer) {
				fmt.Fprintf(w, "created %s for facility %s; admin is %s\n", dbPath(c), fin, u.Name)
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
					example("printf 'lab-password-1\\n' | celltrack --user alice user add --role lab --full-name 'Liu Lab' --password-stdin liu"),
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
					u, err = rt.db.AddUser(actor(c), u, pw)
					if err != nil {
						return err
					}
					return rt.out(userView(u), func(w io.Writer) { fmt.Fprintf(w, "added user %s (%s)\n", u.Name, u.Role) })
				}),
			},
			{
				Name:        "list",
				Usage:       "list users",
				ArgsUsage:   " ",
				Description: example("celltrack --user alice user list"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					us, err := rt.db.Users()
					if err != nil {
						return err
					}
					views := make([]map[string]any, len(us))
					for i, u := range us {
						views[i] = userView(u)
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tFULL NAME")
						for _, u := range us {
							st := "active"
							if u.Disabled {
								st = "disabled"
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, st, u.FullName)
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
					u, err := rt.db.DisableUser(actor(c), c.Args().First(), c.String("reason"))
					if err != nil {
						return err
					}
					return rt.out(userView(u), func(w io.Writer) { fmt.Fprintf(w, "disabled user %s\n", u.Name) })
				}),
			},
		},
	}
}

func userView(u audit.User) map[string]any {
	return map[string]any{"id": u.ID, "name": u.Name, "full_name": u.FullName, "role": u.Role, "disabled": u.Disabled, "created_at": u.CreatedAt}
}
