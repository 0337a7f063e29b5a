package web

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// The services coSignStore embeds, named apart.
type (
	doseService    = dose.Service
	releaseService = release.Service
	lotService     = lot.Service
)

// coSignStore stands for the store behind the server: every password
// checked (checks) and every record written (writes) is counted. The nurse
// nina's password is "nurse-pw"; every co-signer's password is wrong.
type coSignStore struct {
	userService
	doseService
	releaseService
	lotService
	checks, writes int
}

func (c *coSignStore) Authenticate(name, password, meaning string) (audit.User, error) {
	c.checks++
	if name == "nina" && password == "nurse-pw" {
		return audit.User{Name: "nina", Role: audit.Nurse}, nil
	}
	c.writes++ // a wrong password is recorded
	return audit.User{}, lot.Errorf(lot.EAUTH, "wrong password for %s", name)
}

func (c *coSignStore) CoSigner(field, name, password, meaning string) (audit.User, error) {
	c.checks++
	c.writes++ // the refusal is recorded, and counted towards the lockout
	return audit.User{}, lot.FieldErrorf(field, lot.EAUTH, "wrong user name or password for the %s %q", field, name)
}

func (c *coSignStore) Reader(name string) (audit.User, error) {
	return audit.User{Name: name, Role: audit.Nurse}, nil
}

func (c *coSignStore) CheckAdministration(dose.Administration) (dose.Report, error) {
	return dose.Report{}, nil
}

func (c *coSignStore) Check(string, []string, lot.Tenths) (dose.Report, error) {
	return dose.Report{}, nil
}

func (c *coSignStore) Administer(nurse, witness audit.User, a dose.Administration) (dose.Infusion, dose.Report, error) {
	c.writes++
	return dose.Infusion{}, dose.Report{}, nil
}

func (c *coSignStore) Patient(mrn string) (lot.Patient, error) {
	return lot.Patient{MRN: mrn, Name: "Mei Chen"}, nil
}

func (c *coSignStore) CheckApproval(release.Approval) error { return nil }

// Approve checks QA's password, then the physician's, as the store does.
func (c *coSignStore) Approve(a release.Approval) (release.Disposition, error) {
	c.checks++
	if a.Password != "qa-pw" {
		c.writes++
		return release.Disposition{}, lot.Errorf(lot.EAUTH, "wrong password for %s", a.QA)
	}
	if _, err := c.CoSigner("physician", a.Physician, a.PhysicianPassword, release.MeaningPhysician); err != nil {
		return release.Disposition{}, err
	}
	c.writes++
	return release.Disposition{}, nil
}

func newCoSignServer(now *time.Time) (*Server, *coSignStore) {
	st := &coSignStore{}
	s := New(Config{
		Log: log.New(io.Discard, "", 0),
		Now: func() time.Time { return *now },
		Sessions: &fakeSessions{
			login: func(name, _ string) (LoginResult, error) {
				return LoginResult{}, lot.Errorf(lot.EAUTH, "wrong user name or password")
			},
			tokens: map[string]audit.User{
				"nina-t":  {Name: "nina", Role: audit.Nurse},
				"quinn-t": {Name: "quinn", Role: audit.QA},
			}},
		Users:       st,
		UserService: st,
		Doses:       st,
		Releases:    st,
		Lots:        st,
	})
	return s, st
}

