package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// Login sessions (issue 10). The database keeps, per session, the SHA-256 of
// its token (never the token), the user, when it started, its absolute
// expiry, its last activity as writes saw it, whether it was revoked, and a
// random touch key. The client keeps the token and its own last activity,
// MACed with the touch key, so that a read — a read-only transaction that
// cannot update the database — still counts as activity, and a hand-edited
// client file is detected. The sessions bucket is bookkeeping, like meta: it
// is not an audited record (logins and logouts are audit entries).

var (
	bSessions = []byte("sessions")
	metaDBID  = []byte("db_id")
)

// sessionRecord is a session as the database keeps it (version 1).
type sessionRecord struct {
	V            int       `json:"v"`
	UserID       uuid.UUID `json:"user_id"`
	User         string    `json:"user"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires"`
	LastActivity time.Time `json:"last_activity"`
	// ActiveSince, when set, is the time the session's last activity must
	// be at or after: a shorter idle expiry ended it otherwise, before
	// SetSettings lengthened the setting (capSessions).
	ActiveSince time.Time `json:"active_since,omitzero"`
	Revoked     bool      `json:"revoked,omitempty"`
	TouchKey    []byte    `json:"touch_key"`
}

func (r sessionRecord) session() audit.Session {
	return audit.Session{User: r.User, Created: r.Created, Expires: r.Expires, LastActivity: r.LastActivity, Revoked: r.Revoked}
}

// Credentials are what a client keeps of its session: the database it
// belongs to, the user, the token, and the client's last activity with its
// MAC under the session's touch key.
type Credentials struct {
	DatabaseID   string    `json:"database_id"`
	User         string    `json:"user"`
	Token        string    `json:"token"`
	LastActivity time.Time `json:"last_activity"`
	MAC          string    `json:"mac"`
}

// SessionInfo is a checked session: its user (as stored now) and times.
type SessionInfo struct {
	User       audit.User
	Session    audit.Session
	DatabaseID string
}

