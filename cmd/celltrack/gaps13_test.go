package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/web"
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
