package trace

import (
	"context"
	"fmt"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
)

// Access is the user-access review as a report (`celltrack report
// access`): every account, its role and status, who created it and when,
// its role changes, last login, refused passwords (every one, and apart
// those typed while the account was locked) and locks. It verifies the
// whole audit trail, which it reads. It is the admin's and the auditor's
// (audit.SeesAccountState): to anyone else, EFORBIDDEN, before the trail is
// read — a nurse would otherwise read in it that her guesses at a
// witness's password locked the witness out.
func (s *Service) Access(ctx context.Context, user string) (report.Report, error) {
	return s.trace(ctx, user, true, "", "", func(t *tracer) error {
		u, err := t.s.User(user)
		if err != nil {
			return err
		}
		if !audit.SeesAccountState(u.Role) {
			return lot.Errorf(lot.EFORBIDDEN, "user %s has role %s; the user-access review shows every account's state (locked, disabled, wrong passwords, last login), which only an admin or an auditor sees — `user list` gives everyone the staff directory", u.Name, u.Role)
		}
		rows, err := t.s.Accounts()
		if err != nil {
			return err
		}
		now := t.s.Now()
		r := &t.r
		r.Kind, r.Subject, r.Title = "access", "all accounts", "User access review"
		r.Question = "Who may use this database, with which role, since when and granted by whom; who logged in last when, and whose passwords failed or were locked?"
		set := t.s.Settings()
		r.Sections = append(r.Sections, report.Section{Title: "Settings", Fields: []report.Field{
			field("Accounts", fmt.Sprint(len(rows))),
			field("Sessions", fmt.Sprintf("idle expiry %s, absolute expiry %s", audit.FormatDuration(set.IdleExpiry), audit.FormatDuration(set.AbsoluteExpiry))),
			field("Lockout", fmt.Sprintf("%s after %d wrong passwords in a row", audit.FormatDuration(set.LockoutDuration), audit.MaxFailures)),
			field("Password expiry", audit.FormatDuration(set.PasswordMaxAge))}})
		data := &report.Table{Columns: []string{"user", "full_name", "role", "status", "created_at", "created_by", "role_changes", "last_login", "logins", "failed_passwords", "failed_while_locked", "locks", "locked_until", "password_changed"}}
		short := &report.Table{Columns: []string{"User", "Role", "Status", "Created", "By", "Last login", "Failed", "Locks"}}
		var changes []string
		var whileLocked []report.Field
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
				strings.Join(rc, " | "), rfc3339(u.LastLogin), fmt.Sprint(row.Logins), fmt.Sprint(row.Failures), fmt.Sprint(row.WhileLocked), fmt.Sprint(row.Locks), locked, rfc3339(u.PasswordChanged)})
			last := "-"
			if !u.LastLogin.IsZero() {
				last = u.LastLogin.UTC().Format("2006-01-02 15:04")
			}
			short.Rows = append(short.Rows, []string{u.Name, string(u.Role), status, u.CreatedAt.UTC().Format("2006-01-02"), u.CreatedBy, last, fmt.Sprint(row.Failures), fmt.Sprint(row.Locks)})
			if row.WhileLocked > 0 {
				whileLocked = append(whileLocked, field(u.Name, fmt.Sprintf("%d of %d failed passwords typed while locked (not checked)", row.WhileLocked, row.Failures)))
			}
			t.saw(audit.EntityUser, u.ID)
		}
		r.Data = data
		r.Sections = append(r.Sections, report.Section{Title: "Accounts", Table: short})
		// Failed counts every refused password; those typed while the
		// account was locked are guessing that went on through a lock.
		if len(whileLocked) == 0 {
			whileLocked = []report.Field{field("While locked", "no password typed while an account was locked")}
		}
		r.Sections = append(r.Sections, report.Section{Title: "Passwords typed while locked", Fields: whileLocked})
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
