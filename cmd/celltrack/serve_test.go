package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
)

// webFixture is a database built by the named fixtures at the stories'
// clock, held open as `celltrack serve` holds it, and the web application
// on it behind a test HTTP server.
type webFixture struct {
	t   *testing.T
	db  *store.DB
	srv *httptest.Server
	log bytes.Buffer
}

func newWebFixture(t *testing.T, secure bool, fixtures ...string) *webFixture {
	t.Helper()
	return newWebFixtureOn(t, filepath.Join(t.TempDir(), "ct.db"), secure, fixtures...)
}

// newWebFixtureOn is newWebFixture on the database at path: a file to
// create, or an empty PostgreSQL database.
func newWebFixtureOn(t *testing.T, path string, secure bool, fixtures ...string) *webFixture {
	t.Helper()
	homes := filepath.Join(filepath.Dir(path), "homes")
	if store.IsPostgres(path) {
		homes = filepath.Join(t.TempDir(), "homes")
	}
	now, _ := time.Parse(time.RFC3339, testNow)
	clock := func() time.Time { return now }
	for _, f := range fixtures {
		if err := runFixture(path, homes, f, clock); err != nil {
			t.Fatal(err)
		}
	}
	return newWebFixtureOpts(t, path, secure, nil)
}

// newWebFixtureAt serves a database already built at path.
func newWebFixtureAt(t *testing.T, path string) *webFixture {
	return newWebFixtureOpts(t, path, false, nil)
}

