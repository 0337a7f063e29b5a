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
var notOnPostgres = map[string]string{}

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
	local := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := local(env); err != nil {
			return err
		}
		u, drop, err := pgtest.CreateDatabase(server, "")
		if err != nil {
			return err
		}
		env.Defer(func() { drop() })
		env.Setenv("CELLTRACK_DB", u)
		env.Setenv("CELLTRACK_TEST_PG_SERVER", server)
		return nil
	}
	p.Condition = func(cond string) (bool, error) { return cond == "postgres", nil }
	testscript.Run(t, p)
}
