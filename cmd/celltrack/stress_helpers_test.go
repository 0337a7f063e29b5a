package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"github.com/celltrack/celltrack/internal/pgtest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// labOnce builds the lab fixture database once per test binary; labCopy gives
// each case its own copy, so cases cannot see each other's writes.
var labOnce struct {
	sync.Once
	path string
	err  error
}

func fixedClock() func() time.Time {
	t, _ := time.Parse(time.RFC3339, testNow)
	return func() time.Time { return t }
}

// labCopy returns the path of a fresh copy of the lab fixture in dir.
func labCopy(t *testing.T, dir string) string {
	t.Helper()
	labOnce.Do(func() {
		d, err := os.MkdirTemp("", "celltrack-lab-")
		if err != nil {
			labOnce.err = err
			return
		}
		labOnce.path = filepath.Join(d, "lab.db")
		labOnce.err = runFixture(labOnce.path, homesOf(labOnce.path), "lab", fixedClock())
	})
	if labOnce.err != nil {
		t.Fatal(labOnce.err)
	}
	data, err := os.ReadFile(labOnce.path)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ct.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	copySessions(t, labOnce.path, p)
	return p
}

// homesOf is the directory of per-user config dirs (see TestMain) of the
// database at db in Go tests: "homes" beside it.
func homesOf(db string) string { return filepath.Join(filepath.Dir(db), "homes") }

