package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Signatures are the passwords a command's signers typed, kept by the
// remote services of one command between Authenticate and the call that
// uses the signature: the client never checks a password. Authenticate
// asks the server to check it (so a wrong one is refused, counted and
// recorded where the command refuses it locally) and the call that carries
// the signature sends it again, for the server to check once more before it
// signs. The passwords travel in request bodies only, over https or to this
// machine (NewClient's rule).
type Signatures struct {
	mu sync.Mutex
	pw map[[2]string]string // {name, meaning} → password
}

// NewSignatures returns an empty set of signatures for one command.
func NewSignatures() *Signatures { return &Signatures{pw: map[[2]string]string{}} }

func (s *Signatures) keep(name, meaning, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pw[[2]string{name, meaning}] = password
}

// password is the password name typed for meaning; ok is false when name
// did not sign so in this command.
func (s *Signatures) password(name, meaning string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pw, ok := s.pw[[2]string{name, meaning}]
	return pw, ok
}

// signature is the password of signer for meaning, for a call that carries
// the signature; an unsigned signer is a programming error, refused.
func (s *Signatures) signature(signer audit.User, meaning string) (string, error) {
	pw, ok := s.password(signer.Name, meaning)
	if !ok {
		return "", lot.Errorf(lot.EINTERNAL, "%s did not sign %q in this command", signer.Name, meaning)
	}
	return pw, nil
}

// RemoteUsers is audit.Users and audit.Log over the API.
type RemoteUsers struct {
	c    Caller
	sigs *Signatures
}

var (
	_ audit.Users = RemoteUsers{}
	_ audit.Log   = RemoteUsers{}
)

// NewRemoteUsers returns audit.Users on the server that c calls; sigs keeps
// the command's signatures for the remote services that use them.
func NewRemoteUsers(c Caller, sigs *Signatures) RemoteUsers { return RemoteUsers{c, sigs} }

// SignRequest is the body of POST /api/v1/svc/signatures.
type SignRequest struct {
	User     string
	Password string
	Meaning  string
}

// AddUserRequest is the body of POST /api/v1/svc/users.
type AddUserRequest struct {
	User          audit.User
	Password      string
	AdminPassword string
}

// SetRoleRequest is the body of POST /api/v1/svc/users/{name}/role.
type SetRoleRequest struct {
	Role          audit.Role
	Reason        string
	AdminPassword string
}

// AccountPasswordRequest is the body of a password change or reset; Seen,
// optional, is the account's state its form was shown with
// (audit.SeenField).
type AccountPasswordRequest struct {
	Old      string `json:",omitempty"`
	Password string
	Reason   string  `json:",omitempty"`
	Seen     *uint64 `json:",omitempty"`
}

// SettingsRequest is the body of POST /api/v1/svc/settings.
type SettingsRequest struct {
	Settings audit.Settings
	Reason   string
}

// WireEntry is an audit entry as the service endpoints send it: with its
// hashes, which the entry's own JSON leaves out.
type WireEntry struct {
	audit.Entry
	PrevHash [32]byte `json:"prev_hash"`
	Hash     [32]byte `json:"hash"`
	State    bool     `json:"state"`
}

func (w WireEntry) entry() audit.Entry {
	e := w.Entry
	e.PrevHash, e.Hash, e.State = w.PrevHash, w.Hash, w.State
	return e
}

func (r RemoteUsers) User(name string) (audit.User, error) {
	return remoteGet[audit.User](r.c, "/users/"+seg(name))
}

// Users asks the server, which lists the users as the session's user may
// see them (audit.Listed): the session's user is the actor.
func (r RemoteUsers) Users(_ string) ([]audit.User, error) {
	return remoteGet[[]audit.User](r.c, "/users")
}

func (r RemoteUsers) CoSigner(field, name, password, meaning string) (audit.User, error) {
	u, err := remotePost[audit.User](r.c, "/cosignatures", CoSignRequest{field, name, password, meaning})
	if err == nil {
		r.sigs.keep(name, meaning, password)
	}
	return u, err
}