// send posts body (JSON, or a form when form is set) to path as token's
// user from addr.
func send(s *Server, addr, token, path, body string, form bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Origin", "http://example.com")
	if form {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	req.AddCookie(&http.Cookie{Name: "celltrack_session", Value: token})
	req.RemoteAddr = addr + ":40000"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

const shownJSON = `"shown":{"weight_id":"0b7c1a52-7c1e-4d0e-9a51-4f1f1d3c2b10","volume_ml":"100","cells":"5e8"}`

func apiAdminister(s *Server, addr, nursePW, witness string) *httptest.ResponseRecorder {
	return send(s, addr, "nina-t", "/api/v1/dose/administer",
		fmt.Sprintf(`{"mrn":"MRN-1","containers":["B1"],"password":%q,"witness":%q,"witness_password":"guess-1",%s}`, nursePW, witness, shownJSON), false)
}

func pageAdminister(s *Server, addr, witness string) *httptest.ResponseRecorder {
	f := url.Values{"mrn": {"MRN-1"}, "bag": {"B1"}, "password": {"nurse-pw"}, "witness": {witness}, "witness_password": {"guess-1"},
		"shown_weight": {"0b7c1a52-7c1e-4d0e-9a51-4f1f1d3c2b10"}, "shown_ml": {"100"}, "shown_cells": {"5e8"}, signerField: {"nina"}}
	return send(s, addr, "nina-t", "/bedside/administer", f.Encode(), true)
}

func svcCoSign(s *Server, addr, name string) *httptest.ResponseRecorder {
	return send(s, addr, "nina-t", svcPrefix+"/cosignatures",
		fmt.Sprintf(`{"Field":"witness","Name":%q,"Password":"guess-1","Meaning":%q}`, name, dose.MeaningWitness), false)
}

// wantThrottled checks rec is the login's 429 (Retry-After, code auth,
// naming what), and that nothing was checked or written for it.
func wantThrottled(t *testing.T, what string, rec *httptest.ResponseRecorder, st *coSignStore, checks, writes int, names string) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("%s: %d (Retry-After %q) %s; want the login's 429 with Retry-After", what, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if !strings.Contains(rec.Body.String(), "too many failed logins") || !strings.Contains(rec.Body.String(), names) {
		t.Errorf("%s: %s; want the login's words naming %s", what, rec.Body, names)
	}
	if st.checks != checks || st.writes != writes {
		t.Errorf("%s: %d passwords checked and %d records written; want none", what, st.checks-checks, st.writes-writes)
	}
}

// Review 16: a logged-in nurse spraying one guess at each of many accounts
// as her witness is held by the login's per-address limit, through the
// JSON API, the bedside page and the service API, with the login's answer,
// before any password is checked and with nothing written; the login from
// that address is held too (one bucket), and another address is not.
func TestCoSignaturesShareLoginAddressLimit(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	s, st := newCoSignServer(&now)
	for i := range LoginFailuresPerAddress {
		if rec := apiAdminister(s, "192.0.2.1", "nurse-pw", fmt.Sprintf("acct-%d", i)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong witness password %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	if st.writes != LoginFailuresPerAddress {
		t.Fatalf("%d records for %d refused witnesses", st.writes, LoginFailuresPerAddress)
	}
	checks, writes := st.checks, st.writes
	wantThrottled(t, "API administer", apiAdminister(s, "192.0.2.1", "nurse-pw", "liu"), st, checks, writes, "192.0.2.1")
	if errCode(t, apiAdminister(s, "192.0.2.1", "nurse-pw", "liu")) != lot.EAUTH {
		t.Errorf("a throttled co-signature's code is not auth, as the login's")
	}
	wantThrottled(t, "bedside page", pageAdminister(s, "192.0.2.1", "liu"), st, checks, writes, "192.0.2.1")
	wantThrottled(t, "service co-signature", svcCoSign(s, "192.0.2.1", "liu"), st, checks, writes, "192.0.2.1")
	if rec := postLogin(s, "192.0.2.1", "liu"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a login from the address that sprayed co-signatures: %d %s; want 429 (the login's bucket)", rec.Code, rec.Body)
	}
	if rec := pageAdminister(s, "192.0.2.2", "liu"); rec.Code != http.StatusUnauthorized || st.checks == checks {
		t.Errorf("the bedside page from another address: %d %s; want the witness's password checked (401)", rec.Code, rec.Body)
	}
	// One more every LoginAddressEvery, on the server's clock.
	now = now.Add(LoginAddressEvery)
	if rec := svcCoSign(s, "192.0.2.1", "liu"); rec.Code != http.StatusUnauthorized {
		t.Errorf("a co-signature %s later: %d %s; want its password checked", LoginAddressEvery, rec.Code, rec.Body)
	}
}

// The per-name bucket is the login's: failed logins for a name hold a
// co-signature naming it (in any case) from elsewhere, as the login's
// own; the nurse's own wrong password takes no co-signer's token.
func TestCoSignaturesShareLoginNameLimit(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	s, st := newCoSignServer(&now)
	for i := range LoginFailuresPerAddress + 1 {
		if rec := apiAdminister(s, "192.0.2.7", "wrong-nurse-pw", "liu"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong nurse password %d: %d %s; the nurse's own password takes no co-signer's token", i+1, rec.Code, rec.Body)
		}
	}
	for i := range LoginFailuresPerName {
		if rec := postLogin(s, fmt.Sprintf("192.0.2.%d", 10+i), "liu"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failed login %d for liu: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	checks, writes := st.checks, st.writes
	wantThrottled(t, "bedside page", pageAdminister(s, "192.0.2.50", "LIU"), st, checks, writes, "user name &#34;LIU")
	wantThrottled(t, "service co-signature", svcCoSign(s, "192.0.2.51", "liu"), st, checks, writes, `user name \"liu`)
	wantThrottled(t, "exceptional release", send(s, "192.0.2.52", "quinn-t", "/api/v1/lots/LOT-1/approve",
		`{"spec":"S","password":"qa-pw","exception":true,"patient":"MRN-1","reason":"no other product","physician":"liu","physician_password":"guess-1"}`, false),
		st, checks, writes, `user name \"liu`)
}

// An exceptional release's refused physician takes a token of the
// address, as a refused witness; QA's own wrong password does not.
func TestExceptionalReleasePhysicianThrottled(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	s, st := newCoSignServer(&now)
	approve := func(qaPW, physician string) *httptest.ResponseRecorder {
		return send(s, "192.0.2.3", "quinn-t", "/api/v1/lots/LOT-1/approve",
			fmt.Sprintf(`{"spec":"S","password":%q,"exception":true,"patient":"MRN-1","reason":"no other product","physician":%q,"physician_password":"guess-1"}`, qaPW, physician), false)
	}
	for i := range LoginFailuresPerAddress + 1 {
		if rec := approve("wrong-qa-pw", "doc"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("QA's wrong password %d: %d %s; QA's own password takes no co-signer's token", i+1, rec.Code, rec.Body)
		}
	}
	for i := range LoginFailuresPerAddress {
		if rec := approve("qa-pw", fmt.Sprintf("doc-%d", i)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong physician password %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	checks, writes := st.checks, st.writes
	wantThrottled(t, "exceptional release", approve("qa-pw", "nina"), st, checks, writes, "192.0.2.3")
}

// The service API's other co-signatures — the witness of POST /infusions,
// an exceptional release's physician at /lots/{ref}/approval, another
// user's signature at /signatures — share the same limit.
func TestServiceCoSignaturesShareLoginAddressLimit(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	s, st := newCoSignServer(&now)
	infusion := func(witness string) *httptest.ResponseRecorder {
		return send(s, "192.0.2.4", "nina-t", svcPrefix+"/infusions",
			fmt.Sprintf(`{"Administration":{"MRN":"MRN-1","Containers":["B1"]},"NursePassword":"nurse-pw","Witness":%q,"WitnessPassword":"guess-1"}`, witness), false)
	}
	for i := range LoginFailuresPerAddress {
		if rec := infusion(fmt.Sprintf("acct-%d", i)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong witness password %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	checks, writes := st.checks, st.writes
	wantThrottled(t, "service infusion", infusion("liu"), st, checks, writes, "192.0.2.4")
	wantThrottled(t, "service signature for another user", send(s, "192.0.2.4", "nina-t", svcPrefix+"/signatures",
		fmt.Sprintf(`{"User":"liu","Password":"guess-1","Meaning":%q}`, dose.MeaningWitness), false), st, checks, writes, "192.0.2.4")
	wantThrottled(t, "service exceptional release", send(s, "192.0.2.4", "quinn-t", svcPrefix+"/lots/LOT-1/approval",
		`{"Spec":"S","Password":"qa-pw","Exception":true,"Patient":"MRN-1","Reason":"no other product","Physician":"liu","PhysicianPassword":"guess-1"}`, false),
		st, checks, writes, "192.0.2.4")
}
