package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store"
)

// lotStatus reads a lot's status from the database the fixture holds.
func (f *webFixture) lotStatus(ref string) string {
	f.t.Helper()
	l, err := store.NewLotService(f.db).Lot(ref)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(l.Status)
}

// The lot list and a lot's page, for a reader: the filters of `lot list`,
// the containers, the QC results, the evaluation and no form for a role
// that may not use it.
func TestServeLotsListAndPage(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	c := f.client()
	f.login(c, "aud")
	n := f.auditCount()

	st, body := f.get(c, "/lots")
	if st != http.StatusOK {
		t.Fatalf("/lots: %d\n%s", st, body)
	}
	mustContain(t, "/lots", body, `href="/lots/LOT-UC-1"`, `href="/lots/LOT-RF-1"`, "2 lot(s)", "G1234 26 000001", "QUARANTINE", "2027-11-10")
	st, body = f.get(c, "/lots?status=released")
	if st != http.StatusOK || !strings.Contains(body, "0 lot(s)") || strings.Contains(body, "LOT-UC-1") {
		t.Errorf("/lots?status=released: %d, want no lot\n%s", st, body)
	}
	st, body = f.get(c, "/lots?status=quarantine&source=rfib")
	if st != http.StatusOK || !strings.Contains(body, "1 lot(s)") || !strings.Contains(body, "LOT-RF-1") || strings.Contains(body, `href="/lots/LOT-UC-1"`) {
		t.Errorf("/lots?status=quarantine&source=rfib: %d\n%s", st, body)
	}
	st, body = f.get(c, "/lots?status=frozen")
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "frozen") {
		t.Errorf("/lots?status=frozen: %d, want the refusal naming the status\n%s", st, body)
	}

	st, body = f.get(c, "/lots/LOT-UC-1")
	if st != http.StatusOK {
		t.Fatalf("/lots/LOT-UC-1: %d\n%s", st, body)
	}
	mustContain(t, "lot page", body, "Lot LOT-UC-1", "donor D-0001", "G12342600000101", "G12342600000104", "QC results (15)",
		"CD105", "98.2 %", "PASS — conforms to isct-uc-msc@1", "No release decision yet.")
	for _, form := range []string{"approve-form", "reject-form", "result-form"} {
		if strings.Contains(body, form) {
			t.Errorf("the auditor is shown the %s", form)
		}
	}
	// The DIN, eye-readable with its spaces, finds the same lot.
	if st, body = f.get(c, "/lots/"+url.PathEscape("G1234 26 000001")); st != http.StatusOK || !strings.Contains(body, "Lot LOT-UC-1") {
		t.Errorf("lot by DIN: %d\n%s", st, body)
	}
	st, body = f.get(c, "/lots/LOT-NOPE-9")
	if st != http.StatusNotFound || !strings.Contains(body, "LOT-NOPE-9") {
		t.Errorf("unknown lot: %d, want 404 naming it\n%s", st, body)
	}
	if f.auditCount() != n {
		t.Errorf("reading lots wrote %d audit entries", f.auditCount()-n)
	}
}

