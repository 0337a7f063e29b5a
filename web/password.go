package web

import (
	"net/http"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// Passwords on the web, as `celltrack user passwd`, `user reset` and the
// password change `celltrack login` asks for after a reset: the same store
// calls, so the same policy (audit.CheckNewPassword: 12 characters, not the
// user's name, not easy to guess), the same messages and the same audit
// entries. The pages only add the repeat box a person needs to catch a typo.

// Passwords is what the password pages need of the users. ChangePassword
// changes actor's own password (EAUTH for a wrong current one, recorded and
// counted towards the lockout; EINVALID for a new one the policy refuses);
// ResetPassword sets name's one-time password, which must be changed at the
// next login (admin only: EFORBIDDEN; EINVALID for a blank reason or a
// password the policy refuses; ECONFLICT for the admin's own).
//
// With seen, either is refused (ECONFLICT on audit.SeenField) once the
// account has changed since its form was shown: a change before its old
// password is checked, so that one sent again counts nothing.
type Passwords interface {
	ChangePassword(actor, old, password string, seen *uint64) (audit.User, error)
	ResetPassword(actor, name, oneTime, reason string, seen *uint64) (audit.User, error)
}

// errMustChange answers a login with a right password that must be changed
// first: no session is opened, and nothing but the change is offered.
func errMustChange(name string) error {
	return lot.Errorf(lot.EPASSWORD, "the password of %s must be changed before anything else (an admin set it to a one-time password, the first one or a reset, or it is older than the facility allows); "+
		"choose a new one on the change-password page, or send {\"user\",\"password\",\"new_password\"} to POST /api/v1/password/expired — no session was opened", name)
}

// checkRepeat refuses a new password whose repeat differs: a typo would
// otherwise lock its owner out at once.
func checkRepeat(password, repeat string) error {
	if password != repeat {
		return lot.Errorf(lot.EINVALID, "the new password and its repeat differ; type the same new password in both boxes")
	}
	return nil
}

// passwordData is the change-password page's: Expired for the change a
// login demands (no session yet: the user name is carried, the current
// password typed again), Done once changed.
type passwordData struct {
	Expired bool
	Name    string
	Notice  string
	Done    string
	// Shown names the password the user has now, which the change a
	// login demands carries (formguard.go).
	Shown string
	// Seen is the account's state the change form of a logged-in user
	// carries (audit.SeenField, seenOf).
	Seen string
}

func (s *Server) renderPassword(w http.ResponseWriter, u audit.User, status int, d passwordData, refusal error) {
	p := pageData{Title: "Change password", User: u, Nav: "password", Data: d}
	if !d.Expired {
		var err error
		if d.Seen, err = s.seenOf(u.ID); err != nil {
			p.Error, status = s.message(err), statusOf(w, err)
		}
		p.Data = d
	}
	if refusal != nil {
		p.Error = lot.ErrorMessage(refusal) + " — nothing was changed"
	}
	s.render(w, status, "password", p)
}

// renewAfterChange opens a new session for name with the password just
// changed, for the browser or client that changed it: the change ended every
// session of name (the store cannot tell this request's session from the
// others the old password opened), and the person who changed it goes on.
func (s *Server) renewAfterChange(w http.ResponseWriter, name, password string) error {
	res, err := s.cfg.Sessions.Login(name, password)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, res.Token)
	return nil
}

// renderExpired shows the forced change after a login with a password that
// must be changed: the only thing the person can do. shown names the
// password to change (passwordSet), which the form carries.
func (s *Server) renderExpired(w http.ResponseWriter, name, shown string, status int, refusal error) {
	s.renderPassword(w, audit.User{}, status, passwordData{Expired: true, Name: name, Shown: shown,
		Notice: "The password of " + name + " must be changed before anything else: an admin set it to a one-time password, the first one or a reset, or it is older than the facility allows. Type it once more, then a new one twice."}, refusal)
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	s.renderPassword(w, u, http.StatusOK, passwordData{Name: u.Name}, nil)
}

// passwordPost changes the logged-in user's own password, as `user passwd`.
func (s *Server) passwordPost(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	np := f.Get("new_password")
	err := formSigner(f, u)
	if err == nil {
		err = checkRepeat(np, f.Get("repeat"))
	}
	var seen *uint64
	if err == nil {
		seen, err = formSeen(f)
	}
	if err == nil {
		_, err = s.cfg.Passwords.ChangePassword(u.Name, f.Get("password"), np, seen)
	}
	if err == nil {
		err = s.renewAfterChange(w, u.Name, np)
	}
	if err != nil {
		err = s.logError(r, err)
		s.renderPassword(w, u, statusOf(w, err), passwordData{Name: u.Name}, err)
		return
	}
	s.renderPassword(w, u, http.StatusOK, passwordData{Name: u.Name, Done: "The password of " + u.Name + " was changed. Use the new one from now on, at every login and signature."}, nil)
}

// expiredPost is the change a login demanded: the current (one-time)
// password again and the new one; the login is made with the change, as
// `celltrack login` makes it, and the browser goes on to its first page.
func (s *Server) expiredPost(w http.ResponseWriter, r *http.Request) {
	if !s.form(w, r) {
		return
	}
	name, np := r.PostForm.Get("user"), r.PostForm.Get("new_password")
	res, err := s.expiredForm(w, r, name, np)
	if err != nil {
		err = s.logError(r, err)
		s.renderExpired(w, name, r.PostForm.Get(shownField), statusOf(w, err), err)
		return
	}
	http.Redirect(w, r, landing(res.User), http.StatusSeeOther)
}

