package audit

import (
	"bytes"

	"github.com/celltrack/celltrack/lot"
)

// SeenField is the field in which a write carries the state its form was
// shown with: the number of the last audit entry of the record it changes
// (for a lot: of the lot and of its QC results), as the record's trail
// (Log.AuditTail) ends when the form is shown. Every change of a record
// writes an entry, so the number moves on with each one — even one that
// brings the record back to a state it was in before (stored, quarantined,
// stored again; disabled, enabled, disabled again), which the record's own
// rules cannot tell from the first. The store checks it in the writing
// transaction (CheckSeen), so of one form sent twice, on any number of
// servers, the first records and the second is refused. A write that
// carries none (the command line, a script, a hand-made request) is
// checked by the record's own rules alone.
const SeenField = "seen"

// SeenRule is what a seen that is not a whole number a form could carry
// (text, a fraction, below 0, past 2^64-1) is told, by the page forms and
// the JSON API alike (400); a whole number that names no entry of the
// record (0, or past its last) is CheckSeen's (422).
const SeenRule = "it must be a number from 1 to 18446744073709551615, the number of the record's last audit entry, which its page's form carries — nothing was done: open the page again and send the form from there"

// ChangesAccount reports whether an audit entry on an account (its action,
// and whether it is a state entry) changes what the accounts page shows of
// it and decides on — an admin's act (add, role, disable, enable, unlock,
// reset), a password change, a lock when it happens — and so moves the
// account's SeenField. A login, a right or wrong password (each only moves
// the last login or the failure count) and a refused attempt while locked
// or disabled (an event) do not: else a stranger's guess, or a login with
// a stolen password, would keep the admin's forms for the account stale.
// Every other state entry on the account counts, so an act added later
// moves it unless it is named here.
func ChangesAccount(action string, state bool) bool {
	switch action {
	case "user.locked":
		return true
	case "login", "password.ok", "login.refused", "signature.refused", "passwd.refused":
		return false
	}
	return state
}

// CheckSeen refuses a write about what (e.g. "container G12342600000101",
// "lot LOT-1", "the account of nina") whose form saw it as of audit entry
// seen, now that last, the latest entry about it, is another (ECONFLICT on
// SeenField, naming last: what changed, by whom and when; part names the
// record last is about when it is a part of what, e.g. "result #3 (CD14)",
// else ""). A seen of 0 or beyond last names no entry of the record: a bad value
// (EINVALID). todo says what to do instead.
func CheckSeen(seen uint64, what string, last Entry, part, todo string) error {
	switch {
	case seen == last.Seq:
		return nil
	case seen == 0 || seen > last.Seq:
		return lot.FieldErrorf(SeenField, lot.EINVALID, "the form says it showed %s as of audit entry #%d, but its last entry is #%d; nothing was done — open %s again and send the form from there", what, seen, last.Seq, what)
	}
	if part != "" {
		part = " of " + part
	}
	return lot.FieldErrorf(SeenField, lot.ECONFLICT, "%s changed after this form was shown (the last change recorded: %s%s by %s at %s, audit entry #%d; the form showed it as of #%d): a form sent again (a second click, a refresh or the Back button) does nothing the second time, and nothing was done now. %s",
		what, last.Action, part, last.User, lot.FormatTime(last.Time), last.Seq, seen, todo)
}

// StoredAction is the action of a stored entry and whether it is a state
// entry, read without decoding the rest (Decode unmarshals the record's
// value before and after, most of an account entry's bytes): the body is
// Entry's JSON, whose first "action" key is the entry's own (IntactAction),
// and action names need no escape. ChangesAccount is all an account's
// state asks of the entries it walks back over.
func StoredAction(b []byte) (action string, state bool, err error) {
	action, err = storedName(b, actionKey)
	if err != nil {
		return "", false, err
	}
	if IsLinked(b) {
		return action, leanState(b[80]), nil
	}
	return action, b[112] != 0, nil
}

// StoredEntity is the kind of record a stored entry is about (Entry.Entity:
// "user", "lot", …), read as StoredAction reads the action: the "entity"
// key follows "action" in Entry's JSON, before the record's values, and a
// kind needs no escape.
func StoredEntity(b []byte) (string, error) { return storedName(b, entityKey) }

var entityKey = []byte(`"entity":"`)

// storedName is the value of the first key (`"name":"`) in the JSON body of
// the stored entry b, up to its closing quote: a name that needs no escape.
func storedName(b, key []byte) (string, error) {
	body, err := Body(b)
	if err != nil {
		return "", err
	}
	i := bytes.Index(body, key)
	if i < 0 {
		return "", errBody
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", errBody
	}
	return string(rest[:j]), nil
}
