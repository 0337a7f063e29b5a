package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// The account lifecycle (issue 10): each change is one audited write with
// who, when and why.

// MeaningGrantRole is the meaning of the admin's signature that gives an
// account the qa or physician role.
const MeaningGrantRole = "granted the role"

// signedRoles are the roles whose signatures release lots and prescribe:
// giving one is an e-signature of the admin.
func signedRole(r audit.Role) bool { return r == audit.QA || r == audit.Physician }

// grantSignature checks the admin's password when role needs a signed grant
// and returns the admin, or nil when no signature is needed.
func (db *DB) grantSignature(actor string, role audit.Role, password string) (*audit.User, error) {
	if !signedRole(role) {
		return nil, nil
	}
	u, err := db.User(actor)
	if err != nil {
		return nil, err
	}
	if err := audit.Authorize(u, audit.UserRole); err != nil {
		return nil, err
	}
	if password == "" {
		return nil, lot.Errorf(lot.EAUTH, "giving the role %s is an e-signature of the admin: %s's password is needed", role, actor)
	}
	u, err = db.signPassword(u, password, "signature.refused", "wrong password for signature: "+MeaningGrantRole+" "+string(role))
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// grant returns the admin's signature over the account given the role,
// bound to who the account is and the role (roleGrantDigest), which
// `audit verify` recomputes; admin is the acting admin as grantSignature
// proved the password, refused if it was replaced since (stillProven).
func (w *writer) grant(admin *audit.User, u audit.User) (*audit.Signature, error) {
	if admin == nil {
		return nil, nil
	}
	if err := stillProven(w.actor, *admin, "signature.refused"); err != nil {
		return nil, err
	}
	s := w.sign(*admin, MeaningGrantRole+" "+string(u.Role), roleGrantDigest(u))
	return &s, nil
}

// notOwnLookalike refuses an admin creating or changing an account whose
// printed name may be the admin's own (lot.MayBeSameName: the admin's
// family name and given name or its initial, in any word order, whatever
// other words — a middle initial, a number, a suffix, a note — with
// titles, accents or look-alike letters): a second account of the admin
// could sign what the admin may not. It is the one check of
// every path that creates or changes an account (AddUser, adminChange).
func notOwnLookalike(admin, target audit.User) error {
	if target.Name != admin.Name && lot.MayBeSameName(admin.FullName, target.FullName) {
		return lot.Errorf(lot.EFORBIDDEN, "user %s's printed name %q reads as the admin's own (%s, %q): an admin cannot create or change an account of their own; ask another admin "+
			"(printed names are compared in any word order, without titles such as Dr or RN, accents, or look-alike letters such as rn for m or 1 for l; the same family name with the same given name or its initial reads as one person whatever other words, such as a middle initial, a number or a suffix, either has)", target.Name, target.FullName, admin.Name, admin.FullName)
	}
	return nil
}

// adminChange runs fn on the user called name in an audited write by actor,
// an admin allowed to perform action, after refusing a change to an account
// that reads as the admin's own, and with seen set one to an account that
// has changed since its form was shown (checkSeen).
func (db *DB) adminChange(actor, name string, action audit.Action, reason string, seen *uint64, fn func(w *writer, u *audit.User) error) (audit.User, error) {
	var u audit.User
	if err := lot.OnField("reason", lot.ValidateText("the reason", reason, true)); err != nil {
		return u, err
	}
	err := db.update(actor, action, func(w *writer) error {
		r, err := userRecordByName(w.tx, name)
		if err != nil {
			return err
		}
		u = r.user()
		if err := accountSeen(w.tx, seen, u); err != nil {
			return err
		}
		if u.Name != w.actor.Name {
			if err := notOwnLookalike(w.actor, u); err != nil {
				return err
			}
		}
		if err := fn(w, &u); err != nil {
			return err
		}
		return w.put(kindUser, u.ID, string(action), reason, toUserRecord(u))
	})
	return u, err
}

// EnableUser enables a disabled user again.
func (db *DB) EnableUser(actor, name, reason string, seen *uint64) (audit.User, error) {
	return db.adminChange(actor, name, audit.UserEnable, reason, seen, func(w *writer, u *audit.User) error {
		if !u.Disabled {
			return lot.Errorf(lot.ECONFLICT, "user %s is not disabled", name)
		}
		u.Disabled = false
		return nil
	})
}

// UnlockUser lifts a lockout before its time and clears the count of wrong
// passwords.
func (db *DB) UnlockUser(actor, name, reason string, seen *uint64) (audit.User, error) {
	return db.adminChange(actor, name, audit.UserUnlock, reason, seen, func(w *writer, u *audit.User) error {
		if !u.Locked(w.now) && u.Failures == 0 {
			return lot.Errorf(lot.ECONFLICT, "user %s is not locked and has no wrong passwords counted", name)
		}
		u.LockedUntil, u.Failures = time.Time{}, 0
		return nil
	})
}

// ResetPassword sets a one-time password that its owner must change at the
// next login, clears a lockout and ends the user's sessions. An admin
// changes their own password with ChangePassword. With seen, the account
// must stand as the form showed it (accountSeen): a reset sent again
// records no second reset.
func (db *DB) ResetPassword(actor, name, oneTime, reason string, seen *uint64) (audit.User, error) {
	return db.adminChange(actor, name, audit.UserReset, reason, seen, func(w *writer, u *audit.User) error {
		if u.Name == w.actor.Name {
			return lot.Errorf(lot.ECONFLICT, "user %s cannot reset their own password; change it instead, with the current one", name).Run("user passwd")
		}
		if err := audit.CheckNewPassword(oneTime, u.Name, u.FullName); err != nil {
			return err
		}
		hash, err := audit.HashPassword(oneTime)
		if err != nil {
			return err
		}
		u.Hash, u.PasswordChanged, u.MustChange, u.Failures, u.LockedUntil = hash, w.now, true, 0, time.Time{}
		return revokeSessions(w.tx, u.ID)
	})
}

// SetRole gives a user another role and ends their sessions. Giving qa or
// physician is an e-signature of the admin (adminPassword). An admin cannot
// change their own role.
func (db *DB) SetRole(actor, name string, role audit.Role, reason, adminPassword string) (audit.User, error) {
	if _, err := audit.ParseRole(string(role)); err != nil {
		return audit.User{}, err
	}
	if err := lot.OnField("reason", lot.ValidateText("the reason", reason, true)); err != nil {
		return audit.User{}, err
	}
	if name == actor {
		return audit.User{}, lot.Errorf(lot.ECONFLICT, "user %s cannot change their own role; ask another admin", name)
	}
	if t, err := db.User(name); err == nil && t.Role == role {
		return t, lot.Errorf(lot.ECONFLICT, "user %s already has role %s", name, role)
	}
	grant, err := db.grantSignature(actor, role, adminPassword)
	if err != nil {
		return audit.User{}, err
	}
	return db.adminChange(actor, name, audit.UserRole, reason, nil, func(w *writer, u *audit.User) error {
		if u.Role == role {
			return lot.Errorf(lot.ECONFLICT, "user %s already has role %s", name, role)
		}
		u.Role = role
		sig, err := w.grant(grant, *u)
		if err != nil {
			return err
		}
		u.RoleGrant = sig
		return revokeSessions(w.tx, u.ID)
	})
}

// ChangePassword changes the acting user's own password: the old one is
// checked (a wrong one counts towards the lockout), the new one must pass
// audit.CheckNewPassword. Every other session of the user ends: on a handle
// from WithSession the session the change is made in is kept; without one
// (the server's handle, which cannot tell its callers' sessions apart)
// every session of the user ends, and the server opens a new one for the
// person who changed it. With seen, the account must stand as the form
// showed it (ownSeen), checked before the old password is: a change sent
// again, whose current password is the one it replaced, is refused
// without counting a wrong password.
func (db *DB) ChangePassword(actor, old, password string, seen *uint64) (audit.User, error) {
	u, err := db.User(actor)
	if err != nil {
		return u, err
	}
	if err := audit.AuthorizeRead(u); err != nil {
		return u, err
	}
	if seen != nil {
		if err := db.view(func(tx kv.Tx) error { return ownSeen(tx, seen, u) }); err != nil {
			return u, err
		}
	}
	if u, err = db.checkPasswordOf(u, old, "passwd.refused", "wrong current password at password change"); err != nil {
		return u, err
	}
	if testHook != nil {
		testHook("password change: current password checked")
	}
	hash, err := newPasswordHash(u, password)
	if err != nil {
		return u, err
	}
	err = db.updateSelf(actor, func(w *writer) error {
		cur := w.actor
		// Again in the writing transaction: of two sends at once, on
		// any number of servers, one changes it.
		if err := ownSeen(w.tx, seen, cur); err != nil {
			return err
		}
		if err := stillProven(cur, u, "passwd.refused"); err != nil {
			return err
		}
		cur.Hash, cur.PasswordChanged, cur.MustChange = hash, w.now, false
		u = cur
		var keep []byte
		if db.creds != nil {
			keep = tokenHash(db.creds.Token)
		}
		if err := revokeSessionsExcept(w.tx, cur.ID, keep); err != nil {
			return err
		}
		return w.put(kindUser, cur.ID, "user.passwd", "password changed by its owner", toUserRecord(cur))
	})
	return u, err
}

// ownSeen is accountSeen for u's change of their own password.
func ownSeen(tx kv.Tx, seen *uint64, u audit.User) error {
	return checkSeenOf(tx, seen, "the account of "+u.Name,
		"The password it carries was not checked, and nothing was counted against "+u.Name+". To change it again, use the form as it is now, with the password in use now", u.ID, true)
}

// updateSelf is update for a change every enabled user may make to their
// own account, which the permission table does not list.
func (db *DB) updateSelf(actor string, fn func(w *writer) error) (err error) {
	defer db.recordReplaced(&err)
	defer db.recoverDamage(&err)
	return db.engine.Update(func(tx kv.Tx) error {
		u, err := userByName(tx, actor)
		if err != nil {
			return err
		}
		if err := audit.AuthorizeRead(u); err != nil {
			return err
		}
		if err := db.touchSession(tx, actor); err != nil {
			return err
		}
		return fn(&writer{db: db, tx: tx, actor: u, now: db.now()})
	})
}

// AccessReview returns every account with its role changes, logins, wrong
// passwords and locks from the audit trail: what an inspector asks for in a
// periodic review of user access.
func (db *DB) AccessReview() ([]audit.AccessRow, error) {
	var rows []audit.AccessRow
	err := db.view(func(tx kv.Tx) (err error) { rows, err = accessRows(tx); return err })
	return rows, err
}

func accessRows(tx kv.Tx) ([]audit.AccessRow, error) {
	var rows []audit.AccessRow
	err := tx.Bucket(recordBuckets[kindUser]).ForEach(func(k, v []byte) error {
		var r userRecord
		if err := unmarshalRecord(v, &r); err != nil {
			return fmt.Errorf("decode user: %w", err)
		}
		rows = append(rows, audit.AccessRow{User: r.user()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Each account's entries through audit_entity: only they are decoded,
	// not the whole trail (at 100k, 2.9M entries, the access review took
	// over a minute, most of it decoding the entries of other records).
	for i := range rows {
		es, err := recordEntries(tx, rows[i].User.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Entity == kindUser {
				countAccess(&rows[i], e)
			}
		}
	}
	return rows, nil
}

// countAccess adds what entry e of an account says of it to its row: a
// login, a wrong password, a lock or a role change (a lean role change's
// new role is in the account's next entry or record: recordEntries fills it).
func countAccess(row *audit.AccessRow, e audit.Entry) {
	switch e.Action {
	case "login":
		row.Logins++
	case "login.refused", "signature.refused", "passwd.refused":
		// Every refused password: those counted towards the lockout (they
		// change the account) and those typed while it was locked (an
		// entry of their own, not checked: lockedAttempt), which the
		// review also shows apart — guessing that went on during a lock.
		// A replaced password (right a moment ago) is neither.
		switch {
		case strings.Contains(e.Reason, whileLocked):
			row.Failures++
			row.WhileLocked++
		case e.State:
			row.Failures++
		}
	case "user.locked":
		row.Locks++
	case string(audit.UserRole):
		var before, after struct {
			Role audit.Role `json:"role"`
		}
		unmarshalRecord(e.Prev, &before)
		unmarshalRecord(e.New, &after)
		row.RoleChanges = append(row.RoleChanges, audit.RoleChange{At: e.Time, By: e.User, From: before.Role, To: after.Role, Reason: e.Reason})
	}
}
