package main

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Review 18 (findings in /work/s13/review18-findings.md): the web app as
// nurses see it at the bedside. Each test fails on the code as reviewed.

// review18GO has nina, logged in on c, check MRN-1001's bag 01 and returns
// the GO page.
func review18GO(t *testing.T, f *webFixture, c *http.Client) string {
	t.Helper()
	st, body := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	if st != http.StatusOK || !strings.Contains(body, `id="administer-form"`) {
		t.Fatalf("MRN-1001 with bag 01 is not GO: %d\n%s", st, body)
	}
	return body
}

// Review 18, finding A: nina has the GO page of Mei Chen (MRN-1001) on the
// ward tablet and walks to the next bed, Hana Sato (MRN-2001). She scans
// Hana's wristband; the only field on the page, focused, is the bag field
// ("Scan a bag to check it instead of …"). The page answers 422 "scanned
// container "MRN-2001" is not a container code: it is the 13-character
// DIN …" — it does not see a wristband — and under it, in the same large
// green type, GO for Mei Chen with the sign form still open. At Hana's bed
// the nurse reads GO. A scan that is a patient's MRN should be said to be
// one (the patient's name, "this check is for MRN-1001 Mei Chen"), and the
// page should not show the other patient's GO and sign form under it.
func TestReview18WristbandScannedAsBagLeavesAnotherPatientsGO(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	review18GO(t, f, c)
	before := f.auditCount()
	// What the GO page's scan form sends when Hana's wristband is scanned.
	st, body := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "bag": {"G12342600000101"}, "scan": {"MRN-2001"}})
	if st == http.StatusOK {
		t.Fatalf("a wristband scanned as a bag was not refused:\n%s", r18main(body))
	}
	msg := r18error(body)
	if !strings.Contains(msg, "Hana Sato") && !strings.Contains(strings.ToLower(msg), "wristband") {
		t.Errorf("the refusal does not say MRN-2001 is a patient's wristband (Hana Sato): %q", msg)
	}
	if strings.Contains(body, `id="administer-form"`) || strings.Contains(body, `<p class="big" id="verdict-word">GO</p>`) {
		t.Errorf("under the refused scan of MRN-2001's wristband the page still shows GO for MRN-1001 (Mei Chen) with its sign form")
	}
	if after := f.auditCount(); after != before {
		t.Errorf("the refused scan wrote %d audit entries", after-before)
	}
}

// Review 18, finding B: a reaction form that is refused loses what the
// nurse typed. Nina records reaction #1 (grade 1, fever) from the recorded
// infusion's page; a second nurse, or nina in another tab still showing the
// first form, types a second, worse reaction and sends it: it is refused
// (409, a reaction was recorded since the form was shown: the guard of
// review 9) — and the form shown again is empty: the grade and the text of
// the adverse event are gone, and the page no longer says which patient or
// infusion it is about. Every other form of the app keeps what was typed on
// a refusal (the QA exception, the custody moves, the registration).
func TestReview18RefusedReactionFormKeepsWhatWasTyped(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	inf := review9Infusion(t, review9Administer(t, f, c))
	first := url.Values{"infusion": {inf}, "mrn": {"MRN-1001"}, "known": {"0"}, "grade": {"1"}, "text": {"fever 38.1 °C"}, "signer": {"nina"}}
	if st, body := f.post(c, "/bedside/reaction", first); st != http.StatusOK || !strings.Contains(body, "Reaction #1") {
		t.Fatalf("first reaction: %d\n%s", st, r18main(body))
	}
	before := f.auditCount()
	typed := "hypotension 80/50 mmHg 20 min into the infusion, infusion stopped"
	second := url.Values{"infusion": {inf}, "mrn": {"MRN-1001"}, "known": {"0"}, "grade": {"3"}, "text": {typed}, "signer": {"nina"}}
	st, body := f.post(c, "/bedside/reaction", second)
	if st != http.StatusConflict {
		t.Fatalf("the stale reaction form: %d, want 409\n%s", st, r18main(body))
	}
	if after := f.auditCount(); after != before {
		t.Fatalf("the refused reaction wrote %d audit entries", after-before)
	}
	if !strings.Contains(body, `value="`+typed+`"`) && !strings.Contains(body, ">"+typed+"<") {
		t.Errorf("the refused reaction form lost the text typed (%q); the page shows: %s", typed, r18visible(body))
	}
	if !regexp.MustCompile(`<option value="3" selected`).MatchString(body) {
		t.Errorf("the refused reaction form lost the grade chosen (3)")
	}
	if v := r18visible(body); !strings.Contains(v, "Mei Chen") && !strings.Contains(v, "MRN-1001") {
		t.Errorf("the refused reaction form does not say which patient it records for: %s", v)
	}
}

