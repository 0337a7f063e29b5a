package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/google/uuid"
)

// The lab's and QA's pages: the lots, each lot with its containers, QC
// results, evaluation and release decisions, and the forms to record a QC
// result (lab) and to approve or reject a lot (QA), each with the same
// checks, signatures and audit entries as the command line.

// lotRow is one line of the lot list.
type lotRow struct {
	Lot    lot.Lot
	URL    string
	Status string
}

type lotsData struct {
	Statuses, Sources []option
	Status, Source    string
	Lots              []lotRow
	// More says the database holds older matching lots than the page
	// lists: it lists the newest maxLotRows.
	More bool
	Ref  string
	// RegisterURL is the lab's page to register or import lots ("" for
	// a role that may not).
	RegisterURL string
}

var lotStatuses = []option{{"", "every status"}, {string(lot.Quarantine), "quarantine"}, {string(lot.Released), "released"}, {string(lot.Rejected), "rejected"}}
var lotSources = []option{{"", "every product"}, {string(lot.SourceUC), lot.SourceUC.Product()}, {string(lot.SourceRFib), lot.SourceRFib.Product()}}

// lotFilter reads the list's filters as `lot list --status --source` does.
func lotFilter(q url.Values) (lot.LotFilter, error) {
	var f lot.LotFilter
	var err error
	if s := trim(q.Get("status")); s != "" {
		if f.Status, err = lot.ParseStatus(s); err != nil {
			return f, err
		}
	}
	if s := trim(q.Get("source")); s != "" {
		if f.Source, err = lot.ParseSource(s); err != nil {
			return f, err
		}
	}
	return f, nil
}

func lotURL(l lot.Lot) string { return "/lots/" + PathSegment(l.Number) }

// lotsPage lists the lots, as `lot list`, for every user.
func (s *Server) lotsPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	d := lotsData{Statuses: lotStatuses, Sources: lotSources, Status: q.Get("status"), Source: q.Get("source")}
	d.RegisterURL = registerLotLink(u)
	p := pageData{Title: "Lots", User: u, Nav: "lots"}
	status := http.StatusOK
	if ref := trim(q.Get("ref")); ref != "" {
		// the find box: the lot's own page, which names a lot it cannot find
		http.Redirect(w, r, "/lots/"+PathSegment(ref), http.StatusSeeOther)
		return
	}
	ls, err := s.lots(u, q, maxLotRows+1) // one more than it lists: are there more?
	if err != nil {
		err = s.logError(r, err)
		p.Error, status = lot.ErrorMessage(err), statusOf(w, err)
	}
	if len(ls) > maxLotRows {
		ls, d.More = ls[len(ls)-maxLotRows:], true
	}
	now := s.cfg.Now()
	for _, l := range ls {
		d.Lots = append(d.Lots, lotRow{Lot: l, URL: lotURL(l), Status: l.StatusText(now, s.restrictedTo(l))})
	}
	p.Data = d
	s.render(w, status, "lots", p)
}

// maxLotRows caps the lots the lots page lists: the newest, so that a
// database of 100,000 lots is not one page of 17 MB (review 9). The
// filters and the find box reach the others.
const maxLotRows = 1000

// lots reads the lots matching the query's filters, for a user who may
// read; with last above 0, only the newest last of them.
func (s *Server) lots(u audit.User, q url.Values, last int) ([]lot.Lot, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return nil, err
	}
	f, err := lotFilter(q)
	if err != nil {
		return nil, err
	}
	f.Last = last
	return s.cfg.Lots.Lots(f)
}

// restrictedTo is the MRN an exceptional release restricts l to, or "".
func (s *Server) restrictedTo(l lot.Lot) string {
	if !l.Exceptional {
		return ""
	}
	return s.patientMRN(l.RestrictedTo)
}

// patientMRN names a patient by MRN, or by UUID if the lookup fails.
func (s *Server) patientMRN(id uuid.UUID) string {
	if p, err := s.cfg.Lots.Patient(id.String()); err == nil {
		return p.MRN
	}
	return id.String()
}

