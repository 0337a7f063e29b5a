package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/report"
)

// The auditor's pages: every report of the command line besides the traces
// (/trace) — `report handling`, `report access`, `release certificate`,
// `audit log` and `audit verify` — each with a download in every format its
// command writes, rendered by package report exactly as the command writes
// it for the same database and clock. Every enabled user may read them, as
// at the command line (reads are open to every role); none writes to the
// database.

func init() {
	pageNames = append(pageNames, "reports", "report_handling", "report_access", "report_certificate", "report_auditlog", "report_verify")
}

// reportPageRoutes adds the auditor's pages to the server's routes.
func (s *Server) reportPageRoutes() {
	s.mux.HandleFunc("GET /reports", s.page(s.reportsPage))
	s.mux.HandleFunc("GET /reports/handling", s.page(s.handlingPage))
	s.mux.HandleFunc("GET /reports/handling/download", s.page(s.handlingDownload))
	s.mux.HandleFunc("GET /reports/access", s.page(s.accessPage))
	s.mux.HandleFunc("GET /reports/access/download", s.page(s.accessDownload))
	s.mux.HandleFunc("GET /reports/certificate", s.page(s.certificatePage))
	s.mux.HandleFunc("GET /reports/certificate/download", s.page(s.certificateDownload))
	s.mux.HandleFunc("GET /reports/audit-log", s.page(s.auditLogPage))
	s.mux.HandleFunc("GET /reports/audit-log/download", s.page(s.auditLogDownload))
	s.mux.HandleFunc("GET /reports/audit-verify", s.page(s.verifyPage))
	s.mux.HandleFunc("GET /reports/audit-verify/download", s.page(s.verifyDownload))
}

// reportView is a report.Report as a page shows it (templates/partials.html
// "reportbody"): its provenance, sections, events and downloads.
type reportView struct {
	Report    *report.Report
	Produced  string
	Events    [][]string
	Downloads []download
}

func newReportView(rep *report.Report, downloads []download) reportView {
	rep = boundTables(rep)
	v := reportView{Report: rep, Produced: lot.FormatTime(rep.Produced.At), Downloads: downloads}
	for _, e := range rep.Events {
		v.Events = append(v.Events, eventRow(e))
	}
	return v
}

// maxReportRows caps the rows a report's page lists in one table: the
// handling report of the 100k database has a row for each of about
// 100,000 infused containers, a page of tens of megabytes; its summary
// (medians and ranges) is over every row, and its downloads hold each.
const maxReportRows = 1000

// boundTables is rep as a page shows it: a table of more than
// maxReportRows rows (oldest first, as every report lists them) keeps the
// newest of them, and its title says how many of how many and that the
// downloads hold every one. rep itself is left whole.
func boundTables(rep *report.Report) *report.Report {
	var cut []report.Section
	for i, sec := range rep.Sections {
		if sec.Table == nil || len(sec.Table.Rows) <= maxReportRows {
			continue
		}
		if cut == nil {
			cut = slices.Clone(rep.Sections)
		}
		n := len(sec.Table.Rows)
		t := *sec.Table
		t.Rows = t.Rows[n-maxReportRows:]
		cut[i].Table = &t
		cut[i].Title = fmt.Sprintf("%s — the newest %d of %d rows (the downloads hold every one)", sec.Title, maxReportRows, n)
	}
	if cut == nil {
		return rep
	}
	r := *rep
	r.Sections = cut
	return &r
}

// downloads are the links to base?q&format=F for each of formats.
func downloads(base string, q url.Values, formats []string) []download {
	var ds []download
	for _, f := range formats {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("format", f)
		ds = append(ds, download{URL: base + "?" + v.Encode(), Label: f})
	}
	return ds
}

// formatIn is format when it is one of formats, else EUSAGE naming it, as
// the command line refuses an unknown --format.
func formatIn(format string, formats []string) (string, error) {
	for _, f := range formats {
		if f == format {
			return f, nil
		}
	}
	return "", lot.Errorf(lot.EUSAGE, "format %q is not offered here; use %s", format, strings.Join(formats, ", "))
}

