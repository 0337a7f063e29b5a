package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
	body := review9Administer(t, f, browser)
	i := strings.Index(body, `id="reaction-form"`)
	if i < 0 {
		t.Fatalf("administer: no reaction form\n%s", body)
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
	st, body := f.post(browser, "/bedside/reaction", v)
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

// Review 10: `check --backup FILE` of a backup that is not there (a typo in
// its name) answers "no database at FILE; check the database path, or
// initialize a new database there (--backup)": the advice for a missing
// --db, given for a kept backup — an admin who follows it runs `celltrack
// --db FILE init` and makes an empty database under the backup's name.
// It should say the backup is not there and to check its name (the store's
// ENODB words the database, not a backup).
func TestReview10CheckMissingBackupSaysNoInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ct.db")
	if err := runFixture(path, filepath.Join(filepath.Dir(path), "homes"), "lab", testClockAt()); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(filepath.Dir(path), "backup-2026-11-25.db")
	now, _ := time.Parse(time.RFC3339, testNow)
	args := []string{"--user", "alice", "check", "--backup", missing}
	var stdout, stderr bytes.Buffer
	code := runEnv(append([]string{"celltrack", "--db", path}, args...), strings.NewReader(""), &stdout, &stderr,
		func() time.Time { return now }, personEnv(filepath.Join(filepath.Dir(path), "homes"), args))
	t.Logf("exit %d: %s", code, stderr.String())
	if code == 0 {
		t.Fatalf("check --backup of a missing file passed")
	}
	if strings.Contains(stderr.String(), "initialize a new database") {
		t.Errorf("check --backup of a missing backup advises to initialize a new database there: %s", stderr.String())
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("check --backup made %s", missing)
	}
}

// Review 10: GET /api/v1/svc/audit-tail without ?last= is accepted —
// countParam's own refusal says "leave last out for every one" — but
// AuditTail(entity, 0) of the whole trail reads nothing and counts
// nothing: 200 {"total":0,"entries":[]} on a database of dozens of
// entries. An auditor's client (or the remote CLI) told there are no
// entries. It should answer every entry and the true count, or refuse a
// missing last.
func TestReview10AuditTailWithoutLast(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	c := f.client()
	f.login(c, "aud")
	want := f.auditCount()
	st, body := f.get(c, "/api/v1/svc/audit-tail")
	var tail struct {
		Total   int              `json:"total"`
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal([]byte(body), &tail); err != nil {
		t.Fatalf("/api/v1/svc/audit-tail: %d %v\n%.400s", st, err, body)
	}
	t.Logf("/api/v1/svc/audit-tail: %d, total %d, %d entries; the trail has %d", st, tail.Total, len(tail.Entries), want)
	if st == http.StatusOK && (tail.Total != want || len(tail.Entries) != want) {
		t.Errorf("/api/v1/svc/audit-tail without last: 200, total %d and %d entries, the trail has %d", tail.Total, len(tail.Entries), want)
	}
}
