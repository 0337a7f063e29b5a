package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
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
		labOnce.err = runFixture(labOnce.path, "lab", fixedClock())
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
	return p
}

// invocation is the result of one in-process celltrack command.
type invocation struct {
	code           int
	stdout, stderr string
}

// celltrack runs one command line in-process on db at the test clock.
func celltrack(db, stdin string, args ...string) invocation {
	var out, errb bytes.Buffer
	argv := append([]string{"celltrack", "--db", db}, args...)
	code := run(argv, strings.NewReader(stdin), &out, &errb, fixedClock())
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
	for _, p := range []string{labOnce.path, binary.path} {
		if p != "" {
			os.RemoveAll(filepath.Dir(p))
		}
	}
	return code
}