// sendFile answers a download: data, rendered in full already, as an
// attachment named from what the report is (never from the request).
func (s *Server) sendFile(w http.ResponseWriter, data []byte, format, name string) {
	fileHeaders(w, format, name)
	w.Write(data)
}

// fileHeaders are the headers of a download: its type, and the attachment
// named from what the report is.
func fileHeaders(w http.ResponseWriter, format, name string) {
	w.Header().Set("Content-Type", contentTypes[format])
	if format == "html" {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", safeFileName(name)+"."+extOf(format)))
}

// downloadError answers a refused download with its message and the
// status the API gives the same error.
func (s *Server) downloadError(w http.ResponseWriter, r *http.Request, err error) {
	err = s.logError(r, err)
	http.Error(w, lot.ErrorMessage(err), statusOf(w, err))
}

func (s *Server) reportsPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	s.render(w, http.StatusOK, "reports", pageData{Title: "Reports", User: u, Nav: "reports", Data: nil})
}

// handlingData is the handling report's page: its filters and the report.
type handlingData struct {
	Protocols []option
	Protocol  string
	From, To  string
	View      *reportView
}

// handlingReport reads the page's filters (the command line's --protocol,
// --from and --to) and builds the report.
func (s *Server) handlingReport(r *http.Request, u audit.User, q url.Values) (report.Report, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return report.Report{}, err
	}
	protocol := strings.TrimSpace(q.Get("protocol"))
	if err := lot.ValidateText("protocol", protocol, false); err != nil {
		return report.Report{}, err
	}
	from, to, err := dose.HandlingPeriod("from", strings.TrimSpace(q.Get("from")), "to", strings.TrimSpace(q.Get("to")))
	if err != nil {
		return report.Report{}, err
	}
	return s.cfg.Reports.Handling(r.Context(), u.Name, protocol, from, to)
}

func (s *Server) handlingPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	d := handlingData{Protocol: q.Get("protocol"), From: q.Get("from"), To: q.Get("to")}
	if ps, err := s.cfg.Doses.Protocols(); err == nil {
		seen := map[string]bool{}
		for _, p := range ps {
			if !seen[p.Name] {
				seen[p.Name] = true
				d.Protocols = append(d.Protocols, option{p.Name, p.Name + " — " + p.Title})
			}
		}
	}
	p := pageData{Title: "Handling report", User: u, Nav: "reports"}
	status := http.StatusOK
	rep, err := s.handlingReport(r, u, q)
	answerFrom(w)
	if err != nil {
		err = s.logError(r, err)
		p.Error, status = lot.ErrorMessage(err), statusOf(w, err)
	} else {
		filter := url.Values{"protocol": {d.Protocol}, "from": {d.From}, "to": {d.To}}
		v := newReportView(&rep, downloads("/reports/handling/download", filter, report.Formats))
		d.View = &v
	}
	p.Data = d
	s.render(w, status, "report_handling", p)
}

func (s *Server) handlingDownload(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	f, err := report.ParseFormat(q.Get("format"))
	if err != nil {
		s.downloadError(w, r, err)
		return
	}
	rep, err := s.handlingReport(r, u, q)
	answerFrom(w)
	if err == nil {
		var buf bytes.Buffer
		if err = report.Render(&buf, rep, f); err == nil {
			w.Header().Set(ReportHeader, ReportSummary(rep))
			s.sendFile(w, buf.Bytes(), f, "handling-report")
			return
		}
	}
	s.downloadError(w, r, err)
}

func (s *Server) accessReport(r *http.Request, u audit.User) (report.Report, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return report.Report{}, err
	}
	return s.cfg.Reports.Access(r.Context(), u.Name)
}

func (s *Server) accessPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	p := pageData{Title: "User access review", User: u, Nav: "reports"}
	status := http.StatusOK
	rep, err := s.accessReport(r, u)
	answerFrom(w)
	if err != nil {
		err = s.logError(r, err)
		p.Error, status = lot.ErrorMessage(err), statusOf(w, err)
	} else {
		v := newReportView(&rep, downloads("/reports/access/download", nil, report.Formats))
		p.Data = &v
	}
	s.render(w, status, "report_access", p)
}

