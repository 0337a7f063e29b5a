package audit

import (
	"context"

	"github.com/google/uuid"
)

// Users is the service of user accounts: looking people up, checking a
// signature's password and the admin's changes to accounts. The store
// implements it on the database; the command line's client of a server
// implements it over the API, where the server checks every password.
// Writes take the acting user's name and return EFORBIDDEN for a role that
// may not, EAUTH for a wrong password, EINVALID for a bad value or reason,
// ECONFLICT for a state that forbids it and ENOTFOUND for an unknown user.
type Users interface {
	// User returns the user called name: ENOTFOUND.
	User(name string) (User, error)
	// Users lists every user as actor may see them (Listed): the staff
	// directory (name, printed name, role) to a role that does not see
	// account state (SeesAccountState). EFORBIDDEN for an unknown or
	// disabled actor.
	Users(actor string) ([]User, error)
	// CoSigner checks the password of the second person named in field
	// (--witness), someone other than the acting user, for a signature
	// with meaning: one EAUTH refusal on field, as at the login, for an
	// unknown name or a wrong password whatever the account's state (a
	// known account's counted and recorded); what else refuses the
	// account (disabled, locked, role) is said only to its right password.
	CoSigner(field, name, password, meaning string) (User, error)
	// Authenticate checks name's password for a signature with meaning:
	// EAUTH for a wrong password (counted, and recorded in the audit
	// trail), EFORBIDDEN for a disabled user or a role that may not sign so.
	Authenticate(name, password, meaning string) (User, error)

	AddUser(actor string, u User, password, adminPassword string) (User, error)
	// DisableUser, EnableUser, UnlockUser, ResetPassword and
	// ChangePassword with seen set refuse the change (ECONFLICT) when the
	// account has changed since its form was shown (SeenField) — a
	// password change before its old password is checked, so a change
	// sent again counts no wrong password; nil asks for no such check.
	DisableUser(actor, name, reason string, seen *uint64) (User, error)
	EnableUser(actor, name, reason string, seen *uint64) (User, error)
	UnlockUser(actor, name, reason string, seen *uint64) (User, error)
	ResetPassword(actor, name, oneTime, reason string, seen *uint64) (User, error)
	SetRole(actor, name string, role Role, reason, adminPassword string) (User, error)
	ChangePassword(actor, old, password string, seen *uint64) (User, error)

	// Settings are the facility's session, lockout and password settings;
	// SetSettings changes them with a reason (admin).
	Settings() (Settings, error)
	SetSettings(actor string, s Settings, reason string) error
}

// Log reads the audit trail.
type Log interface {
	// EachAuditEntry calls fn with each entry of the trail, oldest first,
	// without holding them all (a download of a trail of millions);
	// entity ("" for all) narrows them to one record: UUID, lot, DIN,
	// container code, MRN, donor id or user name (ENOTFOUND). It ends
	// with ctx's error once ctx is done (a stopping server cuts it), and
	// with fn's.
	// The entries are those actor may read (Shown): another person's
	// account entries only to the admin and the auditor — the whole trail
	// leaves them out for anyone else, and an entity that is another
	// person's account is refused (EFORBIDDEN).
	EachAuditEntry(ctx context.Context, actor, entity string, fn func(Entry) error) error
	// AuditTail returns the last n entries EachAuditEntry(actor, entity)
	// gives, oldest first, and how many it gives in all, reading no others
	// but the accounts' entries it leaves out: a page of the newest
	// entries of a trail of millions.
	AuditTail(actor, entity string, n int) ([]Entry, int, error)
	// Seen is the state of the records ids as a form carries it
	// (SeenField): the number of the latest audit entry about any of
	// them (of an account: the latest that changes it, ChangesAccount),
	// 0 for none — what the store checks the form's against.
	Seen(ids ...uuid.UUID) (uint64, error)
}

// Public is u as it may leave the database: without its password hash.
func Public(u User) User {
	u.Hash = ""
	return u
}

// SeesAccountState reports whether role r may see the state of other
// people's accounts — disabled, locked, the count of wrong passwords, the
// last login, the password's age: the admin, who manages the accounts, and
// the auditor, who inspects access. To anyone else an account's state
// would undo the one answer a wrong witness or co-signer gets (CoSigner):
// a nurse who guessed a colleague's password could read in the list that
// the guesses locked the colleague out.
func SeesAccountState(r Role) bool { return r == Admin || r == Auditor }

// AboutAccount reports whether entry e is about an account: every entry on
// a user (EntityUser) — a login or logout, a wrong password at a login, as
// a signature or a co-signature, a lock, an admin's act on the account,
// whose values hold its state, and the database's events an admin records
// on their own account (init, database.upgrade, .restore, .migrate). All of
// them, an action added later included: the store finds them by the
// account's id alone (its audit_entity keys), reading none.
func AboutAccount(e Entry) bool { return e.Entity == EntityUser }

// Shown reports whether viewer reads entry e in the audit log: another
// person's account entries (AboutAccount) tell its state as Listed would,
// so only a role that sees account state (SeesAccountState) reads them;
// one's own account's entries everyone does.
func Shown(viewer User, e Entry) bool {
	return SeesAccountState(viewer.Role) || !AboutAccount(e) || (e.ID == viewer.ID && e.ID != uuid.Nil)
}

// Directory is u's entry in the staff directory every logged-in user
// keeps — whom to name as a witness or a physician: its id, login name,
// printed name and role, and nothing of the account's state.
func Directory(u User) User {
	return User{ID: u.ID, Name: u.Name, FullName: u.FullName, Role: u.Role}
}

// Listed is u as a viewer with role r may see it: Public for a role that
// sees account state (SeesAccountState), otherwise its Directory entry.
func Listed(r Role, u User) User {
	if SeesAccountState(r) {
		return Public(u)
	}
	return Directory(u)
}

// Checkpoints is the service of signed checkpoints: the verifier keys the
// database registers, and the check of kept checkpoints against today's
// trail. The store implements it on the database; the command line's client
// of a server implements it over the API. No method takes a signing key:
// signing stays where the key file is (`audit checkpoint`, the server's
// --checkpoint-key), and a client never sends one.
type Checkpoints interface {
	// RegisterCheckpointKey records the first verifier key (admin):
	// EINVALID for a value that is not a verifier key (ParseVerifier),
	// ECONFLICT when a key is already registered, EFORBIDDEN for a role
	// that may not.
	RegisterCheckpointKey(actor, verifier string) (CheckpointKey, error)
	// RotateCheckpointKey retires the active key and registers verifier
	// in its place, signed with the admin's password and a reason:
	// EINVALID, EAUTH for a wrong password, ECONFLICT with no key yet or a
	// key registered before, EFORBIDDEN.
	RotateCheckpointKey(actor, password, verifier, reason string) (CheckpointKey, error)
	// CheckpointKeys lists the registered verifier keys, oldest first.
	CheckpointKeys() ([]CheckpointKey, error)
	// VerifyCheckpointsPinned runs the whole of `audit verify` and checks
	// each kept checkpoint against today's trail, with the registered
	// keys, or with the pinned keys alone when any are given. What it
	// finds is in the result, not the error; it ends with ctx's error once
	// ctx is done (a stopping server cuts it).
	VerifyCheckpointsPinned(ctx context.Context, kept []KeptCheckpoint, pinned []PinnedVerifier) (CheckpointVerification, error)
}