// newWebFixtureOpts serves the database at path; clock is the store's,
// nil for the fixtures' clock standing at testNow.
func newWebFixtureOpts(t *testing.T, path string, secure bool, clock func() time.Time) *webFixture {
	t.Helper()
	if clock == nil {
		now, _ := time.Parse(time.RFC3339, testNow)
		clock = func() time.Time { return now }
	}
	db, err := store.Open(path, store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	f := &webFixture{t: t, db: db}
	app := webApp(db, secure, log.New(&f.log, "", 0))
	// The Host header check as `serve --addr 127.0.0.1:PORT` sets it.
	f.srv = httptest.NewUnstartedServer(app)
	_, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	hosts, err := web.AllowedHosts("127.0.0.1:"+port, port, nil)
	if err != nil {
		t.Fatal(err)
	}
	app.AllowHosts(hosts)
	if secure {
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(func() { f.srv.Close(); db.Close() })
	return f
}

// runCLIOn runs one celltrack command on the database file at path (not
// yet held by a web fixture), with the fixtures' standard input
// (fixtureStdin); a `user add` is followed by the new user's first login,
// which changes the one-time password to fixturePassword.
func runCLIOn(t *testing.T, path string, args ...string) {
	t.Helper()
	now, _ := time.Parse(time.RFC3339, testNow)
	added := map[string]bool{}
	run := func(args []string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		argv := append([]string{"celltrack", "--db", path}, args...)
		if code := runEnv(argv, strings.NewReader(fixtureStdin(args, added)), &stdout, &stderr, func() time.Time { return now }, personEnv(filepath.Join(filepath.Dir(path), "homes"), args)); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
	}
	run(args)
	for name := range added {
		run([]string{"login", "--password-stdin", name})
	}
}

// client is a browser-like client: a cookie jar, redirects followed, and
// the Origin a browser sends on a POST.
func (f *webFixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *f.srv.Client()
	c.Jar = jar
	return &c
}

// noRedirect is a client without cookies that shows redirects instead of
// following them.
func (f *webFixture) noRedirect() *http.Client {
	c := *f.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (f *webFixture) auditCount() int {
	n, err := f.db.AuditCount()
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// auditLog is the audit log of entity ("" the whole trail), oldest first.
func (f *webFixture) auditLog(entity string) ([]audit.Entry, error) {
	var es []audit.Entry
	err := f.db.EachAuditEntry(context.Background(), "alice", entity, func(e audit.Entry) error {
		es = append(es, e)
		return nil
	})
	return es, err
}

func (f *webFixture) post(c *http.Client, path string, form url.Values) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.srv.URL)
	return f.do(c, req)
}

// postPage posts form to path as a browser sends the page's form: with the
// hidden inputs of the form whose action is path on the page that shows it
// (whom it was shown to, the state it was shown with) where form leaves them
// out. A page that shows no such form (a role that may not, an unknown lot)
// adds nothing.
func (f *webFixture) postPage(c *http.Client, path string, form url.Values) (int, string) {
	f.t.Helper()
	all := f.formFields(c, path)
	for k, v := range form {
		all[k] = v
	}
	return f.post(c, path, all)
}

// formFields are the hidden inputs of the form whose action is path, on
// the page that shows it.
func (f *webFixture) formFields(c *http.Client, path string) url.Values {
	f.t.Helper()
	page := path[:strings.LastIndex(path, "/")]
	switch {
	case strings.HasPrefix(path, "/accounts/"):
		page = "/accounts"
	case path == "/password":
		page = "/password"
	case path == "/register/lot" || path == "/register/import":
		page = "/register/lot"
	}
	_, body := f.get(c, page)
	v := url.Values{}
	i := strings.Index(body, `action="`+path+`"`)
	if i < 0 {
		return v
	}
	form := body[i : i+strings.Index(body[i:], "</form>")]
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(form, -1) {
		v.Add(m[1], html.UnescapeString(m[2]))
	}
	return v
}

func (f *webFixture) get(c *http.Client, path string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	return f.do(c, req)
}

func (f *webFixture) postJSON(c *http.Client, path string, v any) (int, map[string]any) {
	f.t.Helper()
	data, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", f.srv.URL)
	st, body := f.do(c, req)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		f.t.Fatalf("POST %s: %d, not JSON: %v\n%s", path, st, err, body)
	}
	return st, m
}

func (f *webFixture) do(c *http.Client, req *http.Request) (int, string) {
	f.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *webFixture) login(c *http.Client, user string) {
	f.t.Helper()
	st, body := f.post(c, "/login", url.Values{"user": {user}, "password": {fixturePassword}})
	if st != http.StatusOK || !strings.Contains(body, `aria-current="page"`) || !strings.Contains(body, "Log out") {
		f.t.Fatalf("login %s: %d\n%s", user, st, body)
	}
}

// signForm is what the GO page's sign form sends: its hidden fields (the
// patient, the bags, the dose shown) with the two signatures, nina's and
// her witness omar's (with witnessPassword).
func signForm(t *testing.T, page, witnessPassword string) url.Values {
	t.Helper()
	v := review9SignForm(t, page)
	v.Set("password", fixturePassword)
	v.Set("witness", "omar")
	v.Set("witness_password", witnessPassword)
	return v
}

// review9SignForm reads the hidden inputs of the bedside sign form (the
// patient, the bags, the dose shown), as the browser sends them back.
func review9SignForm(t *testing.T, body string) url.Values {
	t.Helper()
	form := regexp.MustCompile(`(?s)<form method="post" action="/bedside/administer".*?</form>`).FindString(body)
	if form == "" {
		t.Fatalf("no sign form on the page:\n%.600s", body)
	}
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(form, -1) {
		v.Add(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// nonconformingLotFixture serves the lab and release fixtures with LOT-UC-1's
// viability re-read as 78.0 % (result 14 corrected): a lot in quarantine that
// fails its specification on viability alone, the case of an exceptional
// release.
func nonconformingLotFixture(t *testing.T) *webFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ct.db")
	for _, fx := range []string{"lab", "release"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), fx, testClockAt()); err != nil {
			t.Fatal(err)
		}
	}
	runCLIOn(t, path, "--user", "liu", "release", "result", "--corrects", "14", "--reason", "viability re-read", "--assay", "viability", "--value", "78.0", "LOT-UC-1")
	return newWebFixtureAt(t, path)
}

// staleWeightFixture is the API's stale-weight story (review 17 A, review
// 19 D) on the lab fixture: nina records 72.0 kg for MRN-1001 20 minutes
// ago (the weight the physician's screen shows, its record shown), then
// omar 27.0 kg a minute ago (its record since); pat, the physician, is
// logged in on the client returned and has signed nothing.
func staleWeightFixture(t *testing.T) (f *webFixture, pat *http.Client, shown, since string) {
	t.Helper()
	f = newWebFixture(t, false, "lab")
	now := testTime(t)
	nina, omar := f.client(), f.client()
	pat = f.client()
	f.login(nina, "nina")
	f.login(omar, "omar")
	f.login(pat, "pat")
	shown = apiWeigh(t, f, nina, "72.0", now.Add(-20*time.Minute))
	since = apiWeigh(t, f, omar, "27.0", now.Add(-time.Minute))
	return f, pat, shown, since
}

// apiWeigh records kg for MRN-1001 at at through the service API as the
// user logged in on c, and returns the weight record's id.
func apiWeigh(t *testing.T, f *webFixture, c *http.Client, kg string, at time.Time) string {
	t.Helper()
	st, m := f.postJSON(c, "/api/v1/svc/patients/MRN-1001/weights", map[string]any{"Kg": kg, "At": at})
	id, _ := m["ID"].(string)
	if st != http.StatusOK || id == "" {
		t.Fatalf("weigh %s kg: %d %v", kg, st, m)
	}
	return id
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, body)
		}
	}
}