func (s *Server) accessDownload(w http.ResponseWriter, r *http.Request, u audit.User) {
	f, err := report.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		s.downloadError(w, r, err)
		return
	}
	rep, err := s.accessReport(r, u)
	answerFrom(w)
	if err == nil {
		var buf bytes.Buffer
		if err = report.Render(&buf, rep, f); err == nil {
			w.Header().Set(ReportHeader, ReportSummary(rep))
			s.sendFile(w, buf.Bytes(), f, "access-report")
			return
		}
	}
	s.downloadError(w, r, err)
}

// certificateData is the certificate page: the lot asked for and the
// certificate's text, as `release certificate` prints it.
type certificateData struct {
	Lot       string
	Text      string
	Verified  bool
	Downloads []download
}

// certificate builds the certificate of lot ref as `release certificate`
// does for u: produced by the session's user.
func (s *Server) certificate(u audit.User, ref string) (release.Certificate, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return release.Certificate{}, err
	}
	if err := lot.ValidateText("lot", ref, true); err != nil {
		return release.Certificate{}, err
	}
	c, err := s.cfg.Releases.Certificate(ref)
	if err != nil {
		return c, err
	}
	c.ProducedBy, c.ProducedByName, c.ProducedByRole = u.Name, u.FullName, string(u.Role)
	return c, nil
}

func (s *Server) certificatePage(w http.ResponseWriter, r *http.Request, u audit.User) {
	ref := strings.TrimSpace(r.URL.Query().Get("lot"))
	d := certificateData{Lot: ref}
	p := pageData{Title: "Certificate of analysis", User: u, Nav: "reports"}
	status := http.StatusOK
	if ref != "" {
		c, err := s.certificate(u, ref)
		var buf bytes.Buffer
		if err == nil {
			err = report.CertificateText(&buf, c)
		}
		if err != nil {
			err = s.logError(r, err)
			p.Error, status = lot.ErrorMessage(err), statusOf(w, err)
		} else {
			d.Text, d.Verified = buf.String(), c.Verified
			d.Downloads = downloads("/reports/certificate/download", url.Values{"lot": {ref}}, report.CertificateFormats)
		}
	}
	p.Data = d
	s.render(w, status, "report_certificate", p)
}

func (s *Server) certificateDownload(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	f, err := formatIn(q.Get("format"), report.CertificateFormats)
	if err != nil {
		s.downloadError(w, r, err)
		return
	}
	c, err := s.certificate(u, strings.TrimSpace(q.Get("lot")))
	if err == nil {
		var buf bytes.Buffer
		if err = report.RenderCertificate(&buf, c, f, s.cfg.Now()); err == nil {
			s.sendFile(w, buf.Bytes(), f, "certificate-"+c.Lot.Number)
			return
		}
	}
	s.downloadError(w, r, err)
}

// auditLogData is the audit log page: its filters and the entries.
type auditLogData struct {
	Entity  string
	Values  bool
	Entries []auditRow
	Count   int
	// Shown is how many of the Count entries the page lists: the last
	// maxAuditRows; the downloads hold every one, as the command prints.
	Shown     int
	Downloads []download
}

// auditRow is one entry as the page lists it: the columns of `audit log`.
type auditRow struct {
	Seq                            uint64
	Time, User, Action, Entity, ID string
	Reason                         string
	Prev, New                      string
}

// maxAuditRows caps the entries the audit log page lists, so that a
// database of millions of entries does not become a page of millions of
// rows; the page says how many it left out.
const maxAuditRows = 1000

// auditQuery reads the audit log's filters, for a user who may read: the
// entity ("" for the whole trail) and whether values are shown.
func auditQuery(u audit.User, q url.Values) (string, bool, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return "", false, err
	}
	entity := strings.TrimSpace(q.Get("entity"))
	if err := lot.ValidateText("entity", entity, false); err != nil {
		return "", false, err
	}
	values, err := boolParam("values", q.Get("values"))
	return entity, values, err
}

