// Package web is celltrack's second front end: the bedside page, the
// auditor's trace pages and a JSON API, served over HTTP by `celltrack serve`.
// It is the only package that imports net/http and html/template. Like the
// command line it parses, calls the domain's service interfaces and renders;
// it never sees the store's concrete types — cmd wires them in (Config).
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/report"
)

// Users is what the web front end needs from users and authentication: the
// same calls the command line makes before a read, a login or a signature.
type Users interface {
	// Authenticate checks name's password for a signature or login with the
	// given meaning: EAUTH for a wrong password (recorded in the audit
	// trail), EFORBIDDEN for a disabled or unknown user.
	Authenticate(name, password, meaning string) (audit.User, error)
	// Reader returns name when it may read: an existing, enabled user;
	// EFORBIDDEN otherwise.
	Reader(name string) (audit.User, error)
	// CoSigner checks the password of the co-signer named in field (the
	// witness), as audit.Users CoSigner: one answer for an unknown name
	// and a wrong password.
	CoSigner(field, name, password, meaning string) (audit.User, error)
}

// Traces builds the traceability reports, as `celltrack trace` does. Each
// method returns ENOTFOUND for an unknown record and EFORBIDDEN for a user
// who may not read. A full-verify trace reads the whole trail: each ends
// with ctx's error once ctx, the request's, is done (a stopping server cuts
// it, Stop).
type Traces interface {
	Donor(ctx context.Context, user, ref string) (report.Report, error)
	Lot(ctx context.Context, user, ref string) (report.Report, error)
	Patient(ctx context.Context, user, mrn string) (report.Report, error)
	Container(ctx context.Context, user, ref string) (report.Report, error)
}

// Reports builds the reports across records, as `celltrack report` does:
// EFORBIDDEN for a user who may not read them. Each reads the whole trail
// (its full verification): it ends with ctx's error once ctx, the request's,
// is done (a stopping server cuts it, Stop).
type Reports interface {
	// Access is the user-access review.
	Access(ctx context.Context, user string) (report.Report, error)
	// Handling is the handling report of the infusions of protocol (""
	// all) started in [from, to) (a zero time leaves that end open).
	Handling(ctx context.Context, user, protocol string, from, to time.Time) (report.Report, error)
}

// Config wires the services into the server.
type Config struct {
	Doses  dose.Service
	Traces Traces
	// FullTraces builds the same reports with the whole of `audit verify`
	// in their header (`trace --full-verify`, ?full_verify=true).
	FullTraces Traces
	// Lots and Releases serve the lab's and QA's pages and API.
	Lots     lot.Service
	Releases release.Service
	// Custody and Labels serve the custody and label endpoints.
	Custody lot.CustodyService
	Labels  lot.LabelService
	// UserService and AuditLog serve the users, settings and audit
	// endpoints of the command line's server mode.
	UserService audit.Users
	AuditLog    audit.Log
	// Verify runs `audit verify` on the whole database, for the command
	// line's server mode and the audit verify page; it ends with ctx's
	// error once ctx, the request's, is done.
	Verify func(ctx context.Context) (Verification, error)
	// Checkpoints serves the checkpoint verifier keys and `audit verify
	// --checkpoint` for the command line's server mode.
	Checkpoints audit.Checkpoints
	// VerifyTreeHead runs `audit verify --tree-head`: the whole verify,
	// then whether today's trail extends a tree head typed from a printed
	// report (the auditor's audit verify page); it ends with ctx's error
	// once ctx, the request's, is done.
	VerifyTreeHead func(ctx context.Context, h audit.Head) (report.CheckpointVerification, error)
	// Reports serves `celltrack report` through the server.
	Reports Reports
	// Facility is the facility's FIN (ISBT 128), printed on labels.
	Facility func() (string, error)
	Users    Users
	// Accounts serves the admin's accounts page (unlock, disable, enable).
	Accounts Accounts
	// Passwords changes a user's own password and resets another's.
	Passwords Passwords
	// Sessions opens, checks and ends logins.
	Sessions Sessions
	// Start, when set, checks the session of token as Sessions.Check does
	// and, the session passed, reads the facility, in one read transaction
	// (GET /api/v1/svc/start; start.go). Nil: the session is checked and
	// the facility read as for their own endpoints.
	Start func(token string) (Started, error)
	// Zone is the facility's time zone, in which times are shown (the
	// command line in server mode shows them as it does locally).
	Zone func() (*time.Location, error)
	// Migrated is the one-line note of a database that `celltrack migrate`
	// moved to the other engine ("" when it was not; nil: never): every
	// page shows it in a banner, and the facility answer carries it for the
	// command line, which prints it before a read as it does locally.
	Migrated func() (string, error)
	// Health answers /healthz: nil when the database can be read.
	Health func() error
	// Secure is true when the server is reached over TLS (directly or
	// through a TLS proxy): the session cookie is then Secure and __Host-.
	Secure bool
	// Now is the clock (tests replace it); nil is time.Now.
	Now func() time.Time
	// Log receives one line per refused or failed request; nil is the
	// standard logger.
	Log *log.Logger
	// PasswordChecks is how many password checks (argon2id, 19 MiB each)
	// may run at once (0: MaxPasswordChecks), and PasswordCheckWait how
	// long a request waits for one to end before it is answered 503 (0:
	// PasswordCheckWait); throttle.go.
	PasswordChecks    int
	PasswordCheckWait time.Duration
	// OnPasswordCheck, when set, is called as each password check starts
	// (inside the gate), and the function it returns as the check ends:
	// tests count the checks in flight with it.
	OnPasswordCheck func() func()
}

