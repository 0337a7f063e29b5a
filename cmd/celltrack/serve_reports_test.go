package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// reportsNow is the clock of the report pages' tests: an hour after the
// look-back's three infusions (report_handling.txtar).
const reportsNow = "2026-11-26T13:00:00Z"

// lookbackDB builds the look-back's database (three patients infused from
// donor D-0001's lot, as report_handling.txtar builds it) and returns its
// path, with the users' session files beside it, fresh at reportsNow.
func lookbackDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ct.db")
	homes := filepath.Join(filepath.Dir(path), "homes")
	at := func(s string) func() time.Time {
		tm, _ := time.Parse(time.RFC3339, s)
		return func() time.Time { return tm }
	}
	steps := []struct{ now, fixture string }{
		{testNow, "lab"}, {testNow, "release"}, {testNow, "custody"},
		{"2026-11-26T07:30:00Z", "login"}, {"2026-11-26T07:30:00Z", "lookback-ship"},
		{"2026-11-26T10:00:00Z", "login"}, {"2026-11-26T10:00:00Z", "lookback-receive"},
		{"2026-11-26T12:00:00Z", "login"}, {"2026-11-26T12:00:00Z", "lookback-infuse"},
		{reportsNow, "login"},
	}
	for _, s := range steps {
		if err := runFixture(path, homes, s.fixture, at(s.now)); err != nil {
			t.Fatalf("fixture %s: %v", s.fixture, err)
		}
	}
	return path
}

// serveAt serves the database at path as `celltrack serve` does, with the
// clock at now; stop closes the server and the database, so that the
// command line can open the file again.
func serveAt(t *testing.T, path, now string) (f *webFixture, stop func()) {
	t.Helper()
	tm, _ := time.Parse(time.RFC3339, now)
	f = newWebFixtureOpts(t, path, false, func() time.Time { return tm })
	return f, func() { f.srv.Close(); f.db.Close() }
}

// cliAt runs one celltrack command on path at the clock now, as user's
// session, and returns its standard output; a non-zero exit fails the test.
func cliAt(t *testing.T, path, now string, args ...string) []byte {
	t.Helper()
	return cliExit(t, path, now, 0, args...)
}

// cliExit runs one celltrack command as cliAt does, wanting exit code
// exit, and returns its standard output.
func cliExit(t *testing.T, path, now string, exit int, args ...string) []byte {
	t.Helper()
	tm, _ := time.Parse(time.RFC3339, now)
	var stdout, stderr bytes.Buffer
	argv := append([]string{"celltrack", "--db", path}, args...)
	if code := runEnv(argv, strings.NewReader(""), &stdout, &stderr, func() time.Time { return tm }, personEnv(filepath.Join(filepath.Dir(path), "homes"), args)); code != exit {
		t.Fatalf("%s: exit %d, want %d: %s", strings.Join(args, " "), code, exit, stderr.String())
	}
	return stdout.Bytes()
}

