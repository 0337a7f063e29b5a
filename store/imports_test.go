package store

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStoreDoesNotImportReport holds the seam issue 14 cut: the store reads
// records and verifies the trail; what a report shows and how it is laid out
// is package trace's, over the store's TraceSnapshot. A store that imported
// report (directly or through another package) would be building reports
// again, and a second engine would need its own copy of them. It reads the
// import graph of the store as the build sees it (`go list -deps`, test files
// excluded).
func TestStoreDoesNotImportReport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %q", deps)
	}
	seen := map[string]bool{}
	for _, d := range deps {
		seen[d] = true
	}
	for _, want := range []string{"github.com/celltrack/celltrack/audit", "go.etcd.io/bbolt"} {
		if !seen[want] {
			t.Errorf("the store's dependencies lack %s: is this the import graph of the store? %q", want, deps)
		}
	}
	for _, banned := range []string{"github.com/celltrack/celltrack/report", "github.com/celltrack/celltrack/trace"} {
		if seen[banned] {
			t.Errorf("store imports %s (directly or through another package); reports are built by package trace over TraceSnapshot", banned)
		}
	}
}

// TestEachTechnologyHasOneHome holds the storage seam: the store's rules run
// over package kv's interfaces, and bbolt is one engine beneath them, in
// store/boltkv — so that a second engine (PostgreSQL) sits beside it
// without a rule written twice. Only the benchmark harness, which measures
// bbolt's own floor, imports bbolt besides; tests that tamper with a file
// as a raw bbolt tool would may too (test files are not listed here). And
// the seam itself depends on nothing of celltrack's. The same holds for
// pgx, net/http and urfave/cli, each in its one package.
func TestEachTechnologyHasOneHome(t *testing.T) {
	const mod = "github.com/celltrack/celltrack"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, mod+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list listed only %q", lines)
	}
	// homes lists, for each technology, the only packages that may import
	// it (a trailing / takes a whole tree): bbolt in the embedded engine,
	// pgx in the PostgreSQL engine, the HTTP server and its templates in
	// web, the command line in cmd. Each benchmark or test harness that
	// measures or starts one of them is listed beside it: the benchmark
	// harness makes and drops its PostgreSQL databases with pgx, and its
	// floor measures a bare pgx INSERT and COPY on the same server.
	homes := []struct {
		tech, why string
		pkgs      []string
	}{
		{"go.etcd.io/bbolt", "the embedded engine; reach bbolt through package kv's interfaces, or through boltkv",
			[]string{"/store/boltkv", "/internal/benchharness/"}},
		{"github.com/jackc/pgx/v5", "the PostgreSQL engine; reach it through package kv's interfaces",
			[]string{"/store/pgkv", "/internal/pgtest", "/internal/benchharness/"}},
		{"net/http", "the web package; front ends other than web reach the server through web's client",
			[]string{"/web", "/internal/benchharness/"}},
		{"github.com/urfave/cli/v2", "the command line", []string{"/cmd/celltrack"}},
	}
	allowed := func(pkg string, home []string) bool {
		for _, h := range home {
			if pkg == mod+h || strings.HasSuffix(h, "/") && (pkg == mod+strings.TrimSuffix(h, "/") || strings.HasPrefix(pkg, mod+h)) {
				return true
			}
		}
		return false
	}
	seenKV, seenBoltkv := false, false
	for _, line := range lines {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		seenKV = seenKV || pkg == mod+"/store/kv"
		seenBoltkv = seenBoltkv || pkg == mod+"/store/boltkv"
		for _, imp := range imports {
			for _, h := range homes {
				if (imp == h.tech || strings.HasPrefix(imp, h.tech+"/")) && !allowed(pkg, h.pkgs) {
					t.Errorf("%s imports %s; only %v may (%s)", pkg, imp, h.pkgs, h.why)
				}
			}
			if pkg == mod+"/store/kv" && strings.HasPrefix(imp, mod+"/") {
				t.Errorf("store/kv imports %s; the seam depends on nothing of celltrack's", imp)
			}
		}
	}
	if !seenKV || !seenBoltkv {
		t.Errorf("go list did not list store/kv and store/boltkv: is this the module's package list? %q", lines)
	}
}
