package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/store"
)

// migrateRun runs one celltrack command line on db as the person whose
// session files live in cfg/user.
func migrateRun(t *testing.T, cfg, user, db, stdin string, args ...string) invocation {
	t.Helper()
	cfg = filepath.Join(cfg, user)
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if k == "CELLTRACK_CONFIG_DIR" {
			return cfg
		}
		return os.Getenv(k)
	}
	code := runEnv(append([]string{"celltrack", "--db", db}, args...), strings.NewReader(stdin), &out, &errb, fixedClock(), getenv)
	return invocation{code, out.String(), errb.String()}
}

// TestMigrateBothWaysIdenticalTraces is issue 14's proof: the demo's
// database on a file, migrated to PostgreSQL and from there back to a new
// file, gives the same traces (lot, patient, donor), handling report, audit
// log and audit verify on all three. What may differ is said and checked
// on its own: the database's name; the audit trail's state in a report's
// header, which on a target is its own (each migration appends its entry,
// each login one), so each header must carry exactly what `audit verify`
// says of that database; and the trail's entries after the source's,
// which must be exactly the migration and the logins; and each source's own
// last entry, its migration to the next database (written with the mark
// that makes it refuse writes, after the cut its target received). The source's tree
// head must be the head of each target's trail at its size (audit verify
// --tree-head), so the copy is the source's trail, byte for byte.
func TestMigrateBothWaysIdenticalTraces(t *testing.T) {
	server := pgtest.Server(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "home")
	if r := migrateRun(t, cfg, "demo", filepath.Join(dir, "unused.db"), "", "demo", "--dir", filepath.Join(dir, "demo")); r.code != 0 {
		t.Fatalf("demo: exit %d: %s", r.code, r.stderr)
	}
	file := filepath.Join(dir, "demo", "demo.db")
	pg := pgtest.NewDatabase(t, server)
	back := filepath.Join(dir, "back.db")

	login := func(db string) {
		t.Helper()
		for _, u := range []string{"alice", "aud"} {
			if r := migrateRun(t, cfg, u, db, demoPassword+"\n", "login", "--password-stdin", u); r.code != 0 {
				t.Fatalf("login %s to %s: exit %d: %s", u, db, r.code, r.stderr)
			}
		}
	}
	heads := regexp.MustCompile(`(?m)^  (source|target) tree head: (.*?)( \(as copied.*)?$`)
	migrate := func(from, to string) (source, copied string) {
		t.Helper()
		r := migrateRun(t, cfg, "alice", from, "", "--user", "alice", "migrate", "--to", to)
		if r.code != 0 {
			t.Fatalf("migrate %s → %s: exit %d: %s", from, to, r.code, r.stderr)
		}
		m := heads.FindAllStringSubmatch(r.stdout, -1)
		if len(m) != 3 || m[0][1] != "source" || m[1][1] != "target" {
			t.Fatalf("migrate printed no source and target tree heads:\n%s", r.stdout)
		}
		if m[0][2] != m[1][2] {
			t.Fatalf("the copy's tree head %q is not the source's %q", m[1][2], m[0][2])
		}
		return m[0][2], m[1][2]
	}

	login(file)
	fileHead, _ := migrate(file, pg)
	login(pg)
	pgHead, _ := migrate(pg, back)
	login(back)
	dbs := []string{file, pg, back}

	// The traces and the handling report, as the auditor reads them.
	header := regexp.MustCompile(`(?m)^(Database|Audit head|Audit entries|Audit tree head) +(.*)$`)
	// The database's name, which a long path wraps onto lines of its own.
	name := regexp.MustCompile(`(?m)^Database +.*\n(^ {16}\S.*\n)*`)
	verifyLine := regexp.MustCompile(`(?m)^(chain head|tree head): (.*)$`)
	for _, args := range [][]string{
		{"trace", "lot", "LOT-UC-1"},
		{"trace", "patient", "MRN-1001"},
		{"trace", "donor", "D-0001"},
		{"report", "handling"},
	} {
		var first string
		for i, db := range dbs {
			r := migrateRun(t, cfg, "aud", db, "", append([]string{"--user", "aud"}, args...)...)
			if r.code != 0 {
				t.Fatalf("%s on %s: exit %d: %s", args, db, r.code, r.stderr)
			}
			// The header's trail state is this database's own.
			v := migrateRun(t, cfg, "aud", db, "", "--user", "aud", "audit", "verify")
			own := map[string]string{}
			for _, m := range verifyLine.FindAllStringSubmatch(v.stdout, -1) {
				own[m[1]] = m[2]
			}
			got := map[string]string{}
			for _, m := range header.FindAllStringSubmatch(r.stdout, -1) {
				got[m[1]] = m[2]
			}
			if got["Database"] == "" || got["Audit head"] != own["chain head"] || got["Audit tree head"] != own["tree head"] ||
				!strings.HasPrefix(own["tree head"], got["Audit entries"]+" entries") {
				t.Errorf("%s on %s: the header's trail state %v is not the database's own (audit verify: %v)", args, db, got, own)
			}
			masked := header.ReplaceAllString(name.ReplaceAllString(r.stdout, "Database\n"), "$1 (this database's)")
			if i == 0 {
				first = masked
				if !strings.Contains(first, "MRN-1001") && args[0] != "report" {
					t.Fatalf("%s shows nothing of the demo's patient:\n%s", args, first)
				}
				continue
			}
			if masked != first {
				t.Errorf("%s on %s differs from the source's:\n%s", args, db, lineDiff(first, masked))
			}
		}
	}

	// The audit log: each target's begins with its source's whole log;
	// after it come only the migration and the logins.
	logs := make([][]string, len(dbs))
	for i, db := range dbs {
		r := migrateRun(t, cfg, "aud", db, "", "--user", "aud", "audit", "log")
		if r.code != 0 {
			t.Fatalf("audit log on %s: exit %d: %s", db, r.code, r.stderr)
		}
		logs[i] = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		logs[i] = logs[i][:len(logs[i])-1] // "N entries"
	}
	entry := regexp.MustCompile(`^ +\d+ +\S+ \S+ UTC +(\S+) +(\S+)`)
	// Each source's log ends with its own entry of the migration, written
	// with its mark after the cut its target received (the trails part
	// there): that entry, and it alone, is left out of the comparison.
	for i := 0; i+1 < len(dbs); i++ {
		last := -1
		for j := len(logs[i]) - 1; j >= 0 && last < 0; j-- {
			if entry.MatchString(logs[i][j]) {
				last = j
			}
		}
		if last < 0 || !strings.Contains(logs[i][last], "alice      database.migrate") || !strings.Contains(logs[i][last], "reason: migrated to "+store.DisplayName(dbs[i+1])+" (") {
			t.Fatalf("%s's audit log does not end with its migration to %s:\n%s", dbs[i], dbs[i+1], strings.Join(logs[i][max(0, last):], "\n"))
		}
		logs[i] = logs[i][:last]
	}
	for i := 1; i < len(dbs); i++ {
		src, dst := logs[i-1], logs[i]
		// The source's log was read after the logins to the target, which
		// did not touch the source: compare up to the source's length.
		if len(dst) <= len(src) {
			t.Fatalf("%s's audit log has %d lines, its source's %d", dbs[i], len(dst), len(src))
		}
		for j := range src {
			if src[j] != dst[j] {
				t.Fatalf("%s's audit log line %d differs from its source's:\n  %s\n  %s", dbs[i], j+1, src[j], dst[j])
			}
		}
		var extra []string
		for _, l := range dst[len(src):] {
			m := entry.FindStringSubmatch(l)
			if m == nil {
				continue // a wrapped line of the entry before
			}
			extra = append(extra, m[1]+" "+m[2])
		}
		// A login is an entry when it changes the user record (store/sessions.go).
		ok := len(extra) > 0 && extra[0] == "alice database.migrate"
		for _, e := range extra[1:] {
			ok = ok && strings.HasSuffix(e, " login")
		}
		if !ok {
			t.Errorf("%s's entries after its source's: %v, want the migration by alice, then logins only\n%s", dbs[i], extra, strings.Join(dst[len(src):], "\n"))
		}
	}

	// audit verify: every database verifies, and each target's trail has
	// its source's tree head at the source's size (a consistency proof).
	for i, c := range []struct{ db, head string }{{pg, fileHead}, {back, pgHead}} {
		r := migrateRun(t, cfg, "aud", c.db, "", "--user", "aud", "audit", "verify", "--tree-head", c.head)
		if r.code != 0 || !strings.Contains(r.stdout, "audit verify: OK") {
			t.Errorf("audit verify --tree-head %q on target %d: exit %d\n%s%s", c.head, i+1, r.code, r.stdout, r.stderr)
		}
	}
	for _, db := range dbs {
		r := migrateRun(t, cfg, "aud", db, "", "--user", "aud", "check", "--no-checkpoint")
		if r.code != 0 {
			t.Errorf("check on %s: exit %d: %s%s", db, r.code, r.stdout, r.stderr)
		}
	}
}

// lineDiff shows the first lines where a and b differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  - %s\n  + %s", i+1, x, y))
			if len(out) == 5 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
