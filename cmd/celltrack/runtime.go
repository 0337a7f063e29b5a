package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Exit codes (README, "Exit codes"). One table, one function maps to it.
const (
	exitOK       = 0
	exitInternal = 1
	exitUsage    = 2
	exitRefused  = 3
	exitNoGo     = 4
	exitNotFound = 5
	exitNoDB     = 10
	exitBusy     = 11
	exitUnknown  = 12
)

// exitCode maps an error code to the process exit code.
func exitCode(code string) int {
	switch code {
	case "":
		return exitOK
	case lot.EUSAGE, lot.ESESSION:
		return exitUsage
	case lot.EINVALID, lot.EFORBIDDEN, lot.ECONFLICT, lot.EAUTH, lot.EPASSWORD:
		return exitRefused
	case lot.ENOGO:
		return exitNoGo
	case lot.ENOTFOUND:
		return exitNotFound
	case lot.ENODB:
		return exitNoDB
	case lot.EBUSY:
		return exitBusy
	case lot.EUNKNOWN:
		return exitUnknown
	}
	return exitInternal
}

// runtime is one invocation: its streams, clock and open database.
type runtime struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	db             *store.DB
	actionStarted  bool // false while urfave/cli is still parsing: its errors are usage errors
	json           bool
	stdinReader    *bufio.Reader
	notFound       string // an unknown command name, reported as a usage error
	required       map[*cli.Command][]string
	// getenv reads the environment (CELLTRACK_CONFIG_DIR); tests running
	// commands in-process give their own.
	getenv func(string) string
	// session is the checked login session of the command, if it needs one.
	session *store.SessionInfo
	// client is set when the command runs through a server (--server).
	client *serverClient
	// args is the command line as typed (args[0] the program).
	args []string
	// command is the name of the command run, after "celltrack" ("dose
	// check"), once its action has started: a refusal's field is worded
	// as that command takes it (flagHint).
	command string
}

// exit reports err on stderr (as JSON with --json) and returns the exit code.
func (rt *runtime) exit(err error) int {
	if err == nil && rt.notFound != "" {
		err = lot.Errorf(lot.EUSAGE, "%q is not a celltrack command; see `celltrack --help`", rt.notFound)
	}
	if err == nil {
		return exitOK
	}
	code := lot.ErrorCode(err)
	if !rt.actionStarted && code == lot.EINTERNAL {
		code, err = lot.EUSAGE, lot.Errorf(lot.EUSAGE, "%s; see --help", err.Error())
	}
	msg := worded(rt.command, err)
	field, command := lot.ErrorField(err), lot.ErrorCommand(err)
	if why := store.EngineCause(err); why != "" {
		msg += " (the database said: " + why + ")"
	}
	exit := exitCode(code)
	// A server's refusal exits with the exit code the server gave.
	var se *serverError
	if errors.As(err, &se) && se.Exit != 0 {
		exit = se.Exit
	}
	if rt.json {
		e := map[string]any{"code": code, "message": msg, "exit": exit}
		if field != "" {
			e["field"] = field
		}
		if command != "" {
			e["command"] = command
		}
		json.NewEncoder(rt.stderr).Encode(map[string]any{"error": e})
	} else {
		fmt.Fprintf(rt.stderr, "celltrack: %s\n", msg)
	}
	return exit
}

func (rt *runtime) closeDB() {
	if rt.db != nil {
		rt.db.Close()
		rt.db = nil
	}
}

// Access says how a command opens the database.
type access int

const (
	noDB access = iota
	// readDB opens the database read-only for an acting user who exists and
	// is not disabled: reads show patient data, and a regulated system knows
	// who reads it.
	readDB
	writeDB
	// checkDB opens read-only and checks the session without reading the
	// user records: only `celltrack check`, which shows no patient data and
	// must work when the users bucket is damaged.
	checkDB
	// authDB opens for writing without a session: logout and serve.
	authDB
	// loginDB is authDB for login, which makes a session: a file an older
	// celltrack wrote is opened as it is (store.OpenForLogin), for the
	// store to upgrade it when an admin proves their password and to refuse
	// anyone else with nothing written.
	loginDB
	// backupDB is readDB for backup: a file an older celltrack wrote is
	// opened as it is (store.OpenAsIs), read-only, and then no session
	// is checked — the command has the admin prove their password instead,
	// as only an admin's login, which writes, upgrades such a file.
	backupDB
)

