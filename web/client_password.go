package web

import (
	"encoding/json"
	"net/http"

	"github.com/celltrack/celltrack/lot"
)

// LoginChange logs in with a password that must be changed first (Login
// answered password_change), changing it: POST /api/v1/password/expired.
// The cookie is kept in the client, as Login keeps it.
func (c *Client) LoginChange(name, password, newPassword string) (LoginView, error) {
	var v LoginView
	c.CookieName, c.Cookie = "", ""
	data, _, _, err := c.Call(http.MethodPost, "/api/v1/password/expired", ExpiredPasswordRequest{User: name, Password: password, NewPassword: newPassword})
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
