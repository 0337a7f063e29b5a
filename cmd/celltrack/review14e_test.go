package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
)

// Review 14 E: at /bedside/administer a logged-in nurse with a GO check
// names a witness. An unknown name was "the witness X: no such user" (404),
// a known one went on to the password, whose refusal said when the
// fifth wrong one had locked the account: the nurse could list the
// accounts and lock a colleague out, and learn that it worked. Now the
// unknown name, the wrong password, and a wrong password for a locked,
// disabled or lab account get one answer — the same status and page but
// the name, as at the login — and each is recorded (an unknown name as at
// the login, omar's counted towards his lockout); nothing is infused. The
// command line's side, on both engines and through a server, is the story
// dose_administer_witness_one_answer.
func TestReview14EWitnessPageOneAnswer(t *testing.T) {
	review14EWitnessPage(t, newWebFixture(t, false, "lab", "release", "custody", "bedside"))
}

// TestReview14EWitnessPageOneAnswerOnPostgres is the same on PostgreSQL.
func TestReview14EWitnessPageOneAnswerOnPostgres(t *testing.T) {
	review14EWitnessPage(t, newWebFixtureOn(t, pgtest.URL(t), false, "lab", "release", "custody", "bedside"))
}

func review14EWitnessPage(t *testing.T, f *webFixture) {
	if _, err := f.db.DisableUser("alice", "pat", "left the unit", nil); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	f.login(c, "nina")
	_, page := f.post(c, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	const want = "wrong user name or password for the witness ghost, or the account is locked; nothing was signed (the attempt is recorded in the audit trail; 5 wrong in a row lock the account for 15m: then wait, or ask an admin to unlock it)"

	// refused posts the form naming witness with a wrong password, and
	// returns the status and the page with the name put back to ghost.
	refused := func(witness string) (int, string) {
		t.Helper()
		form := signForm(t, page, "not-the-password-1")
		form.Set("witness", witness)
		st, body := f.post(c, "/bedside/administer", form)
		return st, asGhost(body, witness)
	}
	n := f.auditCount()
	st0, body0 := refused("ghost")
	if st0 != http.StatusUnauthorized {
		t.Errorf("unknown witness: status %d, want 401", st0)
	}
	mustContain(t, "unknown witness", body0, want, ">GO<")
	if got := f.auditCount() - n; got != 1 {
		t.Errorf("unknown witness: %d audit entries, want 1", got)
	}
	es, err := f.auditLog("")
	if err != nil {
		t.Fatal(err)
	}
	if e := es[len(es)-1]; e.User != "ghost" || e.Action != "signature.refused" || e.Reason != "unknown user name" {
		t.Errorf("unknown witness recorded as %s %s %q, want ghost signature.refused \"unknown user name\" as at the login", e.User, e.Action, e.Reason)
	}
	// omar five times (the fifth locks him) and once more while locked;
	// pat disabled; liu a lab user.
	for i, w := range []string{"omar", "omar", "omar", "omar", "omar", "omar", "pat", "liu"} {
		st, body := refused(w)
		if st != st0 || body != body0 {
			t.Errorf("witness %s (attempt %d): status %d, page told apart from an unknown name's (%d):\n%s", w, i+1, st, st0, diffLine(body0, body))
		}
	}
	omar, err := f.db.User("omar")
	if err != nil {
		t.Fatal(err)
	}
	if omar.LockedUntil.IsZero() || omar.Failures != 5 {
		t.Errorf("omar: %d wrong passwords counted, locked until %v; want 5 and locked", omar.Failures, omar.LockedUntil)
	}
	// A disabled or non-clinical account's wrong password counts too, as
	// at the login (review 16 A): uncounted, it would be guessed without end.
	for _, u := range []string{"pat", "liu"} {
		if x, _ := f.db.User(u); x.Failures != 1 {
			t.Errorf("%s: %d wrong passwords counted for an account that may not witness, want 1", u, x.Failures)
		}
	}
	// 1 (ghost) + 5 counted + the lock + 1 while locked + pat + liu; no infusion.
	if got := f.auditCount() - n; got != 10 {
		t.Errorf("%d audit entries, want 10 (each refusal and the lock)", got)
	}
	if es, err = f.auditLog(""); err != nil {
		t.Fatal(err)
	}
	for _, e := range es[n:] {
		if e.Action != "signature.refused" && e.Action != "user.locked" {
			t.Errorf("a refused witness wrote %s (%s %s)", e.Action, e.User, e.Reason)
		}
	}
	// The JSON API: the same status and error object but the name.
	_, chk := f.postJSON(c, "/api/v1/dose/check", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"}})
	shown := chk["report"].(map[string]any)["shown"]
	api := func(witness string) (int, string) {
		st, m := f.postJSON(c, "/api/v1/dose/administer", map[string]any{"mrn": "MRN-1001", "containers": []string{"G12342600000101"},
			"shown": shown, "password": fixturePassword, "witness": witness, "witness_password": "not-the-password-1"})
		e, _ := m["error"].(map[string]any)
		return st, asGhost(fmt.Sprint(e), witness)
	}
	ast, aerr := api("ghost")
	mustContain(t, "API unknown witness", aerr, want)
	for _, w := range []string{"omar", "pat", "liu"} {
		if st, e := api(w); st != ast || e != aerr {
			t.Errorf("API witness %s: %d %s, told apart from an unknown name's %d %s", w, st, e, ast, aerr)
		}
	}
}

// asGhost is s with the user name witness, as a word, put back to ghost.
func asGhost(s, witness string) string {
	return regexp.MustCompile(`\b`+witness+`\b`).ReplaceAllString(s, "ghost")
}

// diffLine is the first line where b differs from a.
func diffLine(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "- " + al[i] + "\n+ " + bl[i]
		}
	}
	return "(lengths differ)"
}
