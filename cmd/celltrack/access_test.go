package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/internal/pgtest"
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
	// base names the starting database (see accessBases); "" is the lab
	// fixture.
	base string
	// refused is what a refusal by role says, when not the permission
	// table's "which may not ACTION" (a check the domain makes first).
	refused string
}

// pw is one signing password on standard input; pw2 two (signer, witness).
const (
	pw  = fixturePassword + "\n"
	pw2 = pw + pw
	// newUserPw is a new user's password, then the admin's (a qa or
	// physician grant is signed; other roles leave the second line unread).
	newUserPw = "copper-meadow-lynx-42\n" + pw
)

var writeCommands = []writeCommand{
	{action: audit.UserAdd, stdin: newUserPw, args: func(u string) []string {
		return []string{"--user", u, "user", "add", "--role", "nurse", "--password-stdin", "newbie"}
	}},
	{action: audit.UserDisable, args: func(u string) []string {
		return []string{"--user", u, "user", "disable", "--reason", "left the unit", "omar"}
	}},
	{action: audit.UserEnable, base: "disabled", args: func(u string) []string {
		return []string{"--user", u, "user", "enable", "--reason", "back from leave", "dora"}
	}},
	{action: audit.UserUnlock, base: "failed", args: func(u string) []string {
		return []string{"--user", u, "user", "unlock", "--reason", "identity checked", "dora"}
	}},
	{action: audit.UserReset, stdin: "violet-harbor-quartz-5\n", args: func(u string) []string {
		return []string{"--user", u, "user", "reset", "--reason", "forgot it", "--password-stdin", "omar"}
	}},
	{action: audit.UserRole, args: func(u string) []string {
		return []string{"--user", u, "user", "role", "--reason", "moved to the lab", "omar", "lab"}
	}},
	{action: audit.SettingsSet, args: func(u string) []string {
		return []string{"--user", u, "settings", "set", "--idle", "10m", "--reason", "ward policy"}
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
	{action: audit.PatientCorrect, args: func(u string) []string {
		return []string{"--user", u, "patient", "correct", "--name", "Mei Chan", "--reason", "wristband reads Mei Chan", "MRN-1001"}
	}},
	{action: audit.DonorCorrect, args: func(u string) []string {
		return []string{"--user", u, "donor", "correct", "--delivered", "2026-10-29", "--reason", "delivery record says 29 October", "D-0001"}
	}},
	{action: audit.LotRegister, args: func(u string) []string { return regWith("--user", u, "--cells", "2e9", "LOT-AC-1") }},
	{action: audit.LotImport, files: map[string]string{"in.csv": csvHeader + csvGood}, args: func(u string) []string {
		return []string{"--user", u, "lot", "import", "--csv", "$DIR/in.csv"}
	}},
	{action: audit.LotSplit, args: func(u string) []string {
		return []string{"--user", u, "lot", "split", "--containers", "2", "--cells-each", "1e8", "LOT-UC-1"}
	}},

	// Chain of custody and labels, on the bedside base (see accessBases):
	// each row moves a container that is in the right state at the right
	// site, so that an allowed role really succeeds. The nurse's moves are
	// at CLINIC-A, away from the home site (audit.AuthorizeAtSite).
	{action: audit.SiteAdd, args: func(u string) []string {
		return []string{"--user", u, "site", "add", "--name", "Cell therapy lab", "LAB"}
	}},
	{action: audit.ZoneSet, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "site", "set-tz", "--tz", "Asia/Shanghai", "--reason", "the clinic is in Nanjing", "CLINIC-A"}
	}},
	{action: audit.ContainerStore, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "container", "store", "--location", "LN2-A rack 4 pos 2", "G12342600000202"}
	}},
	{action: audit.ContainerShip, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "container", "ship", "--to", "CLINIC-B", "--courier", "BioCour 8", "G12342600000201"}
	}},
	{action: audit.ContainerReceive, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "container", "receive", "--at", "CLINIC-A", "--excursion", "no", "G12342600000102"}
	}},
	{action: audit.ContainerThaw, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "container", "thaw", "--viability", "90.5", "--viable-cells", "9.0e7", "G12342600000103"}
	}},
	{action: audit.ContainerDispense, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "container", "dispense", "--patient", "MRN-1001", "G12342600000104"}
	}},
	{action: audit.ContainerDiscard, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "container", "discard", "--reason", "surplus", "G12342600000201"}
	}},
	{action: audit.ContainerReturn, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "container", "return", "--reason", "infusion postponed: fever", "G12342600000101"}
	}},
	{action: audit.ContainerQuarantine, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "container", "quarantine", "--reason", "freezer alarm", "G12342600000201"}
	}},
	{action: audit.LabelPrint, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "label", "print", "--out", "$DIR/label.pdf", "G12342600000202"}
	}},
	{action: audit.LabelApply, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "label", "apply", "G12342600000201"}
	}},
	{action: audit.LabelVoid, base: "bedside", args: func(u string) []string {
		return []string{"--user", u, "label", "void", "--reason", "smudged print", "G12342600000201"}
	}},

	// Release.
	{action: audit.ReleaseResult, args: func(u string) []string {
		return []string{"--user", u, "release", "result", "--assay", "CD105", "--value", "98.2", "LOT-UC-1"}
	}},
	{action: audit.DonorScreen, args: func(u string) []string {
		return []string{"--user", u, "donor", "screen", "--hiv", "negative", "--hbv", "negative", "--hcv", "negative",
			"--syphilis", "negative", "--htlv", "negative", "--tested", "2026-11-01", "D-0001"}
	}},
	{action: audit.DonorScreenVoid, base: "release", stdin: pw, args: func(u string) []string {
		return []string{"--user", u, "donor", "screen", "--void", "1", "--reason", "markers typed into the wrong donor", "--password-stdin", "D-0001"}
	}},
	{action: audit.ReleaseApprove, base: "release", stdin: pw, args: func(u string) []string {
		return []string{"--user", u, "release", "approve", "--spec", "isct-uc-msc", "--password-stdin", "LOT-UC-1"}
	}},
	{action: audit.ReleaseReject, base: "release", stdin: pw, args: func(u string) []string {
		return []string{"--user", u, "release", "reject", "--reason", "bag leaked in transit", "--password-stdin", "LOT-UC-1"}
	}},
	{action: audit.ReleaseSpecAdd, files: map[string]string{"spec.json": accessSpec}, args: func(u string) []string {
		return []string{"--user", u, "release", "spec", "add", "--file", "$DIR/spec.json"}
	}},

	// Dosing.
	{action: audit.ProtocolAdd, files: map[string]string{"protocol.json": accessProtocol}, args: func(u string) []string {
		return []string{"--user", u, "protocol", "add", "--file", "$DIR/protocol.json"}
	}},
	{action: audit.ScheduleCreate, args: func(u string) []string {
		return []string{"--user", u, "schedule", "create", "--protocol", "sle-uc-d0d7", "--start", "2026-11-25", "MRN-1001"}
	}},
	{action: audit.ScheduleChange, base: "bedside", stdin: pw, args: func(u string) []string {
		return []string{"--user", u, "schedule", "change", "--infusion", "2", "--date", "2026-12-03", "--reason", "febrile on day 7", "--password-stdin", "MRN-1001"}
	}},
	{action: audit.WeightConfirm, base: "reweighed", stdin: pw, args: func(u string) []string {
		return []string{"--user", u, "dose", "confirm-weight", "--kg", "70.0", "--reason", "re-weighed twice", "--password-stdin", "MRN-1001"}
	}},
	{action: audit.DoseAdminister, base: "bedside", stdin: pw2, args: func(u string) []string {
		witness := "omar"
		if u == "omar" {
			witness = "nina"
		}
		return []string{"--user", u, "dose", "administer", "--container", "G12342600000101", "--witness", witness, "--password-stdin", "MRN-1001"}
	}},
	{action: audit.DoseReaction, base: "infused", args: func(u string) []string {
		return []string{"--user", u, "dose", "reaction", "--infusion", "$INFUSION", "--grade", "1", "--text", "transient fever 38.1 °C"}
	}},

	// Signed checkpoints and restore.
	{action: audit.AuditKeyRegister, files: map[string]string{"k.pub": "access-test+7debb3b1+AV7xAGaTZWH/gg/UeNMhnSiEWZxCf2s5Hy93Bv0SijgP\n"}, args: func(u string) []string {
		return []string{"--user", u, "audit", "key", "register", "--verifier-file", "$DIR/k.pub"}
	}},
	{action: audit.AuditKeyRotate, base: "keyed", stdin: pw, files: map[string]string{"new.pub": "access-test-2+970394b9+ATyJ0qCmmJwFrVzjplG4yZoFO/TNR0eYXLhBuAr0+Azs\n"}, args: func(u string) []string {
		return []string{"--user", u, "audit", "key", "rotate", "--verifier-file", "$DIR/new.pub", "--reason", "yearly rotation", "--password-stdin"}
	}},
	{action: audit.DatabaseRestore, base: "keyed", stdin: pw, args: func(u string) []string {
		return []string{"--user", u, "restore", "--password-stdin", "--from", filepath.Join(filepath.Dir(basePaths["keyed"]), "backup.db")}
	}},
	// $PGDB is a new empty PostgreSQL database (skipped without a server).
	{action: audit.DatabaseMigrate, args: func(u string) []string {
		return []string{"--user", u, "migrate", "--to", "$PGDB"}
	}},
	{action: audit.DatabaseBackup, args: func(u string) []string {
		return []string{"--user", u, "backup", "--out", "$DIR/copy.db"}
	}},
	{action: audit.DatabaseUpgrade, args: func(u string) []string {
		return []string{"--user", u, "upgrade"}
	}},
}

