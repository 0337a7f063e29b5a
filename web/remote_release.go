package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/release"
	"github.com/google/uuid"
)

// RemoteReleases is release.Service over the API. The passwords of Approve,
// Reject and VoidScreening travel in the request body (https, or plain http
// to this machine only: NewClient's rule) and the server checks them.
type RemoteReleases struct{ c Caller }

var _ release.Service = RemoteReleases{}

// NewRemoteReleases returns release.Service on the server that c calls.
func NewRemoteReleases(c Caller) RemoteReleases { return RemoteReleases{c} }

// WireSpec is a specification as the service endpoints send it: with its
// id, which the specification file format leaves out.
type WireSpec struct {
	release.Spec
	ID uuid.UUID `json:"id"`
}

func wireSpec(s release.Spec) WireSpec { return WireSpec{s, s.ID} }

func (w WireSpec) spec() release.Spec {
	s := w.Spec
	s.ID = w.ID
	return s
}

func wireSpecs(ss []release.Spec) []WireSpec {
	out := make([]WireSpec, 0, len(ss))
	for _, s := range ss {
		out = append(out, wireSpec(s))
	}
	return out
}

// ResultRequest is the body of POST /api/v1/svc/lots/{ref}/results.
type RecordResultRequest struct {
	Entry    release.Entry
	Corrects int
	Reason   string
}

// ResultRecorded answers a result recorded or voided: the result and the
// lots it sent back to quarantine.
type ResultRecorded struct {
	Result        release.Result
	Requarantined []release.Requarantine
}

// Screened answers a screening recorded.
type Screened struct {
	Recorded, Status release.Screening
	Requarantined    []release.Requarantine
}

// SignedReasonRequest is the body of a signed decision: the acting user's
// password and the reason.
type SignedReasonRequest struct {
	Password string
	Reason   string
}

// RejectionRequest is the body of POST /api/v1/svc/lots/{ref}/rejection:
// a signed decision that may carry the lot's state its form was shown
// with (audit.SeenField; omitted: no such check).
type RejectionRequest struct {
	Password string
	Reason   string
	Seen     *uint64 `json:",omitempty"`
}

// ScreeningVoided answers a screening voided.
type ScreeningVoided struct {
	Voided      release.Screening
	Status      *release.Screening
	Quarantined []string
}

// Checked answers a check that passed (nothing was written).
type Checked struct {
	OK bool `json:"ok"`
}

func (r RemoteReleases) Specs() ([]release.Spec, error) {
	ws, err := remoteGet[[]WireSpec](r.c, "/specs")
	var out []release.Spec
	for _, w := range ws {
		out = append(out, w.spec())
	}
	return out, err
}

func (r RemoteReleases) Spec(ref string) (release.Spec, error) {
	w, err := remoteGet[WireSpec](r.c, "/specs/"+seg(ref))
	return w.spec(), err
}

func (r RemoteReleases) AddSpec(_ string, s release.Spec) (release.Spec, error) {
	w, err := remotePost[WireSpec](r.c, "/specs", wireSpec(s))
	return w.spec(), err
}

func (r RemoteReleases) RecordResult(_, lotRef string, e release.Entry, corrects int, reason string) (release.Result, []release.Requarantine, error) {
	v, err := remotePost[ResultRecorded](r.c, "/lots/"+seg(lotRef)+"/results", RecordResultRequest{e, corrects, reason})
	return v.Result, v.Requarantined, err
}

func (r RemoteReleases) VoidResult(_, lotRef string, seq int, reason string) (release.Result, []release.Requarantine, error) {
	v, err := remotePost[ResultRecorded](r.c, "/lots/"+seg(lotRef)+"/results/"+strconv.Itoa(seq)+"/void", ReasonRequest{reason})
	return v.Result, v.Requarantined, err
}

func (r RemoteReleases) Results(lotRef string) ([]release.Result, error) {
	return remoteGet[[]release.Result](r.c, "/lots/"+seg(lotRef)+"/results")
}

func (r RemoteReleases) Screen(_, donorRef string, s release.Screening) (release.Screening, release.Screening, []release.Requarantine, error) {
	v, err := remotePost[Screened](r.c, "/donors/"+seg(donorRef)+"/screenings", s)
	return v.Recorded, v.Status, v.Requarantined, err
}

func (r RemoteReleases) Screenings(donorRef string) ([]release.Screening, error) {
	return remoteGet[[]release.Screening](r.c, "/donors/"+seg(donorRef)+"/screenings")
}

