package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
)

// The lab's lot pages: register a lot (as `lot register`), import a CSV of
// lots (as `lot import`, all or nothing), split a lot into containers (as
// `lot split`) and print its labels (as `label print`). Every rule is the
// service's; the page parses the form, calls lot.Service or
// lot.LabelService with the session's user as the actor, and shows what
// came back. A role that may not is refused before any value is read.

// The lab's templates, beside the others in pageNames (kept here so that
// other pages' additions there do not collide with these).
func init() { pageNames = append(pageNames, "lot_register", "container", "containers") }

// labRoutes are the lab's pages: lot registration and import, split and
// labels of a lot, and the container pages with their custody moves.
func (s *Server) labRoutes() {
	s.mux.HandleFunc("GET /register/lot", s.page(s.registerLotPage))
	s.mux.HandleFunc("POST /register/lot", s.page(s.registerLot))
	s.mux.HandleFunc("POST /register/import", s.page(s.importLots))
	s.mux.HandleFunc("POST /lots/{ref}/split", s.page(s.lotSplit))
	s.mux.HandleFunc("POST /lots/{ref}/labels", s.page(s.lotLabels))
	s.mux.HandleFunc("GET /containers", s.page(s.containersPage))
	s.mux.HandleFunc("GET /containers/{ref}", s.page(s.containerPage))
	s.mux.HandleFunc("POST /containers/{ref}/{action}", s.page(s.containerPost))
}

// importPath is the page's CSV upload, which may be as large as the API's
// import (MaxImportBytes).
const importPath = "/register/import"

// lotForm is the registration form as typed, kept after a refusal.
type lotForm struct {
	Number, Source, Donor, Patient, Cells, Viability, VolumeML string
	Manufactured, Expires, Passage, Cryopreserved, Location    string
}

// registerLotData is the page /register/lot.
type registerLotData struct {
	CanRegister, CanImport bool
	Sources                []option
	Donors                 []string
	Form                   lotForm
	Columns                string
	// Problems are the bad rows of a refused import, one a line.
	Problems []string
	Done     string
	Imported []lotRow
}

var registerSources = []option{{"", "— choose —"}, {string(lot.SourceUC), "uc — " + lot.SourceUC.Product() + ", from a donor"},
	{string(lot.SourceRFib), "rfib — " + lot.SourceRFib.Product() + ", for its source patient"}}

func (s *Server) registerLotData(u audit.User) registerLotData {
	d := registerLotData{CanRegister: audit.Allowed(u.Role, audit.LotRegister), CanImport: audit.Allowed(u.Role, audit.LotImport),
		Sources: registerSources, Columns: strings.Join(lot.ImportColumns, ",")}
	if d.CanRegister {
		if ds, err := s.cfg.Lots.Donors(); err == nil {
			for _, dn := range ds {
				d.Donors = append(d.Donors, dn.Code)
			}
		}
	}
	return d
}

// renderRegisterLot draws /register/lot; an import refusal's bad rows are
// listed under the refusal, one a line.
func (s *Server) renderRegisterLot(w http.ResponseWriter, u audit.User, status int, refusal error, d registerLotData) {
	p := pageData{Title: "Register lots", User: u, Nav: "lots"}
	if refusal != nil {
		lines := strings.Split(lot.ErrorMessage(refusal), "\n")
		p.Error = lines[0]
		if len(lines) > 1 {
			p.Error += " " + strings.TrimSpace(lines[len(lines)-1])
			for _, l := range lines[1 : len(lines)-1] {
				d.Problems = append(d.Problems, strings.TrimSpace(l))
			}
		}
		if status != http.StatusForbidden && !strings.Contains(p.Error, "nothing was written") {
			p.Error += " — nothing was recorded"
		}
	}
	p.Data = d
	s.render(w, status, "lot_register", p)
}

