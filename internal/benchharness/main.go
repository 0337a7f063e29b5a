// Command benchharness builds celltrack databases through the public import
// path and times celltrack as whole processes, next to the bbolt floor on the
// same machine. It is documented in BENCHMARKS.md; it is not part of
// `go test ./...` because its large run takes minutes.
//
//	go run ./internal/benchharness                 # 1k and 100k lots, 5 runs each
//	go run ./internal/benchharness -sizes 1000 -runs 3
//	go run ./internal/benchharness -sizes 1000,10000 -postgres postgres://…/postgres
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/internal/shipbuild"
	"github.com/celltrack/celltrack/store"
)

func main() {
	sizes := flag.String("sizes", "1000,100000", "comma-separated lot counts")
	runs := flag.Int("runs", 5, "runs per timing; the median is reported")
	keep := flag.Bool("keep", false, "keep the work directory")
	loadDB := flag.String("load", "", "instead of building: put `celltrack serve` on this kept database (…/db-N.db) under load (load.go); a kept PostgreSQL database (…/ctbench_db_N URL): -servers servers on it (loadpg.go)")
	servers := flag.Int("servers", 2, "-load of a PostgreSQL database: `celltrack serve` processes on it, the clients split among them")
	clients := flag.Int("clients", 50, "-load: concurrent API clients")
	checks := flag.Int("checks", 20000, "-load: bedside checks sent by the clients")
	writes := flag.Int("writes", 5000, "-load: reactions written by the clients (and a fifth as many patients)")
	cliRuns := flag.Int("cli", 30, "-load: CLI processes per command, one at a time (twice as many in the parallel phase)")
	cliPar := flag.Int("cli-parallel", 8, "-load: CLI processes at once in the parallel phase")
	rate := flag.Float64("rate", 2000, "-load: bedside checks a second the clients offer together in the open-loop phase (writes: half)")
	before := flag.String("before", "", "instead of building: time `patient weigh` and `dose check` of the build at this git `REV` against this tree's, on the database of -db (before.go)")
	db := flag.String("db", "", "-before: a kept database (…/db-N.db)")
	pgServer := flag.String("postgres", "", "also build each size on the PostgreSQL server at this `URL` (a role that may create databases; the harness creates and drops databases named ctbench_*) and time the same commands there, beside the file")
	engines := flag.String("engines", "", "which engines to build on: bbolt, postgres or both (comma-separated); default bbolt, and both with -postgres")
	again := flag.String("again", "", "instead of building: time the import and the commands again, with this tree's build, on the databases a -keep run left in this `DIR` (the same -sizes, -engines and -postgres)")
	startupLinks := flag.Bool("startup-links", false, "-startup: build REV linking every library package this tree links beyond it, so the two builds run the same package inits (links.go)")
	startup := flag.String("startup", "", "instead of building: time process start, a read and a write of the build at this git `REV` against this tree's, each on a demo database of its own (startup.go); -runs pairs")
	prefix := flag.String("pgprefix", "ctbench_", "-postgres: the prefix of the databases' names, so that two harness runs on one server keep apart")
	stats := flag.String("stats", "", "instead of building: print where the bytes of this database `FILE` go — per bucket, free pages, audit entries per kind (stats.go)")
	flag.Parse()
	pgPrefix = *prefix
	if *stats != "" {
		if err := statsMain(*stats); err != nil {
			fmt.Fprintln(os.Stderr, "benchharness:", err)
			os.Exit(1)
		}
		return
	}
	if *startup != "" {
		if err := startupMain(*startup, *runs, *startupLinks); err != nil {
			fmt.Fprintln(os.Stderr, "benchharness:", err)
			os.Exit(1)
		}
		return
	}
	if *loadDB != "" && strings.HasPrefix(*loadDB, "postgres") {
		if err := loadSharedMain(*loadDB, *servers, *clients, *checks, *writes); err != nil {
			fmt.Fprintln(os.Stderr, "benchharness:", err)
			os.Exit(1)
		}
		return
	}
	if *loadDB != "" {
		if err := loadMain(*loadDB, *clients, *checks, *writes, *cliRuns, *cliPar, *rate); err != nil {
			fmt.Fprintln(os.Stderr, "benchharness:", err)
			os.Exit(1)
		}
		return
	}
	if *before != "" {
		if err := beforeMain(*before, *db, *runs); err != nil {
			fmt.Fprintln(os.Stderr, "benchharness:", err)
			os.Exit(1)
		}
		return
	}
	if *engines == "" {
		*engines = "bbolt"
		if *pgServer != "" {
			*engines = "bbolt,postgres"
		}
	}
	if err := harness(*sizes, *runs, *keep, *engines, *pgServer, *again); err != nil {
		fmt.Fprintln(os.Stderr, "benchharness:", err)
		os.Exit(1)
	}
}

