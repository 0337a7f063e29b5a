package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// ExitCodes is the command line's exit code of each error code (README,
// "Exit codes"); the API's error object carries it so that a script gets
// the same answer from the server as from a local command.
var ExitCodes = map[string]int{
	lot.EUSAGE: 2, lot.ESESSION: 2, lot.EINVALID: 3, lot.EFORBIDDEN: 3, lot.ECONFLICT: 3, lot.EAUTH: 3, lot.EPASSWORD: 3,
	lot.ENOGO: 4, lot.ENOTFOUND: 5, lot.ENODB: 10, lot.EBUSY: 11, lot.EUNKNOWN: 12, lot.EINTERNAL: 1,
}

// HTTPStatus is the HTTP status of each error code (README, "Server").
var HTTPStatus = map[string]int{
	lot.EUSAGE:     http.StatusBadRequest,
	lot.EINVALID:   http.StatusUnprocessableEntity,
	lot.EAUTH:      http.StatusUnauthorized,
	lot.ESESSION:   http.StatusUnauthorized,
	lot.EPASSWORD:  http.StatusForbidden,
	lot.EFORBIDDEN: http.StatusForbidden,
	lot.ENOTFOUND:  http.StatusNotFound,
	lot.ECONFLICT:  http.StatusConflict,
	lot.ENOGO:      http.StatusConflict,
	lot.ENODB:      http.StatusServiceUnavailable,
	lot.EBUSY:      http.StatusServiceUnavailable,
	lot.EUNKNOWN:   http.StatusServiceUnavailable,
	lot.EINTERNAL:  http.StatusInternalServerError,
}

// APIError is the error object of the API, the same as the command line's
// with --json: {"error":{"code","message","exit"}}.
type APIError struct {
	Error APIErrorBody `json:"error"`
}

// APIErrorBody is the inside of APIError.
type APIErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Exit    int    `json:"exit"`
	// Field names the input the refusal is about (lot.Error's Field), if one.
	Field string `json:"field,omitempty"`
	// Command is the celltrack command that does the fix the message
	// words (lot.Error's Command), if one; a page shows the message alone.
	Command string `json:"command,omitempty"`
}

func errorBody(err error) APIErrorBody {
	code := lot.ErrorCode(err)
	exit, ok := ExitCodes[code]
	if !ok {
		exit = 1
	}
	return APIErrorBody{Code: code, Message: lot.ErrorMessage(err), Exit: exit, Field: lot.ErrorField(err), Command: lot.ErrorCommand(err)}
}

// statusOf is the HTTP status of err; a throttled refusal (throttle.go)
// has its own, and sets Retry-After on w.
func statusOf(w http.ResponseWriter, err error) int {
	var t *throttled
	if errors.As(err, &t) {
		retryAfter(w, err)
		return t.status
	}
	var c *cancelled
	if errors.As(err, &c) {
		return c.status
	}
	if st, ok := HTTPStatus[lot.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// writeJSON answers v as compact JSON and a newline, in one write with its
// length. The answers are for programs (the command line's client decodes
// them and prints as a local command does); indenting them was about a
// sixth of the server's CPU for a bedside check.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBufs.Get().(*bytes.Buffer)
	defer putJSONBuf(buf)
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		// Only a bug gets here (a value encoding/json cannot encode):
		// the answer is the status with an empty body, as before.
		buf.Reset()
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// jsonBufs holds writeJSON's buffers; one grown past 1 MiB (a large list)
// is dropped rather than kept.
var jsonBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putJSONBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		jsonBufs.Put(b)
	}
}

// writeAPIError writes err as the error object with status (0: the code's).
func writeAPIError(w http.ResponseWriter, status int, err error) {
	if status == 0 {
		status = statusOf(w, err)
	} else {
		retryAfter(w, err)
	}
	writeJSON(w, status, APIError{errorBody(err)})
}

