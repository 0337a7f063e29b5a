package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// newBrowser starts a headless Chromium with a fresh profile for one test,
// or skips the test when none is installed.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("no chromium on PATH: the browser test needs Debian's chromium (apt-get install chromium)")
	}
	if testing.Short() {
		t.Skip("-short: the browser test starts chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(768, 1024),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

// chromiumPath finds a Chromium to drive; "" when none is installed.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is where the browser test leaves its screenshots for a
// person to look at: CELLTRACK_SCREENSHOTS, else the system's temp folder.
func screenshotDir() string {
	if d := os.Getenv("CELLTRACK_SCREENSHOTS"); d != "" {
		return d
	}
	return os.TempDir()
}

// saveScreenshot saves what the browser shows (the whole page with full) as
// name in screenshotDir, for a person to look at.
func saveScreenshot(t *testing.T, ctx context.Context, name string, full bool) {
	t.Helper()
	var a chromedp.Action[[]byte] = chromedp.CaptureScreenshot()
	if full {
		a = chromedp.FullScreenshot(100) // 100: PNG
	}
	img, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(screenshotDir(), name)
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// browserSteps returns do, which runs actions in ctx as one step of a
// browser test and fails the test naming the step when one of them fails.
func browserSteps(t *testing.T, ctx context.Context) func(step string, actions ...chromedp.Action[chromedp.Void]) {
	return func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
}

// browserText returns text, which reads the text of the element sel (an
// element id with chromedp.ID, a selector with chromedp.CSS) in ctx and
// fails the test when it cannot.
func browserText[S chromedp.ID | chromedp.CSS](t *testing.T, ctx context.Context) func(sel S) string {
	return func(sel S) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
}

// logIn is the steps of logging user in with the fixtures' password by the
// keyboard: open page (the login page, or a page that sends there), type
// the name and the password and Enter, then wait for landing, the element
// of the page the user's role starts on.
func logIn(page, user string, landing chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), user),
		chromedp.SendKeys(chromedp.ID("password"), fixturePassword+kb.Enter),
		landing,
	}
}

// scanToGO is the bedside fixture's nurse at the bedside by the keyboard
// (a wedge scanner types the code and Enter): nina logs in from page,
// scans MRN-1001's wristband, then bag, and the steps wait for the GO
// page's sign form.
func scanToGO(page, bag string) []chromedp.Action[chromedp.Void] {
	return append(logIn(page, "nina", chromedp.WaitVisible(chromedp.ID("mrn"))),
		chromedp.SendKeys(chromedp.ID("mrn"), "MRN-1001"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("scan")),
		chromedp.SendKeys(chromedp.ID("scan"), bag+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("administer-form")),
	)
}

// The bedside in a real browser, with the keyboard only (a wedge scanner
// types the code and Enter): the nurse logs in, scans the wristband, scans
// the wrong bag and sees NO-GO with its reason, scans the right one and
// sees GO, signs with a witness, and the auditor finds the infusion in the
// patient's trace. Screenshots of the bedside page at tablet (768×1024)
// and phone (390×844) size are saved, their paths logged.
func TestServeBrowserBedside(t *testing.T) {
	browserBedside(t, newWebFixture(t, false, "lab", "release", "custody", "bedside"), "")
}

// TestServeBrowserBedsideOnPostgres is TestServeBrowserBedside with the
// server's database on PostgreSQL (its screenshots are named -postgres).
func TestServeBrowserBedsideOnPostgres(t *testing.T) {
	browserBedside(t, newWebFixtureOn(t, pgtest.URL(t), false, "lab", "release", "custody", "bedside"), "-postgres")
}

