package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// The remote side of the service interfaces: the command line in server
// mode (--server URL) gets, from its accessors, implementations of
// lot.Service, release.Service, … whose every method is one call of the
// API's service endpoints (svcRoutes). The command's own code is the same
// in both modes; the server calls the very same interface method with the
// session's user as the actor. Domain values travel as their plain JSON
// encoding, which round-trips exactly (remote_test.go).

// Caller sends one request of the API and returns the answer's body for a
// 2xx status, or the error object as an *APIFailure. The command line's
// server client implements it on Client.Call, keeping its session file.
type Caller interface {
	Call(method, path string, body any) ([]byte, map[string][]string, error)
}

// svcPrefix is where the service endpoints live. They answer domain
// values (lot.Lot, lot.Container, …) for a client that renders them itself,
// beside the older view endpoints under /api/v1/ that answer what
// `--json` prints.
const svcPrefix = "/api/v1/svc"

// remoteCall sends one request and decodes the answer into T.
func remoteCall[T any](c Caller, method, path string, body any) (T, error) {
	var v T
	data, _, err := c.Call(method, svcPrefix+path, body)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, lot.Errorf(lot.EINTERNAL, "the server answered %s %s with something else than this version of celltrack expects (%v); check that client and server are the same version", method, svcPrefix+path, err)
	}
	return v, nil
}

func remoteGet[T any](c Caller, path string) (T, error) {
	return remoteCall[T](c, http.MethodGet, path, nil)
}

func remotePost[T any](c Caller, path string, body any) (T, error) {
	return remoteCall[T](c, http.MethodPost, path, body)
}

// seg is one path segment holding a reference as typed: escaped, so a
// slash or a question mark in it stays part of the value. An empty
// reference is sent as emptyRef: a path cannot hold an empty segment, and
// the service must see the empty value to refuse it as it does locally.
func seg(ref string) string {
	if ref == "" {
		return emptyRef
	}
	return url.PathEscape(ref)
}

// emptyRef stands for an empty reference in a path; refOf reads it back.
const emptyRef = "%00empty"

// RemoteLots is lot.Service over the API.
type RemoteLots struct{ c Caller }

var _ lot.Service = RemoteLots{}

// NewRemoteLots returns lot.Service on the server that c calls.
func NewRemoteLots(c Caller) RemoteLots { return RemoteLots{c} }

// CorrectDonorRequest is the body of POST /api/v1/svc/donors/{ref}/corrections.
type CorrectDonorRequest struct {
	Fix    lot.DonorFix
	Reason string
}

// DonorCorrected answers a donor's correction.
type DonorCorrected struct {
	Donor      lot.Donor
	Correction lot.Correction
}

// CorrectPatientRequest is the body of POST /api/v1/svc/patients/{ref}/corrections.
type CorrectPatientRequest struct {
	Fix    lot.PatientFix
	Reason string
}

// PatientCorrected answers a patient's correction.
type PatientCorrected struct {
	Patient    lot.Patient
	Correction lot.Correction
}

// WeighRequest is the body of POST /api/v1/svc/patients/{ref}/weights.
type WeighRequest struct {
	Grams lot.Grams
	At    time.Time
}

func (r RemoteLots) AddDonor(_ string, d lot.Donor) (lot.Donor, error) {
	return remotePost[lot.Donor](r.c, "/donors", d)
}

func (r RemoteLots) Donor(ref string) (lot.Donor, error) {
	return remoteGet[lot.Donor](r.c, "/donors/"+seg(ref))
}

func (r RemoteLots) Donors() ([]lot.Donor, error) { return remoteGet[[]lot.Donor](r.c, "/donors") }

func (r RemoteLots) CorrectDonor(_, ref string, fix lot.DonorFix, reason string) (lot.Donor, lot.Correction, error) {
	v, err := remotePost[DonorCorrected](r.c, "/donors/"+seg(ref)+"/corrections", CorrectDonorRequest{fix, reason})
	return v.Donor, v.Correction, err
}

func (r RemoteLots) AddPatient(_ string, p lot.Patient) (lot.Patient, error) {
	return remotePost[lot.Patient](r.c, "/patients", p)
}

func (r RemoteLots) Patient(ref string) (lot.Patient, error) {
	return remoteGet[lot.Patient](r.c, "/patients/"+seg(ref))
}

func (r RemoteLots) Patients() ([]lot.Patient, error) {
	return remoteGet[[]lot.Patient](r.c, "/patients")
}

func (r RemoteLots) CorrectPatient(_, mrn string, fix lot.PatientFix, reason string) (lot.Patient, lot.Correction, error) {
	v, err := remotePost[PatientCorrected](r.c, "/patients/"+seg(mrn)+"/corrections", CorrectPatientRequest{fix, reason})
	return v.Patient, v.Correction, err
}

func (r RemoteLots) Weigh(_ string, mrn string, g lot.Grams, at time.Time) (lot.Weight, error) {
	return remotePost[lot.Weight](r.c, "/patients/"+seg(mrn)+"/weights", WeighRequest{g, at})
}

func (r RemoteLots) Weights(mrn string) ([]lot.Weight, error) {
	return remoteGet[[]lot.Weight](r.c, "/patients/"+seg(mrn)+"/weights")
}

func (r RemoteLots) RegisterLot(_ string, reg lot.Registration) (lot.Lot, error) {
	return remotePost[lot.Lot](r.c, "/lots", reg)
}

func (r RemoteLots) Lot(ref string) (lot.Lot, error) {
	return remoteGet[lot.Lot](r.c, "/lots/"+seg(ref))
}

func (r RemoteLots) Lots(f lot.LotFilter) ([]lot.Lot, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Source != "" {
		q.Set("source", string(f.Source))
	}
	path := "/lots"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return remoteGet[[]lot.Lot](r.c, path)
}

func (r RemoteLots) Import(_ string, rows []lot.ImportRow) ([]lot.Lot, error) {
	return remotePost[[]lot.Lot](r.c, "/lots/import", rows)
}

func (r RemoteLots) SplitLot(_ string, s lot.Split) ([]lot.Container, error) {
	return remotePost[[]lot.Container](r.c, "/lots/"+seg(s.Lot)+"/containers", s)
}

func (r RemoteLots) Container(ref string) (lot.Container, error) {
	return remoteGet[lot.Container](r.c, "/containers/"+seg(ref))
}

func (r RemoteLots) Containers(lotRef string) ([]lot.Container, error) {
	return remoteGet[[]lot.Container](r.c, "/lots/"+seg(lotRef)+"/containers")
}

// RemoteZone is the facility's time zone on the server that c calls.
func RemoteZone(c Caller) (*time.Location, error) {
	v, err := remoteGet[ZoneView](c, "/zone")
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(v.Zone)
	if err != nil {
		return nil, lot.Errorf(lot.EINVALID, "the facility's time zone %q (from the server) is not known on this machine: %v", v.Zone, err)
	}
	return loc, nil
}