// Review 18, finding C: the witness's user name is lost when the witness's
// password is refused. Nina types her password, the witness "omar" and his
// password, mistyped; the GO page comes back with "wrong user name or
// password for the witness omar" and all three fields empty. The password
// fields must be empty; the user name need not: the QA exception form keeps
// the physician's name on the same refusal. At the bedside the witness has
// to be asked for his name again, gloved, with the bag thawed and the thaw
// window running.
func TestReview18WitnessNameKeptAfterAWrongWitnessPassword(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	st, body := f.post(c, "/bedside/administer", signForm(t, review18GO(t, f, c), "not-omars-password-1"))
	if st == http.StatusOK || strings.Contains(body, `id="recorded"`) {
		t.Fatalf("a wrong witness password was not refused: %d", st)
	}
	m := regexp.MustCompile(`<input id="witness" [^>]*>`).FindString(body)
	if m == "" {
		t.Fatalf("no witness field on the refused page:\n%s", r18main(body))
	}
	if !strings.Contains(m, `value="omar"`) {
		t.Errorf("the witness's user name typed is gone after the refusal: %s", m)
	}
	if strings.Contains(body, "not-omars-password-1") {
		t.Errorf("the refused page echoes the witness's password")
	}
}

// Review 18, finding D: the GO and NO-GO pages have no heading 1. The
// verdict is a paragraph (<p class="big">) and the "Bedside check" <h1> is
// left out once a check is shown, so a screen reader's heading list (the
// first thing a keyboard or screen-reader user reaches for) starts at
// "Dose working" and never names the verdict; the "Recorded" page and the
// refused reaction page likewise. Each page should have one <h1>, on the
// bedside the verdict ("GO" / "NO-GO — do not infuse").
func TestReview18BedsideVerdictIsTheHeading(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	h1 := regexp.MustCompile(`(?s)<h1[^>]*>(.*?)</h1>`)
	check := func(what, body, want string) {
		t.Helper()
		hs := h1.FindAllStringSubmatch(body, -1)
		if len(hs) != 1 {
			t.Errorf("the %s page has %d <h1> headings, want one naming %q", what, len(hs), want)
			return
		}
		if !strings.Contains(hs[0][1], want) {
			t.Errorf("the %s page's <h1> is %q, want it to name %q", what, hs[0][1], want)
		}
	}
	_, nogo := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000102"}})
	check("NO-GO", nogo, "NO-GO")
	check("GO", review18GO(t, f, c), "GO")
}

// r18main is the page's <main>, for a failure's message.
func r18main(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if i := strings.Index(body, "</main>"); i >= 0 {
		body = body[:i]
	}
	return body
}

// r18visible is the text of the page's <main>, tags out.
func r18visible(body string) string {
	t := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(r18main(body), " ")
	return strings.Join(strings.Fields(t), " ")
}

// r18error is the text of the page's refusal.
func r18error(body string) string {
	m := regexp.MustCompile(`(?s)<div class="error" role="alert" id="error">(.*?)</div>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")), " "))
}

// Review 18, finding E: on the GO page the field "Volume to infuse, mL"
// (under "Volume other than the computed one") sits above the sign form
// but belongs to the scan form. A nurse who drew less than computed (33.0
// mL of the 34.1) opens it, types 33.0, then types the two passwords and
// presses "Sign and record the infusion": the sign form sends the volume
// it was rendered with (the computed one), so 34.1 mL is recorded and
// signed, with no word about the 33.0 still shown in the field. The
// record says a volume the nurse did not give. The volume on the page
// when signing should be the one signed, or the signature refused
// ("press Check to see the dose for 33.0 mL first"), nothing recorded.
func TestReview18BrowserVolumeTypedOnGOPageIsNotWhatIsSigned(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	do("the page at 820×1180", chromedp.EmulateViewport(820, 1180))
	do("the nurse's GO page", scanToGO(f.srv.URL+"/login", "G12342600000101")...)
	do("type the volume drawn, then sign",
		chromedp.Click(chromedp.CSS("details:has(#volume_ml) summary")), // in the sign form
		chromedp.WaitVisible(chromedp.ID("volume_ml")),
		chromedp.SendKeys(chromedp.ID("volume_ml"), "33.0"),
		chromedp.SendKeys(chromedp.ID("password"), fixturePassword),
		chromedp.SendKeys(chromedp.ID("witness"), "omar"),
		chromedp.SendKeys(chromedp.ID("witness_password"), fixturePassword),
	)
	saveScreenshot(t, ctx, "review18-volume-typed-before-sign-820x1180.png", true)
	// The page the signature answers is a new document: wait for it, not
	// for the GO page's own #main, which a fast check found before the
	// browser had left it (the Text below then hung until the deadline).
	do("sign",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.body.setAttribute("data-before-sign", "1"), true`)(ctx, tg)
			return err
		}),
		chromedp.Click(chromedp.CSS("#administer-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("body:not([data-before-sign]) #main")))
	main, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("main")))
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, ctx, "review18-volume-signed-820x1180.png", true)
	if strings.Contains(main, "in 34.1 mL") && strings.Contains(main, "Recorded") {
		t.Errorf("33.0 mL was typed in the page's volume field when the nurse signed, and 34.1 mL was recorded without a word:\n%s", main)
	}
}

