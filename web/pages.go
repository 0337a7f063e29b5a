package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/google/uuid"
)

// pageNames are the templates of templates/, each rendered inside base.html.
var pageNames = []string{"login", "bedside", "recorded", "reaction", "reaction_form", "trace", "lots", "lot", "lot_missing", "register", "accounts", "password"}

// funcs are the templates' helpers: dates and times as the command line
// prints them.
var funcs = template.FuncMap{
	"fmtDate":  lot.FormatDate,
	"fmtTime":  lot.FormatTime,
	"upper":    func(v any) string { return strings.ToUpper(fmt.Sprint(v)) },
	"lookBack": lookBack,
	// seg escapes a record's name as one segment of a path (PathSegment).
	"seg": PathSegment,
	// allowed: whether a role may take an action (audit.Permissions), so
	// that a page offers only what the user may do.
	"allowed": func(r audit.Role, a string) bool { return audit.Allowed(r, audit.Action(a)) },
}

func parsePages() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, n := range pageNames {
		m[n] = template.Must(template.New(n).Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/partials.html", "templates/"+n+".html"))
	}
	return m
}

// pageData is what every page shows: its title, the logged-in user (zero on
// the login page), the menu entry it is, a refusal to show, and its own data.
type pageData struct {
	Title string
	User  audit.User
	Nav   string
	Error string
	Data  any
	// Migrated is the note of a database migrated to the other engine,
	// shown on every page (render sets it).
	Migrated string
}

// migratedNote is Config.Migrated's note, "" when there is none to say.
func (s *Server) migratedNote() (string, error) {
	if s.cfg.Migrated == nil {
		return "", nil
	}
	return s.cfg.Migrated()
}

