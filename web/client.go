package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// The client side of the API, for the command line's server mode
// (`celltrack --server URL …`): the HTTP transport lives here, with the
// server, so that net/http has one home. The command line keeps the session
// file and prints the answers.

// ErrServerClosed is what Serve returns after a graceful shutdown.
var ErrServerClosed = http.ErrServerClosed

// IsLoopback reports whether host names this machine: localhost, 127.0.0.0/8
// or ::1. Plain HTTP is allowed only there, by the server and the client.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ClientTransport, when set, wraps the transport of every Client (tests use
// it to carry their clock); nil leaves it alone.
var ClientTransport func(base http.RoundTripper) http.RoundTripper

// Client calls one celltrack server's API with the session cookie it holds.
type Client struct {
	// Base is the server, scheme://host[:port].
	Base string
	// CookieName and Cookie are the session the server set at login; a
	// server renews the cookie as a read moves the session's activity.
	CookieName, Cookie string
	http               *http.Client
}

// APIFailure is an error object the server answered: the code, the message
// and the command line's exit code.
type APIFailure struct {
	Err  *lot.Error
	Exit int
}

func (e *APIFailure) Error() string { return e.Err.Message }
func (e *APIFailure) Unwrap() error { return e.Err }

// NewClient checks the server's URL and the TLS rules: https is verified
// with the system's roots and caPEM (a private CA, named caName in
// messages) when given; plain http only to a loopback address, the rule of
// serve's --addr, because passwords would cross the network in clear text.
func NewClient(raw string, caPEM []byte, caName string) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, lot.Errorf(lot.EUSAGE, "--server (or CELLTRACK_SERVER) %q is not a server URL; give http(s)://HOST:PORT as `celltrack serve` printed it", shownURL(raw, u))
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, lot.Errorf(lot.EUSAGE, "--server (or CELLTRACK_SERVER) %q: give only the scheme, host and port (e.g. https://ward.example:8443), no user, path or query", shownURL(raw, u))
	}
	base := u.Scheme + "://" + u.Host
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // patient data goes to the server named, not through a proxy from the environment
	if u.Scheme == "http" {
		if !IsLoopback(u.Hostname()) {
			return nil, lot.Errorf(lot.EUSAGE, "--server %s is plain http to %s, beyond this machine: passwords and patient data would cross the network in clear text; use the server's https URL", base, u.Hostname())
		}
	} else {
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if caPEM != nil {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(caPEM) {
				return nil, lot.Errorf(lot.EINVALID, "CELLTRACK_SERVER_CA %s holds no PEM certificate; give the PEM file of the CA that signed the server's certificate", caName)
			}
			conf.RootCAs = pool
		}
		tr.TLSClientConfig = conf
	}
	var rtr http.RoundTripper = tr
	if ClientTransport != nil {
		rtr = ClientTransport(tr)
	}
	return &Client{Base: base, http: &http.Client{Transport: rtr, Timeout: 90 * time.Second,
		// An API answer is never a redirect; following one could send the
		// session elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// Call sends one API request with the session cookie. The answer's body and
// headers are returned for a 2xx status, and for an error object too (a
// NO-GO carries its report), with the error as an *APIFailure. renewed
// reports whether the server renewed the session's cookie (Cookie holds the
// new one).
func (c *Client) Call(method, path string, body any) (data []byte, header http.Header, renewed bool, err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, false, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.request(context.Background(), method, path, rd)
	if err != nil {
		return nil, nil, false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// sent: the request's headers went out on a connection, so the server
	// may have acted on it whatever happens to the answer.
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteHeaders: func() { sent.Store(true) },
	}))
	write := method != http.MethodGet && method != http.MethodHead
	resp, err := c.http.Do(req)
	if err != nil {
		if write && sent.Load() {
			return nil, nil, false, c.lostAnswer(method, path, "", err)
		}
		return nil, nil, false, c.unreached(err)
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		if write {
			return nil, nil, false, c.lostAnswer(method, path, resp.Status, err)
		}
		return nil, nil, false, lot.Errorf(lot.ENODB, "the answer of the server %s was cut off: %v; nothing was written by this read — try again", c.Base, err)
	}
	renewed = c.takeCookies(resp)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return data, resp.Header, renewed, nil
	}
	err = c.failure(resp, data, method, path)
	if _, ok := err.(*APIFailure); !ok {
		return nil, nil, renewed, err
	}
	return data, resp.Header, renewed, err
}

// StreamIdle is how long Stream waits for the next bytes of an answer
// before it gives up on the server: the whole of a long listing may take
// minutes, a pause that long means the server is gone.
var StreamIdle = 90 * time.Second

// Stream sends one GET of the API with the session cookie and hands the
// body of a 2xx answer to fn as it arrives, for a listing too long to hold
// (the whole audit trail): no limit on the whole answer's time or size, but
// one of StreamIdle between two reads. A refusal is returned as Call
// returns it; renewed is as Call's. fn's error is returned; a body cut
// short is fn's to tell (its reads fail, or the document ends early).
func (c *Client) Stream(path string, fn func(body io.Reader) error) (renewed bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	idle := time.AfterFunc(StreamIdle, cancel)
	defer idle.Stop()
	req, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return false, err
	}
	hc := *c.http
	hc.Timeout = 0 // the idle timer bounds it
	resp, err := hc.Do(req)
	if err != nil {
		return false, c.unreached(err)
	}
	defer resp.Body.Close()
	renewed = c.takeCookies(resp)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return renewed, lot.Errorf(lot.ENODB, "the answer of the server %s was cut off: %v; nothing was written by this read — try again", c.Base, err)
		}
		return renewed, c.failure(resp, data, http.MethodGet, path)
	}
	return renewed, fn(idleReader{resp.Body, idle})
}

