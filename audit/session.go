package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	zxcvbn "github.com/ccojocar/zxcvbn-go"
	"github.com/celltrack/celltrack/lot"
)

// Settings are the facility's session, lockout and password settings. They
// are stored in the database (store.Settings) and changed only by an admin,
// with an audit entry.
type Settings struct {
	// IdleExpiry ends a session that has done nothing for this long.
	IdleExpiry time.Duration `json:"idle_expiry"`
	// AbsoluteExpiry ends every session this long after login, busy or not.
	AbsoluteExpiry time.Duration `json:"absolute_expiry"`
	// LockoutDuration is how long an account stays locked after MaxFailures
	// consecutive wrong passwords, unless an admin unlocks it sooner.
	LockoutDuration time.Duration `json:"lockout_duration"`
	// PasswordMaxAge, when not zero, makes a password older than this
	// unusable until its owner changes it. NIST SP 800-63B 5.1.1.2 advises
	// against forced periodic change, so it is off by default.
	PasswordMaxAge time.Duration `json:"password_max_age,omitempty"`
}

// DefaultSettings are the settings of a new database (issue 10): idle
// expiry 15 minutes, absolute expiry 12 hours, lockout 15 minutes, no
// forced password change.
var DefaultSettings = Settings{IdleExpiry: 15 * time.Minute, AbsoluteExpiry: 12 * time.Hour, LockoutDuration: 15 * time.Minute}

// MaxFailures is how many consecutive wrong passwords, at login or at any
// signature, lock an account (21 CFR 11.300(d)).
const MaxFailures = 5

// Bounds is the range a duration setting may take.
type Bounds struct {
	Field    string // as messages name it: "idle expiry"
	Min, Max time.Duration
}

// The range of each duration setting (Validate).
var (
	IdleBounds           = Bounds{"idle expiry", time.Minute, 24 * time.Hour}
	AbsoluteBounds       = Bounds{"absolute expiry", 5 * time.Minute, 7 * 24 * time.Hour}
	LockoutBounds        = Bounds{"lockout duration", time.Minute, 24 * time.Hour}
	PasswordMaxAgeBounds = Bounds{"password max age", 24 * time.Hour, 5 * 365 * 24 * time.Hour}
)

// String is the range as a setting is typed (FormatDuration): 1m–1d.
func (b Bounds) String() string { return FormatDuration(b.Min) + "–" + FormatDuration(b.Max) }

func (b Bounds) check(d time.Duration) error {
	if d < b.Min || d > b.Max {
		return lot.Errorf(lot.EINVALID, "%s %s is outside %s–%s; give a duration such as 15m or 12h", b.Field, d, b.Min, b.Max)
	}
	return nil
}

// Validate refuses settings that would make sessions meaningless or lock
// people out for good.
func (s Settings) Validate() error {
	if err := IdleBounds.check(s.IdleExpiry); err != nil {
		return err
	}
	if err := AbsoluteBounds.check(s.AbsoluteExpiry); err != nil {
		return err
	}
	if s.IdleExpiry > s.AbsoluteExpiry {
		return lot.Errorf(lot.EINVALID, "idle expiry %s is longer than absolute expiry %s; make it shorter", s.IdleExpiry, s.AbsoluteExpiry)
	}
	if err := LockoutBounds.check(s.LockoutDuration); err != nil {
		return err
	}
	if s.PasswordMaxAge != 0 {
		if err := PasswordMaxAgeBounds.check(s.PasswordMaxAge); err != nil {
			return err
		}
	}
	return nil
}

// Session is a login session as the database keeps it: never the token,
// only what is needed to check and revoke it.
type Session struct {
	User         string    `json:"user"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires"` // absolute expiry
	LastActivity time.Time `json:"last_activity"`
	Revoked      bool      `json:"revoked,omitempty"`
}

// Check refuses a session that was revoked, has passed its absolute expiry,
// or has been idle longer than idle. lastActivity is the latest activity
// known (the database's or the client's, whichever is later). The refusal
// is ESESSION: the person must log in again.
func (s Session) Check(now, lastActivity time.Time, idle time.Duration) error {
	switch {
	case s.Revoked:
		// A lock ends the sessions too (5 wrong passwords, at a login or a
		// signature): the only admin locked out learns here to wait.
		return lot.Errorf(lot.ESESSION, "the session of %s was ended (logout; an admin disabled, reset or changed the account; or %d wrong passwords in a row locked it — then wait for the lockout to end, or ask an admin to unlock it); log in again", s.User, MaxFailures).Run("login " + s.User)
	case !now.Before(s.Expires):
		return lot.Errorf(lot.ESESSION, "the session of %s expired at %s (sessions last at most %s); log in again", s.User, lot.FormatTime(s.Expires), s.Expires.Sub(s.Created)).Run("login " + s.User)
	case now.Sub(lastActivity) >= idle:
		return lot.Errorf(lot.ESESSION, "the session of %s was idle since %s, longer than %s; log in again", s.User, lot.FormatTime(lastActivity), idle).Run("login " + s.User)
	}
	return nil
}

// Locked reports whether u's account is locked at now.
func (u User) Locked(now time.Time) bool { return now.Before(u.LockedUntil) }