// pgPrefix begins the names of the databases the harness makes on a
// PostgreSQL server (-pgprefix).
var pgPrefix = "ctbench_"

type bench struct {
	dir, celltrack, floor string
	runs                  int
	eng                   engine
	// again: the databases are a kept run's (-again); only the import
	// and the commands are timed again.
	again bool
	// cpu is the user + system CPU time of the last process timed: unlike
	// wall time, it does not grow while the process waits for a core.
	cpu time.Duration
	// faults is the minor page faults of the last process timed.
	faults int64
}

func harness(sizes string, runs int, keep bool, engines, pgServer, again string) error {
	dir, err := os.MkdirTemp("", "celltrack-bench-")
	if err != nil {
		return err
	}
	if again != "" {
		os.Remove(dir)
		dir, keep = again, true
	}
	var benches []*bench
	if !keep {
		defer os.RemoveAll(dir)
		defer func() {
			// The databases a server keeps: each size's base and result.
			for _, b := range benches {
				if _, ok := b.eng.(pgEngine); ok {
					for _, s := range strings.Split(sizes, ",") {
						b.eng.remove("base-" + strings.TrimSpace(s))
						b.eng.remove("db-" + strings.TrimSpace(s))
					}
				}
			}
		}()
	} else {
		fmt.Fprintln(os.Stderr, "benchharness: keeping", dir)
	}
	celltrack, floor := filepath.Join(dir, "celltrack"), filepath.Join(dir, "floor")
	// Each engine's databases and session files live apart.
	for _, e := range strings.Split(engines, ",") {
		b := &bench{dir: filepath.Join(dir, strings.TrimSpace(e)), celltrack: celltrack, floor: floor, runs: runs, again: again != ""}
		switch strings.TrimSpace(e) {
		case "bbolt":
			b.eng = fileEngine{dir: b.dir}
		case "postgres":
			if pgServer == "" {
				return fmt.Errorf("-engines postgres needs -postgres URL")
			}
			b.eng = pgEngine{server: pgServer, prefix: pgPrefix}
		default:
			return fmt.Errorf("-engines: %q is neither bbolt nor postgres", e)
		}
		if err := os.MkdirAll(b.dir, 0o700); err != nil {
			return err
		}
		benches = append(benches, b)
	}
	for pkg, out := range map[string]string{"./cmd/celltrack": celltrack, "./internal/benchharness/floor": floor} {
		if msg, err := shipbuild.Command(out, pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", shipbuild.Line(out, pkg), err, msg)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# celltrack benchmark, %s\n\nmachine: %s, nproc %d, %s/%s, %s; load average at start %s; medians of %d runs\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(),
		strings.Join(strings.Fields(string(load))[:3], " "), runs)
	var rs []result
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-sizes: %v", err)
		}
		for _, b := range benches {
			r, err := b.size(n)
			if err != nil {
				return fmt.Errorf("%s, %d lots: %w", b.eng.label(), n, err)
			}
			rs = append(rs, r)
			fmt.Fprintf(os.Stderr, "benchharness: %s, %d lots done\n", b.eng.label(), n)
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("load average at end %s\n\n", strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Println("| engine | lots | custody events | infusions | audit entries | db size | record JSON | db / record JSON | build in-process | single write (patient weigh) | floor: one commit | write / floor | `lot show` | `audit verify` | verify entries/s | `check` (page check + verify) | import (whole process) | import lots/s | floor: raw puts | import / raw |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Printf("| %s | %d | %d | %d | %d | %.1f MB | %.1f MB | %.2f× | %.1f s | %s (%s) | %s (%s) | %.2f× | %s | %s | %.0f | %s | %s (%s) | %.0f | %s | %.2f× |\n",
			r.engine, r.n, r.events, r.infusions, r.entries, float64(r.size)/1e6, float64(r.records)/1e6, float64(r.size)/float64(r.records), r.build.Seconds(), ms(r.write), ms(r.writeCPU), ms(r.commit), ms(r.commitCPU), float64(r.write)/float64(r.commit),
			ms(r.show), ms(r.verify), float64(r.entries)/r.verify.Seconds(), ms(r.check), ms(r.imp), ms(r.impCPU), float64(r.n)/r.imp.Seconds(), ms(r.raw), float64(r.imp)/float64(r.raw))
	}
	var server []result
	for _, r := range rs {
		if r.impServer > 0 {
			server = append(server, r)
		}
	}
	fmt.Println()
	fmt.Println("wall time (CPU time: user + system) of each process")
	if len(server) > 0 {
		fmt.Println()
		fmt.Println("the import's CPU a lot: celltrack's (its rusage), the server's (user + system of the import's backends, /proc; servercpu.go)")
		fmt.Println()
		fmt.Println("| engine | lots | import: celltrack's CPU a lot | the server's CPU a lot |")
		fmt.Println("|---|---|---|---|")
		for _, r := range server {
			fmt.Printf("| %s | %d | %.1f µs | %.1f µs |\n", r.engine, r.n, float64(r.impCPU.Microseconds())/float64(r.n), float64(r.impServer.Microseconds())/float64(r.n))
		}
	}
	fmt.Println()
	fmt.Println("| engine | lots | `dose check` | `trace lot` | `trace patient` | `trace donor` | `trace lot --full-verify` |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Printf("| %s | %d |", r.engine, r.n)
		for i := range r.reads {
			fmt.Printf(" %s (%s) |", ms(r.reads[i]), ms(r.readsCPU[i]))
		}
		fmt.Printf(" %s |\n", ms(r.fullTrace))
	}
	// Ratios: the largest size over the smallest on each engine, and
	// PostgreSQL over bbolt at each size.
	ratio := func(name string, a, b result) {
		fmt.Printf("| %s |", name)
		for i := range a.reads {
			fmt.Printf(" %.2f× (%.2f×) |", float64(a.reads[i])/float64(b.reads[i]), float64(a.readsCPU[i])/float64(b.readsCPU[i]))
		}
		fmt.Printf(" %.2f× |\n", float64(a.fullTrace)/float64(b.fullTrace))
	}
	byEngine := map[string][]result{}
	var order []string
	for _, r := range rs {
		if byEngine[r.engine] == nil {
			order = append(order, r.engine)
		}
		byEngine[r.engine] = append(byEngine[r.engine], r)
	}
	for _, e := range order {
		if l := byEngine[e]; len(l) > 1 {
			ratio(fmt.Sprintf("%s | %d / %d", e, l[len(l)-1].n, l[0].n), l[len(l)-1], l[0])
		}
	}
	if len(order) == 2 {
		a, b := byEngine[order[1]], byEngine[order[0]]
		for i := range min(len(a), len(b)) {
			ratio(fmt.Sprintf("%s / %s | %d", order[1], order[0], a[i].n), a[i], b[i])
		}
		fmt.Println()
		fmt.Printf("| lots | single write %s / %s | import %s / %s |\n|---|---|---|\n", order[1], order[0], order[1], order[0])
		for i := range min(len(a), len(b)) {
			fmt.Printf("| %d | %.2f× (CPU %.2f×) | %.2f× (CPU %.2f×) |\n", a[i].n, float64(a[i].write)/float64(b[i].write), float64(a[i].writeCPU)/float64(b[i].writeCPU),
				float64(a[i].imp)/float64(b[i].imp), float64(a[i].impCPU)/float64(b[i].impCPU))
		}
	}
	return nil
}

// result is one size's figures (medians).
type result struct {
	engine                                                  string
	n, entries, events, infusions                           int
	size                                                    int64
	records                                                 int64 // bytes of the records' JSON values (store.RecordBytes)
	build                                                   time.Duration
	write, commit, show, verify, check, imp, raw, fullTrace time.Duration
	reads, readsCPU                                         [4]time.Duration // dose check, trace lot, patient, donor
	writeCPU, commitCPU, impCPU                             time.Duration    // CPU (user + system) of the same medians' processes
	impServer                                               time.Duration    // PostgreSQL: the import's backends' CPU, median (servercpu.go); 0 when not read
}

// size builds a database of n lots — users by the binary, donors and sites
// in-process, the lots by `celltrack lot import`, then the custody events,
// releases and infusions in-process (build.go) — and times each command on it.
func (b *bench) size(n int) (result, error) {
	res := result{engine: b.eng.label(), n: n}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(d int) time.Time { return today.AddDate(0, 0, d) }
	date := func(d int) string { return day(d).Format("2006-01-02") }
	if b.again {
		return b.measure(n, res, day)
	}
	base, err := b.eng.fresh(fmt.Sprintf("base-%d", n))
	if err != nil {
		return res, err
	}
	pw := benchPassword + "\n"
	if _, err := b.ct(base, pw, "init", "--facility", "G1234", "--admin", "alice", "--password-stdin"); err != nil {
		return res, err
	}
	if err := b.login(base, "alice"); err != nil {
		return res, err
	}
	for _, u := range [][2]string{{"liu", "lab"}, {"nina", "nurse"}, {"omar", "nurse"}, {"quinn", "qa"}, {"pat", "physician"}, {"aud", "auditor"}} {
		// qa and physician are granted with alice's signature: her password
		// follows the one-time first password, which the user's first login changes.
		if _, err := b.ct(base, benchFirstPassword+"\n"+pw, "--user", "alice", "user", "add", "--role", u[1], "--password-stdin", u[0]); err != nil {
			return res, err
		}
		if _, err := b.ct(base, benchFirstPassword+"\n"+pw, "login", "--password-stdin", u[0]); err != nil {
			return res, err
		}
	}
	if err := b.login(base, "nina"); err != nil {
		return res, err
	}
	if _, err := b.ct(base, "", "--user", "nina", "patient", "add", "--name", "Mei Chen", "--born", "1984-03-09", "--sex", "F", "MRN-1"); err != nil {
		return res, err
	}
	if err := prepare(base, n, day); err != nil {
		return res, fmt.Errorf("prepare: %w", err)
	}
	csvPath := filepath.Join(b.dir, fmt.Sprintf("lots-%d.csv", n))
	var csv bytes.Buffer
	csv.WriteString("lot_number,source,donor,cells,viability,volume_ml,manufactured,expires,passage,location\n")
	for i := 0; i < n; i++ {
		cells := "2.5e9"
		if released(i) {
			cells = "9.9e9" // bagsPerRelease+1 bags of 1×10^8
		}
		fmt.Fprintf(&csv, "%s,uc,%s,%s,94.5,5050,%s,%s,4,LN2-A rack %d\n", lotNumber(i), donorCode(i), cells, date(-200), date(300), i%40)
	}
	if err := os.WriteFile(csvPath, csv.Bytes(), 0o600); err != nil {
		return res, err
	}
	return b.measure(n, res, day)
}

// measure imports the CSV into copies of the base and times the raw floor;
// builds the history on the first copy (unless again: a kept database has
// it already); and times each command on it.
func (b *bench) measure(n int, res result, day func(int) time.Time) (result, error) {
	csvPath := filepath.Join(b.dir, fmt.Sprintf("lots-%d.csv", n))
	// Import: each run imports into a fresh copy of the base.
	var importTimes, importCPU, importServer []time.Duration
	dbName := fmt.Sprintf("db-%d", n)
	var db string
	for r := 0; r < b.runs; r++ {
		name := fmt.Sprintf("import-%d-%d", n, r)
		if r == 0 && !b.again {
			name = dbName
		}
		target, err := b.eng.copy(fmt.Sprintf("base-%d", n), name)
		if err != nil {
			return res, err
		}
		if err := b.login(target, "liu"); err != nil {
			return res, err
		}
		var server func() time.Duration
		if p, ok := b.eng.(pgEngine); ok {
			server = backendCPU(p.dbName(name))
		}
		d, err := b.ct(target, "", "--user", "liu", "lot", "import", "--csv", csvPath)
		if server != nil {
			importServer = append(importServer, server())
		}
		if err != nil {
			return res, err
		}
		importTimes, importCPU = append(importTimes, d), append(importCPU, b.cpu)
		if r == 0 && !b.again {
			db = target
		} else {
			b.eng.remove(name)
		}
	}
	if b.again {
		db = b.eng.path(dbName)
	}
	// Raw puts of the same records, each run into a new file.
	var rawTimes []time.Duration
	for r := 0; r < b.runs; r++ {
		name := fmt.Sprintf("raw-%d-%d", n, r)
		if _, err := b.eng.fresh(name); err != nil {
			return res, err
		}
		d, err := b.timed(exec.Command(b.floor, b.eng.floorPuts(name, n)...))
		if err != nil {
			return res, err
		}
		rawTimes = append(rawTimes, d)
		b.eng.remove(name)
	}
	if !b.again {
		start := time.Now()
		events, infusions, err := history(db, n, day)
		if err != nil {
			return res, fmt.Errorf("build: %w", err)
		}
		res.build, res.events, res.infusions = time.Since(start), events, infusions
	}
	// The checkpoint that traces verify from: `celltrack check`, once.
	// Every timed command runs in a real session: nina (writes, dose
	// check) and aud (reads) log in as people do, each in a config dir of
	// their own.
	if err := b.login(db, "nina", "aud"); err != nil {
		return res, err
	}
	if !b.again {
		// (A kept database has its checkpoint.)
		var err error
		if res.check, err = b.ct(db, "", "--user", "aud", "check"); err != nil {
			return res, err
		}
	}
	var writes, commits, shows, verifies, fulls, writesCPU, commitsCPU []time.Duration
	var reads, readsCPU [4][]time.Duration
	floorName := fmt.Sprintf("floor-%d", n)
	if _, err := b.eng.copy(dbName, floorName); err != nil {
		return res, err
	}
	lotRef := lotNumber(n/2/releasedEvery*releasedEvery + releasedEvery/2)
	readArgs := [4][]string{
		{"--user", "nina", "dose", "check", "--container", checkBagCode(b, db), "MRN-CHECK"},
		{"--user", "aud", "trace", "lot", lotRef},
		{"--user", "aud", "trace", "patient", patientMRN(n/2/releasedEvery*releasedEvery+releasedEvery/2, bagsPerRelease/2)},
		{"--user", "aud", "trace", "donor", donorCode(n/2/releasedEvery*releasedEvery + releasedEvery/2)},
	}
	// The write and the floor are timed in pairs of their own, each pair in
	// the other order from the last: a command that follows an `audit
	// verify` starts with the caches that verify emptied, and whichever of
	// the two always came first would pay for it.
	for r := 0; r < b.runs; r++ {
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r) * time.Minute).Format(time.RFC3339)
		write := func() error {
			d, err := b.ct(db, "", "--user", "nina", "patient", "weigh", "--kg", "62.5", "--at", at, "MRN-1")
			writes, writesCPU = append(writes, d), append(writesCPU, b.cpu)
			return err
		}
		commit := func() error {
			d, err := b.timed(exec.Command(b.floor, b.eng.floorCommit(floorName)...))
			commits, commitsCPU = append(commits, d), append(commitsCPU, b.cpu)
			return err
		}
		pair := []func() error{write, commit}
		if r%2 == 1 {
			pair[0], pair[1] = commit, write
		}
		for _, f := range pair {
			if err := f(); err != nil {
				return res, err
			}
		}
	}
	for r := 0; r < b.runs; r++ {
		d, err := b.ct(db, "", "--user", "aud", "lot", "show", lotRef)
		if err != nil {
			return res, err
		}
		shows = append(shows, d)
		for i, args := range readArgs {
			if d, err = b.ct(db, "", args...); err != nil {
				return res, err
			}
			reads[i], readsCPU[i] = append(reads[i], d), append(readsCPU[i], b.cpu)
		}
		if d, err = b.ct(db, "", "--user", "aud", "trace", "lot", "--full-verify", lotRef); err != nil {
			return res, err
		}
		fulls = append(fulls, d)
		if d, err = b.ct(db, "", "--user", "aud", "audit", "verify"); err != nil {
			return res, err
		}
		verifies = append(verifies, d)
	}
	b.eng.remove(floorName)
	res.entries, res.size = b.auditEntries(db), b.eng.size(dbName)
	records, err := recordBytes(db)
	if err != nil {
		return res, err
	}
	res.records = records
	res.write, res.commit, res.imp, res.raw, res.verify = median(writes), median(commits), median(importTimes), median(rawTimes), median(verifies)
	res.show, res.fullTrace = median(shows), median(fulls)
	res.writeCPU, res.commitCPU, res.impCPU = median(writesCPU), median(commitsCPU), median(importCPU)
	if len(importServer) > 0 {
		res.impServer = median(importServer)
	}
	for i := range reads {
		res.reads[i], res.readsCPU[i] = median(reads[i]), median(readsCPU[i])
	}
	return res, nil
}

