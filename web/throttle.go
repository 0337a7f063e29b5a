package web

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"golang.org/x/time/rate"
)

// A password check is an argon2id hash: 19 MiB of memory and tens of
// milliseconds of a core each (audit.HashPassword). Without a bound, 200
// logins sent at once with made-up names took 1.9 GB and made a nurse's
// signature wait ten seconds. Two defences:
//
//   - the password gate: at most MaxPasswordChecks checks (or new hashes)
//     run at once, whoever asks — a login, a signature, a password change;
//     a request that finds every slot taken waits up to PasswordCheckWait,
//     then is answered 503 with Retry-After (code busy, exit 11) and
//     nothing is checked or written;
//   - the login limits: failed logins take a token from a bucket of their
//     client address and one of the user name they gave (known or not); an
//     empty bucket answers 429 with Retry-After (code auth, exit 3, as a
//     locked account) before any password is looked at. A refused
//     co-signer (a witness, an exceptional release's physician) takes from
//     the same buckets, by the acting user's address and the name typed,
//     and is refused as a login when one is empty (limitedCoSign).

// Defaults of the password gate and the login limits (Config overrides
// the gate's; README, "Server").
const (
	// MaxPasswordChecks is 4 × 19 MiB ≈ 76 MiB of hashing at most.
	MaxPasswordChecks = 4
	// PasswordCheckWait is how long a request waits for a free slot.
	PasswordCheckWait = 5 * time.Second
	// LoginFailuresPerAddress failed logins from one address are allowed
	// at once, then one more every LoginAddressEvery.
	LoginFailuresPerAddress = 20
	LoginAddressEvery       = 3 * time.Second
	// LoginFailuresPerName failed logins for one user name are allowed at
	// once (the lockout of a real account comes at audit.MaxFailures),
	// then one more every LoginNameEvery.
	LoginFailuresPerName = 10
	LoginNameEvery       = 30 * time.Second
	// loginBuckets is how many addresses (and as many names) are followed;
	// past it the buckets that are full again are forgotten.
	loginBuckets = 10000
)

// throttled is a refusal with its own HTTP status and a Retry-After: the
// password gate's 503 and the login limits' 429.
type throttled struct {
	err    error
	status int
	retry  time.Duration
}

func (t *throttled) Error() string { return t.err.Error() }
func (t *throttled) Unwrap() error { return t.err }

// retryAfter sets the Retry-After header of a throttled refusal.
func retryAfter(w http.ResponseWriter, err error) {
	var t *throttled
	if w != nil && errors.As(err, &t) {
		secs := int((t.retry + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
}

// passwordGate is a counting semaphore around every password check.
type passwordGate struct {
	slots chan struct{}
	wait  time.Duration
	// hook, when set (Config.OnPasswordCheck), is called as a check starts
	// and the function it returns as it ends.
	hook func() func()
}

func newPasswordGate(n int, wait time.Duration, hook func() func()) *passwordGate {
	if n <= 0 {
		n = MaxPasswordChecks
	}
	if wait <= 0 {
		wait = PasswordCheckWait
	}
	return &passwordGate{slots: make(chan struct{}, n), wait: wait, hook: hook}
}

// errGateFull is the gate's refusal.
func (g *passwordGate) full() error {
	return &throttled{status: http.StatusServiceUnavailable, retry: g.wait,
		err: lot.Errorf(lot.EBUSY, "the server is busy checking other passwords (%d at once at most); try again in a few seconds — nothing was checked or recorded", cap(g.slots))}
}

// gated runs fn, which checks or hashes a password, in a slot of g.
func gated[T any](g *passwordGate, fn func() (T, error)) (T, error) {
	select {
	case g.slots <- struct{}{}:
	default:
		t := time.NewTimer(g.wait)
		select {
		case g.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			var zero T
			return zero, g.full()
		}
	}
	defer func() { <-g.slots }()
	if g.hook != nil {
		defer g.hook()()
	}
	return fn()
}

// The services that check or hash a password, each through the gate. The
// other methods pass straight through (embedding).

type gatedSessions struct {
	Sessions
	g *passwordGate
}

func (s gatedSessions) Login(name, password string) (LoginResult, error) {
	return gated(s.g, func() (LoginResult, error) { return s.Sessions.Login(name, password) })
}

func (s gatedSessions) LoginChange(name, password, np string) (LoginResult, error) {
	return gated(s.g, func() (LoginResult, error) { return s.Sessions.LoginChange(name, password, np) })
}

type gatedUsers struct {
	Users
	g *passwordGate
}

func (s gatedUsers) Authenticate(name, password, meaning string) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.Users.Authenticate(name, password, meaning) })
}

