package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// oneSession is a Sessions whose one token is an auditor's.
type oneSession struct{ Sessions }

func (oneSession) Check(token string) (audit.User, string, error) {
	if token != "t" {
		return audit.User{}, "", lot.Errorf(lot.ESESSION, "not logged in")
	}
	return audit.User{Name: "aud", Role: audit.Auditor}, "", nil
}

// failingLots answers the lot list with err.
type failingLots struct {
	lot.Service
	err error
}

func (f failingLots) Lots(lot.LotFilter) ([]lot.Lot, error) { return nil, f.err }

// TestInternalErrorShownGeneric is the review's finding that error pages
// showed internals to any logged-in user (`read lots postgres://…: ERROR:
// relation "lots" does not exist (SQLSTATE 42P01)`): an internal error is
// logged with a request id, and the page and the API show a generic
// message with that id; a refusal keeps its message.
func TestInternalErrorShownGeneric(t *testing.T) {
	internal := errors.New(`read lots postgres://celltrack_app@db/celltrack: ERROR: relation "lots" does not exist (SQLSTATE 42P01)`)
	var logged bytes.Buffer
	s := New(Config{Log: log.New(&logged, "", 0), Sessions: oneSession{}, Lots: failingLots{err: internal}})
	get := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.AddCookie(&http.Cookie{Name: "celltrack_session", Value: "t"})
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	idRE := regexp.MustCompile(`internal error \(request ([0-9a-f]{12})\)`)
	for _, path := range []string{"/lots", "/api/v1/lots"} {
		logged.Reset()
		w := get(path)
		body := w.Body.String()
		if path == "/api/v1/lots" {
			var e APIError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("%s: %v: %s", path, err, body)
			}
			body = e.Error.Message
			if e.Error.Code != lot.EINTERNAL || e.Error.Exit != 1 {
				t.Errorf("%s: error object %+v", path, e.Error)
			}
		}
		if w.Code != http.StatusInternalServerError {
			t.Errorf("%s: status %d", path, w.Code)
		}
		for _, secret := range []string{"postgres://", "SQLSTATE", "relation", "celltrack_app"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows %q to the user: %s", path, secret, body)
			}
		}
		m := idRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no request id in %q", path, body)
		}
		if !strings.Contains(logged.String(), "request "+m[1]) || !strings.Contains(logged.String(), internal.Error()) {
			t.Errorf("%s: the log does not hold the error under request %s: %q", path, m[1], logged.String())
		}
	}

	// A refusal is shown as it is: the page words the fix without the
	// command line's command, which the API answers apart for the
	// command line through a server (issue 11).
	s = New(Config{Log: log.New(&logged, "", 0), Sessions: oneSession{}, Lots: failingLots{err: lot.Errorf(lot.ENOTFOUND, "no lot LOT-X; check the number in the list of lots").Run("lot list")}})
	w := get("/api/v1/lots")
	var e APIError
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != http.StatusNotFound ||
		e.Error != (APIErrorBody{Code: lot.ENOTFOUND, Message: "no lot LOT-X; check the number in the list of lots", Exit: 5, Command: "lot list"}) {
		t.Errorf("a refusal through the API: %d %s", w.Code, w.Body.String())
	}
	if w := get("/lots"); !strings.Contains(w.Body.String(), "no lot LOT-X; check the number in the list of lots") || strings.Contains(w.Body.String(), "lot list") {
		t.Errorf("a refusal on a page: %d %s", w.Code, w.Body.String())
	}
}

// TestMigratedBanner: every page of a database migrated to the other
// engine says so at its top, in the words a local read prints, and the
// facility answer carries the same line for the command line; a database
// that was not migrated shows no banner.
func TestMigratedBanner(t *testing.T) {
	const note = "this database was migrated to /srv/site.db (the file engine) on 2026-11-25 09:00 UTC by alice; it takes no more writes — this is a read of the old copy; work on /srv/site.db"
	get := func(s *Server, path string) string {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.AddCookie(&http.Cookie{Name: "celltrack_session", Value: "t"})
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Body.String()
	}
	cfg := Config{Log: log.New(io.Discard, "", 0), Sessions: oneSession{}, Lots: failingLots{},
		Facility: func() (string, error) { return "G1234", nil }, Zone: func() (*time.Location, error) { return time.UTC, nil }}
	plain := New(cfg)
	cfg.Migrated = func() (string, error) { return note, nil }
	migrated := New(cfg)
	banner := `<div class="warning-box" role="status" id="migrated"><strong>Old copy:</strong> ` + template.HTMLEscapeString(note) + `</div>`
	for _, path := range []string{"/login", "/lots", "/bedside", "/reports"} {
		if body := get(migrated, path); !strings.Contains(body, banner) {
			t.Errorf("%s of a migrated database has no banner:\n%s", path, body)
		}
		if body := get(plain, path); strings.Contains(body, `id="migrated"`) {
			t.Errorf("%s of a database not migrated has the banner", path)
		}
	}
	var v FacilityView
	if err := json.Unmarshal([]byte(get(migrated, "/api/v1/svc/facility")), &v); err != nil || v.Migrated != note || v.FIN != "G1234" {
		t.Errorf("the facility answer of a migrated database: %+v %v", v, err)
	}
	if body := get(plain, "/api/v1/svc/facility"); strings.Contains(body, "migrated") {
		t.Errorf("the facility answer of a database not migrated: %s", body)
	}
}
