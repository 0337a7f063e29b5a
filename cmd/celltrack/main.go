// Command celltrack tracks mesenchymal stromal cell therapy from donor to
// vein: donors, lots, release, dosing and the chain of custody, in one bbolt
// file. Run `celltrack --help`, or see README.md.
package main

import (
	"io"
	"os"
	"runtime/debug"
	"time"
	// The IANA time zone database inside the binary: a site's days are
	// counted in its zone (Asia/Shanghai) on a machine without zoneinfo too.
	_ "time/tzdata"

	"github.com/celltrack/celltrack/lot"
)

func main() {
	growStack()
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr, nil))
}

// growStack grows the main goroutine's stack to 32 KiB in one copy, while
// it holds two frames: a command that opens the database (a write,
// `dose check`, `lot list`) needs that much, and reached it from 2 KiB in
// four copies, each at a deeper call (urfave/cli, the store, bbolt, JSON),
// walking every frame's stack map — pages of the binary's tables read for
// the first time — and ~0.5 ms of a 8 ms write in perf's samples (issue
// 10). The runtime doubles the stack until the frame fits: a 16 KiB frame
// and the guard take 32 KiB.
//
//go:noinline
func growStack() {
	var frame [16 << 10]byte
	keepFrame(frame[:])
}

// keepFrame is where growStack's frame goes, so that it is a frame on the
// stack: it does not escape (TestGrowStackAllocatesNothing), and a call
// the compiler cannot see through keeps it.
//
//go:noinline
func keepFrame([]byte) {}

// run executes one command line and returns its exit code. now replaces the
// clock when non-nil (tests only; the binary always uses the real clock). The
// database is closed before run returns, so exiting afterwards loses nothing.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, now func() time.Time) (code int) {
	return runEnv(args, stdin, stdout, stderr, now, os.Getenv)
}

// runEnv is run with the environment read through getenv.
func runEnv(args []string, stdin io.Reader, stdout, stderr io.Writer, now func() time.Time, getenv func(string) string) (code int) {
	rt := &runtime{stdin: stdin, stdout: stdout, stderr: stderr, now: now, getenv: getenv, args: args}
	lot.SetDisplayZone(nil) // UTC until the database names the facility's zone
	// A panic is a bug in celltrack: report it as an internal error (exit 1)
	// with its value and stack. Left alone, Go would exit 2, which is our
	// usage code and would tell a script the command line was wrong.
	defer func() {
		if r := recover(); r != nil {
			rt.closeDB()
			rt.actionStarted = true
			code = rt.exit(lot.Errorf(lot.EINTERNAL, "internal error (a bug in celltrack; please report it with this text): panic: %v\n%s", r, debug.Stack()))
		}
	}()
	// A script that asked for --json gets its error as JSON even when the
	// parser fails before celltrack has read the flag (an unknown flag).
	for _, a := range args[1:] {
		if a == "--json" || a == "-json" {
			rt.json = true
		}
	}
	err := rt.appFor(args).Run(args)
	rt.closeDB()
	return rt.exit(err)
}