// expiredForm makes the change of the /password/expired form unless it
// was sent again after the change was made (expiredStale), as one step for
// this server: a refused resend checks no password, counts nothing and
// leaves the browser's session (the one the change opened) alone.
func (s *Server) expiredForm(w http.ResponseWriter, r *http.Request, name, np string) (LoginResult, error) {
	s.formMu.Lock()
	defer s.formMu.Unlock()
	if err := s.expiredStale(w, r, name); err != nil {
		return LoginResult{}, err
	}
	return s.loginChange(w, r, name, r.PostForm.Get("password"), np, r.PostForm.Get("repeat"), true)
}

// loginChange ends the browser's session, checks the repeat (when the
// page has one), and logs in changing the password.
func (s *Server) loginChange(w http.ResponseWriter, r *http.Request, name, password, np, repeat string, checkRep bool) (LoginResult, error) {
	s.endSession(r)
	if name == "" {
		return LoginResult{}, lot.Errorf(lot.EUSAGE, "user name is empty; type your user name")
	}
	if checkRep {
		if err := checkRepeat(np, repeat); err != nil {
			return LoginResult{}, err
		}
	}
	res, err := s.limitedLogin(r, name, func() (LoginResult, error) { return s.cfg.Sessions.LoginChange(name, password, np) })
	if err != nil {
		return res, err
	}
	s.setSessionCookie(w, res.Token)
	return res, nil
}

// resetPost is the admin's reset on the accounts page, as `user reset`:
// a role that may not is refused before any value is looked at.
func (s *Server) resetPost(w http.ResponseWriter, r *http.Request, u audit.User) {
	if err := audit.Authorize(u, audit.UserReset); err != nil {
		s.renderAccounts(w, u, statusOf(w, err), err, "")
		return
	}
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	name, pw := r.PathValue("name"), f.Get("password")
	err := formFor(f, u, audit.UserReset)
	if err == nil {
		err = checkRepeat(pw, f.Get("repeat"))
	}
	var seen *uint64
	if err == nil {
		seen, err = formSeen(f)
	}
	if err == nil {
		_, err = s.cfg.Passwords.ResetPassword(u.Name, name, pw, f.Get("reason"), seen)
	}
	if err != nil {
		err = s.logError(r, err)
		s.renderAccountsTyped(w, u, statusOf(w, err), err, "", accountTyped{User: name, Action: "reset", Reason: f.Get("reason")})
		return
	}
	s.renderAccounts(w, u, http.StatusOK, nil, "Account "+name+": password reset to the one-time password you gave; "+name+"'s sessions ended, and the password must be changed at the next login. Give it to the person out of band.")
}

// PasswordRequest is the body of POST /api/v1/password: the session's user
// changes their own password. Seen, optional, is the account's state the
// change was asked from (audit.SeenField): it is refused (409, field
// "seen") once the account has changed since, before the password is
// checked.
type PasswordRequest struct {
	Password    string  `json:"password"`
	NewPassword string  `json:"new_password"`
	Seen        *uint64 `json:"seen,omitempty"`
}

// ExpiredPasswordRequest is the body of POST /api/v1/password/expired: the
// login a password that must be changed demands (the login answered
// password_change), with the new password.
type ExpiredPasswordRequest struct {
	User        string `json:"user"`
	Password    string `json:"password"`
	NewPassword string `json:"new_password"`
}

// ResetRequest is the body of POST /api/v1/users/{name}/reset. Seen,
// optional, is the account's state the reset was asked from
// (audit.SeenField): it is refused (409, field "seen") once the account
// has changed since.
type ResetRequest struct {
	OneTimePassword string  `json:"one_time_password"`
	Reason          string  `json:"reason"`
	Seen            *uint64 `json:"seen,omitempty"`
}

// PasswordView answers a password change: the user and when it changed.
type PasswordView struct {
	UserView
	PasswordChanged time.Time `json:"password_changed"`
}

func (s *Server) apiPassword(w http.ResponseWriter, r *http.Request, u audit.User) error {
	var req PasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	got, err := s.cfg.Passwords.ChangePassword(u.Name, req.Password, req.NewPassword, req.Seen)
	if err != nil {
		return err
	}
	if err := s.renewAfterChange(w, u.Name, req.NewPassword); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PasswordView{UserView{got.Name, got.FullName, got.Role}, got.PasswordChanged})
	return nil
}

func (s *Server) apiPasswordExpired(w http.ResponseWriter, r *http.Request) {
	var req ExpiredPasswordRequest
	if err := decode(r, &req); err != nil {
		s.apiFail(w, err)
		return
	}
	res, err := s.loginChange(w, r, req.User, req.Password, req.NewPassword, "", false)
	if err != nil {
		err = s.logError(r, err)
		s.apiFail(w, err)
		return
	}
	u := res.User
	writeJSON(w, http.StatusOK, LoginView{UserView{u.Name, u.FullName, u.Role}, res.Expires, int64(res.IdleExpiry / time.Second)})
}

func (s *Server) apiReset(w http.ResponseWriter, r *http.Request, u audit.User) error {
	if err := audit.Authorize(u, audit.UserReset); err != nil {
		return err
	}
	var req ResetRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	got, err := s.cfg.Passwords.ResetPassword(u.Name, r.PathValue("name"), req.OneTimePassword, req.Reason, req.Seen)
	if err != nil {
		return err
	}
	return s.writeAccount(w, u, got.Name, "its reset")
}