// action wraps a command body: it refuses flags written after arguments and a
// wrong number of arguments, opens the database as the command needs, and
// hands over.
func (rt *runtime) action(mode access, nargs int, fn func(c *cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		rt.actionStarted = true
		rt.command = strings.TrimPrefix(c.Command.HelpName, "celltrack ")
		rt.json = flagValue(c, "json", (*cli.Context).Bool)
		if err := checkArgs(c, nargs); err != nil {
			return err
		}
		for _, name := range rt.required[c.Command] {
			if !c.IsSet(name) {
				return lot.Errorf(lot.EUSAGE, "`%s` needs --%s; see `%s --help`", c.Command.HelpName, name, c.Command.HelpName)
			}
		}
		if rt.client != nil && mode != noDB {
			// Through a server: the server holds the database and checks
			// the session again; login and logout make and end it.
			if mode != authDB && mode != loginDB {
				// Times are shown in the facility's zone, as locally.
				f, err := rt.client.useServerSession(c)
				if err != nil {
					return err
				}
				rt.client.facility = f.FIN
				if f.ZoneErr == nil {
					lot.SetDisplayZone(f.Zone)
				} else {
					fmt.Fprintf(rt.stderr, "celltrack: warning: %s; times below are shown in UTC\n", worded(rt.command, f.ZoneErr))
				}
				// The server's database migrated to the other engine: the
				// same one line as a local read prints.
				if f.Migrated != "" && mode != writeDB {
					fmt.Fprintf(rt.stderr, "celltrack: note: %s\n", f.Migrated)
				}
			}
			return fn(c)
		}
		if why, ok := onlyForFiles[c.Command.HelpName]; ok && store.IsPostgres(dbPath(c)) {
			return lot.Errorf(lot.EUSAGE, "`%s` is for the file engine, not PostgreSQL (%s): %s", c.Command.HelpName, dbName(c), why)
		}
		if mode != noDB {
			writable := mode == writeDB || mode == authDB || mode == loginDB
			opts := store.Options{ReadOnly: !writable, OneShot: writable && !manyEntries[c.Command.HelpName], Timeout: flagValue(c, "lock-timeout", (*cli.Context).Duration), Now: rt.now}
			// What the command reads before its own work is read in the
			// one transaction that checks the schema (store.Start): the
			// facility's zone, the migration mark (a write does not read
			// it here: the store refuses its write) and the session. The
			// session file is read first, and what is wrong with it is
			// said where the check would have said it, after the open.
			opts.Start = &store.Start{Mark: mode != writeDB}
			var sess loadedSession
			if checksSession(mode) {
				sess = rt.loadSessionFile(dbPath(c))
				if sess.err == nil {
					opts.Start.Credentials, opts.Start.SessionOnly = &sess.creds, mode == checkDB
				}
			}
			var db *store.DB
			var err error
			switch mode {
			case loginDB:
				db, err = store.OpenForLogin(dbPath(c), opts)
			case backupDB:
				db, err = store.OpenAsIs(dbPath(c), opts)
			default:
				db, err = store.Open(dbPath(c), opts)
			}
			if err != nil {
				return heldByServer(dbPath(c), err)
			}
			rt.db = db
			rt.warnWorldReadable(db.Path())
			st := db.Started()
			// Screens show local time at the facility; a course's screens
			// use its treating site's zone. A zone that cannot be read
			// leaves UTC (every time carries its offset), and the commands
			// that count days refuse on it themselves.
			if st.ZoneErr == nil {
				lot.SetDisplayZone(st.Zone)
			} else {
				fmt.Fprintf(rt.stderr, "celltrack: warning: %s; times below are shown in UTC\n", worded(rt.command, st.ZoneErr))
			}
			// A database migrated to the other engine still reads, and
			// says so in one line.
			if st.Mark != nil {
				fmt.Fprintf(rt.stderr, "celltrack: note: %s\n", st.Mark.Note())
			}
			if checksSession(mode) && db.Behind() == 0 {
				if sess.err != nil {
					return sess.err
				}
				if err := rt.takeSession(c, sess, st.Session, st.Next, st.SessionErr, db, mode); err != nil {
					return err
				}
			}
		}
		return fn(c)
	}
}

// checksSession says whether a command opened in mode acts in a login
// session, checked before its own work: every mode that opens the
// database but those that make or end one (login, logout, serve).
func checksSession(mode access) bool {
	return mode != noDB && mode != authDB && mode != loginDB
}

