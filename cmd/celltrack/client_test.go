package main

import (
	"bytes"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// Through an https server whose certificate a private CA signed: refused
// without CELLTRACK_SERVER_CA (nothing sent, exit 10 naming the
// certificate), accepted with it; the session file is 0600.
func TestClientHTTPSPrivateCA(t *testing.T) {
	dir := t.TempDir()
	db := baseCopy(t, dir, "")
	var requests atomic.Int64
	srv := httptest.NewTLSServer(storyServer(db, &requests))
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "home-aud")
	run := func(caFile, stdin string, args ...string) invocation {
		env := map[string]string{"CELLTRACK_CONFIG_DIR": cfg, "CELLTRACK_SERVER_CA": caFile}
		var out, errb bytes.Buffer
		code := runEnv(append([]string{"celltrack", "--server", srv.URL}, args...), strings.NewReader(stdin), &out, &errb, fixedClock(), func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return os.Getenv(k)
		})
		return invocation{code, out.String(), errb.String()}
	}
	got := run("", fixturePassword+"\n", "login", "--password-stdin", "aud")
	if got.code != 10 || !strings.Contains(got.stderr, "certificate") || !strings.Contains(got.stderr, "set CELLTRACK_SERVER_CA to the PEM file") {
		t.Fatalf("without the CA: exit %d, stderr %q; want 10 naming the certificate and CELLTRACK_SERVER_CA", got.code, got.stderr)
	}
	if requests.Load() != 0 {
		t.Fatalf("%d requests reached the server over an unverified connection", requests.Load())
	}
	got = run(ca, fixturePassword+"\n", "login", "--password-stdin", "aud")
	if got.code != 0 || !strings.HasPrefix(got.stdout, "logged in as aud (Ada Auditor, auditor) to "+srv.URL+" until ") {
		t.Fatalf("login with the CA: exit %d\nstdout %s\nstderr %s", got.code, got.stdout, got.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(cfg, "server-*.json"))
	if len(files) != 1 {
		t.Fatalf("session files %v, want one", files)
	}
	if st, err := os.Stat(files[0]); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session file %s: %v %v, want 0600", files[0], st.Mode(), err)
	}
	got = run(ca, "", "--user", "aud", "trace", "donor", "D-0001")
	if got.code != 0 || !strings.Contains(got.stdout, "Look-back trace of donor D-0001") {
		t.Fatalf("trace: exit %d\nstdout %s\nstderr %s", got.code, got.stdout, got.stderr)
	}
}

