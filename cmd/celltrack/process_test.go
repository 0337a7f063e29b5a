package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/internal/shipbuild"
)

// The crash and concurrency tests run the real binary, built once per test
// run the way it is shipped (internal/shipbuild), in separate processes: what
// they prove is about processes sharing a file, which an in-process test
// cannot show.
var binary struct {
	sync.Once
	path string
	err  error
}

func celltrackBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	binary.Do(func() {
		dir, err := os.MkdirTemp("", "celltrack-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "celltrack")
		out, err := shipbuild.Command(binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("%s: %v\n%s", shipbuild.Line(binary.path, "."), err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// procDB is a database file, or a PostgreSQL database, driven through the
// real binary.
type procDB struct {
	t   *testing.T
	bin string
	db  string
	// dir holds the people's config dirs (dir/homes/USER); "" means the
	// database file's folder.
	dir string
}

// command returns the process for one celltrack command line.
func (p procDB) command(stdin string, args ...string) *exec.Cmd {
	cmd := exec.Command(p.bin, append([]string{"--db", p.db}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	// Each person at their own workstation: the config dir of the user the
	// command line names (see TestMain). The sessions are real logins.
	cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=",
		"CELLTRACK_CONFIG_DIR="+filepath.Join(p.homes(), commandUser(args, "")))
	return cmd
}

// homes is the folder of the people's config dirs.
func (p procDB) homes() string {
	if p.dir != "" {
		return filepath.Join(p.dir, "homes")
	}
	return filepath.Join(filepath.Dir(p.db), "homes")
}

// must runs a command that has to succeed.
func (p procDB) must(stdin string, args ...string) string {
	p.t.Helper()
	var out, errb bytes.Buffer
	cmd := p.command(stdin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("celltrack %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// procPassword is every process-test user's password, as read from stdin.
const procPassword = fixturePassword + "\n"

// newProcDB creates a database through the binary with an admin (alice), a
// lab user (liu), a nurse (nina), donor D-1 and patient MRN-1. Dates are
// relative to the real clock, which the binary always uses.
func newProcDB(t *testing.T) procDB {
	return setUpProcDB(procDB{t: t, bin: celltrackBinary(t), db: filepath.Join(t.TempDir(), "ct.db")})
}

// newProcPG is newProcDB on a new PostgreSQL database (internal/pgtest).
func newProcPG(t *testing.T) procDB {
	return newProcPGAt(t, pgtest.URL(t))
}

// newProcPGAt is newProcDB on the empty PostgreSQL database at url.
func newProcPGAt(t *testing.T, url string) procDB {
	return setUpProcDB(procDB{t: t, bin: celltrackBinary(t), db: url, dir: t.TempDir()})
}

// setUpProcDB creates p's database and its people, donor and patient.
func setUpProcDB(p procDB) procDB {
	t := p.t
	t.Helper()
	pw := procPassword
	p.must(pw, "init", "--facility", "G1234", "--admin", "alice", "--password-stdin")
	p.must(pw, "login", "--password-stdin", "alice")
	p.must(firstPasswordStdin, "--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "liu")
	p.must(firstPasswordStdin, "--user", "alice", "user", "add", "--role", "nurse", "--password-stdin", "nina")
	p.must(firstPasswordStdin, "login", "--password-stdin", "liu")
	p.must(firstPasswordStdin, "login", "--password-stdin", "nina")
	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format("2006-01-02") }
	p.must("", "--user", "liu", "donor", "add", "--delivered", day(-30), "--site", "Ward 5", "--consented", day(-40), "D-1")
	p.must("", "--user", "nina", "patient", "add", "--name", "Mei Chen", "--born", "1984-03-09", "--sex", "F", "MRN-1")
	return p
}
