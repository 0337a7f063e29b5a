package main

import (
	"encoding/json"
	"errors"
	"github.com/celltrack/celltrack/web"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/rogpeppe/go-internal/testscript"
)

// The stories below run a second time through a server: the test starts
// one on the story's database (the web front end, in this process, on
// httptest) and every command the command line sends through a server
// (servedCommands) runs as its client, with CELLTRACK_SERVER set; the same
// stdout, stderr and exit codes must hold. The story's other commands
// (schedule show, container history, audit verify, …) still run locally:
// the test's server opens the database for each request only, where
// `celltrack serve` holds it from start to stop, so that a story can mix
// the two. The fixtures build the database locally before the first request.
var notThroughServer = map[string]string{
	// File-level by nature: they work on a database file, a key file or
	// a session file on the machine that runs them (README, "The command
	// line as a client of a server").
	"cli_init_refusals":                               "init creates database files",
	"cli_init_refused_leaves_no_file":                 "init creates a database file",
	"db_missing":                                      "a missing database file",
	"db_postgres_password_never_shown":                "opens a PostgreSQL database of its own",
	"db_postgres_scheme_any_case":                     "a --db typed at a workstation without a server",
	"review20_db_url_with_server_shows_password":      "sets CELLTRACK_SERVER of its own: --db beside it is refused before anything is sent",
	"cli_init_folder_missing":                         "init creates a database file",
	"maint_check_and_backup":                          "check and backup work on the database file",
	"maint_backup_refuses_existing_file":              "backup writes a file beside the database",
	"maint_restore_refuses_rollback":                  "restore replaces the database file",
	"maint_restore_verified_backup":                   "restore replaces the database file",
	"maint_restore_refuses_what_is_not_damage":        "restore replaces the database file",
	"maint_restore_damaged_refuses_silent_rollback":   "restore replaces the database file",
	"maint_restore_interrupted_names_files":           "restore replaces the database file",
	"maint_restore_after_key_rotation":                "restore replaces the database file",
	"maint_restore_rollback_reported_not_refused":     "restore replaces the database file",
	"maint_restore_rollback_excuse_cannot_be_planted": "restore replaces the database file",
	"migrate_mark_removed_caught":                     "migrate copies a whole database (runs on PostgreSQL only)",
	"maint_backup_postgres_snapshot":                  "backup writes a snapshot file of a PostgreSQL database (runs on PostgreSQL only)",
	"migrate_to_postgres_refusals":                    "migrate copies a whole database (runs on PostgreSQL only)",
	"migrate_to_file_refusals":                        "migrate copies a whole database (runs on PostgreSQL only)",
	"maint_upgrade_admin_only":                        "upgrade migrates the database itself",
	"maint_upgrade_by_admin_login":                    "an older database file, which no server serves (serve refuses it: the story checks)",
	"demo_builds_and_verifies":                        "demo builds a database file of its own",
	"demo_custody":                                    "demo builds a database file of its own",
	"demo_dose":                                       "demo builds a database file of its own",
	"demo_json":                                       "demo builds a database file of its own",
	"trace_demo_reports":                              "demo builds a database file of its own",
	"review20_demo_again_commands_need_login":         "demo builds a database file of its own",
	"demo_again_lines_run_as_printed":                 "demo builds a database file of its own",
	"review20_db_url_scheme_case_shows_password":      "a --db typed at a workstation without a server",
	"serve_demo":                                      "starts a server on a demo database file",
	"serve_signs_checkpoints":                         "starts a server process on the file, with a key file",
	"serve_held_file_names_server":                    "a local command on a file a server holds",
	"serve_user_add_while_serving":                    "starts a server process on the file, and a local command on the file it holds",
	"serve_stop_grace_refused_short":                  "starts a server itself, refused",
	"audit_checkpoint_refused_forged_and_open_key":    "signs with a second database file, which the story's server does not hold",
	"session_file_edited":                             "the local session file of a database",
	"session_file_readable_and_logout_user":           "the local session file of a database",
	"session_none_refused":                            "the local session file of a database",
	"session_plain_config_dir":                        "the local session file of a database",
	"migrate_source_refuses_writes":                   "migrate copies a whole database (runs on PostgreSQL only)",
	"migrate_postgres_source_refuses_writes":          "migrate copies a whole database (runs on PostgreSQL only)",
	"migrate_source_left_writable":                    "migrate copies a whole database (runs on PostgreSQL only)",
	"migrate_reopen_source":                           "migrate copies a whole database (runs on PostgreSQL only)",
	"migrate_source_bedside_check_nogo":               "migrate copies a whole database (runs on PostgreSQL only)",
	"maint_backup_needs_permission":                   "backup writes a file beside the database",
	// Refused while the command line is parsed, before any database or
	// server is used: nothing to send.
	"cli_flag_after_argument":          "refused while parsing",
	"cli_missing_required_flag":        "refused while parsing",
	"cli_unknown_command":              "refused while parsing",
	"cli_unknown_flag":                 "refused while parsing",
	"isbt_check_wrong_check_character": "isbt check needs no database",
}

