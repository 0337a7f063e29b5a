package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/web"
)

// A POST with no Origin (and no Sec-Fetch-Site), or from another site, is
// refused with 403 before any handler runs: nothing is written, not even
// the refused-password event a wrong witness password would record.
func TestServeRefusesCrossOriginPosts(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	form := url.Values{"mrn": {"MRN-1001"}, "bag": {"G12342600000101"}, "password": {fixturePassword}, "witness": {"omar"}, "witness_password": {"wrong-password"}}
	for _, tc := range []struct {
		name, origin, site string
	}{
		{"no Origin", "", ""},
		{"foreign Origin", "https://evil.example", ""},
		{"cross-site fetch", "https://evil.example", "cross-site"},
		{"foreign Origin, same host other port", "http://127.0.0.1:1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := f.auditCount()
			for _, path := range []string{"/bedside/administer", "/api/v1/dose/administer", "/login", "/api/v1/login"} {
				req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.origin != "" {
					req.Header.Set("Origin", tc.origin)
				}
				if tc.site != "" {
					req.Header.Set("Sec-Fetch-Site", tc.site)
				}
				if st, body := f.do(c, req); st != http.StatusForbidden {
					t.Errorf("POST %s: status %d, want 403\n%s", path, st, body)
				}
			}
			if f.auditCount() != n {
				t.Errorf("a refused request wrote %d audit entries", f.auditCount()-n)
			}
		})
	}
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "celltrack_session") {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	return nil
}

func loginResponse(t *testing.T, f *webFixture, planted string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/login", strings.NewReader(url.Values{"user": {"nina"}, "password": {fixturePassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.srv.URL)
	if planted != "" {
		req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: planted})
		req.AddCookie(&http.Cookie{Name: "__Host-celltrack_session", Value: planted})
	}
	c := f.noRedirect()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	return resp
}

// The session cookie is HttpOnly and SameSite=Strict always, Secure and
// __Host- under TLS; its value is a fresh token at every login.
func TestServeCookieFlags(t *testing.T) {
	for _, secure := range []bool{false, true} {
		f := newWebFixture(t, secure, "lab")
		ck := sessionCookie(t, loginResponse(t, f, ""))
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != secure || ck.Path != "/" {
			t.Errorf("secure=%v: cookie %+v", secure, ck)
		}
		if secure && ck.Name != "__Host-celltrack_session" {
			t.Errorf("under TLS the cookie is %s, want the __Host- prefix", ck.Name)
		}
		if len(ck.Value) < 22 { // 128 bits in base64
			t.Errorf("token %q is shorter than 128 bits", ck.Value)
		}
	}
}

// Session fixation: a token the attacker planted before login is not the
// session after it, and a token from an earlier login is revoked by the
// next login on the same browser.
func TestServeSessionFixation(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	first := sessionCookie(t, loginResponse(t, f, "attacker-chosen-token")).Value
	if first == "attacker-chosen-token" {
		t.Fatal("login kept the planted token")
	}
	second := sessionCookie(t, loginResponse(t, f, first)).Value
	if second == first {
		t.Fatal("a second login kept the first session's token")
	}
	for tok, want := range map[string]int{"attacker-chosen-token": http.StatusSeeOther, first: http.StatusSeeOther, second: http.StatusOK} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/bedside", nil)
		req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: tok})
		c := f.noRedirect()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /bedside with token %.8s…: %d, want %d", tok, resp.StatusCode, want)
		}
	}
}

// Logout revokes the session on the server: the old cookie, replayed, no
// longer opens a page or the API.
func TestServeLogoutRevokes(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	tok := sessionCookie(t, loginResponse(t, f, "")).Value
	replay := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: tok})
		c := f.noRedirect()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := replay("/trace"); st != http.StatusOK {
		t.Fatalf("before logout: %d", st)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/logout", nil)
	req.Header.Set("Origin", f.srv.URL)
	req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: tok})
	if st, _ := f.do(f.srv.Client(), req); st != http.StatusOK { // redirected to the login page
		t.Fatalf("logout: %d", st)
	}
	if st := replay("/trace"); st != http.StatusSeeOther {
		t.Errorf("page after logout: %d, want a redirect to /login", st)
	}
	if st := replay("/api/v1/trace/lot/LOT-UC-1"); st != http.StatusUnauthorized {
		t.Errorf("API after logout: %d, want 401", st)
	}
	req, _ = http.NewRequest(http.MethodPost, f.srv.URL+"/bedside/check", strings.NewReader("mrn=MRN-1001&scan=G12342600000101"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.srv.URL)
	req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: tok})
	if st, body := f.do(f.noRedirect(), req); st != http.StatusUnauthorized || !strings.Contains(body, "log in again") || !strings.Contains(body, `id="password"`) {
		t.Errorf("a form posted after logout: %d, want 401 and the login form\n%s", st, body)
	}
}

