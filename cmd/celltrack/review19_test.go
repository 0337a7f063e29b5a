package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Review 19 (findings in /work/s13/review19-findings.md): hostile review of
// session 13's merged changes. Each test fails on main c728723.

// review19 finding D (fix17a, the API): POST …/weights/latest/confirmation
// reads the physician's password before it looks at the weight named. The
// command line was changed (b2265d5) to say "a weight was recorded since"
// before the password, because a mistyped password then counted a failed
// attempt for a confirmation that could never be written; the API was not.
// Steps: nina records 72.0 kg, pat's screen shows it; omar records 27.0 kg;
// pat confirms WeightID=<the 72.0 record> and mistypes the password. The
// answer is 401 "wrong password" — not the 409 naming 27.0 kg — and a
// signature.refused entry is written against pat (five in a row lock the
// account during a dosing decision), for a signature that could never be
// written. With the right password after earlier mistakes, the reset of
// pat's count is written and then the 409 says "nothing was signed".
// Expected: the 409 naming the latest weight, before the password is read,
// nothing written — as the command line does.
func TestReview19APIStaleWeightConfirmationCountsAWrongPassword(t *testing.T) {
	f, pat, shown, _ := staleWeightFixture(t)
	n := f.auditCount()
	st, m := f.postJSON(pat, "/api/v1/svc/patients/MRN-1001/weights/latest/confirmation",
		map[string]any{"WeightID": shown, "Reason": "re-weighed: fluid overload", "Password": "not-pats-password-1"})
	if _, field, msg := errorOf(m); st != http.StatusConflict || field != "weight" || !strings.Contains(msg, "27.0 kg") {
		t.Errorf("a confirmation of a weight no longer the latest, password mistyped: %d %v; want 409 on weight naming 27.0 kg, before any password is read", st, m)
	}
	if got := f.auditCount(); got != n {
		t.Errorf("the confirmation that could never be written wrote %d audit entries (a wrong password counted against pat)", got-n)
	}
}

// review19 finding E (fix18, review 18 F): fix18 put the bedside's times in
// the treating site's zone — the weight line, the sign sentence, the
// Recorded page — but the next page of the same flow, the reaction the
// nurse records from the Recorded page, is dated in the facility's zone.
// Steps: review 18 F's Nanjing story (facility UTC, site CLINIC-CN in
// Asia/Shanghai, 17:00 UTC): the Recorded page says "2026-11-26 01:00
// +08:00 to …"; the nurse records a grade-2 reaction from its form; the
// "Recorded" reaction page says "2026-11-25 17:00 UTC by nina" — the
// previous day, in a zone no other line of the flow uses. Expected: the
// reaction's time in the zone of the site treating the patient, as the
// infusion's.
func TestReview19ReactionPageAfterANanjingInfusionIsInUTC(t *testing.T) {
	f, c := nanjingBedside(t)
	_, body := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-2001"}, "scan": {"G12342600000201"}})
	st, rec := f.post(c, "/bedside/administer", signForm(t, body, fixturePassword))
	if st != http.StatusOK || !strings.Contains(html.UnescapeString(r18visible(rec)), "2026-11-26 01:00 +08:00 to") {
		t.Fatalf("setup: administer: %d\n%s", st, r18visible(rec))
	}
	inf := review9Infusion(t, rec)
	st, page := f.post(c, "/bedside/reaction", url.Values{"infusion": {inf}, "mrn": {"MRN-2001"}, "known": {"0"}, "grade": {"2"}, "text": {"rigors 40 min in"}, "signer": {"nina"}})
	shown := html.UnescapeString(r18visible(page))
	if st != http.StatusOK || !strings.Contains(shown, "Reaction #1") {
		t.Fatalf("setup: reaction: %d\n%s", st, shown)
	}
	if !strings.Contains(shown, "2026-11-26 01:00 +08:00") || strings.Contains(shown, " UTC") {
		t.Errorf("the reaction to an infusion given in Nanjing at 2026-11-26 01:00 +08:00 is dated in another zone: %s", shown)
	}
}
