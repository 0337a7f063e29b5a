package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
)

const newPassword = "copper-lantern-meadow-42"

// lastEntry is the newest audit entry of a user's record.
func (f *webFixture) lastEntry(user string) audit.Entry {
	f.t.Helper()
	es, err := f.auditLog(user)
	if err != nil || len(es) == 0 {
		f.t.Fatalf("audit log of %s: %v", user, err)
	}
	return es[len(es)-1]
}

// A logged-in user changes their own password on the page and through
// the API, as `celltrack user passwd`: the repeat is checked, the policy
// refuses with the command line's words and writes nothing, a wrong current
// password is recorded (one entry) and changes nothing, and the change is
// one audit entry "user.passwd".
func TestServePasswordChange(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	c := f.client()
	f.login(c, "nina")
	// A second session of nina, opened with the old password elsewhere.
	elsewhere := f.client()
	f.login(elsewhere, "nina")
	st, body := f.get(c, "/password")
	if st != http.StatusOK {
		t.Fatalf("password page: %d", st)
	}
	mustContain(t, "password page", body, `id="password-form"`, `action="/password"`, `href="/password" aria-current="page"`, `autocomplete="new-password"`)
	for _, tc := range []struct {
		name             string
		old, new, repeat string
		status, entries  int
		want             string
	}{
		{"repeat differs", fixturePassword, newPassword, newPassword + "x", http.StatusUnprocessableEntity, 0, "the new password and its repeat differ"},
		{"too short", fixturePassword, "short-pw", "short-pw", http.StatusUnprocessableEntity, 0, "the password is 8 characters; use at least 12"},
		{"user name", fixturePassword, "nina-likes-granite-77", "nina-likes-granite-77", http.StatusUnprocessableEntity, 0, `the password contains the user name "nina"`},
		{"printed name", fixturePassword, "rossi-granite-harbor-7", "rossi-granite-harbor-7", http.StatusUnprocessableEntity, 0, `from the printed name "Nina Rossi"`},
		{"easy to guess", fixturePassword, "password1234", "password1234", http.StatusUnprocessableEntity, 0, "too easy to guess"},
		{"the current one", fixturePassword, fixturePassword, fixturePassword, http.StatusUnprocessableEntity, 0, "is the current one"},
		{"wrong current", "not-the-password-1", newPassword, newPassword, http.StatusUnauthorized, 1, "wrong"},
	} {
		n := f.auditCount()
		st, body := f.postPage(c, "/password", url.Values{"password": {tc.old}, "new_password": {tc.new}, "repeat": {tc.repeat}})
		page := html.UnescapeString(body)
		if st != tc.status || !strings.Contains(page, tc.want) || !strings.Contains(page, "nothing was changed") {
			t.Errorf("%s: %d, want %d with %q:\n%s", tc.name, st, tc.status, tc.want, page)
		}
		if strings.Contains(body, tc.new) && tc.new != "" {
			t.Errorf("%s: the page shows a password typed", tc.name)
		}
		if got := f.auditCount() - n; got != tc.entries {
			t.Errorf("%s: %d audit entries, want %d", tc.name, got, tc.entries)
		}
	}
	n := f.auditCount()
	st, body = f.postPage(c, "/password", url.Values{"password": {fixturePassword}, "new_password": {newPassword}, "repeat": {newPassword}})
	if st != http.StatusOK || !strings.Contains(body, "The password of nina was changed") {
		t.Fatalf("change: %d\n%s", st, body)
	}
	// The change ends the other session (review finding 12); the browser
	// that made it goes on in a new one.
	if st, _ := f.get(elsewhere, "/api/v1/lots"); st != http.StatusUnauthorized {
		t.Errorf("the other session after the change: %d, want 401", st)
	}
	if st, _ := f.get(c, "/api/v1/lots"); st != http.StatusOK {
		t.Errorf("the session that changed the password: %d, want 200", st)
	}
	if es, _ := f.auditLog("nina"); f.auditCount() != n+2 || es[len(es)-1].Action != "user.passwd" || es[len(es)-1].User != "nina" {
		for _, e := range es[len(es)-(f.auditCount()-n):] {
			t.Logf("%s %s %s", e.User, e.Action, e.Reason)
		}
		t.Errorf("change: %d entries (want 2: the wrong-password count cleared, then user.passwd)", f.auditCount()-n)
	}
	// The old password no longer logs in; the new one does.
	o := f.client()
	if st, m := f.postJSON(o, "/api/v1/login", map[string]any{"user": "nina", "password": fixturePassword}); st != http.StatusUnauthorized {
		t.Errorf("old password after the change: %d %v", st, m)
	}
	if st, m := f.postJSON(o, "/api/v1/login", map[string]any{"user": "nina", "password": newPassword}); st != http.StatusOK {
		t.Fatalf("new password: %d %v", st, m)
	}
	// The API: the same rules, strict keys.
	n = f.auditCount()
	st, m := f.postJSON(o, "/api/v1/password", map[string]any{"password": newPassword, "new_password": "nina-likes-granite-77"})
	if e, _ := m["error"].(map[string]any); st != http.StatusUnprocessableEntity || e["code"] != "invalid" || !strings.Contains(e["message"].(string), `contains the user name "nina"`) || f.auditCount() != n {
		t.Errorf("API weak password: %d %v", st, m)
	}
	st, m = f.postJSON(o, "/api/v1/password", map[string]any{"password": newPassword, "New_Password": fixturePassword})
	if st != http.StatusBadRequest || f.auditCount() != n {
		t.Errorf("API key in another case: %d %v", st, m)
	}
	st, m = f.postJSON(o, "/api/v1/password", map[string]any{"password": newPassword, "new_password": fixturePassword})
	if st != http.StatusOK || m["user"] != "nina" || m["password_changed"] == nil || f.auditCount() != n+1 {
		t.Errorf("API change: %d %v", st, m)
	}
	// Without a session: 401, nothing written.
	n = f.auditCount()
	if st, m := f.postJSON(f.client(), "/api/v1/password", map[string]any{"password": fixturePassword, "new_password": newPassword}); st != http.StatusUnauthorized || f.auditCount() != n {
		t.Errorf("API change without a session: %d %v", st, m)
	}
}