// CoSignRequest is the body of POST /api/v1/svc/cosignatures.
type CoSignRequest struct {
	Field    string
	Name     string
	Password string
	Meaning  string
}

func (r RemoteUsers) Authenticate(name, password, meaning string) (audit.User, error) {
	u, err := remotePost[audit.User](r.c, "/signatures", SignRequest{name, password, meaning})
	if err == nil {
		r.sigs.keep(name, meaning, password)
	}
	return u, err
}

func (r RemoteUsers) AddUser(_ string, u audit.User, password, adminPassword string) (audit.User, error) {
	return remotePost[audit.User](r.c, "/users", AddUserRequest{u, password, adminPassword})
}

func (r RemoteUsers) account(name, action, reason string, seen *uint64) (audit.User, error) {
	return remotePost[audit.User](r.c, "/users/"+seg(name)+"/"+action, SeenReasonRequest{reason, seen})
}

func (r RemoteUsers) DisableUser(_, name, reason string, seen *uint64) (audit.User, error) {
	return r.account(name, "disable", reason, seen)
}
func (r RemoteUsers) EnableUser(_, name, reason string, seen *uint64) (audit.User, error) {
	return r.account(name, "enable", reason, seen)
}
func (r RemoteUsers) UnlockUser(_, name, reason string, seen *uint64) (audit.User, error) {
	return r.account(name, "unlock", reason, seen)
}

func (r RemoteUsers) ResetPassword(_, name, oneTime, reason string, seen *uint64) (audit.User, error) {
	return remotePost[audit.User](r.c, "/users/"+seg(name)+"/reset", AccountPasswordRequest{Password: oneTime, Reason: reason, Seen: seen})
}

func (r RemoteUsers) SetRole(_, name string, role audit.Role, reason, adminPassword string) (audit.User, error) {
	return remotePost[audit.User](r.c, "/users/"+seg(name)+"/role", SetRoleRequest{role, reason, adminPassword})
}

func (r RemoteUsers) ChangePassword(_, old, password string, seen *uint64) (audit.User, error) {
	return remotePost[audit.User](r.c, "/password", AccountPasswordRequest{Old: old, Password: password, Seen: seen})
}

func (r RemoteUsers) Settings() (audit.Settings, error) {
	return remoteGet[audit.Settings](r.c, "/settings")
}

func (r RemoteUsers) SetSettings(_ string, s audit.Settings, reason string) error {
	_, err := remotePost[Checked](r.c, "/settings", SettingsRequest{s, reason})
	return err
}

// EachAuditEntry reads the entries as the server streams them (GET /audit,
// auditStream) and calls fn with each as it arrives, holding none: through
// a Caller that cannot stream, it reads the answer whole first. An answer
// cut short — the connection dropped, the server stopped, the array
// without its closing bracket — ends with ENODB saying how many entries
// came; fn has had those. The server reads them as the session's user
// (audit.Shown), whoever actor names.
func (r RemoteUsers) EachAuditEntry(ctx context.Context, _, entity string, fn func(audit.Entry) error) error {
	path := "/audit"
	if entity != "" {
		path = "/audit/" + seg(entity)
	}
	read := func(body io.Reader) error {
		n := 0
		cut := func(err error) error {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return lot.Errorf(lot.ENODB, "the server's answer was cut off after %d audit entries (%v); nothing was written by this read — try again", n, err)
		}
		dec := json.NewDecoder(body)
		if tok, err := dec.Token(); err != nil {
			return cut(err)
		} else if tok != json.Delim('[') {
			return cut(fmt.Errorf("the answer is not a list of entries (%v)", tok))
		}
		for dec.More() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var w WireEntry
			if err := dec.Decode(&w); err != nil {
				return cut(err)
			}
			n++
			if err := fn(w.entry()); err != nil {
				return err
			}
		}
		// Only an answer the server finished has the closing bracket.
		if _, err := dec.Token(); err != nil {
			return cut(err)
		}
		return nil
	}
	if st, ok := r.c.(Streamer); ok {
		return st.Stream(svcPrefix+path, read)
	}
	data, _, err := r.c.Call(http.MethodGet, svcPrefix+path, nil)
	if err != nil {
		return err
	}
	return read(bytes.NewReader(data))
}

