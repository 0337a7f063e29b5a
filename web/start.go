package web

import (
	"net/http"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// What a command of the command line reads through a server before its own
// request — whose session the cookie is (for --user) and the facility (its
// zone for the times shown, its FIN for labels, the note of a migrated
// database) — comes in one request, GET /api/v1/svc/start, which the
// database answers in one read transaction (Config.Start): it was a
// request for the session and one for the facility, each checking the
// session again, with three read transactions of their own for the
// facility.

// Started is what Config.Start read for GET /api/v1/svc/start in one read
// transaction: the session's user and the token to keep ("" when
// unchanged), as Sessions.Check answers, and the facility as FacilityView
// says it. FacilityErr is why the facility's number or migration mark
// could not be read (the answer is then that error, as GET
// /api/v1/svc/facility's); a zone that cannot be read is ZoneErr, and the
// answer carries it.
type Started struct {
	User        audit.User
	Next        string
	FIN         string
	Zone        *time.Location
	ZoneErr     error
	Migrated    string
	FacilityErr error
}

// StartView answers GET /api/v1/svc/start: the session's user, as GET
// /api/v1/svc/session has it, and the facility, as GET
// /api/v1/svc/facility answers it.
type StartView struct {
	User     audit.User
	Facility FacilityView
}

// startRoutes is GET /api/v1/svc/start.
func (s *Server) startRoutes() []svcRoute {
	return []svcRoute{{"GET " + svcPrefix + "/start", "what a command of the command line reads before its own request, in one: the session's user (as /session) and the facility (as /facility)", s.apiStart}}
}

// apiStart answers GET /api/v1/svc/start. The session is checked as for
// any request, and its refusal is the answer; then a user who may not read
// is refused, as /facility refuses them; then the facility. Without
// Config.Start (a server whose database cannot read them together) the
// answer is made of the session check and facilityView's reads.
func (s *Server) apiStart(w http.ResponseWriter, r *http.Request) {
	var st Started
	check := s.cfg.Sessions.Check
	if s.cfg.Start != nil {
		check = func(token string) (audit.User, string, error) {
			var err error
			st, err = s.cfg.Start(token)
			return st.User, st.Next, err
		}
	}
	u, err := s.checkedUser(w, r, check)
	if err == nil {
		err = audit.AuthorizeRead(u)
	}
	var f FacilityView
	if err == nil {
		if s.cfg.Start != nil {
			f, err = s.startedFacility(st)
		} else {
			f, err = s.facilityView()
		}
	}
	if err != nil {
		writeAPIError(w, 0, s.logError(r, err))
		return
	}
	writeJSON(w, http.StatusOK, StartView{audit.Public(u), f})
}

// startedFacility is the facility of st as facilityView says it.
func (s *Server) startedFacility(st Started) (FacilityView, error) {
	if st.FacilityErr != nil {
		return FacilityView{}, st.FacilityErr
	}
	v := FacilityView{FIN: st.FIN, Migrated: st.Migrated}
	if st.ZoneErr != nil {
		v.ZoneError = errorBody(st.ZoneErr)
		return v, nil
	}
	s.followZone(st.Zone)
	v.Zone = st.Zone.String()
	return v, nil
}

// followZone shows this server's pages in loc, the facility's zone just
// read: another server on the same PostgreSQL database may have changed
// it.
func (s *Server) followZone(loc *time.Location) {
	lot.SetDisplayZone(loc)
}

// facilityView is the facility as GET /api/v1/svc/facility answers it,
// each part read on its own.
func (s *Server) facilityView() (FacilityView, error) {
	var v FacilityView
	if s.cfg.Facility == nil || s.cfg.Zone == nil {
		return v, lot.Errorf(lot.EINTERNAL, "this server does not say its facility")
	}
	fin, err := s.cfg.Facility()
	if err != nil {
		return v, err
	}
	note, err := s.migratedNote()
	if err != nil {
		return v, err
	}
	loc, err := s.cfg.Zone()
	if err != nil {
		return FacilityView{FIN: fin, ZoneError: errorBody(err), Migrated: note}, nil
	}
	s.followZone(loc)
	return FacilityView{FIN: fin, Zone: loc.String(), Migrated: note}, nil
}