// The same command lines, on two copies of one database, locally and
// through a server: byte for byte the same stdout and stderr (the copies'
// folders and record UUIDs aside) and the same exit code.
func TestClientSameOutputBothModes(t *testing.T) {
	pw2 := fixturePassword + "\n" + fixturePassword + "\n"
	cases := []struct {
		name, base, stdin string
		args              []string
	}{
		{"check GO", "bedside", "", []string{"--user", "nina", "dose", "check", "--container", "G12342600000101", "MRN-1001"}},
		{"check NO-GO", "bedside", "", []string{"--user", "nina", "dose", "check", "--container", "G12342600000101", "MRN-2001"}},
		{"check NO-GO json", "bedside", "", []string{"--json", "--user", "nina", "dose", "check", "--container", "G12342600000101", "MRN-2001"}},
		{"check GO json", "bedside", "", []string{"--json", "--user", "aud", "dose", "check", "--container", "G12342600000101", "MRN-1001"}},
		{"check unknown bag", "bedside", "", []string{"--user", "nina", "dose", "check", "--container", "G12342600000199", "MRN-1001"}},
		{"check bad volume", "bedside", "", []string{"--user", "nina", "dose", "check", "--volume-ml", "-3", "--container", "G12342600000101", "MRN-1001"}},
		{"administer", "bedside", pw2, []string{"--user", "nina", "dose", "administer", "--container", "G12342600000101", "--witness", "omar", "--password-stdin", "MRN-1001"}},
		{"administer json", "bedside", pw2, []string{"--json", "--user", "nina", "dose", "administer", "--container", "G12342600000101", "--witness", "omar", "--password-stdin", "MRN-1001"}},
		{"administer NO-GO", "bedside", pw2, []string{"--user", "nina", "dose", "administer", "--container", "G12342600000101", "--witness", "omar", "--password-stdin", "MRN-2001"}},
		{"administer wrong password", "bedside", "nope-nope-nope-1\n" + fixturePassword + "\n", []string{"--user", "nina", "dose", "administer", "--container", "G12342600000101", "--witness", "omar", "--password-stdin", "MRN-1001"}},
		{"administer lab witness", "bedside", "", []string{"--user", "nina", "dose", "administer", "--container", "G12342600000101", "--witness", "liu", "--password-stdin", "MRN-1001"}},
		{"administer same witness", "bedside", "", []string{"--user", "nina", "dose", "administer", "--container", "G12342600000101", "--witness", "nina", "--password-stdin", "MRN-1001"}},
		{"reaction", "infused", "", []string{"--user", "nina", "dose", "reaction", "--infusion", infusionID, "--grade", "2", "--text", "rigors"}},
		{"reaction grade 9", "infused", "", []string{"--user", "nina", "dose", "reaction", "--infusion", infusionID, "--grade", "9", "--text", "rigors"}},
		{"trace patient", "infused", "", []string{"--user", "aud", "trace", "patient", "MRN-1001"}},
		{"trace lot csv", "infused", "", []string{"--user", "aud", "trace", "lot", "--format", "csv", "LOT-UC-1"}},
		{"trace donor md full verify", "infused", "", []string{"--user", "aud", "trace", "donor", "--format", "md", "--full-verify", "D-0001"}},
		{"trace container out", "infused", "", []string{"--user", "aud", "trace", "container", "--out", "$DIR/c.html", "G12342600000101"}},
		{"trace unknown json", "infused", "", []string{"--json", "--user", "aud", "trace", "donor", "D-0404"}},
		{"trace by disabled-less stranger", "infused", "", []string{"--user", "mallory", "trace", "donor", "D-0001"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(server bool) (invocation, string) {
				dir := t.TempDir()
				db := baseCopy(t, dir, tc.base)
				args := make([]string, len(tc.args))
				for i, a := range tc.args {
					args[i] = strings.ReplaceAll(a, "$DIR/", dir+string(filepath.Separator))
				}
				if !server {
					return celltrack(db, tc.stdin, args...), dir
				}
				var requests atomic.Int64
				srv := httptest.NewServer(storyServer(db, &requests))
				defer srv.Close()
				cfg := filepath.Join(homesOf(db), commandUser(args, "aud"))
				rt := &runtime{getenv: func(string) string { return cfg }}
				local, _ := rt.sessionFile(db)
				cl, err := rt.newServerClient(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				syncSessions(local, cl.path, srv.URL) // the person's session, as its cookie
				var out, errb bytes.Buffer
				code := runEnv(append([]string{"celltrack", "--server", srv.URL}, args...), strings.NewReader(tc.stdin), &out, &errb, fixedClock(),
					func(k string) string {
						if k == "CELLTRACK_CONFIG_DIR" {
							return cfg
						}
						return os.Getenv(k)
					})
				// A bad value and a missing session are refused before
				// anything is sent, as locally before the database opens.
				if requests.Load() == 0 && !strings.Contains(tc.name, "stranger") && !strings.Contains(tc.name, "bad volume") {
					t.Errorf("nothing reached the server")
				}
				return invocation{code, out.String(), errb.String()}, dir
			}
			norm := func(s, dir string) string {
				s = strings.ReplaceAll(s, dir, "<dir>")
				s = strings.ReplaceAll(s, strings.ReplaceAll(dir, "_", `\_`), "<dir>") // Markdown escapes
				s = uuidText.ReplaceAllString(s, "<uuid>")
				return s
			}
			l, ldir := run(false)
			s, sdir := run(true)
			if l.code != s.code {
				t.Errorf("exit %d locally, %d through the server\nlocal stderr: %s\nserver stderr: %s", l.code, s.code, l.stderr, s.stderr)
			}
			if a, b := norm(l.stdout, ldir), norm(s.stdout, sdir); a != b {
				t.Errorf("stdout differs\n--- local ---\n%s\n--- server ---\n%s", a, b)
			}
			// Where the local command names the database, the client names
			// the server (not logged in to ct.db / to http://…).
			la, sa := norm(l.stderr, ldir), norm(s.stderr, sdir)
			sa = regexp.MustCompile(`http://127\.0\.0\.1:\d+`).ReplaceAllString(sa, "<dir>/ct.db")
			if la != sa {
				t.Errorf("stderr differs\n--- local ---\n%s\n--- server ---\n%s", la, sa)
			}
		})
	}
}

// Review finding: --user through a server was checked against the user
// field of the local session file, which anyone can edit, while the server
// acts on the cookie's session. It is checked against the server's answer
// of who the session is: an edited file is refused (exit 2) and nothing is
// done as the user it claims.
func TestClientUserCheckedByServer(t *testing.T) {
	dir := t.TempDir()
	db := baseCopy(t, dir, "")
	var requests atomic.Int64
	srv := httptest.NewServer(storyServer(db, &requests))
	defer srv.Close()
	cfg := filepath.Join(dir, "home-aud")
	run := func(stdin string, args ...string) invocation { return runThrough(srv.URL, cfg, stdin, args...) }
	if got := run(fixturePassword+"\n", "login", "--password-stdin", "aud"); got.code != 0 {
		t.Fatalf("login: exit %d %s", got.code, got.stderr)
	}
	if got := run("", "--user", "aud", "whoami"); got.code != 0 {
		t.Fatalf("whoami as aud: exit %d %s", got.code, got.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(cfg, "server-*.json"))
	if len(files) != 1 {
		t.Fatalf("session files %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	edited := regexp.MustCompile(`"user": "aud"`).ReplaceAll(b, []byte(`"user": "nina"`))
	if bytes.Equal(edited, b) {
		t.Fatalf("no user field in %s", b)
	}
	if err := os.WriteFile(files[0], edited, 0o600); err != nil {
		t.Fatal(err)
	}
	got := run("", "--user", "nina", "whoami")
	if got.code != 2 || !strings.Contains(got.stderr, "the server says its session is aud's") {
		t.Fatalf("--user nina with a file edited to say nina: exit %d, stderr %q; want 2 naming aud", got.code, got.stderr)
	}
}

// Review finding: an infusion whose answer was lost after the server
// committed it (a proxy dropping the connection) exited 10 "cannot be
// reached", inviting a second infusion. A write that reached the server and
// got no answer exits 12 saying it may have been recorded and how to check;
// a server never reached still exits 10.
func TestClientLostAnswerOfWrite(t *testing.T) {
	dir := t.TempDir()
	db := baseCopy(t, dir, "bedside")
	var requests atomic.Int64
	real := storyServer(db, &requests)
	// The server records the infusion, then the connection drops before
	// the answer leaves.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/svc/infusions" {
			rec := httptest.NewRecorder()
			real.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				t.Errorf("the infusion was not recorded: %d %s", rec.Code, rec.Body)
			}
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			return
		}
		real.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := filepath.Join(homesOf(db), "nina")
	rt := &runtime{getenv: func(string) string { return cfg }}
	local, _ := rt.sessionFile(db)
	run := func(url, stdin string, args ...string) invocation {
		cl, err := rt.newServerClient(url)
		if err != nil {
			t.Fatal(err)
		}
		syncSessions(local, cl.path, url)
		var out, errb bytes.Buffer
		code := runEnv(append([]string{"celltrack", "--server", url}, args...), strings.NewReader(stdin), &out, &errb, fixedClock(),
			func(k string) string {
				if k == "CELLTRACK_CONFIG_DIR" {
					return cfg
				}
				return os.Getenv(k)
			})
		return invocation{code, out.String(), errb.String()}
	}
	pw2 := fixturePassword + "\n" + fixturePassword + "\n"
	got := run(srv.URL, pw2, "--user", "nina", "dose", "administer", "--container", "G12342600000101", "--witness", "omar", "--password-stdin", "MRN-1001")
	if got.code != 12 || !strings.Contains(got.stderr, "may have been recorded") || !strings.Contains(got.stderr, "celltrack schedule show MRN") ||
		strings.Contains(got.stderr, "cannot be reached") {
		t.Fatalf("administer whose answer was lost: exit %d, stderr %q; want 12, may have been recorded, schedule show", got.code, got.stderr)
	}
	if out := celltrack(db, "", "--user", "nina", "schedule", "show", "MRN-1001"); !strings.Contains(out.stdout, "  given  ") {
		t.Errorf("the infusion is not in the schedule, so the test proved nothing:\n%s%s", out.stdout, out.stderr)
	}
	// A server that is not there: nothing was sent, exit 10.
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	got = run(url, pw2, "--user", "nina", "dose", "check", "--container", "G12342600000101", "MRN-1001")
	if got.code != 10 || !strings.Contains(got.stderr, "cannot be reached") {
		t.Errorf("a server not there: exit %d, stderr %q; want 10", got.code, got.stderr)
	}
}

// runThrough runs one command line in-process through the server at url,
// at the test clock, with cfg as the person's config folder (where the
// session file of the server is).
func runThrough(url, cfg, stdin string, args ...string) invocation {
	var out, errb bytes.Buffer
	code := runEnv(append([]string{"celltrack", "--server", url}, args...), strings.NewReader(stdin), &out, &errb, fixedClock(), func(k string) string {
		if k == "CELLTRACK_CONFIG_DIR" {
			return cfg
		}
		return os.Getenv(k)
	})
	return invocation{code, out.String(), errb.String()}
}
