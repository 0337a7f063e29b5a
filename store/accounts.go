package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
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
	u, err = db.checkPasswordOf(u, password, "signature.refused", "wrong password for signature: "+MeaningGrantRole+" "+string(role))
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// grant returns the admin's signature over the account given the role,
// bound to who the account is and the role (roleGrantDigest), which
// `audit verify` recomputes.
func (w *writer) grant(admin *audit.User, u audit.User) *audit.Signature {
	if admin == nil {
		return nil
	}
	s := w.sign(*admin, MeaningGrantRole+" "+string(u.Role), roleGrantDigest(u))
	return &s
}

// notOwnLookalike refuses an admin creating or changing an account whose
// printed name folds to the admin's own: a second account of the admin
// could sign what the admin may not.
func notOwnLookalike(admin, target audit.User) error {
	if target.Name != admin.Name && lot.SameName(admin.FullName, target.FullName) {
		return lot.Errorf(lot.EFORBIDDEN, "user %s's printed name %q reads as the admin's own (%s, %q): an admin cannot create or change an account of their own; ask another admin", target.Name, target.FullName, admin.Name, admin.FullName)
	}
	return nil
}

// adminChange runs fn on the user called name in an audited write by actor,
// an admin allowed to perform action, after refusing a change to an account
// that reads as the admin's own.
func (db *DB) adminChange(actor, name string, action audit.Action, reason string, fn func(w *writer, u *audit.User) error) (audit.User, error) {
	var u audit.User
	if err := lot.ValidateText("--reason", reason, true); err != nil {
		return u, err
	}
	err := db.update(actor, action, func(w *writer) error {
		r, err := userRecordByName(w.tx, name)
		if err != nil {
			return err
		}
		u = r.user()
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
func (db *DB) EnableUser(actor, name, reason string) (audit.User, error) {
	return db.adminChange(actor, name, audit.UserEnable, reason, func(w *writer, u *audit.User) error {
		if !u.Disabled {
			return lot.Errorf(lot.ECONFLICT, "user %s is not disabled", name)
		}
		u.Disabled = false
		return nil
	})
}

// UnlockUser lifts a lockout before its time and clears the count of wrong
// passwords.
func (db *DB) UnlockUser(actor, name, reason string) (audit.User, error) {
	return db.adminChange(actor, name, audit.UserUnlock, reason, func(w *writer, u *audit.User) error {
		if !u.Locked(w.now) && u.Failures == 0 {
			return lot.Errorf(lot.ECONFLICT, "user %s is not locked and has no wrong passwords counted", name)
		}
		u.LockedUntil, u.Failures = time.Time{}, 0
		return nil
	})
}

// ResetPassword sets a one-time password that its owner must change at the
// next login, clears a lockout and ends the user's sessions. An admin
// changes their own password with ChangePassword.
func (db *DB) ResetPassword(actor, name, oneTime, reason string) (audit.User, error) {
	return db.adminChange(actor, name, audit.UserReset, reason, func(w *writer, u *audit.User) error {
		if u.Name == w.actor.Name {
			return lot.Errorf(lot.ECONFLICT, "user %s cannot reset their own password; use `celltrack user passwd`", name)
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
	if err := lot.ValidateText("--reason", reason, true); err != nil {
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
	return db.adminChange(actor, name, audit.UserRole, reason, func(w *writer, u *audit.User) error {
		if u.Role == role {
			return lot.Errorf(lot.ECONFLICT, "user %s already has role %s", name, role)
		}
		u.Role = role
		u.RoleGrant = w.grant(grant, *u)
		return revokeSessions(w.tx, u.ID)
	})
}

// ChangePassword changes the acting user's own password: the old one is
// checked (a wrong one counts towards the lockout), the new one must pass
// audit.CheckNewPassword.
func (db *DB) ChangePassword(actor, old, password string) (audit.User, error) {
	u, err := db.User(actor)
	if err != nil {
		return u, err
	}
	if err := audit.AuthorizeRead(u); err != nil {
		return u, err
	}
	if u, err = db.checkPasswordOf(u, old, "passwd.refused", "wrong current password at password change"); err != nil {
		return u, err
	}
	hash, err := newPasswordHash(u, password)
	if err != nil {
		return u, err
	}
	err = db.updateSelf(actor, func(w *writer) error {
		cur := w.actor
		cur.Hash, cur.PasswordChanged, cur.MustChange = hash, w.now, false
		u = cur
		return w.put(kindUser, cur.ID, "user.passwd", "password changed by its owner", toUserRecord(cur))
	})
	return u, err
}

// updateSelf is update for a change every enabled user may make to their
// own account, which the permission table does not list.
func (db *DB) updateSelf(actor string, fn func(w *writer) error) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
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

// AccessRow is one account in the periodic user-access review.
type AccessRow struct {
	User        audit.User
	RoleChanges []RoleChange
	Failures    int // wrong passwords in the whole trail
	Locks       int
	Logins      int
}

// RoleChange is one change of an account's role.
type RoleChange struct {
	At       time.Time
	By       string
	From, To audit.Role
	Reason   string
}

// AccessReview returns every account with its role changes, logins, wrong
// passwords and locks from the audit trail: what an inspector asks for in a
// periodic review of user access.
func (db *DB) AccessReview() ([]AccessRow, error) {
	var rows []AccessRow
	err := db.view(func(tx *bolt.Tx) (err error) { rows, err = accessRows(tx); return err })
	return rows, err
}

func accessRows(tx *bolt.Tx) ([]AccessRow, error) {
	var rows []AccessRow
	pos := map[uuid.UUID]int{}
	err := tx.Bucket(recordBuckets[kindUser]).ForEach(func(k, v []byte) error {
		var r userRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode user: %w", err)
		}
		pos[r.ID] = len(rows)
		rows = append(rows, AccessRow{User: r.user()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var es []audit.Entry
	err = tx.Bucket(bAudit).ForEach(func(k, v []byte) error {
		e, err := audit.Decode(v)
		if err == nil && e.Entity == kindUser {
			es = append(es, e)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	fillValues(tx, es) // a lean role change's new role is in the user's next entry or record
	for _, e := range es {
		i, ok := pos[e.ID]
		if !ok {
			continue
		}
		row := &rows[i]
		switch e.Action {
		case "login":
			row.Logins++
		case "login.refused", "signature.refused", "passwd.refused":
			if e.State {
				row.Failures++
			}
		case "user.locked":
			row.Locks++
		case string(audit.UserRole):
			var before, after struct {
				Role audit.Role `json:"role"`
			}
			json.Unmarshal(e.Prev, &before)
			json.Unmarshal(e.New, &after)
			row.RoleChanges = append(row.RoleChanges, RoleChange{At: e.Time, By: e.User, From: before.Role, To: after.Role, Reason: e.Reason})
		}
	}
	return rows, err
}

// Access is the user-access review as a report (`celltrack report
// access`): every account, its role and status, who created it and when,
// its role changes, last login, wrong passwords and locks. It verifies the
// whole audit trail, which it reads.
func (s *TraceService) Access(user string) (report.Report, error) {
	full := *s
	full.FullVerify = true
	return full.trace(user, func(t *tracer) error {
		rows, err := accessRows(t.tx)
		if err != nil {
			return err
		}
		now := s.db.now()
		r := &t.r
		r.Kind, r.Subject, r.Title = "access", "all accounts", "User access review"
		r.Question = "Who may use this database, with which role, since when and granted by whom; who logged in last when, and whose passwords failed or were locked?"
		set := settingsTx(t.tx)
		r.Sections = append(r.Sections, report.Section{Title: "Settings", Fields: []report.Field{
			field("Accounts", fmt.Sprint(len(rows))),
			field("Sessions", fmt.Sprintf("idle expiry %s, absolute expiry %s", audit.FormatDuration(set.IdleExpiry), audit.FormatDuration(set.AbsoluteExpiry))),
			field("Lockout", fmt.Sprintf("%s after %d wrong passwords in a row", audit.FormatDuration(set.LockoutDuration), audit.MaxFailures)),
			field("Password expiry", audit.FormatDuration(set.PasswordMaxAge))}})
		data := &report.Table{Columns: []string{"user", "full_name", "role", "status", "created_at", "created_by", "role_changes", "last_login", "logins", "failed_passwords", "locks", "locked_until", "password_changed"}}
		short := &report.Table{Columns: []string{"User", "Role", "Status", "Created", "By", "Last login", "Failed", "Locks"}}
		var changes []string
		for _, row := range rows {
			u := row.User
			status := "active"
			switch {
			case u.Disabled:
				status = "disabled"
			case u.Locked(now):
				status = "locked"
			}
			var rc []string
			for _, c := range row.RoleChanges {
				line := fmt.Sprintf("%s %s→%s by %s: %s", rfc3339(c.At), c.From, c.To, c.By, c.Reason)
				rc = append(rc, line)
				changes = append(changes, u.Name+": "+line)
			}
			locked := ""
			if u.Locked(now) {
				locked = rfc3339(u.LockedUntil)
			}
			data.Rows = append(data.Rows, []string{u.Name, u.FullName, string(u.Role), status, rfc3339(u.CreatedAt), u.CreatedBy,
				strings.Join(rc, " | "), rfc3339(u.LastLogin), fmt.Sprint(row.Logins), fmt.Sprint(row.Failures), fmt.Sprint(row.Locks), locked, rfc3339(u.PasswordChanged)})
			last := "-"
			if !u.LastLogin.IsZero() {
				last = u.LastLogin.UTC().Format("2006-01-02 15:04")
			}
			short.Rows = append(short.Rows, []string{u.Name, string(u.Role), status, u.CreatedAt.UTC().Format("2006-01-02"), u.CreatedBy, last, fmt.Sprint(row.Failures), fmt.Sprint(row.Locks)})
			t.saw(kindUser, u.ID)
		}
		r.Data = data
		r.Sections = append(r.Sections, report.Section{Title: "Accounts", Table: short})
		sec := report.Section{Title: "Role changes"}
		if len(changes) == 0 {
			sec.Fields = []report.Field{field("Role changes", "none")}
		} else {
			tbl := &report.Table{Columns: []string{"User", "Change"}}
			for _, c := range changes {
				name, rest, _ := strings.Cut(c, ": ")
				tbl.Rows = append(tbl.Rows, []string{name, rest})
			}
			sec.Table = tbl
		}
		r.Sections = append(r.Sections, sec)
		return nil
	})
}