// download GETs path and returns its status, headers and bytes.
func (f *webFixture) download(c *http.Client, path string) (int, http.Header, []byte) {
	f.t.Helper()
	resp, err := c.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// Every download of the auditor's pages is the command line's output for
// the same database and clock, byte for byte: the handling and access
// reports and the certificate in each of their formats (the CLI's --out
// file), the audit log and audit verify in text and json (its standard
// output). Reading and downloading writes nothing to the database.
func TestServeReportDownloadsMatchCLI(t *testing.T) {
	path := lookbackDB(t)
	f, stop := serveAt(t, path, reportsNow)
	c := f.client()
	f.login(c, "aud")
	before := f.auditCount()

	type pair struct {
		url string   // the page's download
		cli []string // the command, run as aud; out names its --out file
		out string
		// exit is the command's exit code: 3 for a verification that
		// fails (it still prints the whole verdict).
		exit int
	}
	var pairs []pair
	for _, format := range []string{"text", "md", "json", "csv", "html", "pdf"} {
		ext := extOf(format)
		pairs = append(pairs,
			pair{"/reports/handling/download?format=" + format, []string{"report", "handling", "--format", format}, "handling." + ext, 0},
			pair{"/reports/handling/download?protocol=sle-uc-single&from=2026-11-26&to=2026-11-26&format=" + format,
				[]string{"report", "handling", "--protocol", "sle-uc-single", "--from", "2026-11-26", "--to", "2026-11-26", "--format", format}, "handling-filtered." + ext, 0},
			pair{"/reports/access/download?format=" + format, []string{"report", "access", "--format", format}, "access." + ext, 0})
		if format != "csv" {
			pairs = append(pairs, pair{"/reports/certificate/download?lot=LOT-UC-1&format=" + format,
				[]string{"release", "certificate", "--format", format, "LOT-UC-1"}, "cert." + ext, 0})
		}
	}
	pairs = append(pairs,
		pair{"/reports/audit-log/download?format=text", []string{"audit", "log"}, "", 0},
		pair{"/reports/audit-log/download?format=json", []string{"--json", "audit", "log"}, "", 0},
		pair{"/reports/audit-log/download?entity=LOT-UC-1&values=true&format=text", []string{"audit", "log", "--entity", "LOT-UC-1", "--values"}, "", 0},
		pair{"/reports/audit-log/download?entity=MRN-1001&format=json", []string{"--json", "audit", "log", "--entity", "MRN-1001"}, "", 0},
		pair{"/reports/audit-verify/download?format=text", []string{"audit", "verify"}, "", 0},
		pair{"/reports/audit-verify/download?format=json", []string{"--json", "audit", "verify"}, "", 0},
	)
	// The tree head an auditor types from a printed report: the access
	// report's, and one whose root is not the trail's.
	_, _, accessJSON := f.download(c, "/reports/access/download?format=json")
	var access struct {
		Produced struct {
			AuditTree string `json:"audit_tree"`
		} `json:"produced"`
	}
	if err := json.Unmarshal(accessJSON, &access); err != nil || !strings.Contains(access.Produced.AuditTree, " entries, root ") {
		t.Fatalf("the access report's tree head: %v %q\n%.300s", err, access.Produced.AuditTree, accessJSON)
	}
	printed := access.Produced.AuditTree
	forged := printed[:strings.Index(printed, "root ")+5] + strings.Repeat("A", 43) + "="
	for _, head := range []struct {
		text string
		exit int
	}{{printed, 0}, {forged, 3}} {
		q := url.Values{"tree_head": {head.text}}.Encode()
		pairs = append(pairs,
			pair{"/reports/audit-verify/download?format=text&" + q, []string{"audit", "verify", "--tree-head", head.text}, "", head.exit},
			pair{"/reports/audit-verify/download?format=json&" + q, []string{"--json", "audit", "verify", "--tree-head", head.text}, "", head.exit})
	}
	// The page says it in words: the printed head OK, the forged one FAILED.
	for head, want := range map[string]string{printed: "OK — unsigned; today&#39;s trail extends it", forged: `<dd id="printed-head" class="verify-failed">FAILED: `} {
		st, body := f.get(c, "/reports/audit-verify?run=true&"+url.Values{"tree_head": {head}}.Encode())
		if st != http.StatusOK {
			t.Fatalf("audit verify page with tree head %q: %d\n%s", head, st, body)
		}
		mustContain(t, "the audit verify page with "+head, body, want, "Printed tree head")
	}
	got := map[string][]byte{}
	for _, p := range pairs {
		st, h, body := f.download(c, p.url)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", p.url, st, body)
		}
		if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") {
			t.Errorf("GET %s: Content-Disposition %q", p.url, cd)
		}
		got[p.url] = body
	}
	if after := f.auditCount(); after != before {
		t.Fatalf("reading the report pages wrote %d audit entries", after-before)
	}
	stop()

	dir := t.TempDir()
	for _, p := range pairs {
		args := append([]string{"--user", "aud"}, p.cli...)
		var want []byte
		if p.out != "" {
			out := filepath.Join(dir, p.out)
			// --out goes before the positional argument (the lot): a flag
			// after it is refused.
			if p.cli[0] == "release" {
				args = append(args[:len(args)-1:len(args)-1], "--out", out, args[len(args)-1])
			} else {
				args = append(args, "--out", out)
			}
			cliAt(t, path, reportsNow, args...)
			var err error
			if want, err = os.ReadFile(out); err != nil {
				t.Fatal(err)
			}
		} else {
			want = cliExit(t, path, reportsNow, p.exit, args...)
		}
		if len(want) == 0 {
			t.Fatalf("%s wrote nothing", strings.Join(args, " "))
		}
		if !bytes.Equal(got[p.url], want) {
			t.Errorf("GET %s differs from `celltrack %s` (%d bytes against %d):\nweb %.400q\ncli %.400q", p.url, strings.Join(args, " "), len(got[p.url]), len(want), got[p.url], want)
		}
	}
	// The handling report's rows are the look-back's three infusions, so
	// the comparison above compared reports with content.
	if csv := got["/reports/handling/download?format=csv"]; bytes.Count(csv, []byte("\n")) < 4 {
		t.Errorf("the handling CSV has no rows:\n%s", csv)
	}
}