// registerLotPage shows the registration and import forms to the lab;
// another role is told it may not (403), as the command would.
func (s *Server) registerLotPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	d := s.registerLotData(u)
	if !d.CanRegister && !d.CanImport {
		s.renderRegisterLot(w, u, http.StatusForbidden, audit.Authorize(u, audit.LotRegister), d)
		return
	}
	s.renderRegisterLot(w, u, http.StatusOK, nil, d)
}

// registerLot registers one lot in quarantine, as `lot register`, and
// shows its page, where the lab splits it into containers.
func (s *Server) registerLot(w http.ResponseWriter, r *http.Request, u audit.User) {
	d := s.registerLotData(u)
	if err := audit.Authorize(u, audit.LotRegister); err != nil {
		s.renderRegisterLot(w, u, statusOf(w, err), err, d)
		return
	}
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	in := lotForm{Number: trim(f.Get("number")), Source: trim(f.Get("source")), Donor: trim(f.Get("donor")), Patient: trim(f.Get("patient")),
		Cells: trim(f.Get("cells")), Viability: trim(f.Get("viability")), VolumeML: trim(f.Get("volume_ml")),
		Manufactured: trim(f.Get("manufactured")), Expires: trim(f.Get("expires")), Passage: trim(f.Get("passage")),
		Cryopreserved: trim(f.Get("cryopreserved")), Location: f.Get("location")}
	err := formFor(f, u, audit.LotRegister)
	var reg lot.Registration
	if err == nil {
		reg, err = registration(in)
	}
	var l lot.Lot
	if err == nil {
		l, err = s.cfg.Lots.RegisterLot(u.Name, reg)
	}
	if err != nil {
		err = s.logError(r, err)
		d.Form = in
		s.renderRegisterLot(w, u, statusOf(w, err), err, d)
		return
	}
	s.showLotRef(w, r, u, l.Number, "", nil, http.StatusOK, func(ld *lotData) {
		ld.Done = "Registered lot " + l.Number + " in quarantine; DIN " + l.DIN.EyeReadable()
		if ld.CanSplit {
			ld.Done += " — split it into containers below"
		}
	})
}

// registration reads the form as `lot register` reads its flags; each
// refusal names the field as the form labels it.
func registration(in lotForm) (lot.Registration, error) {
	r := lot.Registration{Number: in.Number, Donor: in.Donor, Patient: in.Patient, Location: in.Location}
	var err error
	if r.Source, err = lot.ParseSource(in.Source); err != nil {
		return r, err
	}
	if r.Cells, err = lot.ParseCells("cells", in.Cells); err != nil {
		return r, err
	}
	if r.Viability, err = lot.ParsePercent("viability", in.Viability); err != nil {
		return r, err
	}
	if r.VolumeML, err = lot.ParseTenths("volume mL", in.VolumeML); err != nil {
		return r, err
	}
	if r.Manufactured, err = lot.ParseDate("manufactured", in.Manufactured); err != nil {
		return r, err
	}
	if r.Expires, err = lot.ParseDate("expires", in.Expires); err != nil {
		return r, err
	}
	if in.Passage != "" {
		if r.Passage, err = strconv.Atoi(in.Passage); err != nil {
			return r, lot.Errorf(lot.EINVALID, "passage %q is not a whole number; type the passage number, or leave it empty", in.Passage)
		}
	}
	if in.Cryopreserved != "" {
		if r.Cryopreserved, err = lot.ParseDate("cryopreserved", in.Cryopreserved); err != nil {
			return r, err
		}
	}
	return r, nil
}

