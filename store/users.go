package store

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// userRecord is the stored form of audit.User (version 1).
type userRecord struct {
	V         int        `json:"v"`
	ID        uuid.UUID  `json:"id"`
	Name      string     `json:"name"`
	FullName  string     `json:"full_name"`
	Role      audit.Role `json:"role"`
	Disabled  bool       `json:"disabled,omitempty"`
	Hash      string     `json:"hash"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	// Issue 10: lockout, last login, password age, the admin's signature
	// when the role was last set to qa or physician.
	Failures        int              `json:"failures,omitempty"`
	LockedUntil     time.Time        `json:"locked_until,omitzero"`
	LastLogin       time.Time        `json:"last_login,omitzero"`
	PasswordChanged time.Time        `json:"password_changed,omitzero"`
	MustChange      bool             `json:"must_change,omitempty"`
	RoleGrant       *audit.Signature `json:"role_grant,omitempty"`
}

func toUserRecord(u audit.User) userRecord {
	return userRecord{V: 1, ID: u.ID, Name: u.Name, FullName: u.FullName, Role: u.Role, Disabled: u.Disabled,
		Hash: u.Hash, CreatedAt: u.CreatedAt, CreatedBy: u.CreatedBy,
		Failures: u.Failures, LockedUntil: u.LockedUntil, LastLogin: u.LastLogin, PasswordChanged: u.PasswordChanged, MustChange: u.MustChange, RoleGrant: u.RoleGrant}
}

func (r userRecord) user() audit.User {
	return audit.User{ID: r.ID, Name: r.Name, FullName: r.FullName, Role: r.Role, Disabled: r.Disabled,
		Hash: r.Hash, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		Failures: r.Failures, LockedUntil: r.LockedUntil, LastLogin: r.LastLogin, PasswordChanged: r.PasswordChanged, MustChange: r.MustChange, RoleGrant: r.RoleGrant}
}

// Create makes a new database at path with its facility number and first
// admin. Everything is checked before the file is made, and a file this call
// made is removed again if initialising it fails, so a refused init leaves
// nothing behind that later commands would take for a (broken) database.
func Create(path string, opts Options, fin string, admin audit.User, password string) (*DB, audit.User, error) {
	hash, err := prepareInit(fin, admin, password)
	if err != nil {
		return nil, audit.User{}, err
	}
	zone := opts.Zone
	if zone == "" {
		zone = "UTC"
	}
	if _, err := lot.LoadZone("the time zone", zone); err != nil {
		return nil, audit.User{}, lot.OnField("tz", err)
	}
	opts.Create, opts.ReadOnly = true, false
	db, err := Open(path, opts)
	if err != nil {
		return nil, audit.User{}, err
	}
	u, err := db.initHashed(fin, admin, hash, zone)
	if err != nil {
		db.Close()
		if !IsPostgres(path) {
			os.Remove(path)
		}
		return nil, audit.User{}, err
	}
	return db, u, nil
}

// prepareInit checks the facility number, the admin and the password of a
// new database and returns the password's hash.
func prepareInit(fin string, admin audit.User, password string) (string, error) {
	if err := lot.ValidateFIN(fin); err != nil {
		return "", err
	}
	if err := validateNewUser(admin); err != nil {
		return "", err
	}
	if admin.FullName == "" {
		admin.FullName = admin.Name
	}
	if err := audit.CheckNewPassword(password, admin.Name, admin.FullName); err != nil {
		return "", err
	}
	return audit.HashPassword(password)
}

// Init creates the buckets of a database just opened with Options.Create,
// records the facility's ISBT 128 FIN, its time zone (UTC; Create takes
// another) and the first admin.
func (db *DB) Init(fin string, admin audit.User, password string) (audit.User, error) {
	hash, err := prepareInit(fin, admin, password)
	if err != nil {
		return audit.User{}, err
	}
	return db.initHashed(fin, admin, hash, "UTC")
}

// initHashed makes the database; zone "" stores no facility record, as a
// file of schema version 5 or older has none (the migration tests build one).
func (db *DB) initHashed(fin string, admin audit.User, hash, zone string) (_ audit.User, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.recoverDamage(&err)
	admin.ID, admin.Role, admin.Hash, admin.CreatedAt, admin.CreatedBy = db.NewID(), audit.Admin, hash, db.now(), admin.Name
	admin.PasswordChanged = admin.CreatedAt
	err = db.engine.Update(func(tx kv.Tx) error {
		for _, name := range append([][]byte{bMeta, bAudit, bAuditEntity, bAuditTree, bSessions}, indexBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		for _, name := range recordBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bMeta)
		if err := meta.Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		if err := meta.Put([]byte("facility"), []byte(fin)); err != nil {
			return err
		}
		if err := meta.Put(metaDBID, []byte(db.NewID().String())); err != nil {
			return err
		}
		w := &writer{db: db, tx: tx, actor: admin, now: db.now()}
		if err := w.put(kindUser, admin.ID, "init", "database created for facility "+fin, toUserRecord(admin)); err != nil {
			return err
		}
		if err := writeIndexes(tx, kindUser, admin.ID); err != nil {
			return err
		}
		if zone != "" {
			if err := w.putFacilityZone(zone, "init", "facility time zone "+zone+" set at init"); err != nil {
				return err
			}
		}
		if err := w.installBuiltinSpecs(); err != nil {
			return err
		}
		return w.installProtocols()
	})
	return admin, err
}

func validateNewUser(u audit.User) error {
	if err := audit.ValidateUserName(u.Name); err != nil {
		return err
	}
	return lot.OnField("full-name", lot.ValidateText("the full name", u.FullName, true))
}

// AddUser creates a user with a one-time password (admin only), which the
// user's first login changes, as after ResetPassword. The password must
// pass audit.CheckNewPassword. Giving the new account the qa or physician
// role is an e-signature of the admin: adminPassword is checked (and a wrong
// one counted towards the admin's lockout).
//
// Only the name, printed name and role are taken from u: everything else
// (id, hash, creation, last login, wrong passwords, lock, disabled, forced
// change, role grant) is the server's to keep, and a new account starts with
// none of it but the forced change, whatever a client sent.
func (db *DB) AddUser(actor string, req audit.User, password, adminPassword string) (audit.User, error) {
	u := audit.User{Name: req.Name, FullName: req.FullName, Role: req.Role}
	if err := validateNewUser(u); err != nil {
		return audit.User{}, err
	}
	if _, err := audit.ParseRole(string(u.Role)); err != nil {
		return audit.User{}, err
	}
	if err := audit.CheckNewPassword(password, u.Name, u.FullName); err != nil {
		return audit.User{}, err
	}
	grant, err := db.grantSignature(actor, u.Role, adminPassword)
	if err != nil {
		return audit.User{}, err
	}
	hash, err := audit.HashPassword(password)
	if err != nil {
		return audit.User{}, err
	}
	err = db.update(actor, audit.UserAdd, func(w *writer) error {
		if _, ok := lookup(w.tx, "idx_user_name", u.Name); ok {
			return lot.Errorf(lot.ECONFLICT, "user %s already exists; choose another name", u.Name)
		}
		if other, ok := userFolded(w.tx, u.Name); ok {
			return lot.Errorf(lot.ECONFLICT, "user name %s differs from the existing user %s only in letter case; a login typed in another case must never act as another person: if this is %s's second login choose a distinct name (e.g. %s-qa), otherwise another name",
				u.Name, other, other, other)
		}
		if err := checkPrintedName(w.tx, u.FullName); err != nil {
			return err
		}
		if err := notOwnLookalike(w.actor, u); err != nil {
			return lot.OnField("full-name", err)
		}
		u.ID, u.Hash, u.CreatedAt, u.CreatedBy, u.PasswordChanged = db.NewID(), hash, w.now, w.actor.Name, w.now
		// The admin typed it: it is the admin's secret until its owner
		// chooses their own at the first login, as after a reset, and signs
		// nothing until then (21 CFR 11.100(a)).
		u.MustChange = true
		sig, err := w.grant(grant, u)
		if err != nil {
			return err
		}
		u.RoleGrant = sig
		if err := w.put(kindUser, u.ID, string(audit.UserAdd), "", toUserRecord(u)); err != nil {
			return err
		}
		return writeIndexes(w.tx, kindUser, u.ID)
	})
	return u, err
}

// userFolded returns an existing user name equal to name under case
// folding (ALICE for alice), as mrnFolded does for MRNs: user names are
// ASCII (audit.ValidateUserName), so folding is letter case. It reads the
// keys of idx_user_name only: a facility has tens of users, not the 100k
// patients that gave MRNs a folded index of their own.
func userFolded(tx kv.Tx, name string) (string, bool) {
	c := tx.Bucket([]byte("idx_user_name")).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if strings.EqualFold(string(k), name) {
			return string(k), true
		}
	}
	return "", false
}

// checkPrintedName refuses a full name that reads like an existing user's
// but is not typed the same (two spaces, a no-break space, punctuation,
// other case or width). A signature shows only the printed name, and segregation of
// duties treats logins with the same folded name (lot.SameName) as one
// person: a name typed exactly the same is that person's second login (a
// lab analyst who is also QA); a look-alike would be a second person nobody
// can tell apart on a signature, or the same person slipping past the check.
func checkPrintedName(tx kv.Tx, fullName string) error {
	return tx.Bucket(recordBuckets[kindUser]).ForEach(func(k, _ []byte) error {
		var r userRecord
		if _, err := get(tx, kindUser, uuid.UUID(k), &r); err != nil {
			return err
		}
		if r.FullName != fullName && lot.SameName(r.FullName, fullName) {
			return lot.FieldErrorf("full-name", lot.ECONFLICT, "the full name %q reads the same as %q, the printed name of user %s, but is typed differently (spacing, punctuation, case or characters); "+
				"if it is the same person type it exactly as %q (both logins then count as one person for segregation of duties); "+
				"if it is another person, add what tells them apart on a signature, e.g. a middle initial", fullName, r.FullName, r.Name, r.FullName)
		}
		return nil
	})
}

// DisableUser disables a user, who can then do nothing; the record stays.
// With seen set, an account changed since its form was shown is refused
// (checkSeen).
func (db *DB) DisableUser(actor, name, reason string, seen *uint64) (audit.User, error) {
	var u audit.User
	if err := lot.OnField("reason", lot.ValidateText("the reason", reason, true)); err != nil {
		return u, err
	}
	err := db.update(actor, audit.UserDisable, func(w *writer) error {
		var err error
		if u, err = userByName(w.tx, name); lot.ErrorCode(err) == lot.EFORBIDDEN {
			return notFound("user", name, "check the name in the list of users").Run("user list") // the target, not the actor
		} else if err != nil {
			return err
		}
		if err := accountSeen(w.tx, seen, u); err != nil {
			return err
		}
		if u.Disabled {
			return lot.Errorf(lot.ECONFLICT, "user %s is already disabled", name)
		}
		if u.Name == w.actor.Name {
			return lot.Errorf(lot.ECONFLICT, "user %s cannot disable itself; ask another admin", name)
		}
		u.Disabled = true
		if err := revokeSessions(w.tx, u.ID); err != nil {
			return err
		}
		return w.put(kindUser, u.ID, string(audit.UserDisable), reason, toUserRecord(u))
	})
	return u, err
}

// Users lists every user in creation order as actor may see them
// (audit.Listed): without password hashes, and to a role that does not see
// account state only the staff directory. The rule is here, not in a front
// end, so that `user list`, the server's API and its pages all keep it.
func (db *DB) Users(actor string) ([]audit.User, error) {
	var us []audit.User
	err := db.view(func(tx kv.Tx) error {
		viewer, err := userByName(tx, actor)
		if err != nil {
			return err
		}
		if err := audit.AuthorizeRead(viewer); err != nil {
			return err
		}
		return tx.Bucket(recordBuckets[kindUser]).ForEach(func(k, v []byte) error {
			var r userRecord
			if _, err := get(tx, kindUser, uuid.UUID(k), &r); err != nil {
				return err
			}
			us = append(us, audit.Listed(viewer.Role, r.user()))
			return nil
		})
	})
	return us, err
}

var (
	_ audit.Users = (*DB)(nil)
	_ audit.Log   = (*DB)(nil)
)

// User returns the user called name.
func (db *DB) User(name string) (audit.User, error) {
	var u audit.User
	err := db.view(func(tx kv.Tx) (err error) { u, err = userByName(tx, name); return err })
	return u, err
}

// Reader checks that name may read the database: an existing user who is not
// disabled (audit.AuthorizeRead). Every command that shows data calls it.
func (db *DB) Reader(name string) (audit.User, error) {
	u, err := db.User(name)
	if err != nil {
		return audit.User{}, err
	}
	return u, audit.AuthorizeRead(u)
}

// CoSigner checks the password of the second person a signature names in
// field ("witness", "physician"): somebody other than the session's user,
// whose name the acting user typed. It answers as the login does (Login):
// an unknown name, a wrong password, any password of a locked account (not
// checked: lockedAttempt), and a wrong password for an account that is
// disabled or may not sign this get one refusal (errWrongCoSigner), after
// the same argon2id check and the same delay, so that the acting user
// learns neither which accounts exist nor that one is locked, nor — once
// locked — whether a guess was right. Each refusal is recorded: an unknown
// name as at the login, a wrong password counted towards the lockout
// (wrongPassword) whatever the account's state or role and whatever the
// meaning asked, as at the login (the caller chooses the meaning). Only
// the right password of an account that is not locked says what else
// stands in the way — disabled, a role that may not sign, a password to
// change first — as only the right password does at the login: whoever
// typed it is the account's owner, and five wrong guesses lock it.
func (db *DB) CoSigner(field, name, password, meaning string) (_ audit.User, err error) {
	defer db.recoverDamage(&err)
	if name == "" {
		return audit.User{}, lot.FieldErrorf(field, lot.EUSAGE, "the %s needs a user name", field)
	}
	var u audit.User
	found := false
	var lockout time.Duration
	err = db.view(func(tx kv.Tx) error {
		lockout = settingsTx(tx).LockoutDuration
		id, ok := lookup(tx, "idx_user_name", name)
		if !ok {
			return nil
		}
		var err error
		u, _, err = userByID(tx, id)
		found = err == nil
		return err
	})
	if err != nil {
		return audit.User{}, err
	}
	const action = "signature.refused"
	if found && u.Locked(db.now()) {
		if err := db.lockedAttempt(u, password, action, "password for signature: "+meaning); err != nil {
			return audit.User{}, err
		}
		return audit.User{}, errWrongCoSigner(field, name, lockout)
	}
	right := false
	if found {
		right = audit.CheckPassword(u.Hash, password)
	} else {
		audit.CheckPassword(dummyHash(), password)
	}
	reason := "wrong password for signature: " + meaning
	if !right {
		// Counted whatever the account's role, state or the meaning asked,
		// as at the login: the meaning is the caller's choice, so an
		// uncounted refusal for an account that may not sign it would let
		// anyone logged in guess that account's password without end.
		if err := db.wrongPassword(name, u, found, action, reason); lot.ErrorCode(err) != lot.EAUTH {
			return audit.User{}, err
		}
		return audit.User{}, errWrongCoSigner(field, name, lockout)
	}
	if err := db.signerState(u, action); err != nil {
		return u, lot.OnField(field, err)
	}
	if err := db.maySign(u, meaning); err != nil {
		return u, lot.OnField(field, err)
	}
	if err := db.refuseMustChange(u); err != nil {
		return u, lot.OnField(field, err)
	}
	return db.resetFailures(u)
}

// errWrongCoSigner is the one answer to a co-signer's unknown name, wrong
// password or locked account, in the login's words (errWrongLogin) on the
// field that named them.
func errWrongCoSigner(field, name string, lockout time.Duration) error {
	return lot.FieldErrorf(field, lot.EAUTH, "wrong user name or password for the %s %s, or the account is locked; nothing was signed (%s)", field, typedName(name), lockoutNote(lockout))
}

func userByName(tx kv.Tx, name string) (audit.User, error) {
	if name == "" {
		return audit.User{}, lot.FieldErrorf("user", lot.EFORBIDDEN, "no acting user; name the user who acts")
	}
	id, ok := lookup(tx, "idx_user_name", name)
	if !ok {
		return audit.User{}, lot.FieldErrorf("user", lot.EFORBIDDEN, "no user %q; check the acting user's name (an admin lists the users)", name)
	}
	// Every write reads its actor: through decodedUsers, as the session
	// check reads the session's user (not stored: the zero user, as get).
	u, _, err := userByID(tx, id)
	return u, err
}

// FailedPasswordDelay is how long a refused password holds the caller, so
// that guessing passwords is slow (21 CFR 11.300(d)).
var FailedPasswordDelay = time.Second

// Authenticate checks name's password for a signature whose meaning is given.
// An admin cannot sign (audit.AuthorizeSign); a disabled user is refused
// with EFORBIDDEN, a locked one with EAUTH. A wrong password is refused with
// EAUTH after FailedPasswordDelay and recorded in the audit trail — the one
// refusal that writes — and counts towards the lockout (audit.MaxFailures);
// a right one after wrong ones resets the count (one more entry).
func (db *DB) Authenticate(name, password, meaning string) (audit.User, error) {
	u, err := db.User(name)
	if err != nil {
		return u, err
	}
	// The role is checked before the password: a wrong password of
	// someone who may not sign this at all is not a failed signature, and
	// must not count towards their lockout.
	if err := db.maySign(u, meaning); err != nil {
		return u, err
	}
	return db.signPassword(u, password, "signature.refused", "wrong password for signature: "+meaning)
}

// maySign refuses u a signature with meaning by role: an admin signs
// nothing, the co-signer of an exceptional release is a physician, and
// otherwise the signer's role must be allowed the write the meaning signs
// for (signatureActions).
func (db *DB) maySign(u audit.User, meaning string) error {
	if err := audit.AuthorizeSign(u, meaning); err != nil {
		return err
	}
	if meaning == release.MeaningPhysician {
		return release.CheckCoSignerRole(u)
	}
	if a, ok := signatureActions[meaning]; ok {
		return audit.Authorize(u, a)
	}
	return nil
}

// signatureActions are the writes a signature's meaning signs for: the
// signer's role must be allowed the action (audit.Permissions). The
// physician's co-signature of an exceptional release has no action of its
// own (maySign: release.CheckCoSignerRole).
var signatureActions = map[string]audit.Action{
	dose.MeaningAdminister:    audit.DoseAdminister,
	dose.MeaningWitness:       audit.DoseAdminister,
	dose.MeaningSchedule:      audit.ScheduleChange,
	dose.MeaningConfirmWeight: audit.WeightConfirm,
	release.MeaningApprove:    audit.ReleaseApprove,
	release.MeaningException:  audit.ReleaseApprove,
	release.MeaningReject:     audit.ReleaseReject,
}

// signPassword is checkPasswordOf for an e-signature: a right password
// that must be changed first (a one-time password from an admin's `user
// add` or reset, or one older than the facility's maximum age) does not
// sign. It is not a wrong password: it is refused with EPASSWORD, counts
// towards no lockout and writes nothing.
func (db *DB) signPassword(u audit.User, password, action, reason string) (audit.User, error) {
	return db.checkPassword(u, password, action, reason, true)
}

// checkPasswordOf checks u's password as a re-authentication (the current
// password at a change of it), counting a wrong one and resetting the count
// on a right one.
func (db *DB) checkPasswordOf(u audit.User, password, action, reason string) (audit.User, error) {
	return db.checkPassword(u, password, action, reason, false)
}

// errSignMustChange refuses a signature with a password that must be
// changed first, saying whose and how.
func errSignMustChange(u audit.User, now time.Time, set audit.Settings) error {
	why := "an admin set it to a one-time password (the first one, at `user add`, or a reset), which only its owner's own new password replaces"
	if !u.MustChange {
		why = fmt.Sprintf("it was set %s, longer ago than the facility's maximum password age of %s", lot.FormatTime(u.PasswordChanged), audit.FormatDuration(set.PasswordMaxAge))
	}
	return lot.Errorf(lot.EPASSWORD, "the password of %s must be changed before %s can sign (%s); nothing was signed: %s changes it by logging in (or on the password page of the server), then signs again",
		u.Name, u.Name, why, u.Name).Run("login " + u.Name)
}

func (db *DB) checkPassword(u audit.User, password, action, reason string, signing bool) (_ audit.User, err error) {
	defer db.recoverDamage(&err)
	if u, err = db.provePassword(u, password, action, reason, signing); err != nil {
		return u, err
	}
	return db.resetFailures(u)
}

// resetFailures resets the count of u's wrong passwords after a right one
// (one audit entry; none when there were none).
func (db *DB) resetFailures(u audit.User) (audit.User, error) {
	if u.Failures == 0 {
		return u, nil
	}
	err := db.engine.Update(func(tx kv.Tx) error {
		r, err := userRecordByName(tx, u.Name)
		if err != nil {
			return err
		}
		cur := r.user()
		cur.Failures = 0
		w := &writer{db: db, tx: tx, actor: cur, now: db.now()}
		return w.put(kindUser, cur.ID, "password.ok", "a right password resets the count of wrong ones", toUserRecord(cur))
	})
	if err != nil {
		return u, err
	}
	u.Failures = 0
	return u, nil
}

// provePassword is checkPassword without the reset of the count of wrong
// passwords: a wrong one is counted (and recorded), a right one writes
// nothing. Restore's, whose own refusals must leave the database as it was
// (the file it replaces keeps the count; the restored one has its own).
func (db *DB) provePassword(u audit.User, password, action, reason string, signing bool) (_ audit.User, err error) {
	defer db.recoverDamage(&err)
	if err := db.signerState(u, action); err != nil {
		return u, err
	}
	if !audit.CheckPassword(u.Hash, password) {
		err := db.wrongPassword(u.Name, u, true, action, reason)
		if lot.ErrorCode(err) == lot.EAUTH {
			err = errWrongSignature(u.Name, err)
		}
		return u, err
	}
	if signing {
		return u, db.refuseMustChange(u)
	}
	return u, nil
}

// signerState refuses a signature by a disabled or locked u; the locked
// attempt is recorded (as action).
func (db *DB) signerState(u audit.User, action string) error {
	if u.Disabled {
		return lot.Errorf(lot.EFORBIDDEN, "user %s is disabled and cannot sign; another user signs, or an admin enables the account", u.Name).Run("user enable " + u.Name)
	}
	if err := audit.CheckLogin(u, db.now()); err != nil {
		if werr := db.refusedEvent(u, action, "signature while locked"); werr != nil {
			return werr
		}
		return err
	}
	return nil
}

// refuseMustChange refuses a signature by u, whose account db holds, when
// the password u gave (checked right) must be changed first
// (audit.PasswordExpired under db's settings): a one-time password an
// admin typed, or one past the maximum age, signs nothing — here, in
// restore's checks of a file it does not write to (proveOlder,
// proveInBackup), and everywhere else a password signs.
func (db *DB) refuseMustChange(u audit.User) error {
	set, err := db.Settings()
	if err != nil {
		return err
	}
	if now := db.now(); audit.PasswordExpired(u, now, set) {
		return errSignMustChange(u, now, set)
	}
	return nil
}

// lockNote keeps what wrongPassword said about the lockout.
func lockNote(err error) string {
	msg := lot.ErrorMessage(err)
	if i := strings.Index(msg, "after "); i >= 0 && strings.Contains(msg, "is locked until") {
		return "the attempt is recorded in the audit trail; " + msg[i:]
	}
	return fmt.Sprintf("the attempt is recorded in the audit trail; %d wrong in a row lock the account", audit.MaxFailures)
}

// sign returns u's signature of the record value rec with the given meaning,
// bound to the SHA-256 of rec's stored encoding.
func (w *writer) sign(u audit.User, meaning string, signed [32]byte) audit.Signature {
	return audit.Signature{UserID: u.ID, User: u.Name, FullName: u.FullName, Role: u.Role, Time: w.now, Meaning: meaning, Signed: signed}
}