func (r RemoteReleases) CheckVoidScreening(_, donorRef string, seq int, reason string) error {
	_, err := remotePost[Checked](r.c, "/donors/"+seg(donorRef)+"/screenings/"+strconv.Itoa(seq)+"/void-check", ReasonRequest{reason})
	return err
}

func (r RemoteReleases) VoidScreening(_, password, donorRef string, seq int, reason string) (release.Screening, *release.Screening, []string, error) {
	v, err := remotePost[ScreeningVoided](r.c, "/donors/"+seg(donorRef)+"/screenings/"+strconv.Itoa(seq)+"/void", SignedReasonRequest{password, reason})
	return v.Voided, v.Status, v.Quarantined, err
}

func (r RemoteReleases) Evaluate(lotRef, spec string) (release.Evaluation, error) {
	path := "/lots/" + seg(lotRef) + "/evaluation"
	if spec != "" {
		path += "?" + url.Values{"spec": {spec}}.Encode()
	}
	return remoteGet[release.Evaluation](r.c, path)
}

func (r RemoteReleases) CheckApproval(a release.Approval) error {
	_, err := remotePost[Checked](r.c, "/lots/"+seg(a.Lot)+"/approval-check", a)
	return err
}

func (r RemoteReleases) Approve(a release.Approval) (release.Disposition, error) {
	return remotePost[release.Disposition](r.c, "/lots/"+seg(a.Lot)+"/approval", a)
}

func (r RemoteReleases) CheckReject(_, lotRef, reason string, seen *uint64) error {
	_, err := remotePost[Checked](r.c, "/lots/"+seg(lotRef)+"/rejection-check", SeenReasonRequest{reason, seen})
	return err
}

func (r RemoteReleases) Reject(_, password, lotRef, reason string, seen *uint64) (release.Disposition, error) {
	return remotePost[release.Disposition](r.c, "/lots/"+seg(lotRef)+"/rejection", RejectionRequest{password, reason, seen})
}

func (r RemoteReleases) Dispositions(lotRef string) ([]release.Disposition, error) {
	return remoteGet[[]release.Disposition](r.c, "/lots/"+seg(lotRef)+"/dispositions")
}

func (r RemoteReleases) Certificate(lotRef string) (release.Certificate, error) {
	return remoteGet[release.Certificate](r.c, "/lots/"+seg(lotRef)+"/certificate")
}

// seqOf is the number in the path wildcard name.
func seqOf(r *http.Request, name string) (int, error) {
	return intParam(name, r.PathValue(name))
}