// importLots registers the lots of an uploaded CSV file, all or nothing, as
// `lot import`: the file is read as it arrives (never kept on disk), every
// bad row is listed with its line number, and nothing is written unless
// every row is good.
func (s *Server) importLots(w http.ResponseWriter, r *http.Request, u audit.User) {
	d := s.registerLotData(u)
	if err := audit.Authorize(u, audit.LotImport); err != nil {
		s.renderRegisterLot(w, u, statusOf(w, err), err, d)
		return
	}
	rows, err := importRows(r, func(f url.Values) error { return formFor(f, u, audit.LotImport) })
	var ls []lot.Lot
	if err == nil {
		ls, err = s.cfg.Lots.Import(u.Name, rows)
	}
	if err != nil {
		err = s.logError(r, err)
		status := statusOf(w, err)
		if bodyTooLarge(err) {
			err = lot.Errorf(lot.EINVALID, "the file is larger than %d bytes; split it and import each part", MaxImportBytes)
			status = http.StatusRequestEntityTooLarge
		}
		s.renderRegisterLot(w, u, status, err, d)
		return
	}
	d.Done = "Imported " + strconv.Itoa(len(ls)) + " lot(s); all are in quarantine"
	now := s.cfg.Now()
	for _, l := range ls {
		d.Imported = append(d.Imported, lotRow{Lot: l, URL: lotURL(l), Status: l.StatusText(now, "")})
	}
	s.renderRegisterLot(w, u, http.StatusOK, nil, d)
}

// maxImportField bounds each field of the import form beside its file.
const maxImportField = 1 << 10

// importRows reads the file part "csv" of a multipart form with
// lot.ParseImport, the parser of `lot import`, once check has passed the
// form's other fields (those before the file, as a browser sends them in
// the page's order).
func importRows(r *http.Request, check func(url.Values) error) ([]lot.ImportRow, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
		return nil, lot.Errorf(lot.EUSAGE, "the import is sent as a file upload (multipart/form-data), not %q; choose the file on the page and send it", r.Header.Get("Content-Type"))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, lot.Errorf(lot.EUSAGE, "the upload could not be read: %v", err)
	}
	fields := url.Values{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, lot.Errorf(lot.EUSAGE, "no CSV file was sent; choose the file to import")
		}
		if err != nil {
			if bodyTooLarge(err) {
				return nil, err
			}
			return nil, lot.Errorf(lot.EUSAGE, "the upload could not be read: %v", err)
		}
		if part.FormName() != "csv" {
			// A field of the page's form is a few bytes; more is not one.
			v, err := io.ReadAll(io.LimitReader(part, maxImportField+1))
			if err != nil || len(v) > maxImportField {
				return nil, lot.FieldErrorf(part.FormName(), lot.EUSAGE, "the upload's field %q could not be read or is longer than %d bytes; send the file from the page", part.FormName(), maxImportField)
			}
			fields.Add(part.FormName(), string(v))
			continue
		}
		if part.FileName() == "" {
			return nil, lot.Errorf(lot.EUSAGE, "no CSV file was chosen; choose the file to import")
		}
		if err := check(fields); err != nil {
			return nil, err
		}
		// A file past MaxImportBytes fails here as a read error that
		// wraps *http.MaxBytesError (importLots words it).
		return lot.ParseImport(part)
	}
}

// lotSplit splits a lot into containers from its page, as `lot split`.
func (s *Server) lotSplit(w http.ResponseWriter, r *http.Request, u audit.User) {
	ref := r.PathValue("ref")
	if err := audit.Authorize(u, audit.LotSplit); err != nil {
		s.showLotRef(w, r, u, ref, "", err, statusOf(w, err), nil)
		return
	}
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	in := splitForm{Containers: trim(f.Get("containers")), CellsEach: trim(f.Get("cells_each")), VolumeEach: trim(f.Get("volume_ml_each"))}
	err := formFor(f, u, audit.LotSplit)
	var sp lot.Split
	if err == nil {
		sp, err = split(ref, in)
	}
	if err == nil {
		sp.Seen, err = formSeen(f)
	}
	var cs []lot.Container
	if err == nil {
		cs, err = s.cfg.Lots.SplitLot(u.Name, sp)
	}
	if err != nil {
		err = s.logError(r, err)
		s.showLotRef(w, r, u, ref, "", err, statusOf(w, err), func(ld *lotData) { ld.SplitEntry = in })
		return
	}
	s.showLotRef(w, r, u, ref, "", nil, http.StatusOK, func(ld *lotData) {
		ld.Done = "Split lot " + ld.Lot.Number + " into " + strconv.Itoa(len(cs)) + " container(s)"
		for _, c := range cs {
			ld.DoneList = append(ld.DoneList, c.Code()+"  "+c.Cells.String()+" cells  "+c.VolumeML.String()+" mL")
		}
	})
}

