package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/trace"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
)

// shutdownGrace is how long a stopping server waits for the requests in
// flight (an infusion being signed) to finish unless --stop-grace says
// otherwise; those still running then are cut, and it waits cutWait more
// for them to end (web.Server.Stop).
const (
	shutdownGrace = 30 * time.Second
	cutWait       = 10 * time.Second
)

func (rt *runtime) serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "hold the database open and serve the bedside and trace pages and the JSON API over HTTP(S)",
		ArgsUsage: " ",
		Description: "Binding anything but a loopback address needs --tls-cert and --tls-key, or --insecure-http\n" +
			"(only on a trusted network behind a TLS proxy). SIGINT or SIGTERM stops accepting, finishes the\n" +
			"requests in flight and closes the database. An admin starts it, logged in (`celltrack login`);\n" +
			"people then log in to the server itself, in the browser or through the API. Requests are served only\n" +
			"for the --addr host (and localhost, 127.0.0.1, [::1] for loopback) and each --public-host; other\n" +
			"Host headers get 421 (DNS rebinding). See the README, \"Server\".\n\n" +
			example("celltrack --db ward.db serve", "celltrack --db ward.db serve --addr :8443 --tls-cert ward.crt --tls-key ward.key --public-host ward7.example.org:8443"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen on `HOST:PORT`"},
			&cli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS with this certificate `FILE` (PEM, with --tls-key)"},
			&cli.StringFlag{Name: "tls-key", Usage: "the private key `FILE` of --tls-cert (PEM)"},
			&cli.StringSliceFlag{Name: "public-host", Usage: "also answer requests for this host `NAME[:PORT]` (repeatable): the name a TLS proxy in front is reached by; other Host headers get 421"},
			&cli.BoolFlag{Name: "insecure-http", Usage: "allow plain HTTP on a non-loopback address (only behind a TLS proxy on a trusted network)"},
			&cli.StringFlag{Name: "checkpoint-key", Usage: "sign checkpoints of the audit trail with this signing key `FILE` (from `audit key init`, registered here) while serving"},
			&cli.StringFlag{Name: "checkpoint-dir", Usage: "write each signed checkpoint as a new file in this `FOLDER` (keep it off the database's disk)"},
			&cli.DurationFlag{Name: "stop-grace", Value: shutdownGrace, Usage: "at SIGINT or SIGTERM, let the requests in flight finish for this long (at least 1s); those still running then (a long download or report) are cut, each named in the log"},
			&cli.DurationFlag{Name: "checkpoint-every", Value: time.Hour, Usage: "sign a checkpoint this often (at least 1m) when entries were added; also at start and stop"},
		},
		Action: func(c *cli.Context) error {
			// Check the flags and the certificate before opening the database.
			tlsConf, err := serveTLS(c)
			if err != nil {
				return err
			}
			if err := checkServeAddr(c.String("addr"), tlsConf != nil, c.Bool("insecure-http")); err != nil {
				return err
			}
			if g := c.Duration("stop-grace"); g < time.Second {
				return lot.FieldErrorf("stop-grace", lot.EUSAGE, "--stop-grace %s is too short: give at least 1s (30s by default), time for an infusion being signed to be recorded", g)
			}
			if _, err := web.AllowedHosts(c.String("addr"), "1", c.StringSlice("public-host")); err != nil {
				return err
			}
			ck, err := serveCheckpointer(c)
			if err != nil {
				return err
			}
			// authDB: the server acts for whoever logs in to it, so the
			// database is not bound to the starting admin's session (as a
			// write command's is); that session is checked here instead.
			return rt.action(authDB, 0, func(c *cli.Context) error {
				if err := rt.useSession(c, rt.db, readDB); err != nil {
					return err
				}
				if err := audit.AuthorizeServe(rt.session.User); err != nil {
					return err
				}
				return rt.serve(c, tlsConf, ck)
			})(c)
		},
	}
}