// Limits on what a client may send: a bedside form or an API call is a few
// hundred bytes; only a lot import (the API's, and the lab page's CSV
// upload) may be larger.
const (
	MaxBodyBytes = 64 << 10
	// MaxImportBytes is the body of a lot import (POST
	// /api/v1/svc/lots/import, and the page's POST /register/import):
	// the rows of a CSV file the lab imports.
	MaxImportBytes    = 64 << 20
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	// WriteTimeout leaves room for a full-verify PDF trace of a large lot.
	WriteTimeout = 60 * time.Second
	IdleTimeout  = 120 * time.Second
)

// StatusClientClosedRequest is the status of a request whose client went
// away before its answer — nginx's 499 "Client Closed Request", which log
// readers and monitoring know as no fault of the server's. The log line of
// such a request says so (cancellation); its answer carries it, should
// anything still read it.
const StatusClientClosedRequest = 499

// cancelled is the error of a request that ended because it was
// withdrawn: its client closed it (StatusClientClosedRequest), or the
// server's stop cut it (503, Stop logs what became of it).
type cancelled struct {
	err    error
	status int
}

func (c *cancelled) Error() string { return c.err.Error() }
func (c *cancelled) Unwrap() error { return c.err }

// cancellation is err as the request r was withdrawn, nil when it was not:
// r's context is done and err is that — its cancellation (a long read's
// walk ends with it), or the answer's write to the closed connection
// (net/http cancels the context as such a write fails). The request's
// client closed it, unless the server is stopping (Stop cut it). Only a
// read watches its request's context — a write is committed or not
// whatever became of its client (stop.go) — so nothing was written by
// either. The client's is logged here, as what it is rather than an
// internal error; a cut one Stop logs with the grace that ended. A write
// whose outcome is unknown (lot.EUNKNOWN: on PostgreSQL, the database's
// connection lost while committing, whose *net.OpError is in the chain
// too) is never taken for one: it may have been recorded, and is answered
// and logged as that (logError), whatever became of its client.
func (s *Server) cancellation(r *http.Request, err error) error {
	var netErr *net.OpError
	if r == nil || r.Context().Err() == nil || lot.ErrorCode(err) == lot.EUNKNOWN || !errors.Is(err, context.Canceled) && !errors.As(err, &netErr) {
		return nil
	}
	if s.requests.Err() != nil {
		return &cancelled{lot.Errorf(lot.EBUSY, "the server is stopping: this request was cut before its answer; nothing was written — send it again once the server is back"), http.StatusServiceUnavailable}
	}
	s.cfg.Log.Printf("%s %s from %s: %d the client closed the request before its answer; nothing was written (%v)", r.Method, r.URL.Path, r.RemoteAddr, StatusClientClosedRequest, err)
	return &cancelled{lot.Errorf(lot.EUSAGE, "the request was closed by its client before its answer; nothing was written — send it again if it is still wanted"), StatusClientClosedRequest}
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server is the web application. Build it with New.
type Server struct {
	cfg     Config
	pages   map[string]*template.Template
	mux     *http.ServeMux
	handler http.Handler
	// formMu makes the check of the change a login demands
	// (/password/expired: the password it was shown for, expiredStale)
	// and the change one step for this server: a double click's two
	// sends, handled at once, would otherwise both find the password
	// unchanged. Every other form's state (a label, a split, a custody
	// move, an account, a lot's result or decision) the store checks in
	// its writing transaction (audit.SeenField), for every server.
	formMu sync.Mutex
	// hosts are the Host header values served (AllowHosts); nil: any.
	hosts map[string]bool
	// limits are the failed-login buckets (throttle.go).
	limits *loginLimits
	// flight is the requests being served; requests is their base
	// context, which cutRequests cancels (Stop, stop.go).
	flight      flight
	requests    context.Context
	cutRequests context.CancelFunc
}

// New returns the web application's handler, with its security middleware.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = log.Default()
	}
	cfg.gate(newPasswordGate(cfg.PasswordChecks, cfg.PasswordCheckWait, cfg.OnPasswordCheck))
	s := &Server{cfg: cfg, pages: parsePages(), mux: http.NewServeMux(), limits: newLoginLimits()}
	s.requests, s.cutRequests = context.WithCancel(context.Background())
	s.routes()
	s.handler = s.secure(s.mux)
	return s
}

