package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
)

// writeCommand is one write command as the access-control test runs it: the
// command line for an acting user, which must succeed whenever the user's
// role is allowed. Commands added later add a row here; the test fails until
// every action in audit.Permissions has one.
type writeCommand struct {
	action audit.Action
	args   func(user string) []string
	stdin  string
	files  map[string]string
}

var writeCommands = []writeCommand{
	{action: audit.UserAdd, stdin: "long-enough-pw\n", args: func(u string) []string {
		return []string{"--user", u, "user", "add", "--role", "nurse", "--password-stdin", "newbie"}
	}},
	{action: audit.UserDisable, args: func(u string) []string {
		return []string{"--user", u, "user", "disable", "--reason", "left the unit", "omar"}
	}},
	{action: audit.DonorAdd, args: func(u string) []string {
		return []string{"--user", u, "donor", "add", "--delivered", "2026-11-01", "--site", "Ward 5", "--consented", "2026-10-20", "D-0002"}
	}},
	{action: audit.PatientAdd, args: func(u string) []string {
		return []string{"--user", u, "patient", "add", "--name", "Ana Lima", "--born", "1990-05-05", "--sex", "F", "MRN-3001"}
	}},
	{action: audit.PatientWeigh, args: func(u string) []string {
		return []string{"--user", u, "patient", "weigh", "--kg", "61.5", "MRN-1001"}
	}},
	{action: audit.LotRegister, args: func(u string) []string { return regWith("--user", u, "--cells", "2e9", "LOT-AC-1") }},
	{action: audit.LotImport, files: map[string]string{"in.csv": csvHeader + csvGood}, args: func(u string) []string {
		return []string{"--user", u, "lot", "import", "--csv", "$DIR/in.csv"}
	}},
	{action: audit.LotSplit, args: func(u string) []string {
		return []string{"--user", u, "lot", "split", "--containers", "2", "--cells-each", "1e8", "LOT-UC-1"}
	}},
}

// fixtureUsers are the lab fixture's users, one per role.
var fixtureUsers = map[audit.Role]string{
	audit.Admin: "alice", audit.Lab: "liu", audit.QA: "quinn", audit.Physician: "pat", audit.Nurse: "nina", audit.Auditor: "aud",
}

// TestEveryWriteAsEveryRole tries every write command as every role, and as a
// disabled user, and checks the outcome against audit.Permissions exactly.
func TestEveryWriteAsEveryRole(t *testing.T) {
	covered := map[audit.Action]bool{}
	for _, wc := range writeCommands {
		covered[wc.action] = true
	}
	for a := range audit.Permissions {
		if !covered[a] {
			t.Errorf("action %s has no row in writeCommands: add the command that performs it", a)
		}
	}
	for role, user := range fixtureUsers {
		if _, err := audit.ParseRole(string(role)); err != nil {
			t.Fatalf("fixture role %s is not a role", role)
		}
		for _, wc := range writeCommands {
			t.Run(string(wc.action)+"/"+string(role), func(t *testing.T) {
				dir := t.TempDir()
				db := labCopy(t, dir)
				before := fileSum(t, db)
				got := runWrite(t, dir, db, wc, user)
				if audit.Allowed(role, wc.action) {
					if got.code != 0 {
						t.Fatalf("%s (%s) may %s but got exit %d: %s", user, role, wc.action, got.code, got.stderr)
					}
					return
				}
				if got.code != exitRefused || !strings.Contains(got.stderr, "which may not "+string(wc.action)) {
					t.Errorf("%s (%s) may not %s: got exit %d: %s", user, role, wc.action, got.code, got.stderr)
				}
				if fileSum(t, db) != before {
					t.Errorf("the refusal changed the database")
				}
			})
		}
	}
	for _, wc := range writeCommands {
		t.Run(string(wc.action)+"/disabled", func(t *testing.T) {
			dir := t.TempDir()
			db := labCopy(t, dir)
			// lars is a lab user: allowed lab writes until disabled. An
			// admin is disabled too, to cover the admin-only writes.
			for _, u := range []string{"lars", "omar"} {
				if r := celltrack(db, "", "--user", "alice", "user", "disable", "--reason", "left", u); r.code != 0 {
					t.Fatal(r.stderr)
				}
			}
			if r := celltrack(db, "long-enough-pw\n", "--user", "alice", "user", "add", "--role", "admin", "--password-stdin", "adam"); r.code != 0 {
				t.Fatal(r.stderr)
			}
			if r := celltrack(db, "", "--user", "alice", "user", "disable", "--reason", "left", "adam"); r.code != 0 {
				t.Fatal(r.stderr)
			}
			for _, user := range []string{"lars", "omar", "adam"} {
				before := fileSum(t, db)
				got := runWrite(t, dir, db, wc, user)
				if got.code != exitRefused || !strings.Contains(got.stderr, "user "+user+" is disabled") {
					t.Errorf("disabled %s: %s: got exit %d: %s", user, wc.action, got.code, got.stderr)
				}
				if fileSum(t, db) != before {
					t.Errorf("a disabled user's attempt changed the database")
				}
			}
		})
	}
}

func runWrite(t *testing.T, dir, db string, wc writeCommand, user string) invocation {
	t.Helper()
	for name, body := range wc.files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := wc.args(user)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "$DIR/", dir+string(filepath.Separator))
	}
	return celltrack(db, wc.stdin, args...)
}

// TestPasswordsAreStoredOnlyAsHashes reads the raw database file: no
// password appears in it, and every user's password is an argon2id hash.
func TestPasswordsAreStoredOnlyAsHashes(t *testing.T) {
	dir := t.TempDir()
	db := labCopy(t, dir)
	if r := celltrack(db, "Another-Secret-9\n", "--user", "alice", "user", "add", "--role", "qa", "--password-stdin", "qed"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{fixturePassword, "Another-Secret-9"} {
		if bytes.Contains(data, []byte(pw)) {
			t.Errorf("the password %q is stored in the database file", pw)
		}
	}
	users := strings.Count(celltrack(db, "", "--user", "aud", "user", "list").stdout, "\n") - 1
	if users < 8 {
		t.Fatalf("user list shows %d users", users)
	}
	// Each user record holds its hash once; its audit entry holds it again.
	if n := bytes.Count(data, []byte(`"hash":"$argon2id$v=19$`)); n < users {
		t.Errorf("%d argon2id hashes for %d users", n, users)
	}
}

// TestDatabaseFilesAreCreatedOwnerOnly checks the modes of a new database and
// of a backup: 0600, readable by their owner only.
func TestDatabaseFilesAreCreatedOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "new.db")
	if r := celltrack(db, "long-enough-pw\n", "init", "--facility", "G1234", "--admin", "alice", "--password-stdin"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	backup := filepath.Join(dir, "backup.db")
	if r := celltrack(db, "", "--user", "alice", "backup", "--out", backup); r.code != 0 {
		t.Fatal(r.stderr)
	}
	for _, p := range []string{db, backup} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
