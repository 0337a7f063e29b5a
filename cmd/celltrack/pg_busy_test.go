package main

import (
	"bytes"
	"context"
	"hash/fnv"
	"os"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestBusyWriteOnPostgres is the review's HIGH finding from the command
// line: while another connection holds the writer lock (the advisory lock
// every celltrack writer takes, store/pgkv), a write with a short
// --lock-timeout ends with exit 11 and "database is busy" in words — not
// exit 1 `internal` with the server's SQLSTATE text — and writes nothing;
// `check` runs and says its checkpoint was not recorded because the
// database was busy.
func TestBusyWriteOnPostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		t.Skip("needs PostgreSQL: set " + pgtest.EnvURL)
	}
	url := pgtest.URL(t)
	cfg := t.TempDir()
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		getenv := func(k string) string {
			if k == "CELLTRACK_CONFIG_DIR" {
				return cfg
			}
			return os.Getenv(k)
		}
		code := runEnv(append([]string{"celltrack", "--db", url}, args...), strings.NewReader(stdin), &out, &errb, nil, getenv)
		return code, out.String(), errb.String()
	}
	pw := fixturePassword + "\n"
	if code, _, stderr := run(pw, "init", "--facility", "G1234", "--admin", "alice", "--full-name", "Alice Adams", "--password-stdin"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(pw, "login", "--password-stdin", "alice"); code != 0 {
		t.Fatalf("login: exit %d: %s", code, stderr)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := fnv.New64a()
	h.Write([]byte("celltrack writer")) // pgkv's writerLock
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64())); err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	before, err := pgtest.Digest(url)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"user add", pw + pw, []string{"--user", "alice", "--lock-timeout", "300ms", "user", "add", "--role", "nurse", "--full-name", "Nina Rossi", "--password-stdin", "nina"}, "database is busy"},
		{"login", pw, []string{"--lock-timeout", "300ms", "login", "--password-stdin", "alice"}, "database is busy"},
		{"user add --json", pw + pw, []string{"--json", "--user", "alice", "--lock-timeout", "300ms", "user", "add", "--role", "nurse", "--full-name", "Nina Rossi", "--password-stdin", "nina"}, `"code":"busy","exit":11`},
	} {
		code, _, stderr := run(c.stdin, c.args...)
		if code != exitBusy || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "SQLSTATE") {
			t.Errorf("%s while another writer holds the database: exit %d, stderr %q; want 11 and %q, without SQLSTATE", c.name, code, stderr, c.want)
		}
	}
	code, stdout, stderr := run("", "--lock-timeout", "300ms", "check")
	if code != 0 || !strings.Contains(stdout, "checkpoint: not recorded: the database was busy") || strings.Contains(stdout+stderr, "SQLSTATE") {
		t.Errorf("check while another writer holds the database: exit %d, stdout %q, stderr %q; want the checkpoint not recorded because busy", code, stdout, stderr)
	}
	after, err := pgtest.Digest(url)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Error("the busy commands changed the database")
	}
}

// TestInitRefusesForeignTablesOnPostgres: `init` on a PostgreSQL database
// that already holds a table celltrack did not make (named patients, as
// one of its own) exits 3 naming the table, and leaves the database as it
// was — it was exit 10 "relation already exists", with an empty
// pgkv_migrations left behind.
func TestInitRefusesForeignTablesOnPostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		t.Skip("needs PostgreSQL: set " + pgtest.EnvURL)
	}
	url := pgtest.URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE patients (mrn text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	before, err := pgtest.Digest(url)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := runEnv([]string{"celltrack", "--db", url, "init", "--facility", "G1234", "--admin", "alice", "--password-stdin"},
		strings.NewReader(fixturePassword+"\n"), &out, &errb, nil, func(k string) string {
			if k == "CELLTRACK_CONFIG_DIR" {
				return t.TempDir()
			}
			return os.Getenv(k)
		})
	if code != exitRefused || !strings.Contains(errb.String(), "already holds tables celltrack did not make (patients); init needs an empty database") {
		t.Errorf("init over a foreign table: exit %d, stderr %q; want 3 naming patients", code, errb.String())
	}
	if after, err := pgtest.Digest(url); err != nil || after != before {
		t.Errorf("the refused init changed the database (%v)", err)
	}
}
