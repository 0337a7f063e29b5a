package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
)

// The service endpoints: one per method of the service interfaces, each a
// few lines that decode the request, call the method with the session's
// user as the actor (never a name from the body) and encode the result.
// The remote implementations in remote.go are their clients.

// svcRoute is one service endpoint and what openapi.json says of it.
type svcRoute struct {
	pattern string
	summary string
	handler http.HandlerFunc
}

// readCall is a GET endpoint: the session's user must be one who may read
// (an existing, enabled user), as a local read command checks.
func readCall[Resp any](s *Server, fn func(r *http.Request) (Resp, error)) http.HandlerFunc {
	return readAsCall(s, func(_ audit.User, r *http.Request) (Resp, error) { return fn(r) })
}

// readAsCall is readCall for a read whose answer depends on who reads
// (the audit log: audit.Shown): fn gets the session's user.
func readAsCall[Resp any](s *Server, fn func(u audit.User, r *http.Request) (Resp, error)) http.HandlerFunc {
	return s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
		if err := audit.AuthorizeRead(u); err != nil {
			return err
		}
		v, err := fn(u, r)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	})
}

// writeCall is a POST endpoint: the body is decoded strictly into Req, and
// fn gets the session's user to act as.
func writeCall[Req, Resp any](s *Server, fn func(u audit.User, r *http.Request, req Req) (Resp, error)) http.HandlerFunc {
	return authorizedWriteCall(s, "", fn)
}

// authorizedWriteCall is writeCall for a call whose body may be large (a
// lot import, up to MaxImportBytes): the session's user must be allowed
// action before a byte of the body is read, so a role that may not gets
// its 403 at once and costs the server nothing.
func authorizedWriteCall[Req, Resp any](s *Server, action audit.Action, fn func(u audit.User, r *http.Request, req Req) (Resp, error)) http.HandlerFunc {
	return s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
		if action != "" {
			if err := audit.Authorize(u, action); err != nil {
				return err
			}
		}
		var req Req
		if err := decode(r, &req); err != nil {
			return s.bodyError(w, err)
		}
		v, err := fn(u, r, req)
		if lot.ErrorCode(err) == lot.ENOGO {
			// A NO-GO carries what was checked: the error object and
			// the result beside it.
			err = s.logError(r, err)
			writeJSON(w, statusOf(w, err), ErrorWithResult[Resp]{errorBody(err), v})
			return nil
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	})
}

// ErrorWithResult is an error object that carries the call's result: the
// report of a NO-GO.
type ErrorWithResult[T any] struct {
	Error  APIErrorBody `json:"error"`
	Result T            `json:"result"`
}

// refOf is the reference in the path wildcard name, as the client typed it.
func refOf(r *http.Request, name string) string {
	v := r.PathValue(name)
	if v == "\x00empty" {
		return ""
	}
	return v
}

// FacilityView answers GET /api/v1/svc/facility: the facility's FIN and
// its IANA time zone, or why the zone cannot be read (the command line
// then shows times in UTC with a warning, as locally).
type FacilityView struct {
	FIN       string       `json:"fin"`
	Zone      string       `json:"zone,omitempty"`
	ZoneError APIErrorBody `json:"zone_error,omitzero"`
	// Migrated is the one line a read of a database that `celltrack
	// migrate` moved to the other engine prints ("" when it was not): the
	// command line prints it through a server as it does locally.
	Migrated string `json:"migrated,omitempty"`
}

