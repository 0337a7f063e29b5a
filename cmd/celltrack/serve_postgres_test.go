package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
)

// `celltrack serve` on PostgreSQL, with the real binary: several servers on
// one database, processes killed, the database server gone and back. Every
// test here runs on a real PostgreSQL server (internal/pgtest); nothing is
// mocked.

// viaServer is the command line run as a client of the server at url
// (CELLTRACK_SERVER), in the config dir of the user it names.
func (p procDB) viaServer(url, stdin string, args ...string) *exec.Cmd {
	cmd := p.command(stdin, args...)
	cmd.Args = append([]string{p.bin}, args...) // no --db: the server's database is used
	cmd.Env = append(cmd.Env, "CELLTRACK_SERVER="+url)
	return cmd
}

// runExit runs cmd and returns its exit code, stdout and stderr.
func runExit(cmd *exec.Cmd) (int, string, string) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	return -1, out.String(), err.Error()
}

// mustVia runs a command through the server at url that has to succeed.
func (p procDB) mustVia(url, stdin string, args ...string) string {
	p.t.Helper()
	code, out, errs := runExit(p.viaServer(url, stdin, args...))
	if code != 0 {
		p.t.Fatalf("celltrack %s through %s: exit %d\n%s", strings.Join(args, " "), url, code, errs)
	}
	return out
}

// apiClient is a person logged in to a server through the JSON API.
type apiClient struct {
	url string
	c   *http.Client
}

func apiLogin(t *testing.T, url, user string) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	a := &apiClient{url: url, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
	st, body, err := a.post("/api/v1/login", `{"user":"`+user+`","password":"`+strings.TrimSpace(procPassword)+`"}`)
	if err != nil || st != http.StatusOK {
		t.Fatalf("login %s at %s: %d %s %v", user, url, st, body, err)
	}
	return a
}

func (a *apiClient) post(path, body string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPost, a.url+path, strings.NewReader(body))
	req.Header.Set("Origin", a.url)
	return a.do(req)
}

// do sends req as a and returns the status and the body.
func (a *apiClient) do(req *http.Request) (int, string, error) {
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func (a *apiClient) addPatient(mrn string) (int, string, error) {
	return a.post("/api/v1/patients", `{"mrn":"`+mrn+`","name":"Load Test","born":"1980-01-01","sex":"F"}`)
}

// healthz is the status of GET /healthz.
func healthz(url string) int {
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkPatients proves that every acknowledged registration is in the
// database exactly once, that every registration with the prefix found
// there is whole (its MRN index finds it), and returns how many there are.
func checkPatients(t *testing.T, dbURL, prefix string, acked []string) int {
	t.Helper()
	db, err := store.Open(dbURL, store.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", store.DisplayName(dbURL), err)
	}
	defer db.Close()
	s := store.NewLotService(db)
	all, err := s.Patients()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, pt := range all {
		if !strings.HasPrefix(pt.MRN, prefix) {
			continue
		}
		seen[pt.MRN]++
		if got, err := s.Patient(pt.MRN); err != nil || got.ID != pt.ID {
			t.Errorf("patient %s is listed but its MRN does not find it (%v): a registration is half-present", pt.MRN, err)
		}
	}
	for _, mrn := range acked {
		if seen[mrn] != 1 {
			t.Errorf("acknowledged registration %s is in the database %d times", mrn, seen[mrn])
		}
	}
	for mrn, n := range seen {
		if n != 1 {
			t.Errorf("patient %s is in the database %d times", mrn, n)
		}
	}
	return len(seen)
}

// checkDatabase runs `check` and `audit verify` and the next write (a
// weighing of MRN-1 at the command line) on p's database.
func checkDatabase(t *testing.T, p procDB, when string) {
	t.Helper()
	if out := p.must("", "--user", "alice", "check"); !strings.Contains(out, "OK") {
		t.Errorf("%s: check:\n%s", when, out)
	}
	if out := p.must("", "--user", "alice", "audit", "verify"); !strings.Contains(out, "OK") {
		t.Errorf("%s: audit verify:\n%s", when, out)
	}
	start := time.Now()
	p.must("", "--lock-timeout", "5s", "--user", "nina", "patient", "weigh", "--kg", "61.5", "MRN-1")
	t.Logf("%s: check and audit verify pass; the next write took %v", when, time.Since(start).Round(time.Millisecond))
}

// The server on PostgreSQL: its start-up line names the database without
// the URL's password; /healthz answers; a command at the command line on the
// same database runs at the same time (PostgreSQL is shared, there is no
// file for a server to hold); SIGTERM stops it and it says so.
func TestServePostgresStartAndStop(t *testing.T) {
	p := newProcPG(t)
	sp := p.startServe("--addr", "127.0.0.1:0")
	want := store.DisplayName(p.db)
	if !strings.HasPrefix(sp.line, "celltrack serve: "+want+" at http://127.0.0.1:") {
		t.Errorf("start-up line %q does not name the database as %s", sp.line, want)
	}
	if u, err := url.Parse(p.db); err == nil {
		if pw, ok := u.User.Password(); ok && strings.Contains(sp.line, pw) {
			t.Errorf("start-up line shows the database password: %q", sp.line)
		}
	}
	if st := healthz(sp.url); st != http.StatusOK {
		t.Fatalf("healthz: %d", st)
	}
	// A second process writes while the server runs, and the server sees it.
	p.must("", "--lock-timeout", "2s", "--user", "nina", "patient", "add", "--name", "Ana Lima", "--born", "1990-02-02", "--sex", "F", "MRN-CLI")
	p.mustVia(sp.url, procPassword, "login", "--password-stdin", "nina")
	if out := p.mustVia(sp.url, "", "--user", "nina", "patient", "show", "MRN-CLI"); !strings.Contains(out, "Ana Lima") {
		t.Errorf("the server does not see a patient written at the command line:\n%s", out)
	}
	if err := sp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for sp.lines.Scan() {
		rest.WriteString(sp.lines.Text() + "\n")
	}
	if err := sp.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, sp.stderr.String())
	}
	if !strings.Contains(rest.String(), "stopped; "+want+" closed") {
		t.Errorf("no shutdown line:\n%s", rest.String())
	}
	if u, err := url.Parse(p.db); err == nil {
		if pw, ok := u.User.Password(); ok && strings.Contains(rest.String()+sp.stderr.String(), pw) {
			t.Errorf("the server's output shows the database password")
		}
	}
}

