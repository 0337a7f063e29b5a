package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	os.Exit(testscript.RunMain(cleanupM{m}, map[string]func() int{
		"celltrack": func() int { return run(os.Args, os.Stdin, os.Stdout, os.Stderr, testClock()) },
	}))
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
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":    cmdStatus,
			"dbsnap":    cmdDBSnap,
			"dbsame":    cmdDBSame,
			"auditsize": cmdAuditSize,
			"fixture":   cmdFixture,
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

// cmdDBSnap remembers the database file's bytes; dbsame checks they did not
// change, which proves a refusal wrote nothing at all.
func cmdDBSnap(ts *testscript.TestScript, neg bool, args []string) {
	ts.Setenv("DBSNAP", dbSum(ts))
}

func dbSum(ts *testscript.TestScript) string {
	sum := sha256.Sum256([]byte(ts.ReadFile(ts.Getenv("CELLTRACK_DB"))))
	return hex.EncodeToString(sum[:])
}

func cmdDBSame(ts *testscript.TestScript, neg bool, args []string) {
	same := ts.Getenv("DBSNAP") == dbSum(ts)
	if same == neg {
		ts.Fatalf("database changed since dbsnap: %v", !same)
	}
}

// cmdAuditSize checks the number of audit entries: auditsize 12
func cmdAuditSize(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: auditsize N")
	}
	db, err := store.Open(ts.Getenv("CELLTRACK_DB"), store.Options{ReadOnly: true})
	ts.Check(err)
	defer db.Close()
	n, err := db.AuditCount()
	ts.Check(err)
	if want, _ := strconv.Atoi(args[0]); (n == want) == neg {
		ts.Fatalf("audit trail has %d entries, want %s", n, args[0])
	}
}

// fixturePassword is every fixture user's password.
const fixturePassword = "test-password"

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
	ts.Check(runFixture(ts.Getenv("CELLTRACK_DB"), args[0], clock))
}

// runFixture runs the command lines of testdata/fixtures/NAME.txt in-process
// against the database at dbPath.
func runFixture(dbPath, name string, clock func() time.Time) error {
	data, err := os.ReadFile(filepath.Join(fixtureDir, name+".txt"))
	if err != nil {
		return err
	}
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
		stdin := strings.NewReader(strings.Repeat(fixturePassword+"\n", 2))
		if code := run(argv, stdin, &stdout, &stderr, clock); code != 0 {
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