func (s *Server) svcRoutes() []svcRoute {
	p := svcPrefix
	L := func() lot.Service { return s.cfg.Lots }
	C := func() lot.CustodyService { return s.cfg.Custody }
	LB := func() lot.LabelService { return s.cfg.Labels }
	// move makes the move to: of the body, the values keep takes (as the
	// method of the move reads them) and Seen.
	move := func(to lot.ContainerState, keep func(m lot.Move) lot.Move) http.HandlerFunc {
		return writeCall(s, func(u audit.User, r *http.Request, m lot.Move) (lot.Container, error) {
			k := keep(m)
			k.To, k.Seen = to, m.Seen
			return C().Move(u.Name, refOf(r, "ref"), k)
		})
	}
	all := func(m lot.Move) lot.Move { return m }
	reason := func(m lot.Move) lot.Move { return lot.Move{Reason: m.Reason} }
	return []svcRoute{
		{"POST " + p + "/containers/{ref}/store", "lot.CustodyService Store: put a container into storage (lab); body: Move with Location; Seen, optional, refuses it once the container has changed (audit.SeenField)",
			move(lot.Stored, func(m lot.Move) lot.Move { return lot.Move{Location: m.Location} })},
		{"POST " + p + "/containers/{ref}/ship", "lot.CustodyService Ship: ship a container to a site (lab); Seen, optional, refuses it once the container has changed (audit.SeenField)", move(lot.Shipped, all)},
		{"POST " + p + "/containers/{ref}/receive", "lot.CustodyService Receive: receive a shipped container; Seen, optional, refuses it once the container has changed (audit.SeenField)", move(lot.Received, all)},
		{"POST " + p + "/containers/{ref}/thaw", "lot.CustodyService Thaw: record a thaw and the post-thaw numbers; body: Move with Thaw; Seen, optional, refuses it once the container has changed (audit.SeenField)",
			move(lot.Thawed, func(m lot.Move) lot.Move { return lot.Move{Thaw: m.Thaw} })},
		{"POST " + p + "/containers/{ref}/dispense", "lot.CustodyService Dispense: hand a container over for a patient; body: Move with Patient; Seen, optional, refuses it once the container has changed (audit.SeenField)",
			move(lot.Dispensed, func(m lot.Move) lot.Move { return lot.Move{Patient: m.Patient} })},
		{"POST " + p + "/containers/{ref}/discard", "lot.CustodyService Discard: take a container out of use; body: Move with Reason; Seen, optional, refuses it once the container has changed (audit.SeenField)", move(lot.Discarded, reason)},
		{"POST " + p + "/containers/{ref}/return", "lot.CustodyService Return: bring a dispensed container back; body: Move with Reason; Seen, optional, refuses it once the container has changed (audit.SeenField)", move(lot.Returned, reason)},
		{"POST " + p + "/containers/{ref}/quarantine", "lot.CustodyService Quarantine: hold a container; body: Move with Reason; Seen, optional, refuses it once the container has changed (audit.SeenField)", move(lot.Quarantined, reason)},
		{"GET " + p + "/containers/{ref}/history", "lot.CustodyService History: a container and its custody events",
			readCall(s, func(r *http.Request) (ContainerHistory, error) {
				c, es, err := C().History(refOf(r, "ref"))
				return ContainerHistory{c, es}, err
			})},
		{"POST " + p + "/sites", "lot.CustodyService AddSite: register a site (lab)",
			writeCall(s, func(u audit.User, r *http.Request, st lot.Site) (lot.Site, error) { return C().AddSite(u.Name, st) })},
		{"GET " + p + "/sites", "lot.CustodyService Sites: every site",
			readCall(s, func(r *http.Request) ([]lot.Site, error) { return C().Sites() })},
		{"POST " + p + "/sites/{code}/zone", "lot.CustodyService SetSiteZone: change a site's time zone with a reason (admin)",
			writeCall(s, func(u audit.User, r *http.Request, q ZoneRequest) (lot.ZoneChange, error) {
				return C().SetSiteZone(u.Name, refOf(r, "code"), q.Zone, q.Reason)
			})},
		{"POST " + p + "/facility/zone", "lot.CustodyService SetFacilityZone: change the facility's time zone with a reason (admin)",
			writeCall(s, func(u audit.User, r *http.Request, q ZoneRequest) (lot.ZoneChange, error) {
				ch, err := C().SetFacilityZone(u.Name, q.Zone, q.Reason)
				if err == nil && s.cfg.Zone != nil {
					// This server's pages show times in the new zone
					// from now on, not in the one it read at start.
					if loc, zerr := s.cfg.Zone(); zerr == nil {
						lot.SetDisplayZone(loc)
					}
				}
				return ch, err
			})},
		{"POST " + p + "/labels/{ref}/set", "lot.LabelService Print, dry: the label set a print would count now (lab); nothing is counted; Seen, optional, refuses it once the labels have changed (audit.SeenField)",
			writeCall(s, func(u audit.User, r *http.Request, q SeenRequest) (lot.LabelSet, error) {
				var got lot.LabelSet
				_, err := LB().Print(u.Name, refOf(r, "ref"), q.Seen, func(set lot.LabelSet) error { got = set; return errDryRun })
				if err == errDryRun {
					err = nil
				}
				return got, err
			})},
		{"POST " + p + "/labels/{ref}/print", "lot.LabelService Print: count the labels the client rendered (lab); body: the containers' ids, refused if the set changed since, and Seen, optional, which refuses it once the labels have changed (audit.SeenField)",
			writeCall(s, func(u audit.User, r *http.Request, q PrintRequest) (lot.LabelSet, error) {
				return LB().Print(u.Name, refOf(r, "ref"), q.Seen, func(set lot.LabelSet) error { return q.matches(set) })
			})},
		{"POST " + p + "/labels/{ref}/apply", "lot.LabelService Apply: a printed label was put on its container (lab); Seen, optional, refuses it once the container's labels have changed (audit.SeenField)",
			writeCall(s, func(u audit.User, r *http.Request, q SeenRequest) (lot.LabelCount, error) {
				return LB().Apply(u.Name, refOf(r, "ref"), q.Seen)
			})},
		{"POST " + p + "/labels/{ref}/void", "lot.LabelService Void: an unused printed label was destroyed (lab); body: Reason, and Seen, optional, which refuses it once the container's labels have changed (audit.SeenField)",
			writeCall(s, func(u audit.User, r *http.Request, q SeenReasonRequest) (lot.LabelCount, error) {
				return LB().Void(u.Name, refOf(r, "ref"), q.Reason, q.Seen)
			})},
		{"GET " + p + "/lots/{ref}/labels", "lot.LabelService Reconcile: a lot's label counts",
			readCall(s, func(r *http.Request) (Reconciliation, error) {
				l, cs, ns, err := LB().Reconcile(refOf(r, "ref"))
				return Reconciliation{l, cs, ns}, err
			})},

		{"GET " + p + "/facility", "the facility: its FIN (for labels), time zone (in which times are shown) and, on a database migrated to the other engine, the note its reads print",
			readCall(s, func(r *http.Request) (FacilityView, error) { return s.facilityView() })},
		{"POST " + p + "/donors", "lot.Service AddDonor: register a donor (lab)",
			writeCall(s, func(u audit.User, r *http.Request, d lot.Donor) (lot.Donor, error) { return L().AddDonor(u.Name, d) })},
		{"GET " + p + "/donors", "lot.Service Donors: every donor",
			readCall(s, func(r *http.Request) ([]lot.Donor, error) { return L().Donors() })},
		{"GET " + p + "/donors/{ref}", "lot.Service Donor: one donor by code or id",
			readCall(s, func(r *http.Request) (lot.Donor, error) { return L().Donor(refOf(r, "ref")) })},
		{"POST " + p + "/donors/{ref}/corrections", "lot.Service CorrectDonor: correct a donor's record with a reason (lab)",
			writeCall(s, func(u audit.User, r *http.Request, q CorrectDonorRequest) (DonorCorrected, error) {
				d, c, err := L().CorrectDonor(u.Name, refOf(r, "ref"), q.Fix, q.Reason)
				return DonorCorrected{d, c}, err
			})},
		{"POST " + p + "/patients", "lot.Service AddPatient: register a patient",
			writeCall(s, func(u audit.User, r *http.Request, pt lot.Patient) (lot.Patient, error) {
				return L().AddPatient(u.Name, pt)
			})},
		{"GET " + p + "/patients", "lot.Service Patients: every patient",
			readCall(s, func(r *http.Request) ([]lot.Patient, error) { return L().Patients() })},
		{"GET " + p + "/patients/{ref}", "lot.Service Patient: one patient by MRN or id",
			readCall(s, func(r *http.Request) (lot.Patient, error) { return L().Patient(refOf(r, "ref")) })},
		{"POST " + p + "/patients/{ref}/corrections", "lot.Service CorrectPatient: correct a patient's record with a reason",
			writeCall(s, func(u audit.User, r *http.Request, q CorrectPatientRequest) (PatientCorrected, error) {
				pt, c, err := L().CorrectPatient(u.Name, refOf(r, "ref"), q.Fix, q.Reason)
				return PatientCorrected{pt, c}, err
			})},
		{"POST " + p + "/patients/{ref}/weights", "lot.Service Weigh: record a body weight, Kg in kilograms as a decimal string (\"62.0\"), as `patient weigh --kg` takes it",
			writeCall(s, func(u audit.User, r *http.Request, q WeighRequest) (lot.Weight, error) {
				g, err := lot.ParseWeightKg("Kg", q.Kg)
				if err != nil {
					return lot.Weight{}, lot.OnField("Kg", err)
				}
				return L().Weigh(u.Name, refOf(r, "ref"), g, q.At)
			})},
		{"GET " + p + "/patients/{ref}/weights", "lot.Service Weights: a patient's weights",
			readCall(s, func(r *http.Request) ([]lot.Weight, error) { return L().Weights(refOf(r, "ref")) })},
		{"POST " + p + "/lots", "lot.Service RegisterLot: register a lot (lab)",
			writeCall(s, func(u audit.User, r *http.Request, reg lot.Registration) (lot.Lot, error) {
				return L().RegisterLot(u.Name, reg)
			})},
		{"GET " + p + "/lots", "lot.Service Lots: lots, ?status= and ?source= narrow, ?last=N keeps the N newest",
			readCall(s, func(r *http.Request) ([]lot.Lot, error) {
				q := r.URL.Query()
				last, err := intParam("last", q.Get("last"), 1)
				if err != nil {
					return nil, err
				}
				return L().Lots(lot.LotFilter{Status: lot.Status(q.Get("status")), Source: lot.Source(q.Get("source")), Last: last})
			})},
		{"POST " + p + "/lots/import", "lot.Service Import: register many lots, all or nothing (lab)",
			authorizedWriteCall(s, audit.LotImport, func(u audit.User, r *http.Request, rows []lot.ImportRow) ([]lot.Lot, error) {
				return L().Import(u.Name, rows)
			})},
		{"GET " + p + "/lots/{ref}", "lot.Service Lot: one lot by DIN, number or id",
			readCall(s, func(r *http.Request) (lot.Lot, error) { return L().Lot(refOf(r, "ref")) })},
		{"POST " + p + "/lots/{ref}/containers", "lot.Service SplitLot: split a lot into containers (lab); Seen, optional, refuses it once the lot has changed (audit.SeenField)",
			writeCall(s, func(u audit.User, r *http.Request, sp lot.Split) ([]lot.Container, error) {
				sp.Lot = refOf(r, "ref")
				return L().SplitLot(u.Name, sp)
			})},
		{"GET " + p + "/lots/{ref}/containers", "lot.Service Containers: a lot's containers",
			readCall(s, func(r *http.Request) ([]lot.Container, error) { return L().Containers(refOf(r, "ref")) })},
		{"GET " + p + "/containers/{ref}", "lot.Service Container: one container by code or id",
			readCall(s, func(r *http.Request) (lot.Container, error) { return L().Container(refOf(r, "ref")) })},
	}
}

