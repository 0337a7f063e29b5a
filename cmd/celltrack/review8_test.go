package main

// Review 8: failing tests, one per finding of the hostile review of what
// session 7 added (upgrade, backup and restore, the schedule's list of
// infusions given, weights dated ahead, the linked audit layout, signed
// checkpoints). Each runs the stories under testdata/review8/NAME with the
// stories' commands and a few raw bbolt edits an attacker with write access
// to the file can make.

import (
	"bytes"
	be "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"
)

func review8(t *testing.T, name string) testscript.Params {
	t.Helper()
	p := scriptParams("testdata/review8/" + name)
	p.Cmds["rv7clear"] = cmdReview7Clear
	p.Cmds["rv7delmeta"] = cmdReview7DelMeta
	p.Cmds["rv8save"] = cmdReview8Save
	p.Cmds["rv8unwrite"] = cmdReview8Unwrite
	p.Cmds["rv8either"] = cmdReview8Either
	p.Cmds["rv8schema"] = cmdReview8Schema
	p.Cmds["rv8meta"] = cmdReview8Meta
	p.Cmds["rv8urlparam"] = cmdReview8URLParam
	p.Cmds["rv8markto"] = cmdReview8MarkTo
	p.Cmds["rv8copydbid"] = cmdReview8CopyDBID
	return p
}

// review8WithTarget is review8 for a story that migrates to PostgreSQL: its
// pgdb command makes the target on the test server. It skips without one.
func review8WithTarget(t *testing.T, name string) testscript.Params {
	t.Helper()
	if os.Getenv(pgtest.EnvURL) == "" && os.Getenv("CELLTRACK_CI") != "1" {
		t.Skip("needs PostgreSQL (CELLTRACK_TEST_POSTGRES) for the migrate target")
	}
	server := pgtest.Server(t)
	return onPostgres(review8(t, name), func(env *testscript.Env) error {
		env.Setenv("CELLTRACK_TEST_PG_SERVER", server)
		return nil
	})
}

// cmdReview8Either runs a command whose refusal and success are both
// acceptable outcomes (what follows it decides): rv8either celltrack ARGS.
func cmdReview8Either(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: rv8either COMMAND [ARGS...]")
	}
	var ee *exec.ExitError
	if err := ts.Exec(args[0], args[1:]...); err != nil && !errors.As(err, &ee) {
		ts.Fatalf("%v", err)
	}
}

// cmdReview8Schema sets the schema version in the meta of another file (a
// backup), as an older celltrack left it: rv8schema FILE N.
func cmdReview8Schema(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: rv8schema FILE N")
	}
	db, err := bolt.Open(args[0], 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte(args[1]))
	}))
}

// cmdReview8Meta sets one meta value, given in hex, at raw bbolt level:
// rv8meta KEY HEXVALUE.
func cmdReview8Meta(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: rv8meta KEY HEXVALUE")
	}
	v, err := hex.DecodeString(args[1])
	ts.Check(err)
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte(args[0]), v) }))
}

// cmdReview8URLParam adds a query parameter to the URL held in VAR:
// rv8urlparam VAR KEY VALUE.
func cmdReview8URLParam(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: rv8urlparam VAR KEY VALUE")
	}
	u, err := url.Parse(ts.Getenv(args[0]))
	ts.Check(err)
	q := u.Query()
	q.Set(args[1], args[2])
	u.RawQuery = q.Encode()
	ts.Setenv(args[0], u.String())
}

// cmdReview8MarkTo rewrites the "to" of the meta "migrated" mark at raw
// bbolt level: rv8markto URL.
func cmdReview8MarkTo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rv8markto URL")
	}
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		var m map[string]any
		if err := json.Unmarshal(meta.Get([]byte("migrated")), &m); err != nil {
			return err
		}
		m["to"] = args[0]
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return meta.Put([]byte("migrated"), b)
	}))
}

// cmdReview8CopyDBID writes the db_id of $CELLTRACK_DB into the meta of
// another file at raw bbolt level: rv8copydbid FILE.
func cmdReview8CopyDBID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rv8copydbid FILE")
	}
	var id []byte
	src, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	ts.Check(src.View(func(tx *bolt.Tx) error {
		id = append([]byte(nil), tx.Bucket([]byte("meta")).Get([]byte("db_id"))...)
		return nil
	}))
	ts.Check(src.Close())
	dst, err := bolt.Open(args[0], 0o600, nil)
	ts.Check(err)
	defer dst.Close()
	ts.Check(dst.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("db_id"), id) }))
}

type review8Saved struct {
	LastSeq uint64
	Rows    map[string][]byte // key in hex → value
}

// cmdReview8Save remembers every row of one bucket and the audit trail's
// last entry number: rv8save BUCKET.
func cmdReview8Save(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rv8save BUCKET")
	}
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	s := review8Saved{Rows: map[string][]byte{}}
	ts.Check(db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket([]byte("audit")).Cursor().Last(); k != nil {
			s.LastSeq = be.BigEndian.Uint64(k)
		}
		return tx.Bucket([]byte(args[0])).ForEach(func(k, v []byte) error {
			s.Rows[hex.EncodeToString(k)] = append([]byte(nil), v...)
			return nil
		})
	}))
	b, err := json.Marshal(s)
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), "rv8-"+args[0]+".json"), b, 0o600))
}

