package main

import (
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/web"
)

// LoginChange logs in with a password that must be changed first, as
// `celltrack login` does when it asks for the new one: the store checks the
// current password, the new one against the policy, and changes it in the
// login's write (audit entry "login", reason "password changed at login").
func (s webSessions) LoginChange(name, password, newPassword string) (web.LoginResult, error) {
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
		return web.LoginResult{User: info.User}, lot.Errorf(lot.ECONFLICT, "the password of %s did not need changing at login, so the new one was not set; log in with your password and change it on the password page", name)
	}
	set, err := s.db.Settings()
	if err != nil {
		return web.LoginResult{User: info.User}, err
	}
	return web.LoginResult{Token: encodeCreds(creds), User: info.User, Expires: info.Session.Expires, IdleExpiry: set.IdleExpiry}, nil
}
