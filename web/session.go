package web

import (
	"net/http"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// Sessions opens, checks and ends logins. They are the sessions of
// `celltrack login`, kept by the database (cmd wires the store's): the
// facility's idle and absolute expiry, the lockout after wrong passwords, an
// admin's disable, reset or role change ending them, every login and logout
// in the audit trail. A token is what the browser keeps in its cookie; the
// database keeps only a hash of the secret inside it.
type Sessions interface {
	// Login checks name's password and opens a session. A wrong password
	// and an unknown name get the same EAUTH answer, are recorded and count
	// towards the lockout; a locked account is EAUTH, a disabled one
	// EFORBIDDEN.
	Login(name, password string) (LoginResult, error)
	// LoginChange is Login for a password that must be changed first (an
	// admin's one-time password, the first one or a reset, or one older
	// than the facility allows; Login answers EPASSWORD): password is the current
	// one, newPassword replaces it in the login's own write, as `celltrack
	// login` asks for it. A new password the policy refuses is EINVALID
	// (the store's audit.CheckNewPassword, the command line's words) and
	// writes nothing; a wrong current password is recorded as at Login.
	LoginChange(name, password, newPassword string) (LoginResult, error)
	// Check returns the user of the session of token, checked now: ESESSION
	// when it is unknown, revoked, idle too long or past its absolute
	// expiry (log in again); EFORBIDDEN for a disabled user, EAUTH for a
	// locked one. next is the token to keep from now on ("" when
	// unchanged): a read writes nothing to the database, so the session's
	// last activity travels in the token, authenticated.
	Check(token string) (u audit.User, next string, err error)
	// Logout ends the session of token.
	Logout(token string) error
	// Info is the session of token as `celltrack whoami` shows it: when it
	// started, expires and was last active. Errors as Check.
	Info(token string) (audit.User, audit.Session, error)
}

// LoginResult is a new session: the token for the cookie, the user, and
// when the session ends at the latest and after how long idle (the
// facility's settings), which `celltrack login` prints.
type LoginResult struct {
	Token      string
	User       audit.User
	Expires    time.Time
	IdleExpiry time.Duration
}

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

// currentUser returns the logged-in user of r, the session checked again
// against the database on every request (a user disabled since login can
// do nothing), and keeps the cookie's token current.
func (s *Server) currentUser(w http.ResponseWriter, r *http.Request) (audit.User, error) {
	return s.checkedUser(w, r, s.cfg.Sessions.Check)
}

// checkedUser is currentUser with the session checked by check (Sessions.Check,
// or a read that checks it with more: Config.Start).
func (s *Server) checkedUser(w http.ResponseWriter, r *http.Request, check func(token string) (audit.User, string, error)) (audit.User, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" {
		return audit.User{}, lot.Errorf(lot.ESESSION, "not logged in; log in first (the login page, or POST /api/v1/login)")
	}
	u, next, err := check(c.Value)
	if err != nil {
		switch lot.ErrorCode(err) {
		case lot.EBUSY, lot.EUNKNOWN, lot.ENODB, lot.EINTERNAL:
			// The session could not be checked (the database busy or
			// out of reach): it may well be alive, and the browser keeps
			// it for when the database is back.
		default:
			s.clearSessionCookie(w)
		}
		return u, err
	}
	if next != "" {
		s.setSessionCookie(w, next)
	}
	return u, nil
}

// login checks the password and opens a new session. Any session the
// browser presented is ended first: the session always changes at login, so
// a token planted before it (session fixation) is worth nothing.
func (s *Server) login(w http.ResponseWriter, r *http.Request, name, password string) (LoginResult, error) {
	s.endSession(r)
	if name == "" {
		return LoginResult{}, lot.Errorf(lot.EUSAGE, "user name is empty; type your user name")
	}
	res, err := s.limitedLogin(r, name, func() (LoginResult, error) { return s.cfg.Sessions.Login(name, password) })
	if lot.ErrorCode(err) == lot.EPASSWORD {
		return res, errMustChange(name)
	}
	if err != nil {
		return res, err
	}
	s.setSessionCookie(w, res.Token)
	return res, nil
}

// logout ends the browser's session, if it has a live one, and clears the
// cookie. It reports whether a live session was ended.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) bool {
	ended := s.endSession(r)
	s.clearSessionCookie(w)
	return ended
}

// endSession ends the session of the browser's cookie, if it is live, and
// reports whether it was.
func (s *Server) endSession(r *http.Request) bool {
	if c, err := r.Cookie(s.cookieName()); err == nil && c.Value != "" {
		err := s.cfg.Sessions.Logout(c.Value)
		if err != nil && lot.ErrorCode(err) == lot.EINTERNAL {
			s.cfg.Log.Printf("logout: %v", err)
		}
		return err == nil
	}
	return false
}
