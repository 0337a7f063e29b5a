package main

// Issue 10's figure (BENCHMARKS.md): a write (`patient weigh`) and a bedside
// `dose check`, as whole processes, by this tree's celltrack — which checks
// a login session on every command — and by the build of an earlier
// revision (the one before sessions), on the same kept database, in
// interleaved pairs whose order alternates, so that both see the same load
// and neither always runs on the caches the other warmed.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/celltrack/celltrack/internal/shipbuild"
)

func beforeMain(rev, db string, runs int) error {
	if !regexp.MustCompile(`db-\d+\.db$`).MatchString(db) {
		return fmt.Errorf("-before needs -db: a database the harness kept (…/db-N.db, from -keep)")
	}
	work, err := os.MkdirTemp("", "celltrack-before-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	tarFile := filepath.Join(work, "src.tar")
	if err := os.Mkdir(src, 0o700); err != nil {
		return err
	}
	for _, c := range [][]string{{"git", "archive", "--format=tar", "-o", tarFile, rev}, {"tar", "-xf", tarFile, "-C", src}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	oldBin, newBin := filepath.Join(work, "celltrack-"+rev), filepath.Join(work, "celltrack")
	oldBuild := shipbuild.Command(oldBin, "./cmd/celltrack")
	oldBuild.Dir = src
	if out, err := oldBuild.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", rev, err, out)
	}
	if out, err := shipbuild.Command(newBin, "./cmd/celltrack").CombinedOutput(); err != nil {
		return fmt.Errorf("build this tree: %v\n%s", err, out)
	}
	for _, b := range []string{oldBin, newBin} {
		if err := rewrite(b); err != nil { // both cached alike (startup.go)
			return err
		}
	}
	now := &bench{dir: work, celltrack: newBin}
	old := &bench{dir: filepath.Join(work, "old"), celltrack: oldBin}
	if err := now.login(db, "nina", "aud"); err != nil {
		return err
	}
	bag := checkBagCode(now, db)
	check := []string{"--user", "nina", "dose", "check", "--container", bag, "MRN-CHECK"}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# celltrack before/after sessions, %s\n\n%s; %s, nproc %d; %d interleaved pairs; load average at start %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), db, cpuModel(), runtime.NumCPU(), runs, strings.Join(strings.Fields(string(load))[:3], " "))

	type timing struct{ wall, cpu []time.Duration }
	var weighOld, weighNew, checkOld, checkNew, startOld, startNew timing
	// Process start without a database or a session: how much of a
	// difference is the larger binary (the server and its pages were
	// added after sessions), not the session check.
	start := []string{"isbt", "check", "G123426000001"}
	timeOne := func(b *bench, t *timing, args ...string) error {
		d, err := b.ct(db, "", args...)
		t.wall, t.cpu = append(t.wall, d), append(t.cpu, b.cpu)
		return err
	}
	for r := 0; r < runs; r++ {
		at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(r) * time.Minute)
		weigh := func(minute int) []string {
			return []string{"--user", "nina", "patient", "weigh", "--kg", "62.5", "--at", at.Add(time.Duration(minute) * time.Second).Format(time.RFC3339), "MRN-1"}
		}
		steps := []func() error{
			func() error { return timeOne(old, &weighOld, weigh(0)...) },
			func() error { return timeOne(now, &weighNew, weigh(1)...) },
			func() error { return timeOne(old, &checkOld, check...) },
			func() error { return timeOne(now, &checkNew, check...) },
			func() error { return timeOne(old, &startOld, start...) },
			func() error { return timeOne(now, &startNew, start...) },
		}
		if r%2 == 1 {
			for i := 0; i < len(steps); i += 2 {
				steps[i], steps[i+1] = steps[i+1], steps[i]
			}
		}
		for _, f := range steps {
			if err := f(); err != nil {
				return err
			}
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("wall time (CPU time: user + system), medians; load average at end %s\n\n", strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("| command | %s (before sessions) | this tree (sessions) | ratio wall | ratio CPU |\n|---|---|---|---|---|\n", rev)
	for _, row := range []struct {
		name     string
		old, new timing
	}{{"`patient weigh`", weighOld, weighNew}, {"`dose check`", checkOld, checkNew}, {"process start: `isbt check` (no database, no session)", startOld, startNew}} {
		ow, nw, oc, nc := median(row.old.wall), median(row.new.wall), median(row.old.cpu), median(row.new.cpu)
		fmt.Printf("| %s | %s (%s) | %s (%s) | %.2f× | %.2f× |\n", row.name, ms(ow), ms(oc), ms(nw), ms(nc),
			float64(nw)/float64(ow), float64(nc)/float64(oc))
	}
	return nil
}
