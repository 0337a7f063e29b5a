package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/celltrack/celltrack/internal/pgtest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celltrack/celltrack/store"
	"github.com/rogpeppe/go-internal/testscript"
)

// testNow is the fixed clock of the test stories unless a story sets
// CELLTRACK_TEST_NOW. Only the test binary reads that variable: the real
// binary always uses the real clock, so no one can back-date a record.
const testNow = "2026-11-25T09:00:00Z"

func TestMain(m *testing.M) {
	store.FailedPasswordDelay = 50 * time.Millisecond
	testscript.Main(cleanupM{m}, map[string]func(){
		"celltrack": func() {
			// Each person at their own workstation: with CELLTRACK_TEST_HOMES
			// set, the session files of the user named on the command line
			// live in a config dir of their own. This logs no one in.
			if homes := os.Getenv("CELLTRACK_TEST_HOMES"); homes != "" {
				if name := commandUser(os.Args[1:], os.Getenv("CELLTRACK_USER")); name != "" {
					os.Setenv("CELLTRACK_CONFIG_DIR", filepath.Join(homes, name))
				}
			}
			// In a story run through a server (TestScriptsThroughServer)
			// the commands the server serves go through it.
			done := throughServer(os.Args)
			code := run(os.Args, os.Stdin, os.Stdout, os.Stderr, testClock())
			done(code)
			os.Exit(code)
		},
	})
}

func testClock() func() time.Time {
	s := os.Getenv("CELLTRACK_TEST_NOW")
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic("CELLTRACK_TEST_NOW: " + err.Error())
	}
	return func() time.Time { return t }
}

func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script"))
}

func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("CELLTRACK_DB", filepath.Join(env.WorkDir, "ct.db"))
			env.Setenv("CELLTRACK_TEST_NOW", testNow)
			// Every person has a config dir of their own under
			// $CELLTRACK_TEST_HOMES (see TestMain); stories act as the lab
			// fixture's auditor unless they pass --user (or clear it with
			// `env CELLTRACK_USER=`). Each still needs a real login.
			env.Setenv("CELLTRACK_TEST_HOMES", filepath.Join(env.WorkDir, "homes"))
			env.Setenv("CELLTRACK_USER", "aud")
			return nil
		},
		// [server] is true while TestScriptsThroughServer runs the story
		// through a server: lines where the server's answer is worded
		// otherwise say so.
		Condition: func(cond string) (bool, error) {
			if cond == "server" || cond == "postgres" {
				return false, nil // [postgres]: TestScriptsOnPostgres
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":    cmdStatus,
			"dbsnap":    cmdDBSnap,
			"dbsame":    cmdDBSame,
			"auditsize": cmdAuditSize,
			"auditmark": cmdAuditMark,
			"auditgrew": cmdAuditGrew,
			"fixture":   cmdFixture,
			"golden":    cmdGolden,
			"dbedit":    cmdDBEdit,
			"dbdelete":  cmdDBDelete,
			"pgdb":      cmdPGDB,
			"dbsnapat":  cmdDBSnapAt,
			"dbsameat":  cmdDBSameAt,
			"dbschema":  cmdDBSchema,
		},
	}
}

// cmdStatus runs a command and checks its exact exit code:
//
//	status 3 celltrack lot register ...
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// cmdDBSnap remembers the database file's bytes (every row of every table
// on PostgreSQL); dbsame checks they did not change, which proves a refusal
// wrote nothing at all. Their arguments are labels for the reader only.
// dbsnapat DB and dbsameat DB do the same for another database (a
// migration's target): `dbsnapat $TARGET` ... `dbsameat $TARGET`.
func cmdDBSnap(ts *testscript.TestScript, neg bool, args []string) {
	ts.Setenv("DBSNAP", dbSum(ts, ts.Getenv("CELLTRACK_DB")))
}

func dbSum(ts *testscript.TestScript, db string) string {
	if store.IsPostgres(db) {
		d, err := pgtest.Digest(db) // every row of every table
		ts.Check(err)
		return d
	}
	sum := sha256.Sum256([]byte(ts.ReadFile(db)))
	return hex.EncodeToString(sum[:])
}