// serveTLS loads --tls-cert and --tls-key; nil without them.
func serveTLS(c *cli.Context) (*tls.Config, error) {
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, lot.Errorf(lot.EUSAGE, "--tls-cert and --tls-key go together: give both files, or neither for plain HTTP on loopback")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, lot.Errorf(lot.EINVALID, "--tls-cert %s / --tls-key %s cannot be used: %v; give a PEM certificate and its private key", cert, key, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// checkServeAddr refuses plain HTTP on anything but loopback: passwords and
// patient data would cross the ward's network in clear text.
func checkServeAddr(addr string, tls, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return lot.Errorf(lot.EUSAGE, "--addr %q is not HOST:PORT (e.g. 127.0.0.1:8080 or :8443): %v", addr, err)
	}
	if tls || insecure || web.IsLoopback(host) {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every interface"
	}
	return lot.Errorf(lot.EUSAGE, "--addr %s listens on %s, beyond this machine, without TLS: passwords and patient data would cross the network in clear text; "+
		"give --tls-cert and --tls-key, or --insecure-http only when a TLS proxy on a trusted network is in front", addr, shown)
}

// serve runs the server on the database rt.db holds until SIGINT or SIGTERM.
func (rt *runtime) serve(c *cli.Context, tlsConf *tls.Config, ck *checkpointer) error {
	db := rt.db
	logger := log.New(rt.stderr, "celltrack serve: ", log.LstdFlags|log.LUTC)
	if ck != nil {
		// The first checkpoint before anything is served: a key this
		// database does not verify with, or a trail that fails
		// verification, stops the start (exit 3).
		ck.db, ck.log = db, log.New(rt.stdout, "celltrack serve: ", 0)
		if err := ck.sign(); err != nil {
			return err
		}
	}
	paceGC()
	// Behind a TLS proxy (--insecure-http) the browser still speaks HTTPS:
	// the cookie is Secure there too, so it never travels in clear text.
	app := webApp(db, tlsConf != nil || c.Bool("insecure-http"), logger)
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return lot.Errorf(lot.ECONFLICT, "--addr %s: cannot listen: %v; choose another address or port", c.String("addr"), err)
	}
	// Requests are served only for the Host names of --addr and
	// --public-host (DNS rebinding), the port the listener got.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	hosts, err := web.AllowedHosts(c.String("addr"), port, c.StringSlice("public-host"))
	if err != nil {
		ln.Close()
		return err
	}
	app.AllowHosts(hosts)
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConf)
	}
	url := scheme + "://" + ln.Addr().String()
	// A file's server leaves a marker beside it, so a local command that
	// finds the file locked can say who holds it; PostgreSQL is shared by
	// any number of servers and processes, and has no file to mark.
	if !store.IsPostgres(dbPath(c)) {
		if err := writeServerFile(db.Path(), serverFile{URL: url, PID: os.Getpid(), Started: time.Now().UTC()}); err != nil {
			ln.Close()
			return err
		}
		defer os.Remove(serverFilePath(db.Path()))
	}

	srv := app.HTTPServer(ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ckDone := make(chan struct{})
	go func() {
		defer close(ckDone)
		if ck != nil {
			ck.run(ctx)
		}
	}()
	fmt.Fprintf(rt.stdout, "celltrack serve: %s at %s (SIGINT or SIGTERM stops)\n", db.Path(), url)

	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", url, err)
	case <-ctx.Done():
	}
	fmt.Fprintln(rt.stdout, "celltrack serve: stopping: no new requests; finishing those in flight")
	grace := c.Duration("stop-grace")
	cut, returned := app.Stop(srv, grace, cutWait) // it logs what became of each request it cuts
	if len(cut) > 0 {
		fmt.Fprintf(rt.stdout, "celltrack serve: stopping: %d requests still running after %s were cut (the log says what became of each)\n", len(cut), grace)
	}
	if !returned {
		// bbolt's Close would wait for their read transactions for ever.
		// Every write acknowledged is committed (bbolt commits whole or
		// not at all), so the file is left as it is, closed by the exit.
		rt.db = nil
		return lot.Errorf(lot.EINTERNAL, "stopped, but requests cut after %s had not ended %s later; %s was not closed (every write acknowledged is committed: run `celltrack check`)", grace, cutWait, db.Path())
	}
	if err := <-served; err != nil && !errors.Is(err, web.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", url, err)
	}
	<-ckDone
	if ck != nil {
		// The last checkpoint holds every entry the server wrote.
		if err := ck.sign(); err != nil {
			ck.log.Printf("last checkpoint not written: %s", lot.ErrorMessage(err))
		}
	}
	rolled := db.RolledBack()
	rt.closeDB()
	fmt.Fprintf(rt.stdout, "celltrack serve: stopped; %s closed\n", db.Path())
	if rolled != "" {
		// Not a clean stop: what supervises the server must know.
		return lot.Errorf(lot.ECONFLICT, "the audit trail was rolled back under this server (%s); it refused writes and answered every bedside check NO-GO since it found that — an administrator verifies the trail against the kept checkpoints and restores or investigates before it serves again", rolled).Run("audit verify --checkpoint")
	}
	return nil
}