// containerRow is a container as the lot page lists it.
type containerRow struct {
	C       lot.Container
	URL     string
	Patient string
	Labels  lot.LabelCount
}

// lotData is the lot page.
type lotData struct {
	Lot         lot.Lot
	URL         string
	Status      string
	Source      string
	Containers  []containerRow
	Results     []release.Result
	Invalidated []release.Invalidation
	Specs       []option
	Spec        string // as asked: NAME, NAME@VERSION or "" for the kind's default
	// SpecShown is the version evaluated (NAME@VERSION), which the approve
	// and exception forms carry so that they sign against no other.
	SpecShown    string
	Evaluation   *release.Evaluation
	EvalError    string
	Dispositions []release.Disposition
	// LabelsSeen is the state of the lot, its containers and their labels
	// the labels form carries, SplitSeen the lot's the split form carries
	// (audit.SeenField).
	LabelsSeen, SplitSeen string
	// Seen is the lot's state the result, approve, exception and reject
	// forms carry (audit.SeenField): of the lot and of its QC results,
	// each a record of its own (recorded, voided or corrected).
	Seen string

	// The forms, each shown only to a role that may use it.
	CanApprove, CanReject, CanResult bool
	// ApproveRefusal says why the lot cannot be approved now (CheckApproval):
	// then no one is asked to sign.
	ApproveRefusal string
	MeaningApprove string
	MeaningReject  string
	Reason         string // the reject form's reason, kept after a refusal
	// CanException: the lot does not conform and is in quarantine, so QA
	// may release it exceptionally for one patient with a physician's
	// co-signature (CheckApproval judges the rest when it is posted).
	CanException   bool
	Nonconforming  string
	MeaningExc     string
	MeaningExcPhys string
	Exc            exceptionForm // kept after a refusal
	Assays         []string
	Entry          resultForm // the result form, kept after a refusal

	// Done is what the last POST recorded, shown above the lot; Rejected
	// shows it as a stop.
	// The lab's forms: split into containers, print the labels.
	CanSplit, CanPrint bool
	SplitEntry         splitForm // the split form, kept after a refusal

	Done     string
	Rejected bool
	DoneSigs []audit.Signature
	DoneList []string
}

// exceptionForm is what the exceptional release form keeps after a refusal
// (never a password).
type exceptionForm struct{ Patient, Reason, Physician string }

// resultForm is what the QC result form carries.
type resultForm struct{ Assay, Value, Unit, Method, Tested string }