// api wraps an API handler: it needs a logged-in user, and an error it
// returns becomes the error object with the code's status.
func (s *Server) api(fn func(w http.ResponseWriter, r *http.Request, u audit.User) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.currentUser(w, r)
		if err != nil {
			writeAPIError(w, 0, s.logError(r, err))
			return
		}
		if err := fn(w, r, u); err != nil {
			err = s.logError(r, err)
			status := 0
			if isTooLarge(err) {
				status = http.StatusRequestEntityTooLarge
			}
			writeAPIError(w, status, err)
		}
	}
}

// logError logs an error of the request r in the server's log and returns
// what the person who asked is shown: a request whose client went away, or
// that the server's stop cut, as that (cancellation, not an internal
// error); a refusal as it is, its message written for them (busy,
// unavailable and unknown outcomes are logged with the whole chain too:
// the database's own words when it was out of reach); an internal error —
// a bug, or the database's own words, which may name tables, URLs or
// files — as a generic message with a request id, under which the server
// logs the error itself for the administrator.
func (s *Server) logError(r *http.Request, err error) error {
	if err == nil {
		return nil
	}
	if c := s.cancellation(r, err); c != nil {
		return c
	}
	where := ""
	if r != nil {
		where = " " + r.Method + " " + r.URL.Path
	}
	switch lot.ErrorCode(err) {
	case lot.EBUSY, lot.EUNKNOWN:
		s.cfg.Log.Printf("%s: %v", strings.TrimSpace(where), err)
		return err
	}
	if lot.ErrorCode(err) != lot.EINTERNAL {
		return err
	}
	id := requestID()
	s.cfg.Log.Printf("request %s%s: internal error: %v", id, where, err)
	return lot.Errorf(lot.EINTERNAL, "internal error (request %s): the server could not do this; nothing more is shown here — give your administrator the request id, under which the server logged the details", id)
}

// message is what a page shows for err (logError, for the places that
// render without the request at hand).
func (s *Server) message(err error) string { return lot.ErrorMessage(s.logError(nil, err)) }

// requestID is a short random id that ties a message shown to a person to
// the server's log line.
func requestID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// decode reads a JSON request body into v strictly, with
// github.com/go-json-experiment/json (the proposed encoding/json/v2): a key
// must be spelt exactly as documented — encoding/json would take "MRN" for
// "mrn" — it may appear only once — encoding/json keeps the last of
// {"mrn":"A","mrn":"B"} — and a key the call does not take is refused,
// so that a misspelt or doubled field at the bedside is never silently
// ignored or silently chosen. The refusal names the key.
func decode(r *http.Request, v any) error {
	// Byte arrays (hashes) and durations read as encoding/json writes them:
	// the command line's remote services send domain values that way.
	// The body is read whole first (it is bounded by the limit the
	// security middleware set): a body past it is refused naming the
	// limit, and the value it was reached in, from the part read.
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var m *http.MaxBytesError
		if errors.As(err, &m) {
			return tooLarge(m.Limit, stoppedAt(data))
		}
		return lot.Errorf(lot.EUSAGE, "the request body could not be read: %v — nothing was done", err)
	}
	err = jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true),
		jsonv1.FormatByteArrayAsArray(true), jsonv1.FormatDurationAsNano(true))
	if err == nil {
		return nil
	}
	return lot.Errorf(lot.EUSAGE, "%s", strictJSONMessage(err, v))
}

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// UserView is a user as the API shows it: never the password hash.
type UserView struct {
	User     string     `json:"user"`
	FullName string     `json:"full_name"`
	Role     audit.Role `json:"role"`
}

// LoginView is the answer to a login: the user, when the session ends at
// the latest and after how many seconds idle.
type LoginView struct {
	UserView
	Expires           time.Time `json:"expires"`
	IdleExpirySeconds int64     `json:"idle_expiry_seconds"`
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		s.apiFail(w, err)
		return
	}
	res, err := s.login(w, r, req.User, req.Password)
	if err != nil {
		s.apiFail(w, s.logError(r, err))
		return
	}
	u := res.User
	writeJSON(w, http.StatusOK, LoginView{UserView{u.Name, u.FullName, u.Role}, res.Expires, int64(res.IdleExpiry / time.Second)})
}

