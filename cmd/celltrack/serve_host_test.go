package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/celltrack/celltrack/web"
)

// DNS rebinding: a request whose Host is not a name the server answers for
// is refused with 421 before anything looks at it — the login page, a
// login through the API (which would write its audit entry and open a
// session), a page behind the session — and nothing is written. The names
// of a loopback --addr are served, and /healthz answers any Host.
func TestServeHostHeader(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	_, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	send := func(method, host, path, body string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
		req.Host = host
		if method == http.MethodPost {
			req.Header.Set("Origin", "http://"+host)
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	login := `{"user":"nina","password":"` + fixturePassword + `"}`
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1", "localhost", "127.0.0.1.evil.example:" + port} {
		n := f.auditCount()
		st, body, h := send(http.MethodPost, host, "/api/v1/login", login)
		var e APIErrorJSON
		if err := json.Unmarshal([]byte(body), &e); err != nil || st != http.StatusMisdirectedRequest || e.Error.Code != "forbidden" || e.Error.Exit != 3 {
			t.Errorf("API login with Host %q: %d\n%s", host, st, body)
		}
		mustContain(t, "API refusal", e.Error.Message, `host "`+host+`"`, "127.0.0.1:"+port, "localhost:"+port, "[::1]:"+port, "nothing was done")
		if h.Get("Set-Cookie") != "" {
			t.Errorf("Host %q: a cookie was set", host)
		}
		if f.auditCount() != n {
			t.Errorf("Host %q: %d audit entries written", host, f.auditCount()-n)
		}
		if st, body, _ := send(http.MethodGet, host, "/login", ""); st != http.StatusMisdirectedRequest || strings.Contains(body, "<form") {
			t.Errorf("login page with Host %q: %d\n%s", host, st, body)
		}
		if st, _, _ := send(http.MethodGet, host, "/healthz", ""); st != http.StatusOK {
			t.Errorf("healthz with Host %q: %d", host, st)
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST:" + port, "[::1]:" + port} {
		if st, body, _ := send(http.MethodGet, host, "/login", ""); st != http.StatusOK || !strings.Contains(body, "<form") {
			t.Errorf("login page with Host %q: %d", host, st)
		}
	}
	st, _, h := send(http.MethodPost, "localhost:"+port, "/api/v1/login", login)
	if st != http.StatusOK || h.Get("Set-Cookie") == "" {
		t.Errorf("API login with Host localhost:%s: %d", port, st)
	}
}

// The allowed names of each --addr and --public-host.
func TestAllowedHosts(t *testing.T) {
	for _, tc := range []struct {
		addr, port string
		public     []string
		want       string // the names, or the refusal's words
	}{
		{"127.0.0.1:8080", "8080", nil, "127.0.0.1:8080 [::1]:8080 localhost:8080"},
		{"localhost:0", "40001", nil, "127.0.0.1:40001 [::1]:40001 localhost:40001"},
		{"[::1]:8080", "8080", nil, "127.0.0.1:8080 [::1]:8080 localhost:8080"},
		{"10.0.0.5:8443", "8443", nil, "10.0.0.5:8443"},
		{"Ward7.Example:8443", "8443", nil, "ward7.example:8443"},
		{"10.0.0.5:8080", "8080", []string{"ward7.example.org", "Ward7.example.org:8443"}, "10.0.0.5:8080 ward7.example.org ward7.example.org:8443"},
		{":8443", "8443", []string{"ward7.example.org:8443"}, "ward7.example.org:8443"},
		// The scheme's own port: browsers send the bare name (review finding).
		{":8443", "8443", []string{"Ward7.example.org:443"}, "ward7.example.org ward7.example.org:443"},
		{":8080", "8080", []string{"ward7.example.org:80", "[fd00::5]:443"}, "[fd00::5] [fd00::5]:443 ward7.example.org ward7.example.org:80"},
		{"0.0.0.0:8443", "8443", []string{"10.0.0.5:8443", "[fd00::5]:8443"}, "10.0.0.5:8443 [fd00::5]:8443"},
		{":8443", "8443", nil, "refused: --addr :8443 listens on every interface; --public-host NAME[:PORT]"},
		{"[::]:8443", "8443", nil, "refused: every interface"},
		{"127.0.0.1:8080", "8080", []string{"https://ward7.example"}, `refused: --public-host "https://ward7.example" is not a host name`},
		{"127.0.0.1:8080", "8080", []string{"ward7.example/bedside"}, "refused: is not a host name"},
		{"127.0.0.1:8080", "8080", []string{"ward7.example:http"}, "refused: port that is not a number"},
		{"127.0.0.1:8080", "8080", []string{"ward7.example:70000"}, "refused: above 65535"},
		{"127.0.0.1:8080", "8080", []string{"ward_7.example"}, "refused: not a valid host name"},
		{"127.0.0.1:8080", "8080", []string{"0.0.0.0"}, "refused: every interface, not a host"},
		{"127.0.0.1:8080", "8080", []string{""}, "refused: is empty"},
	} {
		got, err := web.AllowedHosts(tc.addr, tc.port, tc.public)
		if want, ok := strings.CutPrefix(tc.want, "refused: "); ok {
			for _, w := range strings.Split(want, "; ") {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%s %v: %v, want a refusal with %q", tc.addr, tc.public, err, w)
				}
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s %v: %v %v, want %s", tc.addr, tc.public, got, err, tc.want)
		}
	}
}

// The real binary with --public-host: the proxy's name is served, the
// address it listens on too, anything else is 421.
func TestServeProcessPublicHost(t *testing.T) {
	p := newProcDB(t)
	sp := p.startServe("--addr", "127.0.0.1:0", "--public-host", "ward7.example.org", "--public-host", "ward7.example.org:8443")
	m := []string{sp.line, sp.url, strings.TrimPrefix(sp.url, "http://")}
	for host, want := range map[string]int{"ward7.example.org": 200, "ward7.example.org:8443": 200, m[2]: 200,
		"ward7.example.org:8080": 421, "evil.example": 421, "ward7.example.org.evil.example": 421} {
		req, _ := http.NewRequest(http.MethodGet, m[1]+"/login", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
	sp.cmd.Process.Signal(syscall.SIGTERM)
	sp.cmd.Wait()
}
