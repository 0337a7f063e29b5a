package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/store/pgkv"
)

// TestPostgresUpgradeChecksTheAdminBeforeTheEngine is review 22's finding
// A at the command line: on a database whose PostgreSQL engine schema is
// one behind, a nurse's `celltrack upgrade` is refused (exit 3) with the
// database untouched — the engine's migration included — and the admin's
// applies it, names it in its output and records it in a database.upgrade
// entry, though the store's schema was current.
func TestPostgresUpgradeChecksTheAdminBeforeTheEngine(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		t.Skip("needs PostgreSQL: set " + pgtest.EnvURL)
	}
	url := pgtest.URL(t)
	homes := filepath.Join(t.TempDir(), "homes")
	if err := runFixture(url, homes, "lab", nil); err != nil {
		t.Fatal(err)
	}
	// The last migration's bookkeeping row gone: the engine reads as one
	// schema behind (the migration itself applies again as it did).
	v := pgkv.LatestVersion()
	if err := pgtest.Exec(url, fmt.Sprintf("DELETE FROM pgkv_migrations WHERE version = %d", v)); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runEnv(append([]string{"celltrack", "--db", url}, args...), strings.NewReader(""), &out, &errb, nil, personEnv(homes, args))
		return code, out.String(), errb.String()
	}
	before, err := pgtest.Digest(url)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run("--user", "nina", "upgrade"); code != exitRefused || !strings.Contains(stderr, "may not database.upgrade") {
		t.Errorf("a nurse's upgrade: exit %d, %q; want 3, may not database.upgrade", code, stderr)
	}
	if after, err := pgtest.Digest(url); err != nil || after != before {
		t.Fatalf("a nurse's refused upgrade changed the database (%v)", err)
	}
	want := fmt.Sprintf("PostgreSQL engine schema %d → %d: %d: ", v-1, v, v)
	if code, stdout, stderr := run("--user", "alice", "upgrade"); code != 0 || !strings.Contains(stdout, "upgraded "+want) {
		t.Fatalf("the admin's upgrade: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	if code, stdout, stderr := run("--user", "alice", "audit", "log"); code != 0 || !strings.Contains(stdout, "database.upgrade") || !strings.Contains(stdout, "reason: "+want) {
		t.Errorf("the audit log after the admin's upgrade: exit %d, %q %q; want a database.upgrade entry naming %q", code, stdout, stderr, want)
	}
	if code, _, stderr := run("--user", "liu", "lot", "list"); code != 0 {
		t.Errorf("lot list after the upgrade: exit %d, %q", code, stderr)
	}
}
