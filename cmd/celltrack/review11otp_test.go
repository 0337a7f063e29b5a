package main

import (
	"net/http"
	"net/url"
	"testing"
)

// Review 11: the admin signs as two clinicians. README: "A one-time
// password from an admin's `user reset` is the admin's secret until its
// owner chooses their own … [it does not] work as an e-signature", and an
// admin cannot sign. But the first password of an account, which the admin
// types at `user add` (or POST /api/v1/svc/users), is the admin's secret
// just the same, and nothing makes its owner replace it: it logs in and
// signs. So alice adds two nurses, logs in as one with the password she
// chose, and records an infusion administered by one and witnessed by the
// other — two e-signatures (21 CFR 11.100(a), 11.200(a)(3)) made by one
// person, the one role that may not sign at all. The first password
// should be a one-time password as after a reset: the login leads only to
// the change, and it signs nothing.
func TestReview11AdminChosenFirstPasswordSigns(t *testing.T) {
	f := newWebFixture(t, false, "lab", "release", "custody", "bedside")
	alice := f.client()
	f.login(alice, "alice")
	const noraPW, nellPW = "gravel-otter-lantern-58", "mosaic-heron-thimble-23"
	for _, nu := range []struct{ name, full, pw string }{{"nora", "Nora Quist", noraPW}, {"nell", "Nell Ward", nellPW}} {
		st, m := f.postJSON(alice, "/api/v1/svc/users", map[string]any{
			"User": map[string]any{"Name": nu.name, "FullName": nu.full, "Role": "nurse"}, "Password": nu.pw})
		if st != http.StatusOK {
			t.Fatalf("alice adds %s: %d %v", nu.name, st, m)
		}
	}
	// alice, in another browser, with the password she chose for nora.
	asNora := f.client()
	st, m := f.postJSON(asNora, "/api/v1/login", map[string]any{"user": "nora", "password": noraPW})
	t.Logf("login as nora with the password alice chose: %d %v", st, m)
	if st != http.StatusOK {
		return // refused or sent to the password change: as it should be
	}
	t.Errorf("nora's first password, chosen by the admin, opens a session without a change (a reset's would not)")
	_, body := f.post(asNora, "/bedside/check", url.Values{"mrn": {"MRN-1001"}, "scan": {"G12342600000101"}})
	sign := review9SignForm(t, body)
	sign.Set("password", noraPW)
	sign.Set("witness", "nell")
	sign.Set("witness_password", nellPW)
	before := f.auditCount()
	st, body = f.post(asNora, "/bedside/administer", sign)
	t.Logf("administer as nora, witness nell, both passwords alice's: %d, audit +%d, %s", st, f.auditCount()-before, review9Refusal(body))
	if st == http.StatusOK {
		t.Errorf("an infusion was recorded administered by nora and witnessed by nell, both signatures made with passwords only the admin had ever typed")
	}
}