// reportRoutes render the reports across records on the server, as the
// trace endpoint does: the answer is the rendered report with its summary in
// ReportHeader, which the command line writes where --out says.
func (s *Server) reportRoutes() []svcRoute {
	p := svcPrefix
	render := func(build func(u audit.User, r *http.Request) (report.Report, error)) http.HandlerFunc {
		return s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
			if err := audit.AuthorizeRead(u); err != nil {
				return err
			}
			f, err := report.ParseFormat(r.URL.Query().Get("format"))
			if err != nil {
				return err
			}
			rep, err := build(u, r)
			if err != nil {
				return err
			}
			answerFrom(w)
			return s.sendReport(w, rep, f, false)
		})
	}
	instant := func(r *http.Request, name string) (time.Time, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return t, lot.Errorf(lot.EUSAGE, "%s %q is not an RFC 3339 time", name, v)
		}
		return t, nil
	}
	return []svcRoute{
		{"GET " + p + "/reports/access", "report access: the user-access review, rendered in ?format=",
			render(func(u audit.User, r *http.Request) (report.Report, error) {
				return s.cfg.Reports.Access(r.Context(), u.Name)
			})},
		{"GET " + p + "/reports/handling", "report handling: the handling report, rendered in ?format=; ?protocol=, ?from= and ?to= (RFC 3339, to excluded) narrow it",
			render(func(u audit.User, r *http.Request) (report.Report, error) {
				from, err := instant(r, "from")
				if err != nil {
					return report.Report{}, err
				}
				to, err := instant(r, "to")
				if err != nil {
					return report.Report{}, err
				}
				return s.cfg.Reports.Handling(r.Context(), u.Name, r.URL.Query().Get("protocol"), from, to)
			})},
	}
}