// boolParam reads a check box: absent or "false" is false, "true" or "on"
// true; anything else is EUSAGE naming the field.
func boolParam(field, v string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true", "on":
		return true, nil
	}
	return false, lot.Errorf(lot.EUSAGE, "%s=%q: give true or false", field, v)
}

func (s *Server) auditLogPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	d := auditLogData{Entity: strings.TrimSpace(q.Get("entity"))}
	p := pageData{Title: "Audit log", User: u, Nav: "reports"}
	status := http.StatusOK
	entity, values, err := auditQuery(u, q)
	var es []audit.Entry
	if err == nil {
		es, d.Count, err = s.cfg.AuditLog.AuditTail(u.Name, entity, maxAuditRows)
	}
	if err != nil {
		err = s.logError(r, err)
		p.Error, status = lot.ErrorMessage(err), statusOf(w, err)
	} else {
		d.Values, d.Shown = values, len(es)
		for _, e := range es {
			e = audit.Redact(e) // no page shows a password hash
			row := auditRow{Seq: e.Seq, Time: lot.FormatTime(e.Time), User: e.User, Action: string(e.Action), Entity: string(e.Entity), ID: e.ID.String(), Reason: e.Reason}
			if values {
				if e.Prev != nil {
					row.Prev = string(e.Prev)
				}
				if e.New != nil {
					row.New = string(e.New)
				}
			}
			d.Entries = append(d.Entries, row)
		}
		dq := url.Values{"entity": {d.Entity}}
		if values {
			dq.Set("values", "true")
		}
		d.Downloads = downloads("/reports/audit-log/download", dq, report.AuditLogFormats)
	}
	p.Data = d
	s.render(w, status, "report_auditlog", p)
}

// auditLogDownload sends the audit log as it is read, a batch of entries
// at a time (audit.Log EachAuditEntry): the whole trail at 100k is 2.9M
// entries, which held in memory and rendered before the first byte went
// out took gigabytes and outlasted WriteTimeout. Each batch sent moves the
// write deadline on by WriteTimeout, so a download that progresses is not
// cut. A refusal before the first entry is answered as any download's; a
// failure after it (a stopping server cancels the request's context) aborts
// the response, so the client gets a cut download (no closing bracket, no
// count), never one that looks whole.
func (s *Server) auditLogDownload(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	f, err := formatIn(q.Get("format"), report.AuditLogFormats)
	if err != nil {
		s.downloadError(w, r, err)
		return
	}
	entity, values, err := auditQuery(u, q)
	if err != nil {
		s.downloadError(w, r, err)
		return
	}
	name := "audit-log"
	if entity != "" {
		name += "-" + entity
	}
	aw, err := report.NewAuditLogWriter(w, f, values)
	if err != nil {
		s.downloadError(w, r, err)
		return
	}
	n := 0
	err = s.cfg.AuditLog.EachAuditEntry(r.Context(), u.Name, entity, func(e audit.Entry) error {
		if n == 0 {
			fileHeaders(w, f, name)
		}
		if n%streamDeadlineEvery == 0 {
			answerFrom(w)
		}
		n++
		return aw.Write(e)
	})
	switch {
	case err != nil && n == 0:
		s.downloadError(w, r, err)
	case err != nil:
		s.logError(r, fmt.Errorf("audit log download cut after %d entries: %w", n, err))
		panic(http.ErrAbortHandler)
	default:
		if n == 0 {
			fileHeaders(w, f, name)
		}
		aw.Close()
	}
}

// streamDeadlineEvery is how many entries a streamed download writes
// between two moves of its write deadline.
const streamDeadlineEvery = 1024