// Every role reads every report page, as every role may run the commands
// (reads are open to every enabled user); each page shows its downloads
// and the menu offers it. Without a session a page or a download sends to
// the login page and gives no file.
func TestServeReportPagesEveryRole(t *testing.T) {
	path := lookbackDB(t)
	f, _ := serveAt(t, path, reportsNow)
	pages := map[string][]string{
		"/reports":                           {`href="/reports/handling"`, `href="/reports/audit-verify"`},
		"/reports/handling":                  {"Handling report", `href="/reports/handling/download?format=pdf`, "G12342600000102"},
		"/reports/certificate?lot=LOT-UC-1":  {"Certificate of lot LOT-UC-1", `lot=LOT-UC-1`, "format=pdf"},
		"/reports/audit-log?entity=LOT-UC-1": {"entries of LOT-UC-1", "release.approve", "format=json"},
		"/reports/audit-verify?run=true":     {"PASSED: no problem found", " entries, root ", "format=text"},
	}
	for _, user := range []string{"alice", "liu", "quinn", "pat", "nina", "aud"} {
		c := f.client()
		f.login(c, user)
		before := f.auditCount()
		for page, wants := range pages {
			st, body := f.get(c, page)
			if st != http.StatusOK {
				t.Fatalf("%s: GET %s: %d\n%s", user, page, st, body)
			}
			mustContain(t, user+" "+page, body, append(wants, `<a href="/reports" aria-current="page">Reports</a>`)...)
		}
		// The user-access review shows every account's state: the admin's
		// and the auditor's (audit.SeesAccountState), refused to the others.
		st, body := f.get(c, "/reports/access")
		if user == "alice" || user == "aud" {
			if st != http.StatusOK {
				t.Fatalf("%s: GET /reports/access: %d\n%s", user, st, body)
			}
			mustContain(t, user+" /reports/access", body, "User access review", `href="/reports/access/download?format=csv`, "<td>quinn</td>")
		} else {
			if st != http.StatusForbidden || strings.Contains(body, "<td>quinn</td>") {
				t.Errorf("%s: GET /reports/access: %d, want 403 and no account\n%s", user, st, body)
			}
			mustContain(t, user+" /reports/access", body, "which only an admin or an auditor sees")
		}
		if n := f.auditCount() - before; n != 0 {
			t.Errorf("%s: the report pages wrote %d audit entries", user, n)
		}
	}
	for _, p := range []string{"/reports/handling", "/reports/access/download?format=pdf", "/reports/certificate/download?lot=LOT-UC-1&format=json", "/reports/audit-log/download?format=text"} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+p, nil)
		resp, err := f.noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" || resp.Header.Get("Content-Disposition") != "" {
			t.Errorf("GET %s without a session: %d, Location %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// A refused filter or reference names the field and the value, with the
// status the API gives the same error, and writes nothing; a disabled
// user's session ends, so their report pages and downloads send to login.
func TestServeReportRefusals(t *testing.T) {
	path := lookbackDB(t)
	f, _ := serveAt(t, path, reportsNow)
	c := f.client()
	f.login(c, "aud")
	before := f.auditCount()
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/reports/handling?from=2026-13-01", http.StatusUnprocessableEntity, `from &#34;2026-13-01&#34; is not a calendar date`},
		{"/reports/handling?to=26.11.2026", http.StatusUnprocessableEntity, `to &#34;26.11.2026&#34; is not a date; write it as YYYY-MM-DD`},
		{"/reports/handling?from=2026-12-01&to=2026-11-01", http.StatusUnprocessableEntity, "from 2026-12-01 is after to 2026-11-01; give the earlier date first"},
		{"/reports/handling?protocol=no-such", http.StatusNotFound, "no-such"},
		{"/reports/handling/download?from=2026-12-01&to=2026-11-01&format=csv", http.StatusUnprocessableEntity, "from 2026-12-01 is after to 2026-11-01"},
		{"/reports/handling/download?format=docx", http.StatusBadRequest, "docx"},
		{"/reports/certificate?lot=LOT-NONE", http.StatusNotFound, "LOT-NONE"},
		{"/reports/certificate/download?lot=LOT-UC-1&format=csv", http.StatusBadRequest, `format &#34;csv&#34; is not offered here; use text, md, json, html, pdf`},
		{"/reports/audit-log?entity=NOBODY-9", http.StatusNotFound, "NOBODY-9"},
		{"/reports/audit-log?entity=LOT-UC-1&values=maybe", http.StatusBadRequest, `values=&#34;maybe&#34;: give true or false`},
		{"/reports/audit-log/download?format=pdf", http.StatusBadRequest, "pdf"},
		{"/reports/audit-verify/download?format=csv", http.StatusBadRequest, "csv"},
		{"/reports/audit-verify?run=true&tree_head=306+entries", http.StatusUnprocessableEntity, `tree head &#34;306 entries&#34;`},
		{"/reports/audit-verify/download?format=text&tree_head=root+only", http.StatusUnprocessableEntity, `tree head "root only"`},
	} {
		st, body := f.get(c, tc.path)
		if st != tc.status {
			t.Errorf("GET %s: %d, want %d\n%s", tc.path, st, tc.status, body)
		}
		if !strings.Contains(body, tc.want) && !strings.Contains(body, strings.ReplaceAll(tc.want, "&#34;", `"`)) {
			t.Errorf("GET %s does not say %q:\n%s", tc.path, tc.want, body)
		}
	}
	if n := f.auditCount() - before; n != 0 {
		t.Errorf("refused report pages wrote %d audit entries", n)
	}
	// A disabled auditor: the admin disables aud on the accounts page; aud's
	// next download is refused and gives no file.
	admin := f.client()
	f.login(admin, "alice")
	if st, body := f.postPage(admin, "/accounts/aud/disable", url.Values{"reason": {"left the company"}}); st != http.StatusOK {
		t.Fatalf("disable aud: %d\n%s", st, body)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/reports/access/download?format=csv", nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.Header.Get("Content-Disposition") != "" || bytes.Contains(b, []byte("Ada Auditor")) {
		t.Errorf("a disabled user's download: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Disposition"), b)
	}
}

