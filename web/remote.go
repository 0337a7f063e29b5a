package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
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

// Streamer is a Caller that can hand the body of an answer to fn as it
// arrives (Client.Stream): a listing too long to hold whole, the audit
// trail's. A refusal is returned as Call returns it.
type Streamer interface {
	Stream(path string, fn func(body io.Reader) error) error
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
		if lot.ErrorCode(err) == lot.ENOGO {
			var ewr ErrorWithResult[T]
			if json.Unmarshal(data, &ewr) == nil {
				v = ewr.Result
			}
		}
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
	return PathSegment(ref)
}

// PathSegment escapes ref as one segment of a URL path: url.PathEscape
// ('/' as %2F), and "." and ".." with their dots escaped, which
// url.PathEscape leaves as they are and a router would clean away (the
// server's ServeMux cleans the escaped path, then unescapes each segment).
// A record stored before such identifiers were refused stays reachable,
// and a name like "omar/../quinn" cannot act on quinn.
func PathSegment(ref string) string {
	if ref == "." || ref == ".." {
		return strings.ReplaceAll(ref, ".", "%2E")
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
// Kg is the weight in kilograms as a decimal string ("62.0", "8.35"), read
// as `patient weigh --kg` reads it (lot.ParseWeightKg): whole grams here let
// a client's 6200 meant as 62 kg record a plausible 6.2 kg, and a weight to
// the gram pass that every other front end refuses (review 17).
type WeighRequest struct {
	Kg string
	At time.Time
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
	return remotePost[lot.Weight](r.c, "/patients/"+seg(mrn)+"/weights", WeighRequest{g.KgString(), at})
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
	if f.Last > 0 {
		q.Set("last", itoa(f.Last))
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

// RemoteSession is the session the command line holds on the server that c
// calls: its user and times.
func RemoteSession(c Caller) (audit.User, audit.Session, error) {
	v, err := remoteGet[SessionView](c, "/session")
	return v.User, v.Session, err
}

// RemoteFacility is the facility of the server that c calls: its FIN, and
// its time zone or why that cannot be read.
func RemoteFacility(c Caller) (RemoteFacilityView, error) {
	v, err := remoteGet[FacilityView](c, "/facility")
	if err != nil {
		return RemoteFacilityView{}, err
	}
	return remoteFacility(v), nil
}

// RemoteStart is what a command through the server that c calls reads
// before its own request, in one request (GET /api/v1/svc/start): the
// session's user, as RemoteSession has it, and the facility, as
// RemoteFacility says it.
func RemoteStart(c Caller) (audit.User, RemoteFacilityView, error) {
	v, err := remoteGet[StartView](c, "/start")
	if err != nil {
		return v.User, RemoteFacilityView{}, err
	}
	return v.User, remoteFacility(v.Facility), nil
}

// remoteFacility is the facility a server answered, its zone loaded here.
func remoteFacility(v FacilityView) (f RemoteFacilityView) {
	f.FIN, f.Migrated = v.FIN, v.Migrated
	if v.ZoneError.Code != "" {
		f.ZoneErr = lot.Errorf(v.ZoneError.Code, "%s", v.ZoneError.Message)
		return f
	}
	loc, lerr := time.LoadLocation(v.Zone)
	if lerr != nil {
		f.ZoneErr = lot.Errorf(lot.EINVALID, "the facility's time zone %q (from the server) is not known on this machine: %v", v.Zone, lerr)
		return f
	}
	f.Zone = loc
	return f
}

// RemoteFacilityView is what RemoteFacility says of the server's database:
// its facility's FIN; its time zone, or ZoneErr saying why it cannot be
// used; and the note of a database migrated to the other engine ("" when
// it was not).
type RemoteFacilityView struct {
	FIN      string
	Zone     *time.Location
	ZoneErr  error
	Migrated string
}

// ContainerHistory answers GET /api/v1/svc/containers/{ref}/history.
type ContainerHistory struct {
	Container lot.Container
	Events    []lot.Event
}

// ZoneRequest is the body of a change of time zone.
type ZoneRequest struct {
	Zone   string
	Reason string
}

// ReasonRequest is the body of a call whose one argument is a reason.
type ReasonRequest struct {
	Reason string
}

// SeenRequest is the body of a change of one record that may carry the
// record's state its form was shown with (audit.SeenField; omitted: no
// such check): a label's apply, a print's label set.
type SeenRequest struct {
	Seen *uint64 `json:",omitempty"`
}

// SeenReasonRequest is the body of a change of one record with a reason
// that may carry the record's state its form was shown with
// (audit.SeenField; omitted: no such check): an account's disable, enable
// and unlock, a lot's rejection check, a label's void.
type SeenReasonRequest struct {
	Reason string
	Seen   *uint64 `json:",omitempty"`
}

// PrintRequest is the body of POST /api/v1/svc/labels/{ref}/print: the
// containers whose labels the client rendered, in order, and the labels'
// state the print was asked from (audit.SeenField; omitted: no such check).
type PrintRequest struct {
	Containers []uuid.UUID
	Seen       *uint64 `json:",omitempty"`
}

// matches refuses a label set other than the one the client rendered: a
// container split or moved out of the chain between the two calls.
func (q PrintRequest) matches(set lot.LabelSet) error {
	same := len(set.Containers) == len(q.Containers)
	for i := 0; same && i < len(q.Containers); i++ {
		same = set.Containers[i].ID == q.Containers[i]
	}
	if !same {
		return lot.Errorf(lot.ECONFLICT, "the labels of %s changed while they were printed (a container was added or left the chain); nothing was counted — print again", set.Lot.Number)
	}
	return nil
}

// errDryRun aborts the transaction of a dry print.
var errDryRun = errors.New("dry run")

// Reconciliation answers GET /api/v1/svc/lots/{ref}/labels.
type Reconciliation struct {
	Lot        lot.Lot
	Containers []lot.Container
	Counts     []lot.LabelCount
}

// RemoteCustody is lot.CustodyService over the API.
type RemoteCustody struct{ c Caller }

var _ lot.CustodyService = RemoteCustody{}

// NewRemoteCustody returns lot.CustodyService on the server that c calls.
func NewRemoteCustody(c Caller) RemoteCustody { return RemoteCustody{c} }

func (r RemoteCustody) move(ref, verb string, m lot.Move) (lot.Container, error) {
	return remotePost[lot.Container](r.c, "/containers/"+seg(ref)+"/"+verb, m)
}

func (r RemoteCustody) Move(_, ref string, m lot.Move) (lot.Container, error) {
	if err := m.Validate(); err != nil { // an infusion too, which has no path
		return lot.Container{}, err
	}
	verb, _ := lot.MoveVerb(m.To)
	return r.move(ref, verb, m)
}

func (r RemoteCustody) Store(_, ref, location string) (lot.Container, error) {
	return r.move(ref, "store", lot.Move{Location: location})
}
func (r RemoteCustody) Ship(_, ref string, m lot.Move) (lot.Container, error) {
	return r.move(ref, "ship", m)
}
func (r RemoteCustody) Receive(_, ref string, m lot.Move) (lot.Container, error) {
	return r.move(ref, "receive", m)
}
func (r RemoteCustody) Thaw(_, ref string, t lot.Thaw) (lot.Container, error) {
	return r.move(ref, "thaw", lot.Move{Thaw: t})
}
func (r RemoteCustody) Dispense(_, ref, mrn string) (lot.Container, error) {
	return r.move(ref, "dispense", lot.Move{Patient: mrn})
}
func (r RemoteCustody) Discard(_, ref, reason string) (lot.Container, error) {
	return r.move(ref, "discard", lot.Move{Reason: reason})
}
func (r RemoteCustody) Return(_, ref, reason string) (lot.Container, error) {
	return r.move(ref, "return", lot.Move{Reason: reason})
}
func (r RemoteCustody) Quarantine(_, ref, reason string) (lot.Container, error) {
	return r.move(ref, "quarantine", lot.Move{Reason: reason})
}

func (r RemoteCustody) History(ref string) (lot.Container, []lot.Event, error) {
	v, err := remoteGet[ContainerHistory](r.c, "/containers/"+seg(ref)+"/history")
	return v.Container, v.Events, err
}

func (r RemoteCustody) AddSite(_ string, s lot.Site) (lot.Site, error) {
	return remotePost[lot.Site](r.c, "/sites", s)
}

func (r RemoteCustody) Sites() ([]lot.Site, error) { return remoteGet[[]lot.Site](r.c, "/sites") }

func (r RemoteCustody) SetSiteZone(_, code, zone, reason string) (lot.ZoneChange, error) {
	return remotePost[lot.ZoneChange](r.c, "/sites/"+seg(code)+"/zone", ZoneRequest{zone, reason})
}

func (r RemoteCustody) SetFacilityZone(_, zone, reason string) (lot.ZoneChange, error) {
	return remotePost[lot.ZoneChange](r.c, "/facility/zone", ZoneRequest{zone, reason})
}

// RemoteLabels is lot.LabelService over the API.
type RemoteLabels struct{ c Caller }

var _ lot.LabelService = RemoteLabels{}

// NewRemoteLabels returns lot.LabelService on the server that c calls.
func NewRemoteLabels(c Caller) RemoteLabels { return RemoteLabels{c} }

// Print asks the server for the label set a print would count (nothing is
// counted), calls render with it here (the client writes the PDF), and
// only then has the server count those labels: when render refuses,
// nothing is counted, as locally; when the count is refused, the error is
// returned for the caller to remove its file, as locally.
func (r RemoteLabels) Print(_, ref string, seen *uint64, render func(lot.LabelSet) error) (lot.LabelSet, error) {
	set, err := remotePost[lot.LabelSet](r.c, "/labels/"+seg(ref)+"/set", SeenRequest{seen})
	if err != nil {
		return set, err
	}
	if err := render(set); err != nil {
		return set, err
	}
	q := PrintRequest{Containers: []uuid.UUID{}, Seen: seen}
	for _, c := range set.Containers {
		q.Containers = append(q.Containers, c.ID)
	}
	return remotePost[lot.LabelSet](r.c, "/labels/"+seg(ref)+"/print", q)
}

func (r RemoteLabels) Apply(_, ref string, seen *uint64) (lot.LabelCount, error) {
	return remotePost[lot.LabelCount](r.c, "/labels/"+seg(ref)+"/apply", SeenRequest{seen})
}

func (r RemoteLabels) Void(_, ref, reason string, seen *uint64) (lot.LabelCount, error) {
	return remotePost[lot.LabelCount](r.c, "/labels/"+seg(ref)+"/void", SeenReasonRequest{reason, seen})
}

func (r RemoteLabels) Reconcile(lotRef string) (lot.Lot, []lot.Container, []lot.LabelCount, error) {
	v, err := remoteGet[Reconciliation](r.c, "/lots/"+seg(lotRef)+"/labels")
	return v.Lot, v.Containers, v.Counts, err
}

func itoa(n int) string { return strconv.Itoa(n) }