// checkArgs refuses anything that looks like a flag after the first
// positional argument — urfave/cli would silently ignore it, and a silently
// ignored flag at the bedside is a safety bug — and a wrong argument count.
func checkArgs(c *cli.Context, nargs int) error {
	args := c.Args().Slice()
	for i, a := range args {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			if i == 0 {
				return lot.Errorf(lot.EUSAGE, "%s is not a flag of `%s`; see `%s --help`", a, c.Command.HelpName, c.Command.HelpName)
			}
			return lot.Errorf(lot.EUSAGE, "flag %s comes after the argument %q and would be ignored; put every flag before the arguments: %s %s ... %s",
				a, args[0], c.Command.HelpName, a, args[0])
		}
	}
	switch {
	case nargs >= 0 && len(args) < nargs:
		return lot.Errorf(lot.EUSAGE, "`%s` needs %s; usage: %s [flags] %s", c.Command.HelpName, c.Command.ArgsUsage, c.Command.HelpName, c.Command.ArgsUsage)
	case nargs >= 0 && len(args) > nargs:
		want := "no arguments"
		if nargs > 0 {
			want = c.Command.ArgsUsage
		}
		return lot.Errorf(lot.EUSAGE, "`%s` takes %s but got %d: %s", c.Command.HelpName, want, len(args), strings.Join(args, " "))
	}
	return nil
}

// dbPath is the database file: --db, else CELLTRACK_DB (an empty value
// counts as unset), else ./celltrack.db.
func dbPath(c *cli.Context) string {
	if p := flagValue(c, "db", (*cli.Context).String); p != "" {
		return p
	}
	return defaultDB
}

// dbName is how output names the database: its path, or a PostgreSQL URL
// without the password (which no message, log or report may show).
func dbName(c *cli.Context) string { return store.DisplayName(dbPath(c)) }

// manyEntries are the commands that write many audit entries in one
// process, which compress them with the dictionary; every other command
// writes an entry or two and stores them uncompressed, without building
// the encoder (store.Options.OneShot).
var manyEntries = map[string]bool{"celltrack serve": true, "celltrack lot import": true}

// onlyForFiles are the commands that act on the database file itself, with
// what to do on PostgreSQL instead (README "PostgreSQL").
var onlyForFiles = map[string]string{
	"celltrack restore": "it replaces a database file; to put a backup snapshot onto PostgreSQL, `celltrack migrate --from SNAPSHOT --to` an empty database; to restore PostgreSQL itself, use the server's tools (point-in-time recovery or pg_restore into a new database), then run `celltrack audit verify --checkpoint`",
}

// actor is the acting user: the user of the command's checked session.
func actor(c *cli.Context) string {
	if u, ok := c.App.Metadata["user"].(string); ok {
		return u
	}
	return ""
}

// out prints v as JSON with --json, otherwise calls text.
func (rt *runtime) out(v any, text func(w io.Writer)) error {
	if rt.json {
		enc := json.NewEncoder(rt.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(rt.stdout)
	return nil
}

// password reads a password: one line of stdin with --password-stdin, else a
// prompt on the terminal. Each call reads the next line, so a command that
// needs two signatures reads two lines.
func (rt *runtime) password(c *cli.Context, prompt string) (string, error) {
	if c.Bool("password-stdin") {
		if rt.stdinReader == nil {
			rt.stdinReader = bufio.NewReader(rt.stdin)
		}
		line, err := rt.stdinReader.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" && err != nil {
			return "", lot.Errorf(lot.EUSAGE, "--password-stdin: no password line on standard input for %s", prompt)
		}
		return line, nil
	}
	f, ok := rt.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", lot.Errorf(lot.EUSAGE, "a password is needed for %s; type it at a terminal, or pass it on standard input with --password-stdin", prompt)
	}
	fmt.Fprintf(rt.stderr, "Password for %s: ", prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(rt.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(b), nil
}

// users is the service of accounts and signatures: the database, or the
// server with --server (which checks every password).
func (rt *runtime) users() audit.Users {
	if rt.client != nil {
		return web.NewRemoteUsers(rt.client, rt.client.signatures)
	}
	return rt.db
}

// mayAct refuses name before any password is asked when the permission
// table does not give name's role the action (a signature the role may not
// make): a password typed for nothing is not asked, read or counted.
func (rt *runtime) mayAct(name string, a audit.Action) error {
	u, err := rt.users().User(name)
	if err != nil {
		return err
	}
	return audit.Authorize(u, a)
}

// auditLog reads the audit trail: the database's, or the server's.
func (rt *runtime) auditLog() audit.Log {
	if rt.client != nil {
		return web.NewRemoteUsers(rt.client, rt.client.signatures)
	}
	return rt.db
}