func (s gatedUsers) CoSigner(field, name, password, meaning string) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.Users.CoSigner(field, name, password, meaning) })
}

type gatedPasswords struct {
	Passwords
	g *passwordGate
}

func (s gatedPasswords) ChangePassword(actor, old, password string, seen *uint64) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.Passwords.ChangePassword(actor, old, password, seen) })
}

func (s gatedPasswords) ResetPassword(actor, name, oneTime, reason string, seen *uint64) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.Passwords.ResetPassword(actor, name, oneTime, reason, seen) })
}

// userService names the embedded audit.Users apart from its method Users.
type userService = audit.Users

type gatedUserService struct {
	userService
	g *passwordGate
}

func (s gatedUserService) Authenticate(name, password, meaning string) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.userService.Authenticate(name, password, meaning) })
}

func (s gatedUserService) CoSigner(field, name, password, meaning string) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.userService.CoSigner(field, name, password, meaning) })
}

func (s gatedUserService) AddUser(actor string, u audit.User, password, adminPassword string) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.userService.AddUser(actor, u, password, adminPassword) })
}

func (s gatedUserService) ResetPassword(actor, name, oneTime, reason string, seen *uint64) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.userService.ResetPassword(actor, name, oneTime, reason, seen) })
}

func (s gatedUserService) SetRole(actor, name string, role audit.Role, reason, adminPassword string) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.userService.SetRole(actor, name, role, reason, adminPassword) })
}

func (s gatedUserService) ChangePassword(actor, old, password string, seen *uint64) (audit.User, error) {
	return gated(s.g, func() (audit.User, error) { return s.userService.ChangePassword(actor, old, password, seen) })
}

type gatedReleases struct {
	release.Service
	g *passwordGate
}

func (s gatedReleases) Approve(a release.Approval) (release.Disposition, error) {
	return gated(s.g, func() (release.Disposition, error) { return s.Service.Approve(a) })
}

func (s gatedReleases) Reject(qa, password, lotRef, reason string, seen *uint64) (release.Disposition, error) {
	return gated(s.g, func() (release.Disposition, error) { return s.Service.Reject(qa, password, lotRef, reason, seen) })
}

type voided struct {
	v      release.Screening
	status *release.Screening
	q      []string
}

func (s gatedReleases) VoidScreening(qa, password, donorRef string, seq int, reason string) (release.Screening, *release.Screening, []string, error) {
	r, err := gated(s.g, func() (voided, error) {
		v, st, q, err := s.Service.VoidScreening(qa, password, donorRef, seq, reason)
		return voided{v, st, q}, err
	})
	return r.v, r.status, r.q, err
}

// gate puts every password-checking service of cfg behind g.
func (cfg *Config) gate(g *passwordGate) {
	if cfg.Sessions != nil {
		cfg.Sessions = gatedSessions{cfg.Sessions, g}
	}
	if cfg.Users != nil {
		cfg.Users = gatedUsers{cfg.Users, g}
	}
	if cfg.Passwords != nil {
		cfg.Passwords = gatedPasswords{cfg.Passwords, g}
	}
	if cfg.UserService != nil {
		cfg.UserService = gatedUserService{cfg.UserService, g}
	}
	if cfg.Releases != nil {
		cfg.Releases = gatedReleases{cfg.Releases, g}
	}
}

// loginLimits are the token buckets of failed logins, by client address
// and by user name.
type loginLimits struct {
	mu             sync.Mutex
	byAddr, byName map[string]*rate.Limiter
}

