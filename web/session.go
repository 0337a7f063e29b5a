package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// Session is one login: who, and since when.
type Session struct {
	User     string
	Started  time.Time
	LastSeen time.Time
}

// Sessions keeps the logins of the web application. A token is the secret
// the browser holds in its cookie; an implementation keeps only a hash of it.
type Sessions interface {
	// Start begins a session for user and returns its new token.
	Start(user string) (token string, err error)
	// Lookup returns the session of token and marks it used now;
	// ENOTFOUND when the token is unknown, revoked or expired (idle or
	// absolute).
	Lookup(token string) (Session, error)
	// Revoke ends the session of token; an unknown token is no error.
	Revoke(token string) error
}

// Session lifetimes: a bedside tablet left alone logs out after 15 minutes;
// no login lasts longer than a 12-hour shift.
const (
	DefaultIdle     = 15 * time.Minute
	DefaultAbsolute = 12 * time.Hour
)

// MemorySessions keeps sessions in the serving process's memory, keyed by
// the SHA-256 of the token: a memory dump shows no usable token. They end
// when the server stops.
type MemorySessions struct {
	idle, absolute time.Duration
	now            func() time.Time
	mu             sync.Mutex
	m              map[[32]byte]Session
}

// NewMemorySessions returns an empty session table; now nil is time.Now.
func NewMemorySessions(idle, absolute time.Duration, now func() time.Time) *MemorySessions {
	if now == nil {
		now = time.Now
	}
	return &MemorySessions{idle: idle, absolute: absolute, now: now, m: map[[32]byte]Session{}}
}

// Start implements Sessions: the token is 256 random bits.
func (ms *MemorySessions) Start(user string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := ms.now()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.sweep(now)
	ms.m[sha256.Sum256([]byte(token))] = Session{User: user, Started: now, LastSeen: now}
	return token, nil
}

// Lookup implements Sessions.
func (ms *MemorySessions) Lookup(token string) (Session, error) {
	k := sha256.Sum256([]byte(token))
	now := ms.now()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	s, ok := ms.m[k]
	if ok && ms.expired(s, now) {
		delete(ms.m, k)
		ok = false
	}
	if !ok {
		return Session{}, lot.Errorf(lot.ENOTFOUND, "no session: log in")
	}
	s.LastSeen = now
	ms.m[k] = s
	return s, nil
}

// Revoke implements Sessions.
func (ms *MemorySessions) Revoke(token string) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	delete(ms.m, sha256.Sum256([]byte(token)))
	return nil
}

func (ms *MemorySessions) expired(s Session, now time.Time) bool {
	return now.Sub(s.LastSeen) >= ms.idle || now.Sub(s.Started) >= ms.absolute
}

func (ms *MemorySessions) sweep(now time.Time) {
	for k, s := range ms.m {
		if ms.expired(s, now) {
			delete(ms.m, k)
		}
	}
}

// MeaningLogin is the meaning recorded with a refused login password.
const MeaningLogin = "log in to the web application"

// cookieName is __Host- prefixed under TLS, so the browser accepts it only
// Secure, for this host and path /; plain HTTP (loopback) cannot use it.
func (s *Server) cookieName() string {
	if s.cfg.Secure {
		return "__Host-celltrack_session"
	}
	return "celltrack_session"
}

func (s *Server) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: token, Path: "/", HttpOnly: true,
		Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
}

// currentUser returns the logged-in user of r, checked again against the
// database on every request: a user disabled since login can do nothing.
func (s *Server) currentUser(r *http.Request) (audit.User, bool) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" {
		return audit.User{}, false
	}
	sess, err := s.cfg.Sessions.Lookup(c.Value)
	if err != nil {
		return audit.User{}, false
	}
	u, err := s.cfg.Users.Reader(sess.User)
	if err != nil {
		return audit.User{}, false
	}
	return u, true
}

// login checks the password and starts a new session. Any session the
// browser presented is revoked first: the session id always changes at
// login, so a token planted before it (session fixation) is worth nothing.
func (s *Server) login(w http.ResponseWriter, r *http.Request, name, password string) (audit.User, error) {
	if c, err := r.Cookie(s.cookieName()); err == nil && c.Value != "" {
		s.cfg.Sessions.Revoke(c.Value)
	}
	if name == "" {
		return audit.User{}, lot.Errorf(lot.EUSAGE, "user name is empty; type your user name")
	}
	u, err := s.cfg.Users.Authenticate(name, password, MeaningLogin)
	if err != nil {
		if c := lot.ErrorCode(err); c == lot.EFORBIDDEN || c == lot.ENOTFOUND {
			time.Sleep(s.cfg.RefusedLoginDelay)
		}
		return u, err
	}
	token, err := s.cfg.Sessions.Start(u.Name)
	if err != nil {
		return u, err
	}
	s.setSessionCookie(w, token)
	return u, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.cookieName()); err == nil && c.Value != "" {
		s.cfg.Sessions.Revoke(c.Value)
	}
	s.clearSessionCookie(w)
}
