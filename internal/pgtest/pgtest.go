// Package pgtest gives tests a real, empty PostgreSQL database: never a mock.
//
// Where a database server comes from, in order:
//   - CELLTRACK_TEST_POSTGRES, a URL of a server whose user may CREATE ROLE and
//     DATABASE (CI sets it, .ci/run): each test gets a fresh database there,
//     dropped when the test ends;
//   - else, if PostgreSQL's initdb is on the machine (/usr/lib/postgresql/*/bin
//     or PATH), one throwaway cluster per test binary, in a temporary
//     directory, listening only on a Unix socket in that directory, stopped
//     and removed by Main; as root, initdb and postgres run as the postgres
//     user (PostgreSQL refuses to run as root);
//   - else the test is skipped with a message naming the variable — except
//     under CELLTRACK_CI=1, where a skipped PostgreSQL test would hide a gap,
//     so it fails.
//
// A package using URL calls Main from its TestMain.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvURL names the variable holding a server URL for tests.
const EnvURL = "CELLTRACK_TEST_POSTGRES"

var (
	once    sync.Once
	server  string // URL of the server's maintenance database
	skip    string // why there is no server, when there is none
	cluster *localCluster
)

// Main runs the tests and stops the throwaway cluster, if one was started.
// Use it as `func TestMain(m *testing.M) { pgtest.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops and removes the throwaway cluster, if one was started, and
// drops the databases Keep kept. Main calls it; a TestMain of its own calls
// it after m.Run.
func Stop() {
	kept.Lock()
	for _, drop := range kept.drops {
		drop()
	}
	kept.drops = nil
	kept.Unlock()
	if cluster != nil {
		cluster.stop()
		cluster = nil
	}
}

var kept struct {
	sync.Mutex
	drops []func() error
}

// Keep drops a database when Stop runs rather than when a test ends (a
// template shared by the tests of one binary).
func Keep(drop func() error) {
	kept.Lock()
	kept.drops = append(kept.drops, drop)
	kept.Unlock()
}

// Recreate replaces the database name on the server at serverURL by a copy
// of the database template (no one may be connected to either).
func Recreate(serverURL, name, template string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to the test server: %w", err)
	}
	defer conn.Close(ctx)
	if err := dropDatabase(ctx, conn, name); err != nil {
		return err
	}
	n := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+n+" TEMPLATE "+pgx.Identifier{template}.Sanitize()); err != nil {
		return fmt.Errorf("create %s from %s: %w", name, template, err)
	}
	return nil
}

// URL returns the URL of a new empty database, dropped when t ends. Without
// a server it skips t (or fails it under CELLTRACK_CI=1).
func URL(t testing.TB) string {
	t.Helper()
	return NewDatabase(t, Server(t))
}

// Server returns the URL of the test server's maintenance database, starting
// the throwaway cluster if need be. Without a server it skips t (or fails it
// under CELLTRACK_CI=1).
func Server(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if server == "" {
		if os.Getenv("CELLTRACK_CI") == "1" {
			t.Fatalf("no PostgreSQL for this test under CELLTRACK_CI=1: %s", skip)
		}
		t.Skipf("PostgreSQL tests skipped: %s", skip)
	}
	return server
}

// NewDatabase creates a database with a random name on the server at
// serverURL and returns its URL; it is dropped when t ends.
func NewDatabase(t testing.TB, serverURL string) string {
	t.Helper()
	u, drop, err := CreateDatabase(serverURL, "")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return u
}

// CreateDatabase creates a database with a random name on the server at
// serverURL, a copy of the database template when it is not "", and
// returns its URL and how to drop it.
func CreateDatabase(serverURL, template string) (string, func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to the test server: %w", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "celltrack_test_" + hex.EncodeToString(b)
	sql := "CREATE DATABASE " + name
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			return fmt.Errorf("connect to drop %s: %w", name, err)
		}
		defer conn.Close(ctx)
		return dropDatabase(ctx, conn, name)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("%s is not a URL: %w", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// dropDatabase drops the database name, ending the sessions left on it.
//
// WITH (FORCE) ends them only when the test role may signal every one of
// them, and an autovacuum worker, which the server starts on any database
// at any moment, belongs to no role: the drop then fails with 42501
// ("must be a member of the role whose process is being terminated"). That
// made a random store test fail now and then on a busy server. A plain DROP
// DATABASE stops an autovacuum worker itself (waiting up to 5 s for it), so
// on that error, or on 55006 (still in use), drop without FORCE and retry.
func dropDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	n := pgx.Identifier{name}.Sanitize()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		sql := "DROP DATABASE IF EXISTS " + n + " WITH (FORCE)"
		if attempt%2 == 1 {
			sql = "DROP DATABASE IF EXISTS " + n
		}
		if _, err = conn.Exec(ctx, sql); err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "55006") {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drop %s: %w", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("drop %s: %w", name, err)
}

