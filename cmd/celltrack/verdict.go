package main

import (
	"io"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
)

// verdict is the outcome of a verification (`audit verify`, `check`).
type verdict struct {
	name     string         // "audit verify", "check"
	problems []string       // one line each; none means OK
	counts   string         // what was checked, after the verdict
	head     string         // the audit chain head, hex
	view     map[string]any // the --json document
	failed   string         // the error message when there are problems
	notes    []string       // lines printed after the chain head
}

// printVerdict writes the problems, the verdict and the chain head (or the
// JSON document) on stdout. With problems it then returns an ECONFLICT
// error (exit 3), which the runtime prints on stderr like any other error:
// the JSON error object with --json, as the README promises.
func (rt *runtime) printVerdict(v verdict) error {
	err := rt.out(v.view, func(w io.Writer) {
		report.WriteVerdict(w, v.name, v.problems, v.counts, v.head, v.notes)
	})
	if err == nil && len(v.problems) > 0 {
		return lot.Errorf(lot.ECONFLICT, "%s", v.failed)
	}
	return err
}