func cmdDBSame(ts *testscript.TestScript, neg bool, args []string) {
	same := ts.Getenv("DBSNAP") == dbSum(ts, ts.Getenv("CELLTRACK_DB"))
	if same == neg {
		ts.Fatalf("database changed since dbsnap: %v", !same)
	}
}

// dbSnapVar is where dbsnapat keeps the sum of the database db: one
// variable per database.
func dbSnapVar(db string) string {
	sum := sha256.Sum256([]byte(db))
	return "DBSNAP_" + hex.EncodeToString(sum[:6])
}

func cmdDBSnapAt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: dbsnapat DB")
	}
	ts.Setenv(dbSnapVar(args[0]), dbSum(ts, args[0]))
}

func cmdDBSameAt(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: dbsameat DB")
	}
	same := ts.Getenv(dbSnapVar(args[0])) == dbSum(ts, args[0])
	if same == neg {
		ts.Fatalf("database %s changed since dbsnapat: %v", args[0], !same)
	}
}

// cmdPGDB makes a new empty database on the story's PostgreSQL server and
// puts its URL in the named variable, for a story that needs a second
// database (a migration's target): `[postgres] pgdb TARGET`.
func cmdPGDB(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgdb VAR")
	}
	server := ts.Getenv("CELLTRACK_TEST_PG_SERVER")
	if server == "" {
		ts.Fatalf("pgdb: no PostgreSQL server in this run; guard the line with [postgres]")
	}
	u, drop, err := pgtest.CreateDatabase(server, "")
	ts.Check(err)
	ts.Defer(func() { drop() })
	ts.Setenv(args[0], u)
}

// cmdAuditSize checks the number of audit entries: auditsize 12
func cmdAuditSize(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: auditsize N")
	}
	n := scriptAuditCount(ts)
	if want, _ := strconv.Atoi(args[0]); (n == want) == neg {
		ts.Fatalf("audit trail has %d entries, want %s", n, args[0])
	}
}

// cmdAuditMark remembers the number of audit entries; `auditgrew N` then
// checks that exactly N entries were appended since, whatever the fixtures
// wrote before the mark.
func cmdAuditMark(ts *testscript.TestScript, neg bool, args []string) {
	ts.Setenv("AUDITMARK", strconv.Itoa(scriptAuditCount(ts)))
}

func cmdAuditGrew(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: auditgrew N")
	}
	mark, err := strconv.Atoi(ts.Getenv("AUDITMARK"))
	if err != nil {
		ts.Fatalf("auditgrew without auditmark")
	}
	n := scriptAuditCount(ts)
	if want, _ := strconv.Atoi(args[0]); (n-mark == want) == neg {
		ts.Fatalf("audit trail grew by %d entries since auditmark, want %s", n-mark, args[0])
	}
}

func scriptAuditCount(ts *testscript.TestScript) int {
	n, err := countAudit(ts.Getenv("CELLTRACK_DB"))
	ts.Check(err)
	return n
}

// countAudit returns the number of audit entries in the database at path.
func countAudit(path string) (int, error) {
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.AuditCount()
}

// fixturePassword is every fixture user's password. It passes the password
// policy (audit.CheckNewPassword) and contains no fixture user's name.
const fixturePassword = "amber-falcon-river-9"

// fixtureFirstPassword is the one-time password alice types at a fixture's
// `user add`; the user's first login changes it to fixturePassword.
const fixtureFirstPassword = "one-time-birch-comet-31"

// firstPasswordStdin is the standard input of a `user add` (the one-time
// password, then alice's own for a signed grant) and of the new user's
// first login (the one-time password, then fixturePassword).
const firstPasswordStdin = fixtureFirstPassword + "\n" + fixturePassword + "\n"

// fixtureStdin is the standard input of a fixture line: fixturePassword
// twice, except that `user add NAME` gives NAME the one-time first password
// (and alice's own on the second line, for a signed grant) and NAME's first
// login changes it to fixturePassword, as its owner does. added holds the
// names added in the run and not yet logged in.
func fixtureStdin(words []string, added map[string]bool) string {
	name, user := words[len(words)-1], slices.Index(words, "user")
	switch {
	case user >= 0 && user+1 < len(words) && words[user+1] == "add":
		added[name] = true
		return firstPasswordStdin
	case slices.Contains(words, "login") && added[name]:
		delete(added, name)
		return firstPasswordStdin
	}
	return strings.Repeat(fixturePassword+"\n", 2)
}

