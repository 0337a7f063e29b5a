package web

import (
	"net/http"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// The accounts page: while the server holds the database no command can
// open it, so the administrator's everyday account actions — lifting a
// lockout, disabling a stolen or departed account, enabling it again — are
// here too, as `user unlock`, `user disable` and `user enable`, each with a
// reason in the audit trail.

// Accounts is what the accounts page needs of the users: the list (as
// `user list`, as the acting user may see it: audit.Listed), one account
// as the store has it (for the server's own checks, never shown) and the
// admin's actions on one account. Each action returns
// EFORBIDDEN for a role that may not, EINVALID for a blank reason,
// ENOTFOUND for an unknown user and ECONFLICT where the account's state
// forbids it, or (with seen set) where the account has changed since its
// form was shown (audit.SeenField).
type Accounts interface {
	Users(actor string) ([]audit.User, error)
	User(name string) (audit.User, error)
	UnlockUser(actor, name, reason string, seen *uint64) (audit.User, error)
	DisableUser(actor, name, reason string, seen *uint64) (audit.User, error)
	EnableUser(actor, name, reason string, seen *uint64) (audit.User, error)
}

// accountActions are the account actions the page and the API offer, by
// the last element of their path.
var accountActions = map[string]audit.Action{"unlock": audit.UserUnlock, "disable": audit.UserDisable, "enable": audit.UserEnable}

// AccountRequest is the body of POST /api/v1/users/{name}/{unlock,disable,enable}.
type AccountRequest struct {
	Reason string `json:"reason"`
	// Seen, optional, is the account's state the request was made from
	// (audit.SeenField): the change is refused (409, field "seen") when
	// the account has changed since.
	Seen *uint64 `json:"seen,omitempty"`
}

// AccountView is an account as the page and the API show it: never its
// password hash.
type AccountView struct {
	User      string     `json:"user"`
	FullName  string     `json:"full_name"`
	Role      audit.Role `json:"role"`
	Status    string     `json:"status"`
	LastLogin string     `json:"last_login"`
	Failures  int        `json:"failures"`
	// Seen is the account's state the unlock, disable, enable and reset
	// forms carry (audit.SeenField, seenOf).
	Seen string `json:"-"`
}

// accountViews are the accounts as viewer may see them (audit.Listed).
func (s *Server) accountViews(viewer audit.User) ([]AccountView, error) {
	us, err := s.cfg.Accounts.Users(viewer.Name)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	vs := []AccountView{}
	for _, u := range us {
		v := AccountView{User: u.Name, FullName: u.FullName, Role: u.Role, Status: "active", LastLogin: lot.FormatTime(u.LastLogin), Failures: u.Failures}
		if v.Seen, err = s.seenOf(u.ID); err != nil {
			return nil, err
		}
		switch {
		case u.Disabled:
			v.Status = "disabled"
		case u.Locked(now):
			v.Status = "locked until " + lot.FormatTime(u.LockedUntil)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// accountAct runs one account action for u on name, refused when the
// account has changed since seen (nil: no such check).
func (s *Server) accountAct(u audit.User, name, what, reason string, seen *uint64) (audit.User, error) {
	action, ok := accountActions[what]
	if !ok {
		return audit.User{}, lot.Errorf(lot.ENOTFOUND, "%q is not an account action; use unlock, disable or enable", what)
	}
	if err := audit.Authorize(u, action); err != nil {
		return audit.User{}, err
	}
	switch what {
	case "unlock":
		return s.cfg.Accounts.UnlockUser(u.Name, name, reason, seen)
	case "disable":
		return s.cfg.Accounts.DisableUser(u.Name, name, reason, seen)
	}
	return s.cfg.Accounts.EnableUser(u.Name, name, reason, seen)
}

type accountsData struct {
	Accounts []AccountView
	Done     string
	Typed    accountTyped
}

// accountTyped is the form a refusal answers: the account and action it
// was for, and the reason typed, which the form shown again keeps (open,
// for a reset) — never the passwords.
type accountTyped struct {
	User, Action, Reason string
}

// ReasonFor is the reason typed on the refused form for action on user,
// "" on every other form.
func (t accountTyped) ReasonFor(user, action string) string {
	if t.User != user || t.Action != action {
		return ""
	}
	return t.Reason
}

func (s *Server) renderAccounts(w http.ResponseWriter, u audit.User, status int, refusal error, done string) {
	s.renderAccountsTyped(w, u, status, refusal, done, accountTyped{})
}

// renderAccountsTyped renders the accounts page; a refusal of typed's
// form names its action and account.
func (s *Server) renderAccountsTyped(w http.ResponseWriter, u audit.User, status int, refusal error, done string, typed accountTyped) {
	p := pageData{Title: "Accounts", User: u, Nav: "accounts"}
	if !audit.Allowed(u.Role, audit.UserUnlock) {
		s.render(w, http.StatusForbidden, "accounts", pageData{Title: "Accounts", User: u, Nav: "accounts",
			Error: "user " + u.Name + " has role " + string(u.Role) + "; the accounts page is the admin's"})
		return
	}
	vs, err := s.accountViews(u)
	if err != nil {
		p.Error = s.message(err)
		status = statusOf(w, err)
	}
	if refusal != nil {
		p.Error = lot.ErrorMessage(refusal) + " — nothing was changed"
		if typed.User != "" {
			p.Error = typed.Action + " of " + typed.User + ": " + p.Error
		}
	}
	p.Data = accountsData{Accounts: vs, Done: done, Typed: typed}
	s.render(w, status, "accounts", p)
}

func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request, u audit.User) {
	s.renderAccounts(w, u, http.StatusOK, nil, "")
}

func (s *Server) accountPost(w http.ResponseWriter, r *http.Request, u audit.User) {
	if !s.form(w, r) {
		return
	}
	name, what := r.PathValue("name"), r.PathValue("action")
	var err error
	if action, ok := accountActions[what]; ok {
		err = formFor(r.PostForm, u, action)
	}
	var got audit.User
	var seen *uint64
	if err == nil {
		seen, err = formSeen(r.PostForm)
	}
	if err == nil {
		got, err = s.accountAct(u, name, what, r.PostForm.Get("reason"), seen)
	}
	if err != nil {
		err = s.logError(r, err)
		var typed accountTyped
		if _, ok := accountActions[what]; ok {
			typed = accountTyped{User: name, Action: what, Reason: r.PostForm.Get("reason")}
		}
		s.renderAccountsTyped(w, u, statusOf(w, err), err, "", typed)
		return
	}
	s.renderAccounts(w, u, http.StatusOK, nil, "Account "+got.Name+": "+what+" recorded")
}

func (s *Server) apiAccounts(w http.ResponseWriter, r *http.Request, u audit.User) error {
	if err := audit.Authorize(u, audit.UserUnlock); err != nil {
		return err
	}
	vs, err := s.accountViews(u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) apiAccountAct(w http.ResponseWriter, r *http.Request, u audit.User) error {
	name, what := r.PathValue("name"), r.PathValue("action")
	if action, ok := accountActions[what]; ok {
		if err := audit.Authorize(u, action); err != nil {
			return err
		}
	}
	var req AccountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	got, err := s.accountAct(u, name, what, req.Reason, req.Seen)
	if err != nil {
		return err
	}
	return s.writeAccount(w, u, got.Name, what)
}

// writeAccount answers an account action with the account's view as the
// accounts listing shows it to viewer after the action (after: what was
// done).
func (s *Server) writeAccount(w http.ResponseWriter, viewer audit.User, name, after string) error {
	vs, err := s.accountViews(viewer)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.User == name {
			writeJSON(w, http.StatusOK, v)
			return nil
		}
	}
	return lot.Errorf(lot.EINTERNAL, "account %s vanished after %s", name, after)
}
