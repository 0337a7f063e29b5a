// Package shipbuild says, in one place, how the celltrack binary that a
// workstation runs is built. The process tests (crash, concurrency), the
// benchmark harness and the README's install line all use it, so the binary
// that is measured and SIGKILLed is the binary that is installed.
//
// The build is a plain `go build` with three settings, none of which changes
// what celltrack does:
//
//   - CGO_ENABLED=0: a static binary. google/uuid imports net, which by
//     default links the C library through cgo for name lookups celltrack
//     never makes; loading it costs every command about 0.8 ms.
//   - -trimpath: the build machine's directories stay out of the binary.
//   - -tags urfave_cli_no_docs: leaves out urfave/cli's markdown and man page
//     generator (ToMarkdown, ToMan), which celltrack does not call, and the
//     markdown library whose start-up compiles regular expressions for every
//     command (about 0.4 ms).
package shipbuild

import (
	"os"
	"os/exec"
	"strings"
)

// Env is what the build adds to the environment.
var Env = []string{"CGO_ENABLED=0"}

// Flags are the `go build` flags.
var Flags = []string{"-trimpath", "-tags", "urfave_cli_no_docs"}

// Command returns the `go build` of package pkg into the file out, run from
// the current directory.
func Command(out, pkg string) *exec.Cmd {
	args := append(append([]string{"build"}, Flags...), "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), Env...)
	return cmd
}

// Line is Command as a shell line, the way the README gives it.
func Line(out, pkg string) string {
	return strings.Join(Env, " ") + " go build " + strings.Join(Flags, " ") + " -o " + out + " " + pkg
}
