package main

// Review 7: failing tests, one per finding of the hostile review of the
// bedside's shown dose, restore and its witnesses, and migrate's mark. Each
// runs one story under testdata/review7/NAME with the stories' commands.

import (
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"

	"github.com/celltrack/celltrack/internal/pgtest"
)

func review7(t *testing.T, name string) testscript.Params {
	t.Helper()
	p := scriptParams("testdata/review7/" + name)
	p.Cmds["rv7delmeta"] = cmdReview7DelMeta
	p.Cmds["rv7clear"] = cmdReview7Clear
	return p
}

// cmdReview7DelMeta deletes one key of the meta bucket at raw bbolt level,
// as a user with write access to the file can: rv7delmeta KEY.
func cmdReview7DelMeta(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rv7delmeta KEY")
	}
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte(args[0])) }))
}

// cmdReview7Clear deletes every key of the named buckets (indexes, which
// no audit entry covers) at raw bbolt level: rv7clear BUCKET...
func cmdReview7Clear(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: rv7clear BUCKET...")
	}
	if u := ts.Getenv("CELLTRACK_DB"); strings.HasPrefix(u, "postgres://") {
		// The sites' own role may: the indexes live in kv, no trigger guards them.
		ts.Check(pgtest.Exec(u, "DELETE FROM kv WHERE bucket IN ('"+strings.Join(args, "', '")+"')"))
		return
	}
	db, err := bolt.Open(ts.Getenv("CELLTRACK_DB"), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		for _, name := range args {
			b := tx.Bucket([]byte(name))
			var keys [][]byte
			if err := b.ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil }); err != nil {
				return err
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

// With the infusion indexes emptied (unaudited rows; on PostgreSQL a DELETE
// FROM kv by the sites' own role), the bedside check says GO for a second
// bag for the infusion already given, and administer records a second
// infusion 1: a double dose. Only audit verify notices.
func TestReview7IndexDeletedSecondDose(t *testing.T) {
	testscript.Run(t, review7(t, "index"))
}

// TestReview7IndexDeletedSecondDose on PostgreSQL: the indexes emptied by
// a DELETE FROM kv of the sites' own role.
func TestReview7IndexDeletedSecondDoseOnPostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" && os.Getenv("CELLTRACK_CI") != "1" {
		t.Skip("needs PostgreSQL (CELLTRACK_TEST_POSTGRES)")
	}
	testscript.Run(t, onPostgres(review7(t, "index"), storyOnPostgres(pgtest.Server(t))))
}

// A weight dated up to 5 min ahead is the newest; a correct weight entered
// right after it (measured now) is ignored by the bedside check.
func TestReview7WeightAheadHidesCorrection(t *testing.T) {
	testscript.Run(t, review7(t, "weightahead"))
}

// A restore's --reason that contains the "rolled back over" mark makes any
// checkpoint it names (here: one of a forked file) pass as ROLLED BACK.
func TestReview7RestoreReasonForgesRolledBack(t *testing.T) {
	testscript.Run(t, review7(t, "reasonmark"))
}

// A backup of ANOTHER database (another db_id, same facility) over an
// intact database is called "older" and restored with --allow-rollback.
func TestReview7RestoreOtherDatabaseAsRollback(t *testing.T) {
	testscript.Run(t, review7(t, "otherdb"))
}

// Deleting meta "migrated" reopens a migrated source silently: check and
// audit verify pass though the trail's last entry says it takes no writes.
func TestReview7MigratedMarkDeletedUnnoticed(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" && os.Getenv("CELLTRACK_CI") != "1" {
		t.Skip("needs PostgreSQL (CELLTRACK_TEST_POSTGRES) for the migrate target")
	}
	server := pgtest.Server(t)
	p := review7(t, "mark")
	local := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := local(env); err != nil {
			return err
		}
		env.Setenv("CELLTRACK_TEST_PG_SERVER", server)
		return nil
	}
	p.Condition = func(cond string) (bool, error) { return cond == "postgres", nil }
	testscript.Run(t, p)
}
