package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// review15 (hostile review: two sites on one PostgreSQL database, through
// browser, API and CLI). Each test fails on main for the reason its comment
// gives; the findings are in /work/s12/review15-findings.md.

// postForm posts a page form as a browser does (urlencoded, with Origin)
// and returns the status and the body.
func (a *apiClient) postForm(path string, form url.Values) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPost, a.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Origin", a.url)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return a.do(req)
}

// getPage is the status and body of GET path.
func (a *apiClient) getPage(path string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
	return a.do(req)
}

// atOnce runs f(0) … f(n-1), each in its own goroutine, released at the
// same moment, and waits for them.
func atOnce(n int, f func(i int)) {
	var ready, start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			start.Wait()
			f(i)
		}()
	}
	ready.Wait()
	start.Done()
	done.Wait()
}

// sendAtOnce sends one form to each of the clients at the same moment and
// returns their statuses and bodies.
func sendAtOnce(cs []*apiClient, path string, form url.Values) ([]int, []string) {
	sts, bodies := make([]int, len(cs)), make([]string, len(cs))
	atOnce(len(cs), func(i int) {
		st, body, err := cs[i].postForm(path, form)
		if err != nil {
			body = err.Error()
		}
		sts[i], bodies[i] = st, body
	})
	return sts, bodies
}

var splitSeenRE = regexp.MustCompile(`(?s)id="split-form">.*?name="seen" value="([0-9]+)"`)

// review15 finding A: the split form's guard against a second send was
// checked under a mutex of one server process (Server.formMu), not in the
// store's writing transaction. On PostgreSQL with two servers — two sites,
// or one site behind a load balancer that sends a double click's two posts
// to different servers — the same form sent to both at once split the lot
// twice. The form now carries seen (the lot's last audit entry the page
// showed), which the store checks in its writing transaction (forms12).
// Expected: one of the two is refused 409 naming "seen", nothing written.
func TestReview15SplitFormSentToTwoServersSplitsTwice(t *testing.T) {
	p := newProcPG(t)
	p.must("", "--user", "liu", "lot", "register", "--source", "uc", "--donor", "D-1", "--cells", "2.5e9", "--viability", "94.5",
		"--volume-ml", "1250", "--manufactured", dayFromNow(-5), "--expires", dayFromNow(360), "LOT-S")
	a, b := p.startServe("--addr", "127.0.0.1:0"), p.startServe("--addr", "127.0.0.1:0")
	la, lb := apiLogin(t, a.url, "liu"), apiLogin(t, b.url, "liu")

	const tries = 12
	splits := 0
	for try := range tries {
		st, page, err := la.getPage("/lots/LOT-S")
		m := splitSeenRE.FindStringSubmatch(page)
		if err != nil || st != http.StatusOK || m == nil {
			t.Fatalf("lot page at %s: %d %v (split form with seen: %v)", a.url, st, err, m != nil)
		}
		form := url.Values{"signer": {"liu"}, "seen": {m[1]}, "containers": {"1"}, "cells_each": {"1e7"}, "volume_ml_each": {"5"}}
		sts, bodies := sendAtOnce([]*apiClient{la, lb}, "/lots/LOT-S/split", form)
		ok := 0
		for i, st := range sts {
			switch st {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
			default:
				t.Fatalf("try %d: split form at server %d: %d\n%s", try, i, st, bodies[i])
			}
		}
		splits += ok
		if ok != 1 {
			t.Errorf("try %d: the split form shown at entry %s, sent once to each of two servers on one database at the same moment, split the lot %d times; want once, the other send refused 409 as a resend (as one server refuses it)",
				try, m[1], ok)
			break
		}
	}
	out := p.must("", "--user", "liu", "--json", "container", "list", "LOT-S")
	if n := strings.Count(out, `"code"`); n != splits {
		t.Logf("containers of LOT-S: %d (acknowledged splits %d)", n, splits)
	}
	t.Logf("%d splits acknowledged", splits)
}