// QA releases a lot on its page as `release approve` does: a refused
// decision (a rejected lot, a lot already released) shows why and no
// password box; an empty or wrong password signs nothing; the right one
// releases the lot with QA's printed name, time and meaning.
func TestServeLotApproveAndReject(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	c := f.client()
	f.login(c, "quinn")

	st, body := f.get(c, "/lots/LOT-UC-1")
	mustContain(t, "QA's lot page", body, `id="approve-form"`, `id="reject-form"`, "approved for release", "Password of Quinn Adebayo (quinn)")
	if st != http.StatusOK || strings.Contains(body, "result-form") {
		t.Errorf("QA's lot page: %d, and QA may not record results\n%s", st, body)
	}

	n := f.auditCount()
	// From another site, or saying nothing of where it comes from: 403,
	// nothing signed, even with the right password.
	for _, origin := range []string{"https://evil.example", ""} {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/lots/LOT-UC-1/approve", strings.NewReader(url.Values{"signer": {"quinn"}, "password": {fixturePassword}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if st, body := f.do(c, req); st != http.StatusForbidden || f.auditCount() != n || f.lotStatus("LOT-UC-1") != "quarantine" {
			t.Errorf("approve with Origin %q: %d, %d entries\n%s", origin, st, f.auditCount()-n, body)
		}
	}
	st, body = f.post(c, "/lots/LOT-UC-1/approve", url.Values{"signer": {"quinn"}, "password": {""}})
	if st != http.StatusBadRequest || !strings.Contains(body, "password is empty") || f.auditCount() != n {
		t.Errorf("empty password: %d, %d entries written\n%s", st, f.auditCount()-n, body)
	}
	st, body = f.post(c, "/lots/LOT-UC-1/approve", url.Values{"signer": {"quinn"}, "spec": {"no-such-spec"}, "password": {fixturePassword}})
	if st != http.StatusNotFound || !strings.Contains(body, "no-such-spec") || f.auditCount() != n {
		t.Errorf("unknown spec: %d, %d entries written\n%s", st, f.auditCount()-n, body)
	}
	// A wrong password is refused and recorded (the lockout counts it),
	// and nothing is signed.
	st, body = f.post(c, "/lots/LOT-UC-1/approve", url.Values{"signer": {"quinn"}, "password": {"not-my-password-1"}})
	if st != http.StatusUnauthorized || f.lotStatus("LOT-UC-1") != "quarantine" || f.auditCount() != n+1 {
		t.Errorf("wrong password: %d, lot %s, %d entries\n%s", st, f.lotStatus("LOT-UC-1"), f.auditCount()-n, body)
	}

	n = f.auditCount()
	st, body = f.post(c, "/lots/LOT-UC-1/approve", url.Values{"signer": {"quinn"}, "spec": {""}, "password": {fixturePassword}})
	if st != http.StatusOK {
		t.Fatalf("approve: %d\n%s", st, body)
	}
	mustContain(t, "released", body, `id="done"`, "Released lot LOT-UC-1 against isct-uc-msc@1",
		"Signed by Quinn Adebayo (quinn, qa) at 2026-11-25 09:00 UTC — approved for release", "<strong>APPROVED</strong> 2026-11-25 09:00 UTC by quinn against isct-uc-msc@1")
	if f.lotStatus("LOT-UC-1") != "released" || f.auditCount() <= n {
		t.Errorf("after approval: lot %s, %d entries", f.lotStatus("LOT-UC-1"), f.auditCount()-n)
	}

	// Released now: the page says why it cannot be approved again and asks
	// for no password; a POST anyway is refused before any password check.
	n = f.auditCount()
	_, body = f.get(c, "/lots/LOT-UC-1")
	if !strings.Contains(body, "Cannot be approved:") || !strings.Contains(body, "only a lot in quarantine can be approved") || strings.Contains(body, "approve-form") {
		t.Errorf("released lot's page offers approval:\n%s", body)
	}
	st, body = f.post(c, "/lots/LOT-UC-1/approve", url.Values{"signer": {"quinn"}, "password": {"not-my-password-1"}})
	if st != http.StatusConflict || !strings.Contains(body, "LOT-UC-1 is released") || f.auditCount() != n {
		t.Errorf("approve twice: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}

	// Reject: the reason is required, checked before the password.
	st, body = f.post(c, "/lots/LOT-RF-1/reject", url.Values{"signer": {"quinn"}, "reason": {" "}, "password": {"not-my-password-1"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "reason") || f.auditCount() != n || f.lotStatus("LOT-RF-1") != "quarantine" {
		t.Errorf("reject without reason: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}
	const reason = `karyotype <script>alert(1)</script> abnormal on retest`
	st, body = f.post(c, "/lots/LOT-RF-1/reject", url.Values{"signer": {"quinn"}, "reason": {reason}, "password": {fixturePassword}})
	if st != http.StatusOK {
		t.Fatalf("reject: %d\n%s", st, body)
	}
	mustContain(t, "rejected", body, "Rejected lot LOT-RF-1: karyotype &lt;script&gt;alert(1)&lt;/script&gt; abnormal on retest",
		"— rejected", "<strong>REJECTED</strong> 2026-11-25 09:00 UTC by quinn")
	if strings.Contains(body, "<script>") {
		t.Errorf("the reason's markup is not escaped")
	}
	if f.lotStatus("LOT-RF-1") != "rejected" {
		t.Errorf("lot LOT-RF-1 is %s after rejection", f.lotStatus("LOT-RF-1"))
	}
	n = f.auditCount()
	st, body = f.post(c, "/lots/LOT-RF-1/reject", url.Values{"signer": {"quinn"}, "reason": {"again"}, "password": {fixturePassword}})
	if st != http.StatusConflict || !strings.Contains(body, "already rejected") || f.auditCount() != n {
		t.Errorf("reject twice: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}
	// Segregation of duties: the lab's rejected rFib lot aside, a lot the
	// QA person registered is not theirs to release — covered by the
	// store's tests; the page shows the store's refusal as any other.
}

// The lab records a QC result on the lot page, as `release result`: a bad
// assay or value is refused naming it, nothing written, and the form keeps
// what was typed.
func TestServeLotRecordResult(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	c := f.client()
	f.login(c, "liu")
	st, body := f.get(c, "/lots/LOT-UC-1")
	if st != http.StatusOK || !strings.Contains(body, `id="result-form"`) || strings.Contains(body, "approve-form") || strings.Contains(body, "reject-form") {
		t.Fatalf("the lab's lot page: %d\n%s", st, body)
	}
	n := f.auditCount()
	for _, tc := range []struct {
		form   url.Values
		status int
		want   string
	}{
		{url.Values{"assay": {"CD999"}, "value": {"98"}}, http.StatusUnprocessableEntity, "CD999"},
		{url.Values{"assay": {"CD105"}, "value": {"0.95"}}, http.StatusUnprocessableEntity, "0.95"},
		{url.Values{"assay": {"sterility"}, "value": {"maybe"}}, http.StatusUnprocessableEntity, "maybe"},
		{url.Values{"assay": {"CD105"}, "value": {""}}, http.StatusBadRequest, "value is empty"},
		{url.Values{"assay": {"CD105"}, "value": {"98.0"}, "tested": {"2026-02-30"}}, http.StatusUnprocessableEntity, "2026-02-30"},
		{url.Values{"assay": {"CD105"}, "value": {"98.0"}, "tested": {"2030-01-01"}}, http.StatusUnprocessableEntity, "2030-01-01"},
	} {
		st, body := f.postPage(c, "/lots/LOT-UC-1/results", tc.form)
		if st != tc.status || !strings.Contains(body, tc.want) || f.auditCount() != n {
			t.Errorf("%v: %d (want %d), %d entries; want %q in\n%s", tc.form, st, tc.status, f.auditCount()-n, tc.want, body)
		}
	}
	_, body = f.postPage(c, "/lots/LOT-UC-1/results", url.Values{"assay": {"CD105"}, "value": {"0.95"}, "method": {"flow <b>cytometry</b>"}})
	mustContain(t, "refused form", body, `value="0.95"`, `<option value="CD105" selected>`, `value="flow &lt;b&gt;cytometry&lt;/b&gt;"`)

	st, body = f.postPage(c, "/lots/LOT-UC-1/results", url.Values{"assay": {"cd14"}, "value": {"0.8"}, "method": {"flow cytometry"}, "tested": {"2026-11-24"}})
	if st != http.StatusOK {
		t.Fatalf("record: %d\n%s", st, body)
	}
	mustContain(t, "recorded", body, "Recorded result #16: CD14 0.8 %", "QC results (16)", "2026-11-24")
	if f.auditCount() != n+1 {
		t.Errorf("recording a result wrote %d entries, want 1", f.auditCount()-n)
	}
}

// Every lot route for every role, from the permission table: each role
// reads; only QA gets past the role check of approve and reject (to the
// empty password), only the lab past that of a result (to the empty
// value); everyone else gets 403; no refusal writes anything; and each
// page shows only the forms the role may use.
func TestServeLotRoutesEveryRole(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release")
	users := map[audit.Role]string{audit.Admin: "alice", audit.Lab: "liu", audit.QA: "quinn", audit.Physician: "pat", audit.Nurse: "nina", audit.Auditor: "aud"}
	past := func(role audit.Role, a audit.Action) int {
		if audit.Allowed(role, a) {
			return http.StatusBadRequest
		}
		return http.StatusForbidden
	}
	for _, role := range audit.Roles {
		t.Run(string(role), func(t *testing.T) {
			c := f.client()
			f.login(c, users[role])
			n := f.auditCount()
			_, page := f.get(c, "/lots/LOT-UC-1")
			for form, a := range map[string]audit.Action{"approve-form": audit.ReleaseApprove, "reject-form": audit.ReleaseReject, "result-form": audit.ReleaseResult} {
				if strings.Contains(page, `id="`+form+`"`) != audit.Allowed(role, a) {
					t.Errorf("%s: %s shown = %v, allowed = %v", role, form, !audit.Allowed(role, a), audit.Allowed(role, a))
				}
			}
			for _, tc := range []struct {
				name string
				got  func() int
				want int
			}{
				{"GET /lots", func() int { st, _ := f.get(c, "/lots?status=quarantine"); return st }, http.StatusOK},
				{"GET /lots/{ref}", func() int { st, _ := f.get(c, "/lots/LOT-UC-1"); return st }, http.StatusOK},
				{"POST /lots/{ref}/approve", func() int {
					st, _ := f.post(c, "/lots/LOT-UC-1/approve", url.Values{"password": {""}})
					return st
				}, past(role, audit.ReleaseApprove)},
				{"POST /lots/{ref}/reject", func() int {
					st, _ := f.post(c, "/lots/LOT-UC-1/reject", url.Values{"reason": {"test"}, "password": {""}})
					return st
				}, past(role, audit.ReleaseReject)},
				{"POST /lots/{ref}/results", func() int {
					st, _ := f.postPage(c, "/lots/LOT-UC-1/results", url.Values{"assay": {"CD105"}})
					return st
				}, past(role, audit.ReleaseResult)},
				{"GET /api/v1/lots", func() int { st, _ := f.get(c, "/api/v1/lots"); return st }, http.StatusOK},
				{"GET /api/v1/lots/{ref}", func() int { st, _ := f.get(c, "/api/v1/lots/LOT-UC-1"); return st }, http.StatusOK},
				{"GET /api/v1/lots/{ref}/results", func() int { st, _ := f.get(c, "/api/v1/lots/LOT-UC-1/results"); return st }, http.StatusOK},
				{"GET /api/v1/lots/{ref}/evaluation", func() int { st, _ := f.get(c, "/api/v1/lots/LOT-UC-1/evaluation"); return st }, http.StatusOK},
				{"GET /api/v1/lots/{ref}/history", func() int { st, _ := f.get(c, "/api/v1/lots/LOT-UC-1/history"); return st }, http.StatusOK},
				{"POST /api/v1/lots/{ref}/approve", func() int {
					st, _ := f.postJSON(c, "/api/v1/lots/LOT-UC-1/approve", map[string]any{"password": ""})
					return st
				}, past(role, audit.ReleaseApprove)},
				{"POST /api/v1/lots/{ref}/reject", func() int {
					st, _ := f.postJSON(c, "/api/v1/lots/LOT-UC-1/reject", map[string]any{"reason": "test", "password": ""})
					return st
				}, past(role, audit.ReleaseReject)},
				{"POST /api/v1/lots/{ref}/results", func() int {
					st, _ := f.postJSON(c, "/api/v1/lots/LOT-UC-1/results", map[string]any{"assay": "CD105"})
					return st
				}, past(role, audit.ReleaseResult)},
			} {
				if got := tc.got(); got != tc.want {
					t.Errorf("%s as %s: %d, want %d", tc.name, role, got, tc.want)
				}
			}
			if f.auditCount() != n {
				t.Errorf("%s's requests wrote %d audit entries", role, f.auditCount()-n)
			}
		})
	}
	// Without a session: the pages send to the login, the API answers 401.
	st, _ := f.noRedirect().Get(f.srv.URL + "/lots")
	if st.StatusCode != http.StatusSeeOther {
		t.Errorf("/lots without a session: %d, want 303 to the login", st.StatusCode)
	}
	if st, body := f.get(f.srv.Client(), "/api/v1/lots"); st != http.StatusUnauthorized || !strings.Contains(body, `"session"`) {
		t.Errorf("/api/v1/lots without a session: %d\n%s", st, body)
	}
}

// runCLIOut runs one celltrack command on the file at path and returns its
// standard output.
func runCLIOut(t *testing.T, path string, args ...string) []byte {
	t.Helper()
	now, _ := time.Parse(time.RFC3339, testNow)
	var stdout, stderr bytes.Buffer
	argv := append([]string{"celltrack", "--db", path}, args...)
	if code := runEnv(argv, strings.NewReader(strings.Repeat(fixturePassword+"\n", 2)), &stdout, &stderr, func() time.Time { return now },
		personEnv(filepath.Join(filepath.Dir(path), "homes"), args)); code != 0 {
		t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.Bytes()
}

func jsonValue(t *testing.T, what string, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, data)
	}
	return v
}

// The API's lot calls answer what the command line's --json prints, from
// the same view code: the read calls are compared with the commands on the
// same file, the writes with what the commands print for theirs.
func TestServeLotsAPIMatchesCLIJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	now, _ := time.Parse(time.RFC3339, testNow)
	for _, fx := range []string{"lab", "release"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), fx, func() time.Time { return now }); err != nil {
			t.Fatal(err)
		}
	}
	// LOT-RF-1 is released on the command line, so that both have a history.
	runCLIOut(t, path, "--user", "quinn", "release", "approve", "--password-stdin", "LOT-RF-1")
	cli := map[string][]byte{
		"/api/v1/lots":                                            runCLIOut(t, path, "--json", "--user", "aud", "lot", "list"),
		"/api/v1/lots?status=released":                            runCLIOut(t, path, "--json", "--user", "aud", "lot", "list", "--status", "released"),
		"/api/v1/lots/LOT-UC-1":                                   runCLIOut(t, path, "--json", "--user", "aud", "lot", "show", "LOT-UC-1"),
		"/api/v1/lots/LOT-UC-1/results":                           runCLIOut(t, path, "--json", "--user", "aud", "release", "results", "LOT-UC-1"),
		"/api/v1/lots/LOT-UC-1/evaluation":                        runCLIOut(t, path, "--json", "--user", "aud", "release", "evaluate", "LOT-UC-1"),
		"/api/v1/lots/LOT-RF-1/history":                           runCLIOut(t, path, "--json", "--user", "aud", "release", "history", "LOT-RF-1"),
		"/api/v1/lots/LOT-RF-1/evaluation?spec=rfib-autologous@1": runCLIOut(t, path, "--json", "--user", "aud", "release", "evaluate", "--spec", "rfib-autologous@1", "LOT-RF-1"),
	}
	f := newWebFixtureAt(t, path)
	c := f.client()
	if st, body := f.postJSON(c, "/api/v1/login", map[string]string{"user": "aud", "password": fixturePassword}); st != http.StatusOK {
		t.Fatalf("login: %d %v", st, body)
	}
	for route, want := range cli {
		st, body := f.get(c, route)
		if st != http.StatusOK {
			t.Errorf("%s: %d\n%s", route, st, body)
			continue
		}
		if got, w := jsonValue(t, route, []byte(body)), jsonValue(t, "cli", want); !reflect.DeepEqual(got, w) {
			t.Errorf("%s differs from the command line's --json:\nAPI %s\nCLI %s", route, body, want)
		}
	}

	// The writes, as QA and the lab: the keys the command line prints.
	qa := f.client()
	f.postJSON(qa, "/api/v1/login", map[string]string{"user": "quinn", "password": fixturePassword})
	n := f.auditCount()
	st, e := f.postJSON(qa, "/api/v1/lots/LOT-UC-1/approve", map[string]any{"spec": "isct-uc-msc", "password": "wrong-password-77"})
	if st != http.StatusUnauthorized || e["error"].(map[string]any)["code"] != "auth" || f.lotStatus("LOT-UC-1") != "quarantine" || f.auditCount() != n+1 {
		t.Errorf("wrong password: %d %v, %d entries (want only the refused signature's)", st, e, f.auditCount()-n)
	}
	n = f.auditCount()
	st, e = f.postJSON(qa, "/api/v1/lots/LOT-UC-1/approve", map[string]any{"spec": "isct-uc-msc", "password": fixturePassword, "witness": "pat"})
	if st != http.StatusBadRequest || !strings.Contains(e["error"].(map[string]any)["message"].(string), "witness") || f.auditCount() != n {
		t.Errorf("unknown field: %d %v", st, e)
	}
	st, d := f.postJSON(qa, "/api/v1/lots/LOT-UC-1/approve", map[string]any{"spec": "isct-uc-msc", "password": fixturePassword})
	if st != http.StatusCreated || d["decision"] != "approved" || d["lot"] != "LOT-UC-1" || d["spec"] != "isct-uc-msc" {
		t.Fatalf("approve: %d %v", st, d)
	}
	sigs := d["signatures"].([]any)
	if s := sigs[0].(map[string]any); len(sigs) != 1 || s["full_name"] != "Quinn Adebayo" || s["meaning"] != "approved for release" || s["signed_sha256"] == "" {
		t.Errorf("approve's signatures: %v", sigs)
	}
	st, e = f.postJSON(qa, "/api/v1/lots/LOT-UC-1/approve", map[string]any{"password": fixturePassword})
	if st != http.StatusConflict || e["error"].(map[string]any)["exit"] != 3.0 {
		t.Errorf("approve twice: %d %v", st, e)
	}
	st, d = f.postJSON(qa, "/api/v1/lots/LOT-UC-1/reject", map[string]any{"reason": "sterility retest grew", "password": fixturePassword})
	if st != http.StatusCreated || d["decision"] != "rejected" || d["reason"] != "sterility retest grew" {
		t.Errorf("reject: %d %v", st, d)
	}
	lab := f.client()
	f.postJSON(lab, "/api/v1/login", map[string]string{"user": "liu", "password": fixturePassword})
	n = f.auditCount()
	st, e = f.postJSON(lab, "/api/v1/lots/LOT-NOPE/results", map[string]any{"assay": "CD105", "value": "98"})
	if st != http.StatusNotFound || e["error"].(map[string]any)["exit"] != 5.0 || f.auditCount() != n {
		t.Errorf("result for an unknown lot: %d %v", st, e)
	}
	st, e = f.postJSON(lab, "/api/v1/lots/LOT-RF-1/results", map[string]any{"assay": "identity", "value": "fail"})
	if st != http.StatusConflict || !strings.Contains(e["error"].(map[string]any)["message"].(string), "already has a valid identity result") || f.auditCount() != n {
		t.Errorf("a second identity result: %d %v", st, e)
	}
	st, r := f.postJSON(lab, "/api/v1/lots/LOT-RF-1/results", map[string]any{"assay": "CD19", "value": "0.3", "method": "flow cytometry", "tested": "2026-11-24"})
	if st != http.StatusCreated {
		t.Fatalf("result: %d %v", st, r)
	}
	res := r["result"].(map[string]any)
	if res["assay"] != "CD19" || res["value"] != "0.3" || res["unit"] != "%" || res["seq"] != 18.0 || res["tested"] != "2026-11-24" ||
		res["recorded_by"] != "liu" || len(r["requarantined"].([]any)) != 0 || f.auditCount() != n+1 {
		t.Errorf("a result: %v", r)
	}
}

// A printed name with markup, signing a release on the lot page, shows as
// text there and in the decisions, never as markup.
func TestServeLotPageEscapesNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	for _, fx := range []string{"lab", "release"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), fx, testClockAt()); err != nil {
			t.Fatal(err)
		}
	}
	const script = `<script>document.title='pwned'</script>`
	runCLIOn(t, path, "--user", "alice", "user", "add", "--role", "qa", "--full-name", script, "--password-stdin", "qx")
	f := newWebFixtureAt(t, path)
	c := f.client()
	f.login(c, "qx")
	st, body := f.post(c, "/lots/LOT-UC-1/approve", url.Values{"signer": {"qx"}, "password": {fixturePassword}})
	if st != http.StatusOK {
		t.Fatalf("approve: %d\n%s", st, body)
	}
	if strings.Contains(body, script) {
		t.Fatalf("the printed name is sent as markup:\n%s", body)
	}
	mustContain(t, "lot page", body, "Signed by &lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt; (qx, qa)",
		"signed by &lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt; (qx, qa)")
}