// ServeHTTP serves a request through the security middleware.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.flight.serve(w, r, s.handler)
}

// HTTPServer returns an http.Server for addr with every timeout set, so a
// slow client cannot hold a connection open.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          s.cfg.Log,
		BaseContext:       s.baseContext,
	}
}

func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.loginPost)
	s.mux.HandleFunc("POST /logout", s.logoutPost)
	s.mux.HandleFunc("GET /bedside", s.page(s.bedsidePage))
	s.mux.HandleFunc("POST /bedside/check", s.page(s.bedsideCheck))
	s.mux.HandleFunc("POST /bedside/administer", s.page(s.bedsideAdminister))
	s.mux.HandleFunc("POST /bedside/reaction", s.page(s.bedsideReaction))
	s.mux.HandleFunc("GET /bedside/reaction", s.page(s.bedsideReactionPage))
	s.mux.HandleFunc("GET /trace", s.page(s.tracePage))
	s.mux.HandleFunc("GET /trace/download", s.page(s.traceDownload))
	s.reportPageRoutes()
	s.mux.HandleFunc("GET /lots", s.page(s.lotsPage))
	s.mux.HandleFunc("GET /lots/{ref}", s.page(s.lotPage))
	s.mux.HandleFunc("POST /lots/{ref}/approve", s.page(s.lotApprove))
	s.mux.HandleFunc("POST /lots/{ref}/reject", s.page(s.lotReject))
	s.mux.HandleFunc("POST /lots/{ref}/results", s.page(s.lotResult))
	s.mux.HandleFunc("GET /accounts", s.page(s.accountsPage))
	s.mux.HandleFunc("POST /accounts/{name}/{action}", s.page(s.accountPost))
	s.mux.HandleFunc("GET /register", s.page(s.registerPage))
	s.mux.HandleFunc("POST /register/donor", s.page(s.registerDonor))
	s.mux.HandleFunc("POST /register/patient", s.page(s.registerPatient))
	s.mux.HandleFunc("GET /password", s.page(s.passwordPage))
	s.mux.HandleFunc("POST /password", s.page(s.passwordPost))
	s.mux.HandleFunc("POST /password/expired", s.expiredPost)
	s.mux.HandleFunc("POST /accounts/{name}/reset", s.page(s.resetPost))
	s.labRoutes()

	for _, rt := range s.apiRoutes() {
		s.mux.HandleFunc(rt.pattern, rt.handler)
	}
	s.mux.HandleFunc("GET /api/v1/openapi.json", s.openAPI)
	// Anything else under /api/ answers with the API's error object, not
	// the mux's plain text.
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, lot.Errorf(lot.ENOTFOUND, "%s %s is not a call of the API; see /api/v1/openapi.json", r.Method, r.URL.Path))
	})
}