// errRelogin is the refusal of credentials the database does not know.
func errRelogin(user, why string) error {
	return lot.Errorf(lot.ESESSION, "%s; log in again as %s", why, user).Run("login " + user)
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// touchMAC binds the client's last activity to the session.
func touchMAC(key, hash []byte, at time.Time) string {
	m := hmac.New(sha256.New, key)
	m.Write(hash)
	m.Write([]byte(at.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(m.Sum(nil))
}

// DatabaseID returns the database's random identity, made at init (or by
// the upgrade to schema 4): a session is valid only on the database that
// made it.
func (db *DB) DatabaseID() (string, error) {
	var id string
	err := db.view(func(tx kv.Tx) error { id = string(tx.Bucket(bMeta).Get(metaDBID)); return nil })
	return id, err
}

// settingsID is the id of the settings record: the database's identity.
func settingsID(tx kv.Tx) uuid.UUID {
	id, _ := uuid.Parse(string(tx.Bucket(bMeta).Get(metaDBID)))
	return id
}

// Login checks name's password and opens a session. A wrong password or an
// unknown name is refused with the same EAUTH message and one audit entry;
// the MaxFailures-th consecutive wrong password locks the account for the
// facility's lockout duration (one more entry). A right password resets the
// count. When the password must be changed (an admin's reset, or older than
// the facility's maximum age), newPassword is called for the new one, which
// must pass audit.CheckNewPassword; the login then changes it.
//
// On a file an older celltrack wrote (opened with OpenForLogin), an admin's
// login with the right password upgrades the file first, recorded in the
// audit trail — after the new password, when the right one is a one-time
// password (newPasswordBeforeUpgrade); anyone else's is refused (ECONFLICT) with nothing written,
// not even the attempt (upgradeAtLogin says why).
func (db *DB) Login(name, password string, newPassword func() (string, error)) (_ Credentials, _ SessionInfo, err error) {
	defer db.recoverDamage(&err)
	if db.behind != 0 {
		np, err := db.newPasswordBeforeUpgrade(name, password, newPassword)
		if err != nil {
			return Credentials{}, SessionInfo{}, err
		}
		if np != "" {
			newPassword = func() (string, error) { return np, nil }
		}
		if err := db.upgradeAtLogin(name, password); err != nil {
			return Credentials{}, SessionInfo{}, err
		}
	}
	var u audit.User
	var found bool
	var set audit.Settings
	err = db.view(func(tx kv.Tx) error {
		set = settingsTx(tx)
		id, ok := lookup(tx, "idx_user_name", name)
		if !ok {
			return nil
		}
		var r userRecord
		if _, err := get(tx, kindUser, id, &r); err != nil {
			return err
		}
		u, found = r.user(), true
		return nil
	})
	if err != nil {
		return Credentials{}, SessionInfo{}, err
	}
	now := db.now()
	// A locked account's password is not checked (lockedAttempt): the
	// right one and a wrong one get the answer an unknown name gets, so the
	// lock bounds the guesses (21 CFR 11.300(d)) and the reply tells
	// neither the password nor which accounts exist or are locked. A
	// wrong password — the one that locks included — gets that answer too,
	// after the same argon2id check and the same delay. A disabled
	// account says so only to the right password.
	if found && u.Locked(now) {
		if err := db.lockedAttempt(u, password, "login.refused", "password at login"); err != nil {
			return Credentials{}, SessionInfo{}, err
		}
		return Credentials{}, SessionInfo{}, errWrongLogin(name, set.LockoutDuration)
	}
	right := false
	if found {
		right = audit.CheckPassword(u.Hash, password)
	} else {
		audit.CheckPassword(dummyHash(), password)
	}
	if !right {
		if err := db.wrongPassword(name, u, found, "login.refused", "wrong password at login"); lot.ErrorCode(err) != lot.EAUTH {
			return Credentials{}, SessionInfo{}, err
		}
		return Credentials{}, SessionInfo{}, errWrongLogin(name, set.LockoutDuration)
	}
	if err := audit.CheckLogin(u, now); err != nil {
		if werr := db.refusedEvent(u, "login.refused", "login while "+statusWord(u, now)); werr != nil {
			return Credentials{}, SessionInfo{}, werr
		}
		return Credentials{}, SessionInfo{}, err
	}
	var newHash string
	if audit.PasswordExpired(u, now, set) {
		if newPassword == nil {
			return Credentials{}, SessionInfo{}, lot.FieldErrorf("password-stdin", lot.EPASSWORD, "user %s must change the password before logging in; log in at a terminal, or give the new password with the old one", name)
		}
		np, err := newPassword()
		if err != nil {
			return Credentials{}, SessionInfo{}, err
		}
		if newHash, err = newPasswordHash(u, np); err != nil {
			return Credentials{}, SessionInfo{}, err
		}
	}
	if testHook != nil {
		testHook("login password checked")
	}
	var creds Credentials
	var info SessionInfo
	replaced := false
	checked := u.Hash
	err = db.engine.Update(func(tx kv.Tx) error {
		r, err := userRecordByName(tx, name)
		if err != nil {
			return err
		}
		u := r.user()
		if u.Hash != checked {
			// The password was changed or reset (at another server, or by
			// another process) while this login's argon2id check ran: the
			// password given is the replaced one, and a session it opened
			// now would outlive the change that ends the others. It is
			// refused as a wrong password is, in words and delay, but not
			// counted — it was right a moment ago, and its owner racing
			// their own change must not be locked out for it.
			replaced = true
			w := &writer{db: db, tx: tx, actor: u, now: now, open: true}
			return w.event(kindUser, u.ID, "login.refused", "replaced password at login: it was changed while it was checked (not counted)")
		}
		if err := audit.CheckLogin(u, now); err != nil {
			return err
		}
		u.Failures, u.LastLogin = 0, now
		reason := ""
		if newHash != "" {
			u.Hash, u.PasswordChanged, u.MustChange = newHash, now, false
			reason = "password changed at login"
			// Sessions the old password opened (alive again once a
			// password past its maximum age is changed) end with it.
			if err := revokeSessions(tx, u.ID); err != nil {
				return err
			}
		}
		w := &writer{db: db, tx: tx, actor: u, now: now, open: true} // a login is recorded on a migrated database too (migrated.go)
		if err := w.put(kindUser, u.ID, "login", reason, toUserRecord(u)); err != nil {
			return err
		}
		pruneSessions(tx, now)
		token, key := make([]byte, 32), make([]byte, 32)
		if _, err := rand.Read(token); err != nil {
			return fmt.Errorf("session token: %w", err)
		}
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("session key: %w", err)
		}
		// The expiry in force as the session is written: a shortening
		// committed since the view above capped the sessions then open.
		s := sessionRecord{V: 1, UserID: u.ID, User: u.Name, Created: now, Expires: now.Add(settingsTx(tx).AbsoluteExpiry), LastActivity: now, TouchKey: key}
		creds = Credentials{DatabaseID: string(tx.Bucket(bMeta).Get(metaDBID)), User: u.Name, Token: base64.RawURLEncoding.EncodeToString(token), LastActivity: now}
		h := tokenHash(creds.Token)
		creds.MAC = touchMAC(key, h, now)
		if err := putSession(tx, h, s); err != nil {
			return err
		}
		info = SessionInfo{User: u, Session: s.session(), DatabaseID: creds.DatabaseID}
		return nil
	})
	if err == nil && replaced {
		time.Sleep(FailedPasswordDelay)
		return Credentials{}, SessionInfo{}, errWrongLogin(name, set.LockoutDuration)
	}
	return creds, info, err
}

// dummyHash is checked against when the name is unknown, so that an
// unknown name costs what a wrong password costs. A command makes it on
// first use (hashing at start-up would slow every command); a server
// makes it before it serves (PrepareUnknownNames), so that its first
// unknown name does not cost a second argon2id run and stand out by its
// time from a known name's wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := audit.HashPassword("no-such-user-dummy-9f2c")
	dummyMade.Store(true)
	return h
})

