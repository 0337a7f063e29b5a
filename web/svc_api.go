package web

import (
	"net/http"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// The service endpoints: one per method of the service interfaces, each a
// few lines that decode the request, call the method with the session's
// user as the actor (never a name from the body) and encode the result.
// The remote implementations in remote.go are their clients.

// none is the request of a call without a body (a GET).
type none struct{}

// svcRoute is one service endpoint and what openapi.json says of it.
type svcRoute struct {
	pattern string
	summary string
	handler http.HandlerFunc
}

// readCall is a GET endpoint: the session's user must be one who may read
// (an existing, enabled user), as a local read command checks.
func readCall[Resp any](s *Server, fn func(r *http.Request) (Resp, error)) http.HandlerFunc {
	return s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
		if err := audit.AuthorizeRead(u); err != nil {
			return err
		}
		v, err := fn(r)
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
	return s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
		var req Req
		if err := decode(r, &req); err != nil {
			return s.bodyError(w, err)
		}
		v, err := fn(u, r, req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	})
}

// refOf is the reference in the path wildcard name, as the client typed it.
func refOf(r *http.Request, name string) string {
	v := r.PathValue(name)
	if v == "\x00empty" {
		return ""
	}
	return v
}

// ZoneView answers GET /api/v1/svc/zone: an IANA zone name.
type ZoneView struct {
	Zone string `json:"zone"`
}

func (s *Server) svcRoutes() []svcRoute {
	p := svcPrefix
	L := func() lot.Service { return s.cfg.Lots }
	return []svcRoute{
		{"GET " + p + "/zone", "the facility's time zone, in which times are shown",
			readCall(s, func(r *http.Request) (ZoneView, error) {
				if s.cfg.Zone == nil {
					return ZoneView{Zone: "UTC"}, nil
				}
				loc, err := s.cfg.Zone()
				return ZoneView{Zone: loc.String()}, err
			})},
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
		{"POST " + p + "/patients/{ref}/weights", "lot.Service Weigh: record a body weight",
			writeCall(s, func(u audit.User, r *http.Request, q WeighRequest) (lot.Weight, error) {
				return L().Weigh(u.Name, refOf(r, "ref"), q.Grams, q.At)
			})},
		{"GET " + p + "/patients/{ref}/weights", "lot.Service Weights: a patient's weights",
			readCall(s, func(r *http.Request) ([]lot.Weight, error) { return L().Weights(refOf(r, "ref")) })},
		{"POST " + p + "/lots", "lot.Service RegisterLot: register a lot (lab)",
			writeCall(s, func(u audit.User, r *http.Request, reg lot.Registration) (lot.Lot, error) {
				return L().RegisterLot(u.Name, reg)
			})},
		{"GET " + p + "/lots", "lot.Service Lots: lots, ?status= and ?source= narrow",
			readCall(s, func(r *http.Request) ([]lot.Lot, error) {
				q := r.URL.Query()
				return L().Lots(lot.LotFilter{Status: lot.Status(q.Get("status")), Source: lot.Source(q.Get("source"))})
			})},
		{"POST " + p + "/lots/import", "lot.Service Import: register many lots, all or nothing (lab)",
			writeCall(s, func(u audit.User, r *http.Request, rows []lot.ImportRow) ([]lot.Lot, error) {
				return L().Import(u.Name, rows)
			})},
		{"GET " + p + "/lots/{ref}", "lot.Service Lot: one lot by DIN, number or id",
			readCall(s, func(r *http.Request) (lot.Lot, error) { return L().Lot(refOf(r, "ref")) })},
		{"POST " + p + "/lots/{ref}/containers", "lot.Service SplitLot: split a lot into containers (lab)",
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
