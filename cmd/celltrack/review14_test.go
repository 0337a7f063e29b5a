package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store"
)

// review14 (hostile review of text11, raw14, guard11). Each test fails on
// main at ae850eb for the reason its comment gives.

// review14 finding B: lot.Decimal refuses a value with leading zeros as
// "too large" ("00000000000062.5" is 62.5 kg), and every "too large"
// refusal names no rule and says nothing of what to do, against the house
// rule that a refusal names the field, the value and what to do.
func TestReview14DecimalTooLargeIsWrongAndSaysNothingToDo(t *testing.T) {
	d := lot.Decimal{Places: 2}
	if n, err := d.Parse("--kg", "00000000000062.5"); err != nil || n != 6250 {
		t.Errorf("--kg 00000000000062.5: %d %v; want 6250 (62.5 kg, leading zeros add nothing, as trailing ones do)", n, err)
	}
	_, err := d.Parse("--kg", "9999999999999")
	msg := lot.ErrorMessage(err)
	if err == nil || !strings.Contains(msg, ";") || !(strings.Contains(msg, "write") || strings.Contains(msg, "give") || strings.Contains(msg, "at most")) {
		t.Errorf("--kg 9999999999999: %q; want a refusal that says the rule and what to give instead", msg)
	}
	v := lot.Decimal{Places: 1, Min: 1, Unit: "mL", How: "give the volume in mL"}
	_, err = v.Parse("--volume-ml", "99999999999999")
	if msg := lot.ErrorMessage(err); err == nil || !strings.Contains(msg, "give the volume in mL") {
		t.Errorf("--volume-ml 99999999999999: %q; want the refusal to end with the rule's How, as every other refusal of it does", msg)
	}
}

// review14 finding C: the JSON API refuses a seen of -1 or 2^64 saying the
// value "must be a whole number" — both are whole numbers; the rule broken
// is "1 or more" / "at most 2^64-1" (the page form's seen says so: 1 or
// more).
func TestReview14SeenRefusalNamesTheRule(t *testing.T) {
	f, admin := guard10As(t, "alice")
	for _, s := range []string{"-1", "18446744073709551616"} {
		before := f.auditHead()
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/v1/users/nina/disable", strings.NewReader(`{"reason":"on leave","seen":`+s+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", f.srv.URL)
		st, body := f.do(admin, req)
		if st != http.StatusBadRequest || strings.Contains(body, "must be a whole number") || !strings.Contains(body, "seen") {
			t.Errorf("seen %s: %d %s; want 400 naming seen and the rule it breaks (a whole number it is)", s, st, body)
		}
		if f.auditHead() != before {
			t.Errorf("seen %s: the refusal wrote to the audit trail", s)
		}
	}
}

// review14 finding A: a stranger's wrong password for a locked account
// changes nothing of it (counted nothing, "while locked"), yet its audit
// entry moves the account's seen, so the admin's unlock form from the
// accounts page is refused 409 — and the refusal blames the account's
// owner ("the last change recorded: login.refused by nina"). A stranger
// sending one guess every 30 s (the per-name login limit) keeps every
// unlock page stale, and tells the admin nina did it.
func TestReview14StrangerGuessStalesAdminUnlockForm(t *testing.T) {
	f, admin := guard10As(t, "alice")
	stranger := f.client()
	guess := url.Values{"user": {"nina"}, "password": {"guessing-garnet-pony-12"}}
	for i := 0; i < 5; i++ {
		f.post(stranger, "/login", guess)
	}
	if u, _ := f.db.User("nina"); !u.Locked(f.db.Now()) {
		t.Fatalf("five wrong passwords did not lock nina")
	}
	form := guard10Form(t, f, admin, "/accounts/nina/unlock", url.Values{"reason": {"identity checked by phone"}})
	f.post(stranger, "/login", guess) // while locked: counts nothing
	st, body := f.post(admin, "/accounts/nina/unlock", form)
	if st != http.StatusOK && st != http.StatusSeeOther {
		t.Errorf("the admin's unlock, sent from the page after a stranger's guess that changed nothing of the account: %d %s; want it made", st, review9Refusal(body))
	}
	if strings.Contains(body, "login.refused by nina") {
		t.Errorf("the refusal blames nina for a stranger's guess: %s", review9Refusal(body))
	}
}

// review14 finding D: the approve form carries the lot's seen (the lot and
// its results) and the specification as asked — "" for the kind's latest —
// but not the version the page evaluated and the signature's meaning names
// ("against NAME@1"). A new version of the specification added between the
// page and the signature moves no seen: the form goes through and records a
// release signed against NAME@2, whose criteria QA never saw evaluated. The
// exception form likewise: its "does not meet" list is the one shown, the
// release records the new version's.
func TestReview14ApproveSignsSpecVersionNotShown(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	qa := f.client()
	f.login(qa, "quinn")
	const path = "/lots/LOT-UC-1/approve"
	_, page := f.get(qa, "/lots/LOT-UC-1")
	m := regexp.MustCompile(`against ([A-Za-z0-9_.-]+)@(\d+)`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the lot page names no specification version it evaluated against")
	}
	form := guard10Form(t, f, qa, path, url.Values{"password": {fixturePassword}})
	rs := store.NewReleaseService(f.db)
	sp, err := rs.Spec(m[1])
	if err != nil {
		t.Fatal(err)
	}
	sp.Criteria[0].Source = "review14: a limit changed after QA opened the page"
	var added release.Spec
	for _, who := range []string{"quinn", "alice"} {
		if added, err = rs.AddSpec(who, sp); err == nil {
			break
		}
	}
	if err != nil || strconv.Itoa(added.Version) == m[2] {
		t.Fatalf("adding a new version of %s: %v (version %d)", m[1], err, added.Version)
	}
	before := f.auditHead()
	st, body := f.post(qa, path, form)
	if st == http.StatusOK && f.lotStatus("LOT-UC-1") == "released" {
		ds, _ := rs.Dispositions("LOT-UC-1")
		got := ""
		if len(ds) > 0 {
			got = ds[len(ds)-1].Spec + "@" + strconv.Itoa(ds[len(ds)-1].SpecVersion)
		}
		if got != m[1]+"@"+m[2] {
			t.Errorf("the page showed the evaluation against %s@%s and the signature's meaning named it; the form sent after %s@%d was added released the lot against %s — a signature over an evaluation never shown. Want 409 (the form's state moved) with nothing written, or the release against the version shown", m[1], m[2], m[1], added.Version, got)
		}
		return
	}
	if st != http.StatusConflict || f.auditHead() != before {
		t.Errorf("approve after a new spec version: %d %s; want 409 with nothing written", st, review9Refusal(body))
	}
}

