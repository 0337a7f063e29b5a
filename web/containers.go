package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// The container page: one container, reached from its lot's list or by
// scanning its code (the printed code or the label's barcode data), with
// its journey and the custody moves of `celltrack container …` that the
// user's role may make and its state allows, and the label forms of
// `celltrack label …` for the lab. Every move is the custody service's,
// with its rules, permissions and audit entries.

// custodyMove is one move of a container as the page offers it.
type custodyMove struct {
	Name   string // the path's action and the command: "store"
	To     lot.ContainerState
	Action audit.Action
}

var custodyMoves = []custodyMove{
	{"store", lot.Stored, audit.ContainerStore},
	{"ship", lot.Shipped, audit.ContainerShip},
	{"receive", lot.Received, audit.ContainerReceive},
	{"thaw", lot.Thawed, audit.ContainerThaw},
	{"dispense", lot.Dispensed, audit.ContainerDispense},
	{"return", lot.Returned, audit.ContainerReturn},
	{"quarantine", lot.Quarantined, audit.ContainerQuarantine},
	{"discard", lot.Discarded, audit.ContainerDiscard},
}

// moveForm is what a move's form keeps after a refusal (never a password:
// moves take none).
type moveForm struct {
	Move                                  string
	Location, Site, Courier, Condition    string
	Excursion, Viability, ViableCells, At string
	Patient, Reason                       string
}

// containerData is the container page.
type containerData struct {
	C         lot.Container
	URL       string
	Lot       lot.Lot
	LotURL    string
	LotStatus string
	Patient   string
	Events    [][]string
	// Can holds the moves offered: the role may make them here (a nurse
	// only at a clinic: audit.AuthorizeAtSite) and the state machine
	// allows them now (lot.CheckMove, and an arrival with a temperature
	// excursion forbids store and thaw: lot.CheckAfterReceipt).
	Can      map[string]bool
	AnyMove  bool
	Sites    []lot.Site
	ShipTo   []lot.Site // every site but the one the container is at
	Entry    moveForm
	Excursed bool

	// The label forms, for the lab.
	CanPrint, CanApply, CanVoid bool
	LabelRole                   bool
	Labels                      lot.LabelCount
	// LabelSeen is the state of the container and its labels the label
	// forms carry (audit.SeenField, labelSeenOf).
	LabelSeen string
	LabelNote string
	// Seen is the container's state the custody forms carry
	// (audit.SeenField, seenOf).
	Seen string

	Done     string
	DoneList []string
}

// scanData is the scan page: a container code to look up.
type scanData struct{ Code string }

// containersPage looks a container up by its scanned or typed code and
// sends the browser to its page.
func (s *Server) containersPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	code := trim(r.URL.Query().Get("code"))
	p := pageData{Title: "Containers", User: u, Nav: "containers", Data: scanData{Code: code}}
	if code == "" {
		s.render(w, http.StatusOK, "containers", p)
		return
	}
	c, err := s.findContainer(u, code)
	if err != nil {
		err = s.logError(r, err)
		p.Error = lot.ErrorMessage(err)
		s.render(w, statusOf(w, err), "containers", p)
		return
	}
	http.Redirect(w, r, containerURL(c), http.StatusSeeOther)
}

// findContainer reads a container for a user who may read.
func (s *Server) findContainer(u audit.User, ref string) (lot.Container, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return lot.Container{}, err
	}
	if err := lot.ValidateText("container", ref, true); err != nil {
		return lot.Container{}, err
	}
	return s.cfg.Lots.Container(ref)
}