// review15 finding B: a login checks the password against the user record
// it read before the argon2id check (store.Login's view), and its writing
// transaction checks only that the account is not locked or disabled — not
// that the password it proved is still the account's. A thief who holds
// nina's password and logs in over and over (successful logins are not
// rate-limited) at one site's server keeps a live session after nina, at
// another site's server, changes her password to end the thief's access:
// the login in flight when the change commits opens a session after the
// change revoked the others, with the replaced password. The same at the
// command line and on one server; two servers make the race the normal
// case (the change and the thief never meet in one process).
// Expected: a login whose proved password is no longer the account's opens
// no session (refused as a wrong password, nothing written but that).
func TestReview15LoginInFlightSurvivesPasswordChange(t *testing.T) {
	p := newProcPG(t)
	a, b := p.startServe("--addr", "127.0.0.1:0"), p.startServe("--addr", "127.0.0.1:0")
	owner := apiLogin(t, a.url, "nina")
	old := strings.TrimSpace(procPassword)
	const thieves = 4
	var mu sync.Mutex
	var sessions []*apiClient // the thief's logins answered 200
	changed := make(chan struct{})
	var wg sync.WaitGroup
	for range thieves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				jar, _ := cookiejar.New(nil)
				c := &apiClient{url: b.url, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
				st, _, err := c.post("/api/v1/login", `{"user":"nina","password":"`+old+`"}`)
				if err != nil || st != http.StatusOK {
					// The first refusal ends this thief: 5 wrong ones would
					// lock nina, and a lock ends every session.
					return
				}
				mu.Lock()
				sessions = append(sessions, c)
				mu.Unlock()
				select {
				case <-changed:
					return // one login answered after the change is enough
				default:
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	st, body, err := owner.post("/api/v1/password", `{"password":"`+old+`","new_password":"quartz-meadow-lantern-58"}`)
	close(changed)
	if err != nil || st != http.StatusOK {
		t.Fatalf("nina's password change at %s: %d %s %v", a.url, st, body, err)
	}
	wg.Wait()
	live := 0
	for _, c := range sessions {
		if st, _, _ := c.getPage("/api/v1/lots"); st == http.StatusOK {
			live++
		}
	}
	t.Logf("%d logins with the old password answered 200 at %s", len(sessions), b.url)
	if live != 0 {
		out := p.must("", "--user", "alice", "audit", "log")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) > 12 {
			lines = lines[len(lines)-12:]
		}
		t.Errorf("%d session(s) opened with nina's replaced password are live after she changed it (the change ends every other session; a login in flight when it committed opened one after it); last audit entries:\n%s",
			live, strings.Join(lines, "\n"))
	}
}

var labelsSeenRE = regexp.MustCompile(`(?s)id="labels-form">.*?name="seen" value="([^"]*)"`)

// review15 finding A, the labels: the lot page's "print the labels" form
// sent once to each of two servers at the same moment prints every label
// twice — two PDFs, the count of printed labels doubled — where one server
// refuses the second send 409 as a resend. A second physical label per bag
// is what label reconciliation exists to prevent (a spare label can end up
// on another bag). Expected: one PDF, the other send refused 409 naming
// "seen", nothing counted for it.
func TestReview15LabelFormSentToTwoServersPrintsTwice(t *testing.T) {
	p := newProcPG(t)
	p.must("", "--user", "liu", "lot", "register", "--source", "uc", "--donor", "D-1", "--cells", "2.5e9", "--viability", "94.5",
		"--volume-ml", "1250", "--manufactured", dayFromNow(-5), "--expires", dayFromNow(360), "LOT-L")
	p.must("", "--user", "liu", "lot", "split", "--containers", "2", "--cells-each", "1e8", "--volume-ml-each", "50", "LOT-L")
	a, b := p.startServe("--addr", "127.0.0.1:0"), p.startServe("--addr", "127.0.0.1:0")
	la, lb := apiLogin(t, a.url, "liu"), apiLogin(t, b.url, "liu")
	const tries = 8
	for try := range tries {
		st, page, err := la.getPage("/lots/LOT-L")
		m := labelsSeenRE.FindStringSubmatch(page)
		if err != nil || st != http.StatusOK || m == nil {
			t.Fatalf("lot page at %s: %d %v (labels form with seen: %v)", a.url, st, err, m != nil)
		}
		sts, bodies := sendAtOnce([]*apiClient{la, lb}, "/lots/LOT-L/labels", url.Values{"signer": {"liu"}, "seen": {m[1]}})
		pdfs := 0
		for i, st := range sts {
			switch {
			case st == http.StatusOK && strings.HasPrefix(bodies[i], "%PDF"):
				pdfs++
			case st == http.StatusConflict:
			default:
				t.Fatalf("try %d: labels form at server %d: %d\n%.300s", try, i, st, bodies[i])
			}
		}
		if pdfs != 1 {
			t.Errorf("try %d: the labels form shown at entry %q, sent once to each of two servers on one database at the same moment, printed the labels %d times; want once, the other send refused 409 as a resend (as one server refuses it)\n%s",
				try, m[1], pdfs, p.must("", "--user", "liu", "label", "reconcile", "LOT-L"))
			break
		}
	}
}

// review15 finding C: two servers on one database signing into one
// witness folder with the database's one key — README's "run the servers
// with `serve --checkpoint-key` and `--checkpoint-dir` on a folder the
// database's administrators cannot write" — cannot start in the same
// second: both sign the same tree at start, the file name is the second and
// the tree size (checkpoint-20261205T043012Z-124.txt), and the second server
// finds it taken and stops with exit 3, "choose a new name", a name no one
// can choose for a server. Both servers start together after every power
// cut or host reboot. Expected: both start (the checkpoint already there is
// the same signed tree head — or each server's file gets a name of its own).
func TestReview15TwoServersOneWitnessFolderCannotStartTogether(t *testing.T) {
	p := newProcPG(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "ck.key")
	p.must("", "audit", "key", "init", "--out", key)
	p.must("", "--user", "alice", "audit", "key", "register", "--verifier-file", key+".pub")
	for try := range 3 {
		wit := filepath.Join(dir, fmt.Sprintf("witness-%d", try))
		if err := os.Mkdir(wit, 0o700); err != nil {
			t.Fatal(err)
		}
		type started struct {
			line, stderr string
			exit         int
		}
		res := make([]started, 2)
		atOnce(len(res), func(i int) {
			cmd := p.command("", "--user", "alice", "serve", "--addr", "127.0.0.1:0", "--checkpoint-key", key, "--checkpoint-dir", wit)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				res[i].stderr = err.Error()
				return
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				res[i].stderr = err.Error()
				return
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			lines := bufio.NewScanner(stdout)
			for lines.Scan() {
				if strings.HasPrefix(lines.Text(), "celltrack serve: ") && strings.Contains(lines.Text(), " at http") {
					res[i].line = lines.Text()
					return
				}
			}
			cmd.Wait() // the exit status is read below
			res[i].stderr, res[i].exit = stderr.String(), cmd.ProcessState.ExitCode()
		})
		for i, r := range res {
			if r.line == "" {
				t.Fatalf("try %d: of two servers started at once on one database with one key and one witness folder, server %d did not start (exit %d): %s",
					try, i, r.exit, strings.TrimSpace(r.stderr))
			}
		}
	}
}
