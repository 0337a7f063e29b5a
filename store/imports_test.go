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