// An admin resets a forgotten password on the accounts page or through the
// API, as `celltrack user reset`: other roles are refused before any value
// is looked at, a weak one-time password or a blank reason writes nothing,
// and the reset ends the user's sessions. A login with the one-time
// password — on the page or the API — opens no session and leads only to
// the change, which is the login, as `celltrack login` makes it.
func TestServePasswordReset(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	nina := f.client()
	f.login(nina, "nina")
	admin := f.client()
	f.login(admin, "alice")
	st, body := f.get(admin, "/accounts")
	mustContain(t, "accounts page", body, `id="reset-nina"`, `action="/accounts/nina/reset"`, "Reset password of nina")
	if st != http.StatusOK || strings.Contains(body, `id="reset-alice"`) {
		t.Errorf("accounts page: %d, or offers the admin a reset of their own password", st)
	}
	lab := f.client()
	f.login(lab, "liu")
	reset := url.Values{"password": {"tulip-orbit-canyon-31"}, "repeat": {"tulip-orbit-canyon-31"}, "reason": {"forgot the password"}}
	byHand := url.Values{"signer": {"alice"}, "password": {"tulip-orbit-canyon-31"}, "repeat": {"tulip-orbit-canyon-31"}, "reason": {"forgot the password"}}
	for _, tc := range []struct {
		name   string
		c      *http.Client
		who    string
		form   url.Values
		status int
		want   string
	}{
		{"a lab user", lab, "nina", reset, http.StatusForbidden, "user liu has role lab; the accounts page is the admin's"},
		{"repeat differs", admin, "nina", url.Values{"password": {"tulip-orbit-canyon-31"}, "repeat": {"tulip-orbit-canyon-32"}, "reason": {"x"}}, http.StatusUnprocessableEntity, "repeat differ"},
		{"weak", admin, "nina", url.Values{"password": {"nina12345678"}, "repeat": {"nina12345678"}, "reason": {"x"}}, http.StatusUnprocessableEntity, `contains the user name "nina"`},
		{"no reason", admin, "nina", url.Values{"password": {"tulip-orbit-canyon-31"}, "repeat": {"tulip-orbit-canyon-31"}, "reason": {" "}}, http.StatusUnprocessableEntity, "reason"},
		// No page shows these forms: made by hand, naming the admin.
		{"own account", admin, "alice", byHand, http.StatusConflict, "cannot reset their own password"},
		{"unknown user", admin, "nobody", byHand, http.StatusNotFound, `no user "nobody"`},
	} {
		n := f.auditCount()
		st, body := f.postPage(tc.c, "/accounts/"+tc.who+"/reset", tc.form)
		page := html.UnescapeString(body)
		if st != tc.status || !strings.Contains(page, tc.want) {
			t.Errorf("%s: %d, want %d with %q:\n%s", tc.name, st, tc.status, tc.want, page)
		}
		if f.auditCount() != n {
			t.Errorf("%s: %d audit entries written", tc.name, f.auditCount()-n)
		}
	}
	n := f.auditCount()
	st, body = f.postPage(admin, "/accounts/nina/reset", reset)
	if st != http.StatusOK || !strings.Contains(html.UnescapeString(body), "Account nina: password reset") {
		t.Fatalf("reset: %d\n%s", st, body)
	}
	if e := f.lastEntry("nina"); f.auditCount() != n+1 || e.Action != "user.reset" || e.User != "alice" || e.Reason != "forgot the password" {
		t.Errorf("reset: %d entries, last %+v", f.auditCount()-n, e)
	}
	// nina's session ended.
	noFollow := f.noRedirect()
	noFollow.Jar = nina.Jar
	if st, _ := f.do(noFollow, mustReq(t, f.srv.URL+"/bedside")); st != http.StatusSeeOther {
		t.Errorf("nina's page after the reset: %d, want 303 to the login", st)
	}

	// The one-time password logs in to nothing but the change.
	n = f.auditCount()
	st, body = f.post(nina, "/login", url.Values{"user": {"nina"}, "password": {"tulip-orbit-canyon-31"}})
	mustContain(t, "login with the one-time password", body, `id="must-change"`, `action="/password/expired"`, "must be changed before anything else", `name="repeat"`)
	if st != http.StatusForbidden || strings.Contains(body, "Log out") || strings.Contains(body, "tulip-orbit") {
		t.Errorf("login with the one-time password: %d (want 403, no menu, no password echoed)", st)
	}
	if st, _ := f.do(noFollow, mustReq(t, f.srv.URL+"/bedside")); st != http.StatusSeeOther || f.auditCount() != n {
		t.Errorf("after the one-time login: bedside %d, %d entries written", st, f.auditCount()-n)
	}
	api := f.client()
	st, m := f.postJSON(api, "/api/v1/login", map[string]any{"user": "nina", "password": "tulip-orbit-canyon-31"})
	if e, _ := m["error"].(map[string]any); st != http.StatusForbidden || e["code"] != "password_change" || e["exit"] != float64(3) ||
		!strings.Contains(e["message"].(string), "POST /api/v1/password/expired") || f.auditCount() != n {
		t.Errorf("API login with the one-time password: %d %v", st, m)
	}
	if st, _ := f.get(api, "/api/v1/users"); st != http.StatusUnauthorized {
		t.Errorf("a call after the one-time API login: %d, want 401", st)
	}
	// The change: repeat, policy and a wrong one-time password refused.
	for _, tc := range []struct {
		name            string
		pw, new, repeat string
		status, entries int
		want            string
	}{
		{"repeat differs", "tulip-orbit-canyon-31", newPassword, "x", http.StatusUnprocessableEntity, 0, "repeat differ"},
		{"weak", "tulip-orbit-canyon-31", "rossi-granite-harbor-7", "rossi-granite-harbor-7", http.StatusUnprocessableEntity, 0, "printed name"},
		{"wrong one-time", "tulip-orbit-canyon-99", newPassword, newPassword, http.StatusUnauthorized, 1, "wrong user name or password"},
	} {
		n := f.auditCount()
		st, body := f.post(nina, "/password/expired", url.Values{"user": {"nina"}, "password": {tc.pw}, "new_password": {tc.new}, "repeat": {tc.repeat}})
		page := html.UnescapeString(body)
		if st != tc.status || !strings.Contains(page, tc.want) || !strings.Contains(page, `action="/password/expired"`) {
			t.Errorf("%s: %d, want %d with %q:\n%s", tc.name, st, tc.status, tc.want, page)
		}
		if f.auditCount()-n != tc.entries {
			t.Errorf("%s: %d entries, want %d", tc.name, f.auditCount()-n, tc.entries)
		}
	}
	n = f.auditCount()
	st, _ = f.do(noFollow, mustPost(t, f.srv.URL+"/password/expired", url.Values{"user": {"nina"}, "password": {"tulip-orbit-canyon-31"}, "new_password": {newPassword}, "repeat": {newPassword}}))
	if st != http.StatusSeeOther {
		t.Fatalf("change at login: %d", st)
	}
	if e := f.lastEntry("nina"); f.auditCount() != n+1 || e.Action != "login" || e.Reason != "password changed at login" {
		t.Errorf("change at login: %d entries, last %+v (want the entry `celltrack login` writes)", f.auditCount()-n, e)
	}
	if st, _ := f.do(noFollow, mustReq(t, f.srv.URL+"/bedside")); st != http.StatusOK {
		t.Errorf("bedside after the change: %d", st)
	}

	// The same through the API: the admin's reset, then the change at login.
	n = f.auditCount()
	st, m = f.postJSON(admin, "/api/v1/users/nina/reset", map[string]any{"one_time_password": "tulip-orbit-canyon-31", "reason": ""})
	if st != http.StatusUnprocessableEntity || f.auditCount() != n {
		t.Errorf("API reset without a reason: %d %v", st, m)
	}
	st, m = f.postJSON(lab, "/api/v1/users/nina/reset", map[string]any{"one_time_password": "tulip-orbit-canyon-31", "reason": "x"})
	if st != http.StatusForbidden || f.auditCount() != n {
		t.Errorf("API reset by a lab user: %d %v", st, m)
	}
	st, m = f.postJSON(admin, "/api/v1/users/nina/reset", map[string]any{"one_time_password": "tulip-orbit-canyon-31", "reason": "forgot it again"})
	if st != http.StatusOK || m["user"] != "nina" || f.auditCount() != n+1 {
		t.Fatalf("API reset: %d %v", st, m)
	}
	n = f.auditCount()
	st, m = f.postJSON(api, "/api/v1/password/expired", map[string]any{"user": "nina", "password": "tulip-orbit-canyon-31", "new_password": "nina-likes-granite-77"})
	if st != http.StatusUnprocessableEntity || f.auditCount() != n {
		t.Errorf("API change at login, weak: %d %v", st, m)
	}
	st, m = f.postJSON(api, "/api/v1/password/expired", map[string]any{"user": "nina", "password": "tulip-orbit-canyon-31", "new_password": "saffron-glacier-piano-8"})
	if st != http.StatusOK || m["user"] != "nina" || m["role"] != "nurse" || f.auditCount() != n+1 {
		t.Fatalf("API change at login: %d %v", st, m)
	}
	if st, _ := f.get(api, "/api/v1/lots"); st != http.StatusOK {
		t.Errorf("a call after the change: %d", st)
	}
	// A password that need not change is not changed by this call.
	n = f.auditCount()
	st, m = f.postJSON(f.client(), "/api/v1/password/expired", map[string]any{"user": "nina", "password": "saffron-glacier-piano-8", "new_password": newPassword})
	if e, _ := m["error"].(map[string]any); st != http.StatusConflict || e["code"] != "conflict" {
		t.Errorf("change at login of a password that need not change: %d %v", st, m)
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the refused change at login wrote %d audit entries; want none", got-n)
	}
	if st, _ := f.postJSON(f.client(), "/api/v1/login", map[string]any{"user": "nina", "password": "saffron-glacier-piano-8"}); st != http.StatusOK {
		t.Errorf("the password changed though it need not: %d", st)
	}
}

func mustReq(t *testing.T, u string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func mustPost(t *testing.T, u string, form url.Values) *http.Request {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u[:strings.Index(u[len("http://"):], "/")+len("http://")])
	return req
}