const accessSpec = `{"name": "lab-uc", "title": "Lab UC panel", "kinds": ["uc"],
 "criteria": [{"assay": "endotoxin", "op": "<=", "limit": "1.0", "unit": "EU/mL", "source": "USP <85>"},
  {"assay": "sterility", "op": "equals", "result": "no-growth"}, {"assay": "mycoplasma", "op": "equals", "result": "negative"},
  {"assay": "viability", "op": ">=", "limit": "80"}, {"assay": "viable-cells", "op": ">=", "limit": "1e8"}]}`

const accessProtocol = `{"format": 1, "name": "ss-uc-bands", "title": "Sjögren's: UC-MSC by weight band", "source": "issue 4 example bands",
 "product": "uc", "basis": "bands",
 "bands": [{"up_to_kg": "60", "cells": "5e7"}, {"up_to_kg": "80", "cells": "7e7"}, {"cells": "9e7"}],
 "phases": [{"count": 1, "interval_days": 0}], "window_days": 1, "follow_actual": false,
 "tolerance_minus_pct": "10", "tolerance_plus_pct": "10", "max_weight_age_days": 7,
 "max_thaw_minutes": 240, "infusion_minutes": 60, "endotoxin_eu_per_kg_per_h": "5"}`

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
				db := baseCopy(t, dir, wc.base)
				before := fileSum(t, db)
				got := runWrite(t, dir, db, wc, user)
				if audit.Allowed(role, wc.action) {
					if got.code != 0 {
						t.Fatalf("%s (%s) may %s but got exit %d: %s", user, role, wc.action, got.code, got.stderr)
					}
					return
				}
				want := "which may not " + string(wc.action)
				if wc.refused != "" {
					want = wc.refused
				}
				if role == audit.Admin && strings.Contains(got.stderr, "an admin cannot sign") {
					want = "an admin cannot sign" // refused as a signer before the permission table
				}
				if got.code != exitRefused || !strings.Contains(got.stderr, want) {
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
			db := baseCopy(t, dir, wc.base)
			// lars is a lab user: allowed lab writes until disabled. An
			// admin is disabled too, to cover the admin-only writes.
			for _, u := range []string{"lars", "omar"} {
				if r := celltrack(db, "", "--user", "alice", "user", "disable", "--reason", "left", u); r.code != 0 {
					t.Fatal(r.stderr)
				}
			}
			if r := celltrack(db, newUserPw, "--user", "alice", "user", "add", "--role", "admin", "--password-stdin", "adam"); r.code != 0 {
				t.Fatal(r.stderr)
			}
			if r := celltrack(db, "", "--user", "alice", "user", "disable", "--reason", "left", "adam"); r.code != 0 {
				t.Fatal(r.stderr)
			}
			// A disabled user's session ended with the disabling (adam never
			// had one): the command is refused before anything is read, and
			// logging in again is refused because the account is disabled.
			for _, user := range []string{"lars", "omar", "adam"} {
				before := fileSum(t, db)
				got := runWrite(t, dir, db, wc, user)
				wantCode, wantText := exitUsage, "log in"
				if wc.action == audit.DatabaseRestore {
					// restore authenticates by password, not by a session.
					wantCode, wantText = exitRefused, "is disabled"
				}
				if got.code != wantCode || !strings.Contains(got.stderr, wantText) {
					t.Errorf("disabled %s: %s: got exit %d: %s", user, wc.action, got.code, got.stderr)
				}
				if fileSum(t, db) != before {
					t.Errorf("a disabled user's attempt changed the database")
				}
				userPw := pw
				if user == "adam" {
					userPw = newUserPw // a wrong password is answered as for an unknown name, not "disabled"
				}
				if r := celltrack(db, userPw, "login", "--password-stdin", user); r.code != exitRefused || !strings.Contains(r.stderr, "user "+user+" is disabled") {
					t.Errorf("disabled %s logs in: exit %d: %s", user, r.code, r.stderr)
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
		if a == "$PGDB" {
			a = pgtest.NewDatabase(t, pgtest.Server(t))
		}
		a = strings.ReplaceAll(a, "$DIR/", dir+string(filepath.Separator))
		args[i] = strings.ReplaceAll(a, "$INFUSION", infusionID)
	}
	return celltrack(db, wc.stdin, args...)
}

// TestPasswordsAreStoredOnlyAsHashes reads the raw database file: no
// password appears in it, and every user's password is an argon2id hash.
func TestPasswordsAreStoredOnlyAsHashes(t *testing.T) {
	dir := t.TempDir()
	db := labCopy(t, dir)
	if r := celltrack(db, "Another-Secret-9-lynx\n"+pw, "--user", "alice", "user", "add", "--role", "qa", "--password-stdin", "qed"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{fixturePassword, "Another-Secret-9-lynx"} {
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
	if r := celltrack(db, newUserPw, "init", "--facility", "G1234", "--admin", "alice", "--password-stdin"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := celltrack(db, newUserPw, "login", "--password-stdin", "alice"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	backup := filepath.Join(dir, "backup.db")
	if r := celltrack(db, "", "--user", "alice", "backup", "--out", backup); r.code != 0 {
		t.Fatal(r.stderr)
	}
	// The session file, which holds the token, is the user's alone too.
	sessions, _ := filepath.Glob(filepath.Join(homesOf(db), "alice", "session-*.json"))
	if len(sessions) != 1 {
		t.Fatalf("session files of alice: %v", sessions)
	}
	if fi, err := os.Stat(filepath.Dir(sessions[0])); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the config dir has mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	for _, p := range []string{db, backup, sessions[0]} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
