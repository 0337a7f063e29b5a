package main

// Start-up cost (issue 10's open figure, BENCHMARKS.md): whole `celltrack`
// processes of this tree and of the build of an earlier revision, each on a
// demonstration database it built itself (`celltrack demo`), so that two
// revisions whose schemas differ can be compared. The commands are short —
// process start with no database, a read and a write — so what differs is
// mostly what runs before the command's own work: package initialisation,
// building the command tree, opening the file. Runs are interleaved pairs
// whose order alternates, as in before.go.

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

func startupMain(rev string, runs int, links bool) error {
	work, err := os.MkdirTemp("", "celltrack-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src, tarFile := filepath.Join(work, "src"), filepath.Join(work, "src.tar")
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
	oldName := rev
	if links {
		pkgs, err := linkAlike(src)
		if err != nil {
			return err
		}
		oldBuild.Env = append(oldBuild.Env, "GOFLAGS=-mod=mod")
		oldName = fmt.Sprintf("%s + %d packages", rev, len(pkgs))
		fmt.Printf("%s is built linking what this tree links beyond it (links.go): %s\n\n", rev, strings.Join(pkgs, " "))
	}
	if out, err := oldBuild.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", rev, err, out)
	}
	if out, err := shipbuild.Command(newBin, "./cmd/celltrack").CombinedOutput(); err != nil {
		return fmt.Errorf("build this tree: %v\n%s", err, out)
	}
	sizes := [2]int64{}
	for i, b := range []string{oldBin, newBin} {
		if err := rewrite(b); err != nil {
			return err
		}
		if fi, err := os.Stat(b); err == nil {
			sizes[i] = fi.Size()
		}
	}

	// Each build makes its own demo database; a build with login sessions
	// logs aud and nina in (the demo prints its password), one without
	// acts with --user, as before.go does.
	type side struct {
		b        *bench
		db       string
		sessions bool
	}
	mk := func(name, bin string) (side, error) {
		dir := filepath.Join(work, name)
		out, err := exec.Command(bin, "demo", "--dir", dir).CombinedOutput()
		if err != nil {
			return side{}, fmt.Errorf("%s demo: %v\n%s", bin, err, out)
		}
		s := side{b: &bench{dir: dir, celltrack: bin}, db: filepath.Join(dir, "demo.db")}
		if m := regexp.MustCompile(`every demo password is "([^"]+)"`).FindSubmatch(out); m != nil && strings.Contains(string(out), "celltrack login") {
			s.sessions = true
			for _, u := range []string{"aud", "nina"} {
				if _, err := s.b.ct(s.db, string(m[1])+"\n", "login", "--password-stdin", u); err != nil {
					return side{}, err
				}
			}
		}
		return s, nil
	}
	old, err := mk("old", oldBin)
	if err != nil {
		return err
	}
	now, err := mk("new", newBin)
	if err != nil {
		return err
	}

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# celltrack start-up, %s against this tree, %s\n\n%s, nproc %d; binaries %.1f MB and %.1f MB; %d interleaved pairs; load average at start %s\n\n",
		rev, time.Now().UTC().Format("2006-01-02 15:04 MST"), cpuModel(), runtime.NumCPU(), float64(sizes[0])/1e6, float64(sizes[1])/1e6, runs,
		strings.Join(strings.Fields(string(load))[:3], " "))

	type timing struct {
		wall, cpu []time.Duration
		faults    []int64
	}
	rows := []struct {
		name     string
		args     func(r int) []string
		exit     int // the exit code expected
		old, new timing
	}{
		{name: "process start: `isbt check` (no database, no session)", args: func(int) []string { return []string{"isbt", "check", "G123426000001"} }},
		{name: "a read: `lot list`", args: func(int) []string { return []string{"--user", "aud", "lot", "list"} }},
		// Every bag of the demo is infused, so the check is NO-GO (exit 4),
		// but it reads and checks all the same: course, weights, the bag, its
		// lot's release, its custody.
		{name: "the bedside check: `dose check` (NO-GO: the bag is infused)", exit: 4, args: func(int) []string {
			return []string{"--user", "aud", "dose", "check", "--container", "G12342600000212", "MRN-2001"}
		}},
		{name: "a write: `patient weigh`", args: func(r int) []string {
			at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r) * time.Minute)
			return []string{"--user", "nina", "patient", "weigh", "--kg", "62.5", "--at", at.Format(time.RFC3339), "MRN-1001"}
		}},
	}
	for r := 0; r < runs; r++ {
		for i := range rows {
			row := &rows[i]
			pair := []struct {
				s side
				t *timing
			}{{old, &row.old}, {now, &row.new}}
			if r%2 == 1 {
				pair[0], pair[1] = pair[1], pair[0]
			}
			for k, p := range pair {
				args := row.args(2*r + k)
				d, err := p.s.b.ctExit(p.s.db, row.exit, args...)
				if err != nil {
					return err
				}
				p.t.wall, p.t.cpu = append(p.t.wall, d), append(p.t.cpu, p.s.b.cpu)
				p.t.faults = append(p.t.faults, p.s.b.faults)
			}
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("wall time (CPU time: user + system), medians; minor page faults, medians (they do not move with load); load average at end %s\n\n", strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("| command | %s | this tree | ratio wall | ratio CPU | page faults |\n|---|---|---|---|---|---|\n", oldName)
	for _, row := range rows {
		ow, nw, oc, nc := median(row.old.wall), median(row.new.wall), median(row.old.cpu), median(row.new.cpu)
		fmt.Printf("| %s | %s (%s) | %s (%s) | %.2f× | %.2f× | %d → %d |\n", row.name, ms(ow), ms(oc), ms(nw), ms(nc),
			float64(nw)/float64(ow), float64(nc)/float64(oc), median(row.old.faults), median(row.new.faults))
	}
	return nil
}

// ctExit is ct for a command whose expected exit code is want (4: a NO-GO).
func (b *bench) ctExit(db string, want int, args ...string) (time.Duration, error) {
	cmd := exec.Command(b.celltrack, append([]string{"--db", db}, args...)...)
	cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=", "CELLTRACK_CONFIG_DIR="+b.configDir(args))
	d, err := b.timed(cmd)
	switch {
	case cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == want:
		return d, nil
	case err == nil:
		return d, fmt.Errorf("%s: exit 0, want %d", strings.Join(cmd.Args, " "), want)
	}
	return d, err
}

// rewrite writes the binary at path again with one write, so that both
// binaries are in the page cache alike. The linker writes its output through
// a memory mapping, page by page, and a process started from pages cached so
// faults them in a small page at a time: the same 34.6 MB binary took 1.49×
// the CPU to start (`isbt check`, 101 interleaved rounds, load 15; 549
// against 390 page faults) as its copy made by one write — more than any
// change these timings are for (write13, /work/s13/write13-bench.md).
func rewrite(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