// browserBedside is the nurse's and the auditor's session in the browser
// on f; suffix tells the screenshots apart.
func browserBedside(t *testing.T, f *webFixture, suffix string) {
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	text := browserText[chromedp.ID](t, ctx)
	shot := func(name string) {
		t.Helper()
		saveScreenshot(t, ctx, strings.Replace(name, ".png", suffix+".png", 1), false)
	}
	do("the page at 768×1024", chromedp.EmulateViewport(768, 1024))
	do("log in as the nurse", logIn(f.srv.URL+"/", "nina", chromedp.WaitVisible(chromedp.ID("mrn")))...)
	do("scan the wristband",
		chromedp.SendKeys(chromedp.ID("mrn"), "MRN-1001"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("scan")),
	)
	if p := text("patient"); p != "MRN-1001" {
		t.Fatalf("patient shown %q", p)
	}
	do("scan the wrong bag",
		chromedp.SendKeys(chromedp.ID("scan"), "G12342600000102"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("verdict")),
	)
	if verdict, checks := text("verdict-word"), text("checks"); verdict != "NO-GO" || !strings.Contains(checks, "✗ FAIL") ||
		!strings.Contains(checks, "container dispensed") || !strings.Contains(checks, "→") {
		t.Fatalf("wrong bag: verdict %q, checks:\n%s", verdict, checks)
	}
	shot("celltrack-bedside-nogo-768x1024.png")
	do("scan the right bag's label barcode",
		chromedp.SendKeys(chromedp.ID("scan"), "=G12342600000101"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("administer-form")),
	)
	if verdict := text("verdict-word"); verdict != "GO" {
		t.Fatalf("right bag: verdict %q", verdict)
	}
	shot("celltrack-bedside-768x1024.png")
	do("phone width", chromedp.EmulateViewport(390, 844))
	shot("celltrack-bedside-390x844.png")
	do("sign with a witness",
		chromedp.EmulateViewport(768, 1024),
		chromedp.SendKeys(chromedp.ID("password"), fixturePassword),
		chromedp.SendKeys(chromedp.ID("witness"), "omar"),
		chromedp.SendKeys(chromedp.ID("witness_password"), fixturePassword+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("recorded")),
	)
	if recorded := text("main"); !strings.Contains(recorded, "Omar Haddad (omar, nurse)") || !strings.Contains(recorded, "witnessed the bedside check and the infusion") {
		t.Fatalf("recorded page:\n%s", recorded)
	}
	shot("celltrack-recorded-768x1024.png")
	do("record a reaction",
		chromedp.SetValue(chromedp.ID("grade"), "1"),
		chromedp.SendKeys(chromedp.ID("text"), "transient fever 38.1 °C"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("reaction-recorded")),
	)
	if rec := text("reaction-recorded"); !strings.Contains(rec, "Reaction #1") || !strings.Contains(rec, "grade 1, transient fever 38.1 °C") {
		t.Fatalf("reaction page:\n%s", rec)
	}
	do("the auditor reads the patient's trace",
		chromedp.Click(chromedp.CSS(".logout button")),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "aud"),
		chromedp.SendKeys(chromedp.ID("password"), fixturePassword+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("ref")), // an auditor starts on the traces
		chromedp.SetValue(chromedp.ID("kind"), "patient"),
		chromedp.SendKeys(chromedp.ID("ref"), "MRN-1001"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("report")),
	)
	shot("celltrack-trace-768x1024.png")
	report := text("report")
	for _, want := range []string{"G12342600000101", "infused", "Omar Haddad", "transient fever 38.1 °C"} {
		if !strings.Contains(report, want) {
			t.Errorf("the auditor's trace lacks %q:\n%s", want, report)
		}
	}
}

