package main

import (
	"sync"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/web"
)

// LoginChange logs in with a password that must be changed first, as
// `celltrack login` does when it asks for the new one: the store checks the
// current password, the new one against the policy, and changes it in the
// login's write (audit entry "login", reason "password changed at login").
//
// A password that need not change is refused (ECONFLICT) before the login
// is made, so the refusal writes nothing: no login, no logout, no last
// login moved. The password is checked here once whatever the name (a
// decoy hash for an unknown one), so the answer's timing tells nothing of
// which accounts exist; a wrong one goes on to the store's login, which
// records it as at any login.
func (s webSessions) LoginChange(name, password, newPassword string) (web.LoginResult, error) {
	u, uerr := s.db.User(name)
	hash := loginDecoyHash()
	if uerr == nil {
		hash = u.Hash
	}
	right := audit.CheckPassword(hash, password)
	if uerr == nil && right && audit.CheckLogin(u, s.db.Now()) == nil {
		set, err := s.db.Settings()
		if err != nil {
			return web.LoginResult{}, err
		}
		if !audit.PasswordExpired(u, s.db.Now(), set) {
			return web.LoginResult{}, errNeedNotChange(name)
		}
	}
	asked := false
	creds, info, err := s.db.Login(name, password, func() (string, error) { asked = true; return newPassword, nil })
	if err != nil {
		return web.LoginResult{User: info.User}, err
	}
	if !asked {
		// The password did not need changing (an admin's unlock or a
		// login elsewhere came between): the store made an ordinary login,
		// which is ended again (both in the audit trail), and the new
		// password was not set; say so rather than pretend.
		s.db.Logout(creds)
		return web.LoginResult{User: info.User}, errNeedNotChange(name)
	}
	set, err := s.db.Settings()
	if err != nil {
		return web.LoginResult{User: info.User}, err
	}
	return web.LoginResult{Token: encodeCreds(creds), User: info.User, Expires: info.Session.Expires, IdleExpiry: set.IdleExpiry}, nil
}

func errNeedNotChange(name string) error {
	return lot.Errorf(lot.ECONFLICT, "the password of %s did not need changing at login, so the new one was not set and no session was opened; log in with your password and change it on the password page", name)
}

// loginDecoyHash is checked against for an unknown name, so that it costs
// what a known one costs.
var loginDecoyHash = sync.OnceValue(func() string {
	h, _ := audit.HashPassword("no-such-user-decoy-7d41")
	return h
})
