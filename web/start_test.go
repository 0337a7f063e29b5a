package web

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// TestStartIsSessionAndFacility: GET /api/v1/svc/start, which a command of
// the command line asks before its own request, answers the session's user
// as /session does and the facility as /facility does, in one request —
// read together by Config.Start when the server has it, on their own when
// not — and refuses what they refuse, with the same status and words: a
// session refused (the cookie cleared), a disabled user, a facility that
// cannot be read (the cookie kept: the session may be alive).
func TestStartIsSessionAndFacility(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	const note = "this database was migrated to /srv/site.db (the file engine); work on /srv/site.db"
	var disabled bool
	var facilityErr error
	sessions := checkSessions{check: func(token string) (audit.User, string, error) {
		if token != "t" {
			return audit.User{}, "", lot.Errorf(lot.ESESSION, "this database knows no such session; log in again as NAME")
		}
		return audit.User{Name: "aud", Role: audit.Auditor, Disabled: disabled}, "t2", nil
	}}
	base := Config{Log: log.New(io.Discard, "", 0), Sessions: sessions,
		Facility: func() (string, error) { return "G1234", facilityErr },
		Zone:     func() (*time.Location, error) { return berlin, nil },
		Migrated: func() (string, error) { return note, nil }}
	together := base
	together.Start = func(token string) (Started, error) {
		u, next, err := sessions.check(token)
		return Started{User: u, Next: next, FIN: "G1234", Zone: berlin, Migrated: note, FacilityErr: facilityErr}, err
	}
	get := func(s *Server, path, cookie string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.AddCookie(&http.Cookie{Name: "celltrack_session", Value: cookie})
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	for name, cfg := range map[string]Config{"read together": together, "read on their own": base} {
		s := New(cfg)
		disabled, facilityErr = false, nil
		w := get(s, svcPrefix+"/start", "t")
		var v StartView
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
		var f FacilityView
		json.Unmarshal(get(s, svcPrefix+"/facility", "t").Body.Bytes(), &f)
		var sv SessionView
		json.Unmarshal(get(s, svcPrefix+"/session", "t").Body.Bytes(), &sv)
		if v.Facility != f || f.FIN != "G1234" || f.Zone != "Europe/Berlin" || f.Migrated != note {
			t.Errorf("%s: the facility %+v; /facility %+v", name, v.Facility, f)
		}
		if v.User.Name != "aud" || v.User.Name != sv.User.Name || v.User.Role != sv.User.Role {
			t.Errorf("%s: the user %+v; /session %+v", name, v.User, sv.User)
		}
		if c := w.Result().Cookies(); len(c) != 1 || c[0].Value != "t2" {
			t.Errorf("%s: the renewed session is not set: %v", name, c)
		}

		for _, tc := range []struct {
			what   string
			cookie string
			spoil  func()
			clear  bool
		}{
			{"a session refused", "forged", func() {}, true},
			{"a disabled user", "t", func() { disabled = true }, false},
			{"a facility that cannot be read", "t", func() { facilityErr = lot.Errorf(lot.ENODB, "the database cannot be reached") }, false},
		} {
			disabled, facilityErr = false, nil
			tc.spoil()
			w := get(s, svcPrefix+"/start", tc.cookie)
			alone := get(s, svcPrefix+"/facility", tc.cookie)
			if w.Code == http.StatusOK || w.Code != alone.Code || w.Body.String() != alone.Body.String() {
				t.Errorf("%s, %s: %d %s; /facility: %d %s", name, tc.what, w.Code, w.Body, alone.Code, alone.Body)
			}
			cleared := false
			for _, c := range w.Result().Cookies() {
				cleared = cleared || c.MaxAge < 0
			}
			if cleared != tc.clear {
				t.Errorf("%s, %s: cookie cleared %v, want %v", name, tc.what, cleared, tc.clear)
			}
		}
	}
}

// checkSessions checks sessions with check.
type checkSessions struct {
	Sessions
	check func(token string) (audit.User, string, error)
}

func (f checkSessions) Check(token string) (audit.User, string, error) { return f.check(token) }

func (f checkSessions) Info(token string) (audit.User, audit.Session, error) {
	u, _, err := f.check(token)
	return u, audit.Session{}, err
}