// lotPageData reads everything the lot page shows for u. A lot that cannot
// be read is the error; a failed evaluation is shown on the page.
func (s *Server) lotPageData(u audit.User, ref, spec string) (lotData, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return lotData{}, err
	}
	if err := lot.ValidateText("lot", ref, true); err != nil {
		return lotData{}, err
	}
	l, err := s.cfg.Lots.Lot(ref)
	if err != nil {
		return lotData{}, err
	}
	d := lotData{Lot: l, URL: lotURL(l), Status: l.StatusText(s.cfg.Now(), s.restrictedTo(l)), Spec: spec,
		MeaningApprove: release.MeaningApprove, MeaningReject: release.MeaningReject,
		CanApprove: audit.Allowed(u.Role, audit.ReleaseApprove), CanReject: audit.Allowed(u.Role, audit.ReleaseReject),
		CanResult: audit.Allowed(u.Role, audit.ReleaseResult),
		CanSplit:  audit.Allowed(u.Role, audit.LotSplit), CanPrint: audit.Allowed(u.Role, audit.LabelPrint)}
	if l.Source == lot.SourceUC {
		if dn, err := s.cfg.Lots.Donor(l.DonorID.String()); err == nil {
			d.Source = "donor " + dn.Code
		}
	} else if p, err := s.cfg.Lots.Patient(l.PatientID.String()); err == nil {
		d.Source = "patient " + p.MRN + " (" + p.Name + ") — FOR AUTOLOGOUS USE ONLY"
	}
	cs, err := s.cfg.Lots.Containers(l.ID.String())
	if err != nil {
		return d, err
	}
	// The label reconciliation of `label reconcile`, beside each container.
	_, lcs, counts, err := s.cfg.Labels.Reconcile(l.ID.String())
	if err != nil {
		return d, err
	}
	if d.LabelsSeen, err = s.labelSeenOf(&l, lcs, counts); err != nil {
		return d, err
	}
	if d.SplitSeen, err = s.seenOf(l.ID); err != nil {
		return d, err
	}
	for _, c := range cs {
		row := containerRow{C: c, URL: containerURL(c)}
		if c.PatientID != uuid.Nil {
			row.Patient = s.patientMRN(c.PatientID)
		}
		for i := range lcs {
			if lcs[i].ID == c.ID {
				row.Labels = counts[i]
			}
		}
		d.Containers = append(d.Containers, row)
	}
	if d.Results, err = s.cfg.Releases.Results(l.ID.String()); err != nil {
		return d, err
	}
	d.Invalidated = release.Invalidated(d.Results)
	ids := []uuid.UUID{l.ID}
	for _, r := range d.Results {
		ids = append(ids, r.ID)
	}
	if d.Seen, err = s.seenOf(ids...); err != nil {
		return d, err
	}
	if d.Dispositions, err = s.cfg.Releases.Dispositions(l.ID.String()); err != nil {
		return d, err
	}
	specs, err := s.cfg.Releases.Specs()
	if err != nil {
		return d, err
	}
	d.Specs = specOptions(specs, l.Source)
	if ev, err := s.cfg.Releases.Evaluate(l.ID.String(), spec); err != nil {
		d.EvalError = s.message(err)
	} else {
		d.Evaluation, d.SpecShown = &ev, ev.Spec+"@"+strconv.Itoa(ev.Version)
	}
	if d.CanApprove {
		if err := s.cfg.Releases.CheckApproval(release.Approval{Lot: l.ID.String(), Spec: spec, QA: u.Name}); err != nil {
			d.ApproveRefusal = s.message(err)
		}
		if ev := d.Evaluation; ev != nil && !ev.Pass && l.Status == lot.Quarantine && !l.Expired(s.cfg.Now()) {
			d.CanException = true
			d.Nonconforming = strings.Join(release.Nonconforming(ev.Rows), ", ")
			d.MeaningExc, d.MeaningExcPhys = release.ExceptionMeanings(ev.Rows, "[MRN]")
		}
	}
	for _, a := range release.Assays() {
		d.Assays = append(d.Assays, string(a))
	}
	return d, nil
}

// specOptions are the specifications a lot of kind k can be judged
// against, each by name (its latest version) and by every version.
func specOptions(specs []release.Spec, k lot.Source) []option {
	out := []option{{"", "the default for " + k.Product()}}
	seen := map[string]bool{}
	for _, sp := range specs {
		fits := len(sp.Kinds) == 0
		for _, x := range sp.Kinds {
			fits = fits || x == k
		}
		if !fits {
			continue
		}
		if !seen[sp.Name] {
			seen[sp.Name] = true
			out = append(out, option{sp.Name, sp.Name + " (latest version)"})
		}
		v := sp.Name + "@" + strconv.Itoa(sp.Version)
		out = append(out, option{v, v + " — " + sp.Title})
	}
	return out
}

// lotPage shows one lot, for every user; the forms only to the roles that
// may use them.
func (s *Server) lotPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	s.showLot(w, r, u, r.URL.Query().Get("spec"), nil, http.StatusOK, nil)
}