// Review 18, finding F: the web bedside mixes two zones on one page, and
// the recorded infusion is dated in the wrong one. The rFib patient
// MRN-2001 is treated at a clinic in Nanjing (as
// zone_nanjing_schedule_and_dose_check.txtar: facility in UTC, site
// CLINIC-CN in Asia/Shanghai, 17:00 UTC = 01:00 on the 26th there). `dose
// check` shows every time in Nanjing's zone ("measured 2026-11-25 16:05
// +08:00"; `dose administer` "2026-11-26 01:00 +08:00 to …"), as the
// README says the bedside check does. The web page's checks say "+08:00"
// too, but its "Weight used" line and the "You sign for … on 62.0 kg,
// measured …" sentence above the passwords say "2026-11-25 08:05 UTC", and
// the "Recorded" page dates the infusion "2026-11-25 17:00 UTC to …": the
// 25th, while in Nanjing, where the course counts its days, it was given on
// the 26th.
func TestReview18WebBedsideShowsTheTreatingSitesZone(t *testing.T) {
	f, c := nanjingBedside(t)
	_, body := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-2001"}, "scan": {"G12342600000201"}})
	if !strings.Contains(body, `id="administer-form"`) {
		t.Fatalf("MRN-2001 with bag 201 is not GO:\n%s", r18visible(body))
	}
	page := html.UnescapeString(r18visible(body))
	if !strings.Contains(page, "thawed 2026-11-26 01:00 +08:00") {
		t.Fatalf("the checks are not in Nanjing's zone as `dose check` shows them:\n%s", page)
	}
	if strings.Contains(page, " UTC") {
		i := strings.Index(page, " UTC")
		t.Errorf("the bedside page of a patient treated in Nanjing shows a time in UTC beside the checks' +08:00: …%s…", page[max(0, i-80):i+4])
	}
	st, rec := f.post(c, "/bedside/administer", signForm(t, body, fixturePassword))
	if st != http.StatusOK || !strings.Contains(rec, `id="recorded"`) {
		t.Fatalf("administer: %d\n%s", st, r18visible(rec))
	}
	if recorded := html.UnescapeString(r18visible(rec)); !strings.Contains(recorded, "2026-11-26 01:00 +08:00 to") {
		t.Errorf("the Recorded page does not date the infusion in Nanjing's zone (as `dose administer` prints 2026-11-26 01:00 +08:00 to …): %s", recorded)
	}
}

// Review 18, finding G: the accounts page loses the reason typed when a
// password reset is refused. alice resets pat's forgotten password: the
// one-time password, its repeat (mistyped), and the reason the audit
// entry keeps ("forgotten; identity checked at the desk, ticket 4411").
// The refusal names the repeat, and the page comes back with the reason
// empty as well as the passwords: the reason must be typed again.
func TestReview18AccountResetRefusalKeepsTheReason(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "alice")
	reason := "forgotten; identity checked at the desk, ticket 4411"
	before := f.auditCount()
	st, body := f.postPage(c, "/accounts/pat/reset", url.Values{"password": {"quartz-lantern-ember-44"}, "repeat": {"quartz-lantern-ember-45"}, "reason": {reason}})
	if st == http.StatusOK && r18error(body) == "" {
		t.Fatalf("a reset with a mistyped repeat was not refused: %d", st)
	}
	if after := f.auditCount(); after != before {
		t.Fatalf("the refused reset wrote %d audit entries", after-before)
	}
	if !strings.Contains(body, `value="`+html.EscapeString(reason)+`"`) && !strings.Contains(body, `value="`+reason+`"`) {
		t.Errorf("the reason typed is gone after the refusal (%s); the form: %s", r18error(body), regexp.MustCompile(`<input id="reason-reset-pat"[^>]*>`).FindString(body))
	}
}

// nanjingBedside is review 18 F's Nanjing story at 17:00 UTC — facility in
// UTC, site CLINIC-CN in Asia/Shanghai treating MRN-2001, bag 201 thawed
// and dispensed for it — served, with nina logged in on c.
func nanjingBedside(t *testing.T) (*webFixture, *http.Client) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ct.db")
	homes := filepath.Join(filepath.Dir(path), "homes")
	at17, _ := time.Parse(time.RFC3339, "2026-11-25T17:00:00Z")
	clock := func() time.Time { return at17 }
	for _, fx := range []string{"lab", "release", "custody", "bedside"} {
		if err := runFixture(path, homes, fx, clock); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"--user", "liu", "site", "add", "--name", "Nanjing Drum Tower Hospital", "--tz", "Asia/Shanghai", "CLINIC-CN"},
		{"--user", "pat", "schedule", "create", "--protocol", "ss-rfib-12", "--start", "2026-11-28", "--site", "CLINIC-CN", "MRN-2001"},
		{"--user", "liu", "container", "thaw", "--viability", "93.4", "--viable-cells", "7.0e7", "G12342600000201"},
		{"--user", "liu", "container", "dispense", "--patient", "MRN-2001", "G12342600000201"},
	} {
		var stdout, stderr bytes.Buffer
		argv := append([]string{"celltrack", "--db", path}, args...)
		if code := runEnv(argv, strings.NewReader(""), &stdout, &stderr, clock, personEnv(homes, args)); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
	}
	f := newWebFixtureOpts(t, path, false, clock)
	c := f.client()
	f.login(c, "nina")
	return f, c
}
