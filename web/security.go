package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/celltrack/celltrack/lot"
	"github.com/go-json-experiment/json/jsontext"
)

// contentSecurityPolicy allows nothing but the server's own stylesheet and
// images: no script at all (no page needs one), no framing (clickjacking a
// signature form), forms posted only to this server.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure wraps every request: the Host header check (hosts.go), security headers, a body size limit, and for
// every state-changing request net/http's CrossOriginProtection plus the
// demand that it says where it comes from (requireOrigin).
func (s *Server) secure(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusForbidden, lot.Errorf(lot.EFORBIDDEN,
			"this request came from another site (Origin %q); celltrack accepts changes only from its own pages — nothing was done", r.Header.Get("Origin")))
	}))
	inner := cop.Handler(s.requireOrigin(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Pages show patient data: no shared or browser cache keeps them.
		h.Set("Cache-Control", "no-store")
		if s.cfg.Secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !s.checkHost(w, r) {
			return
		}
		limit := bodyLimit(r)
		if r.ContentLength > limit {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, tooLarge(limit, ""))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		inner.ServeHTTP(w, r)
	})
}

// bodyLimit is how large a request's body may be: MaxBodyBytes, but for
// the calls that carry files (a lot import's rows, through the API or the
// lab's import page, and the kept checkpoints of a verification).
func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost {
		switch r.URL.Path {
		case svcPrefix + "/lots/import", importPath:
			return MaxImportBytes
		case svcPrefix + "/checkpoints/verification":
			return MaxCheckpointsBytes
		}
	}
	return MaxBodyBytes
}

// tooLargeError is a request body past its limit: 413.
type tooLargeError struct{ err error }

func (e *tooLargeError) Error() string { return e.err.Error() }
func (e *tooLargeError) Unwrap() error { return e.err }

// tooLarge refuses a body past limit; at is where in the JSON the limit
// was reached, when known: a single value that long is named.
func tooLarge(limit int64, at jsontext.Pointer) error {
	where := ""
	if at != "" {
		where = fmt.Sprintf(" (it was reached inside %s)", fieldWords(at))
	}
	return &tooLargeError{lot.Errorf(lot.EINVALID, "the request body is larger than this call takes, %s%s; send less — nothing was done", sizeWords(limit), where)}
}

// isTooLarge reports whether err is tooLarge's.
func isTooLarge(err error) bool {
	var t *tooLargeError
	return errors.As(err, &t)
}

// sizeWords says a byte count as people read it: 64 KiB (65536 bytes).
func sizeWords(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// bodyTooLarge reports whether err comes from reading past a body's limit
// (http.MaxBytesReader).
func bodyTooLarge(err error) bool {
	var m *http.MaxBytesError
	return errors.As(err, &m)
}

// requireOrigin refuses a state-changing request that carries neither
// Sec-Fetch-Site nor Origin. CrossOriginProtection lets such a request
// through, taking it for a non-browser client; celltrack asks every client
// to say where it comes from, so that a request whose origin cannot be
// judged never changes a record. Browsers send Origin on every POST; a
// script sends `Origin: <the server's URL>`.
func (s *Server) requireOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if r.Header.Get("Sec-Fetch-Site") == "" && r.Header.Get("Origin") == "" {
				s.refuse(w, r, http.StatusForbidden, lot.Errorf(lot.EFORBIDDEN,
					"a %s request must say where it comes from: browsers send an Origin header; a script must send Origin: %s — nothing was done", r.Method, originOf(r)))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func originOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// refuse answers a request refused before any handler ran: the API's error
// object under /api/, a short page elsewhere.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	s.cfg.Log.Printf("%s %s: %d %s", r.Method, r.URL.Path, status, lot.ErrorMessage(err))
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeAPIError(w, status, err)
		return
	}
	http.Error(w, lot.ErrorMessage(err), status)
}
