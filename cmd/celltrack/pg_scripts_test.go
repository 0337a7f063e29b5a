package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// The stories run a second time with CELLTRACK_DB a PostgreSQL database (a
// new one per story, on the server of internal/pgtest): the same stdout,
// stderr, exit codes and untouched database after every refusal (dbsnap and
// dbsame compare every row of every table). These do not, each for the
// reason given:
var notOnPostgres = map[string]string{
	// The database file itself: backup and restore are for the file
	// engine (exit 2 on PostgreSQL, story db_postgres_password_never_shown).
	"maint_check_and_backup":                          "backs up the database file; check's page line differs (no pages on PostgreSQL)",
	"maint_backup_refuses_existing_file":              "backup writes a copy of the database file",
	"maint_restore_verified_backup":                   "restore replaces the database file",
	"maint_restore_refuses_rollback":                  "restore replaces the database file",
	"maint_restore_refuses_what_is_not_damage":        "restore replaces the database file",
	"maint_restore_damaged_refuses_silent_rollback":   "restore replaces the database file",
	"maint_restore_interrupted_names_files":           "restore replaces the database file",
	"maint_restore_after_key_rotation":                "restore replaces the database file",
	"maint_restore_rollback_reported_not_refused":     "restore replaces the database file",
	"maint_restore_rollback_excuse_cannot_be_planted": "restore replaces the database file",
	"cli_out_force_never_replaces_database":           "backup writes a copy of the database file",
	"audit_verify_checkpoint_catches_rollback":        "takes a backup of the database file to roll back to",
	"audit_verify_checkpoint_witness_folder":          "takes a backup of the database file",
	"audit_verify_checkpoint_rollback_before_key":     "copies an older database file over the live one",
	"maint_check_and_signing_refuse_rolled_back_file": "copies an older database file over the live one",
	"audit_checkpoint_refused_forged_and_open_key":    "edits the database file",
	"session_other_database":                          "renames the database file",
	"cli_init_refusals":                               "init refusals worded for a file that exists",
	// They name the file in their expected output (ct.db), or pass
	// --db ct.db themselves.
	"session_plain_config_dir":      "expects the file name ct.db in a message",
	"session_none_refused":          "expects the file name ct.db in a message",
	"release_approve_uc":            "expects the file name ct.db in the report's Database line",
	"trace_donor_lookback":          "expects the file name ct.db in the report's Database line",
	"trace_lookback_three_patients": "passes --db ct.db",
	"report_handling":               "passes --db ct.db",
	// A server's marker file beside the database: on PostgreSQL, shared by
	// any number of servers, there is none, and these stories wait for it.
	"serve_signs_checkpoints":      "waits for the server's marker file beside the database file",
	"serve_held_file_names_server": "a local command on a file a server holds",
	"serve_user_add_while_serving": "a local command on a file a server holds",
}

// TestScriptsOnPostgres runs the stories on PostgreSQL. It takes minutes
// (a database per story, the fixtures' logins once per binary), so it runs
// where PostgreSQL is asked for: under CELLTRACK_CI=1 (.ci/run) or with
// CELLTRACK_TEST_POSTGRES set.
func TestScriptsOnPostgres(t *testing.T) {
	if os.Getenv("CELLTRACK_CI") != "1" && os.Getenv(pgtest.EnvURL) == "" {
		t.Skip("the stories on PostgreSQL run with CELLTRACK_CI=1 or CELLTRACK_TEST_POSTGRES set (several minutes)")
	}
	server := pgtest.Server(t)
	all, err := filepath.Glob(filepath.Join("testdata", "script", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range all {
		if _, ok := notOnPostgres[strings.TrimSuffix(filepath.Base(f), ".txtar")]; !ok {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	p := scriptParams("testdata/script")
	p.Dir, p.Files = "", files
	testscript.Run(t, onPostgres(p, storyOnPostgres(server)))
}

// onPostgres is p with setup run after p's own Setup, and the condition
// [postgres] true: the stories of p, run against a PostgreSQL server.
func onPostgres(p testscript.Params, setup func(env *testscript.Env) error) testscript.Params {
	local := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := local(env); err != nil {
			return err
		}
		return setup(env)
	}
	p.Condition = func(cond string) (bool, error) { return cond == "postgres", nil }
	return p
}

// storyOnPostgres gives a story a new database of its own on the
// PostgreSQL server at server, dropped when the story ends.
func storyOnPostgres(server string) func(env *testscript.Env) error {
	return func(env *testscript.Env) error {
		u, drop, err := pgtest.CreateDatabase(server, "")
		if err != nil {
			return err
		}
		env.Defer(func() { drop() })
		env.Setenv("CELLTRACK_DB", u)
		env.Setenv("CELLTRACK_TEST_PG_SERVER", server)
		return nil
	}
}

// TestScriptsThroughServerOnPostgres runs the stories through a server
// (TestScriptsThroughServer) whose database is on PostgreSQL: the command
// line as a client, the server, the second engine, one program. Left out:
// the stories left out of either run, for their reasons
// (notThroughServer, notOnPostgres). It runs where TestScriptsOnPostgres
// runs.
func TestScriptsThroughServerOnPostgres(t *testing.T) {
	if os.Getenv("CELLTRACK_CI") != "1" && os.Getenv(pgtest.EnvURL) == "" {
		t.Skip("the stories through a server on PostgreSQL run with CELLTRACK_CI=1 or CELLTRACK_TEST_POSTGRES set (several minutes)")
	}
	server := pgtest.Server(t)
	p := serverScriptParams(t, serverStories(t, notThroughServer, notOnPostgres), storyOnPostgres(server))
	p.Condition = func(cond string) (bool, error) { return cond == "server" || cond == "postgres", nil }
	testscript.Run(t, p)
}
