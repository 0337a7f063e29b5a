package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Review 10: fix9 gave the bedside sign form a hidden signer so that a form
// shown to nina and sent after pat logged in in another tab of the same
// browser is refused (409) instead of being signed as pat. The reaction
// form, shown to nina on the same "Infusion recorded" page, carries no
// signer: nina records the patient's grade 3 reaction she observed, and the
// adverse-reaction record (and its audit entry) names pat, a physician who
// never saw the patient or the page. It should be refused as the sign form
// is, 409, nothing written.
func TestReview10ReactionFormRecordedAsAnotherTabsUser(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	browser := f.client()
	f.login(browser, "nina")
	_, body := f.post(browser, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	sign := review9SignForm(t, body)
	sign.Set("password", fixturePassword)
	sign.Set("witness", "omar")
	sign.Set("witness_password", fixturePassword)
	st, body := f.post(browser, "/bedside/administer", sign)
	i := strings.Index(body, `id="reaction-form"`)
	if st != http.StatusOK || i < 0 {
		t.Fatalf("administer: %d\n%s", st, body)
	}
	form := body[i : i+strings.Index(body[i:], "</form>")]
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(form, -1) {
		v.Add(m[1], m[2])
	}
	v.Set("grade", "3")
	v.Set("text", "rigors and hypotension, seen by nina")
	// Another tab of the same browser: pat (physician) logs in.
	if st, body := f.post(browser, "/login", url.Values{"user": {"pat"}, "password": {fixturePassword}}); st != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Fatalf("pat's login: %d\n%s", st, body)
	}
	before := f.auditCount()
	st, body = f.post(browser, "/bedside/reaction", v)
	t.Logf("nina's reaction form under pat's session: %d, %s", st, review9Refusal(body))
	if strings.Contains(body, "Reaction #1") {
		_, trace := f.get(browser, "/api/v1/trace/patient/MRN-1001?format=text")
		t.Errorf("the reaction form nina was shown recorded reaction #1 as pat's (trace: %q)",
			regexp.MustCompile(`(?m)^.*rigors.*$`).FindString(trace))
	}
	if st != http.StatusConflict {
		t.Errorf("nina's reaction form under pat's session: %d, want 409 (this form was for nina)", st)
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the reaction form sent under another user's session wrote %d audit entries", after-before)
	}
}