// cmdReview8Unwrite puts back the rows rv8save remembered (each record as
// it was) and deletes, for each of them, the audit_entity index rows of the
// entries written since — the unaudited index the bedside's record check
// finds a record's latest entry through; the entries themselves stay, so
// the hash chain is whole: rv8unwrite BUCKET.
func cmdReview8Unwrite(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rv8unwrite BUCKET")
	}
	var s review8Saved
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(filepath.Join(ts.Getenv("WORK"), "rv8-"+args[0]+".json"))), &s))
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		b, ents := tx.Bucket([]byte(args[0])), tx.Bucket([]byte("audit_entity"))
		for hk, v := range s.Rows {
			k, err := hex.DecodeString(hk)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
			var drop [][]byte
			c := ents.Cursor()
			for ek, _ := c.Seek([]byte(k)); ek != nil && bytes.HasPrefix(ek, []byte(k)) && len(ek) == len(k)+8; ek, _ = c.Next() {
				if be.BigEndian.Uint64(ek[len(k):]) > s.LastSeq {
					drop = append(drop, append([]byte(nil), ek...))
				}
			}
			for _, ek := range drop {
				if err := ents.Delete(ek); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

// With the infusion indexes emptied as in review 7 and, in addition, the
// schedule put back to its value before infusion 1 (its list of infusions
// given empty again) and the audit_entity rows of its later entries
// deleted, the bedside's record check finds the schedule's earlier entry as
// its latest and passes it: a second bag is GO for infusion 1 and
// administer records a second infusion 1. Only audit verify notices.
// fixb8: the bedside cannot see it without walking the trail on every check
// (README "What this check rests on"); the story now asserts what is
// guaranteed — check and audit verify fail naming it, writing nothing.
func TestReview8ScheduleUnwrittenSecondDose(t *testing.T) {
	testscript.Run(t, review8(t, "unindex"))
}

// After that double dose the index rows are put back: the file then holds
// two infusions 1 for one course, the schedule's audited list names one of
// them, and audit verify and check must not say OK.
func TestReview8DoubleDoseLaunderedVerifies(t *testing.T) {
	testscript.Run(t, review8(t, "launder"))
}

// A restore of a backup taken before the migration, over the migrated old
// copy, reopens it for writes without database.reopen.
func TestReview8RestoreReopensMigratedCopy(t *testing.T) {
	testscript.Run(t, review8WithTarget(t, "restoremigrated"))
}

// patient show lists a weight dated ahead after the correction that doses.
func TestReview8PatientShowWeightAheadLast(t *testing.T) {
	testscript.Run(t, review8(t, "weightshown"))
}

// A DIN counter set back makes lot register issue a DIN (and bag codes)
// already issued to another lot.
func TestReview8DINCounterRolledBack(t *testing.T) {
	testscript.Run(t, review8(t, "dincounter"))
}

// A restore --reason refused for its characters is answered as if no
// reason had been given.
func TestReview8RestoreReasonRefusedNamed(t *testing.T) {
	testscript.Run(t, review8(t, "reasontext"))
}

// A migrate --to URL's sslpassword is stored in the old copy's mark and
// shown to every reader.
func TestReview8MigratedNoteShowsSSLPassword(t *testing.T) {
	testscript.Run(t, review8WithTarget(t, "sslpassword"))
}

// A restore refused as a rollback, after the admin's right password,
// writes the reset of the wrong-password count.
func TestReview8RestoreRefusedResetsFailures(t *testing.T) {
	testscript.Run(t, review8(t, "refusalwrites"))
}

// audit key rotate --verifier-file with a registered key names --verifier.
func TestReview8RotateNamesVerifierFile(t *testing.T) {
	testscript.Run(t, review8(t, "keyflag"))
}

// An admin's login with a one-time password alone upgrades an older file.
func TestReview8OneTimePasswordLoginUpgrades(t *testing.T) {
	testscript.Run(t, review8(t, "otpupgrade"))
}

// A migrated mark deleted after a login on the old copy goes unnoticed by
// the write path.
func TestReview8MarkDeletedAfterALogin(t *testing.T) {
	testscript.Run(t, review8WithTarget(t, "markafterlogin"))
}

// A longer backup of a fork is refused as "older".
func TestReview8ForkCalledOlder(t *testing.T) {
	testscript.Run(t, review8(t, "forkmessage"))
}

// --volume-ml (infused) with --checked-ml (drawn, as the check showed) is
// refused blaming --checked-ml.
func TestReview8VolumeInfusedBlamesCheckedML(t *testing.T) {
	testscript.Run(t, review8(t, "checkedml"))
}

// The migrated mark's target, edited outside celltrack, passes audit
// verify and sends every reader to another database.
func TestReview8MarkTargetRedirected(t *testing.T) {
	testscript.Run(t, review8WithTarget(t, "markto"))
}

// Another database's backup given this database's db_id restores as a
// mere rollback.
func TestReview8OtherDatabaseWithThisDBID(t *testing.T) {
	testscript.Run(t, review8(t, "forgeddbid"))
}

// A backup taken before an update could not be restored without being
// upgraded (written) in place; restore now upgrades its own copy.
func TestReview8RestoreOlderSchemaBackup(t *testing.T) {
	testscript.Run(t, review8(t, "olderbackup"))
}

// The older-file message says to take a backup first; backup refused the
// older file. It now backs it up as it is, on an admin's password.
func TestReview8BackupBeforeUpgradeRefused(t *testing.T) {
	testscript.Run(t, review8(t, "backupolder"))
}

// Checking a kept backup, as README says to, writes a session and a login
// entry into it (finding 6, which had no test): check --backup does not.
func TestReview8CheckBackupLeavesIt(t *testing.T) {
	testscript.Run(t, review8(t, "checkbackup"))
}
