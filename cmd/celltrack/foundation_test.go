package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
)

// newCLIDB creates a database with `celltrack init` in a temp dir and returns
// its path.
func newCLIDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ct.db")
	var out, errb bytes.Buffer
	code := run([]string{"celltrack", "--db", path, "init", "--facility", "G1234", "--admin", "alice", "--password-stdin"},
		strings.NewReader(fixturePassword+"\n"), &out, &errb, nil)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb.String())
	}
	if code, _, stderr := runCLIStdin(path, fixturePassword+"\n", "login", "--password-stdin", "alice"); code != 0 {
		t.Fatalf("login: exit %d: %s", code, stderr)
	}
	return path
}

// runCLI runs a command line in-process on the real clock, in the config
// dir of the user it names (see celltrack).
func runCLI(path string, args ...string) (int, string, string) {
	return runCLIStdin(path, "", args...)
}

func runCLIStdin(path, stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	cfg := filepath.Join(homesOf(path), commandUser(args, "aud"))
	getenv := func(k string) string {
		if k == "CELLTRACK_CONFIG_DIR" {
			return cfg
		}
		return os.Getenv(k)
	}
	code := runEnv(append([]string{"celltrack", "--db", path}, args...), strings.NewReader(stdin), &out, &errb, nil, getenv)
	return code, out.String(), errb.String()
}

// TestBusyDatabase holds the database open for writing, as a second process
// would, and shows a command failing after --lock-timeout with exit 11 and
// "database is busy" (no wall-clock assertion: bbolt polls the lock).
func TestBusyDatabase(t *testing.T) {
	path := newCLIDB(t)
	holder, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(path, "--user", "alice", "--lock-timeout", "100ms", "user", "list")
	if code != exitBusy || !strings.Contains(stderr, "database is busy") || !strings.Contains(stderr, "--lock-timeout") {
		t.Fatalf("exit %d, stderr %q; want 11 and 'database is busy'", code, stderr)
	}
	code, _, stderr = runCLI(path, "--user", "alice", "--json", "--lock-timeout", "50ms", "user", "list")
	if code != exitBusy || !strings.Contains(stderr, `"code":"busy","exit":11`) {
		t.Fatalf("--json: exit %d, stderr %q", code, stderr)
	}
	holder.Close()
	if code, _, stderr := runCLI(path, "--user", "alice", "--lock-timeout", "100ms", "user", "list"); code != 0 {
		t.Fatalf("after the holder closed: exit %d: %s", code, stderr)
	}
}

// TestDatabaseFileIsPrivate checks init creates the file 0600 and that a
// world-readable database draws a warning on stderr (but still works).
func TestDatabaseFileIsPrivate(t *testing.T) {
	path := newCLIDB(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("init created the database with mode %s, want -rw-------", perm)
	}
	if code, _, stderr := runCLI(path, "--user", "alice", "user", "list"); code != 0 || stderr != "" {
		t.Fatalf("private database: exit %d, stderr %q; want silence", code, stderr)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(path, "--user", "alice", "user", "list")
	if code != 0 || !strings.Contains(stdout, "alice") {
		t.Fatalf("world-readable database: exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, "warning: "+path+" is readable by every user on this machine (mode -rw-r--r--)") || !strings.Contains(stderr, "chmod 600") {
		t.Fatalf("no warning for a world-readable database: %q", stderr)
	}
}

// TestEveryCommandHelpShowsAnExample walks the command tree: every leaf
// command's Description has an example that runs that very command, and
// `--help` prints it.
func TestEveryCommandHelpShowsAnExample(t *testing.T) {
	rt := &runtime{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	var walk func(path []string, cmds []*cli.Command)
	leaves := 0
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(append([]string(nil), path...), c.Name)
			if len(c.Subcommands) > 0 {
				walk(p, c.Subcommands)
				continue
			}
			leaves++
			name := strings.Join(p, " ")
			ex, found := strings.CutPrefix(c.Description[strings.Index(c.Description+"Example:", "Example:"):], "Example:\n")
			if !found || !strings.Contains(ex, " "+name) {
				t.Errorf("`celltrack %s`: Description has no example of `celltrack %s`:\n%s", name, name, c.Description)
				continue
			}
			code, stdout, stderr := runCLI(filepath.Join(t.TempDir(), "none.db"), append(p, "--help")...)
			if code != 0 || !strings.Contains(stdout, "Example:") || !strings.Contains(stdout, "celltrack") {
				t.Errorf("`celltrack %s --help`: exit %d, no example in:\n%s%s", name, code, stdout, stderr)
			}
		}
	}
	walk(nil, rt.app().Commands)
	if leaves < 20 {
		t.Errorf("walked only %d commands", leaves)
	}
}

// TestCompletionScripts checks `celltrack completion` prints a script for
// each shell that asks celltrack for candidates, and that the candidates
// come back: the subcommands of `lot`.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, stdout, stderr := runCLI("unused.db", "completion", shell)
		if code != 0 || !strings.Contains(stdout, "celltrack") {
			t.Errorf("completion %s: exit %d, %q %q", shell, code, stdout, stderr)
		}
		if shell != "fish" && !strings.Contains(stdout, "--generate-bash-completion") {
			t.Errorf("completion %s does not ask celltrack for candidates", shell)
		}
	}
	if code, _, stderr := runCLI("unused.db", "completion", "tcsh"); code != exitUsage || !strings.Contains(stderr, `no completion for shell "tcsh"`) {
		t.Errorf("completion tcsh: exit %d, %q", code, stderr)
	}
	// urfave/cli's default completer also looks at os.Args (to complete
	// flags), which in a test are the test binary's; give it the real line.
	args := []string{"celltrack", "lot", "--generate-bash-completion"}
	saved := os.Args
	os.Args = args
	defer func() { os.Args = saved }()
	code, stdout, _ := runCLI("unused.db", args[1:]...)
	for _, sub := range []string{"register", "split", "show", "list", "import"} {
		if code != 0 || !strings.Contains(stdout, sub+"\n") {
			t.Errorf("completion candidates for `celltrack lot`: exit %d, %q lacks %s", code, stdout, sub)
		}
	}
}