// commandUser is the person a command line is typed by, for the test's
// per-person config dirs: the --user value, else the NAME of `login NAME`,
// else CELLTRACK_USER.
func commandUser(args []string, env string) string {
	login := false
	for i, a := range args {
		switch {
		case (a == "--user" || a == "-user") && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "--user="):
			return strings.TrimPrefix(a, "--user=")
		case a == "login":
			login = true
		}
	}
	if login && len(args) > 0 && !strings.HasPrefix(args[len(args)-1], "-") && args[len(args)-1] != "login" {
		return args[len(args)-1]
	}
	return env
}

// personEnv is the environment of the person typing args (commandUser, or
// the auditor): CELLTRACK_CONFIG_DIR is their own config dir under homes,
// where their session files live, as at a workstation of their own.
func personEnv(homes string, args []string) func(string) string {
	cfg := filepath.Join(homes, commandUser(args, "aud"))
	return func(k string) string {
		if k == "CELLTRACK_CONFIG_DIR" {
			return cfg
		}
		return os.Getenv(k)
	}
}

// cmdFixture runs the celltrack command lines of testdata/fixtures/NAME.txt
// in-process against the story's database, so that stories share a setup
// instead of repeating it: `fixture lab`. Every password is fixturePassword.
func cmdFixture(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: fixture NAME")
	}
	var clock func() time.Time
	if now := ts.Getenv("CELLTRACK_TEST_NOW"); now != "" {
		t, err := time.Parse(time.RFC3339, now)
		ts.Check(err)
		clock = func() time.Time { return t }
	}
	inProcess.Lock()
	defer inProcess.Unlock()
	ts.Check(cachedFixture(ts.Getenv("CELLTRACK_DB"), ts.Getenv("CELLTRACK_TEST_HOMES"), args[0], clock, ts.Getenv("CELLTRACK_TEST_PG_SERVER")))
}

// fixtureCache holds what a fixture made from a given database (its bytes'
// SHA-256, "none" when absent) at a given clock: the new database and the
// session files it left for it. Many stories start from the same fixtures;
// each fixture's commands (with their logins and argon2 hashes) then run for
// real once per test binary, and later stories get a byte copy, with the
// session files renamed for their database's path (the copy holds the same
// sessions).
var fixtureCache = struct {
	sync.Mutex
	m map[string]fixtureResult
}{m: map[string]fixtureResult{}}

type fixtureResult struct {
	db       []byte
	template string            // on PostgreSQL: the database holding the result
	sessions map[string][]byte // user → session file
}

// On PostgreSQL (TestScriptsOnPostgres) the result is kept as a template
// database on the server at pgServer, and a story gets a copy of it.
func cachedFixture(dbPath, homes, name string, clock func() time.Time, pgServer string) error {
	before := "none"
	if store.IsPostgres(dbPath) {
		d, err := pgtest.Digest(dbPath)
		if err != nil {
			return err
		}
		before = "postgres:" + d
	} else if data, err := os.ReadFile(dbPath); err == nil {
		sum := sha256.Sum256(data)
		before = hex.EncodeToString(sum[:])
	}
	at := ""
	if clock != nil {
		at = clock().Format(time.RFC3339Nano)
	}
	key := before + "|" + name + "|" + at
	sessionFile := func(user string) string {
		rt := &runtime{getenv: func(string) string { return filepath.Join(homes, user) }}
		p, _ := rt.sessionFile(dbPath)
		return p
	}
	fixtureCache.Lock()
	r, ok := fixtureCache.m[key]
	fixtureCache.Unlock()
	if ok && r.template != "" {
		if err := pgtest.Recreate(pgServer, pgtest.Name(dbPath), r.template); err != nil {
			return err
		}
	} else if ok {
		if err := os.WriteFile(dbPath, r.db, 0o600); err != nil {
			return err
		}
	}
	if ok {
		for user, data := range r.sessions {
			p := sessionFile(user)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				return err
			}
		}
		return nil
	}
	if err := runFixture(dbPath, homes, name, clock); err != nil {
		return err
	}
	r = fixtureResult{sessions: map[string][]byte{}}
	var err error
	if store.IsPostgres(dbPath) {
		tmpl, drop, err := pgtest.CreateDatabase(pgServer, pgtest.Name(dbPath))
		if err != nil {
			return err
		}
		pgtest.Keep(drop)
		r.template = pgtest.Name(tmpl)
	} else if r.db, err = os.ReadFile(dbPath); err != nil {
		return err
	}
	users, _ := os.ReadDir(homes)
	for _, u := range users {
		if data, err := os.ReadFile(sessionFile(u.Name())); err == nil {
			r.sessions[u.Name()] = data
		}
	}
	fixtureCache.Lock()
	fixtureCache.m[key] = r
	fixtureCache.Unlock()
	return nil
}

