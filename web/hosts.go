package web

import (
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/celltrack/celltrack/lot"
)

// The Host header check (DNS rebinding). A page from another site can make
// the browser resolve that site's name to this server's address (a
// loopback or ward address the attacker cannot reach) and then read the
// answers as its own origin: the cookie is not sent, but the login page and
// the API are reachable, and a login made through that name would be. The
// browser always sends the name it resolved as Host, so a request is
// served only when Host is a name this server answers for: the --addr it
// listens on (for a loopback address also localhost, 127.0.0.1 and [::1]
// with the port) and the names given with --public-host (the name a TLS
// proxy in front is reached by). GET /healthz answers any Host: a load
// balancer may probe by address, and it reads only "ok".

// AllowHosts sets the Host header values the server answers for (see
// AllowedHosts); call it before serving. A server whose hosts were never
// set answers every Host — only the tests' in-process servers are built so.
func (s *Server) AllowHosts(hosts []string) {
	s.hosts = map[string]bool{}
	for _, h := range hosts {
		s.hosts[strings.ToLower(h)] = true
	}
}

// AllowedHosts returns the Host header values of a server listening on
// addr (HOST:PORT as given with --addr, the port resolved by the listener:
// listenPort) and named by public (each NAME or NAME:PORT, --public-host).
// An address that is every interface (":8443", "0.0.0.0:8443", "[::]:8443")
// names no host: then public must name at least one, or the server would
// answer to nothing.
func AllowedHosts(addr, listenPort string, public []string) ([]string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, lot.Errorf(lot.EUSAGE, "--addr %q is not HOST:PORT (e.g. 127.0.0.1:8080 or :8443): %v", addr, err)
	}
	set := map[string]bool{}
	for _, p := range public {
		h, err := ParsePublicHost(p)
		if err != nil {
			return nil, err
		}
		set[h] = true
		// A browser leaves the scheme's own port out of Host: for
		// ward7.example.org:443 it sends ward7.example.org, which would get
		// 421. Both forms are served (80 as well: http on 80, or https
		// on it, where the browser keeps the port).
		if name, port, err := net.SplitHostPort(h); err == nil && (port == "443" || port == "80") {
			if strings.Contains(name, ":") {
				name = "[" + name + "]"
			}
			set[name] = true
		}
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || ip != nil && ip.IsUnspecified():
		if len(set) == 0 {
			return nil, lot.Errorf(lot.EUSAGE, "--addr %s listens on every interface, so it names no host the server could check requests against; "+
				"give the name people type in the browser with --public-host NAME[:PORT] (repeatable), or listen on one address", addr)
		}
	case IsLoopback(host):
		for _, h := range []string{"localhost", "127.0.0.1", "::1", host} {
			set[strings.ToLower(net.JoinHostPort(h, listenPort))] = true
		}
	default:
		set[strings.ToLower(net.JoinHostPort(host, listenPort))] = true
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out, nil
}

// ParsePublicHost checks one --public-host value, NAME or NAME:PORT (an IP
// address in brackets for IPv6), and returns it lower case as a Host header
// carries it.
func ParsePublicHost(v string) (string, error) {
	bad := func(why string) (string, error) {
		return "", lot.Errorf(lot.EUSAGE, "--public-host %q %s; give the host name people type in the browser, with the port when it is not the scheme's (ward7.example.org or ward7.example.org:8443)", v, why)
	}
	if v == "" {
		return bad("is empty")
	}
	if strings.Contains(v, "://") || strings.ContainsAny(v, "/?#@ \t") {
		return bad("is not a host name: no scheme, user, path or spaces")
	}
	name, port := v, ""
	if h, p, err := net.SplitHostPort(v); err == nil {
		name, port = h, p
	} else if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		name = strings.Trim(v, "[]")
	}
	if port != "" {
		n := 0
		for _, c := range port {
			if c < '0' || c > '9' {
				return bad("has a port that is not a number")
			}
			n = n*10 + int(c-'0')
			if n > 65535 {
				return bad("has a port above 65535")
			}
		}
		if n == 0 {
			return bad("has port 0")
		}
	}
	if ip := net.ParseIP(name); ip != nil {
		if ip.IsUnspecified() {
			return bad("is every interface, not a host")
		}
	} else if !validDNSName(name) {
		return bad("is not a valid host name")
	}
	if port == "" {
		if strings.Contains(name, ":") {
			return "[" + strings.ToLower(name) + "]", nil
		}
		return strings.ToLower(name), nil
	}
	return strings.ToLower(net.JoinHostPort(name, port)), nil
}

// validDNSName: dot-separated labels of letters, digits and hyphens, 1–63
// characters each, not starting or ending with a hyphen; at most 253 in all.
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkHost refuses a request whose Host is not one the server answers
// for, before anything else looks at it: 421 Misdirected Request, the
// API's error object under /api/, and nothing done.
func (s *Server) checkHost(w http.ResponseWriter, r *http.Request) bool {
	if s.hosts == nil || s.hosts[strings.ToLower(r.Host)] {
		return true
	}
	if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
		return true
	}
	names := make([]string, 0, len(s.hosts))
	for h := range s.hosts {
		names = append(names, h)
	}
	sort.Strings(names)
	s.refuse(w, r, http.StatusMisdirectedRequest, lot.Errorf(lot.EFORBIDDEN,
		"this server does not answer for host %q (the Host header); it answers for %s — open celltrack by one of those names "+
			"(a page that reached it under another name may be another site's DNS rebinding attack); nothing was done",
		r.Host, strings.Join(names, ", ")))
	return false
}