// throughServerOnPostgresOnly are stories that go through a server only on
// PostgreSQL: left out of TestScriptsThroughServer, where they would skip
// before any command reached the server.
var throughServerOnPostgresOnly = map[string]string{
	"migrate_source_note_through_server": "migrates from a PostgreSQL database: through a server in TestScriptsThroughServerOnPostgres",
}

// TestScriptsThroughServer runs the bedside and trace stories through a
// server.
func TestScriptsThroughServer(t *testing.T) {
	p := serverScriptParams(t, serverStories(t, notThroughServer, throughServerOnPostgresOnly))
	p.Condition = func(cond string) (bool, error) { return cond == "server", nil }
	testscript.Run(t, p)
}

// serverStories are the stories to run through a server: those of
// testdata/script not left out by any of skip, and the server-only ones.
func serverStories(t *testing.T, skip ...map[string]string) []string {
	all, err := filepath.Glob(filepath.Join("testdata", "script", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range all {
		name := strings.TrimSuffix(filepath.Base(f), ".txtar")
		left := false
		for _, m := range skip {
			if _, ok := m[name]; ok {
				left = true
			}
		}
		if !left {
			files = append(files, f)
		}
	}
	// Stories that only mean something through a server.
	only, err := filepath.Glob(filepath.Join("testdata", "server-script", "*.txtar"))
	if err != nil || len(only) == 0 {
		t.Fatalf("no server-only stories in testdata/server-script: %v", err)
	}
	files = append(files, only...)
	sort.Strings(files)
	if len(files) < 30 {
		t.Fatalf("only %d stories to run through the server: %v", len(files), files)
	}
	return files
}

// serverScriptParams runs the stories in files with a server started for
// each on its database (storyServer), after the setup of setup (nil: the
// stories' own, on a file).
func serverScriptParams(t *testing.T, files []string, setup ...func(env *testscript.Env) error) testscript.Params {
	p := scriptParams("testdata/script")
	p.Dir, p.Files = "", files
	local := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := local(env); err != nil {
			return err
		}
		for _, f := range setup {
			if err := f(env); err != nil {
				return err
			}
		}
		var requests atomic.Int64
		srv := httptest.NewServer(storyServer(env.Getenv("CELLTRACK_DB"), &requests))
		env.Defer(srv.Close)
		// A story that never reached the server proved nothing about it.
		env.Defer(func() {
			if requests.Load() == 0 {
				env.T().Fatal("no command of the story went through the server")
			}
		})
		env.Setenv("CELLTRACK_TEST_SERVER", srv.URL)
		return nil
	}
	return p
}

// inProcess serialises what this process runs against story databases (the
// test's servers and the fixtures): the facility's display zone is one per
// process.
var inProcess sync.Mutex

// testNowHeader carries the story's clock (CELLTRACK_TEST_NOW) from the
// command line to the test's server, which stamps what it writes with it.
const testNowHeader = "Celltrack-Test-Now"

// storyServer is the web front end on the database at dbPath, opened for
// each request as `celltrack serve` opens it, with the story's clock.
func storyServer(dbPath string, requests *atomic.Int64) http.Handler {
	logger := log.New(io.Discard, "", 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		inProcess.Lock()
		defer inProcess.Unlock()
		now, err := time.Parse(time.RFC3339, r.Header.Get(testNowHeader))
		if err != nil {
			now, _ = time.Parse(time.RFC3339, testNow)
		}
		db, err := store.Open(dbPath, store.Options{Timeout: 5 * time.Second, Now: func() time.Time { return now }})
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": lot.ErrorCode(err), "message": lot.ErrorMessage(err), "exit": exitCode(lot.ErrorCode(err))}})
			return
		}
		defer db.Close()
		lot.SetDisplayZone(nil)
		if loc, err := db.FacilityZone(); err == nil {
			lot.SetDisplayZone(loc)
		}
		webApp(db, false, logger).ServeHTTP(w, r)
	})
}