// The handling report page in a real browser, with the keyboard only:
// the auditor opens Reports, chooses the handling report, narrows it to a
// protocol and a day, sees the report and its downloads, and the PDF
// download is a PDF. Each report page is saved at desktop (1280×800) and
// phone (390×844) size for a person to look at, and a downloaded PDF is
// left beside them to render.
func TestServeBrowserReports(t *testing.T) {
	path := lookbackDB(t)
	f, _ := serveAt(t, path, reportsNow)
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	do("the page at 1280×800", chromedp.EmulateViewport(1280, 800))
	do("log in as the auditor", logIn(f.srv.URL+"/", "aud", chromedp.WaitVisible(chromedp.ID("kind")))...)
	do("the handling report of 2026-11-26",
		chromedp.Click(`a[href="/reports"]`),
		chromedp.WaitVisible(`a[href="/reports/handling"]`),
		chromedp.Click(`a[href="/reports/handling"]`),
		chromedp.WaitVisible(chromedp.ID("from")),
		chromedp.SendKeys(chromedp.ID("from"), "2026-11-26"),
		chromedp.SendKeys(chromedp.ID("to"), "2026-11-26"+kb.Enter),
		// The page showed a report (of any time) before the dates were
		// sent, so #report proves nothing. Typing sets the fields' value,
		// not their value attribute: only the answer to the submission
		// has the dates there.
		chromedp.WaitVisible(`#from[value="2026-11-26"]`),
		chromedp.WaitVisible(`#to[value="2026-11-26"]`),
		chromedp.WaitVisible(chromedp.ID("report")),
	)
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("report")))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the handling report page", text, "G12342600000101", "G12342600000102", "G12342600000103", "2026-11-26 00:00 UTC to 2026-11-27 00:00 UTC (exclusive)", "Download:", "pdf")
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(`a.download:last-of-type`, "href"))
	if err != nil {
		t.Fatal(err)
	}
	c := f.client()
	f.login(c, "aud")
	st, h, pdf := f.download(c, href.Value)
	if st != http.StatusOK || h.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("the page's last download %s: %d %s %.20q", href.Value, st, h.Get("Content-Type"), pdf)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(), "celltrack-handling-report.pdf"), pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{
		"reports":     "/reports",
		"handling":    "/reports/handling?from=2026-11-26&to=2026-11-26",
		"access":      "/reports/access",
		"certificate": "/reports/certificate?lot=LOT-UC-1",
		"auditlog":    "/reports/audit-log?entity=LOT-UC-1",
		"verify":      "/reports/audit-verify?run=true",
	}
	// The verify page checking the tree head printed on the access review.
	_, _, accessJSON := f.download(c, "/reports/access/download?format=json")
	var access struct {
		Produced struct {
			AuditTree string `json:"audit_tree"`
		} `json:"produced"`
	}
	if err := json.Unmarshal(accessJSON, &access); err != nil {
		t.Fatal(err)
	}
	pages["verify-tree-head"] = "/reports/audit-verify?run=true&" + url.Values{"tree_head": {access.Produced.AuditTree}}.Encode()
	for name, p := range pages {
		for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
			do("open "+p, chromedp.EmulateViewport(size[0], size[1]), chromedp.Navigate(f.srv.URL+p), chromedp.WaitVisible(chromedp.ID("main")))
			saveScreenshot(t, ctx, "celltrack-report-"+name+"-"+strconv.FormatInt(size[0], 10)+"x"+strconv.FormatInt(size[1], 10)+".png", false)
		}
	}
	st, h, pdf = f.download(c, "/reports/certificate/download?lot=LOT-UC-1&format=pdf")
	if st != http.StatusOK || h.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("the certificate's PDF: %d %s %.20q", st, h.Get("Content-Type"), pdf)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(), "celltrack-certificate.pdf"), pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("the downloaded PDFs: %s, %s", filepath.Join(screenshotDir(), "celltrack-handling-report.pdf"), filepath.Join(screenshotDir(), "celltrack-certificate.pdf"))
}