// AuditTail is the answer of GET /audit-tail: the last entries and the
// count of all.
type AuditTail struct {
	Total   int         `json:"total"`
	Entries []WireEntry `json:"entries"`
}

// Seen asks the server (GET /seen), whose store reads a record's state as
// its writes check it (for an account, its latest entry that changes it,
// which the trail's last entry is not when a login came after).
func (r RemoteUsers) Seen(ids ...uuid.UUID) (uint64, error) {
	q := url.Values{}
	for _, id := range ids {
		q.Add("id", id.String())
	}
	return remoteGet[uint64](r.c, "/seen?"+q.Encode())
}

// AuditTail asks the server, which reads as the session's user.
func (r RemoteUsers) AuditTail(_, entity string, n int) ([]audit.Entry, int, error) {
	q := url.Values{"last": {itoa(n)}}
	if entity != "" {
		q.Set("entity", entity)
	}
	t, err := remoteGet[AuditTail](r.c, "/audit-tail?"+q.Encode())
	var es []audit.Entry
	for _, w := range t.Entries {
		es = append(es, w.entry())
	}
	return es, t.Total, err
}

// public strips the password hash from a user answered by a call.
func public(u audit.User, err error) (audit.User, error) { return audit.Public(u), err }

func (s *Server) userRoutes() []svcRoute {
	p := svcPrefix
	U := func() audit.Users { return s.cfg.UserService }
	account := func(do func(us audit.Users, actor, name, reason string, seen *uint64) (audit.User, error)) http.HandlerFunc {
		return writeCall(s, func(u audit.User, r *http.Request, q SeenReasonRequest) (audit.User, error) {
			return public(do(U(), u.Name, refOf(r, "name"), q.Reason, q.Seen))
		})
	}
	return []svcRoute{
		{"GET " + p + "/users", "audit.Users Users: every user as the session's user may see them (audit.Listed): without password hashes, and only the staff directory (name, printed name, role) to a role other than admin and auditor",
			s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
				us, err := U().Users(u.Name)
				if err != nil {
					return err
				}
				writeJSON(w, http.StatusOK, us)
				return nil
			})},
		{"GET " + p + "/users/{name}", "audit.Users User: one user, without the password hash; another's account to a role other than admin and auditor only as its directory entry (audit.Listed)",
			s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
				if err := audit.AuthorizeRead(u); err != nil {
					return err
				}
				got, err := U().User(refOf(r, "name"))
				if err != nil {
					return err
				}
				if got.ID == u.ID {
					got = audit.Public(got) // one's own account, whole
				} else {
					got = audit.Listed(u.Role, got)
				}
				writeJSON(w, http.StatusOK, got)
				return nil
			})},
		{"POST " + p + "/cosignatures", "audit.Users CoSigner: check the password of the co-signer a field names (the witness): one answer for an unknown name and a wrong password, as at the login",
			writeCall(s, func(u audit.User, r *http.Request, q CoSignRequest) (audit.User, error) {
				if err := audit.AuthorizeRead(u); err != nil {
					return audit.User{}, err
				}
				return coSigner(s, clientAddr(r), U(), q.Field, q.Name, q.Password, q.Meaning)
			})},
		{"POST " + p + "/signatures", "audit.Users Authenticate: check the session user's password for a meaning (a wrong one is counted and recorded); another user's is a co-signature (/cosignatures)",
			writeCall(s, func(u audit.User, r *http.Request, q SignRequest) (audit.User, error) {
				if q.User != u.Name {
					// Authenticate tells a disabled, locked or unknown
					// account before its password: only to its owner.
					return coSigner(s, clientAddr(r), U(), "user", q.User, q.Password, q.Meaning)
				}
				return public(U().Authenticate(q.User, q.Password, q.Meaning))
			})},
		{"POST " + p + "/users", "audit.Users AddUser: add a user (admin; qa and physician need the admin's password)",
			writeCall(s, func(u audit.User, r *http.Request, q AddUserRequest) (audit.User, error) {
				return public(U().AddUser(u.Name, q.User, q.Password, q.AdminPassword))
			})},
		{"POST " + p + "/users/{name}/disable", "audit.Users DisableUser (admin); body: Reason, and Seen, optional, which refuses it once the account has changed (audit.SeenField)", account(audit.Users.DisableUser)},
		{"POST " + p + "/users/{name}/enable", "audit.Users EnableUser (admin); body: Reason, and Seen, optional, which refuses it once the account has changed (audit.SeenField)", account(audit.Users.EnableUser)},
		{"POST " + p + "/users/{name}/unlock", "audit.Users UnlockUser (admin); body: Reason, and Seen, optional, which refuses it once the account has changed (audit.SeenField)", account(audit.Users.UnlockUser)},
		{"POST " + p + "/users/{name}/reset", "audit.Users ResetPassword: a one-time password (admin); Seen, optional, refuses it once the account has changed (audit.SeenField)",
			writeCall(s, func(u audit.User, r *http.Request, q AccountPasswordRequest) (audit.User, error) {
				return public(U().ResetPassword(u.Name, refOf(r, "name"), q.Password, q.Reason, q.Seen))
			})},
		{"POST " + p + "/users/{name}/role", "audit.Users SetRole: another role (admin; qa and physician need the admin's password)",
			writeCall(s, func(u audit.User, r *http.Request, q SetRoleRequest) (audit.User, error) {
				return public(U().SetRole(u.Name, refOf(r, "name"), q.Role, q.Reason, q.AdminPassword))
			})},
		{"POST " + p + "/password", "audit.Users ChangePassword: the acting user's own password (every session of the user ends; the answer carries a new one); Seen, optional, refuses it once the account has changed, before the old password is checked (audit.SeenField)",
			s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
				var q AccountPasswordRequest
				if err := decode(r, &q); err != nil {
					return s.bodyError(w, err)
				}
				got, err := U().ChangePassword(u.Name, q.Old, q.Password, q.Seen)
				if err != nil {
					return err
				}
				if err := s.renewAfterChange(w, u.Name, q.Password); err != nil {
					return err
				}
				writeJSON(w, http.StatusOK, audit.Public(got))
				return nil
			})},
		{"GET " + p + "/settings", "audit.Users Settings: session, lockout and password settings",
			readCall(s, func(r *http.Request) (audit.Settings, error) { return U().Settings() })},
		{"POST " + p + "/settings", "audit.Users SetSettings: change the settings with a reason (admin)",
			writeCall(s, func(u audit.User, r *http.Request, q SettingsRequest) (Checked, error) {
				return Checked{true}, U().SetSettings(u.Name, q.Settings, q.Reason)
			})},
		{"GET " + p + "/audit", "audit.Log EachAuditEntry: every audit entry the session's user may read (another person's account entries only to admin and auditor, audit.Shown), password hashes redacted, streamed as read (an answer cut short has no closing bracket)",
			s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error { return s.auditStream(w, r, u, "") })},
		{"GET " + p + "/audit/{entity}", "audit.Log EachAuditEntry: the audit entries of one record, password hashes redacted, streamed as read; another person's account is refused (403) but to admin and auditor (audit.Shown)",
			s.api(func(w http.ResponseWriter, r *http.Request, u audit.User) error {
				return s.auditStream(w, r, u, refOf(r, "entity"))
			})},
		{"GET " + p + "/seen", "audit.Log Seen: the state of the records ?id= (repeated) as a form carries it (the seen field): the number of the latest audit entry that counts",
			readCall(s, func(r *http.Request) (uint64, error) {
				var ids []uuid.UUID
				for _, v := range r.URL.Query()["id"] {
					id, err := uuid.Parse(v)
					if err != nil {
						return 0, lot.FieldErrorf("id", lot.EUSAGE, "id %q is not a record id; give the UUID of a record", v)
					}
					ids = append(ids, id)
				}
				if len(ids) == 0 {
					return 0, lot.FieldErrorf("id", lot.EUSAGE, "id is required: give the UUID of one record or more (?id=…&id=…)")
				}
				return s.cfg.AuditLog.Seen(ids...)
			})},
		{"GET " + p + "/audit-tail", `audit.Log AuditTail: the newest ?last=N entries of the trail (of ?entity=, a record) the session's user may read (audit.Shown, as /audit), oldest first, and how many there are: {"total", "entries"}; password hashes redacted`,
			readAsCall(s, func(u audit.User, r *http.Request) (AuditTail, error) {
				q := r.URL.Query()
				n, err := intParam("last", q.Get("last"), 1)
				if err == nil && n == 0 {
					err = lot.FieldErrorf("last", lot.EUSAGE, "last is required: give how many of the newest entries to read, a whole number above 0 (GET /api/v1/svc/audit reads every one)")
				}
				if err != nil {
					return AuditTail{}, err
				}
				es, total, err := s.cfg.AuditLog.AuditTail(u.Name, q.Get("entity"), n)
				return AuditTail{total, wireEntries(es)}, err
			})},
	}
}