// TestProgressReader checks the import progress bar counts up to 100 % and
// ends its line, and passes the file through unchanged.
func TestProgressReader(t *testing.T) {
	data := strings.Repeat("LOT-1,uc,D-1,1e9,95,10,2026-01-01,2027-01-01\n", 200)
	var bar bytes.Buffer
	p := &progressReader{r: iotest.OneByteReader(strings.NewReader(data)), total: int64(len(data)), w: &bar}
	got, err := io.ReadAll(p)
	if err != nil || string(got) != data {
		t.Fatalf("progressReader changed the data: %v", err)
	}
	out := bar.String()
	if !strings.Contains(out, "\rreading  50% [####################                    ]") ||
		!strings.HasSuffix(out, "\rreading 100% [########################################]\n") {
		t.Fatalf("progress bar: %q", out[max(0, len(out)-200):])
	}
	if n := strings.Count(out, "\r"); n > 102 {
		t.Errorf("redrew the bar %d times; once per percent is enough", n)
	}
}

// TestDefaultDatabasePath: without --db or CELLTRACK_DB the database is
// ./celltrack.db, and a missing one is exit 10 naming that path.
func TestDefaultDatabasePath(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("CELLTRACK_DB", "")
	os.Unsetenv("CELLTRACK_DB") // restored by t.Setenv
	var out, errb bytes.Buffer
	if code := run([]string{"celltrack", "lot", "list"}, strings.NewReader(""), &out, &errb, nil); code != exitNoDB || !strings.Contains(errb.String(), "no database at celltrack.db;") {
		t.Fatalf("exit %d, %q; want 10 naming celltrack.db", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"celltrack", "init", "--facility", "G1234", "--admin", "alice", "--password-stdin"}, strings.NewReader(fixturePassword+"\n"), &out, &errb, nil); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat("celltrack.db"); err != nil {
		t.Fatalf("init did not create ./celltrack.db: %v", err)
	}
	t.Setenv("CELLTRACK_CONFIG_DIR", t.TempDir()) // not the real user's config dir
	if code := run([]string{"celltrack", "login", "--password-stdin", "alice"}, strings.NewReader(fixturePassword+"\n"), &out, &errb, nil); code != 0 {
		t.Fatalf("login: exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"celltrack", "--user", "alice", "user", "list"}, strings.NewReader(""), &out, &errb, nil); code != 0 || !strings.Contains(out.String(), "alice") {
		t.Fatalf("user list on the default database: exit %d, %q %q", code, out.String(), errb.String())
	}
}

// TestJSONErrorForUnparsableFlag: a script that asked for --json gets its
// error as JSON even when the parser fails before reading --json.
func TestJSONErrorForUnparsableFlag(t *testing.T) {
	code, stdout, stderr := runCLI("unused.db", "lot", "list", "--json", "--frob")
	if code != exitUsage || stdout != "" || !strings.HasPrefix(stderr, `{"error":{"code":"usage","exit":2,"message":"flag provided but not defined: -frob`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