// What QA sees before signing, as the command line shows it: results
// voided or corrected are listed above the form, and a decision the store
// refuses — here segregation of duties, a QA login with the printed name
// of the lab person who registered the lot — is explained with no password
// box, and refused with 403 if posted anyway, writing nothing.
func TestServeLotApproveRefusedBeforeSigning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	for _, fx := range []string{"lab", "release"} {
		if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), fx, testClockAt()); err != nil {
			t.Fatal(err)
		}
	}
	runCLIOn(t, path, "--user", "alice", "user", "add", "--role", "qa", "--full-name", "Liu Wei", "--password-stdin", "liuqa")
	runCLIOn(t, path, "--user", "liu", "release", "result", "--corrects", "4", "--reason", "transcription error", "--assay", "CD90", "--value", "97.1", "LOT-UC-1")
	f := newWebFixtureAt(t, path)

	c := f.client()
	f.login(c, "quinn")
	_, body := f.get(c, "/lots/LOT-UC-1")
	mustContain(t, "QA's page after a correction", body, `id="invalidated"`, "Results voided or corrected", "#4 CD90 97.5 %", `id="approve-form"`)

	same := f.client()
	f.login(same, "liuqa")
	n := f.auditCount()
	_, body = f.get(same, "/lots/LOT-UC-1")
	if strings.Contains(body, "approve-form") || !strings.Contains(body, "Cannot be approved:") || !strings.Contains(body, "segregation of duties") {
		t.Errorf("the registrant's namesake is offered the approval:\n%s", body)
	}
	st, body := f.post(same, "/lots/LOT-UC-1/approve", url.Values{"signer": {"liuqa"}, "password": {fixturePassword}})
	if st != http.StatusForbidden || !strings.Contains(body, "segregation of duties") || f.auditCount() != n || f.lotStatus("LOT-UC-1") != "quarantine" {
		t.Errorf("approve by the registrant's namesake: %d, %d entries\n%s", st, f.auditCount()-n, body)
	}
	st2, e := f.postJSON(same, "/api/v1/lots/LOT-UC-1/approve", map[string]any{"password": fixturePassword})
	if st2 != http.StatusForbidden || !strings.Contains(e["error"].(map[string]any)["message"].(string), "segregation of duties") || f.auditCount() != n {
		t.Errorf("API approve by the registrant's namesake: %d %v", st2, e)
	}
}