// auditStream answers the entries of entity ("" every one) as the trail is
// read, a batch at a time (audit.Log EachAuditEntry), each with its
// password hash redacted (none leaves the server): a JSON array written an
// element at a time, as the audit log download is (auditLogDownload). At
// 100k the trail is 2.9M entries, which held and encoded in one document
// took gigabytes on the server and again on the client. A refusal before
// the first entry is answered as any call's error; a failure after it (a
// stopping server cancels the request's context) aborts the answer, so the
// client reads an array without its closing bracket — an incomplete
// listing, never one that looks whole.
func (s *Server) auditStream(w http.ResponseWriter, r *http.Request, u audit.User, entity string) error {
	if err := audit.AuthorizeRead(u); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	n := 0
	err := s.cfg.AuditLog.EachAuditEntry(r.Context(), u.Name, entity, func(e audit.Entry) error {
		sep := ","
		if n == 0 {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			sep = "["
		}
		if n%streamDeadlineEvery == 0 {
			answerFrom(w)
		}
		n++
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		e = audit.Redact(e)
		return enc.Encode(WireEntry{e, e.PrevHash, e.Hash, e.State})
	})
	switch {
	case err != nil && n == 0:
		return err
	case err != nil:
		s.logError(r, fmt.Errorf("audit entries cut after %d: %w", n, err))
		panic(http.ErrAbortHandler)
	case n == 0:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, "[]\n")
	default:
		io.WriteString(w, "]\n")
	}
	return nil
}