// runFixture runs the command lines of testdata/fixtures/NAME.txt in-process
// against the database at dbPath, each in the config dir of the user it
// names under homes (see TestMain).
func runFixture(dbPath, homes, name string, clock func() time.Time) error {
	data, err := os.ReadFile(filepath.Join(fixtureDir, name+".txt"))
	if err != nil {
		return err
	}
	added := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words := splitWords(line)
		if words[0] != "celltrack" {
			return fmt.Errorf("fixture %s line %d: only celltrack commands are allowed", name, i+1)
		}
		argv := append([]string{"celltrack", "--db", dbPath}, words[1:]...)
		var stdout, stderr bytes.Buffer
		stdin := strings.NewReader(fixtureStdin(words, added))
		if code := runEnv(argv, stdin, &stdout, &stderr, clock, personEnv(homes, words[1:])); code != 0 {
			return fmt.Errorf("fixture %s line %d: %s: exit %d: %s", name, i+1, line, code, stderr.String())
		}
	}
	return nil
}

// fixtureDir is read before testscript changes directory.
var fixtureDir, _ = filepath.Abs(filepath.Join("testdata", "fixtures"))

// splitWords splits a fixture line into words; single or double quotes
// group words with spaces.
func splitWords(line string) []string {
	var words []string
	var cur strings.Builder
	quote, inWord := rune(0), false
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// goldenDir is read before testscript changes directory.
var goldenDir, _ = filepath.Abs(filepath.Join("testdata", "golden"))

var (
	sha256Hex = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	// treeRoot is an audit tree root as reports print it (base64 SHA-256).
	treeRoot = regexp.MustCompile(`root [A-Za-z0-9+/]{43}=`)
	dbField  = regexp.MustCompile(`(?m)^Database +/.*\n(?: {16}\S.*\n)*`)
	uuidText = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
)

// cmdGolden compares the last command's standard output with
// testdata/golden/NAME, after replacing what differs between runs (the
// audit chain head and other SHA-256 sums, record UUIDs, the database's
// absolute path) with <sha256>, <uuid> and <db>: `golden lookback.txt`. `go test -run TestScripts -update`
// rewrites the file; review the diff.
func cmdGolden(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: golden NAME")
	}
	got := uuidText.ReplaceAllString(sha256Hex.ReplaceAllString(ts.ReadFile("stdout"), "<sha256>"), "<uuid>")
	got = treeRoot.ReplaceAllString(got, "root <root>")
	// The database is named by its absolute path, which differs between
	// runs and, in text, wraps where its length says.
	got = dbField.ReplaceAllString(got, "Database        <db>\n")
	got = strings.ReplaceAll(got, ts.Getenv("CELLTRACK_DB"), "<db>")
	path := filepath.Join(goldenDir, args[0])
	if *update {
		ts.Check(os.MkdirAll(goldenDir, 0o755))
		ts.Check(os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	if err != nil {
		ts.Fatalf("%v (run `go test ./cmd/celltrack -run TestScripts -update` to create it)", err)
	}
	if got != string(want) {
		ts.Fatalf("stdout differs from testdata/golden/%s; run with -update and review the diff.\n--- got ---\n%s", args[0], got)
	}
}
