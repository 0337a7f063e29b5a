package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
)

// defaultDB is the database file when neither --db nor CELLTRACK_DB names one.
const defaultDB = "celltrack.db"

// commonFlags are accepted before the command name and after it (before any
// argument): `celltrack --db x lot list` and `celltrack lot list --db x`.
// Only the top-level copies read the environment, so that a flag typed on the
// command line always beats CELLTRACK_DB or CELLTRACK_USER.
func commonFlags(top bool) []cli.Flag {
	env := func(name string) []string {
		if top {
			return []string{name}
		}
		return nil
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "db", Value: defaultDB, EnvVars: env("CELLTRACK_DB"), Usage: "the database `FILE` (env CELLTRACK_DB)"},
		&cli.StringFlag{Name: "user", EnvVars: env("CELLTRACK_USER"), Usage: "assert that the session's user is `NAME`; refused when it is someone else (env CELLTRACK_USER); log in with `celltrack login NAME`"},
		&cli.DurationFlag{Name: "lock-timeout", Value: store.DefaultTimeout, Usage: "how long to wait while another process holds the database"},
		&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON (errors as JSON on stderr)"},
		&cli.StringFlag{Name: "server", EnvVars: env("CELLTRACK_SERVER"), Usage: "run through the `URL` of a `celltrack serve`: every command but those on the database file itself (init, check, backup, restore, upgrade, migrate, serve, demo, audit key init, audit checkpoint) uses the server's database; a --db typed with it is refused (env CELLTRACK_SERVER)"},
	}
}

// flagValue returns a common flag's value from the command where it was
// typed, else from the top level (which also reads the environment), else
// the default. (The last context of the lineage is urfave/cli's empty root,
// which knows no flags: taking the default from it gave --db "".)
//
// A context says which flags were set in it (LocalFlagNames: typed, or read
// from the environment) by looking at those alone. IsSet, which flagValue
// asked before, looked a flag that was not set up among every flag of the
// lineage, and urfave/cli runs a regular expression over a flag's name to
// list its names: 61 of a write's 197 were flagValue's (issue 10; the rest
// are urfave/cli's own). The common flags have no aliases, so the two say
// the same of them (TestFlagValueIsIsSetsValue).
func flagValue[T any](c *cli.Context, name string, get func(*cli.Context, string) T) T {
	for _, cc := range c.Lineage() {
		if slices.Contains(cc.LocalFlagNames(), name) {
			return get(cc, name)
		}
	}
	return get(c, name)
}

func (rt *runtime) app() *cli.App { return rt.appFor(nil) }

// appFor is the application for the command line args: when args name a
// top-level command for certain, only that command's tree is built, since a
// process runs one command and building all of them was a tenth of a
// start-up; help, completion, a mistyped command or anything unusual before
// the command name gets the whole tree, as app does.
func (rt *runtime) appFor(args []string) *cli.App {
	var cmds []*cli.Command
	if name := topCommandName(args); name != "" && name != "completion" {
		for _, tc := range rt.topCommands() {
			if tc.name == name {
				cmds = []*cli.Command{tc.build()}
			}
		}
	}
	if cmds == nil {
		cmds = rt.commands()
	}
	app := &cli.App{
		Name:                 "celltrack",
		Usage:                "track MSC therapy from donor to vein: lots, release, dosing, chain of custody",
		Flags:                commonFlags(true),
		EnableBashCompletion: true,
		Reader:               rt.stdin,
		Writer:               rt.stdout,
		ErrWriter:            rt.stderr,
		ExitErrHandler:       func(*cli.Context, error) {}, // exit happens in main, after the database is closed
		CommandNotFound: func(c *cli.Context, name string) {
			rt.notFound = name
		},
		Commands:     cmds,
		OnUsageError: usageError,
		Before: func(c *cli.Context) error {
			rt.json = rt.json || c.Bool("json") // run may have seen --json already
			return nil
		},
	}
	rt.required = map[*cli.Command][]string{}
	rt.prepare(app.Commands, commonFlags(false))
	return app
}

// topCommandName is the top-level command of a command line — its first
// word after the common flags (commonFlags) and their values — or "" when
// that is not certain: no word, "--", or any other flag first (--help,
// --version, shell completion, a mistake), which urfave/cli then handles
// with the whole tree.
func topCommandName(args []string) string {
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "" || a == "-" || a == "--":
			return ""
		case a[0] != '-':
			return a
		}
		name, _, withValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		switch name {
		case "db", "user", "lock-timeout", "server":
			if !withValue {
				i++ // the value is the next word
			}
		case "json": // a bool flag takes no separate value
		default:
			return ""
		}
	}
	return ""
}