// wireEntries are es as the API answers them, every password hash redacted.
func wireEntries(es []audit.Entry) []WireEntry {
	out := make([]WireEntry, 0, len(es))
	for _, e := range es {
		e = audit.Redact(e)
		out = append(out, WireEntry{e, e.PrevHash, e.Hash, e.State})
	}
	return out
}

// Verification is what `audit verify` found: the entries and records
// checked, the chain head, the audit tree's head and every problem.
type Verification = audit.Verification

// RemoteVerify runs `audit verify` on the server that c calls.
func RemoteVerify(c Caller) (Verification, error) {
	return remoteGet[Verification](c, "/verification")
}

func (s *Server) verifyRoutes() []svcRoute {
	p := svcPrefix
	return []svcRoute{
		{"GET " + p + "/verification", "audit verify: recompute the hash chain and check every record against its last audit entry",
			readCall(s, func(r *http.Request) (Verification, error) {
				if s.cfg.Verify == nil {
					return Verification{}, lot.Errorf(lot.EINTERNAL, "this server does not verify its audit trail")
				}
				return s.cfg.Verify(r.Context())
			})},
	}
}

// coSigner is us's CoSigner under the login's limits of addr and the typed
// name (limitedCoSign), answered as public.
func coSigner(s *Server, addr string, us audit.Users, field, name, password, meaning string) (audit.User, error) {
	var u audit.User
	err := s.limitedCoSign(addr, field, name, func() (err error) {
		u, err = us.CoSigner(field, name, password, meaning)
		return err
	})
	return public(u, err)
}
