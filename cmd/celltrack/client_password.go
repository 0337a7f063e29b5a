package main

import "github.com/celltrack/celltrack/web"

// loginChange logs in on the server with a password that must be changed
// first, changing it, and keeps the session's cookie as login does.
func (cl *serverClient) loginChange(name, password, newPassword string) (web.LoginView, error) {
	cl.session = serverSession{}
	v, err := cl.api.LoginChange(name, password, newPassword)
	if err != nil {
		return v, err
	}
	cl.session = serverSession{Server: cl.base, User: v.User, CookieName: cl.api.CookieName, Cookie: cl.api.Cookie}
	return v, saveJSONFile(cl.path, cl.session)
}