// The bedside on the web, as dose_administer_go.txtar on the command line:
// the wrong bag is NO-GO with its reason and what to do, the right one is
// GO with the dose working, and the infusion is recorded with the nurse's
// and the witness's signatures, in the audit trail and in the trace.
func TestServeBedsideWrongBagThenGo(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")

	// The scanner types the wristband and Enter: the page asks for the bag.
	st, body := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}})
	if st != http.StatusOK {
		t.Fatalf("MRN alone: %d\n%s", st, body)
	}
	mustContain(t, "after the wristband", body, `id="patient">MRN-1001<`, `id="scan"`,
		`id="patient-name">Mei Chen, born 1984-03-09, sex F — check it against the wristband<`)
	// A mis-scan (a digit short) is refused on its own; the bag in hand
	// stays, and the next scan or "add" is not stuck on the bad code.
	st, body = f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "bag": {"G12342600000102"}, "scan": {"G1234260000010"}, "op": {"add"}})
	if st == http.StatusOK || !strings.Contains(body, "G1234260000010") || strings.Contains(body, `name="bag" value="G1234260000010"`) || !strings.Contains(body, `name="bag" value="G12342600000102"`) {
		t.Errorf("a mis-scan: %d; the bags in hand must stay and the bad code not join them\n%.600s", st, body)
	}
	// An unknown wristband is said at once, before any bag is scanned.
	st, body = f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-NOPE"}})
	if st != http.StatusNotFound || !strings.Contains(body, "MRN-NOPE") || strings.Contains(body, `id="scan"`) {
		t.Errorf("unknown MRN: %d\n%.400s", st, body)
	}

	// Bag 02 was never thawed nor dispensed for this patient.
	st, body = f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000102"}, "op": {"check"}})
	if st != http.StatusOK {
		t.Fatalf("wrong bag: %d\n%s", st, body)
	}
	mustContain(t, "wrong bag", body, ">NO-GO<", "Do not infuse.", "✗ FAIL", "container dispensed", "→ thaw and dispense the bag for this patient first", `id="no-plan"`)
	if strings.Contains(body, "`celltrack") || strings.Contains(body, "celltrack container") {
		t.Errorf("the bedside page tells a nurse what to do in the command line's syntax\n%.800s", body)
	}
	if strings.Contains(body, "To give") || strings.Contains(body, ">From G12342600000102<") {
		t.Errorf("a NO-GO shows a volume to draw from the refused bag")
	}
	if strings.Contains(body, "administer-form") {
		t.Errorf("NO-GO offers the administer form")
	}

	// The label barcode's data (=DIN+flag) replaces the wrong bag.
	before := f.auditCount()
	st, body = f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "bag": {"G12342600000102"}, "scan": {"=G12342600000101"}, "op": {"check"}})
	if st != http.StatusOK {
		t.Fatalf("right bag: %d\n%s", st, body)
	}
	mustContain(t, "right bag", body, ">GO<", "62.0 kg", "62.0 kg × 1.00×10^6/kg = 6.20×10^7", "6.2062×10^7 cells in 34.1 mL", "0.1 % from the required dose", `id="administer-form"`)
	if strings.Contains(body, "G12342600000102") {
		t.Errorf("a new scan did not replace the wrong bag")
	}
	// The barcode's data is shown as the code printed on the label.
	if !strings.Contains(body, "MRN-1001 · G12342600000101<") || strings.Contains(body, "=G1234") {
		t.Errorf("the scanned barcode is not shown as the printed container code")
	}
	if f.auditCount() != before {
		t.Errorf("the check wrote to the audit trail")
	}

	form := signForm(t, body, fixturePassword)
	form.Set("bag", "=G12342600000101") // as scanned: the store reads the barcode's data too
	st, body = f.post(c, "/bedside/administer", form)
	if st != http.StatusOK {
		t.Fatalf("administer: %d\n%s", st, body)
	}
	mustContain(t, "recorded", body, ">Recorded<", "Infusion 1 of sle-uc-d0d7",
		"Nina Rossi (nina, nurse) 2026-11-25 09:00 UTC — administered the infusion after the bedside check",
		"Omar Haddad (omar, nurse) 2026-11-25 09:00 UTC — witnessed the bedside check and the infusion")
	if f.auditCount() <= before {
		t.Errorf("the infusion wrote no audit entry")
	}

	mustContain(t, "recorded", body, `id="reaction-form"`)
	id := regexp.MustCompile(`id="infusion-id">([0-9a-f-]{36})<`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("no infusion id on the recorded page")
	}
	n0 := f.auditCount()
	st, body = f.post(c, "/bedside/reaction", url.Values{"infusion": {id[1]}, "mrn": {"MRN-1001"}, "grade": {"7"}, "text": {"fever"}, "signer": {"nina"}})
	if st != http.StatusUnprocessableEntity || f.auditCount() != n0 {
		t.Errorf("grade 7: status %d, %d audit entries; want 422 and none\n%s", st, f.auditCount()-n0, body)
	}
	mustContain(t, "grade 7", body, "grade", "7", `id="reaction-form"`)
	// A form that names another patient than the infusion's is refused:
	// the page would confirm a reaction for MRN-2001 stored on MRN-1001.
	st, body = f.post(c, "/bedside/reaction", url.Values{"infusion": {id[1]}, "mrn": {"MRN-2001"}, "grade": {"3"}, "text": {"anaphylaxis"}, "signer": {"nina"}})
	if st != http.StatusConflict || f.auditCount() != n0 {
		t.Errorf("reaction naming another patient: status %d, %d audit entries; want 409 and none\n%.300s", st, f.auditCount()-n0, body)
	}
	mustContain(t, "another patient", body, "is not an infusion of patient MRN-2001; nothing was recorded")
	st, body = f.post(c, "/bedside/reaction", url.Values{"infusion": {id[1]}, "mrn": {"MRN-1001"}, "grade": {"1"}, "text": {"transient fever 38.1 °C"}, "signer": {"nina"}})
	if st != http.StatusOK || f.auditCount() != n0+1 {
		t.Fatalf("reaction: %d, %d audit entries\n%s", st, f.auditCount()-n0, body)
	}
	mustContain(t, "reaction", body, "Reaction #1 to infusion "+id[1], "grade 1, transient fever 38.1 °C", "by nina")

	// Recorded twice is refused: the check runs again and the bag is infused.
	n := f.auditCount()
	st, body = f.post(c, "/bedside/administer", form)
	if st == http.StatusOK && strings.Contains(body, ">Recorded<") {
		t.Fatalf("a second infusion from the same bag was recorded")
	}
	if f.auditCount() != n {
		t.Errorf("the refused second infusion wrote %d audit entries", f.auditCount()-n)
	}

	st, body = f.get(c, "/trace?kind=patient&ref=MRN-1001")
	if st != http.StatusOK {
		t.Fatalf("trace: %d\n%s", st, body)
	}
	mustContain(t, "patient trace", body, "trace of patient MRN-1001", "G12342600000101", "infused", "Omar Haddad", "transient fever 38.1 °C")
}