// render executes a page in full before writing, so a template error never
// sends half a page. A page of a database migrated away says so at its top:
// what it shows is the old copy, and where to work instead.
func (s *Server) render(w http.ResponseWriter, status int, name string, p pageData) {
	if note, err := s.migratedNote(); err == nil {
		p.Migrated = note
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "base", p); err != nil {
		s.cfg.Log.Printf("render %s: %v", name, err)
		http.Error(w, "internal error: the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// page wraps a page handler: without a valid session it sends the browser
// to the login page.
func (s *Server) page(fn func(w http.ResponseWriter, r *http.Request, u audit.User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.currentUser(w, r)
		if err != nil {
			if r.Method == http.MethodGet && lot.ErrorCode(err) == lot.ESESSION {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.render(w, statusOf(w, err), "login", pageData{Title: "Log in",
				Error: s.message(err) + " — nothing was done", Data: loginData{}})
			return
		}
		fn(w, r, u)
	}
}

// form parses a posted form; false when it was refused (answered already).
func (s *Server) form(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		var m *http.MaxBytesError
		if errors.As(err, &m) {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, tooLarge(m.Limit, ""))
		} else {
			s.refuse(w, r, http.StatusBadRequest, lot.Errorf(lot.EUSAGE, "the form could not be read: %v", err))
		}
		return false
	}
	return true
}

type loginData struct{ User string }

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login", pageData{Title: "Log in", Data: loginData{}})
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	if !s.form(w, r) {
		return
	}
	name := r.PostForm.Get("user")
	res, err := s.login(w, r, name, r.PostForm.Get("password"))
	if lot.ErrorCode(err) == lot.EPASSWORD {
		// The right password, which must be changed: the change is all
		// this person is offered, as `celltrack login` asks for it.
		shown := ""
		if a, err := s.account(name); err == nil {
			shown = passwordSet(a)
		}
		s.renderExpired(w, name, shown, http.StatusForbidden, nil)
		return
	}
	if err != nil {
		s.render(w, statusOf(w, err), "login", pageData{Title: "Log in", Error: s.message(err), Data: loginData{User: name}})
		return
	}
	http.Redirect(w, r, landing(res.User), http.StatusSeeOther)
}

// landing is the page a user starts on: the bedside for those who may
// record an infusion, the lots for the lab and QA, the traces for everyone
// else.
func landing(u audit.User) string {
	switch {
	case audit.Allowed(u.Role, audit.DoseAdminister):
		return "/bedside"
	case audit.Allowed(u.Role, audit.ReleaseApprove), audit.Allowed(u.Role, audit.ReleaseResult):
		return "/lots"
	}
	return "/trace"
}

func (s *Server) logoutPost(w http.ResponseWriter, r *http.Request) {
	s.logout(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// bedsideData is the bedside page: the patient, the bags in hand, and once
// both are known the check's report.
type bedsideData struct {
	MRN string
	// Patient is who the MRN names, to check against the wristband:
	// name, date of birth and sex (and the current MRN after a correction).
	Patient           string
	Bags              []string
	VolumeML          string
	Report            *dose.Report
	Weight, Deviation string
	CanAdminister     bool
	// Signing is a GO shown to one who may record it: the page has the
	// sign form, which owns the volume field.
	Signing bool
	// Shown is the dose a GO check shows, carried by the sign form so that
	// the signatures bind it (dose.Shown).
	Shown dose.ShownView
	// Witness is the witness's user name typed on a refused signature.
	Witness           string
	MeaningAdminister string
	MeaningWitness    string
}

func (s *Server) bedsideData(u audit.User, mrn string, bags []string, vol string) bedsideData {
	return bedsideData{MRN: mrn, Bags: bags, VolumeML: vol, CanAdminister: audit.Allowed(u.Role, audit.DoseAdminister),
		MeaningAdminister: dose.MeaningAdminister, MeaningWitness: dose.MeaningWitness}
}

func (s *Server) bedsidePage(w http.ResponseWriter, r *http.Request, u audit.User) {
	s.render(w, http.StatusOK, "bedside", pageData{Title: "Bedside check", User: u, Nav: "bedside", Data: s.bedsideData(u, "", nil, "")})
}

// bedsideCheck runs the check. A scan replaces the bags in hand (the wrong
// bag scanned first is gone when the right one is scanned); "Add as another
// bag" keeps them, for a dose drawn from several bags. A wedge scanner's
// Enter after the wristband submits the MRN alone: the page then asks for
// the bag.
func (s *Server) bedsideCheck(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	mrn, vol := trim(f.Get("mrn")), trim(f.Get("volume_ml"))
	held := bags(f["bag"])
	scan := bags([]string{f.Get("scan")})
	for _, code := range scan {
		// A mis-scan is refused on its own and the bags in hand stay:
		// it must not replace the right bag, nor stick in the list. The
		// check is not run again under it: a refused scan never leaves
		// a verdict on the screen — the GO shown before it may be
		// another patient's, and the nurse stands at the bed scanned.
		if _, err := s.cfg.Lots.Container(code); err != nil {
			err = s.scannedWristband(mrn, code, err)
			s.showScan(w, u, mrn, held, vol, "scanned "+s.message(err), statusOf(w, err))
			return
		}
	}
	switch {
	case f.Get("op") == "add":
		held = append(held, scan...)
	case len(scan) > 0:
		held = scan
	}
	d := s.bedsideData(u, mrn, held, vol)
	// "Check this volume" sends the sign form here: the volume typed is
	// checked and kept, and the witness's name stays for the signature
	// (the passwords it carries are not read; nothing is recorded).
	d.Witness = trim(f.Get("witness"))
	s.bedside(w, u, d, "", http.StatusOK, true)
}

// scannedWristband is the refusal of a scan into the bag field that is no
// container (err, the container lookup's) when it is a patient's MRN: a
// wristband, which the nurse must be told is one — whose, and that the
// check on the page is for patient mrn — not that it is a malformed DIN.
// Any other scan keeps err.
func (s *Server) scannedWristband(mrn, code string, err error) error {
	pt, perr := s.cfg.Lots.Patient(code)
	if perr != nil {
		return err
	}
	cur, cerr := s.cfg.Lots.Patient(mrn)
	if cerr == nil && cur.ID == pt.ID {
		return lot.FieldErrorf("scan", lot.EINVALID, "%s is the wristband of %s, the patient of this check, not a bag; scan the label of the bag in your hand", code, pt.Name)
	}
	return lot.FieldErrorf("scan", lot.EINVALID, "%s is the wristband of %s, not a bag; this check is for %s %s — press Another patient to start %s's check", code, pt.Name, mrn, cur.Name, pt.Name)
}

// showScan renders the page of a refused scan: the patient and the bags in
// hand, without running the check (no verdict under the refusal).
func (s *Server) showScan(w http.ResponseWriter, u audit.User, mrn string, held []string, vol, refusal string, status int) {
	s.bedside(w, u, s.bedsideData(u, mrn, held, vol), refusal, status, false)
}

// bedside renders the page d, running the check when run (and the patient
// and a bag are known).
func (s *Server) bedside(w http.ResponseWriter, u audit.User, d bedsideData, refusal string, status int, run bool) {
	mrn, held, vol := d.MRN, d.Bags, d.VolumeML
	p := pageData{Title: "Bedside check", User: u, Nav: "bedside", Error: refusal}
	if mrn != "" {
		pt, err := s.cfg.Lots.Patient(mrn)
		if err != nil {
			// An unknown wristband is said at once, not after a bag is
			// scanned; the page asks for the wristband again.
			if p.Error == "" {
				p.Error, status = s.message(err), statusOf(w, err)
			}
			d.MRN, d.Bags = "", nil
			p.Data = d
			s.render(w, status, "bedside", p)
			return
		}
		d.Patient = patientLine(mrn, pt)
	}
	if mrn != "" && len(held) > 0 && run {
		rep, err := s.check(CheckRequest{MRN: mrn, Containers: held, VolumeML: vol})
		if err != nil {
			if p.Error == "" {
				p.Error, status = s.message(err), statusOf(w, err)
			}
		} else {
			d.Report = &rep
			d.Weight = rep.Weight.Grams.String() + ", measured " + lot.FormatTimeIn(rep.Weight.MeasuredAt, rep.Zone) + " by " + rep.Weight.RecordedBy
			d.Deviation = dose.FormatDeviation(rep.Calc.Deviation)
			if rep.GO {
				d.Shown = dose.ViewShown(dose.ShownBy(rep))
				d.Signing = d.CanAdminister
			}
			// A NO-GO is the page's answer, not a failed request: 200.
		}
	} else if mrn == "" && len(held) > 0 {
		p.Error, d.Bags = "scan the patient's wristband (MRN) first, then the bag", nil
	}
	p.Data = d
	s.render(w, status, "bedside", p)
}

// patientLine is who the MRN mrn names, to read against the wristband:
// name, date of birth and sex, and the current MRN after a correction.
func patientLine(mrn string, pt lot.Patient) string {
	line := pt.Name + ", born " + lot.FormatDate(pt.Born) + ", sex " + string(pt.Sex)
	if !strings.EqualFold(pt.MRN, mrn) { // mrn-1001 is MRN-1001's wristband in another case, not a corrected MRN
		line += " (MRN now " + pt.MRN + ")"
	}
	return line
}

// recordedData is the recorded infusion, with the patient it was given to
// (Patient, patientLine) for the nurse to read back; its times (Start, End
// and the signatures') are local to the treating site, as the bedside
// check's.
type recordedData struct {
	MRN, Patient         string
	Infusion             dose.Infusion
	Start, End           string
	NurseSig, WitnessSig string
	CanReact             bool
	Form                 reactionForm
}

// reactionForm is what the reaction form carries: the infusion and patient,
// and Known, the number of the infusion's last reaction when the form was
// shown (0: none). A reaction recorded since — the same form sent twice, by
// a double click or a refresh — makes the form's send a refusal, not a
// second record; a new reaction is recorded from the form shown after it.
type reactionForm struct {
	Infusion, MRN string
	Known         int
	// Signer is the user the form is shown to, in whose name it records
	// (signerField): one shown to nina and sent after pat logged in in
	// another tab is refused, not recorded as pat's (review 10).
	Signer string
	// Grade and Text are what was typed, kept on a refused form; Patient
	// names whose infusion it is (the name the MRN is registered to).
	Grade, Text, Patient string
}

type reactionData struct {
	MRN      string
	Reaction dose.Reaction
	At       string
	Form     reactionForm
}

func (s *Server) bedsideAdminister(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	req := AdministerRequest{CheckRequest: CheckRequest{MRN: f.Get("mrn"), Containers: f["bag"], VolumeML: f.Get("volume_ml")},
		Password: f.Get("password"), Witness: f.Get("witness"), WitnessPassword: f.Get("witness_password"),
		Shown: &dose.ShownView{WeightID: f.Get("shown_weight"), VolumeML: f.Get("shown_ml"), Cells: f.Get("shown_cells")},
		// A form from before the page carried the dose, or one made by
		// hand, names no dose: nothing it could sign was shown.
		noShown: lot.Errorf(lot.EUSAGE, "this form does not say which dose you were shown; nothing was signed — check the bags again and sign on the GO page")}
	if *req.Shown == (dose.ShownView{}) {
		req.Shown = nil
	}
	var in dose.Infusion
	var rep dose.Report
	err := signerOf(f, u, audit.DoseAdminister)
	if err == nil && req.Shown != nil {
		err = typedVolumeShown(req.VolumeML, req.Shown.VolumeML)
	}
	if err == nil {
		in, rep, err = s.administer(clientAddr(r), u, req)
	}
	if err != nil {
		err = s.logError(r, err)
		// The passwords are typed again; the witness's name stays, as
		// the physician's does on the QA exception form.
		d := s.bedsideData(u, trim(req.MRN), bags(req.Containers), trim(req.VolumeML))
		d.Witness = trim(req.Witness)
		s.bedside(w, u, d, lot.ErrorMessage(err), statusOf(w, err), true)
		return
	}
	rd := recordedData{MRN: trim(req.MRN), Infusion: in, Start: lot.FormatTimeIn(in.Start, rep.Zone), End: lot.FormatTimeIn(in.End, rep.Zone),
		NurseSig: in.Nurse.StringIn(rep.Zone), WitnessSig: in.Witness.StringIn(rep.Zone),
		CanReact: audit.Allowed(u.Role, audit.DoseReaction), Form: reactionForm{Infusion: in.ID.String(), MRN: trim(req.MRN), Signer: u.Name}}
	if pt, err := s.cfg.Lots.Patient(rd.MRN); err != nil {
		// The infusion is recorded: a failed look-up of the name is
		// said in its place, beside the MRN and the bags.
		rd.Patient = "the patient's name could not be read: " + s.message(err)
	} else {
		rd.Patient = patientLine(rd.MRN, pt)
	}
	s.render(w, http.StatusOK, "recorded", pageData{Title: "Infusion recorded", User: u, Nav: "bedside", Data: rd})
}

// typedVolumeShown refuses a signature sent with a volume in the page's
// volume field (typed, "" for the computed one) other than the volume of
// the dose the page showed (shown): the volume on the screen when signing
// is the one signed, so a volume typed after the check is never recorded
// without its check being read, nor the computed one recorded in its place.
// The page is then shown with the check for the volume typed.
func typedVolumeShown(typed, shown string) error {
	typed = trim(typed)
	if typed == "" {
		return nil
	}
	t, err := dose.ParseVolume("volume (mL)", typed)
	if err != nil {
		return lot.OnField("volume_ml", err)
	}
	if v, err := dose.ParseVolume("shown volume", shown); err == nil && v == t {
		return nil
	}
	return lot.FieldErrorf("volume_ml", lot.ECONFLICT, "the volume field says %s mL, but the dose you were shown is for %s mL; nothing was signed — the page now shows the check for %s mL: read it, then sign again", t, shown, t)
}

// reactionsOf returns the patient's infusion and its reactions, refusing a
// reaction form whose infusion is not one of the patient's it names: the
// page would confirm a reaction for one patient while the record went to
// another's infusion.
func (s *Server) reactionsOf(mrn, infusion string) (dose.Infusion, []dose.Reaction, error) {
	ins, rcs, err := s.cfg.Doses.Infusions(mrn)
	if err != nil {
		return dose.Infusion{}, nil, err
	}
	for _, in := range ins {
		if in.ID.String() == infusion {
			return in, rcs[in.ID], nil
		}
	}
	return dose.Infusion{}, nil, lot.Errorf(lot.ECONFLICT, "infusion %s is not an infusion of patient %s; nothing was recorded — open the reaction form from the patient's recorded infusion", infusion, mrn)
}

// bedsideReaction records an adverse reaction to an infusion, as `dose
// reaction` does, and sends the browser on to the recorded reaction's page
// (post/redirect/get: a refresh there shows it again, it does not send the
// form again). A refusal is shown above the form, which keeps its place.
func (s *Server) bedsideReaction(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	form := reactionForm{Infusion: trim(f.Get("infusion")), MRN: trim(f.Get("mrn")), Signer: u.Name}
	grade, err := parseGrade(f.Get("grade"))
	if err == nil && audit.Authorize(u, audit.DoseReaction) == nil {
		// a role that may not record reactions is refused for that (403)
		err = formShownTo(f, u, "whom it was shown to", "nothing was recorded", "record the reaction there")
	}
	if k := trim(f.Get("known")); err == nil && k != "" {
		// A form without it (one from before the forms carried it, or
		// made by hand) knew of no reaction.
		if form.Known, err = strconv.Atoi(k); err != nil {
			err = lot.FieldErrorf("known", lot.EUSAGE, "this form's count of known reactions %q is not a number; nothing was recorded — open the reaction form again from the patient's recorded infusion", k)
		}
	}
	if err == nil {
		// The patient the page names must be the infusion's; the store
		// checks what the form knew of as it records.
		_, _, err = s.reactionsOf(form.MRN, form.Infusion)
	}
	var rc dose.Reaction
	if err == nil {
		rc, err = s.reaction(u, ReactionRequest{Infusion: form.Infusion, Grade: grade, Text: f.Get("text"), Known: &form.Known})
	}
	if err != nil {
		err = s.logError(r, err)
		if _, rcs, rerr := s.reactionsOf(form.MRN, form.Infusion); rerr == nil {
			// The form shown again knows what is recorded now.
			form.Known = dose.LastReaction(rcs).Seq
		}
		// A grade-3 reaction described in a hurry is not to be retyped
		// from memory, on a page that must say whose infusion it is.
		form.Grade, form.Text = trim(f.Get("grade")), f.Get("text")
		form.Patient = s.patientName(form.MRN)
		s.render(w, statusOf(w, err), "reaction_form", pageData{Title: "Reaction", User: u, Nav: "bedside", Error: lot.ErrorMessage(err), Data: form})
		return
	}
	http.Redirect(w, r, reactionURL(form.MRN, form.Infusion, rc.Seq), http.StatusSeeOther)
}

// patientName is the name of the patient mrn names, "" when none does.
func (s *Server) patientName(mrn string) string {
	pt, err := s.cfg.Lots.Patient(mrn)
	if err != nil {
		return ""
	}
	return pt.Name
}

// reactionURL is the page of reaction seq to the patient's infusion.
func reactionURL(mrn, infusion string, seq int) string {
	return "/bedside/reaction?" + url.Values{"mrn": {mrn}, "infusion": {infusion}, "reaction": {strconv.Itoa(seq)}}.Encode()
}

// bedsideReactionPage shows a recorded reaction, with the form for another.
func (s *Server) bedsideReactionPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	form := reactionForm{Infusion: trim(q.Get("infusion")), MRN: trim(q.Get("mrn")), Signer: u.Name}
	in, rcs, err := s.reactionsOf(form.MRN, form.Infusion)
	var rc dose.Reaction
	if err == nil {
		form.Known = dose.LastReaction(rcs).Seq
		err = lot.FieldErrorf("reaction", lot.ENOTFOUND, "infusion %s of patient %s has no reaction #%s; open the patient's trace to see its reactions", form.Infusion, form.MRN, q.Get("reaction"))
		for _, x := range rcs {
			if strconv.Itoa(x.Seq) == trim(q.Get("reaction")) {
				rc, err = x, nil
			}
		}
	}
	if err != nil {
		err = s.logError(r, err)
		form.Patient = s.patientName(form.MRN)
		s.render(w, statusOf(w, err), "reaction_form", pageData{Title: "Reaction", User: u, Nav: "bedside", Error: lot.ErrorMessage(err), Data: form})
		return
	}
	s.render(w, http.StatusOK, "reaction", pageData{Title: "Reaction recorded", User: u, Nav: "bedside",
		Data: reactionData{MRN: form.MRN, Reaction: rc, At: s.timeOfCourse(form.MRN, in.ScheduleID, rc.At), Form: form}})
}

// timeOfCourse prints t in the zone course schedule of the patient counts
// its days in — the treating site's, as the bedside check and the Recorded
// page print the infusion (review 19 E) — or in the facility's when the
// course cannot be read.
func (s *Server) timeOfCourse(mrn string, schedule uuid.UUID, t time.Time) string {
	if _, cs, err := s.cfg.Doses.Courses(mrn); err == nil {
		for _, c := range cs {
			if c.Schedule.ID == schedule && c.Zone != nil {
				return lot.FormatTimeIn(t, c.Zone)
			}
		}
	}
	return lot.FormatTime(t)
}

type option struct{ Value, Label string }

type download struct{ URL, Label string }

type traceData struct {
	Kinds     []option
	Kind, Ref string
	Report    *report.Report
	Produced  string
	Events    [][]string
	Downloads []download
}

// eventRow is one custody or infusion event as the report's HTML shows it.
func eventRow(e report.Event) []string {
	where := e.Site
	if e.Location != "" {
		where = strings.TrimPrefix(where+", "+e.Location, ", ")
	}
	notes := e.Reason
	if d := e.DetailText(); d != "" {
		notes = strings.TrimPrefix(notes+"; "+d, "; ")
	}
	move := e.Move()
	if e.Kind == report.Infusion {
		move = "infused"
	}
	return []string{lot.FormatTime(e.At), e.Container, move, e.By, e.Custodian, where, e.Patient, notes}
}

var traceKinds = []option{{"lot", "Lot (forward)"}, {"patient", "Patient (backward)"}, {"donor", "Donor (look-back)"}, {"container", "Container"}}

// tracePage shows a trace as text, with a download in every format the
// command line writes. Every role may read traces, as on the command line.
func (s *Server) tracePage(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	d := traceData{Kinds: traceKinds, Kind: q.Get("kind"), Ref: q.Get("ref")}
	if d.Kind == "" {
		d.Kind = "lot"
	}
	p := pageData{Title: "Traces", User: u, Nav: "trace"}
	status := http.StatusOK
	if d.Ref != "" {
		rep, _, err := s.trace(r.Context(), u, d.Kind, d.Ref, "html")
		if err != nil {
			err = s.logError(r, err)
			p.Error, status = lot.ErrorMessage(err), statusOf(w, err)
		} else {
			d.Report, d.Produced = &rep, lot.FormatTime(rep.Produced.At)
			for _, e := range rep.Events {
				d.Events = append(d.Events, eventRow(e))
			}
			for _, f := range report.Formats {
				v := url.Values{"kind": {d.Kind}, "ref": {d.Ref}, "format": {f}}
				d.Downloads = append(d.Downloads, download{URL: "/trace/download?" + v.Encode(), Label: f})
			}
		}
	}
	p.Data = d
	s.render(w, status, "trace", p)
}

func (s *Server) traceDownload(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	traces, err := s.tracesFor(q.Get("full_verify"))
	var rep report.Report
	var format string
	if err == nil {
		rep, format, err = s.traceWith(r.Context(), traces, u, q.Get("kind"), q.Get("ref"), q.Get("format"))
	}
	if err == nil {
		err = s.sendReport(w, rep, format, true)
	}
	if err != nil {
		err = s.logError(r, err)
		http.Error(w, lot.ErrorMessage(err), statusOf(w, err))
	}
}

// signerField is the hidden input of every page form that asks the
// session's user for their password (a signature, a password change): the
// user the form was shown to, whose name its label prints. One browser has
// one cookie, so a form left open in one tab is sent under whoever logged
// in since in another; without it the password typed by the person the
// form named would be checked, and counted or signed, as someone else's.
const signerField = "signer"

// formSigner refuses, before any password is checked, a form shown to
// another user than the session's, or one that names nobody (a form made
// by hand, or one from before the forms carried it).
func formSigner(f url.Values, u audit.User) error {
	return formShownTo(f, u, "whose password it asks for", "nothing was signed and no password was checked", "sign there")
}

// formShownTo refuses a form shown to another user than the session's, or
// one that names nobody, in the words of what the form does: asks (what
// the form does not say), nothing (what was not done) and redo.
func formShownTo(f url.Values, u audit.User, asks, nothing, redo string) error {
	switch who := strings.TrimSpace(f.Get(signerField)); who {
	case u.Name:
		return nil
	case "":
		return lot.FieldErrorf(signerField, lot.EUSAGE, "this form does not say %s; %s — open the page again and %s", asks, nothing, redo)
	default:
		return lot.FieldErrorf(signerField, lot.ECONFLICT, "this form was for %s; %s is logged in now (in another tab of this browser) — %s; reload the page to go on as %s, or log in as %s again", who, u.Name, nothing, u.Name, who)
	}
}

// signerOf is formSigner for an action a role may be refused: a user whose
// role may not do it is refused for that first (403), as without the form.
func signerOf(f url.Values, u audit.User, act audit.Action) error {
	if audit.Authorize(u, act) != nil {
		return nil
	}
	return formSigner(f, u)
}