func (s *Server) apiFail(w http.ResponseWriter, err error) {
	if isTooLarge(err) {
		writeAPIError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	writeAPIError(w, 0, err)
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) {
	// ended says whether the cookie's session was still live, as
	// `celltrack logout` says it.
	ended := s.logout(w, r)
	writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true, "ended": ended})
}

// CheckRequest is the body of POST /api/v1/dose/check.
type CheckRequest struct {
	MRN        string   `json:"mrn"`
	Containers []string `json:"containers"`
	VolumeML   string   `json:"volume_ml,omitempty"`
}

// AdministerRequest is the body of POST /api/v1/dose/administer. The acting
// user (the session's) signs as the nurse with Password; Witness signs with
// WitnessPassword.
type AdministerRequest struct {
	CheckRequest
	Start           string `json:"start,omitempty"`
	Password        string `json:"password"`
	Witness         string `json:"witness"`
	WitnessPassword string `json:"witness_password"`
	// Shown is the dose the signers were shown: the "shown" of the GO
	// check's report, sent back as it came. Required: the server signs no
	// dose that was not shown, and a dose computed otherwise at signing (a
	// weight recorded, a bag recounted since the check) is NO-GO.
	Shown *dose.ShownView `json:"shown,omitempty"`
	// noShown refuses a request without Shown in its front end's words
	// (nil: the API's).
	noShown error
	// SignersOnly checks the request and both signers (who they are,
	// their roles) and answers 200 {"signers_ok":true} without a password,
	// a check or a write: `dose administer` through a server refuses the
	// wrong people before it asks for any password, as it does locally.
	SignersOnly bool `json:"signers_only,omitempty"`
}

// CheckResponse carries a NO-GO's report beside its error object.
type CheckResponse struct {
	Report dose.ReportView `json:"report"`
	Error  *APIErrorBody   `json:"error,omitempty"`
}

func (s *Server) apiDoseCheck(w http.ResponseWriter, r *http.Request, u audit.User) error {
	var req CheckRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	rep, err := s.check(req)
	if err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		eb := errorBody(err)
		writeJSON(w, statusOf(w, err), CheckResponse{Report: dose.ViewReport(rep), Error: &eb})
		return nil
	}
	writeJSON(w, http.StatusOK, CheckResponse{Report: dose.ViewReport(rep)})
	return nil
}

func (s *Server) apiDoseAdminister(w http.ResponseWriter, r *http.Request, u audit.User) error {
	var req AdministerRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in, rep, err := s.administer(clientAddr(r), u, req)
	if err == nil && req.SignersOnly {
		writeJSON(w, http.StatusOK, map[string]bool{"signers_ok": true})
		return nil
	}
	if lot.ErrorCode(err) == lot.ENOGO {
		eb := errorBody(err)
		writeJSON(w, statusOf(w, err), CheckResponse{Report: dose.ViewReport(rep), Error: &eb})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, dose.ViewInfusion(in, rep.Zone))
	return nil
}

// apiDoseReaction answers with the reaction as `dose reaction --json`
// prints it.
func (s *Server) apiDoseReaction(w http.ResponseWriter, r *http.Request, u audit.User) error {
	var req ReactionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	rc, err := s.reaction(u, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rc)
	return nil
}

func (s *Server) apiTrace(w http.ResponseWriter, r *http.Request, u audit.User) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	traces, err := s.tracesFor(r.URL.Query().Get("full_verify"))
	if err != nil {
		return err
	}
	rep, format, err := s.traceWith(r.Context(), traces, u, r.PathValue("kind"), r.PathValue("ref"), format)
	if err != nil {
		return err
	}
	return s.sendReport(w, rep, format, false)
}