// testClockAt is the stories' clock, testNow.
func testClockAt() func() time.Time {
	now, _ := time.Parse(time.RFC3339, testNow)
	return func() time.Time { return now }
}

// An exceptional release on the lot page, as `release approve --exception`
// (release_exception.txtar): offered to QA only for a non-conforming lot in
// quarantine, naming what it does not meet; refused before any password is
// checked for a co-signer who is not a physician or a missing patient; then
// signed by QA and the physician with the meanings that name the patient
// and the criteria not met.
func TestServeLotExceptionalRelease(t *testing.T) {
	f := nonconformingLotFixture(t)
	c := f.client()
	f.login(c, "quinn")
	_, body := f.get(c, "/lots/LOT-UC-1")
	mustContain(t, "non-conforming lot", body, `id="exception-form"`, "Cannot be approved:", "The lot does not meet: <strong>viability FAIL (78 %)</strong>",
		"approved for exceptional release of a non-conforming lot; does not meet: viability FAIL (78 %)")
	if strings.Contains(body, `id="approve-form"`) {
		t.Errorf("a non-conforming lot is offered a normal release")
	}
	_, conforming := f.get(c, "/lots/LOT-RF-1")
	if strings.Contains(conforming, "exception-form") {
		t.Errorf("a conforming lot is offered an exceptional release")
	}

	exc := func(patient, physician, physPassword string) url.Values {
		return url.Values{"signer": {"quinn"}, "exception": {"yes"}, "patient": {patient}, "reason": {"refractory flare, no alternative"},
			"physician": {physician}, "password": {fixturePassword}, "physician_password": {physPassword}}
	}
	n := f.auditCount()
	for _, tc := range []struct {
		form   url.Values
		status int
		want   string
	}{
		{exc("", "pat", fixturePassword), http.StatusUnprocessableEntity, "one named patient"},
		{exc("MRN-1001", "", fixturePassword), http.StatusForbidden, "physician&#39;s co-signature"},
		{exc("MRN-1001", "nina", fixturePassword), http.StatusForbidden, "the co-signing physician nina has role nurse"},
		{exc("MRN-9999", "pat", fixturePassword), http.StatusNotFound, "MRN-9999"},
		{exc("MRN-1001", "pat", ""), http.StatusBadRequest, "the physician&#39;s password is empty"},
	} {
		st, body := f.post(c, "/lots/LOT-UC-1/approve", tc.form)
		if st != tc.status || !strings.Contains(body, tc.want) || f.auditCount() != n || f.lotStatus("LOT-UC-1") != "quarantine" {
			t.Errorf("%v: %d (want %d), %d entries; want %q in\n%s", tc.form, st, tc.status, f.auditCount()-n, tc.want, body)
		}
	}
	// The API takes the same fields.
	f.postJSON(c, "/api/v1/login", map[string]string{"user": "quinn", "password": fixturePassword})
	n = f.auditCount() // the login is recorded
	st, e := f.postJSON(c, "/api/v1/lots/LOT-UC-1/approve", map[string]any{"exception": true, "patient": "MRN-1001", "reason": "no alternative",
		"physician": "nina", "password": fixturePassword, "physician_password": fixturePassword})
	if st != http.StatusForbidden || !strings.Contains(e["error"].(map[string]any)["message"].(string), "the co-signing physician nina has role nurse") ||
		e["error"].(map[string]any)["field"] != "physician" || f.auditCount() != n {
		t.Errorf("API exception co-signed by a nurse: %d %v", st, e)
	}
	st, body = f.post(c, "/lots/LOT-UC-1/approve", exc("MRN-1001", "pat", fixturePassword))
	if st != http.StatusOK {
		t.Fatalf("exceptional release: %d\n%s", st, body)
	}
	mustContain(t, "exceptional release", body, "EXCEPTIONAL RELEASE of lot LOT-UC-1 for patient MRN-1001 only, against isct-uc-msc@1; DOES NOT MEET: viability FAIL (78 %)",
		"Signed by Quinn Adebayo (quinn, qa) at 2026-11-25 09:00 UTC — approved for exceptional release of a non-conforming lot; does not meet: viability FAIL (78 %)",
		"Signed by Dr Pat Okafor (pat, physician) at 2026-11-25 09:00 UTC — authorised exceptional release under medical necessity for patient MRN-1001; does not meet: viability FAIL (78 %)",
		"RELEASED — EXCEPTIONAL RELEASE, patient MRN-1001 only")
	if f.lotStatus("LOT-UC-1") != "released" {
		t.Errorf("lot is %s", f.lotStatus("LOT-UC-1"))
	}
}
