package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
	"github.com/google/uuid"
)

// A witness refused by the login's limits (web's limitedCoSign), through a
// `celltrack serve` process: the command line says what the server said —
// the limit, when to try again — with the exit code of a throttled login
// (3), and the refused request wrote nothing (the audit head and the
// number of records are those from before it).
func TestCoSignThrottledThroughServer(t *testing.T) {
	coSignThrottledThroughServer(t, newProcDB(t))
}

// The same on PostgreSQL (CELLTRACK_TEST_POSTGRES).
func TestCoSignThrottledThroughServerOnPostgres(t *testing.T) {
	coSignThrottledThroughServer(t, newProcPG(t))
}

func coSignThrottledThroughServer(t *testing.T, p procDB) {
	l := &crashLedger{}
	prepareBags(t, p, l, 1)
	bag := l.bags[0]
	for bag.state != lot.Dispensed {
		step := custodySteps[bag.state]
		p.must("", step.args(bag)...)
		bag.state = step.to
	}
	srv := p.startServe("--addr", "127.0.0.1:0")
	for _, u := range []string{"alice", "nina"} {
		p.mustVia(srv.url, procPassword, "login", "--password-stdin", u)
	}
	administer := []string{"--user", "nina", "dose", "administer", "--container", bag.code, "--witness", "omar", "--password-stdin", bag.mrn}
	wrong := procPassword + "not-omars-password\n"
	// The witness name's bucket holds LoginFailuresPerName tokens: each
	// refused witness takes one.
	for i := range 10 {
		code, _, errs := runExit(p.viaServer(srv.url, wrong, administer...))
		if code != exitRefused || strings.Contains(errs, "too many") {
			t.Fatalf("refused witness %d: exit %d, want 3 before the limit\n%s", i+1, code, errs)
		}
	}
	type verification struct {
		Entries, Records int
		Head             string
	}
	verify := func() verification {
		var v verification
		out := p.mustVia(srv.url, "", "--user", "alice", "--json", "audit", "verify")
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("audit verify --json: %v\n%s", err, out)
		}
		return v
	}
	before := verify()
	// The witness's name has no token left: refused as the login would
	// be, before any password is checked or anything recorded.
	code, out, errs := runExit(p.viaServer(srv.url, wrong, administer...))
	limit := regexp.MustCompile(`^celltrack: too many failed logins for the user name "omar"; wait [0-9]+ seconds and try again — no password was checked\n$`)
	if code != exitRefused || out != "" || !limit.MatchString(errs) {
		t.Errorf("witness past the limit: exit %d, want 3 (as a throttled login)\nstdout %q\nstderr %q", code, out, errs)
	}
	code, _, errs = runExit(p.viaServer(srv.url, wrong, append([]string{"--json"}, administer...)...))
	var e struct{ Error web.APIErrorBody }
	if json.Unmarshal([]byte(errs), &e) != nil || code != exitRefused || e.Error.Code != lot.EAUTH || e.Error.Exit != exitRefused ||
		!strings.Contains(e.Error.Message, `too many failed logins for the user name "omar"; wait `) {
		t.Errorf("witness past the limit, --json: exit %d, want 3 and code auth\n%s", code, errs)
	}
	// A login as the witness meets the same bucket and says the same.
	code, _, lerrs := runExit(p.viaServer(srv.url, wrong, "login", "--password-stdin", "omar"))
	if code != exitRefused || !limit.MatchString(lerrs) {
		t.Errorf("login as omar past the limit: exit %d\n%s", code, lerrs)
	}
	if after := verify(); after != before {
		t.Errorf("the throttled requests wrote: audit verify before %+v, after %+v", before, after)
	}
	// The bag was not infused.
	if h := p.mustVia(srv.url, "", "--user", "nina", "container", "history", bag.code); !strings.Contains(h, "dispensed") || strings.Contains(h, "infused") {
		t.Errorf("container history after the throttled administrations:\n%s", h)
	}
}

