package web

import (
	"cmp"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// RemoteDoses is dose.Service over the API. A method signed by the acting
// user (ChangeSchedule, ConfirmWeight, Administer) sends the password the
// signer gave RemoteUsers.Authenticate in this command; the server signs as
// the session's user, never as a name in the body, and checks the password
// again before it signs.
type RemoteDoses struct {
	c    Caller
	sigs *Signatures
}

var _ dose.Service = RemoteDoses{}

// NewRemoteDoses returns dose.Service on the server that c calls; sigs are
// the command's signatures (NewRemoteUsers).
func NewRemoteDoses(c Caller, sigs *Signatures) RemoteDoses { return RemoteDoses{c, sigs} }

// Zone is a time zone as the service endpoints send it: its IANA name
// (a *time.Location has no JSON of its own).
type Zone string

func zoneOf(loc *time.Location) Zone {
	if loc == nil {
		return ""
	}
	return Zone(loc.String())
}

// loc is the zone again; "" is nil, and a name this machine does not know
// is refused rather than shown as UTC.
func (z Zone) loc() (*time.Location, error) {
	if z == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(string(z))
	if err != nil {
		return nil, lot.Errorf(lot.EINVALID, "the time zone %q (from the server) is not known on this machine: %v", z, err)
	}
	return loc, nil
}

// WireCourse is a course with its zone's name.
type WireCourse struct {
	dose.Course
	ZoneName Zone
}

func wireCourse(c dose.Course) WireCourse { return WireCourse{c, zoneOf(c.Zone)} }

func (w WireCourse) course() (dose.Course, error) {
	c := w.Course
	var err error
	c.Zone, err = w.ZoneName.loc()
	return c, err
}

// WireReport is a bedside check's report with its zone's name.
type WireReport struct {
	dose.Report
	ZoneName Zone
}

func wireReport(r dose.Report) WireReport { return WireReport{r, zoneOf(r.Zone)} }

func (w WireReport) report() (dose.Report, error) {
	r := w.Report
	var err error
	r.Zone, err = w.ZoneName.loc()
	return r, err
}

// WireCalc is a dose's working with its course's zone.
type WireCalc struct {
	dose.CalcResult
	ZoneName Zone
}

// Courses answers GET /api/v1/svc/patients/{ref}/courses.
type Courses struct {
	Patient lot.Patient
	Courses []WireCourse
}

// Infusions answers GET /api/v1/svc/patients/{ref}/infusions.
type Infusions struct {
	Infusions []dose.Infusion
	Reactions map[uuid.UUID][]dose.Reaction
}

// ScheduleRequest is the body of POST /api/v1/svc/patients/{ref}/courses.
type ScheduleRequest struct {
	Protocol string
	Start    time.Time
	Site     string
}

// ScheduleChangeRequest is the body of POST
// /api/v1/svc/patients/{ref}/courses/active/infusions/{n}/date, signed by
// the acting physician.
type ScheduleChangeRequest struct {
	Date     time.Time
	Reason   string
	Password string
}

// ConfirmWeightRequest is the body of POST
// /api/v1/svc/patients/{ref}/weights/latest/confirmation. It names the
// weight the physician was shown (dose.WeightShown): WeightID, the weight
// record's id (GET …/weights, or the check's report's Weight.ID), and/or
// Kg, its value in kg as a decimal string ("72.0", as `dose confirm-weight
// --kg` takes it). At least one is required; the confirmation is refused
// (409, nothing written) when the patient's latest weight is not the one
// named, or when no bedside check needs it confirmed
// (dose.CheckWeightConfirmation). POST …/confirmation-check takes the same
// body without the password and runs those checks alone.
type ConfirmWeightRequest struct {
	WeightID uuid.UUID
	Kg       string
	Reason   string
	Password string
}

// weightShown reads the weight a confirmation names, before any password
// is read: a body that names none, or a Kg that is no weight, costs the
// physician no failed attempt.
func (q ConfirmWeightRequest) weightShown() (dose.WeightShown, error) {
	shown := dose.WeightShown{ID: q.WeightID}
	if q.Kg != "" {
		g, err := dose.ParseKgShown("Kg", q.Kg)
		if err != nil {
			return shown, lot.OnField("Kg", err)
		}
		shown.Grams = g
	}
	if shown == (dose.WeightShown{}) {
		return shown, lot.FieldErrorf("WeightID", lot.EUSAGE, "the confirmation names no weight: give WeightID, the id of the weight record you were shown (GET …/weights lists them), or Kg, its value in kg as shown (\"72.0\") — nothing was done")
	}
	return shown, nil
}

// volumeGiven refuses a negative volume in a body: 0 means the computed
// volume, so a negative one must not quietly become it (the command line
// refuses --volume-ml 0 or less before it sends anything).
func volumeGiven(field string, v lot.Tenths) error {
	if v < 0 {
		return lot.Errorf(lot.EUSAGE, "%s is %d tenths of a mL (%s mL); it must be more than 0, or 0 (or left out) for the computed volume — nothing was done", field, int64(v), v)
	}
	return nil
}

// CheckRequestBody is the body of POST /api/v1/svc/checks: Check, or
// with a Start or a Shown dose, CheckAdministration.
type CheckRequestBody struct {
	MRN        string
	Containers []string
	Volume     lot.Tenths
	Start      time.Time  `json:",omitzero"`
	Shown      dose.Shown `json:",omitzero"`
}

// AdministerBody is the body of POST /api/v1/svc/infusions: the acting
// user signs as the nurse with NursePassword, Witness with hers.
type AdministerBody struct {
	Administration  dose.Administration
	NursePassword   string
	Witness         string
	WitnessPassword string
}

// Administered answers an administration: on NO-GO the report comes with
// the error object (its "result").
type Administered struct {
	Infusion dose.Infusion
	Report   WireReport
}

// ReactionBody is the body of a reaction recorded, corrected or voided;
// Known (dose.NewReaction), optional, is for a reaction recorded.
type ReactionBody struct {
	Grade  int
	Text   string
	Reason string
	Known  *int `json:",omitempty"`
}

// knownOnlyNew refuses known on a correction or a void, which name the
// reaction they change.
func knownOnlyNew() error {
	return lot.FieldErrorf("known", lot.EUSAGE, "known is for a new reaction; a correction or a void names the reaction it changes — leave known out")
}

func (r RemoteDoses) AddProtocol(_ string, p dose.Protocol) (dose.StoredProtocol, error) {
	return remotePost[dose.StoredProtocol](r.c, "/protocols", p)
}

func (r RemoteDoses) Protocol(name string, version int) (dose.StoredProtocol, error) {
	path := "/protocols/" + seg(name)
	if version != 0 {
		path += "?" + url.Values{"version": {itoa(version)}}.Encode()
	}
	return remoteGet[dose.StoredProtocol](r.c, path)
}

func (r RemoteDoses) Protocols() ([]dose.StoredProtocol, error) {
	return remoteGet[[]dose.StoredProtocol](r.c, "/protocols")
}

func (r RemoteDoses) CreateSchedule(_, mrn, protocol string, start time.Time, site string) (dose.Course, error) {
	w, err := remotePost[WireCourse](r.c, "/patients/"+seg(mrn)+"/courses", ScheduleRequest{protocol, start, site})
	return courseOf(w, err)
}

func courseOf(w WireCourse, err error) (dose.Course, error) {
	c, zerr := w.course()
	if err == nil {
		err = zerr
	}
	return c, err
}

func (r RemoteDoses) ChangeSchedule(signer audit.User, mrn string, n int, date time.Time, reason string) (dose.Course, error) {
	pw, err := r.sigs.signature(signer, dose.MeaningSchedule)
	if err != nil {
		return dose.Course{}, err
	}
	w, err := remotePost[WireCourse](r.c, "/patients/"+seg(mrn)+"/courses/active/infusions/"+itoa(n)+"/date", ScheduleChangeRequest{date, reason, pw})
	return courseOf(w, err)
}

func (r RemoteDoses) Courses(mrn string) (lot.Patient, []dose.Course, error) {
	v, err := remoteGet[Courses](r.c, "/patients/"+seg(mrn)+"/courses")
	var cs []dose.Course
	for _, w := range v.Courses {
		c, zerr := w.course()
		if err == nil {
			err = zerr
		}
		cs = append(cs, c)
	}
	return v.Patient, cs, err
}

func (r RemoteDoses) ConfirmWeight(signer audit.User, mrn string, shown dose.WeightShown, reason string) (lot.Weight, error) {
	pw, err := r.sigs.signature(signer, dose.MeaningConfirmWeight)
	if err != nil {
		return lot.Weight{}, err
	}
	q := ConfirmWeightRequest{WeightID: shown.ID, Reason: reason, Password: pw}
	if shown.Grams != 0 {
		q.Kg = shown.Grams.KgString()
	}
	return remotePost[lot.Weight](r.c, "/patients/"+seg(mrn)+"/weights/latest/confirmation", q)
}

func (r RemoteDoses) CheckConfirmWeight(mrn string, shown dose.WeightShown) (lot.Weight, error) {
	q := ConfirmWeightRequest{WeightID: shown.ID}
	if shown.Grams != 0 {
		q.Kg = shown.Grams.KgString()
	}
	return remotePost[lot.Weight](r.c, "/patients/"+seg(mrn)+"/weights/latest/confirmation-check", q)
}

func (r RemoteDoses) Check(mrn string, refs []string, volume lot.Tenths) (dose.Report, error) {
	w, err := remotePost[WireReport](r.c, "/checks", CheckRequestBody{MRN: mrn, Containers: refs, Volume: volume})
	rep, zerr := w.report()
	if err == nil {
		err = zerr
	}
	return rep, err
}

func (r RemoteDoses) CheckAdministration(a dose.Administration) (dose.Report, error) {
	w, err := remotePost[WireReport](r.c, "/checks", CheckRequestBody{a.MRN, a.Containers, a.Volume, a.Start, a.Shown})
	rep, zerr := w.report()
	if err == nil {
		err = zerr
	}
	return rep, err
}

func (r RemoteDoses) Calc(req dose.CalcRequest) (dose.CalcResult, error) {
	w, err := remotePost[WireCalc](r.c, "/calculations", req)
	res := w.CalcResult
	var zerr error
	res.Course.Zone, zerr = w.ZoneName.loc()
	if err == nil {
		err = zerr
	}
	return res, err
}

func (r RemoteDoses) Administer(nurse, witness audit.User, a dose.Administration) (dose.Infusion, dose.Report, error) {
	npw, err := r.sigs.signature(nurse, dose.MeaningAdminister)
	if err != nil {
		return dose.Infusion{}, dose.Report{}, err
	}
	wpw, err := r.sigs.signature(witness, dose.MeaningWitness)
	if err != nil {
		return dose.Infusion{}, dose.Report{}, err
	}
	v, err := remotePost[Administered](r.c, "/infusions", AdministerBody{a, npw, witness.Name, wpw})
	rep, zerr := v.Report.report()
	if err == nil {
		err = zerr
	}
	return v.Infusion, rep, err
}

func (r RemoteDoses) Infusions(mrn string) ([]dose.Infusion, map[uuid.UUID][]dose.Reaction, error) {
	v, err := remoteGet[Infusions](r.c, "/patients/"+seg(mrn)+"/infusions")
	return v.Infusions, v.Reactions, err
}

func (r RemoteDoses) RecordReaction(_ string, nr dose.NewReaction) (dose.Reaction, error) {
	return remotePost[dose.Reaction](r.c, "/infusions/"+seg(nr.Infusion)+"/reactions", ReactionBody{Grade: nr.Grade, Text: nr.Text, Known: nr.Known})
}

func (r RemoteDoses) CorrectReaction(_, infusion string, seq, grade int, text, reason string) (dose.Reaction, error) {
	return remotePost[dose.Reaction](r.c, "/infusions/"+seg(infusion)+"/reactions/"+itoa(seq)+"/correction", ReactionBody{Grade: grade, Text: text, Reason: reason})
}

func (r RemoteDoses) VoidReaction(_, infusion string, seq int, reason string) (dose.Reaction, error) {
	return remotePost[dose.Reaction](r.c, "/infusions/"+seg(infusion)+"/reactions/"+itoa(seq)+"/void", ReactionBody{Reason: reason})
}

func (s *Server) doseRoutes() []svcRoute {
	p := svcPrefix
	D := func() dose.Service { return s.cfg.Doses }
	U := func() audit.Users { return s.cfg.UserService }
	// checkConfirm is every check of a weight confirmation but the
	// password: the role, the weight as shown, and the service's own check
	// (the confirmation-check route answers with it; the confirmation
	// makes it before it reads the password).
	checkConfirm := func(u audit.User, r *http.Request, q ConfirmWeightRequest) (dose.WeightShown, lot.Weight, error) {
		if err := audit.Authorize(u, audit.WeightConfirm); err != nil {
			return dose.WeightShown{}, lot.Weight{}, err
		}
		shown, err := q.weightShown()
		if err != nil {
			return dose.WeightShown{}, lot.Weight{}, err
		}
		w, err := D().CheckConfirmWeight(refOf(r, "ref"), shown)
		return shown, w, err
	}
	return []svcRoute{
		{"POST " + p + "/protocols", "dose.Service AddProtocol: a new version of a protocol (physician)",
			writeCall(s, func(u audit.User, r *http.Request, pr dose.Protocol) (dose.StoredProtocol, error) {
				return D().AddProtocol(u.Name, pr)
			})},
		{"GET " + p + "/protocols", "dose.Service Protocols: the latest version of every protocol",
			readCall(s, func(r *http.Request) ([]dose.StoredProtocol, error) { return D().Protocols() })},
		{"GET " + p + "/protocols/{name}", "dose.Service Protocol: a version of a protocol (?version=, default the latest)",
			readCall(s, func(r *http.Request) (dose.StoredProtocol, error) {
				v, err := intParam("version", r.URL.Query().Get("version"))
				if err != nil {
					return dose.StoredProtocol{}, err
				}
				return D().Protocol(refOf(r, "name"), v)
			})},
		{"POST " + p + "/patients/{ref}/courses", "dose.Service CreateSchedule: start a course of a protocol (physician)",
			writeCall(s, func(u audit.User, r *http.Request, q ScheduleRequest) (WireCourse, error) {
				c, err := D().CreateSchedule(u.Name, refOf(r, "ref"), q.Protocol, q.Start, q.Site)
				return wireCourse(c), err
			})},
		{"GET " + p + "/patients/{ref}/courses", "dose.Service Courses: a patient's courses as of now",
			readCall(s, func(r *http.Request) (Courses, error) {
				pt, cs, err := D().Courses(refOf(r, "ref"))
				v := Courses{Patient: pt}
				for _, c := range cs {
					v.Courses = append(v.Courses, wireCourse(c))
				}
				return v, err
			})},
		{"POST " + p + "/patients/{ref}/courses/active/infusions/{n}/date", "dose.Service ChangeSchedule: move an infusion, signed with the acting physician's password",
			writeCall(s, func(u audit.User, r *http.Request, q ScheduleChangeRequest) (WireCourse, error) {
				n, err := seqOf(r, "n")
				if err != nil {
					return WireCourse{}, err
				}
				// The role first: a QA's or an auditor's wrong password
				// must not count towards a lockout for a call it may not make.
				if err := audit.Authorize(u, audit.ScheduleChange); err != nil {
					return WireCourse{}, err
				}
				signer, err := U().Authenticate(u.Name, q.Password, dose.MeaningSchedule)
				if err != nil {
					return WireCourse{}, err
				}
				c, err := D().ChangeSchedule(signer, refOf(r, "ref"), n, q.Date, q.Reason)
				return wireCourse(c), err
			})},
		{"POST " + p + "/patients/{ref}/weights/latest/confirmation-check", "dose.Service CheckConfirmWeight: every check of a weight confirmation but the password (409 when the latest weight is another or no bedside check needs it confirmed); nothing is written (physician)",
			writeCall(s, func(u audit.User, r *http.Request, q ConfirmWeightRequest) (lot.Weight, error) {
				_, w, err := checkConfirm(u, r, q)
				return w, err
			})},
		{"POST " + p + "/patients/{ref}/weights/latest/confirmation", "dose.Service ConfirmWeight: confirm the latest weight, named by WeightID and/or Kg as the physician was shown it (409, nothing written, when the latest weight is another or no bedside check needs it confirmed), signed with the acting physician's password",
			writeCall(s, func(u audit.User, r *http.Request, q ConfirmWeightRequest) (lot.Weight, error) {
				// A weight recorded since the physician looked, or one no
				// check needs confirmed, is the 409 before the password is
				// read, as on the command line (review 19 D): a mistyped
				// password must not count an attempt at a confirmation that
				// could never be written. The store checks again in the
				// writing transaction.
				shown, _, err := checkConfirm(u, r, q)
				if err != nil {
					return lot.Weight{}, err
				}
				signer, err := U().Authenticate(u.Name, q.Password, dose.MeaningConfirmWeight)
				if err != nil {
					return lot.Weight{}, err
				}
				return D().ConfirmWeight(signer, refOf(r, "ref"), shown, q.Reason)
			})},
		{"POST " + p + "/checks", "dose.Service Check: the bedside check (nothing is written; a NO-GO is in the report)",
			writeCall(s, func(u audit.User, r *http.Request, q CheckRequestBody) (WireReport, error) {
				if err := audit.AuthorizeRead(u); err != nil {
					return WireReport{}, err
				}
				if err := volumeGiven("Volume", q.Volume); err != nil {
					return WireReport{}, err
				}
				if q.Start.IsZero() && q.Shown.IsZero() {
					rep, err := D().Check(q.MRN, q.Containers, q.Volume)
					return wireReport(rep), err
				}
				rep, err := D().CheckAdministration(dose.Administration{MRN: q.MRN, Containers: q.Containers, Volume: q.Volume, Start: q.Start, Shown: q.Shown})
				return wireReport(rep), err
			})},
		{"POST " + p + "/calculations", "dose.Service Calc: the working of a dose (nothing is written)",
			writeCall(s, func(u audit.User, r *http.Request, q dose.CalcRequest) (WireCalc, error) {
				if err := audit.AuthorizeRead(u); err != nil {
					return WireCalc{}, err
				}
				res, err := D().Calc(q)
				return WireCalc{res, zoneOf(res.Course.Zone)}, err
			})},
		{"POST " + p + "/infusions", "dose.Service Administer: record an infusion signed by the acting nurse and a witness (their passwords); NO-GO answers the report as the error's result",
			writeCall(s, func(u audit.User, r *http.Request, q AdministerBody) (Administered, error) {
				// Before any password is checked: a malformed body costs
				// no one a wrong-password count.
				if err := volumeGiven("Volume (in /Administration)", q.Administration.Volume); err != nil {
					return Administered{}, err
				}
				// Before any password, as the bedside page and `dose
				// administer` check them: a nurse who may not administer,
				// a witness who is the nurse. Nothing else is said of the
				// witness before the witness's password (CoSigner).
				if err := audit.Authorize(u, audit.DoseAdminister); err != nil {
					return Administered{}, err
				}
				if err := dose.CheckWitnessName(u, strings.TrimSpace(q.Witness)); err != nil {
					return Administered{}, err
				}
				// The bedside rules before any password: a NO-GO counts no
				// failed attempt (the store checks again as it writes).
				if rep, err := D().CheckAdministration(q.Administration); err != nil || rep.Err() != nil {
					return Administered{Report: wireReport(rep)}, cmp.Or(err, rep.Err())
				}
				// Both passwords under the login's limits (limitedCoSign).
				var nurse, witness audit.User
				err := s.limitedCoSign(clientAddr(r), "witness", strings.TrimSpace(q.Witness), func() (err error) {
					if nurse, err = U().Authenticate(u.Name, q.NursePassword, dose.MeaningAdminister); err != nil {
						return err
					}
					witness, err = U().CoSigner("witness", strings.TrimSpace(q.Witness), q.WitnessPassword, dose.MeaningWitness)
					return err
				})
				if err != nil {
					return Administered{}, err
				}
				in, rep, err := D().Administer(nurse, witness, q.Administration)
				return Administered{in, wireReport(rep)}, err
			})},
		{"GET " + p + "/patients/{ref}/infusions", "dose.Service Infusions: a patient's infusions and their reactions",
			readCall(s, func(r *http.Request) (Infusions, error) {
				in, rs, err := D().Infusions(refOf(r, "ref"))
				return Infusions{in, rs}, err
			})},
		{"POST " + p + "/infusions/{id}/reactions", "dose.Service RecordReaction: an adverse reaction to an infusion",
			writeCall(s, func(u audit.User, r *http.Request, q ReactionBody) (dose.Reaction, error) {
				return D().RecordReaction(u.Name, dose.NewReaction{Infusion: refOf(r, "id"), Grade: q.Grade, Text: q.Text, Known: q.Known})
			})},
		{"POST " + p + "/infusions/{id}/reactions/{seq}/correction", "dose.Service CorrectReaction: a reaction that supersedes another, with a reason",
			writeCall(s, func(u audit.User, r *http.Request, q ReactionBody) (dose.Reaction, error) {
				seq, err := seqOf(r, "seq")
				if err == nil && q.Known != nil {
					err = knownOnlyNew()
				}
				if err != nil {
					return dose.Reaction{}, err
				}
				return D().CorrectReaction(u.Name, refOf(r, "id"), seq, q.Grade, q.Text, q.Reason)
			})},
		{"POST " + p + "/infusions/{id}/reactions/{seq}/void", "dose.Service VoidReaction: mark a reaction void, with a reason",
			writeCall(s, func(u audit.User, r *http.Request, q ReactionBody) (dose.Reaction, error) {
				seq, err := seqOf(r, "seq")
				if err == nil && q.Known != nil {
					err = knownOnlyNew()
				}
				if err != nil {
					return dose.Reaction{}, err
				}
				return D().VoidReaction(u.Name, refOf(r, "id"), seq, q.Reason)
			})},
	}
}