// A download's file name is built from what the report is, never from the
// request; a reference, record or format that tries to climb directories
// is only a value that is not found or not a format.
func TestServeReportDownloadNames(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	c := f.client()
	f.login(c, "aud")
	for path, want := range map[string]string{
		"/reports/handling/download?format=csv":                       `attachment; filename="handling-report.csv"`,
		"/reports/access/download?format=text":                        `attachment; filename="access-report.txt"`,
		"/reports/certificate/download?lot=G1234260000014&format=pdf": `attachment; filename="certificate-LOT-UC-1.pdf"`,
		"/reports/audit-log/download?entity=LOT-UC-1&format=json":     `attachment; filename="audit-log-LOT-UC-1.json"`,
		"/reports/audit-log/download?format=text":                     `attachment; filename="audit-log.txt"`,
		"/reports/audit-verify/download?format=json":                  `attachment; filename="audit-verify.json"`,
	} {
		st, h, body := f.download(c, path)
		if st != http.StatusOK || h.Get("Content-Disposition") != want {
			t.Errorf("GET %s: %d %q, want %q\n%.300s", path, st, h.Get("Content-Disposition"), want, body)
		}
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/reports/certificate/download?lot=" + url.QueryEscape("../../../../etc/passwd") + "&format=pdf", http.StatusNotFound},
		{"/reports/certificate/download?lot=LOT-UC-1&format=" + url.QueryEscape("../../etc/passwd"), http.StatusBadRequest},
		{"/reports/audit-log/download?entity=" + url.QueryEscape("/etc/passwd") + "&format=text", http.StatusNotFound},
		{"/reports/handling/download?protocol=" + url.QueryEscape("../../etc/passwd") + "&format=text", http.StatusNotFound},
		{"/reports/access/download?format=" + url.QueryEscape("../access"), http.StatusBadRequest},
	} {
		st, h, body := f.download(c, tc.path)
		if st != tc.want || h.Get("Content-Disposition") != "" || bytes.Contains(body, []byte("root:")) {
			t.Errorf("GET %s: %d %q, want %d\n%s", tc.path, st, h.Get("Content-Disposition"), tc.want, body)
		}
	}
}