// paceGC paces the garbage collector for a server or a report, unless GOGC
// or GOMEMLIMIT says otherwise. The server's live heap between requests is a
// few megabytes and every request allocates tens of kilobytes, so at Go's
// default (GOGC=100: collect when the heap doubles) it collected about ten
// times a second under load (BenchmarkServeDoseCheckHarnessDB with
// GODEBUG=gctrace=1: 8 % of the CPU in the collector itself, more in its
// write barriers, assists and preemptions). Collecting when the heap is
// five times the live one (gcPercent) does a fifth of them. The limit (gcMemoryLimit)
// bounds what that would cost during a burst of logins (argon2id, 19 MiB
// each, eight at a time: ~150 MiB live, 323 MB RSS at the default in run
// M): near it the collector works harder instead.
//
// A trace is one process that allocates a few megabytes and exits: at the
// default its 100k `trace lot` collected three times (gctrace: the first
// goal is 4 MB), about a sixth of its CPU in the collector and its write
// barriers; at gcPercent the first goal is 16 MB and a trace of a lot with
// a hundred bags never collects.
func paceGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(gcMemoryLimit)
}

const (
	gcPercent     = 400
	gcMemoryLimit = 384 << 20
)

// webApp wires the store's services into the web front end. Their writes
// go through a group-commit handle: the non-signature writes that people
// make at the same time share one commit (and its fsyncs), each answered
// only once that commit is on disk; signatures commit alone (store/tx.go,
// GroupCommit).
func webApp(db *store.DB, secure bool, logger *log.Logger) *web.Server {
	// The hash an unknown name is checked against is made before the first
	// request, not by the first unknown name (which would then take two
	// argon2id runs where a known name's wrong password takes one).
	store.PrepareUnknownNames()
	db = db.GroupCommit()
	return web.New(web.Config{
		Doses:  store.NewDoseService(db),
		Traces: trace.New(db.ReadTraceContext),
		FullTraces: func() *trace.Service {
			ts := trace.New(db.ReadTraceContext)
			ts.FullVerify = true
			return ts
		}(),
		Lots:     store.NewLotService(db),
		Releases: store.NewReleaseService(db),
		Users:    db,
		Sessions: webSessions{db},
		Start:    webSessions{db}.Start,
		Accounts: db,
		Now:      db.Now, // the database's clock: what is locked is decided by it
		Health: func() error {
			if err := db.RolledBackRefusal(); err != nil {
				return err // unhealthy: a trail rolled back under it (serve_checkpoint.go)
			}
			_, err := db.Facility()
			return err
		},
		Zone:     db.FacilityZone,
		Facility: db.Facility,
		Migrated: func() (string, error) {
			m, err := db.Migrated()
			if err != nil || m == nil {
				return "", err
			}
			return m.Note(), nil
		},
		UserService: db,
		Verify:      db.VerifyContext,
		Checkpoints: db,
		Reports:     webReports{trace.New(db.ReadTraceContext)},
		VerifyTreeHead: func(ctx context.Context, h audit.Head) (report.CheckpointVerification, error) {
			cv, err := db.VerifyCheckpointsPinned(ctx, []audit.KeptCheckpoint{{Name: report.PrintedHeadName(h), Printed: &h}}, nil)
			return checkpointReport(cv, nil), err
		},
		AuditLog: db,
		Custody:  store.NewCustodyService(db),
		Labels:   store.NewLabelService(db),
		Secure:   secure,
		Log:      logger,

		Passwords: db, // the password pages and their API (web/password.go)
	})
}

// webSessions are the database's login sessions, for browsers and API
// clients: the token a browser keeps is the credentials `celltrack login`
// keeps in its session file (the database's identity, the user, the secret,
// the last activity and its MAC), as URL-safe base64 of their JSON.
type webSessions struct{ db *store.DB }

func (s webSessions) Login(name, password string) (web.LoginResult, error) {
	// No new password can be asked here: an account that must change its
	// password is refused (EPASSWORD), and the page or the API asks for
	// the change, which LoginChange makes.
	creds, info, err := s.db.Login(name, password, nil)
	if err != nil {
		return web.LoginResult{User: info.User}, err
	}
	set, err := s.db.Settings()
	if err != nil {
		return web.LoginResult{User: info.User}, err
	}
	return web.LoginResult{Token: encodeCreds(creds), User: info.User, Expires: info.Session.Expires, IdleExpiry: set.IdleExpiry}, nil
}

func (s webSessions) Check(token string) (audit.User, string, error) {
	c, err := decodeCreds(token)
	if err != nil {
		return audit.User{}, "", err
	}
	info, next, err := s.db.Session(c)
	if err != nil {
		return info.User, "", err
	}
	if next != c {
		return info.User, encodeCreds(next), nil
	}
	return info.User, "", nil
}