// A name with markup is shown as text: in the header (the user's printed
// name) and in a trace (the patient's name).
func TestServeEscapesNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ct.db")
	if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), "lab", nil); err != nil {
		t.Fatal(err)
	}
	runCLIOn(t, path, "--user", "alice", "user", "add", "--role", "nurse", "--full-name", `<script>alert("nurse")</script>`, "--password-stdin", "xss")
	runCLIOn(t, path, "--user", "pat", "patient", "add", "--name", `<img src=x onerror=alert(1)>`, "--born", "1990-01-01", "--sex", "F", "MRN-666")
	f := newWebFixtureAt(t, path)
	c := f.client()
	f.login(c, "xss")
	_, body := f.get(c, "/trace?kind=patient&ref=MRN-666")
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Fatalf("markup from a name reached the page unescaped:\n%s", body)
	}
	mustContain(t, "escaped names", body, "&lt;script&gt;alert(&#34;nurse&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;")
}

// Downloads: every format the command line writes, as an attachment whose
// name is built from the report, never from the request; a reference or
// format that tries to climb directories is only a value that is not found
// or not a format.
func TestServeTraceDownloads(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	c := f.client()
	f.login(c, "aud")
	for _, format := range []string{"text", "md", "json", "csv", "html", "pdf"} {
		resp, err := c.Get(f.srv.URL + "/trace/download?kind=lot&ref=LOT-UC-1&format=" + format)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cd := resp.Header.Get("Content-Disposition")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(cd, `attachment; filename="lot-trace-LOT-UC-1.`) {
			t.Errorf("%s: %d %q", format, resp.StatusCode, cd)
		}
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"kind=lot&ref=" + url.QueryEscape("../../../../etc/passwd") + "&format=pdf", http.StatusNotFound},
		{"kind=lot&ref=LOT-UC-1&format=" + url.QueryEscape("../../etc/passwd"), http.StatusBadRequest},
		{"kind=" + url.QueryEscape("../lot") + "&ref=LOT-UC-1&format=pdf", http.StatusBadRequest},
		{"kind=lot&ref=" + url.QueryEscape("/etc/passwd") + "&format=text", http.StatusNotFound},
		// As the API (review finding): full_verify is true or false.
		{"kind=lot&ref=LOT-UC-1&format=text&full_verify=maybe", http.StatusBadRequest},
		{"kind=lot&ref=LOT-UC-1&format=text&full_verify=true", http.StatusOK},
	} {
		st, body := f.get(c, "/trace/download?"+tc.query)
		if st != tc.want || strings.Contains(body, "root:") {
			t.Errorf("%s: %d, want %d\n%s", tc.query, st, tc.want, body)
		}
	}
}

// A body over the limit is refused with 413 before it is read, and one that
// hides its size (chunked) when the limit is reached.
func TestServeOversizedBody(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	big := strings.Repeat("x", web.MaxBodyBytes+1)
	for _, path := range []string{"/login", "/api/v1/login"} {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader("user=nina&password="+big))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", f.srv.URL)
		if st, _ := f.do(f.srv.Client(), req); st != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d, want 413", path, st)
		}
		req, _ = http.NewRequest(http.MethodPost, f.srv.URL+path, struct{ *strings.Reader }{strings.NewReader(`{"user":"nina","password":"` + big + `"}`)})
		req.ContentLength = -1 // chunked: the size is not known in advance
		req.Header.Set("Origin", f.srv.URL)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if st, _ := f.do(f.srv.Client(), req); st != http.StatusRequestEntityTooLarge {
			t.Errorf("%s chunked: %d, want 413", path, st)
		}
	}
	// A logged-in call that hides its size too (the review found 422).
	c := f.client()
	f.login(c, "nina")
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/v1/dose/check", struct{ *strings.Reader }{strings.NewReader(`{"mrn":"` + big + `"}`)})
	req.ContentLength = -1
	req.Header.Set("Origin", f.srv.URL)
	if st, body := f.do(c, req); st != http.StatusRequestEntityTooLarge {
		t.Errorf("dose check chunked: %d, want 413\n%.200s", st, body)
	}
}

// Every response carries the policy: no script, no framing.
func TestServeSecurityHeaders(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	resp, err := f.srv.Client().Get(f.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q allows script or inline content", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", resp.Header)
	}
}