// prepare gives every leaf command the common flags, and takes over the
// check of required flags: urfave/cli would make it before celltrack sees a
// flag misplaced after an argument, and report the wrong problem. The leaf
// commands share one set of common flags: a process parses one command, and
// a set for each of the hundred leaves was a tenth of start-up's own work.
func (rt *runtime) prepare(cmds []*cli.Command, common []cli.Flag) {
	for _, c := range cmds {
		c.OnUsageError = usageError
		if len(c.Subcommands) > 0 {
			rt.prepare(c.Subcommands, common)
			continue
		}
		for _, f := range c.Flags {
			switch f := f.(type) {
			case *cli.StringFlag:
				if f.Required {
					f.Required, f.Usage = false, f.Usage+" (required)"
					rt.required[c] = append(rt.required[c], f.Name)
				}
			case *cli.IntFlag:
				if f.Required {
					f.Required, f.Usage = false, f.Usage+" (required)"
					rt.required[c] = append(rt.required[c], f.Name)
				}
			case *cli.StringSliceFlag:
				if f.Required {
					f.Required, f.Usage = false, f.Usage+" (required)"
					rt.required[c] = append(rt.required[c], f.Name)
				}
			}
		}
		c.Flags = append(c.Flags, common...)
		c.Action = rt.throughServer(c.Action)
	}
}

// throughServer wraps a command's action: with --server (or
// CELLTRACK_SERVER) a command the server serves runs as its client, and
// any other is refused before it does anything.
func (rt *runtime) throughServer(next cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		raw := flagValue(c, "server", (*cli.Context).String)
		if raw == "" || next == nil {
			if next == nil {
				return nil
			}
			if !noDatabase[c.Command.HelpName] {
				if err := store.CheckLocation("db", dbPath(c)); err != nil {
					return err
				}
			}
			return next(c)
		}
		rt.actionStarted = true
		rt.json = flagValue(c, "json", (*cli.Context).Bool)
		if noDatabase[c.Command.HelpName] {
			return next(c) // it needs no database: the same here as anywhere
		}
		if why, ok := fileLevel[c.Command.HelpName]; ok {
			return lot.Errorf(lot.EUSAGE, "`%s` does not run through a server (--server or CELLTRACK_SERVER %s): %s; run it on the server's machine, without CELLTRACK_SERVER",
				c.Command.HelpName, raw, why)
		}
		if !servedThroughServer(c.Command.HelpName) {
			return lot.Errorf(lot.EUSAGE, "`%s` does not run through a server (--server or CELLTRACK_SERVER %s) yet; run it where the database is, without CELLTRACK_SERVER",
				c.Command.HelpName, raw)
		}
		cl, err := rt.newServerClient(raw)
		if err != nil {
			return err
		}
		if db, ok := rt.typed("db"); ok {
			// CELLTRACK_SERVER often comes from a workstation's profile:
			// a --db typed for a training copy must not be ignored while
			// the write lands in the server's database.
			return lot.Errorf(lot.EUSAGE, "--db %s and --server (or CELLTRACK_SERVER) %s both say where the records are: through a server the server's database is used, never a file here; "+
				"drop --db to work on %s, or unset CELLTRACK_SERVER (and drop --server) to use %s — nothing was done", store.DisplayName(db), raw, raw, store.DisplayName(db))
		}
		rt.client = cl
		return next(c)
	}
}

// typed returns the value of the common flag --name (db, user) typed on
// the command line (the last, which is the one that counts), if one was —
// not its environment variable (CELLTRACK_DB, which a server's client
// ignores; CELLTRACK_USER, which login does not read).
func (rt *runtime) typed(name string) (value string, typed bool) {
	for i := 1; i < len(rt.args); i++ {
		a := rt.args[i]
		if a == "--" {
			break
		}
		switch {
		case a == "--"+name || a == "-"+name:
			value, typed = "", true
			if i+1 < len(rt.args) {
				value = rt.args[i+1]
			}
		case strings.HasPrefix(a, "--"+name+"="), strings.HasPrefix(a, "-"+name+"="):
			_, value, _ = strings.Cut(a, "=")
			typed = true
		}
	}
	return value, typed
}

// usageError reports a flag urfave/cli could not parse as a usage error
// naming the command, instead of printing the whole help on stdout, where a
// script reading --json output would choke on it.
func usageError(c *cli.Context, err error, _ bool) error {
	name := "celltrack"
	if c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	return lot.Errorf(lot.EUSAGE, "%v (in `%s`); see `%s --help`", err, name, name)
}

func example(lines ...string) string {
	s := "Example:\n"
	for _, l := range lines {
		s += "   " + l + "\n"
	}
	return s
}

func since(t time.Time) string { return fmt.Sprint(time.Since(t).Round(time.Millisecond)) }
