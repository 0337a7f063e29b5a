package web

import (
	"net/http"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// The registration page: a donor (the lab, as `donor add`) and a patient
// (admin, physician, nurse, as `patient add`), each form only for the
// roles that may.

// DonorRequest is the body of POST /api/v1/donors, as `donor add`: the
// donor code, the delivery and consent dates (YYYY-MM-DD) and the site.
type DonorRequest struct {
	Code      string `json:"code"`
	Delivered string `json:"delivered"`
	Site      string `json:"site"`
	Consented string `json:"consented"`
}

// PatientRequest is the body of POST /api/v1/patients, as `patient add`.
type PatientRequest struct {
	MRN  string `json:"mrn"`
	Name string `json:"name"`
	Born string `json:"born"`
	Sex  string `json:"sex"`
}

type registerData struct {
	CanDonor, CanPatient bool
	Donor                DonorRequest
	Patient              PatientRequest
	Sexes                []option
	Done                 string
	DoneURL, DoneLink    string
}

var sexes = []option{{"", "— choose —"}, {"F", "F — female"}, {"M", "M — male"}, {"X", "X — other or not stated"}}

func (s *Server) registerData(u audit.User) registerData {
	return registerData{CanDonor: audit.Allowed(u.Role, audit.DonorAdd), CanPatient: audit.Allowed(u.Role, audit.PatientAdd), Sexes: sexes}
}

func (s *Server) renderRegister(w http.ResponseWriter, u audit.User, status int, refusal error, d registerData) {
	p := pageData{Title: "Register", User: u, Nav: "register", Data: d}
	if refusal != nil {
		p.Error = lot.ErrorMessage(refusal) + " — nothing was recorded"
	}
	s.render(w, status, "register", p)
}

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	s.renderRegister(w, u, http.StatusOK, nil, s.registerData(u))
}

func (s *Server) registerDonor(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	req := DonorRequest{Code: f.Get("code"), Delivered: f.Get("delivered"), Site: f.Get("site"), Consented: f.Get("consented")}
	d := s.registerData(u)
	err := formFor(f, u, audit.DonorAdd)
	var dn lot.Donor
	if err == nil {
		dn, err = s.addDonor(u, req)
	}
	if err != nil {
		err = s.logError(r, err)
		d.Donor = req
		s.renderRegister(w, u, statusOf(w, err), err, d)
		return
	}
	d.Done = "Registered donor " + dn.Code + " (delivered " + lot.FormatDate(dn.Delivered) + " at " + dn.Site + ", consent " + lot.FormatDate(dn.Consented) + ")"
	d.DoneURL, d.DoneLink = "/trace?kind=donor&ref="+dn.Code, "Look-back trace of donor "+dn.Code
	s.renderRegister(w, u, http.StatusOK, nil, d)
}

func (s *Server) registerPatient(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	req := PatientRequest{MRN: f.Get("mrn"), Name: f.Get("name"), Born: f.Get("born"), Sex: f.Get("sex")}
	d := s.registerData(u)
	err := formFor(f, u, audit.PatientAdd)
	var p lot.Patient
	if err == nil {
		p, err = s.addPatient(u, req)
	}
	if err != nil {
		err = s.logError(r, err)
		d.Patient = req
		s.renderRegister(w, u, statusOf(w, err), err, d)
		return
	}
	d.Done = "Registered patient " + p.MRN + " (" + p.Name + ", born " + lot.FormatDate(p.Born) + ", sex " + string(p.Sex) + ")"
	d.DoneURL, d.DoneLink = "/trace?kind=patient&ref="+p.MRN, "Trace of patient "+p.MRN
	s.renderRegister(w, u, http.StatusOK, nil, d)
}

// addDonor is `donor add` for u: a role that may not is refused first.
func (s *Server) addDonor(u audit.User, req DonorRequest) (lot.Donor, error) {
	if err := audit.Authorize(u, audit.DonorAdd); err != nil {
		return lot.Donor{}, err
	}
	d := lot.Donor{Code: trim(req.Code), Site: req.Site}
	var err error
	if d.Delivered, err = lot.ParseDate("delivered", trim(req.Delivered)); err != nil {
		return d, lot.OnField("delivered", err)
	}
	if d.Consented, err = lot.ParseDate("consented", trim(req.Consented)); err != nil {
		return d, lot.OnField("consented", err)
	}
	return s.cfg.Lots.AddDonor(u.Name, d)
}

// addPatient is `patient add` for u: a role that may not is refused first.
func (s *Server) addPatient(u audit.User, req PatientRequest) (lot.Patient, error) {
	if err := audit.Authorize(u, audit.PatientAdd); err != nil {
		return lot.Patient{}, err
	}
	p := lot.Patient{MRN: trim(req.MRN), Name: req.Name}
	var err error
	if p.Born, err = lot.ParseDate("born", trim(req.Born)); err != nil {
		return p, lot.OnField("born", err)
	}
	if p.Sex, err = lot.ParseSex(trim(req.Sex)); err != nil {
		return p, lot.OnField("sex", err)
	}
	return s.cfg.Lots.AddPatient(u.Name, p)
}

// apiAddDonor is `donor add --json`: 201 with the donor.
func (s *Server) apiAddDonor(w http.ResponseWriter, r *http.Request, u audit.User) error {
	// A role that may not is refused before the body is read.
	if err := audit.Authorize(u, audit.DonorAdd); err != nil {
		return err
	}
	var req DonorRequest
	if err := decode(r, &req); err != nil {
		return s.bodyError(w, err)
	}
	d, err := s.addDonor(u, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, lot.ViewDonor(d))
	return nil
}

// apiAddPatient is `patient add --json`: 201 with the patient.
func (s *Server) apiAddPatient(w http.ResponseWriter, r *http.Request, u audit.User) error {
	// A role that may not is refused before the body is read.
	if err := audit.Authorize(u, audit.PatientAdd); err != nil {
		return err
	}
	var req PatientRequest
	if err := decode(r, &req); err != nil {
		return s.bodyError(w, err)
	}
	p, err := s.addPatient(u, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, lot.ViewPatient(p, nil))
	return nil
}