// checkBagCode is the code of MRN-CHECK's bag: the last bag of the first
// released lot (DINs are issued in import order, from 1).
func checkBagCode(b *bench, db string) string {
	cmd := exec.Command(b.celltrack, "--db", db, "--user", "aud", "--json", "lot", "show", lotNumber(releasedEvery/2))
	cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=", "CELLTRACK_CONFIG_DIR="+b.configDir([]string{"--user", "aud"}))
	out, _ := cmd.Output()
	var v struct {
		DIN string `json:"din"`
	}
	json.Unmarshal(out, &v)
	return fmt.Sprintf("%s%02d", v.DIN, bagsPerRelease+1)
}

// login logs users in to db with `celltrack login`.
func (b *bench) login(db string, users ...string) error {
	for _, u := range users {
		if _, err := b.ct(db, benchPassword+"\n", "login", "--password-stdin", u); err != nil {
			return err
		}
	}
	return nil
}

// configDir is the config dir (session files) of the person a command line
// is typed by: the --user value, or the NAME of `login NAME`.
func (b *bench) configDir(args []string) string {
	name := "anyone"
	for i, a := range args {
		switch {
		case a == "--user" && i+1 < len(args):
			name = args[i+1]
		case a == "login":
			name = args[len(args)-1]
		}
	}
	return filepath.Join(b.dir, "homes", name)
}