// Two servers on one PostgreSQL database, people writing through both at
// once: registrations through the API (four clients), and each of 23 bags
// taken from the freezer to the patient's vein through the command line as
// a client (store, ship, receive, thaw, dispense, dose administer with a
// witness), four nurses at a time, each infusion's reaction recorded
// through the other server. Every acknowledged write is in the
// database afterwards, once; every bag is where its last acknowledged move
// left it, its infusion recorded exactly once; `check` and `audit verify`
// pass (one chain). Then two nurses, one at each server, administer the same
// bag at the same moment: exactly one infusion, the other nurse a NO-GO
// saying the bag is already infused.
func TestServePostgresTwoServers(t *testing.T) {
	p := newProcPG(t)
	l := &crashLedger{}
	prepareCustody(t, p, l)
	race := l.bags[len(l.bags)-1]
	bags := l.bags[:len(l.bags)-1]
	a, b := p.startServe("--addr", "127.0.0.1:0"), p.startServe("--addr", "127.0.0.1:0")
	servers := []string{a.url, b.url}
	for _, url := range servers {
		for _, u := range []string{"liu", "nina", "omar"} {
			p.mustVia(url, procPassword, "login", "--password-stdin", u)
		}
	}

	start := time.Now()
	var mu sync.Mutex
	var acked []string
	var failures []string
	reactions := map[string]string{} // MRN → the infusion a reaction was acknowledged for
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	const registrars, perRegistrar = 4, 30
	for g := range registrars {
		c := apiLogin(t, servers[g%2], "nina")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perRegistrar {
				mrn := fmt.Sprintf("K-%d-%d", g, i)
				st, body, err := c.addPatient(mrn)
				if err != nil || st != http.StatusCreated {
					fail("register %s at %s: %d %s %v", mrn, c.url, st, body, err)
					continue
				}
				mu.Lock()
				acked = append(acked, mrn)
				mu.Unlock()
			}
		}()
	}
	const nurses = 4
	for g := range nurses {
		url := servers[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := g; k < len(bags); k += nurses {
				bag := bags[k]
				for bag.state != lot.Dispensed {
					step := custodySteps[bag.state]
					if code, _, errs := runExit(p.viaServer(url, "", step.args(bag)...)); code != 0 {
						fail("%s through %s: exit %d: %s", strings.Join(step.args(bag), " "), url, code, errs)
						return
					}
					bag.state = step.to
				}
				args := []string{"--user", "nina", "dose", "administer", "--container", bag.code, "--witness", "omar", "--password-stdin", bag.mrn}
				code, out, errs := runExit(p.viaServer(url, procPassword+procPassword, args...))
				if code != 0 {
					fail("administer %s through %s: exit %d: %s", bag.code, url, code, errs)
					return
				}
				bag.state, bag.infused = lot.Infused, true
				// A reaction to it, through the other server.
				id := uuidRE.FindString(out)
				if id == "" {
					fail("administer %s printed no infusion id:\n%s", bag.code, out)
					return
				}
				other := servers[(g+1)%2]
				if code, _, errs := runExit(p.viaServer(other, "", "--user", "nina", "dose", "reaction", "--infusion", id,
					"--grade", "1", "--text", "transient fever, bag "+bag.code)); code != 0 {
					fail("reaction to %s through %s: exit %d: %s", id, other, code, errs)
					return
				}
				mu.Lock()
				reactions[bag.mrn] = id
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, f := range failures {
		t.Error(f)
	}
	n := checkPatients(t, p.db, "K-", acked)
	if n != registrars*perRegistrar || len(acked) != n {
		t.Errorf("%d registrations sent, %d acknowledged, %d in the database", registrars*perRegistrar, len(acked), n)
	}
	db, err := store.Open(p.db, store.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkCrashCustody(t, db, &crashLedger{bags: bags}, "after the load on two servers")
	ds := store.NewDoseService(db)
	for mrn, id := range reactions {
		ins, rs, err := ds.Infusions(mrn)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, in := range ins {
			if in.ID.String() == id {
				n = len(rs[in.ID])
			}
		}
		if n != 1 {
			t.Errorf("infusion %s of %s has %d reactions, want the 1 acknowledged", id, mrn, n)
		}
	}
	db.Close()
	infused := 0
	for _, bag := range bags {
		if bag.infused {
			infused++
		}
	}
	if infused != len(bags) {
		t.Errorf("%d of %d bags infused", infused, len(bags))
	}
	if len(reactions) != len(bags) {
		t.Errorf("%d reactions acknowledged, want one per bag (%d)", len(reactions), len(bags))
	}
	t.Logf("two servers: %d registrations, %d bags moved and infused, %d reactions (%d writes) in %v",
		len(acked), infused, len(reactions), len(acked)+6*infused+len(reactions), took.Round(time.Millisecond))
	checkDatabase(t, p, "after the load on two servers")

	// The same bag, one nurse at each server, at the same moment.
	for race.state != lot.Dispensed {
		step := custodySteps[race.state]
		p.mustVia(a.url, "", step.args(race)...)
		race.state = step.to
	}
	type result struct {
		code     int
		out, err string
	}
	results := make([]result, 2)
	var ready, go_ sync.WaitGroup
	go_.Add(1)
	var rwg sync.WaitGroup
	for i, nurse := range []string{"nina", "omar"} {
		witness := map[string]string{"nina": "omar", "omar": "nina"}[nurse]
		cmd := p.viaServer(servers[i], procPassword+procPassword, "--user", nurse, "dose", "administer", "--container", race.code,
			"--witness", witness, "--password-stdin", race.mrn)
		ready.Add(1)
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			ready.Done()
			go_.Wait()
			r := &results[i]
			r.code, r.out, r.err = runExit(cmd)
		}()
	}
	ready.Wait()
	go_.Done()
	rwg.Wait()
	ok, nogo := 0, 0
	for _, r := range results {
		switch {
		case r.code == 0:
			ok++
		case r.code == exitNoGo && strings.Contains(r.err, "already infused"):
			nogo++
		default:
			t.Errorf("administer of the same bag at two servers: exit %d\n%s%s", r.code, r.out, r.err)
		}
	}
	if ok != 1 || nogo != 1 {
		t.Fatalf("the same bag at two servers: %d infusions acknowledged, %d NO-GO 'already infused'; want 1 and 1: %+v", ok, nogo, results)
	}
	race.state, race.infused = lot.Infused, true
	db, err = store.Open(p.db, store.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkCrashCustody(t, db, &crashLedger{bags: []*crashBag{race}}, "after the race for one bag")
	db.Close()
	for _, r := range results {
		if r.code == exitNoGo {
			t.Logf("the nurse who lost the race: %s", strings.TrimSpace(r.err))
		}
	}
	checkDatabase(t, p, "after the race for one bag")
}

// SIGKILL of a server on PostgreSQL in the middle of a stream of
// registrations through it while a second server serves the same database:
// every acknowledged registration is there, once; one in flight is there
// whole or not at all; `check` and `audit verify` pass; the surviving
// server and the command line go on writing at once (the killed server's
// transaction and its advisory lock went with its connections).
func TestServePostgresSIGKILL(t *testing.T) {
	p := newProcPG(t)
	victim, other := p.startServe("--addr", "127.0.0.1:0"), p.startServe("--addr", "127.0.0.1:0")
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 6
	for g := range clients {
		c := apiLogin(t, victim.url, "nina")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mrn := fmt.Sprintf("K-%d-%d", g, i)
				st, _, err := c.addPatient(mrn)
				if err != nil {
					return // the server is gone
				}
				if st == http.StatusCreated {
					mu.Lock()
					acked = append(acked, mrn)
					mu.Unlock()
				}
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 60 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no registration was acknowledged before the kill")
	}
	// The other server writes at once.
	c := apiLogin(t, other.url, "nina")
	startWrite := time.Now()
	if st, body, err := c.addPatient("AFTER-KILL"); err != nil || st != http.StatusCreated {
		t.Fatalf("a write at the other server after the kill: %d %s %v", st, body, err)
	}
	t.Logf("the other server's first write after the kill took %v", time.Since(startWrite).Round(time.Millisecond))
	n := checkPatients(t, p.db, "K-", acked)
	checkPatients(t, p.db, "AFTER-KILL", []string{"AFTER-KILL"})
	checkDatabase(t, p, "after SIGKILL of a server")
	t.Logf("%d registrations acknowledged before SIGKILL; %d in the database", len(acked), n)
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// outcome sorts the answer to a registration sent while the database may be
// away: acknowledged, refused cleanly (503 with the API's error object, code
// busy saying the database is unavailable, or outcome_unknown), or wrong
// (anything else: a 500, a panic's text, no answer from celltrack).
func outcome(st int, body string, err error) (acked, clean bool, why string) {
	if err != nil {
		return false, false, "no answer from celltrack: " + err.Error()
	}
	if st == http.StatusCreated {
		return true, true, ""
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Exit    int    `json:"exit"`
		} `json:"error"`
	}
	if st != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &e) != nil {
		return false, false, fmt.Sprintf("%d %s", st, body)
	}
	switch {
	case e.Error.Code == lot.EBUSY && e.Error.Exit == exitBusy && strings.Contains(e.Error.Message, "database is unavailable"):
		return false, true, ""
	case e.Error.Code == lot.EUNKNOWN:
		return false, true, ""
	}
	return false, false, fmt.Sprintf("%d %s", st, body)
}

// The database taken away from a running server and given back, on the
// shared PostgreSQL server but only this test's database: connections to it
// refused (ALTER DATABASE … ALLOW_CONNECTIONS false) and the server's
// sessions ended (pg_terminate_backend). Meanwhile /healthz says the database
// is unavailable (503), a write through the API gets 503 with code busy and
// a message that says the database is unavailable, and the command line
// through the server exits 11 with it — no 500, no driver's text, no panic,
// nothing written. Given back, the same server serves again on its own.
func TestServePostgresDatabaseTakenAway(t *testing.T) {
	server := pgtest.Server(t)
	p := newProcPG(t)
	name := pgtest.Name(p.db)
	sp := p.startServe("--addr", "127.0.0.1:0")
	p.mustVia(sp.url, procPassword, "login", "--password-stdin", "nina")
	c := apiLogin(t, sp.url, "nina")
	if st, body, err := c.addPatient("BEFORE"); err != nil || st != http.StatusCreated {
		t.Fatalf("register before: %d %s %v", st, body, err)
	}
	giveBack := func() {
		if err := pgtest.Exec(server, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true"); err != nil {
			t.Error(err)
		}
	}
	if err := pgtest.Exec(server, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false",
		// With a timeout, pg_terminate_backend waits until each session is gone.
		"SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '"+name+"' AND pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(giveBack)
	if st := healthz(sp.url); st != http.StatusServiceUnavailable {
		t.Errorf("healthz while the database is away: %d, want 503", st)
	}
	st, body, err := c.addPatient("DURING")
	if _, clean, why := outcome(st, body, err); !clean || st != http.StatusServiceUnavailable {
		t.Errorf("register through the API while the database is away: %s", why+body)
	} else if e := (APIErrorJSON{}); json.Unmarshal([]byte(body), &e) != nil || e.Error.Exit != 11 || !strings.Contains(e.Error.Message, "database is unavailable") {
		t.Errorf("register while the database is away: %s", body)
	}
	code, _, errs := runExit(p.viaServer(sp.url, "", "--user", "nina", "patient", "add", "--name", "Away", "--born", "1990-01-01", "--sex", "F", "DURING-CLI"))
	if code != exitBusy || !strings.Contains(errs, "database is unavailable") {
		t.Errorf("patient add through the server while the database is away: exit %d, want %d saying the database is unavailable:\n%s", code, exitBusy, errs)
	}
	for _, bad := range []string{"internal error", "panic", "goroutine", "SQLSTATE 57P01", "failed to connect"} {
		if strings.Contains(errs, bad) || strings.Contains(body, bad) {
			t.Errorf("the refusal while the database is away shows %q:\n%s\n%s", bad, body, errs)
		}
	}
	giveBack()
	deadline := time.Now().Add(20 * time.Second)
	for healthz(sp.url) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover within 20 s of the database coming back\n%s", sp.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, body, err := c.addPatient("AFTER"); err != nil || st != http.StatusCreated {
		t.Fatalf("register after the database came back: %d %s %v", st, body, err)
	}
	p.mustVia(sp.url, "", "--user", "nina", "patient", "add", "--name", "Back", "--born", "1990-01-01", "--sex", "F", "AFTER-CLI")
	checkPatients(t, p.db, "", []string{"BEFORE", "AFTER", "AFTER-CLI"})
	if n := checkPatients(t, p.db, "DURING", nil); n != 0 {
		t.Errorf("%d registrations refused while the database was away are in it", n)
	}
	if sp.cmd.ProcessState != nil {
		t.Fatalf("the server exited: %s", sp.stderr.String())
	}
	if !regexp.MustCompile(`database is unavailable: .* cannot be reached.*database "` + name + `" is not currently accepting connections`).MatchString(sp.stderr.String()) {
		t.Errorf("the server's log does not say why the database was unavailable:\n%s", sp.stderr.String())
	}
	checkDatabase(t, p, "after the database came back")
}

// A real restart of the database server (pg_ctl stop, then start; a
// cluster of the test's own, never the shared one) under a running server
// while four clients register patients through it: every request is
// either acknowledged or refused cleanly (503, the database unavailable, or
// outcome unknown for a write whose commit was cut); every acknowledged
// registration is there afterwards, once; the server serves again on its
// own when PostgreSQL is back; `check` and `audit verify` pass.
func TestServePostgresDatabaseRestart(t *testing.T) {
	cl := pgtest.NewCluster(t)
	p := newProcPGAt(t, pgtest.NewDatabase(t, cl.URL()))
	sp := p.startServe("--addr", "127.0.0.1:0")
	var mu sync.Mutex
	var acked, wrong []string
	refused := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		c := apiLogin(t, sp.url, "nina")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mrn := fmt.Sprintf("K-%d-%d", g, i)
				st, body, err := c.addPatient(mrn)
				ok, clean, why := outcome(st, body, err)
				mu.Lock()
				switch {
				case ok:
					acked = append(acked, mrn)
				case clean:
					refused++
				default:
					wrong = append(wrong, mrn+": "+why)
				}
				mu.Unlock()
				if !ok {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for count() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(20)
	if err := cl.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if st := healthz(sp.url); st != http.StatusServiceUnavailable {
		t.Errorf("healthz while PostgreSQL is stopped: %d, want 503", st)
	}
	before := count()
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for healthz(sp.url) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover within 30 s of PostgreSQL's restart\n%s", sp.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("healthz ok %v after PostgreSQL was started again", time.Since(back).Round(time.Millisecond))
	waitFor(before + 20)
	close(stop)
	wg.Wait()
	if count() < before+20 {
		t.Errorf("only %d registrations acknowledged after the restart", count()-before)
	}
	for _, w := range wrong {
		t.Errorf("a request during the restart was not answered cleanly: %s", w)
	}
	if refused == 0 {
		t.Errorf("no request was refused while PostgreSQL was stopped: the test did not see the outage")
	}
	if sp.cmd.ProcessState != nil {
		t.Fatalf("the server exited: %s", sp.stderr.String())
	}
	n := checkPatients(t, p.db, "K-", acked)
	checkDatabase(t, p, "after PostgreSQL's restart")
	t.Logf("%d registrations acknowledged (%d after the restart), %d refused cleanly during it; %d in the database", len(acked), len(acked)-before, refused, n)
}
