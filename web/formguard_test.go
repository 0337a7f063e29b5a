package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// Every page form that changes anything says whom it was shown to, so that
// a form sent after another user logged in in another tab of the same
// browser is refused (formFor, formSigner): a new form without it fails
// here. The exceptions write nothing as the session's user: the login
// (there is no session yet), the logout (it ends whichever session the
// browser holds, as it says) and the bedside check (a read: its answer is
// drawn for the session's user, whose name the sign form on it carries).
func TestEveryPostFormSaysWhomItWasShownTo(t *testing.T) {
	exempt := map[string]bool{"/login": true, "/logout": true, "/bedside/check": true}
	form := regexp.MustCompile(`(?s)<form method="post" action="([^"]+)".*?</form>`)
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, name := range names {
		b, err := fs.ReadFile(templateFS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range form.FindAllStringSubmatch(string(b), -1) {
			seen++
			if exempt[m[1]] {
				continue
			}
			if !strings.Contains(m[0], `name="`+signerField+`"`) {
				t.Errorf("%s: the form posting to %s does not say whom it was shown to (an input named %q)", name, m[1], signerField)
			}
		}
	}
	if seen < 30 {
		t.Errorf("found %d post forms in the templates; the pattern no longer matches them", seen)
	}
}
