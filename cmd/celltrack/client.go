package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
)

// The command line as a client of `celltrack serve` (--server URL or
// CELLTRACK_SERVER): the commands below run through the server's JSON API
// and print what they print locally, with the same exit codes. Every other
// command is refused (exit 2): it needs the database itself.
var servedCommands = map[string]bool{
	"celltrack login":           true,
	"celltrack logout":          true,
	"celltrack dose check":      true,
	"celltrack dose administer": true,
	"celltrack dose reaction":   true,
	"celltrack trace lot":       true,
	"celltrack trace patient":   true,
	"celltrack trace donor":     true,
	"celltrack trace container": true,
	// lot.Service (web.RemoteLots)
	"celltrack donor add":       true,
	"celltrack donor correct":   true,
	"celltrack donor list":      true,
	"celltrack patient add":     true,
	"celltrack patient correct": true,
	"celltrack patient weigh":   true,
	"celltrack patient show":    true,
	"celltrack patient list":    true,
	"celltrack lot register":    true,
	"celltrack lot split":       true,
	"celltrack lot show":        true,
	"celltrack lot list":        true,
	"celltrack lot import":      true,
	"celltrack container show":  true,
	"celltrack container list":  true,
	// lot.CustodyService (web.RemoteCustody)
	"celltrack container store":      true,
	"celltrack container ship":       true,
	"celltrack container receive":    true,
	"celltrack container thaw":       true,
	"celltrack container dispense":   true,
	"celltrack container discard":    true,
	"celltrack container return":     true,
	"celltrack container quarantine": true,
	"celltrack container history":    true,
	"celltrack site add":             true,
	"celltrack site set-tz":          true,
	"celltrack site list":            true,
	// lot.LabelService (web.RemoteLabels); print writes the PDF here
	"celltrack label print":     true,
	"celltrack label apply":     true,
	"celltrack label void":      true,
	"celltrack label reconcile": true,
	// release.Service (web.RemoteReleases); certificate --out writes here
	"celltrack donor show":          true,
	"celltrack donor screen":        true,
	"celltrack release result":      true,
	"celltrack release results":     true,
	"celltrack release evaluate":    true,
	"celltrack release approve":     true,
	"celltrack release reject":      true,
	"celltrack release history":     true,
	"celltrack release certificate": true,
	"celltrack release spec list":   true,
	"celltrack release spec show":   true,
	"celltrack release spec add":    true,
	// dose.Service (web.RemoteDoses)
	"celltrack dose calc":           true,
	"celltrack dose confirm-weight": true,
	"celltrack protocol list":       true,
	"celltrack protocol show":       true,
	"celltrack protocol add":        true,
	"celltrack schedule create":     true,
	"celltrack schedule show":       true,
	"celltrack schedule change":     true,
	// audit.Users and audit.Log (web.RemoteUsers)
	"celltrack user add":      true,
	"celltrack user list":     true,
	"celltrack user disable":  true,
	"celltrack user enable":   true,
	"celltrack user unlock":   true,
	"celltrack user reset":    true,
	"celltrack user role":     true,
	"celltrack user passwd":   true,
	"celltrack settings show": true,
	"celltrack settings set":  true,
	"celltrack audit log":     true,
	"celltrack audit verify":  true,
	// audit.Checkpoints (web.RemoteCheckpoints): verifier keys and the
	// notes of kept checkpoints travel, never a signing key
	"celltrack audit key register": true,
	"celltrack audit key rotate":   true,
	"celltrack audit key list":     true,
	"celltrack whoami":             true,
	"celltrack report access":      true,
	"celltrack report handling":    true,
}