// SessionView answers GET /api/v1/svc/session: the session's user and its
// times, for `celltrack whoami`.
type SessionView struct {
	User    audit.User
	Session audit.Session
}

func (s *Server) sessionRoutes() []svcRoute {
	p := svcPrefix
	return []svcRoute{
		{"GET " + p + "/session", "the session of the request's cookie: its user, start, expiry and last activity (`celltrack whoami`)",
			s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
				c, err := r.Cookie(s.cookieName())
				if err != nil {
					return lot.Errorf(lot.ESESSION, "not logged in; log in first")
				}
				su, ss, err := s.cfg.Sessions.Info(c.Value)
				if err != nil {
					return err
				}
				writeJSON(w, http.StatusOK, SessionView{audit.Public(su), ss})
				return nil
			})},
	}
}

// intParam reads v, the request's value of field (a query parameter or a
// path wildcard), as a whole number: "" is 0 (a parameter left out). With
// a lower bound (least, one at most) a number below it is refused as one
// that is not a number is: EUSAGE naming the field and the value.
func intParam(field, v string, least ...int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil && len(least) == 0:
		return 0, lot.FieldErrorf(field, lot.EUSAGE, "%s %q is not a whole number", field, v)
	case err != nil || len(least) > 0 && n < least[0]:
		return 0, lot.FieldErrorf(field, lot.EUSAGE, "%s %q is not a whole number of %d or more", field, v, least[0])
	}
	return n, nil
}