// review14MovingClockFixture is guard10Fixture's database served with a
// clock that moves a second at each reading (the web fixture's stands
// still, and a login at the very time of the last one changes nothing of
// the account, so it writes no entry).
func review14MovingClockFixture(t *testing.T) *webFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ct.db")
	for _, fx := range []string{"lab", "release", "custody"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), fx, testClockAt()); err != nil {
			t.Fatal(err)
		}
	}
	now, _ := time.Parse(time.RFC3339, testNow)
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	return newWebFixtureOpts(t, path, false, clock)
}

// review14 finding A2: every login of an account writes an entry on it, so
// the admin's disable form is refused (409, "changed after this form was
// shown … a form sent again") whenever the account logged in between the
// page and the click. Whoever holds a stolen password keeps the account's
// disable form stale by logging in in a loop (successful logins are not
// limited), so the admin cannot disable the compromised account from the
// page — when disabling matters most. Nothing of what the form decides
// (enabled, not locked) changed.
func TestReview14LoginsKeepDisableFormStale(t *testing.T) {
	f := review14MovingClockFixture(t)
	admin := f.client()
	f.login(admin, "alice")
	form := guard10Form(t, f, admin, "/accounts/nina/disable", url.Values{"reason": {"badge and password stolen"}})
	before := guard11Seen(t, f, "nina")
	if st, m := f.postJSON(f.client(), "/api/v1/login", map[string]any{"user": "nina", "password": fixturePassword}); st != http.StatusOK {
		t.Fatalf("nina's login: %d %v", st, m)
	}
	if guard11Seen(t, f, "nina") == before {
		t.Fatalf("nina's login wrote no entry on her account")
	}
	st, body := f.post(admin, "/accounts/nina/disable", form)
	if st != http.StatusOK && st != http.StatusSeeOther {
		t.Errorf("the admin's disable of nina, sent from the page after nina's password logged in once more: %d %s; want it made (the account is as the page showed it: enabled)", st, review9Refusal(body))
	}
	if u, _ := f.db.User("nina"); !u.Disabled {
		t.Errorf("nina is still enabled")
	}
}

// review14 finding D (exception): the exception form shows "The lot does
// not meet: viability FAIL (78 %)" and QA's and the physician's signatures
// are asked for that. A new version of the specification, added before
// they sign, that the lot fails on one more criterion moves no seen: the
// form records an exceptional release whose DOES NOT MEET names a
// nonconformity neither signer was shown.
func TestReview14ExceptionSignsNonconformityNotShown(t *testing.T) {
	f := nonconformingLotFixture(t)
	qa := f.client()
	f.login(qa, "quinn")
	const approve = "/lots/LOT-UC-1/approve"
	_, page := f.get(qa, "/lots/LOT-UC-1")
	if !strings.Contains(page, "The lot does not meet: <strong>viability FAIL (78 %)</strong>") {
		t.Fatalf("the exception form does not show the one criterion not met")
	}
	form := guard10Form(t, f, qa, approve, url.Values{"patient": {"MRN-1001"}, "reason": {"refractory flare, no alternative"},
		"physician": {"pat"}, "password": {fixturePassword}, "physician_password": {fixturePassword}})
	rs := store.NewReleaseService(f.db)
	sp, err := rs.Spec("isct-uc-msc")
	if err != nil {
		t.Fatal(err)
	}
	tightened := ""
	for i, c := range sp.Criteria {
		if c.Op == release.AtLeast && !strings.EqualFold(c.Name(), "viability") {
			sp.Criteria[i].Min, tightened = "100", c.Name()
			break
		}
	}
	if tightened == "" {
		t.Fatalf("no criterion to tighten in %+v", sp.Criteria)
	}
	var added release.Spec
	for _, who := range []string{"quinn", "alice"} {
		if added, err = rs.AddSpec(who, sp); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("adding a stricter version: %v", err)
	}
	before := f.auditHead()
	st, body := f.post(qa, approve, form)
	if st == http.StatusOK && strings.Contains(body, "EXCEPTIONAL RELEASE") {
		got := ""
		if m := regexp.MustCompile(`DOES NOT MEET: ([^<]*)`).FindStringSubmatch(body); m != nil {
			got = m[1]
		}
		if got != "viability FAIL (78 %)" {
			t.Errorf("the form showed \"does not meet: viability FAIL (78 %%)\"; after %s@%d tightened %s, the same form recorded an exceptional release that does not meet %q — signed by QA and the physician over a nonconformity neither was shown. Want 409 (the form's state moved) with nothing written", sp.Name, added.Version, tightened, got)
		}
		return
	}
	if st != http.StatusConflict || f.auditHead() != before {
		t.Errorf("exception after a stricter spec version: %d %s; want 409 with nothing written", st, review9Refusal(body))
	}
}