// apiRoute is one route of the JSON API; web/openapi.json describes each
// (a test keeps the two in step).
type apiRoute struct {
	pattern string
	handler http.HandlerFunc
}

func (s *Server) apiRoutes() []apiRoute {
	routes := []apiRoute{
		{"POST /api/v1/login", s.apiLogin},
		{"POST /api/v1/logout", s.apiLogout},
		{"POST /api/v1/dose/check", s.api(s.apiDoseCheck)},
		{"POST /api/v1/dose/administer", s.api(s.apiDoseAdminister)},
		{"POST /api/v1/dose/reaction", s.api(s.apiDoseReaction)},
		{"GET /api/v1/trace/{kind}/{ref}", s.api(s.apiTrace)},
		{"GET /api/v1/users", s.api(s.apiAccounts)},
		{"POST /api/v1/users/{name}/{action}", s.api(s.apiAccountAct)},
		{"GET /api/v1/lots", s.api(s.apiLots)},
		{"GET /api/v1/lots/{ref}", s.api(s.apiLot)},
		{"GET /api/v1/lots/{ref}/results", s.api(s.apiResults)},
		{"POST /api/v1/lots/{ref}/results", s.api(s.apiRecordResult)},
		{"GET /api/v1/lots/{ref}/evaluation", s.api(s.apiEvaluation)},
		{"GET /api/v1/lots/{ref}/history", s.api(s.apiHistory)},
		{"POST /api/v1/lots/{ref}/approve", s.api(s.apiApprove)},
		{"POST /api/v1/lots/{ref}/reject", s.api(s.apiReject)},
		{"POST /api/v1/donors", s.api(s.apiAddDonor)},
		{"POST /api/v1/patients", s.api(s.apiAddPatient)},
		{"POST /api/v1/password", s.api(s.apiPassword)},
		{"POST /api/v1/password/expired", s.apiPasswordExpired},
		{"POST /api/v1/users/{name}/reset", s.api(s.apiReset)},
	}
	for _, sr := range s.serviceRoutes() {
		routes = append(routes, apiRoute{sr.pattern, sr.handler})
	}
	return routes
}

// serviceRoutes are the service endpoints (/api/v1/svc/…), each with the
// summary openapi.json gives it.
func (s *Server) serviceRoutes() []svcRoute {
	return slices.Concat(s.svcRoutes(), s.releaseRoutes(), s.userRoutes(), s.doseRoutes(), s.reportRoutes(),
		s.sessionRoutes(), s.startRoutes(), s.verifyRoutes(), s.checkpointRoutes())
}

//go:embed openapi.json
var openAPIDoc []byte

// openAPI serves the API's description (OpenAPI 3.1).
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Health != nil {
		if err := s.cfg.Health(); err != nil {
			s.cfg.Log.Printf("healthz: %v", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			if lot.ErrorCode(err) == lot.ECONFLICT {
				// The server refuses to go on (a trail rolled back under
				// it): the load balancer's operator reads why.
				w.Write([]byte(lot.ErrorMessage(err) + "\n"))
				return
			}
			w.Write([]byte("database unavailable\n"))
			return
		}
	}
	w.Write([]byte("ok\n"))
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if u, err := s.currentUser(w, r); err == nil {
		http.Redirect(w, r, landing(u), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