// fileLevel are the commands that work on the database file itself, or on
// a file on the server's disk, with the reason each is refused through a
// server (README, "The command line as a client of a server").
var fileLevel = map[string]string{
	"celltrack init":             "it creates the database file",
	"celltrack check":            "it checks the database file page by page",
	"celltrack backup":           "it copies the database file to a file beside it",
	"celltrack restore":          "it replaces the database file, with every celltrack stopped",
	"celltrack upgrade":          "it migrates the database file, with every celltrack stopped",
	"celltrack migrate":          "it copies the whole database to a new one on the other engine",
	"celltrack serve":            "it is the server: it opens the database file",
	"celltrack demo":             "it builds a demonstration database file of its own",
	"celltrack audit key init":   "it writes a signing key file, which belongs on the machine that signs",
	"celltrack audit checkpoint": "it signs with a key file on the server's machine (`celltrack serve --checkpoint-key` signs checkpoints itself)",
}

// noDatabase are the commands that need no database: they run as they do
// without a server.
var noDatabase = map[string]bool{
	"celltrack isbt check": true,
	"celltrack completion": true,
}

// servedThroughServer reports whether the command named by its help name
// ("celltrack dose check") runs through a server.
func servedThroughServer(helpName string) bool { return servedCommands[helpName] }

// serverClient talks to one server for one command: web.Client sends the
// requests, serverClient keeps the session file and reads the answers.
type serverClient struct {
	rt      *runtime
	api     *web.Client
	base    string // scheme://host[:port], no trailing slash
	session serverSession
	path    string // the session file
	// facility is the server's facility FIN, read at the start of a command.
	facility string
	// signatures keeps the passwords signers typed in this command, for
	// the server to check when the signature is used.
	signatures *web.Signatures
}

// serverSession is the client's session file for one server: the cookie
// the server set at login (the database's session, as a browser keeps it)
// and the user it belongs to.
type serverSession struct {
	Server     string `json:"server"`
	User       string `json:"user"`
	CookieName string `json:"cookie_name"`
	Cookie     string `json:"cookie"`
}

// serverError is an error object of the API: its code, message and the
// exit code the server gives.
type serverError = web.APIFailure

// newServerClient checks the server's URL and the TLS rules: https is
// verified with the system's roots and CELLTRACK_SERVER_CA (a PEM file of a
// private CA) if set; plain http only to a loopback address, the rule of
// serve's --addr, because passwords would cross the network in clear text.
func (rt *runtime) newServerClient(raw string) (*serverClient, error) {
	var caPEM []byte
	ca := ""
	if strings.HasPrefix(strings.TrimSpace(raw), "https://") {
		ca = rt.getenv("CELLTRACK_SERVER_CA") // a private CA verifies https only
	}
	if ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, lot.Errorf(lot.EINVALID, "CELLTRACK_SERVER_CA %s cannot be read: %v; give the PEM file of the CA that signed the server's certificate", ca, err)
		}
		caPEM = b
	}
	api, err := web.NewClient(raw, caPEM, ca)
	if err != nil {
		return nil, err
	}
	dir, err := rt.configDir()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(api.Base))
	return &serverClient{rt: rt, api: api, base: api.Base, signatures: web.NewSignatures(), path: filepath.Join(dir, "server-"+hex.EncodeToString(sum[:12])+".json")}, nil
}

// useServerSession loads the session file of this server and checks --user
// (or CELLTRACK_USER) against its user, as a local command does. It
// returns the server's facility, asked for in the same request.
func (cl *serverClient) useServerSession(c *cli.Context) (web.RemoteFacilityView, error) {
	b, err := os.ReadFile(cl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return web.RemoteFacilityView{}, lot.Errorf(lot.ESESSION, "not logged in to %s; log in with `celltrack login NAME`", cl.base)
	}
	if err != nil {
		return web.RemoteFacilityView{}, fmt.Errorf("read session file: %w", err)
	}
	if json.Unmarshal(b, &cl.session) != nil || cl.session.Cookie == "" || cl.session.Server != cl.base {
		return web.RemoteFacilityView{}, lot.Errorf(lot.ESESSION, "the session file %s is not one celltrack wrote (it was edited by hand); log in again with `celltrack login NAME`", cl.path)
	}
	// Who the session is, the server says: the file's user field is only
	// what was written at login, and a file can be copied or edited. The
	// cookie is what the server acts on, so --user is checked against the
	// server's answer (GET /api/v1/svc/start, whose user is the one GET
	// /api/v1/svc/session gives `whoami`), which brings the facility too.
	su, f, err := web.RemoteStart(cl)
	if err != nil {
		return f, err
	}
	if su.Name != cl.session.User {
		return f, lot.Errorf(lot.ESESSION, "the session file %s says %s, but the server says its session is %s's (the file was edited or copied); log in again with `celltrack login NAME`", cl.path, cl.session.User, su.Name)
	}
	if want := flagValue(c, "user", (*cli.Context).String); want != "" && want != su.Name {
		return f, lot.Errorf(lot.EUSAGE, "--user (or CELLTRACK_USER) %s names someone other than the session's user %s; log in as %s with `celltrack login %s`, or drop --user", want, su.Name, want, want)
	}
	c.App.Metadata = map[string]any{"user": su.Name}
	return f, nil
}