func (s *Server) releaseRoutes() []svcRoute {
	p := svcPrefix
	R := func() release.Service { return s.cfg.Releases }
	return []svcRoute{
		{"GET " + p + "/specs", "release.Service Specs: every specification's latest version",
			readCall(s, func(r *http.Request) ([]WireSpec, error) { ss, err := R().Specs(); return wireSpecs(ss), err })},
		{"GET " + p + "/specs/{ref}", "release.Service Spec: one specification, NAME or NAME@VERSION",
			readCall(s, func(r *http.Request) (WireSpec, error) {
				sp, err := R().Spec(refOf(r, "ref"))
				return wireSpec(sp), err
			})},
		{"POST " + p + "/specs", "release.Service AddSpec: a new version of a specification (QA)",
			writeCall(s, func(u audit.User, r *http.Request, w WireSpec) (WireSpec, error) {
				sp, err := R().AddSpec(u.Name, w.spec())
				return wireSpec(sp), err
			})},
		{"POST " + p + "/lots/{ref}/results", "release.Service RecordResult: record or correct a QC result (lab)",
			writeCall(s, func(u audit.User, r *http.Request, q RecordResultRequest) (ResultRecorded, error) {
				res, rq, err := R().RecordResult(u.Name, refOf(r, "ref"), q.Entry, q.Corrects, q.Reason)
				return ResultRecorded{res, rq}, err
			})},
		{"POST " + p + "/lots/{ref}/results/{seq}/void", "release.Service VoidResult: void a QC result with a reason (lab)",
			writeCall(s, func(u audit.User, r *http.Request, q ReasonRequest) (ResultRecorded, error) {
				seq, err := seqOf(r, "seq")
				if err != nil {
					return ResultRecorded{}, err
				}
				res, rq, err := R().VoidResult(u.Name, refOf(r, "ref"), seq, q.Reason)
				return ResultRecorded{res, rq}, err
			})},
		{"GET " + p + "/lots/{ref}/results", "release.Service Results: a lot's QC results",
			readCall(s, func(r *http.Request) ([]release.Result, error) { return R().Results(refOf(r, "ref")) })},
		{"POST " + p + "/donors/{ref}/screenings", "release.Service Screen: record a donor's screening (lab)",
			writeCall(s, func(u audit.User, r *http.Request, sc release.Screening) (Screened, error) {
				rec, st, rq, err := R().Screen(u.Name, refOf(r, "ref"), sc)
				return Screened{rec, st, rq}, err
			})},
		{"GET " + p + "/donors/{ref}/screenings", "release.Service Screenings: a donor's screenings",
			readCall(s, func(r *http.Request) ([]release.Screening, error) { return R().Screenings(refOf(r, "ref")) })},
		{"POST " + p + "/donors/{ref}/screenings/{seq}/void-check", "release.Service CheckVoidScreening: every check of a void but the password; nothing is written (QA)",
			writeCall(s, func(u audit.User, r *http.Request, q ReasonRequest) (Checked, error) {
				seq, err := seqOf(r, "seq")
				if err != nil {
					return Checked{}, err
				}
				return Checked{true}, R().CheckVoidScreening(u.Name, refOf(r, "ref"), seq, q.Reason)
			})},
		{"POST " + p + "/donors/{ref}/screenings/{seq}/void", "release.Service VoidScreening: void a screening, signed with the acting QA's password",
			writeCall(s, func(u audit.User, r *http.Request, q SignedReasonRequest) (ScreeningVoided, error) {
				seq, err := seqOf(r, "seq")
				if err != nil {
					return ScreeningVoided{}, err
				}
				v, st, qs, err := R().VoidScreening(u.Name, q.Password, refOf(r, "ref"), seq, q.Reason)
				return ScreeningVoided{v, st, qs}, err
			})},
		{"GET " + p + "/lots/{ref}/evaluation", "release.Service Evaluate: a lot judged against a specification (?spec=)",
			readCall(s, func(r *http.Request) (release.Evaluation, error) {
				return R().Evaluate(refOf(r, "ref"), r.URL.Query().Get("spec"))
			})},
		{"POST " + p + "/lots/{ref}/approval-check", "release.Service CheckApproval: every check of a release but the passwords; nothing is written (QA)",
			writeCall(s, func(u audit.User, r *http.Request, a release.Approval) (Checked, error) {
				a.QA, a.Lot = u.Name, refOf(r, "ref")
				return Checked{true}, R().CheckApproval(a)
			})},
		{"POST " + p + "/lots/{ref}/approval", "release.Service Approve: release a lot, signed with the acting QA's password (and a physician's for an exception)",
			writeCall(s, func(u audit.User, r *http.Request, a release.Approval) (release.Disposition, error) {
				a.QA, a.Lot = u.Name, refOf(r, "ref")
				return s.approveLimited(clientAddr(r), a)
			})},
		{"POST " + p + "/lots/{ref}/rejection-check", "release.Service CheckReject: every check of a rejection but the password; nothing is written (QA); Seen, optional, refuses it once the lot has changed (audit.SeenField)",
			writeCall(s, func(u audit.User, r *http.Request, q SeenReasonRequest) (Checked, error) {
				return Checked{true}, R().CheckReject(u.Name, refOf(r, "ref"), q.Reason, q.Seen)
			})},
		{"POST " + p + "/lots/{ref}/rejection", "release.Service Reject: reject a lot, signed with the acting QA's password; Seen, optional, refuses it once the lot has changed (audit.SeenField)",
			writeCall(s, func(u audit.User, r *http.Request, q RejectionRequest) (release.Disposition, error) {
				return R().Reject(u.Name, q.Password, refOf(r, "ref"), q.Reason, q.Seen)
			})},
		{"GET " + p + "/lots/{ref}/dispositions", "release.Service Dispositions: a lot's signed decisions",
			readCall(s, func(r *http.Request) ([]release.Disposition, error) { return R().Dispositions(refOf(r, "ref")) })},
		{"GET " + p + "/lots/{ref}/certificate", "release.Service Certificate: what a certificate of analysis shows",
			readCall(s, func(r *http.Request) (release.Certificate, error) { return R().Certificate(refOf(r, "ref")) })},
	}
}