// dummyMade is whether dummyHash was made (UnknownNamesPrepared).
var dummyMade atomic.Bool

// PrepareUnknownNames makes the hash an unknown user name is checked
// against, at a login or a co-signature, now rather than at the first
// unknown name: a server calls it at start.
func PrepareUnknownNames() { dummyHash() }

// UnknownNamesPrepared says whether this process has made the hash an
// unknown user name is checked against (PrepareUnknownNames).
func UnknownNamesPrepared() bool { return dummyMade.Load() }

func statusWord(u audit.User, now time.Time) string {
	if u.Disabled {
		return "disabled"
	}
	return "locked until " + lot.FormatTime(u.LockedUntil)
}

// refusedEvent records an attempt by a disabled or locked account.
func (db *DB) refusedEvent(u audit.User, action, reason string) error {
	return db.engine.Update(func(tx kv.Tx) error {
		w := &writer{db: db, tx: tx, actor: u, now: db.now(), open: true} // a security event, recorded on a migrated database too
		return w.event(kindUser, u.ID, action, reason)
	})
}

// whileLocked ends the reason of every refused attempt at the password of
// a locked account, so that the access review counts them
// (countAccess); older entries say "… while locked" or "… while locked
// until …" too.
const whileLocked = " while locked"

// lockedAttempt refuses a password typed for u, whose account is locked,
// without checking it: the argon2id run is the unknown name's (so the
// time tells nothing either), one audit entry records the attempt (what,
// "while locked until …", not checked), and the caller answers as to a
// wrong password. Were the password checked, the right one would be told
// apart from a wrong one, and the lock would not bound the guessing (review
// 20, finding A); the owner learns of the lock from the answer's "or the
// account is locked", from an admin or the auditor (`user list`), or from
// the session's end when the lock came at a signature.
func (db *DB) lockedAttempt(u audit.User, password, action, what string) error {
	audit.CheckPassword(dummyHash(), password)
	err := db.refusedEvent(u, action, what+whileLocked+" until "+lot.FormatTime(u.LockedUntil)+": not checked")
	if err != nil {
		return err
	}
	time.Sleep(FailedPasswordDelay)
	return nil
}