// containerPageData reads everything the container page shows for u.
func (s *Server) containerPageData(u audit.User, ref string) (containerData, error) {
	c, err := s.findContainer(u, ref)
	if err != nil {
		return containerData{}, err
	}
	c, es, err := s.cfg.Custody.History(c.ID.String())
	if err != nil {
		return containerData{}, err
	}
	l, err := s.cfg.Lots.Lot(c.LotID.String())
	if err != nil {
		return containerData{}, err
	}
	d := containerData{C: c, URL: containerURL(c), Lot: l, LotURL: lotURL(l), LotStatus: l.StatusText(s.cfg.Now(), s.restrictedTo(l)), Can: map[string]bool{}}
	if c.PatientID != uuid.Nil {
		d.Patient = s.patientMRN(c.PatientID)
		if p, err := s.cfg.Lots.Patient(c.PatientID.String()); err == nil {
			d.Patient += " (" + p.Name + ")"
		}
	}
	if d.Seen, err = s.seenOf(c.ID); err != nil {
		return d, err
	}
	var last lot.Event
	for i, e := range es {
		from := ""
		if i > 0 {
			from = es[i-1].Custodian
		}
		d.Events = append(d.Events, s.eventLine(e, from))
		last = e
	}
	if d.Sites, err = s.cfg.Custody.Sites(); err != nil {
		return d, err
	}
	site, home := c.Site, false // where the move happens: containers start at the home site
	for _, st := range d.Sites {
		if st.Home && site == "" {
			site = st.Code
		}
	}
	for _, st := range d.Sites {
		home = home || st.Home && st.Code == site
		if st.Code != site {
			d.ShipTo = append(d.ShipTo, st)
		}
	}
	for _, m := range custodyMoves {
		if !audit.Allowed(u.Role, m.Action) || audit.AuthorizeAtSite(u, m.Action, site, home) != nil ||
			lot.CheckMove(c, m.To) != nil || lot.CheckAfterReceipt(c, last, m.To) != nil {
			continue
		}
		d.Can[m.Name], d.AnyMove = true, true
	}
	d.Excursed = c.State == lot.Received && lot.CheckAfterReceipt(c, last, lot.Thawed) != nil
	d.Entry.Site = c.Site // the receiving site: where it was shipped to
	d.LabelRole = audit.Allowed(u.Role, audit.LabelPrint) || audit.Allowed(u.Role, audit.LabelApply) || audit.Allowed(u.Role, audit.LabelVoid)
	if d.LabelRole {
		if d.Labels, err = s.containerLabels(c); err != nil {
			return d, err
		}
		if d.LabelSeen, err = s.labelSeenOf(nil, []lot.Container{c}, []lot.LabelCount{d.Labels}); err != nil {
			return d, err
		}
		d.CanPrint = audit.Allowed(u.Role, audit.LabelPrint) && lot.CheckLabel(c) == nil
		d.CanApply = audit.Allowed(u.Role, audit.LabelApply) && lot.CheckApply(c, d.Labels) == nil
		d.CanVoid = audit.Allowed(u.Role, audit.LabelVoid) && d.Labels.Unused() > 0
		if err := lot.CheckLabel(c); err != nil {
			d.LabelNote = lot.ErrorMessage(err)
		}
	}
	return d, nil
}

// eventLine is one step of the container's journey: when, the step, who,
// where, custody (from → to) and the step's details, as `container
// history` prints them.
func (s *Server) eventLine(e lot.Event, from string) []string {
	custody := e.Custodian
	if from != "" && from != e.Custodian {
		custody = from + " → " + e.Custodian
	}
	var parts []string
	if e.Location != "" {
		parts = append(parts, "location "+e.Location)
	}
	for _, k := range []struct{ key, label string }{{"to_site", "to"}, {"courier", "courier"}, {"condition", "condition"},
		{"excursion", "excursion"}, {"viability_pct", "viability %"}, {"viable_cells", "viable cells"}, {"patient_mrn", "patient"},
		{"volume_ml", "mL"}, {"cells", "cells"}, {"witness", "witness"}, {"infusion", "infusion"}} {
		x, ok := e.Details[k.key]
		if !ok {
			continue
		}
		// An event keeps the MRN it was recorded with; a patient whose
		// MRN was corrected since is named by the MRN now as well.
		if k.key == "patient_mrn" && e.PatientID != uuid.Nil {
			if now := s.patientMRN(e.PatientID); now != x {
				x = now + " (recorded as " + x + ")"
			}
		}
		parts = append(parts, k.label+" "+x)
	}
	if e.Reason != "" {
		parts = append(parts, "reason: "+e.Reason)
	}
	return []string{lot.FormatTime(e.At), string(e.To), e.By, e.Site, custody, strings.Join(parts, "; ")}
}

// containerPage shows one container, for every user; the forms only to the
// roles that may use them, and the moves only when the state allows them.
func (s *Server) containerPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	s.showContainer(w, r, u, nil, http.StatusOK, nil)
}