// showLot renders the lot page, with a refusal (status) or what was just
// done; keep fills the forms back in after a refusal.
func (s *Server) showLot(w http.ResponseWriter, r *http.Request, u audit.User, spec string, refusal error, status int, keep func(*lotData)) {
	s.showLotRef(w, r, u, r.PathValue("ref"), spec, refusal, status, keep)
}

// showLotRef is showLot for the lot ref (a lot just registered has no
// path of its own yet).
func (s *Server) showLotRef(w http.ResponseWriter, r *http.Request, u audit.User, ref, spec string, refusal error, status int, keep func(*lotData)) {
	p := pageData{Title: "Lot", User: u, Nav: "lots"}
	d, err := s.lotPageData(u, ref, trim(spec))
	if err != nil {
		err = s.logError(r, err)
		// A refusal (a role that may not) is what the POST is answered
		// with, even when the lot it named cannot be shown either.
		if refusal != nil {
			err = refusal
		}
		p.Error = lot.ErrorMessage(err)
		s.render(w, statusOf(w, err), "lot_missing", p)
		return
	}
	if refusal != nil {
		p.Error = lot.ErrorMessage(refusal) + " — nothing was signed or recorded"
	}
	if keep != nil {
		keep(&d)
	}
	p.Title = "Lot " + d.Lot.Number
	p.Data = d
	s.render(w, status, "lot", p)
}

// lotApprove releases a lot from its page, as `release approve`: a role
// that may not is refused before anything else; then CheckApproval, so that
// nobody signs a decision that is refused; then the QA's password as the
// signature, checked and recorded by Approve, which runs every check again.
func (s *Server) lotApprove(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	req := ApproveRequest{Spec: f.Get("spec"), SpecShown: f.Get("spec_shown"), Password: f.Get("password"), Exception: f.Get("exception") == "yes",
		Patient: f.Get("patient"), Reason: f.Get("reason"), Physician: f.Get("physician"), PhysicianPassword: f.Get("physician_password")}
	var d release.Disposition
	err := signerOf(f, u, audit.ReleaseApprove)
	if err == nil {
		req.Seen, err = formSeen(f)
	}
	if err == nil {
		d, err = s.approve(clientAddr(r), u, r.PathValue("ref"), req)
	}
	if err != nil {
		err = s.logError(r, err)
		s.showLot(w, r, u, f.Get("spec"), err, statusOf(w, err), func(ld *lotData) {
			if req.Exception {
				ld.Exc = exceptionForm{Patient: req.Patient, Reason: req.Reason, Physician: req.Physician}
			}
		})
		return
	}
	s.showLot(w, r, u, f.Get("spec"), nil, http.StatusOK, func(ld *lotData) {
		if d.Decision == release.Exception {
			ld.Done = "EXCEPTIONAL RELEASE of lot " + d.Lot + " for patient " + d.Patient + " only, against " + d.Spec + "@" + strconv.Itoa(d.SpecVersion) +
				"; DOES NOT MEET: " + strings.Join(release.Nonconforming(d.Rows), ", ")
		} else {
			ld.Done = "Released lot " + d.Lot + " against " + d.Spec + "@" + strconv.Itoa(d.SpecVersion)
		}
		ld.DoneSigs = d.Signatures
	})
}

// lotReject rejects a lot from its page, as `release reject`.
func (s *Server) lotReject(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	var d release.Disposition
	req := RejectRequest{Reason: f.Get("reason"), Password: f.Get("password")}
	err := signerOf(f, u, audit.ReleaseReject)
	if err == nil {
		req.Seen, err = formSeen(f)
	}
	if err == nil {
		d, err = s.reject(u, r.PathValue("ref"), req)
	}
	if err != nil {
		err = s.logError(r, err)
		s.showLot(w, r, u, "", err, statusOf(w, err), func(ld *lotData) { ld.Reason = f.Get("reason") })
		return
	}
	s.showLot(w, r, u, "", nil, http.StatusOK, func(ld *lotData) {
		ld.Done, ld.Rejected = "Rejected lot "+d.Lot+": "+d.Reason, true
		if d.Unevaluated != "" {
			ld.Done += " (" + d.Unevaluated + ")"
		}
		ld.DoneSigs = d.Signatures
		ld.DoneList = lookBack(d.Infused, d.Recall)
	})
}