// copySessions gives the users logged in to src the same sessions on dst,
// a byte copy of src at another path: their session files are named from
// the database's path, and the copy holds the same sessions.
func copySessions(t *testing.T, src, dst string) {
	t.Helper()
	rt := &runtime{}
	users, err := os.ReadDir(homesOf(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		rt.getenv = func(string) string { return filepath.Join(homesOf(src), u.Name()) }
		from, err := rt.sessionFile(src)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(from)
		if err != nil {
			continue // this user never logged in
		}
		rt.getenv = func(string) string { return filepath.Join(homesOf(dst), u.Name()) }
		to, err := rt.sessionFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// accessBases are starting databases beyond the lab fixture, each built once
// per test binary from fixtures and further command lines ("$BASE/" is the
// base's own directory), and copied per case by baseCopy.
var accessBases = map[string]struct {
	fixtures []string
	steps    [][]string
	// refused are steps that must be refused (a wrong password), run after
	// steps with the stdin "wrong-password-x".
	refused [][]string
}{
	// disabled: the lab and a nurse, dora, whom alice has disabled.
	"disabled": {fixtures: []string{"lab"}, steps: [][]string{
		{"--user", "alice", "user", "add", "--role", "nurse", "--full-name", "Dora Diaz", "--password-stdin", "dora"},
		{"--user", "alice", "user", "disable", "--reason", "left the unit", "dora"}}},
	// failed: the lab and a nurse, dora, whose last login failed.
	"failed": {fixtures: []string{"lab"}, steps: [][]string{
		{"--user", "alice", "user", "add", "--role", "nurse", "--full-name", "Dora Diaz", "--password-stdin", "dora"}},
		refused: [][]string{{"login", "--password-stdin", "dora"}}},
	"release": {fixtures: []string{"lab", "release"}},
	// reweighed: the lab with MRN-1001 re-weighed at 70.0 kg, +12.9 % since
	// her 62.0 kg: a weight a physician's confirmation is needed for.
	"reweighed": {fixtures: []string{"lab"}, steps: [][]string{
		{"--user", "nina", "patient", "weigh", "--kg", "70.0", "--at", "2026-11-25T08:30Z", "MRN-1001"}}},
	// keyed: the lab with a registered checkpoint key and a backup of it,
	// $BASE/backup.db (restore, key rotation).
	"keyed": {fixtures: []string{"lab"}, steps: [][]string{
		{"audit", "key", "init", "--out", "$BASE/ck.key"},
		{"--user", "alice", "audit", "key", "register", "--verifier-file", "$BASE/ck.key.pub"},
		{"--user", "alice", "backup", "--out", "$BASE/backup.db"},
	}},
	// bedside: both lots released, MRN-1001 scheduled, bag 101 dispensed at
	// CLINIC-A; bag 102 shipped there, 103 received there, 104 thawed there;
	// 201 stored at LAB with a printed label, 202 quarantined at LAB.
	"bedside": {fixtures: []string{"lab", "release", "custody", "bedside"}, steps: bedsideSteps},
	// infused: bedside, and bag 101 infused into MRN-1001 (infusionID).
	"infused": {fixtures: []string{"lab", "release", "custody", "bedside"}, steps: append(append([][]string{}, bedsideSteps...),
		[]string{"--user", "nina", "dose", "administer", "--container", "G12342600000101", "--witness", "omar", "--password-stdin", "MRN-1001"})},
}

var bedsideSteps = [][]string{
	{"--user", "liu", "container", "ship", "--to", "CLINIC-A", "G12342600000102"},
	{"--user", "liu", "container", "ship", "--to", "CLINIC-A", "G12342600000103"},
	{"--user", "nina", "container", "receive", "--at", "CLINIC-A", "--excursion", "no", "G12342600000103"},
	{"--user", "liu", "container", "ship", "--to", "CLINIC-A", "G12342600000104"},
	{"--user", "nina", "container", "receive", "--at", "CLINIC-A", "--excursion", "no", "G12342600000104"},
	{"--user", "nina", "container", "thaw", "--viability", "90.0", "--viable-cells", "9.0e7", "G12342600000104"},
	{"--user", "liu", "container", "quarantine", "--reason", "freezer alarm", "G12342600000202"},
	{"--user", "liu", "label", "print", "--out", "$BASE/label.pdf", "G12342600000201"},
}

var (
	basesMu    sync.Mutex
	basePaths  = map[string]string{}
	infusionID string // the infusion of the "infused" base
)

var infusionRE = regexp.MustCompile(`"infusion": "([0-9a-f-]+)"`)

// baseCopy returns the path of a fresh copy of the named base in dir; ""
// is the lab fixture.
func baseCopy(t *testing.T, dir, name string) string {
	t.Helper()
	if name == "" {
		return labCopy(t, dir)
	}
	basesMu.Lock()
	src, ok := basePaths[name]
	if !ok {
		var err error
		src, err = buildBase(name)
		if err != nil {
			basesMu.Unlock()
			t.Fatalf("base %s: %v", name, err)
		}
		basePaths[name] = src
	}
	basesMu.Unlock()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ct.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	copySessions(t, src, p)
	return p
}

func buildBase(name string) (string, error) {
	b, ok := accessBases[name]
	if !ok {
		return "", fmt.Errorf("no base %q", name)
	}
	d, err := os.MkdirTemp("", "celltrack-base-")
	if err != nil {
		return "", err
	}
	db := filepath.Join(d, "base.db")
	for _, f := range b.fixtures {
		if err := runFixture(db, homesOf(db), f, fixedClock()); err != nil {
			return db, err
		}
	}
	for _, st := range b.steps {
		args := make([]string, len(st))
		for i, a := range st {
			args[i] = strings.ReplaceAll(a, "$BASE/", d+string(filepath.Separator))
		}
		if r := celltrack(db, strings.Repeat(fixturePassword+"\n", 2), args...); r.code != 0 {
			return db, fmt.Errorf("%s: exit %d: %s", strings.Join(st, " "), r.code, r.stderr)
		}
	}
	for _, st := range b.refused {
		if r := celltrack(db, "wrong-password-x\n", st...); r.code != exitRefused {
			return db, fmt.Errorf("%s: exit %d, want %d: %s", strings.Join(st, " "), r.code, exitRefused, r.stderr)
		}
	}
	if name == "infused" {
		m := infusionRE.FindStringSubmatch(celltrack(db, "", "--user", "aud", "--json", "schedule", "show", "MRN-1001").stdout)
		if m == nil {
			return db, fmt.Errorf("no infusion id in schedule show")
		}
		infusionID = m[1]
	}
	return db, nil
}

// invocation is the result of one in-process celltrack command.
type invocation struct {
	code           int
	stdout, stderr string
}

// celltrack runs one command line in-process on db at the test clock, in
// the config dir of the user it names (--user, `login NAME`, else aud)
// under homesOf(db): each person at their own workstation. It logs no one
// in; the fixtures do, with `celltrack login`.
func celltrack(db, stdin string, args ...string) invocation {
	var out, errb bytes.Buffer
	argv := append([]string{"celltrack", "--db", db}, args...)
	cfg := filepath.Join(homesOf(db), commandUser(args, "aud"))
	getenv := func(k string) string {
		if k == "CELLTRACK_CONFIG_DIR" {
			return cfg
		}
		return os.Getenv(k)
	}
	code := runEnv(argv, strings.NewReader(stdin), &out, &errb, fixedClock(), getenv)
	return invocation{code, out.String(), errb.String()}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// cleanupM runs the tests, then removes the lab fixture and the built
// binary, which outlive any one test. testscript.RunMain exits the process
// itself, so the cleanup has to run inside Run.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	pgtest.Stop()
	paths := []string{labOnce.path, binary.path}
	for _, p := range basePaths {
		paths = append(paths, p)
	}
	for _, p := range paths {
		if p != "" {
			os.RemoveAll(filepath.Dir(p))
		}
	}
	return code
}