func newLoginLimits() *loginLimits {
	return &loginLimits{byAddr: map[string]*rate.Limiter{}, byName: map[string]*rate.Limiter{}}
}

// clientAddr is the address a request came from, without its port.
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// nameKey folds a user name for its bucket: "Alice" and "alice" share one.
func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// allowed answers a login about to be checked: nil, or the 429 refusal
// when the address's or the name's bucket is empty. It takes no token.
func (l *loginLimits) allowed(now time.Time, addr, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim := l.byAddr[addr]; lim != nil && lim.TokensAt(now) < 1 {
		return tooManyLogins(fmt.Sprintf("from %s", addr), lim, now)
	}
	if lim := l.byName[nameKey(name)]; lim != nil && lim.TokensAt(now) < 1 {
		return tooManyLogins(fmt.Sprintf("for the user name %q", name), lim, now)
	}
	return nil
}

func tooManyLogins(what string, lim *rate.Limiter, now time.Time) error {
	r := lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return &throttled{status: http.StatusTooManyRequests, retry: wait,
		err: lot.Errorf(lot.EAUTH, "too many failed logins %s; wait %d seconds and try again — no password was checked", what, int((wait+time.Second-1)/time.Second))}
}

// failed takes a token from the buckets of addr and name after a failed
// login.
func (l *loginLimits) failed(now time.Time, addr, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	take(l.byAddr, addr, now, rate.Every(LoginAddressEvery), LoginFailuresPerAddress)
	take(l.byName, nameKey(name), now, rate.Every(LoginNameEvery), LoginFailuresPerName)
}

func take(m map[string]*rate.Limiter, key string, now time.Time, every rate.Limit, burst int) {
	lim := m[key]
	if lim == nil {
		if len(m) >= loginBuckets {
			// Forget the buckets that are full again: they are as
			// good as new. Should none be, forget them all rather than
			// grow without bound (the password gate still caps the
			// memory of the checks).
			for k, l := range m {
				if l.TokensAt(now) >= float64(l.Burst()) {
					delete(m, k)
				}
			}
			if len(m) >= loginBuckets {
				clear(m)
			}
		}
		lim = rate.NewLimiter(every, burst)
		m[key] = lim
	}
	lim.AllowN(now, 1)
}

// limitedLogin runs login (a password check that opens a session) under
// the login limits of r's address and name: refused at once (429) when a
// bucket is empty, a token taken when the password is wrong, the name
// unknown or the account locked or disabled.
func (s *Server) limitedLogin(r *http.Request, name string, login func() (LoginResult, error)) (LoginResult, error) {
	var res LoginResult
	err := s.limited(clientAddr(r), name, refusedCheck, func() (err error) {
		res, err = login()
		return err
	})
	return res, err
}

// limitedCoSign runs check, which checks the password of the co-signer
// named in field (the witness, an exceptional release's physician) and
// may check the acting user's own first, under the login's limits of the
// address and of the typed name — the same buckets as the login's, so that
// a logged-in user cannot spray guesses across accounts as co-signers: an
// empty bucket refuses at once, with the login's 429, before any password
// is checked or anything recorded; a token is taken when the co-signer is
// refused (wrong password or unknown name, or the right password of a
// locked, disabled account or one that may not sign), not when the acting
// user's own password is.
func (s *Server) limitedCoSign(addr, field, name string, check func() error) error {
	return s.limited(addr, name, func(err error) bool {
		return refusedCheck(err) && lot.ErrorField(err) == field
	}, check)
}

// limited runs check under the login limits of addr and name, taking a
// token from both when refused(err).
func (s *Server) limited(addr, name string, refused func(error) bool, check func() error) error {
	if err := s.limits.allowed(s.cfg.Now(), addr, name); err != nil {
		return err
	}
	err := check()
	var t *throttled
	if refused(err) && !errors.As(err, &t) {
		s.limits.failed(s.cfg.Now(), addr, name)
	}
	return err
}

// refusedCheck is a password check's refusal: wrong, unknown, locked,
// disabled.
func refusedCheck(err error) bool {
	switch lot.ErrorCode(err) {
	case lot.EAUTH, lot.EFORBIDDEN:
		return true
	}
	return false
}