// lotResult records a QC result from the lot page, as `release result`.
func (s *Server) lotResult(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	req := ResultRequest{Assay: f.Get("assay"), Value: f.Get("value"), Unit: f.Get("unit"), Method: f.Get("method"), Tested: f.Get("tested")}
	err := formFor(f, u, audit.ReleaseResult)
	var res release.Result
	var rq []release.Requarantine
	if err == nil {
		req.Seen, err = formSeen(f)
	}
	if err == nil {
		res, rq, err = s.recordResult(u, r.PathValue("ref"), req)
	}
	if err != nil {
		err = s.logError(r, err)
		s.showLot(w, r, u, "", err, statusOf(w, err), func(ld *lotData) {
			ld.Entry = resultForm{req.Assay, req.Value, req.Unit, req.Method, req.Tested}
		})
		return
	}
	s.showLot(w, r, u, "", nil, http.StatusOK, func(ld *lotData) {
		ld.Done = "Recorded result #" + strconv.Itoa(res.Seq) + ": " + string(res.Assay) + " " + res.Display()
		for _, q := range rq {
			ld.DoneList = append(ld.DoneList, "LOT "+q.Lot+" RETURNED TO QUARANTINE: "+q.Reason)
			ld.DoneList = append(ld.DoneList, lookBack(q.Infused, q.Recall)...)
		}
	})
}

// lookBack words the containers of a lot taken out of use, as the command
// line prints them.
func lookBack(infused, recall []string) []string {
	var out []string
	if len(infused) > 0 {
		out = append(out, "LOOK-BACK: containers already infused: "+strings.Join(infused, ", "))
	}
	if len(recall) > 0 {
		out = append(out, "RECALL: do not infuse, return to the lab and discard: "+strings.Join(recall, ", "))
	}
	return out
}

// ApproveRequest is the body of POST /api/v1/lots/{ref}/approve: the
// specification (NAME or NAME@VERSION; empty for the lot kind's default)
// and the acting QA's password, the signature. An exceptional release of a
// non-conforming lot (as `release approve --exception`) names the one
// patient, the medical necessity (reason) and the co-signing physician,
// with the physician's password.
type ApproveRequest struct {
	Spec              string `json:"spec,omitempty"`
	Password          string `json:"password"`
	Exception         bool   `json:"exception,omitempty"`
	Patient           string `json:"patient,omitempty"`
	Reason            string `json:"reason,omitempty"`
	Physician         string `json:"physician,omitempty"`
	PhysicianPassword string `json:"physician_password,omitempty"`
	// Seen, optional, is the lot's state the decision was made from
	// (audit.SeenField): it is refused (409, field "seen") before any
	// password is checked when the lot or one of its results has changed
	// since. ResultRequest and RejectRequest carry it too.
	Seen *uint64 `json:"seen,omitempty"`
	// SpecShown, optional, is the specification version (NAME@VERSION) the
	// lot was shown evaluated against (the page forms carry it): the
	// release is refused (409, field spec_shown) before any password is
	// checked when it would be evaluated against another version.
	SpecShown string `json:"spec_shown,omitempty"`
}

// RejectRequest is the body of POST /api/v1/lots/{ref}/reject.
type RejectRequest struct {
	Reason   string  `json:"reason"`
	Password string  `json:"password"`
	Seen     *uint64 `json:"seen,omitempty"`
}

// ResultRequest is the body of POST /api/v1/lots/{ref}/results: one QC
// result, as `release result --assay --value --unit --method --tested`.
type ResultRequest struct {
	Assay  string  `json:"assay"`
	Value  string  `json:"value"`
	Unit   string  `json:"unit,omitempty"`
	Method string  `json:"method,omitempty"`
	Tested string  `json:"tested,omitempty"`
	Seen   *uint64 `json:"seen,omitempty"`
}