// Start checks the session of token as Check does and reads the facility
// in the same read transaction (store.DB.ServedStart).
func (s webSessions) Start(token string) (web.Started, error) {
	c, err := decodeCreds(token)
	if err != nil {
		return web.Started{}, err
	}
	sv, err := s.db.ServedStart(c)
	st := web.Started{User: sv.Session.User, FIN: sv.FIN, Zone: sv.Zone, ZoneErr: sv.ZoneErr, FacilityErr: sv.FacilityErr}
	if err != nil {
		return st, err
	}
	if sv.Next != c {
		st.Next = encodeCreds(sv.Next)
	}
	if sv.Mark != nil {
		st.Migrated = sv.Mark.Note()
	}
	return st, nil
}

func (s webSessions) Info(token string) (audit.User, audit.Session, error) {
	c, err := decodeCreds(token)
	if err != nil {
		return audit.User{}, audit.Session{}, err
	}
	info, _, err := s.db.Session(c)
	return info.User, info.Session, err
}

func (s webSessions) Logout(token string) error {
	c, err := decodeCreds(token)
	if err != nil {
		return err
	}
	_, err = s.db.Logout(c)
	return err
}

func encodeCreds(c store.Credentials) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCreds(token string) (store.Credentials, error) {
	credsMemo.Lock()
	c, ok := credsMemo.m[token]
	credsMemo.Unlock()
	if ok {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Token == "" {
		return c, lot.Errorf(lot.ESESSION, "the session cookie is not one this server made; log in again")
	}
	credsMemo.Lock()
	if len(credsMemo.m) >= 4096 {
		clear(credsMemo.m)
	}
	credsMemo.m[token] = c
	credsMemo.Unlock()
	return c, nil
}

// credsMemo keeps cookies decoded: a browser or API client sends the same
// cookie on every request until its activity moves (at most once a minute),
// and decoding it (base64, then JSON) is a function of the cookie alone.
// It decides nothing: the credentials are checked against the database on
// every request (store.DB.Session), so a revoked, expired or locked session
// is refused at once. Emptied when it holds 4,096 cookies.
var credsMemo = struct {
	sync.Mutex
	m map[string]store.Credentials
}{m: map[string]store.Credentials{}}

// serverFile is written beside the database while a server holds it, so
// that a local command that finds the file locked can say who holds it.
type serverFile struct {
	URL     string    `json:"url"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

func serverFilePath(db string) string { return db + ".serve" }

// markerSlack is how much later than the marker's time its process may seem
// to have started: the boot time /proc gives is in whole seconds, and the
// clock may have been set since.
const markerSlack = 5 * time.Second

// alive says whether the server the marker names may still run: its pid is
// alive and, where the system tells when a process started, that process
// started before the marker was written. A server killed without removing
// its marker leaves a pid that, after a reboot or a container restart,
// another process has (pid 1, a shell): that one started after the marker.
func (f serverFile) alive() bool {
	if !processAlive(f.PID) {
		return false
	}
	started, ok := processStarted(f.PID)
	return !ok || f.Started.IsZero() || !started.After(f.Started.Add(markerSlack))
}

func writeServerFile(db string, f serverFile) error {
	data, _ := json.Marshal(f)
	if err := os.WriteFile(serverFilePath(db), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", serverFilePath(db), err)
	}
	return nil
}

// heldByServer rewords a "database is busy" error when a live celltrack
// server holds the file: the user should use the server, not wait. A
// server file whose process is gone (a server killed without cleaning up)
// is ignored.
func heldByServer(db string, err error) error {
	if lot.ErrorCode(err) != lot.EBUSY {
		return err
	}
	data, rerr := os.ReadFile(serverFilePath(db))
	if rerr != nil {
		return err
	}
	var f serverFile
	if json.Unmarshal(data, &f) != nil || f.PID <= 0 || f.URL == "" || !f.alive() {
		return err
	}
	url := strings.TrimSpace(f.URL)
	return lot.Errorf(lot.EBUSY, "database is busy: celltrack serve (pid %d, since %s) holds %s and serves it at %s; use it there (CELLTRACK_SERVER=%s runs every command but the file-level ones through it), or stop that server first",
		f.PID, lot.FormatTime(f.Started), store.DisplayName(db), url, url)
}

// webReports are the reports across records of the trace service, for the
// auditor's pages and `celltrack report` through a server: each read in a
// snapshot that ends with the request's context (a stopping server cuts
// the report's rows and whole verification).
type webReports struct{ *trace.Service }

func (r webReports) Handling(ctx context.Context, user, protocol string, from, to time.Time) (report.Report, error) {
	return r.Service.Handling(ctx, user, dose.HandlingFilter{Protocol: protocol, From: from, To: to})
}
