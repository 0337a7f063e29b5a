// Command benchharness builds celltrack databases through the public import
// path and times celltrack as whole processes, next to the bbolt floor on the
// same machine. It is documented in BENCHMARKS.md; it is not part of
// `go test ./...` because its large run takes minutes.
//
//	go run ./internal/benchharness                 # 1k and 100k lots, 5 runs each
//	go run ./internal/benchharness -sizes 1000 -runs 3
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	sizes := flag.String("sizes", "1000,100000", "comma-separated lot counts")
	runs := flag.Int("runs", 5, "runs per timing; the median is reported")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	if err := harness(*sizes, *runs, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "benchharness:", err)
		os.Exit(1)
	}
}

type bench struct {
	dir, celltrack, floor string
	runs                  int
}

func harness(sizes string, runs int, keep bool) error {
	dir, err := os.MkdirTemp("", "celltrack-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	b := &bench{dir: dir, celltrack: filepath.Join(dir, "celltrack"), floor: filepath.Join(dir, "floor"), runs: runs}
	for pkg, out := range map[string]string{"./cmd/celltrack": b.celltrack, "./internal/benchharness/floor": b.floor} {
		if out, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	fmt.Printf("# celltrack benchmark, %s\n\nmachine: %s, nproc %d, %s/%s, %s; medians of %d runs\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), runs)
	fmt.Println("| lots | audit entries | db size | single write (patient weigh) | floor: one bbolt commit | write / floor | `lot show` | `audit verify` | verify entries/s | import (whole process) | import lots/s | floor: raw puts | import / raw |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-sizes: %v", err)
		}
		if err := b.size(n); err != nil {
			return err
		}
	}
	return nil
}

// size builds a database of n lots by import and times each command on it.
func (b *bench) size(n int) error {
	base := filepath.Join(b.dir, fmt.Sprintf("base-%d.db", n))
	pw := "bench-password\n"
	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format("2006-01-02") }
	for _, args := range [][]string{
		{"init", "--facility", "G1234", "--admin", "alice", "--password-stdin"},
		{"--user", "alice", "user", "add", "--role", "lab", "--password-stdin", "liu"},
		{"--user", "alice", "user", "add", "--role", "nurse", "--password-stdin", "nina"},
		{"--user", "liu", "donor", "add", "--delivered", day(-30), "--site", "Ward 5", "--consented", day(-40), "D-1"},
		{"--user", "nina", "patient", "add", "--name", "Mei Chen", "--born", "1984-03-09", "--sex", "F", "MRN-1"},
	} {
		if _, err := b.ct(base, pw, args...); err != nil {
			return err
		}
	}
	csvPath := filepath.Join(b.dir, fmt.Sprintf("lots-%d.csv", n))
	var csv bytes.Buffer
	csv.WriteString("lot_number,source,donor,cells,viability,volume_ml,manufactured,expires,passage,location\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&csv, "LOT-%07d,uc,D-1,2.5e9,94.5,250,%s,%s,4,LN2-A rack %d\n", i, day(-5), day(360), i%40)
	}
	if err := os.WriteFile(csvPath, csv.Bytes(), 0o600); err != nil {
		return err
	}
	// Import: each run imports into a fresh copy of the empty base.
	var importTimes []time.Duration
	db := filepath.Join(b.dir, fmt.Sprintf("db-%d.db", n))
	for r := 0; r < b.runs; r++ {
		target := filepath.Join(b.dir, fmt.Sprintf("import-%d-%d.db", n, r))
		if err := copyFile(base, target); err != nil {
			return err
		}
		d, err := b.ct(target, "", "--user", "liu", "lot", "import", "--csv", csvPath)
		if err != nil {
			return err
		}
		importTimes = append(importTimes, d)
		if r == 0 {
			os.Rename(target, db)
		} else {
			os.Remove(target)
		}
	}
	// Raw puts of the same records, each run into a new file.
	var rawTimes []time.Duration
	for r := 0; r < b.runs; r++ {
		f := filepath.Join(b.dir, fmt.Sprintf("raw-%d-%d.db", n, r))
		d, err := b.timed(exec.Command(b.floor, "puts", f, strconv.Itoa(n)))
		if err != nil {
			return err
		}
		rawTimes = append(rawTimes, d)
		os.Remove(f)
	}
	var writes, commits, shows, verifies []time.Duration
	floorDB := filepath.Join(b.dir, fmt.Sprintf("floor-%d.db", n))
	if err := copyFile(db, floorDB); err != nil {
		return err
	}
	for r := 0; r < b.runs; r++ {
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r) * time.Minute).Format(time.RFC3339)
		d, err := b.ct(db, "", "--user", "nina", "patient", "weigh", "--kg", "62.5", "--at", at, "MRN-1")
		if err != nil {
			return err
		}
		writes = append(writes, d)
		if d, err = b.timed(exec.Command(b.floor, "commit", floorDB)); err != nil {
			return err
		}
		commits = append(commits, d)
		if d, err = b.ct(db, "", "lot", "show", fmt.Sprintf("LOT-%07d", n/2)); err != nil {
			return err
		}
		shows = append(shows, d)
		if d, err = b.ct(db, "", "audit", "verify"); err != nil {
			return err
		}
		verifies = append(verifies, d)
	}
	entries, size := b.auditEntries(db)
	w, c, imp, raw, ver := median(writes), median(commits), median(importTimes), median(rawTimes), median(verifies)
	fmt.Printf("| %d | %d | %.1f MB | %s | %s | %.2f× | %s | %s | %.0f | %s | %.0f | %s | %.2f× |\n",
		n, entries, float64(size)/1e6, ms(w), ms(c), float64(w)/float64(c), ms(median(shows)), ms(ver),
		float64(entries)/ver.Seconds(), ms(imp), float64(n)/imp.Seconds(), ms(raw), float64(imp)/float64(raw))
	return nil
}

// ct runs celltrack on db and returns its wall time.
func (b *bench) ct(db, stdin string, args ...string) (time.Duration, error) {
	cmd := exec.Command(b.celltrack, append([]string{"--db", db}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	return b.timed(cmd)
}

func (b *bench) timed(cmd *exec.Cmd) (time.Duration, error) {
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=")
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, errb.String())
	}
	return d, nil
}

func (b *bench) auditEntries(db string) (int, int64) {
	out, _ := exec.Command(b.celltrack, "--db", db, "--json", "audit", "verify").Output()
	var entries int
	if i := bytes.Index(out, []byte(`"entries": `)); i >= 0 {
		fmt.Sscanf(string(out[i+len(`"entries": `):]), "%d", &entries)
	}
	fi, _ := os.Stat(db)
	return entries, fi.Size()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	// Flush the copy now, or the next command's first fsync pays for it.
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}