// showContainer renders the container page with a refusal (status) or what
// was just done; keep fills the forms back in after a refusal.
func (s *Server) showContainer(w http.ResponseWriter, r *http.Request, u audit.User, refusal error, status int, keep func(*containerData)) {
	p := pageData{Title: "Container", User: u, Nav: "containers"}
	d, err := s.containerPageData(u, r.PathValue("ref"))
	if err != nil {
		err = s.logError(r, err)
		// A refusal (a role that may not) is what the POST is answered
		// with, even when the container it named cannot be shown either.
		if refusal != nil {
			err = refusal
		}
		p.Error = lot.ErrorMessage(err)
		p.Data = scanData{Code: r.PathValue("ref")}
		s.render(w, statusOf(w, err), "containers", p)
		return
	}
	if refusal != nil {
		p.Error = lot.ErrorMessage(refusal) + " — nothing was recorded"
	}
	if keep != nil {
		keep(&d)
	}
	p.Title = "Container " + d.C.Code()
	p.Data = d
	s.render(w, status, "container", p)
}

// containerPost makes a custody move, or prints, applies or voids a label,
// as the command of the same name does: a role that may not is refused
// before any value is read; the service runs every rule and writes the
// audit entry.
func (s *Server) containerPost(w http.ResponseWriter, r *http.Request, u audit.User) {
	action := r.PathValue("action")
	if strings.HasPrefix(action, "label-") {
		s.labelPost(w, r, u, strings.TrimPrefix(action, "label-"))
		return
	}
	var mv *custodyMove
	for i := range custodyMoves {
		if custodyMoves[i].Name == action {
			mv = &custodyMoves[i]
		}
	}
	if mv == nil {
		s.showContainer(w, r, u, lot.Errorf(lot.ENOTFOUND, "%q is not a custody move; the moves are store, ship, receive, thaw, dispense, return, quarantine and discard", action), http.StatusNotFound, nil)
		return
	}
	if err := audit.Authorize(u, mv.Action); err != nil {
		s.showContainer(w, r, u, err, statusOf(w, err), nil)
		return
	}
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	in := moveForm{Move: mv.Name, Location: f.Get("location"), Site: trim(f.Get("site")), Courier: f.Get("courier"), Condition: f.Get("condition"),
		Excursion: trim(f.Get("excursion")), Viability: trim(f.Get("viability")), ViableCells: trim(f.Get("viable_cells")), At: trim(f.Get("at")),
		Patient: trim(f.Get("patient")), Reason: f.Get("reason")}
	// The container is named by the page's path; its UUID is what the
	// service is given, so a code and its barcode form are one container.
	err := formFor(f, u, mv.Action)
	var c lot.Container
	if err == nil {
		c, err = s.findContainer(u, r.PathValue("ref"))
	}
	var seen *uint64
	if err == nil {
		seen, err = formSeen(f)
	}
	if err == nil {
		c, err = s.move(u, c.ID.String(), mv.To, in, seen)
	}
	if err != nil {
		err = s.logError(r, err)
		s.showContainer(w, r, u, err, statusOf(w, err), func(d *containerData) { d.Entry = in })
		return
	}
	s.showContainer(w, r, u, nil, http.StatusOK, func(d *containerData) {
		d.Done = "Container " + c.Code() + " is " + string(c.State) + " at site " + c.Site + "; custodian " + c.Custodian
	})
}

// containerLabels is the label count of c, as `label reconcile` counts it.
func (s *Server) containerLabels(c lot.Container) (lot.LabelCount, error) {
	_, cs, ns, err := s.cfg.Labels.Reconcile(c.LotID.String())
	if err != nil {
		return lot.LabelCount{}, err
	}
	for i := range cs {
		if cs[i].ID == c.ID {
			return ns[i], nil
		}
	}
	return lot.LabelCount{}, nil
}