// Lockout over HTTP: the web login counts wrong passwords with the command
// line's and the signatures' (one count, on the user record). The fifth in
// a row locks the account; the right password is then refused too, and an
// admin's `user unlock` at the command line lets the user in again. A live
// session of a user locked meanwhile ends at its next request.
func TestServeLockoutOverHTTP(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	omar := f.client()
	f.login(omar, "omar")
	c := f.client()
	for i := 1; i <= 5; i++ {
		st, m := f.postJSON(c, "/api/v1/login", map[string]any{"user": "omar", "password": "not-the-password"})
		if st != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %v", i, st, m)
		}
	}
	st, m := f.postJSON(c, "/api/v1/login", map[string]any{"user": "omar", "password": fixturePassword})
	msg, _ := m["error"].(map[string]any)["message"].(string)
	if st != http.StatusUnauthorized || !strings.Contains(msg, "locked") {
		t.Fatalf("right password on a locked account: %d %v", st, m)
	}
	u, err := f.db.User("omar")
	if err != nil || u.Failures < 5 || u.LockedUntil.IsZero() {
		t.Fatalf("the database does not hold omar locked: %+v %v", u, err)
	}
	if st, body := f.get(omar, "/api/v1/trace/lot/LOT-UC-1"); st != http.StatusUnauthorized {
		t.Errorf("the locked user's live session still reads: %d %.200s", st, body)
	}
	es, err := f.auditLog("")
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range es {
		if e.User == "omar" {
			actions[e.Action]++
		}
	}
	if actions["login.refused"] != 6 || actions["user.locked"] != 1 {
		t.Errorf("omar's audit entries %v, want 6 login.refused (5 wrong, 1 while locked) and 1 user.locked", actions)
	}
	if _, err := f.db.UnlockUser("alice", "omar", "confirmed by phone", nil); err != nil {
		t.Fatal(err)
	}
	if st, m := f.postJSON(c, "/api/v1/login", map[string]any{"user": "omar", "password": fixturePassword}); st != http.StatusOK {
		t.Fatalf("login after unlock: %d %v", st, m)
	}
}

// While the server holds the database the admin unlocks, disables and
// enables accounts on the accounts page (and the API): a lockout by a
// stranger is not a dead end until the server stops. Other roles get 403,
// a blank reason 422, and neither writes anything.
func TestServeAccountsPage(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	stranger := f.client()
	for i := 0; i < 5; i++ {
		f.postJSON(stranger, "/api/v1/login", map[string]any{"user": "omar", "password": "not-the-password"})
	}
	nurse := f.client()
	f.login(nurse, "nina")
	n0 := f.auditCount()
	if st, _ := f.get(nurse, "/accounts"); st != http.StatusForbidden {
		t.Errorf("GET /accounts as a nurse: %d, want 403", st)
	}
	if st, _ := f.postPage(nurse, "/accounts/omar/unlock", url.Values{"reason": {"x"}}); st != http.StatusForbidden || f.auditCount() != n0 {
		t.Errorf("unlock by a nurse: %d, %d entries", st, f.auditCount()-n0)
	}
	admin := f.client()
	f.login(admin, "alice")
	n0 = f.auditCount()
	st, body := f.get(admin, "/accounts")
	mustContain(t, "accounts page", body, `id="account-omar"`, "locked until", `action="/accounts/omar/unlock"`)
	if st != http.StatusOK {
		t.Fatalf("GET /accounts as admin: %d", st)
	}
	if st, body := f.postPage(admin, "/accounts/omar/unlock", url.Values{"reason": {" "}}); st != http.StatusUnprocessableEntity || f.auditCount() != n0 {
		t.Errorf("unlock without a reason: %d, %d entries\n%.300s", st, f.auditCount()-n0, body)
	}
	st, body = f.postPage(admin, "/accounts/omar/unlock", url.Values{"reason": {"locked by a stranger's guesses; confirmed by phone"}})
	if st != http.StatusOK || f.auditCount() != n0+1 {
		t.Fatalf("unlock: %d, %d entries\n%.300s", st, f.auditCount()-n0, body)
	}
	mustContain(t, "after unlock", body, "Account omar: unlock recorded")
	omar := f.client()
	f.login(omar, "omar")
	// Disabled through the API: the live session ends at its next request.
	st, m := f.postJSON(admin, "/api/v1/users/omar/disable", map[string]any{"reason": "badge lost"})
	if st != http.StatusOK || m["status"] != "disabled" {
		t.Fatalf("disable: %d %v", st, m)
	}
	if st, _ := f.get(omar, "/api/v1/lots"); st == http.StatusOK {
		t.Errorf("a disabled user's session still reads")
	}
	if st, m := f.postJSON(admin, "/api/v1/users/omar/enable", map[string]any{"reason": "badge found"}); st != http.StatusOK || m["status"] != "active" {
		t.Fatalf("enable: %d %v", st, m)
	}
	if st, m := f.postJSON(admin, "/api/v1/users/omar/promote", map[string]any{"reason": "x"}); st != http.StatusNotFound {
		t.Errorf("an unknown action: %d %v", st, m)
	}
}

// A call the API does not have answers with the API's error object.
func TestServeUnknownAPICall(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	c := f.client()
	for _, tc := range []struct{ method, path string }{{"GET", "/api/v1/nope"}, {"GET", "/api/v1/login"}} {
		req, _ := http.NewRequest(tc.method, f.srv.URL+tc.path, nil)
		st, body := f.do(c, req)
		var m map[string]any
		if st != http.StatusNotFound || json.Unmarshal([]byte(body), &m) != nil || m["error"].(map[string]any)["code"] != "not_found" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, st, body)
		}
	}
}