// approve is `release approve` for u: the role, then every check of the
// decision (CheckApproval), then the passwords — QA's, and for an
// exceptional release the physician's — which Approve checks and records,
// an exceptional release's under the login's limits of addr (the
// request's) and the physician's name (limitedCoSign).
func (s *Server) approve(addr string, u audit.User, ref string, req ApproveRequest) (release.Disposition, error) {
	if err := audit.Authorize(u, audit.ReleaseApprove); err != nil {
		return release.Disposition{}, err
	}
	a := release.Approval{Lot: trim(ref), Spec: trim(req.Spec), QA: u.Name, Exception: req.Exception,
		Patient: trim(req.Patient), Reason: req.Reason, Physician: trim(req.Physician), Seen: req.Seen, Shown: trim(req.SpecShown)}
	if err := s.cfg.Releases.CheckApproval(a); err != nil {
		return release.Disposition{}, err
	}
	if req.Password == "" {
		return release.Disposition{}, lot.Errorf(lot.EUSAGE, "password is empty; type your password to sign the release — nothing was signed")
	}
	if a.Exception && req.PhysicianPassword == "" {
		return release.Disposition{}, lot.Errorf(lot.EUSAGE, "the physician's password is empty; physician %s co-signs an exceptional release with their password — nothing was signed", a.Physician)
	}
	a.Password, a.PhysicianPassword = req.Password, req.PhysicianPassword
	return s.approveLimited(addr, a)
}

// approveLimited is Approve, an exceptional release's under the login's
// limits of addr and the physician's name (limitedCoSign).
func (s *Server) approveLimited(addr string, a release.Approval) (d release.Disposition, err error) {
	if !a.Exception {
		return s.cfg.Releases.Approve(a)
	}
	err = s.limitedCoSign(addr, "physician", a.Physician, func() (err error) {
		d, err = s.cfg.Releases.Approve(a)
		return err
	})
	return d, err
}

// reject is `release reject` for u.
func (s *Server) reject(u audit.User, ref string, req RejectRequest) (release.Disposition, error) {
	if err := audit.Authorize(u, audit.ReleaseReject); err != nil {
		return release.Disposition{}, err
	}
	if err := s.cfg.Releases.CheckReject(u.Name, trim(ref), req.Reason, req.Seen); err != nil {
		return release.Disposition{}, err
	}
	if req.Password == "" {
		return release.Disposition{}, lot.Errorf(lot.EUSAGE, "password is empty; type your password to sign the rejection — nothing was signed")
	}
	return s.cfg.Releases.Reject(u.Name, req.Password, trim(ref), req.Reason, req.Seen)
}

// recordResult is `release result` (a new result; corrections and voids
// are still the command line's) for u.
func (s *Server) recordResult(u audit.User, ref string, req ResultRequest) (release.Result, []release.Requarantine, error) {
	if err := audit.Authorize(u, audit.ReleaseResult); err != nil {
		return release.Result{}, nil, err
	}
	if trim(req.Assay) == "" {
		return release.Result{}, nil, lot.FieldErrorf("assay", lot.EUSAGE, "assay is empty; choose the assay the result is for")
	}
	if trim(req.Value) == "" {
		return release.Result{}, nil, lot.FieldErrorf("value", lot.EUSAGE, "value is empty; type the result (a number, or a word such as pass or negative)")
	}
	e := release.Entry{Assay: trim(req.Assay), Value: trim(req.Value), Unit: trim(req.Unit), Method: req.Method, Seen: req.Seen}
	if t := trim(req.Tested); t != "" {
		var err error
		if e.Tested, err = lot.ParseDate("tested", t); err != nil {
			return release.Result{}, nil, lot.OnField("tested", err)
		}
	}
	return s.cfg.Releases.RecordResult(u.Name, trim(ref), e, 0, "")
}
