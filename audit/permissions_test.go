package audit

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMEPermissionTable checks that the permission table printed in
// README.md is exactly Permissions: a new action needs its row there.
func TestREADMEPermissionTable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- permissions -->")
	table, _, ok2 := strings.Cut(rest, "<!-- /permissions -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- permissions --> table")
	}
	documented := map[Action][]Role{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\| ([a-z, ]+) \\|$").FindAllStringSubmatch(table, -1) {
		var roles []Role
		for _, r := range strings.Split(m[2], ",") {
			roles = append(roles, Role(strings.TrimSpace(r)))
		}
		documented[Action(m[1])] = roles
	}
	for a, roles := range Permissions {
		want := rolesList(roles)
		got, ok := documented[a]
		if !ok {
			t.Errorf("README.md's permission table has no row for %s; add | `%s` | %s |", a, a, want)
			continue
		}
		if !slices.Equal(sorted(got), sorted(roles)) {
			t.Errorf("README.md says %s is for %s; the program allows %s", a, rolesList(got), want)
		}
	}
	for a := range documented {
		if _, ok := Permissions[a]; !ok {
			t.Errorf("README.md's permission table lists %s, which is not in Permissions", a)
		}
	}
}

func sorted(rs []Role) []Role {
	out := slices.Clone(rs)
	slices.Sort(out)
	return out
}

func rolesList(rs []Role) string {
	var ss []string
	for _, r := range rs {
		ss = append(ss, string(r))
	}
	return strings.Join(ss, ", ")
}

func TestAuthorize(t *testing.T) {
	for _, tc := range []struct {
		user   User
		action Action
		msg    string
	}{
		{User{Name: "liu", Role: Lab}, LotRegister, ""},
		{User{Name: "nina", Role: Nurse}, LotRegister, "user nina has role nurse, which may not lot.register; this needs role lab"},
		{User{Name: "nina", Role: Nurse}, PatientWeigh, ""},
		{User{Name: "aud", Role: Auditor}, PatientAdd, "this needs role admin or physician or nurse"},
		{User{Name: "liu", Role: Lab, Disabled: true}, LotRegister, "user liu is disabled and can do nothing"},
		{User{Name: "alice", Role: Admin}, LotSplit, "may not lot.split"},
	} {
		err := Authorize(tc.user, tc.action)
		if tc.msg == "" && err != nil || tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("Authorize(%s as %s, %s) = %v; want %q", tc.user.Name, tc.user.Role, tc.action, err, tc.msg)
		}
	}
	// An auditor may do no write at all. A backup is not a write — it
	// copies the database out from a read transaction — and is the
	// auditor's, who takes the history home (issue 14).
	for a := range Permissions {
		if Allowed(Auditor, a) && a != DatabaseBackup {
			t.Errorf("auditors may %s; they must write nothing", a)
		}
	}
	if !Allowed(Auditor, DatabaseBackup) || Allowed(Nurse, DatabaseBackup) || Allowed(QA, DatabaseBackup) {
		t.Errorf("database.backup is the admin's and the auditor's only: %v", Permissions[DatabaseBackup])
	}
}