// A wrong witness password signs nothing (its refusal is recorded, as on
// the command line); an unknown witness gets the same answer, recorded as
// an unknown name at the login is (review 14 E); an auditor may check but
// is not offered the signature form.
func TestServeBedsideRefusals(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	f.login(c, "nina")
	_, page := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	n := f.auditCount()
	form := signForm(t, page, fixturePassword)
	form.Set("witness", "nobody")
	st, body := f.post(c, "/bedside/administer", form)
	if st != http.StatusUnauthorized {
		t.Errorf("unknown witness: status %d, want 401", st)
	}
	mustContain(t, "unknown witness", body, "wrong user name or password for the witness nobody, or the account is locked; nothing was signed", ">GO<")
	if got := f.auditCount() - n; got != 1 {
		t.Errorf("unknown witness wrote %d audit entries, want 1 (the refused signature)", got)
	}
	n = f.auditCount()
	st, body = f.post(c, "/bedside/administer", signForm(t, page, "wrong-password"))
	if st != http.StatusUnauthorized {
		t.Errorf("wrong witness password: status %d, want 401", st)
	}
	mustContain(t, "wrong witness password", body, "wrong user name or password for the witness omar, or the account is locked; nothing was signed")
	if got := f.auditCount() - n; got != 1 {
		t.Errorf("wrong witness password wrote %d audit entries, want 1 (the refused signature)", got)
	}

	a := f.client()
	f.login(a, "aud")
	_, body = f.post(a, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	mustContain(t, "auditor's check", body, ">GO<", "may check but not record")
	if strings.Contains(body, "administer-form") {
		t.Errorf("an auditor is offered the administer form")
	}
	n = f.auditCount()
	st, _ = f.post(a, "/bedside/administer", signForm(t, page, fixturePassword))
	if st != http.StatusForbidden || f.auditCount() != n {
		t.Errorf("auditor administering: status %d, %d audit entries; want 403 and none", st, f.auditCount()-n)
	}
}

// The API: the same validation, codes and error object as --json.
func TestServeAPI(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	c := f.client()
	st, m := f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}})
	if st != http.StatusUnauthorized || m["error"].(map[string]any)["code"] != "session" {
		t.Fatalf("check before login: %d %v", st, m)
	}
	st, m = f.postJSON(c, "/api/v1/login", map[string]any{"user": "nina", "password": "wrong-password"})
	if st != http.StatusUnauthorized || m["error"].(map[string]any)["exit"] != float64(3) {
		t.Fatalf("wrong login: %d %v", st, m)
	}
	wrongPassword := m["error"].(map[string]any)["message"]
	st, m = f.postJSON(c, "/api/v1/login", map[string]any{"user": "nobody", "password": "wrong-password"})
	if msg, _ := m["error"].(map[string]any)["message"].(string); st != http.StatusUnauthorized || strings.Replace(msg, "nobody", "nina", 1) != wrongPassword {
		t.Fatalf("unknown user's login is told apart from a wrong password: %d %v", st, m)
	}
	st, m = f.postJSON(c, "/api/v1/login", map[string]any{"user": "nina", "password": fixturePassword})
	if st != http.StatusOK || m["role"] != "nurse" || m["full_name"] != "Nina Rossi" {
		t.Fatalf("login: %d %v", st, m)
	}
	st, m = f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000102"}})
	e, _ := m["error"].(map[string]any)
	if st != http.StatusConflict || e["code"] != "no_go" || e["exit"] != float64(4) || m["report"].(map[string]any)["go"] != false {
		t.Fatalf("NO-GO: %d %v", st, m)
	}
	st, m = f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}, "volume_ml": "0"})
	if st != http.StatusUnprocessableEntity || m["error"].(map[string]any)["code"] != "invalid" {
		t.Fatalf("volume 0: %d %v", st, m)
	}
	st, m = f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "container": []string{"G12342600000101"}})
	if st != http.StatusBadRequest || m["error"].(map[string]any)["exit"] != float64(2) {
		t.Fatalf("misspelt field: %d %v", st, m)
	}
	st, m = f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-9999", "containers": []string{"G12342600000101"}})
	if st != http.StatusNotFound || m["error"].(map[string]any)["exit"] != float64(5) {
		t.Fatalf("unknown patient: %d %v", st, m)
	}
	st, m = f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}})
	calc, _ := m["report"].(map[string]any)["calc"].(map[string]any)
	if st != http.StatusOK || m["report"].(map[string]any)["go"] != true || calc["volume_ml"] != "34.1" || calc["weight_kg"] != "62.0" {
		t.Fatalf("GO: %d %v", st, m)
	}
	n := f.auditCount()
	st, m = f.postJSON(c, "/api/v1/dose/administer", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"},
		"password": fixturePassword, "witness": "omar", "witness_password": fixturePassword, "shown": m["report"].(map[string]any)["shown"]})
	if st != http.StatusCreated || m["number"] != float64(1) || !strings.HasPrefix(m["witness"].(string), "Omar Haddad (omar, nurse)") {
		t.Fatalf("administer: %d %v", st, m)
	}
	if f.auditCount() <= n {
		t.Errorf("administer wrote no audit entry")
	}
	st, r := f.postJSON(c, "/api/v1/dose/reaction", map[string]any{"infusion": m["id"], "grade": 2, "text": "headache"})
	if st != http.StatusCreated || r["Seq"] != float64(1) || r["Grade"] != float64(2) {
		t.Fatalf("reaction: %d %v", st, r)
	}
	n = f.auditCount()
	st, r = f.postJSON(c, "/api/v1/dose/reaction", map[string]any{"infusion": m["id"], "grade": 0, "text": "headache"})
	if st != http.StatusUnprocessableEntity || r["error"].(map[string]any)["exit"] != float64(3) || f.auditCount() != n {
		t.Fatalf("grade 0: %d %v", st, r)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/trace/patient/MRN-1001", nil)
	st, body := f.do(c, req)
	if st != http.StatusOK || !strings.Contains(body, `"G12342600000101"`) || !json.Valid([]byte(body)) {
		t.Fatalf("trace JSON: %d\n%s", st, body)
	}
	req, _ = http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/trace/patient/MRN-1001?format=csv", nil)
	if st, body = f.do(c, req); st != http.StatusOK || !strings.Contains(body, "G12342600000101") {
		t.Fatalf("trace CSV: %d\n%s", st, body)
	}
	st, m = f.postJSON(c, "/api/v1/logout", map[string]any{})
	if st != http.StatusOK {
		t.Fatalf("logout: %d %v", st, m)
	}
	req, _ = http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/trace/patient/MRN-1001", nil)
	if st, _ = f.do(c, req); st != http.StatusUnauthorized {
		t.Errorf("trace after logout: %d, want 401", st)
	}
}