// answerFrom gives a request's answer WriteTimeout from now to be written.
// A report's whole verification at 100k takes longer than WriteTimeout on
// a loaded machine, and the deadline runs from the request's start: the
// report was built, then its answer refused. The timeout is against a
// client that reads slowly, not a report that takes long to build (a
// stopping server's grace bounds that). Not every ResponseWriter has a
// deadline (a test's recorder): then nothing is done.
func answerFrom(w http.ResponseWriter) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(WriteTimeout))
}

// verifyData is the audit verify page: nothing until it is asked to run (a
// full verification reads the whole database), then its verdict; with a
// tree head typed from a printed report, whether today's trail extends it.
type verifyData struct {
	Ran       bool
	TreeHead  string
	Result    report.Verification
	Checks    []report.CheckpointCheck
	Text      string
	Tree      string
	Downloads []download
}

// verifyResult is a verification as the page and its downloads render it.
type verifyResult interface {
	Render(w io.Writer, format string) error
}

// verification runs `audit verify`, or with treeHead `audit verify
// --tree-head`: EINVALID naming the field for a head that cannot be read.
func (s *Server) verification(r *http.Request, u audit.User, treeHead string) (verifyResult, report.Verification, []report.CheckpointCheck, error) {
	if err := audit.AuthorizeRead(u); err != nil {
		return nil, report.Verification{}, nil, err
	}
	if treeHead != "" {
		h, err := audit.ParseHead(treeHead)
		if err != nil {
			return nil, report.Verification{}, nil, lot.Errorf(lot.EINVALID, "tree head %q: %v; copy it from the report's \"Audit tree head\" line, e.g. \"306 entries, root XoyP…=\"", treeHead, err)
		}
		if s.cfg.VerifyTreeHead == nil {
			return nil, report.Verification{}, nil, lot.Errorf(lot.EINTERNAL, "this server does not check tree heads")
		}
		cv, err := s.cfg.VerifyTreeHead(r.Context(), h)
		return cv, cv.Verification, cv.Checkpoints, err
	}
	if s.cfg.Verify == nil {
		return nil, report.Verification{}, nil, lot.Errorf(lot.EINTERNAL, "this server does not verify its audit trail")
	}
	v, err := s.cfg.Verify(r.Context())
	rv := report.Verification{Entries: v.Entries, Records: v.Records, Head: v.Head, Tree: v.Tree, Problems: v.Problems}
	return rv, rv, nil, err
}

func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	d := verifyData{TreeHead: strings.TrimSpace(q.Get("tree_head"))}
	p := pageData{Title: "Audit verify", User: u, Nav: "reports"}
	status := http.StatusOK
	run, err := boolParam("run", q.Get("run"))
	if err == nil && run {
		var res verifyResult
		res, d.Result, d.Checks, err = s.verification(r, u, d.TreeHead)
		answerFrom(w)
		if err == nil {
			var buf bytes.Buffer
			res.Render(&buf, "text")
			d.Ran, d.Text, d.Tree = true, buf.String(), strings.TrimPrefix(report.TreeNote(d.Result.Tree), "tree head: ")
			dq := url.Values{}
			if d.TreeHead != "" {
				dq.Set("tree_head", d.TreeHead)
			}
			d.Downloads = downloads("/reports/audit-verify/download", dq, report.VerificationFormats)
		}
	}
	if err != nil {
		err = s.logError(r, err)
		p.Error, status = lot.ErrorMessage(err), statusOf(w, err)
	}
	p.Data = d
	s.render(w, status, "report_verify", p)
}

func (s *Server) verifyDownload(w http.ResponseWriter, r *http.Request, u audit.User) {
	q := r.URL.Query()
	f, err := formatIn(q.Get("format"), report.VerificationFormats)
	if err != nil {
		s.downloadError(w, r, err)
		return
	}
	res, _, _, err := s.verification(r, u, strings.TrimSpace(q.Get("tree_head")))
	answerFrom(w)
	if err == nil {
		var buf bytes.Buffer
		if err = res.Render(&buf, f); err == nil {
			s.sendFile(w, buf.Bytes(), f, "audit-verify")
			return
		}
	}
	s.downloadError(w, r, err)
}
