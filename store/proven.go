package store

import (
	"errors"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// A password is proven outside the transaction that writes what it signs:
// the argon2id check takes tens of milliseconds (hundreds under load) and
// holds no transaction. Meanwhile its owner may change it, or an admin
// reset it — at another server on the same database, or in another
// process — and the change ends every session that exists when it commits.
// A signature (or a login: Login) made with the replaced password and
// committed after the change would outlive it (review 15 B). So each write
// that carries a signature compares, in its transaction, the signer's
// password hash with the one the password was checked against
// (stillProven). A replaced one is refused as a wrong password is — the
// same words, the same delay — recorded, and not counted towards the
// lockout: it was the right password a moment ago, and its owner racing
// their own change must not be locked out for it. Nothing else is written.

// replacedPassword is stillProven's refusal inside a write transaction;
// the write's deferred recordReplaced records it, once the transaction is
// rolled back, and answers.
type replacedPassword struct {
	signer audit.User // as read in the transaction
	action string     // the refusal's audit action: signature.refused, passwd.refused
	answer error      // what a wrong password gets there
}

func (e *replacedPassword) Error() string { return e.answer.Error() }
func (e *replacedPassword) Unwrap() error { return e.answer }

// stillProven refuses, in a write transaction, a signature by cur — the
// signer's record read in it — when cur's password is no longer the one
// proven (proven: the record the password was checked against, as
// Authenticate returns it), with the answer a wrong password gets there.
// action is the refusal's audit action (signature.refused, or
// passwd.refused at the change of one's own password).
func stillProven(cur, proven audit.User, action string) error {
	return stillProvenAs(cur, proven, action, errWrongSignature(proven.Name, lot.Errorf(lot.EAUTH, "wrong password")))
}

// stillCoSigner is stillProven for the second person a signature names in
// field ("witness", "physician"), whose password CoSigner proved: refused
// with CoSigner's one answer (the lockout duration read in tx).
func stillCoSigner(tx kv.Tx, cur, proven audit.User, field string) error {
	return stillProvenAs(cur, proven, "signature.refused", errWrongCoSigner(field, proven.Name, settingsTx(tx).LockoutDuration))
}

// stillProvenAs is stillProven with the answer given.
func stillProvenAs(cur, proven audit.User, action string, answer error) error {
	if cur.Hash == proven.Hash {
		return nil
	}
	return &replacedPassword{signer: cur, action: action, answer: answer}
}

// recordReplaced, deferred by a write, turns a replacedPassword refusal
// into its answer after recording it (an audit entry of its own, not
// counted) and waiting as a wrong password does.
func (db *DB) recordReplaced(err *error) {
	var rp *replacedPassword
	if !errors.As(*err, &rp) {
		return
	}
	if werr := db.refusedEvent(rp.signer, rp.action, "replaced password: it was changed after it was checked, before the write (not counted)"); werr != nil {
		*err = werr
		return
	}
	time.Sleep(FailedPasswordDelay)
	*err = rp.answer
}

// errWrongSignature is the answer to a wrong password at a signature by
// name (or at the change of name's own password), with what wrongPassword
// said (wrong: the lockout, if this one locked the account).
func errWrongSignature(name string, wrong error) error {
	return lot.Errorf(lot.EAUTH, "wrong password for user %s; nothing was signed (%s)", name, lockNote(wrong)).Run(lot.ErrorCommand(wrong))
}