func TestServeHealthz(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	st, body := f.get(f.srv.Client(), "/healthz")
	if st != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz: %d %q", st, body)
	}
	st, body = f.get(f.srv.Client(), "/api/v1/openapi.json")
	if st != http.StatusOK || !json.Valid([]byte(body)) || !strings.Contains(body, `"/api/v1/dose/check"`) {
		t.Fatalf("openapi.json: %d\n%.200s", st, body)
	}
}

// The API's bedside check is the command line's `dose check --json`, field
// for field, for a GO and a NO-GO: scripts read either.
func TestServeCheckJSONMatchesCLI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	now, _ := time.Parse(time.RFC3339, testNow)
	for _, fx := range []string{"lab", "release", "custody", "bedside"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), fx, func() time.Time { return now }); err != nil {
			t.Fatal(err)
		}
	}
	bags := []string{"G12342600000101", "G12342600000102"}
	cli := map[string]any{}
	for _, bag := range bags {
		var stdout, stderr bytes.Buffer
		args := []string{"--user", "nina", "--json", "dose", "check", "--container", bag, "MRN-1001"}
		runEnv(append([]string{"celltrack", "--db", path}, args...), strings.NewReader(""), &stdout, &stderr, func() time.Time { return now },
			personEnv(filepath.Join(filepath.Dir(path), "homes"), args))
		var v any
		if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
			t.Fatalf("dose check --json %s: %v\n%s", bag, err, stdout.String())
		}
		cli[bag] = v
	}
	f := newWebFixtureAt(t, path)
	c := f.client()
	f.login(c, "nina")
	for _, bag := range bags {
		_, m := f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{bag}})
		api, _ := json.Marshal(m["report"])
		want, _ := json.Marshal(cli[bag])
		if !bytes.Equal(api, want) {
			t.Errorf("%s: the API's report differs from dose check --json:\nAPI %s\nCLI %s", bag, api, want)
		}
	}
}