// call sends one API request with the session's cookie. The answer's body
// is returned for a 2xx status, and for a NO-GO (409 with a report) as well
// as its error; a renewed cookie is saved in the session file (a read
// carries the session's last activity in the token).
func (cl *serverClient) call(method, path string, body any) ([]byte, map[string][]string, error) {
	cl.api.CookieName, cl.api.Cookie = cl.session.CookieName, cl.session.Cookie
	data, h, renewed, err := cl.api.Call(method, path, body)
	cl.keepRenewed(renewed)
	return data, h, err
}

// keepRenewed saves the session's cookie in the session file when the
// server renewed it.
func (cl *serverClient) keepRenewed(renewed bool) {
	if renewed {
		cl.session.Cookie = cl.api.Cookie
		if serr := saveJSONFile(cl.path, cl.session); serr != nil {
			fmt.Fprintf(cl.rt.stderr, "celltrack: the renewed session could not be saved: %v\n", serr)
		}
	}
}

// Stream is a GET of the API with the session's cookie whose answer's body
// fn reads as it arrives (web.Streamer): the audit trail's listing. A
// renewed cookie is saved as call saves it.
func (cl *serverClient) Stream(path string, fn func(body io.Reader) error) error {
	cl.api.CookieName, cl.api.Cookie = cl.session.CookieName, cl.session.Cookie
	renewed, err := cl.api.Stream(path, fn)
	cl.keepRenewed(renewed)
	return err
}

// Call is call for the remote services (web.Caller): one request of the
// API with the session's cookie.
func (cl *serverClient) Call(method, path string, body any) ([]byte, map[string][]string, error) {
	return cl.call(method, path, body)
}

// login opens a session on the server and keeps its cookie in the session
// file of this server.
func (cl *serverClient) login(name, password string) (web.LoginView, error) {
	cl.session = serverSession{}
	v, err := cl.api.Login(name, password)
	if err != nil {
		return v, err
	}
	cl.session = serverSession{Server: cl.base, User: v.User, CookieName: cl.api.CookieName, Cookie: cl.api.Cookie}
	if err := saveJSONFile(cl.path, cl.session); err != nil {
		return v, err
	}
	cl.noteMigrated()
	return v, nil
}

// noteMigrated prints, as a local login or logout does on its database,
// the one line of a server's database that was migrated to the other
// engine. Other commands have it with the facility (runtime.action); a
// note the server cannot give is left out: it is only a note.
func (cl *serverClient) noteMigrated() {
	if f, err := web.RemoteFacility(cl); err == nil && f.Migrated != "" {
		fmt.Fprintf(cl.rt.stderr, "celltrack: note: %s\n", f.Migrated)
	}
}