// Name returns the database name in a URL.
func Name(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// SitesRoleGrants returns the grants block of README "PostgreSQL" (the
// SQL after the append-only paragraph), for roles app and owner in place of
// celltrack_app and celltrack_owner, on database: the tests run the grants
// the README tells a DBA to run, not a copy of them.
func SitesRoleGrants(readme []byte, app, owner, database string) (string, error) {
	_, after, ok := strings.Cut(string(readme), "**The audit trail is append-only in the database.**")
	_, block, ok2 := strings.Cut(after, "```sql\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		return "", errors.New("README \"PostgreSQL\" has no grants block after the append-only paragraph")
	}
	return strings.NewReplacer("celltrack_app", app, "celltrack_owner", owner,
		"ON DATABASE celltrack", "ON DATABASE "+database).Replace(block), nil
}

// Digest returns a SHA-256 of every row of every table of the database at
// dbURL, in a fixed order: equal digests mean nothing was written (a
// refusal's `dbsnap`/`dbsame` on PostgreSQL).
func Digest(dbURL string) (string, error) {
	ds, err := Digests(dbURL)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, d := range ds {
		fmt.Fprintf(h, "%s %s\n", d[0], d[1])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Digests returns each table's name and an MD5 of its rows, in name order.
func Digests(dbURL string) ([][2]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var ds [][2]string
	for _, tb := range tables {
		var d string
		q := fmt.Sprintf("SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM %s t", pgx.Identifier{tb}.Sanitize())
		if err := conn.QueryRow(ctx, q).Scan(&d); err != nil {
			return nil, err
		}
		ds = append(ds, [2]string{tb, d})
	}
	return ds, nil
}

func setup() {
	if s := os.Getenv(EnvURL); s != "" {
		server = s
		return
	}
	bin := findBin()
	if bin == "" {
		skip = "set " + EnvURL + " to the URL of a PostgreSQL server where the user may CREATE DATABASE, or install PostgreSQL (initdb) on this machine"
		return
	}
	c, err := startCluster(bin)
	if err != nil {
		skip = fmt.Sprintf("could not start a throwaway PostgreSQL cluster with %s (%v); set %s instead", bin, err, EnvURL)
		if os.Getenv("CELLTRACK_CI") == "1" {
			skip = err.Error()
		}
		return
	}
	cluster = c
	server = c.url
}

// findBin returns the directory holding initdb and postgres, newest version
// first, or "".
func findBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		d := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

type localCluster struct {
	bin, dir, data, runAs, url, opts string
}

// owner is the file in a cluster's directory naming the test process that
// started it.
const owner = "owner.pid"

// startCluster makes a cluster in a new temporary directory and starts it on
// a Unix socket there. Clusters left by test processes that died without
// stopping theirs (a panic, a timeout) are stopped and removed first.
func startCluster(bin string) (*localCluster, error) {
	sweep(bin)
	dir, err := os.MkdirTemp("", "celltrack-pgtest-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, owner), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &localCluster{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	owner := ""
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.runAs = "postgres"
		owner = "postgres"
	} else {
		u, err := user.Current()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		owner = u.Username
	}
	if out, err := c.cmd("initdb", "-D", c.data, "-U", owner, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	c.opts = fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", dir)
	if err := c.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.url = (&url.URL{Scheme: "postgres", User: url.User(owner), Path: "/postgres", RawQuery: "host=" + url.QueryEscape(dir)}).String()
	return c, nil
}

// start starts the cluster's server and waits until it accepts connections.
func (c *localCluster) start() error {
	if out, err := c.cmd("pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "log"), "-o", c.opts, "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
	}
	return nil
}

// Cluster is a PostgreSQL cluster of one test's own, in a temporary
// directory, listening only on a Unix socket there: for a test that stops
// and starts the database server under celltrack, which must never be done
// to the server other tests share.
type Cluster struct{ c *localCluster }

// NewCluster starts a cluster of t's own, stopped and removed when t ends.
// Without initdb on the machine it skips t (or fails it under
// CELLTRACK_CI=1).
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := findBin()
	if bin == "" {
		if os.Getenv("CELLTRACK_CI") == "1" {
			t.Fatal("no PostgreSQL initdb on this machine for a cluster of the test's own, under CELLTRACK_CI=1")
		}
		t.Skip("PostgreSQL's initdb is not on this machine: no cluster of the test's own to restart")
	}
	c, err := startCluster(bin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(c.stop)
	return &Cluster{c}
}

// URL is the URL of the cluster's maintenance database.
func (c *Cluster) URL() string { return c.c.url }

// Stop shuts the server down (fast: sessions are ended, as by a restart).
func (c *Cluster) Stop() error {
	if out, err := c.c.cmd("pg_ctl", "-D", c.c.data, "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Start starts the stopped server again and waits until it accepts
// connections.
func (c *Cluster) Start() error { return c.c.start() }

// Exec runs each statement on the database at dbURL, in its own
// transaction: for a test that plays the DBA (pg_terminate_backend, ALTER
// DATABASE).
func Exec(dbURL string, statements ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	for _, q := range statements {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// sweep stops and removes the clusters whose test process is gone.
func sweep(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "celltrack-pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, owner))
		if err != nil {
			continue // not one of ours, or still being made
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !processGone(pid) {
			continue // its process lives (or cannot be asked)
		}
		c := &localCluster{bin: bin, dir: d, data: filepath.Join(d, "data")}
		if os.Geteuid() == 0 {
			c.runAs = "postgres"
		}
		c.stop()
	}
}

func (c *localCluster) cmd(prog string, args ...string) *exec.Cmd {
	p := filepath.Join(c.bin, prog)
	if c.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", c.runAs, "--", p}, args...)...)
	}
	return exec.Command(p, args...)
}

// stop stops the cluster immediately and removes its directory.
func (c *localCluster) stop() {
	if out, err := c.cmd("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stopping the throwaway cluster in %s: %v: %s\n", c.dir, err, strings.TrimSpace(string(out)))
	}
	os.RemoveAll(c.dir)
}

// CopyRows copies every row of every table of the database at fromURL into
// the table of the same name at toURL, in one transaction: the columns the
// target's table can be given (not the ones it generates), as COPY's text,
// so a json value arrives byte for byte. The target has the tables already
// (an older schema, for an upgrade test); skip names tables to leave alone.
func CopyRows(fromURL, toURL string, skip ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	from, err := pgx.Connect(ctx, fromURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer from.Close(ctx)
	to, err := pgx.Connect(ctx, toURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer to.Close(ctx)
	rows, err := to.Query(ctx, `SELECT c.relname, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
			AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND NOT (c.relname = ANY($1))
		GROUP BY c.relname ORDER BY c.relname`, skip)
	if err != nil {
		return err
	}
	type table struct{ name, cols string }
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		return t, r.Scan(&t.name, &t.cols)
	})
	if err != nil {
		return err
	}
	if _, err := to.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	for _, t := range tables {
		var buf bytes.Buffer
		if _, err := from.PgConn().CopyTo(ctx, &buf, fmt.Sprintf("COPY %s (%s) TO STDOUT", pgx.Identifier{t.name}.Sanitize(), t.cols)); err != nil {
			return fmt.Errorf("copy %s out: %w", t.name, err)
		}
		if _, err := to.PgConn().CopyFrom(ctx, &buf, fmt.Sprintf("COPY %s (%s) FROM STDIN", pgx.Identifier{t.name}.Sanitize(), t.cols)); err != nil {
			return fmt.Errorf("copy %s in: %w", t.name, err)
		}
	}
	_, err = to.Exec(ctx, "COMMIT")
	return err
}