// labelSeenOf is the state of labels as their forms carry it
// (audit.SeenField): the number of the latest audit entry about the lot l
// (nil: a container's page), the containers cs or their label records
// (counts, of cs in order), which the store reads again (labelsSeen) when
// the form is sent.
func (s *Server) labelSeenOf(l *lot.Lot, cs []lot.Container, counts []lot.LabelCount) (string, error) {
	ids := make([]uuid.UUID, 0, 1+2*len(cs))
	if l != nil {
		ids = append(ids, l.ID)
	}
	for i, c := range cs {
		ids = append(ids, c.ID)
		if counts[i].ID != uuid.Nil {
			ids = append(ids, counts[i].ID)
		}
	}
	return s.seenOf(ids...)
}

// move makes one custody move, reading the form as the command reads its
// flags, with the container's state the form was shown with (seen), which
// the store checks in its writing transaction.
func (s *Server) move(u audit.User, id string, to lot.ContainerState, in moveForm, seen *uint64) (lot.Container, error) {
	m := lot.Move{To: to, Seen: seen}
	switch to {
	case lot.Stored:
		m.Location = in.Location
	case lot.Shipped:
		m.Site, m.Courier, m.Condition = in.Site, in.Courier, in.Condition
	case lot.Received:
		m.Site, m.Condition, m.Excursion = in.Site, in.Condition, in.Excursion
	case lot.Thawed:
		var err error
		if m.Thaw.Viability, err = lot.ParsePercent("viability", in.Viability); err != nil {
			return lot.Container{}, err
		}
		if m.Thaw.ViableCells, err = lot.ParseCells("viable cells", in.ViableCells); err != nil {
			return lot.Container{}, err
		}
		if in.At != "" {
			if m.Thaw.At, err = lot.ParseTime("thawed at", in.At); err != nil {
				return lot.Container{}, err
			}
		}
	case lot.Dispensed:
		m.Patient = in.Patient
	case lot.Returned, lot.Quarantined, lot.Discarded:
		m.Reason = in.Reason
	default:
		return lot.Container{}, lot.Errorf(lot.EINVALID, "%q is not a custody move", to)
	}
	return s.cfg.Custody.Move(u.Name, id, m)
}

// labelPost prints (a PDF download), applies or voids a container's label.
func (s *Server) labelPost(w http.ResponseWriter, r *http.Request, u audit.User, what string) {
	actions := map[string]audit.Action{"print": audit.LabelPrint, "apply": audit.LabelApply, "void": audit.LabelVoid}
	action, ok := actions[what]
	if !ok {
		s.showContainer(w, r, u, lot.Errorf(lot.ENOTFOUND, "label %q is not a label action; the label is printed, applied or voided", what), http.StatusNotFound, nil)
		return
	}
	if err := audit.Authorize(u, action); err != nil {
		s.showContainer(w, r, u, err, statusOf(w, err), nil)
		return
	}
	if !s.form(w, r) {
		return
	}
	reason := r.PostForm.Get("reason")
	err := formFor(r.PostForm, u, action)
	var c lot.Container
	if err == nil {
		c, err = s.findContainer(u, r.PathValue("ref"))
	}
	if err != nil {
		s.showContainer(w, r, u, err, statusOf(w, err), nil)
		return
	}
	seen, err := formSeen(r.PostForm)
	var n lot.LabelCount
	switch {
	case err != nil:
	case action == audit.LabelPrint:
		var pdf []byte
		var name string
		if pdf, name, err = s.printLabels(u, c.Code(), true, seen); err == nil {
			sendPDF(w, pdf, name)
			return
		}
	case action == audit.LabelApply:
		n, err = s.cfg.Labels.Apply(u.Name, c.ID.String(), seen)
	default:
		n, err = s.cfg.Labels.Void(u.Name, c.ID.String(), reason, seen)
	}
	if err != nil {
		err = s.logError(r, err)
		s.showContainer(w, r, u, err, statusOf(w, err), func(d *containerData) { d.Entry.Reason = reason })
		return
	}
	done := map[string]string{"apply": "applied", "void": "voided"}[what]
	s.showContainer(w, r, u, nil, http.StatusOK, func(d *containerData) {
		d.Done = "Label " + done + " on container " + c.Code() + ": printed " + strconv.Itoa(n.Printed) + ", applied " + strconv.Itoa(n.Applied) +
			", voided " + strconv.Itoa(n.Voided) + ", unused " + strconv.Itoa(n.Unused())
	})
}