// Names with markup, in a real browser: the user's printed name in the
// header and a patient's name in a trace show as text, and the script in
// them never runs (it would retitle the page).
func TestServeBrowserEscapesNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), "lab", nil); err != nil {
		t.Fatal(err)
	}
	const script = `<script>document.title='pwned'</script>`
	const img = `<img src=x onerror="document.title='pwned'">`
	runCLIOn(t, path, "--user", "alice", "user", "add", "--role", "auditor", "--full-name", script, "--password-stdin", "xss")
	runCLIOn(t, path, "--user", "pat", "patient", "add", "--name", img, "--born", "1990-01-01", "--sex", "F", "MRN-666")
	f := newWebFixtureAt(t, path)
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	do("log in as the auditor xss", logIn(f.srv.URL+"/login", "xss", chromedp.WaitVisible(chromedp.ID("ref")))...)
	do("MRN-666's trace",
		chromedp.Navigate(f.srv.URL+"/trace?kind=patient&ref=MRN-666"),
		chromedp.WaitVisible(chromedp.ID("report")),
	)
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".who")))
	if err != nil {
		t.Fatal(err)
	}
	report, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("report")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(title, "pwned") {
		t.Fatalf("a script from a name ran: the page title is %q", title)
	}
	if !strings.Contains(who, script) {
		t.Errorf("the header does not show the printed name as text: %q", who)
	}
	if !strings.Contains(report, img) {
		t.Errorf("the trace does not show the patient's name as text:\n%s", report)
	}
}

