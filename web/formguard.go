package web

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Two things a page form sent from a browser can be that the person who
// sends it did not mean, beside what its fields say:
//
//   - sent under another user: one browser has one cookie, so a form shown
//     to liu and sent after pat logged in in another tab would record as pat.
//     Every state-changing page form carries whom it was shown to (formFor;
//     the forms that ask a password use formSigner), and is refused (409)
//     under anyone else, before anything is looked at.
//   - sent again: a second click, a refresh of the answer page or the Back
//     button sends the same form once more. Where the store would record
//     the same thing twice or count it against a person, the form carries
//     the state of its record as the page showed it (audit.SeenField: the
//     number of the record's last audit entry), which the store checks in
//     its writing transaction, so that it holds with any number of servers
//     on one database, and refuses (409, field seen) once the record has
//     moved on: a custody move; a label printed, applied or voided (the
//     container and its labels, or for a lot's print the lot, its
//     containers and their labels: labelSeenOf); a split (the lot); a QC
//     result, approve, an exceptional release and reject (the lot and its
//     results); unlock, disable, enable, a password reset and the user's
//     own password change (the account: audit.ChangesAccount says what
//     moves it — the change is refused before its current password, the
//     one it replaced, is checked, so nothing is counted). Every change
//     writes an entry, so the number moves even when a record comes round
//     to a state it was in (stored, quarantined, stored again), where the
//     record's own rules would take the old form for a new act. A
//     deliberate second act (a reprint, a further split) is sent from the
//     page as it is now, which carries the new number.
//     The change a login demands (/password/expired) is made before any
//     session, by someone who may not have one: it carries the password it
//     was shown for (shownField, passwordSet: a digest of its hash, which
//     cannot be guessed, where an entry number could be tried until one
//     fits, telling a stranger which names are accounts), checked here under
//     this server's formMu (expiredStale).
//     The forms whose second send the store refuses for good need nothing
//     more: a registration or an import (its number is taken).

// formFor is formShownTo for a page form that records as the session's user
// without asking a password. A role that may not do act is refused for that
// first (403), as without the form.
func formFor(f url.Values, u audit.User, act audit.Action) error {
	if audit.Authorize(u, act) != nil {
		return nil
	}
	return formShownTo(f, u, "whom it was shown to", "nothing was recorded", "send it from there")
}

// shownField is the hidden input in which the change a login demands
// carries the password it was shown for (passwordSet).
const shownField = "shown"

// resendWords end every refusal of a form sent again.
const resendWords = "a form sent again (a second click, a refresh or the Back button) does nothing the second time, and nothing was done now"

// passwordSet names the password u has now, as the expired form carries it: a
// digest of its hash, which changes whenever the password is set (every
// hash has a salt of its own), however close in time two settings are or
// whatever the clock says, and from which nothing of the password can be
// learned.
func passwordSet(u audit.User) string {
	sum := sha256.Sum256([]byte("celltrack password form\x00" + u.Hash))
	return hex.EncodeToString(sum[:12])
}

// account is the user called name as the store has it now, password hash
// included, for the server's own checks: ENOTFOUND for an unknown name.
func (s *Server) account(name string) (audit.User, error) {
	u, err := s.cfg.Accounts.User(name)
	if lot.ErrorCode(err) == lot.EFORBIDDEN { // the store's answer for a name no account has
		return audit.User{}, lot.Errorf(lot.ENOTFOUND, "no user %s; the accounts page lists every user", name)
	}
	return u, err
}

// seenOf is the state of the records ids (a container; an account; a lot
// and its QC results) as their forms carry it (audit.SeenField): the number
// of the latest audit entry about any of them, which the store checks when
// the form is sent. A server given no audit log (a test's) gives ""; its
// forms then carry none, and the records' own rules alone judge them.
func (s *Server) seenOf(ids ...uuid.UUID) (string, error) {
	if s.cfg.AuditLog == nil {
		return "", nil
	}
	last, err := s.cfg.AuditLog.Seen(ids...)
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(last, 10), nil
}

// formSeen is the record's state a form was shown with (audit.SeenField),
// for the store to check: nil for a form that carries none (one made by
// hand, or from a server without an audit log), which the record's own
// rules alone judge, as the command line's writes.
func formSeen(f url.Values) (*uint64, error) {
	v := strings.TrimSpace(f.Get(audit.SeenField))
	if v == "" {
		return nil, nil
	}
	// 0 is a whole number that names no entry: the store's refusal (422),
	// as for the JSON API.
	seen, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, lot.FieldErrorf(audit.SeenField, lot.EUSAGE, "the value of %q is %q; %s", audit.SeenField, v, audit.SeenRule)
	}
	return &seen, nil
}

// expiredStale refuses the change a login demands (/password/expired) sent
// again after the change was made: its current password is the one
// replaced, and checking it would count a wrong password against the
// account that has just been set up. The page's form carries the password
// it changes (passwordSet), shown only after the right current password. A
// form that carries none (made by hand, or a page from before) is taken as
// sent again when this browser holds the session the change opened (a
// session of name) and name's password need no longer change; from anyone
// else it goes to the login as before, so that it tells a stranger nothing
// of the account. A form that carries a password the account does not
// have now, or names no account, gets one answer, worded for both and given
// before any password is checked: were an unknown name left to the login,
// its 401 beside an account's 409 would tell a stranger which names exist.
func (s *Server) expiredStale(w http.ResponseWriter, r *http.Request, name string) error {
	f := r.PostForm
	u, err := s.account(name)
	if shown := strings.TrimSpace(f.Get(shownField)); shown != "" {
		if err == nil && shown == passwordSet(u) {
			return nil
		}
		if err != nil && lot.ErrorCode(err) != lot.ENOTFOUND {
			return err
		}
		return lot.FieldErrorf(shownField, lot.ECONFLICT, "this form was not shown for the password of %q as it is set now (it was set after the form was shown, or the form is not this server's): %s — the password it carries was not checked, and nothing was counted. Log in with the password in use now",
			name, resendWords)
	}
	if err != nil {
		return nil
	}
	changed := lot.FieldErrorf(shownField, lot.ECONFLICT, "the password of %s was changed after this form was shown: %s — the password it carries was not checked, and nothing was counted against %s. Log in with the new password",
		u.Name, resendWords, u.Name)
	if u.MustChange || s.cfg.UserService == nil {
		return nil
	}
	if cur, err := s.currentUser(w, r); err != nil || cur.Name != u.Name {
		return nil
	}
	set, err := s.cfg.UserService.Settings()
	if err != nil {
		return err
	}
	if audit.PasswordExpired(u, s.cfg.Now(), set) {
		return nil
	}
	return changed
}