// tracesFor is the trace builder a full_verify query value asks for
// (API and download alike): "" or false the usual, true the one with the
// whole audit verification; anything else is refused (400).
func (s *Server) tracesFor(fv string) (Traces, error) {
	switch fv {
	case "", "false":
		return s.cfg.Traces, nil
	case "true":
		if s.cfg.FullTraces == nil {
			return nil, lot.Errorf(lot.EUSAGE, "full_verify is not offered by this server")
		}
		return s.cfg.FullTraces, nil
	}
	return nil, lot.Errorf(lot.EUSAGE, "full_verify=%q: give true or false", fv)
}

// trace builds one trace report for u, checking kind and format first.
func (s *Server) trace(ctx context.Context, u audit.User, kind, ref, format string) (report.Report, string, error) {
	return s.traceWith(ctx, s.cfg.Traces, u, kind, ref, format)
}

// traceWith builds one trace report with traces, for a request whose
// context is ctx.
func (s *Server) traceWith(ctx context.Context, traces Traces, u audit.User, kind, ref, format string) (report.Report, string, error) {
	f, err := report.ParseFormat(format)
	if err != nil {
		return report.Report{}, "", err
	}
	if err := lot.ValidateText("reference", ref, true); err != nil {
		return report.Report{}, "", err
	}
	var build func(ctx context.Context, user, ref string) (report.Report, error)
	switch kind {
	case "lot":
		build = traces.Lot
	case "patient":
		build = traces.Patient
	case "donor":
		build = traces.Donor
	case "container":
		build = traces.Container
	default:
		return report.Report{}, "", lot.Errorf(lot.EUSAGE, "trace %q is not a kind of trace; use lot, patient, donor or container", kind)
	}
	rep, err := build(ctx, u.Name, strings.TrimSpace(ref))
	return rep, f, err
}

// contentTypes are the media types of report.Formats.
var contentTypes = map[string]string{
	"text": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8", "json": "application/json; charset=utf-8",
	"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8", "pdf": "application/pdf",
}

// sendReport renders rep in full before sending anything, so a failure
// never sends half a report. As a download it is an attachment whose file
// name is built from the report's own name, never from the request.
func (s *Server) sendReport(w http.ResponseWriter, rep report.Report, format string, download bool) error {
	var buf bytes.Buffer
	if err := report.Render(&buf, rep, format); err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentTypes[format])
	w.Header().Set(ReportHeader, ReportSummary(rep))
	if format == "html" {
		// The report's HTML is one self-contained page with its style
		// inline (so it can be archived and mailed); still no script.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	}
	if download {
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", safeFileName(rep.Kind+"-trace-"+rep.Subject)+"."+extOf(format)))
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// ReportHeader is the header of a trace answer that sums the report up in
// every format (a PDF cannot be read by a script): what `celltrack trace
// --out` says it wrote, and whether its audit verification passed, which a
// command line client needs to exit as a local command does.
const ReportHeader = "Celltrack-Report"

// ReportSummary is the value of ReportHeader: URL query syntax, ASCII
// whatever the subject holds. kind, subject, events, rows (tabular reports
// only), audit_verified, audit_problems, audit_verify_scope and
// audit_chain_from.
func ReportSummary(r report.Report) string {
	v := url.Values{}
	v.Set("kind", r.Kind)
	v.Set("subject", r.Subject)
	v.Set("events", strconv.Itoa(len(r.Events)))
	if r.Data != nil {
		v.Set("rows", strconv.Itoa(len(r.Data.Rows)))
	}
	v.Set("audit_verified", strconv.FormatBool(r.Produced.Verified))
	v.Set("audit_problems", strconv.Itoa(len(r.Produced.Problems)))
	v.Set("audit_verify_scope", r.Produced.Scope)
	v.Set("audit_chain_from", strconv.FormatUint(r.Produced.ChainFrom, 10))
	return v.Encode()
}

func extOf(format string) string {
	if format == "text" {
		return "txt"
	}
	return format
}

// safeFileName keeps letters, digits, '-', '_' and '.', replacing anything
// else with '_', and strips leading dots: a downloaded file name can never
// name a directory or climb out of one.
func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	out := strings.TrimLeft(string(b), ".")
	if out == "" {
		out = "report"
	}
	return out
}