// idleReader is a body whose every read puts off t (Stream's idle limit).
type idleReader struct {
	r io.Reader
	t *time.Timer
}

func (r idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.t.Reset(StreamIdle)
	return n, err
}

// request is a request of the API to path with the session cookie.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", path, err)
	}
	req.Header.Set("Origin", c.Base) // the server's cross-origin check
	req.Header.Set("Accept", "application/json")
	if c.Cookie != "" {
		req.AddCookie(&http.Cookie{Name: c.CookieName, Value: c.Cookie})
	}
	return req, nil
}

// unreached is the error of a request that got no answer before anything
// could have been acted on.
func (c *Client) unreached(err error) error {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return lot.Errorf(lot.ENODB, "the server %s cannot be trusted: its certificate is signed by an authority this machine does not know (%v); nothing was sent — set CELLTRACK_SERVER_CA to the PEM file of the CA that signed the server's certificate (ask the server's admin for it)", c.Base, err)
	}
	return lot.Errorf(lot.ENODB, "the server %s cannot be reached: %v; check the URL, and that `celltrack serve` runs there", c.Base, err)
}

// takeCookies keeps the session cookie an answer sets: a login's, or a
// renewal of the one held (reported true).
func (c *Client) takeCookies(resp *http.Response) (renewed bool) {
	for _, ck := range resp.Cookies() {
		switch {
		case c.Cookie == "" && strings.HasSuffix(ck.Name, "celltrack_session") && ck.Value != "":
			c.CookieName, c.Cookie = ck.Name, ck.Value // a login
		case c.Cookie != "" && ck.Name == c.CookieName && ck.Value != "" && ck.MaxAge >= 0 && ck.Value != c.Cookie:
			c.Cookie, renewed = ck.Value, true
		}
	}
	return renewed
}

// failure is the error of an answer that is not 2xx: its error object.
func (c *Client) failure(resp *http.Response, data []byte, method, path string) error {
	var ae APIError
	if json.Unmarshal(data, &ae) != nil || ae.Error.Code == "" {
		return lot.Errorf(lot.EINTERNAL, "the server %s answered %s to %s %s without an error object; is it a celltrack server?", c.Base, resp.Status, method, path)
	}
	return &APIFailure{Err: lot.FieldErrorf(ae.Error.Field, ae.Error.Code, "%s", ae.Error.Message).Run(ae.Error.Command), Exit: ae.Error.Exit}
}

// lostAnswer is the error of a write that reached the server but whose
// answer did not come back (the connection dropped, the answer was cut
// off): the server may have recorded it. Repeating it blindly could record
// an infusion twice, so the person is told to look first (exit 12), and
// where.
func (c *Client) lostAnswer(method, path, status string, err error) error {
	got := "no answer came back"
	if status != "" {
		got = "the answer (" + status + ") was cut off"
	}
	return lot.Errorf(lot.EUNKNOWN, "the request reached the server %s but %s (%v): it may have been recorded — check before repeating it, with %s (%s %s)",
		c.Base, got, err, checkHint(path), method, path)
}

// checkHint names the command that shows whether the write of an API path
// was recorded.
func checkHint(path string) string {
	p, _, _ := strings.Cut(path, "?")
	switch {
	case strings.Contains(p, "/reactions"), strings.Contains(p, "/dose/reaction"):
		return "`celltrack trace patient MRN` (the reactions recorded)"
	case strings.Contains(p, "/infusions"), strings.Contains(p, "/dose/administer"), strings.Contains(p, "/courses"):
		return "`celltrack schedule show MRN` (the infusions of the patient's course)"
	case strings.Contains(p, "/patients"):
		return "`celltrack patient show MRN`"
	case strings.Contains(p, "/containers"), strings.Contains(p, "/labels"):
		return "`celltrack container history CONTAINER`"
	case strings.Contains(p, "/lots"):
		return "`celltrack lot show LOT` (and `celltrack release history LOT`)"
	case strings.Contains(p, "/donors"):
		return "`celltrack donor show DONOR`"
	case strings.Contains(p, "/users"), strings.Contains(p, "/password"), strings.Contains(p, "/login"):
		return "`celltrack user list` or `celltrack whoami`"
	}
	return "`celltrack audit log`"
}

// Login opens a session for name: the cookie is kept in the client. The
// answer is the LoginView.
func (c *Client) Login(name, password string) (LoginView, error) {
	var v LoginView
	c.CookieName, c.Cookie = "", ""
	data, _, _, err := c.Call(http.MethodPost, "/api/v1/login", LoginRequest{User: name, Password: password})
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, lot.Errorf(lot.EINTERNAL, "the server %s answered the login with something else than a user: %v", c.Base, err)
	}
	if c.Cookie == "" {
		return v, lot.Errorf(lot.EINTERNAL, "the server %s logged %s in but set no session cookie; is it a celltrack server?", c.Base, name)
	}
	return v, nil
}

// IsAPIFailure returns the error object of err, if it is one.
func IsAPIFailure(err error) (*APIFailure, bool) {
	var f *APIFailure
	ok := errors.As(err, &f)
	return f, ok
}

// shownURL is a --server value as a message may print it: without the
// password of a user part (url.URL.Redacted), and, when it does not parse,
// without anything between "://" and an "@".
func shownURL(raw string, u *url.URL) string {
	if u != nil {
		return u.Redacted()
	}
	if i, j := strings.Index(raw, "://"), strings.LastIndex(raw, "@"); i >= 0 && j > i {
		return raw[:i+3] + "xxxxx" + raw[j:]
	}
	return raw
}
