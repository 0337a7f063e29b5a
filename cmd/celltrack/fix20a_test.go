package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pdftest"
)

// Review 20 C: the user-access review counts every refused password of an
// account, those typed while it was locked included (not checked since
// review 20 A), and shows those apart — on the /reports/access page and in
// its CSV and PDF downloads, as `report access` does (story
// report_access_while_locked). omar: five wrong passwords at the web login
// (locked), then his right one and a wrong one while locked.
func TestFix20AccessReviewShowsPasswordsWhileLocked(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	for i, pw := range []string{"wrong-password-zz", "wrong-password-zz", "wrong-password-zz", "wrong-password-zz", "wrong-password-zz", fixturePassword, "wrong-password-yy"} {
		if st, _ := f.post(f.client(), "/login", url.Values{"user": {"omar"}, "password": {pw}}); st != http.StatusUnauthorized {
			t.Fatalf("omar's login %d: %d; want 401", i+1, st)
		}
	}
	c := f.client()
	f.login(c, "aud")
	const line = "2 of 7 failed passwords typed while locked (not checked)"
	st, page := f.get(c, "/reports/access")
	if st != http.StatusOK || !strings.Contains(page, "Passwords typed while locked") || !strings.Contains(page, line) {
		t.Errorf("/reports/access: %d; want the passwords typed while omar was locked (%q):\n%.3000s", st, line, page)
	}
	st, _, csv := f.download(c, "/reports/access/download?format=csv")
	if st != http.StatusOK || !strings.Contains(string(csv), ",failed_passwords,failed_while_locked,locks,") {
		t.Fatalf("access CSV: %d, header %.300q", st, csv)
	}
	var omar string
	for _, l := range strings.Split(string(csv), "\n") {
		if strings.HasPrefix(l, "omar,") {
			omar = l
		}
	}
	// logins 1 (the fixture's), failed 7, of them while locked 2, locks 1
	if !strings.Contains(omar, ",1,7,2,1,") {
		t.Errorf("omar's CSV row %q; want logins 1, failed_passwords 7, failed_while_locked 2, locks 1", omar)
	}
	st, _, pdf := f.download(c, "/reports/access/download?format=pdf")
	if st != http.StatusOK {
		t.Fatalf("access PDF: %d", st)
	}
	if text := strings.Join(strings.Fields(pdftest.Text(t, pdf)), " "); !strings.Contains(text, line) {
		t.Errorf("the access PDF does not show omar's passwords while locked (%q):\n%.3000s", line, text)
	}
}