// QA's lot page in a real browser, with the keyboard only: QA logs in,
// starts on the lots, filters them and goes to LOT-UC-1 through the list,
// reads the evaluation, types the password in the release form and Enter,
// and the page shows the release with QA's printed name and meaning.
// Screenshots of the lot page at tablet size (768×1024, the whole page as
// well as the first screen) before and after signing are saved.
func TestServeBrowserQALotPage(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	text := browserText[chromedp.CSS](t, ctx)
	shot := func(name string, full bool) { t.Helper(); saveScreenshot(t, ctx, name, full) }
	do("the page at 768×1024", chromedp.EmulateViewport(768, 1024))
	// QA starts on the lots.
	do("log in as QA", logIn(f.srv.URL+"/", "quinn", chromedp.WaitVisible(chromedp.ID("lots")))...)
	do("filter to the lots in quarantine, by keyboard",
		chromedp.SetValue(chromedp.ID("status"), "quarantine"),
		chromedp.Focus(chromedp.CSS(`#lot-filter button`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitReady(chromedp.CSS(`#status option[value="quarantine"][selected]`)),
	)
	do("LOT-UC-1 in the list, by keyboard",
		chromedp.Focus(chromedp.CSS(`#lots a[href="/lots/LOT-UC-1"]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("approve-form")),
	)
	if v := text("#eval-verdict"); v != "PASS — conforms to isct-uc-msc@1" {
		t.Fatalf("evaluation verdict %q", v)
	}
	shot("celltrack-qa-lot-768x1024.png", false)
	shot("celltrack-qa-lot-768-full.png", true)
	do("phone width", chromedp.EmulateViewport(390, 844))
	shot("celltrack-qa-lot-390-full.png", true)
	do("tablet width again", chromedp.EmulateViewport(768, 1024))
	do("sign the release",
		chromedp.SendKeys(chromedp.ID("approve-password"), fixturePassword+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if done := text("#done"); !strings.Contains(done, "Released lot LOT-UC-1 against isct-uc-msc@1") ||
		!strings.Contains(done, "Signed by Quinn Adebayo (quinn, qa)") || !strings.Contains(done, "approved for release") {
		t.Fatalf("after signing:\n%s", done)
	}
	if st := text("#lot-status"); st != "RELEASED" {
		t.Errorf("lot status shown %q after release", st)
	}
	shot("celltrack-qa-lot-released-768x1024.png", false)
}

// The lab in a real browser, keyboard only: the lab starts on the lots,
// registers a donor on the registration page, and records a QC result on
// a lot's page. Screenshots of both at tablet size are saved.
func TestServeBrowserLab(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	text := browserText[chromedp.CSS](t, ctx)
	shot := func(name string) { t.Helper(); saveScreenshot(t, ctx, name, true) }
	do("the page at 768×1024", chromedp.EmulateViewport(768, 1024))
	do("log in as the lab", logIn(f.srv.URL+"/", "liu", chromedp.WaitVisible(chromedp.ID("lots")))...)
	do("register a donor",
		chromedp.Focus(chromedp.CSS(`nav a[href="/register"]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("donor-form")),
		chromedp.SendKeys(chromedp.ID("code"), "D-0002"),
		chromedp.SendKeys(chromedp.ID("site"), "Maternity ward 5"),
		chromedp.SendKeys(chromedp.ID("delivered"), "2026-11-01"),
		chromedp.SendKeys(chromedp.ID("consented"), "2026-10-20"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if done := text("#done"); !strings.Contains(done, "Registered donor D-0002") {
		t.Fatalf("after registering:\n%s", done)
	}
	shot("celltrack-lab-register-768.png")
	do("record a QC result on LOT-UC-1",
		chromedp.Navigate(f.srv.URL+"/lots/LOT-UC-1"),
		chromedp.WaitVisible(chromedp.ID("result-form")),
		chromedp.SetValue(chromedp.ID("assay"), "CD105"),
		chromedp.SendKeys(chromedp.ID("value"), "98.2"),
		chromedp.SendKeys(chromedp.ID("method"), "flow cytometry"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if done := text("#done"); !strings.Contains(done, "Recorded result #1: CD105 98.2 %") {
		t.Fatalf("after recording:\n%s", done)
	}
	if ev := text("#eval-verdict"); !strings.Contains(ev, "FAIL") {
		t.Errorf("one result of fifteen: the evaluation says %q", ev)
	}
	shot("celltrack-lab-lot-768.png")
}

// The exceptional release form in a real browser, for a lot whose
// viability fails: it names what the lot does not meet and both
// signatures' meanings; a screenshot at tablet width is saved.
func TestServeBrowserQAExceptionForm(t *testing.T) {
	f := nonconformingLotFixture(t)
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	do("the page at 768×1024", chromedp.EmulateViewport(768, 1024))
	do("log in as QA", logIn(f.srv.URL+"/login", "quinn", chromedp.WaitVisible(chromedp.ID("lots")))...)
	do("LOT-UC-1's exception form",
		chromedp.Navigate(f.srv.URL+"/lots/LOT-UC-1"),
		chromedp.WaitVisible(chromedp.ID("exception-form")),
		chromedp.ScrollIntoView(chromedp.ID("approve")),
	)
	form, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("exception-form")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(form, "does not meet: viability FAIL (78 %)") {
		t.Errorf("the exception form:\n%s", form)
	}
	saveScreenshot(t, ctx, "celltrack-qa-exception-768x1024.png", false)
}

// The admin lifts a lockout on the accounts page with the keyboard alone,
// while the server runs; a screenshot at tablet size is left to look at.
func TestServeBrowserAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), "lab", nil); err != nil {
		t.Fatal(err)
	}
	f := newWebFixtureAt(t, path)
	stranger := f.client()
	for i := 0; i < 5; i++ {
		f.postJSON(stranger, "/api/v1/login", map[string]any{"user": "omar", "password": "not-the-password"})
	}
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	do("log in as the admin", logIn(f.srv.URL+"/login", "alice", chromedp.WaitVisible(chromedp.CSS("nav")))...)
	do("the accounts page",
		chromedp.Navigate(f.srv.URL+"/accounts"),
		chromedp.WaitVisible(chromedp.ID("accounts")),
	)
	shot := func(name string) { t.Helper(); saveScreenshot(t, ctx, name, false) }
	shot("celltrack-accounts-768x1024.png")
	do("unlock omar",
		chromedp.SendKeys(chromedp.ID("reason-unlock-omar"), "locked by guesses; confirmed by phone"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	done, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("done")))
	if err != nil || !strings.Contains(done, "Account omar: unlock recorded") {
		t.Fatalf("after unlocking: %q %v", done, err)
	}
	shot("celltrack-accounts-unlocked-768x1024.png")
	if u, err := f.db.User("omar"); err != nil || u.Failures != 0 {
		t.Errorf("omar after the unlock: %+v %v", u, err)
	}
}