// The sites' role on PostgreSQL (README "PostgreSQL", the grants block):
// celltrack's own login writes the session row through it, so it must
// INSERT into kv — without that grant a login is refused and writes
// nothing. And nothing in the database tells a forged session row from
// one a login wrote: the token hash is no obstacle, the forger picks the
// token. A row built from what the role can read (the user's id, the
// database's id) opens a session for the admin with no password and no
// login entry (review13 C; README "What the sites' role can do").
func TestSitesRoleWritesSessionsOnPostgres(t *testing.T) {
	p := newProcPG(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	app, owner := "celltrack_app_"+suffix, "celltrack_owner_"+suffix
	grants, err := pgtest.SitesRoleGrants(readme, app, owner, pgtest.Name(p.db))
	if err != nil {
		t.Fatal(err)
	}
	if err := pgtest.Exec(p.db, grants, "ALTER ROLE "+app+" PASSWORD 'app-pw'"); err != nil {
		t.Fatalf("the README's grants: %v", err)
	}
	t.Cleanup(func() { pgtest.Exec(p.db, "DROP OWNED BY "+app+", "+owner, "DROP ROLE "+app+", "+owner) })
	u, err := url.Parse(p.db)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(app, "app-pw")
	site := procDB{t: t, bin: p.bin, db: u.String(), dir: p.dir}

	entries := func() int {
		var v struct{ Entries int }
		out := p.must("", "--user", "alice", "--json", "audit", "verify")
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("audit verify --json: %v\n%s", err, out)
		}
		return v.Entries
	}
	// Without INSERT on kv the sites cannot log in: the session row is
	// celltrack's own write through this role.
	if err := pgtest.Exec(p.db, "REVOKE INSERT ON kv FROM "+app); err != nil {
		t.Fatal(err)
	}
	before := entries()
	code, _, errs := runExit(site.command(procPassword, "login", "--password-stdin", "nina"))
	if code == 0 || !strings.Contains(errs, "permission denied") {
		t.Errorf("login as the sites' role without INSERT on kv: exit %d, want a refusal naming the permission\n%s", code, errs)
	}
	if n := entries(); n != before {
		t.Errorf("the refused login wrote %d audit entries", n-before)
	}
	if err := pgtest.Exec(p.db, "GRANT INSERT ON kv TO "+app); err != nil {
		t.Fatal(err)
	}
	site.must(procPassword, "login", "--password-stdin", "nina")

	// A session row written with plain SQL through the sites' role, for
	// alice, from what the role reads: it is taken for a login's.
	const token = "forged-token-chosen-by-whoever-holds-the-role"
	key := []byte("a touch key the forger chose too")
	if err := pgtest.Exec(u.String(), fmt.Sprintf(`INSERT INTO kv (bucket, k, v)
		SELECT 'sessions', sha256('%s'::bytea), convert_to(json_build_object('v', 1, 'user_id', id, 'user', name,
			'created', now(), 'expires', now() + interval '1 hour', 'last_activity', now(),
			'touch_key', '%s')::text, 'UTF8') FROM users WHERE name = 'alice'`, token, base64.StdEncoding.EncodeToString(key))); err != nil {
		t.Fatalf("insert a session row as the sites' role: %v", err)
	}
	db, err := store.Open(p.db, store.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dbID, err := db.DatabaseID()
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	h := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, key)
	m.Write(h[:])
	m.Write([]byte(at.Format(time.RFC3339Nano)))
	rt := &runtime{getenv: func(k string) string {
		if k == "CELLTRACK_CONFIG_DIR" {
			return filepath.Join(site.homes(), "alice")
		}
		return ""
	}}
	path, err := rt.sessionFile(site.db)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveSession(path, store.Credentials{DatabaseID: dbID, User: "alice", Token: token, LastActivity: at, MAC: hex.EncodeToString(m.Sum(nil))}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runExit(site.command("", "--user", "alice", "whoami"))
	if code != 0 || !strings.Contains(out, "alice") {
		t.Errorf("a session row forged through the sites' role was refused (exit %d): if sessions are now kept where the role cannot forge them, update README \"What the sites' role can do\"\n%s%s", code, out, errs)
	}
}

// The audit log page, its download and the service API read the trail as
// the logged-in user may (audit.Shown): a nurse gets no entry of another
// person's account — omar's wrong passwords and lock — on the page, in the
// download, from /api/v1/svc/audit or /audit-tail, and is refused his
// account by name; the auditor reads them all.
func TestAuditLogPagesShowAccountEntriesToAdminAndAuditor(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	omar := f.client()
	for range 5 {
		if st, _ := f.post(omar, "/login", url.Values{"user": {"omar"}, "password": {"not-omars-password"}}); st == http.StatusOK {
			t.Fatal("a wrong password logged omar in")
		}
	}
	nina, aud := f.client(), f.client()
	f.login(nina, "nina")
	f.login(aud, "aud")
	pages := []string{"/reports/audit-log", "/reports/audit-log/download?format=json", "/api/v1/svc/audit", "/api/v1/svc/audit-tail?last=1000"}
	for _, p := range pages {
		st, body := f.get(aud, p)
		if st != http.StatusOK || !strings.Contains(body, "login.refused") || !strings.Contains(body, "user.locked") {
			t.Errorf("the auditor's %s: %d, without omar's wrong passwords and lock", p, st)
		}
		st, body = f.get(nina, p)
		if st != http.StatusOK || strings.Contains(body, "login.refused") || strings.Contains(body, "user.locked") || !strings.Contains(body, "lot.register") {
			t.Errorf("the nurse's %s: %d, want the records' entries and no other account's", p, st)
		}
	}
	for _, p := range []string{"/reports/audit-log?entity=omar", "/api/v1/svc/audit/omar", "/api/v1/svc/audit-tail?last=5&entity=omar"} {
		if st, body := f.get(nina, p); st != http.StatusForbidden || !strings.Contains(body, "only an admin or an auditor sees") {
			t.Errorf("the nurse's %s: %d, want 403 naming who may\n%.300s", p, st, body)
		}
	}
}