// CheckLogin refuses a login or signature by an account that is disabled or
// locked; wrong passwords are counted by the caller.
func CheckLogin(u User, now time.Time) error {
	if u.Disabled {
		return lot.Errorf(lot.EFORBIDDEN, "user %s is disabled and can do nothing; ask an admin", u.Name)
	}
	if u.Locked(now) {
		return lot.Errorf(lot.EAUTH, "user %s is locked after %d wrong passwords until %s; wait, or ask an admin to unlock the account", u.Name, MaxFailures, lot.FormatTime(u.LockedUntil)).Run("user unlock " + u.Name)
	}
	return nil
}

// PasswordExpired reports whether u must change the password before doing
// anything else: after an admin's reset, or past the facility's maximum age.
func PasswordExpired(u User, now time.Time, s Settings) bool {
	return u.MustChange || (s.PasswordMaxAge > 0 && !u.PasswordChanged.IsZero() && now.Sub(u.PasswordChanged) >= s.PasswordMaxAge)
}

// AuthorizeServe refuses to let anyone but an admin start the server: it
// holds the database for everyone, and no other command can open it
// meanwhile.
func AuthorizeServe(u User) error {
	if u.Role != Admin {
		return lot.Errorf(lot.EFORBIDDEN, "user %s has role %s; an admin starts the server (it holds the database for everyone): log in as an admin", u.Name, u.Role)
	}
	return nil
}

// AuthorizeSign refuses an electronic signature by an admin: the person who
// manages accounts could otherwise create a second account and sign with
// both (separation of the administrator, issue 10).
func AuthorizeSign(u User, meaning string) error {
	if u.Role == Admin {
		return lot.Errorf(lot.EFORBIDDEN, "user %s is an admin, and an admin cannot sign (%s); a qa, physician or nurse account signs", u.Name, meaning)
	}
	return nil
}

// minStrength is the least zxcvbn score (0–4) a password needs: 3 is
// "safely unguessable: moderate protection from offline slow-hash attacks".
const minStrength = 3

// CheckNewPassword applies NIST SP 800-63B 5.1.1.2 to a new or changed
// password of user name with printed name fullName: at least MinPassword
// characters, not containing the user name or any word of the printed name
// (3 letters or more), and not weak by the zxcvbn estimator (dictionary
// words, keyboard patterns, repeats, dates). No composition rules. The
// password and the names are compared as printed names are (lot.FoldName:
// case folded, compatibility forms and look-alike letters read as the
// letters they print as), so that a name in capitals, full-width letters or
// Cyrillic look-alikes counts as the name. (golang.org/x/text/cases,
// used before, initialised its language tables at every start of the
// binary, ~0.1 ms, for this one check.)
func CheckNewPassword(password, name, fullName string) error {
	if n := utf8.RuneCountInString(password); n < MinPassword {
		return lot.Errorf(lot.EINVALID, "the password is %d characters; use at least %d (a few unrelated words make a long password easy to remember)", n, MinPassword)
	}
	folded := lot.FoldName(password)
	inputs := []string{name}
	if name != "" && strings.Contains(folded, lot.FoldName(name)) {
		return lot.Errorf(lot.EINVALID, "the password contains the user name %q; choose one that does not", name)
	}
	for _, part := range strings.FieldsFunc(fullName, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if utf8.RuneCountInString(part) < 3 {
			continue
		}
		inputs = append(inputs, part)
		if strings.Contains(folded, lot.FoldName(part)) {
			return lot.Errorf(lot.EINVALID, "the password contains %q from the printed name %q; choose one that does not", part, fullName)
		}
	}
	r := zxcvbn.PasswordStrength(password, inputs)
	if r.Score < minStrength {
		return lot.Errorf(lot.EINVALID, "the password is too easy to guess (strength %d of 4, cracked in %s by an offline attack; it needs %d): avoid common words, names, keyboard runs, repeats and dates, or add more unrelated words", r.Score, r.CrackTimeDisplay, minStrength)
	}
	return nil
}

// FormatDuration prints a setting as it was typed: 15m, 12h, 90d.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "off"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// Redact returns e as it may be shown: a user record's password hash (which
// holds its salt) is replaced by "(redacted)", or "(changed)" where the
// entry changed it. The stored entry and its hash are untouched, so the
// chain still verifies; no view of the trail shows a hash.
func Redact(e Entry) Entry {
	if e.Entity != "user" {
		return e
	}
	prevHash, prev := redactHash(e.Prev, "(redacted)")
	newHash, _ := peekHash(e.New)
	mark := "(redacted)"
	if len(e.Prev) > 0 && newHash != prevHash {
		mark = "(changed)"
	}
	_, e.New = redactHash(e.New, mark)
	e.Prev = prev
	return e
}

func peekHash(raw json.RawMessage) (string, bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return "", false
	}
	var h string
	_, ok := m["hash"]
	json.Unmarshal(m["hash"], &h)
	return h, ok
}

func redactHash(raw json.RawMessage, mark string) (string, json.RawMessage) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return "", raw
	}
	h, ok := m["hash"]
	if !ok {
		return "", raw
	}
	var old string
	json.Unmarshal(h, &old)
	m["hash"], _ = json.Marshal(mark)
	out, err := json.Marshal(m)
	if err != nil {
		return old, raw
	}
	return old, out
}