// clockTransport sends the story's clock to the test's server.
type clockTransport struct{ base http.RoundTripper }

func (c clockTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if now := os.Getenv("CELLTRACK_TEST_NOW"); now != "" {
		r = r.Clone(r.Context())
		r.Header.Set(testNowHeader, now)
	}
	return c.base.RoundTrip(r)
}

// throughServer is the test binary's `celltrack` in a story run through a
// server: a command the server serves gets CELLTRACK_SERVER. Each person
// keeps one session on the story's database; the fixtures made it with a
// local login, so its file is carried to the server's session file (the
// cookie is the same credentials) before a command, and back after one, so
// that local and served commands go on sharing it, as one login would.
func throughServer(args []string) (done func(code int)) {
	url := os.Getenv("CELLTRACK_TEST_SERVER")
	if url == "" {
		return func(int) {}
	}
	rt := &runtime{getenv: os.Getenv}
	localPath, err1 := rt.sessionFile(os.Getenv("CELLTRACK_DB"))
	cl, err2 := rt.newServerClient(url)
	if err1 != nil || err2 != nil {
		return func(int) {}
	}
	served := servedThroughServer(helpName(args))
	if served {
		os.Setenv("CELLTRACK_SERVER", url)
		web.ClientTransport = func(base http.RoundTripper) http.RoundTripper { return clockTransport{base} }
	}
	syncSessions(localPath, cl.path, url)
	return func(int) {
		if !served {
			return
		}
		if _, err := os.Stat(cl.path); errors.Is(err, fs.ErrNotExist) {
			os.Remove(localPath) // logged out through the server
			return
		}
		syncSessions(localPath, cl.path, url)
	}
}

// syncSessions copies the newer of the person's local session file and
// server session file over the other.
func syncSessions(localPath, serverPath, url string) {
	ls, lerr := os.Stat(localPath)
	ss, serr := os.Stat(serverPath)
	switch {
	case lerr == nil && (serr != nil || ls.ModTime().After(ss.ModTime())):
		var c store.Credentials
		if b, err := os.ReadFile(localPath); err == nil && json.Unmarshal(b, &c) == nil {
			saveJSONFile(serverPath, serverSession{Server: url, User: c.User, CookieName: "celltrack_session", Cookie: encodeCreds(c)})
		}
	case serr == nil && (lerr != nil || ss.ModTime().After(ls.ModTime())):
		var s serverSession
		if b, err := os.ReadFile(serverPath); err == nil && json.Unmarshal(b, &s) == nil {
			if c, err := decodeCreds(s.Cookie); err == nil {
				saveSession(localPath, c)
			}
		}
	}
}

// helpName is the help name of the command a command line runs
// ("celltrack dose check"): its leading words that name commands, flags
// and their values skipped.
func helpName(args []string) string {
	rt := &runtime{getenv: os.Getenv}
	cmds := rt.app().Commands
	name := "celltrack"
	valued := map[string]bool{"db": true, "user": true, "lock-timeout": true, "server": true}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			f := strings.TrimLeft(a, "-")
			if valued[f] {
				i++
			}
			continue
		}
		found := false
		for _, c := range cmds {
			if c.Name == a {
				name += " " + a
				cmds, found = c.Subcommands, true
				break
			}
		}
		if !found || len(cmds) == 0 {
			break
		}
	}
	return name
}