// splitForm is the split form as typed, kept after a refusal.
type splitForm struct{ Containers, CellsEach, VolumeEach string }

// split reads the split form as `lot split` reads its flags.
func split(ref string, in splitForm) (lot.Split, error) {
	sp := lot.Split{Lot: ref}
	var err error
	if sp.Containers, err = strconv.Atoi(in.Containers); err != nil {
		return sp, lot.Errorf(lot.EINVALID, "containers %q is not a whole number; type how many bags or vials", in.Containers)
	}
	if sp.CellsEach, err = lot.ParseCells("cells each", in.CellsEach); err != nil {
		return sp, err
	}
	if in.VolumeEach != "" {
		if sp.VolumeEach, err = lot.ParseTenths("volume mL each", in.VolumeEach); err != nil {
			return sp, err
		}
		if sp.VolumeEach == 0 { // zero would mean "in proportion to the lot"
			return sp, lot.Errorf(lot.EINVALID, "volume mL each 0 is not a container volume; give mL, or leave it empty to share the lot's volume in proportion")
		}
	}
	return sp, nil
}

// lotLabels prints the labels of every container of a lot still in use, as
// `label print LOT`, and sends the PDF.
func (s *Server) lotLabels(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	ref := r.PathValue("ref")
	err := formFor(r.PostForm, u, audit.LabelPrint)
	var seen *uint64
	if err == nil {
		seen, err = formSeen(r.PostForm)
	}
	var pdf []byte
	var name string
	if err == nil {
		pdf, name, err = s.printLabels(u, ref, false, seen)
	}
	if err != nil {
		err = s.logError(r, err)
		s.showLotRef(w, r, u, ref, "", err, statusOf(w, err), nil)
		return
	}
	sendPDF(w, pdf, name)
}

// printLabels renders and counts labels, as `label print`: the PDF is drawn
// inside the transaction that counts them, so a label that cannot be drawn
// counts nothing. container names the file after the one container. seen
// is the labels' state the form was shown with (audit.SeenField), which
// the store checks in that transaction (nil: no such check).
func (s *Server) printLabels(u audit.User, ref string, container bool, seen *uint64) ([]byte, string, error) {
	if err := audit.Authorize(u, audit.LabelPrint); err != nil {
		return nil, "", err
	}
	if s.cfg.Facility == nil {
		return nil, "", lot.Errorf(lot.EINTERNAL, "the server was started without the facility's FIN; labels cannot be printed")
	}
	fin, err := s.cfg.Facility()
	if err != nil {
		return nil, "", err
	}
	var pdf []byte
	set, err := s.cfg.Labels.Print(u.Name, ref, seen, func(set lot.LabelSet) (err error) {
		pdf, err = report.Labels(set, fin, s.cfg.Now().UTC())
		return err
	})
	if err != nil {
		return nil, "", err
	}
	name := set.Lot.Number + "-labels.pdf"
	if container {
		name = set.Containers[0].Code() + "-label.pdf"
	}
	return pdf, safeFileName(name), nil
}

func sendPDF(w http.ResponseWriter, pdf []byte, name string) {
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", "attachment; filename=\""+name+"\"")
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	w.Write(pdf)
}

// registerLotLink is the link to /register/lot, for the lot list.
func registerLotLink(u audit.User) string {
	if audit.Allowed(u.Role, audit.LotRegister) || audit.Allowed(u.Role, audit.LotImport) {
		return "/register/lot"
	}
	return ""
}

// containerURL is the container's page.
func containerURL(c lot.Container) string { return "/containers/" + url.PathEscape(c.Code()) }