// ct runs celltrack on db and returns its wall time.
func (b *bench) ct(db, stdin string, args ...string) (time.Duration, error) {
	cmd := exec.Command(b.celltrack, append([]string{"--db", db}, args...)...)
	cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=", "CELLTRACK_CONFIG_DIR="+b.configDir(args))
	if stdin != "" {
		// A pipe costs the timing a copying goroutine in this process; a
		// command that reads nothing gets /dev/null, as the floor does.
		cmd.Stdin = strings.NewReader(stdin)
	}
	return b.timed(cmd)
}

func (b *bench) timed(cmd *exec.Cmd) (time.Duration, error) {
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if cmd.Env == nil {
		cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=")
	}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if cmd.ProcessState != nil {
		b.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		b.faults = minorFaults(cmd.ProcessState)
	}
	if err != nil {
		return d, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, errb.String())
	}
	return d, nil
}

func (b *bench) auditEntries(db string) int {
	cmd := exec.Command(b.celltrack, "--db", db, "--user", "aud", "--json", "audit", "verify")
	cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=", "CELLTRACK_CONFIG_DIR="+b.configDir([]string{"--user", "aud"}))
	out, _ := cmd.Output()
	var entries int
	if i := bytes.Index(out, []byte(`"entries": `)); i >= 0 {
		fmt.Sscanf(string(out[i+len(`"entries": `):]), "%d", &entries)
	}
	return entries
}

func median[T cmp.Ordered](ds []T) T {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, in); err != nil {
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

// recordBytes is the size of the records' JSON in db, which the file's size
// is compared with.
func recordBytes(path string) (int64, error) {
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: time.Minute})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.RecordBytes()
}