// wrongPassword records a wrong password for name (u when found): one audit
// entry, and a second when it locks the account. It waits
// FailedPasswordDelay and returns the refusal, worded the same for an
// unknown name as for a wrong password.
func (db *DB) wrongPassword(name string, u audit.User, found bool, action, reason string) error {
	locked := false
	var until time.Time
	lockout := audit.DefaultSettings.LockoutDuration
	err := db.engine.Update(func(tx kv.Tx) error {
		now := db.now()
		lockout = settingsTx(tx).LockoutDuration
		if !found {
			w := &writer{db: db, tx: tx, actor: audit.User{Name: typedName(name)}, now: now, open: true}
			return w.event(kindUser, uuid.Nil, action, "unknown user name")
		}
		r, err := userRecordByName(tx, name)
		if err != nil {
			return err
		}
		u := r.user()
		if u.Locked(now) {
			// Wrong passwords sent together, after the one that locked:
			// each is recorded, none counts again or locks again.
			w := &writer{db: db, tx: tx, actor: u, now: now, open: true}
			return w.event(kindUser, u.ID, action, reason+whileLocked)
		}
		u.Failures++
		if u.Failures >= audit.MaxFailures {
			u.LockedUntil = now.Add(lockout)
			locked, until = true, u.LockedUntil
		}
		w := &writer{db: db, tx: tx, actor: u, now: now, open: true} // security events, recorded on a migrated database too
		if err := w.put(kindUser, u.ID, action, fmt.Sprintf("%s (%d of %d)", reason, u.Failures, audit.MaxFailures), toUserRecord(u)); err != nil {
			return err
		}
		if locked {
			if err := w.event(kindUser, u.ID, "user.locked", fmt.Sprintf("locked until %s after %d consecutive wrong passwords", lot.FormatTime(until), u.Failures)); err != nil {
				return err
			}
			revokeSessions(tx, u.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	time.Sleep(FailedPasswordDelay)
	if locked {
		return lot.Errorf(lot.EAUTH, "wrong user name or password; nothing was done, and after %d wrong passwords in a row user %s is locked until %s unless an admin unlocks the account", audit.MaxFailures, name, lot.FormatTime(until)).Run("user unlock " + name)
	}
	return errWrongLogin(name, lockout)
}

// errWrongLogin is the one answer to a login with an unknown name, a wrong
// password, or any password of a locked account (lockedAttempt), the
// facility's lockout duration named: what to do is the same — check the
// name and the password, or wait, or ask an admin to unlock.
func errWrongLogin(name string, lockout time.Duration) error {
	return lot.Errorf(lot.EAUTH, "wrong user name or password for %s, or the account is locked; nothing was done (%s)", typedName(name), lockoutNote(lockout))
}

// lockoutNote is what every refused password says of the lockout.
func lockoutNote(lockout time.Duration) string {
	return fmt.Sprintf("the attempt is recorded in the audit trail; %d wrong in a row lock the account for %s: then wait, or ask an admin to unlock it", audit.MaxFailures, audit.FormatDuration(lockout))
}

// typedName is a user name as typed at a refused login, for the audit
// trail and the message: itself when it is a valid user name, otherwise
// quoted (control characters escaped, so it cannot forge a line of `audit
// log`) and cut to 64 bytes (a stranger cannot grow the trail at will).
func typedName(name string) string {
	if lot.ValidateCode("user name", name) == nil {
		return name
	}
	if len(name) > 64 {
		name = strings.ToValidUTF8(name[:64], "") + "…"
	}
	return strconv.QuoteToGraphic(name)
}

// newPasswordHash checks a new password of u against the policy and that it
// is not the current one, and hashes it.
func newPasswordHash(u audit.User, password string) (string, error) {
	if err := checkNewPasswordOf(u, password); err != nil {
		return "", err
	}
	return audit.HashPassword(password)
}

// checkNewPasswordOf refuses a new password of u that breaks the rules or
// is the current one.
func checkNewPasswordOf(u audit.User, password string) error {
	if err := audit.CheckNewPassword(password, u.Name, u.FullName); err != nil {
		return err
	}
	if audit.CheckPassword(u.Hash, password) {
		return lot.Errorf(lot.EINVALID, "the new password of %s is the current one; choose a new one", u.Name)
	}
	return nil
}

// newPasswordBeforeUpgrade is, on an older file, the new password of an
// admin whose right password is a one-time one (an admin's reset), asked
// for and checked BEFORE the login upgrades the file: that password was
// chosen by another admin and proves nothing alone, so a login that stops
// for want of the new one must not have upgraded the file, recorded as
// this admin's (review 8, finding 13). "" when there is nothing to ask
// (the upgrade then refuses whatever else is wrong, uniformly).
func (db *DB) newPasswordBeforeUpgrade(name, password string, newPassword func() (string, error)) (string, error) {
	var u audit.User
	found := false
	err := db.view(func(tx kv.Tx) error {
		if tx.Bucket([]byte("idx_user_name")) == nil || tx.Bucket(recordBuckets[kindUser]) == nil {
			return nil
		}
		r, err := userRecordByName(tx, name)
		if err != nil {
			return nil // upgradeAtLogin refuses an unknown name
		}
		u, found = r.user(), true
		return nil
	})
	if err != nil || !found || !u.MustChange || audit.CheckLogin(u, db.now()) != nil || audit.Authorize(u, audit.DatabaseUpgrade) != nil || !audit.CheckPassword(u.Hash, password) {
		return "", err
	}
	if newPassword == nil {
		return "", lot.FieldErrorf("password-stdin", lot.EPASSWORD, "user %s must change the one-time password before logging in, and the login upgrades %s only after that — nothing was written; log in where a new password can be asked for, or give it as a second line after the one-time password", name, db.path)
	}
	np, err := newPassword()
	if err != nil {
		return "", err
	}
	return np, checkNewPasswordOf(u, np)
}

func userRecordByName(tx kv.Tx, name string) (userRecord, error) {
	var r userRecord
	id, ok := lookup(tx, "idx_user_name", name)
	if !ok {
		return r, lot.Errorf(lot.ENOTFOUND, "no user %q; check the name, which an admin sees in the list of users", name).Run("user list")
	}
	_, err := get(tx, kindUser, id, &r)
	return r, err
}

func putSession(tx kv.Tx, hash []byte, s sessionRecord) error {
	val, err := s.marshal()
	if err != nil {
		return err
	}
	return tx.Bucket(bSessions).Put(hash, val)
}

// marshal is json.Marshal(r), byte for byte (TestSessionMarshalAsEncodingJSON),
// without the reflection encoding/json spends on a type the first time: every
// write of a session rewrites its session, and a one-shot process writes
// one (issue 10).
func (r sessionRecord) marshal() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = append(b, `,"user_id":"`...)
	b = append(b, r.UserID.String()...)
	b = append(b, `","user":`...)
	user, err := json.Marshal(r.User)
	if err != nil {
		return nil, err
	}
	b = append(b, user...)
	for _, t := range []struct {
		name string
		at   time.Time
	}{{`,"created":`, r.Created}, {`,"expires":`, r.Expires}, {`,"last_activity":`, r.LastActivity}} {
		at, err := t.at.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
		}
		b = append(append(b, t.name...), at...)
	}
	if !r.ActiveSince.IsZero() {
		at, err := r.ActiveSince.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
		}
		b = append(append(b, `,"active_since":`...), at...)
	}
	if r.Revoked {
		b = append(b, `,"revoked":true`...)
	}
	b = append(b, `,"touch_key":`...)
	if r.TouchKey == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, r.TouchKey)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// getSession reads the session of hash, decoded through decodedSessions:
// the caller must not change the bytes of its TouchKey.
func getSession(tx kv.Tx, hash []byte) (sessionRecord, bool, error) {
	v := tx.Bucket(bSessions).Get(hash)
	if v == nil {
		return sessionRecord{}, false, nil
	}
	s, err := decodedSessions.get(v)
	if err != nil {
		return sessionRecord{}, false, err
	}
	return s, true, nil
}

// sessionExpires is when s ends, the absolute expiry abs in force: the
// earlier of its stored expiry and its login plus abs (checkSession).
func sessionExpires(s sessionRecord, abs time.Duration) time.Time {
	if in := s.Created.Add(abs); in.Before(s.Expires) {
		return in
	}
	return s.Expires
}

// capSessions, in the write transaction that changes the facility's
// expiries from old to new at now, stores in every open session what ends
// it under the settings in force so far, so that a session a shorter
// expiry ended stays ended when the setting is lengthened again (review 21,
// finding B): a changed absolute expiry caps its Expires at its login plus
// the shorter of the two (the old one too: a session a build before this
// one left uncapped is capped before the setting is lengthened); a lengthened
// idle expiry sets its ActiveSince to now less the old idle expiry, when
// its last activity as the database saw it is earlier (the client's, from
// reads, is known only at the next check).
func capSessions(tx kv.Tx, now time.Time, old, new audit.Settings) error {
	if new.AbsoluteExpiry == old.AbsoluteExpiry && new.IdleExpiry <= old.IdleExpiry {
		return nil
	}
	abs, since := min(old.AbsoluteExpiry, new.AbsoluteExpiry), now.Add(-old.IdleExpiry)
	return updateSessions(tx, func(_ []byte, s *sessionRecord) bool {
		if s.Revoked {
			return false
		}
		changed := false
		if e := sessionExpires(*s, abs); e.Before(s.Expires) {
			s.Expires, changed = e, true
		}
		if new.IdleExpiry > old.IdleExpiry && now.Before(s.Expires) && s.LastActivity.Before(since) && s.ActiveSince.Before(since) {
			s.ActiveSince, changed = since, true
		}
		return changed
	})
}

// updateSessions calls change on every session in tx and writes back those
// it changed (true).
func updateSessions(tx kv.Tx, change func(key []byte, s *sessionRecord) bool) error {
	b := tx.Bucket(bSessions)
	type kv struct{ k, v []byte }
	var upd []kv
	err := b.ForEach(func(k, v []byte) error {
		var s sessionRecord
		if err := unmarshalRecord(v, &s); err != nil {
			return fmt.Errorf("decode session: %w", err)
		}
		if change(k, &s) {
			nv, err := s.marshal()
			if err != nil {
				return err
			}
			upd = append(upd, kv{append([]byte(nil), k...), nv})
		}
		return nil
	})
	for _, x := range upd {
		if err == nil {
			err = b.Put(x.k, x.v)
		}
	}
	return err
}

// pruneSessions deletes sessions that ended — at their absolute expiry
// (sessionExpires) — more than a day ago, so the bucket holds about
// one day of logins.
func pruneSessions(tx kv.Tx, now time.Time) {
	b := tx.Bucket(bSessions)
	abs := settingsTx(tx).AbsoluteExpiry
	var old [][]byte
	b.ForEach(func(k, v []byte) error {
		var s sessionRecord
		if unmarshalRecord(v, &s) == nil && now.Sub(sessionExpires(s, abs)) > 24*time.Hour {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range old {
		b.Delete(k)
	}
}

// revokeSessions ends every session of user id (disable, reset, role
// change, lock).
func revokeSessions(tx kv.Tx, id uuid.UUID) error {
	return revokeSessionsExcept(tx, id, nil)
}

// revokeSessionsExcept ends every session of user id but the one whose
// token hash is keep (nil: none kept): a password change ends the sessions
// the old password opened elsewhere, not the one it was made in.
func revokeSessionsExcept(tx kv.Tx, id uuid.UUID, keep []byte) error {
	return updateSessions(tx, func(k []byte, s *sessionRecord) bool {
		if s.UserID == id && !s.Revoked && (keep == nil || !hmac.Equal(k, keep)) {
			s.Revoked = true
			return true
		}
		return false
	})
}

// checkSession checks credentials in tx: the database identity, the
// session (known, not revoked, within its absolute and idle expiry, the
// client's activity MACed by its touch key) and its user (existing, enabled,
// not locked, no password change pending). It returns the session, its key
// and the user.
func (db *DB) checkSession(tx kv.Tx, c Credentials, withUser bool) (sessionRecord, []byte, audit.User, error) {
	user := c.User
	if user == "" {
		user = "NAME"
	}
	if c.Token == "" {
		return sessionRecord{}, nil, audit.User{}, lot.Errorf(lot.ESESSION, "not logged in to this database; log in first").Run("login NAME")
	}
	kv.PrefetchKeys(tx, sessionKeys(c)...)
	if id := string(tx.Bucket(bMeta).Get(metaDBID)); id == "" || id != c.DatabaseID {
		return sessionRecord{}, nil, audit.User{}, errRelogin(user, fmt.Sprintf("the session file was made for another database (id %s), not %s (id %s)", c.DatabaseID, db.path, id))
	}
	h := tokenHash(c.Token)
	s, ok, err := getSession(tx, h)
	if err != nil {
		return s, nil, audit.User{}, err
	}
	if !ok || s.User != c.User {
		return s, nil, audit.User{}, errRelogin(user, "this database knows no such session (it was pruned, or the session file was copied or edited)")
	}
	if !hmac.Equal([]byte(touchMAC(s.TouchKey, h, c.LastActivity)), []byte(c.MAC)) {
		return s, nil, audit.User{}, errRelogin(user, "the session file was changed by hand (its last activity does not match its MAC)")
	}
	now := db.now()
	last := s.LastActivity
	if c.LastActivity.After(last) && !c.LastActivity.After(now) {
		last = c.LastActivity
	}
	set := settingsTx(tx)
	// A session ends at the earliest absolute expiry in force during its
	// life: the one its login stored, capped by SetSettings when the
	// facility shortened it since (review 21, finding B), or the one in
	// force now when shorter (review 20, finding E). Lengthening the
	// setting never revives a session a shorter one ended, nor lengthens
	// an open one.
	s.Expires = sessionExpires(s, set.AbsoluteExpiry)
	if err := s.session().Check(now, last, set.IdleExpiry); err != nil {
		return s, nil, audit.User{}, err
	}
	if last.Before(s.ActiveSince) {
		return s, nil, audit.User{}, lot.Errorf(lot.ESESSION, "the session of %s was idle since %s, longer than the idle expiry in force then (a longer one set since revives no session); log in again", s.User, lot.FormatTime(last)).Run("login " + s.User)
	}
	if !withUser {
		return s, h, audit.User{Name: s.User, ID: s.UserID}, nil
	}
	sessionUsers.put(h, s.UserID)
	u, ok, err := userByID(tx, s.UserID)
	if err != nil || !ok {
		if err == nil {
			err = errRelogin(user, "the session's user no longer exists")
		}
		return s, nil, audit.User{}, err
	}
	if err := audit.CheckLogin(u, now); err != nil {
		return s, nil, u, err
	}
	if audit.PasswordExpired(u, now, set) {
		return s, nil, u, errRelogin(u.Name, "the password of "+u.Name+" must be changed")
	}
	return s, h, u, nil
}

// sessionKeys are the keys checkSession reads before the session's user:
// the database identity, the session and the settings (whose id is the
// identity the credentials were made for, the only one they pass with).
// With them goes the record of the user this process last found the
// session to be (sessionUsers), whose key the session holds.
func sessionKeys(c Credentials) []kv.BucketKey {
	h := tokenHash(c.Token)
	keys := []kv.BucketKey{{Bucket: bMeta, Key: metaDBID}, {Bucket: bSessions, Key: h}}
	if id, err := uuid.Parse(c.DatabaseID); err == nil {
		keys = append(keys, kv.BucketKey{Bucket: recordBuckets[kindSettings], Key: id[:]})
	}
	if id, ok := sessionUsers.get(h); ok {
		keys = append(keys, kv.BucketKey{Bucket: recordBuckets[kindUser], Key: id[:]})
	}
	return keys
}

// sessionUsers remembers, by session key, the user id of each session this
// process checked, so that the next check of the same session asks for
// the user's record with the session's own (sessionKeys): a server checks
// the session of every request, and on PostgreSQL that is one round trip
// instead of two. It is a hint for reading ahead, never an answer: the
// record checked is the one of the user id the session holds when it is
// read, and a hint that is wrong or missing costs only the round trip it
// would have saved. Emptied when it holds 4,096 sessions.
var sessionUsers = hintMap{m: map[string]uuid.UUID{}}

type hintMap struct {
	sync.Mutex
	m map[string]uuid.UUID
}

func (h *hintMap) get(k []byte) (uuid.UUID, bool) {
	h.Lock()
	defer h.Unlock()
	id, ok := h.m[string(k)]
	return id, ok
}

func (h *hintMap) put(k []byte, id uuid.UUID) {
	h.Lock()
	defer h.Unlock()
	if old, ok := h.m[string(k)]; ok && old == id {
		return
	}
	if len(h.m) >= 4096 {
		clear(h.m)
	}
	h.m[string(k)] = id
}

// touchEvery is how often a read moves the client's last activity.
const touchEvery = time.Minute

// Session checks credentials in a read-only transaction — a read writes
// nothing to the database — and returns the session and the credentials
// with the client's last activity moved to now, for the client to keep.
// Refusals: ESESSION (log in again), EFORBIDDEN (disabled), EAUTH (locked).
func (db *DB) Session(c Credentials) (SessionInfo, Credentials, error) {
	return db.session(c, true)
}

// SessionOnly is Session without reading the user record: `celltrack
// check` must work on a file whose user records are damaged.
func (db *DB) SessionOnly(c Credentials) (SessionInfo, Credentials, error) {
	return db.session(c, false)
}

func (db *DB) session(c Credentials, withUser bool) (info SessionInfo, next Credentials, err error) {
	err = db.view(func(tx kv.Tx) (err error) {
		info, next, err = db.sessionIn(tx, c, withUser)
		return err
	})
	return info, next, err
}

// sessionIn is session in the read transaction tx (Open's, for Start).
func (db *DB) sessionIn(tx kv.Tx, c Credentials, withUser bool) (info SessionInfo, next Credentials, err error) {
	s, h, u, err := db.checkSession(tx, c, withUser)
	if err != nil {
		return info, next, err
	}
	now := db.now()
	next = c
	// The client's activity moves at most once a minute (or a quarter
	// of a shorter idle expiry): a burst of reads (a bedside check,
	// then the schedule) rewrites no file, and a session read more
	// often than its idle expiry never lapses.
	every := min(touchEvery, settingsTx(tx).IdleExpiry/4)
	if now.Sub(c.LastActivity) >= every || now.Before(c.LastActivity) {
		next.LastActivity = now
		next.MAC = touchMAC(s.TouchKey, h, now)
	}
	info = SessionInfo{User: u, Session: s.session(), DatabaseID: c.DatabaseID}
	info.Session.LastActivity = now
	return info, next, nil
}

// WithSession returns a handle on db whose every write first checks c inside
// its own write transaction, refuses an acting user other than the
// session's, and records the activity in the session — so a write and its
// session check commit or vanish together. Reads on it are unchanged.
func (db *DB) WithSession(c Credentials) *DB {
	s := *db
	s.creds = &c
	return &s
}

// touchSession checks the handle's session in a write transaction for
// actor and moves its last activity to now.
func (db *DB) touchSession(tx kv.Tx, actor string) error {
	if db.creds == nil {
		return nil
	}
	s, h, u, err := db.checkSession(tx, *db.creds, true)
	if err != nil {
		return err
	}
	if u.Name != actor {
		return lot.Errorf(lot.EFORBIDDEN, "the session is %s's; %s cannot act in it", u.Name, actor)
	}
	s.LastActivity = db.now()
	return putSession(tx, h, s)
}

// Logout revokes the session of c and records it in the audit trail.
func (db *DB) Logout(c Credentials) (_ audit.User, err error) {
	defer db.recoverDamage(&err)
	var u audit.User
	err = db.engine.Update(func(tx kv.Tx) error {
		s, h, su, err := db.checkSession(tx, c, false)
		if err != nil {
			return err
		}
		u = su
		s.Revoked = true
		if err := putSession(tx, h, s); err != nil {
			return err
		}
		w := &writer{db: db, tx: tx, actor: su, now: db.now(), open: true} // recorded on a migrated database too
		return w.event(kindUser, s.UserID, "logout", "")
	})
	return u, err
}

// settingsRecord is the stored form of audit.Settings (version 1), one
// record keyed by the database's identity.
type settingsRecord struct {
	V int `json:"v"`
	audit.Settings
}

// settingsTx returns the facility's settings, the defaults until an admin
// changes one.
func settingsTx(tx kv.Tx) audit.Settings {
	id := settingsID(tx)
	v := tx.Bucket(recordBuckets[kindSettings]).Get(id[:])
	if v == nil {
		return audit.DefaultSettings
	}
	r, err := decodedSettings.get(v)
	if err != nil {
		return audit.DefaultSettings
	}
	return r.Settings
}

// Settings returns the facility's session, lockout and password settings.
func (db *DB) Settings() (audit.Settings, error) {
	var s audit.Settings
	err := db.view(func(tx kv.Tx) error { s = settingsTx(tx); return nil })
	return s, err
}

// SetSettings changes the facility's settings (admin only), with a reason.
func (db *DB) SetSettings(actor string, s audit.Settings, reason string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := lot.OnField("reason", lot.ValidateText("the reason", reason, true)); err != nil {
		return err
	}
	return db.update(actor, audit.SettingsSet, func(w *writer) error {
		if err := capSessions(w.tx, w.now, settingsTx(w.tx), s); err != nil {
			return err
		}
		return w.put(kindSettings, settingsID(w.tx), string(audit.SettingsSet), reason, settingsRecord{V: 1, Settings: s})
	})
}