// logout ends the session on the server and removes the session file. It
// reports whether the server still had the session. check sees the
// session's user first and may refuse, with nothing sent or removed.
func (cl *serverClient) logout(check func(user string) error) (string, bool, error) {
	b, err := os.ReadFile(cl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, lot.Errorf(lot.ESESSION, "not logged in to %s; log in with `celltrack login NAME`", cl.base)
	}
	if err != nil {
		return "", false, fmt.Errorf("read session file: %w", err)
	}
	if json.Unmarshal(b, &cl.session) != nil || cl.session.Cookie == "" {
		os.Remove(cl.path)
		return "", false, lot.Errorf(lot.ESESSION, "the session file %s is not one celltrack wrote (it was edited by hand); it was removed", cl.path)
	}
	if err := check(cl.session.User); err != nil {
		return "", false, err
	}
	cl.noteMigrated()
	data, _, err := cl.call("POST", "/api/v1/logout", nil)
	var v struct {
		Ended bool `json:"ended"`
	}
	if lot.ErrorCode(err) == lot.ENODB {
		// The server was not reached: the session may still be live
		// there, so its file is kept for a later logout.
		return "", false, err
	}
	json.Unmarshal(data, &v)
	os.Remove(cl.path)
	return cl.session.User, v.Ended, err
}

// trace fetches a trace report rendered by the server in format, with the
// summary the server sends beside it (web.ReportHeader).
func (cl *serverClient) trace(kind, ref, format string, fullVerify bool) ([]byte, reportSummary, error) {
	q := url.Values{"format": {format}}
	if fullVerify {
		q.Set("full_verify", "true")
	}
	return cl.rendered("/api/v1/trace/" + kind + "/" + url.PathEscape(ref) + "?" + q.Encode())
}

// report fetches a report across records (access, handling) rendered by the
// server, with its summary.
func (cl *serverClient) report(kind string, q url.Values) ([]byte, reportSummary, error) {
	return cl.rendered("/api/v1/svc/reports/" + kind + "?" + q.Encode())
}

// rendered fetches a report the server rendered, and its summary.
func (cl *serverClient) rendered(path string) ([]byte, reportSummary, error) {
	data, h, err := cl.call("GET", path, nil)
	if err != nil {
		return nil, reportSummary{}, err
	}
	v, perr := url.ParseQuery(headerValue(h, web.ReportHeader))
	if perr != nil || v.Get("kind") == "" {
		return nil, reportSummary{}, lot.Errorf(lot.EINTERNAL, "the server %s sent the report without its %s header; is it a celltrack server of this version?", cl.base, web.ReportHeader)
	}
	n := func(k string) int { i, _ := strconv.Atoi(v.Get(k)); return i }
	s := reportSummary{Kind: v.Get("kind"), Subject: v.Get("subject"), Events: n("events"), Rows: -1,
		Verified: v.Get("audit_verified") == "true", Problems: n("audit_problems"), Scope: v.Get("audit_verify_scope")}
	if v.Has("rows") {
		s.Rows = n("rows")
	}
	s.ChainFrom, _ = strconv.ParseUint(v.Get("audit_chain_from"), 10, 64)
	return data, s, nil
}

// headerValue is the first value of header name in h (canonical form).
func headerValue(h map[string][]string, name string) string {
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// reportSummary is what `trace --out` says it wrote and what decides its
// exit code, from a report built here or a server's summary of one.
type reportSummary struct {
	Kind, Subject string
	Events        int
	Rows          int // -1: not a tabular report
	Verified      bool
	Problems      int
	Scope         string
	ChainFrom     uint64
}

func summarize(r report.Report) reportSummary {
	s := reportSummary{Kind: r.Kind, Subject: r.Subject, Events: len(r.Events), Rows: -1, Verified: r.Produced.Verified,
		Problems: len(r.Produced.Problems), Scope: r.Produced.Scope, ChainFrom: r.Produced.ChainFrom}
	if r.Data != nil {
		s.Rows = len(r.Data.Rows)
	}
	return s
}

// name is the report's name, as report.Report.Name says it.
func (s reportSummary) name() string {
	r := report.Report{Kind: s.Kind, Subject: s.Subject}
	if s.Rows >= 0 {
		r.Data = &report.Table{}
	}
	return r.Name()
}

// saveJSONFile writes v to path, 0600 in a 0700 directory, in one rename.
func saveJSONFile(path string, v any) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	os.Chmod(dir, 0o700)
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".session-*")
	if err != nil {
		return fmt.Errorf("write session file: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write session file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write session file: %w", err)
	}
	return os.Rename(f.Name(), path)
}
