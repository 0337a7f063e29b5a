package main

// The load generator of issue 11 (BENCHMARKS.md, "Load on the server"): it
// starts `celltrack serve` on loopback on a database the harness kept, logs
// in N clients through the JSON API and measures the bedside check and the
// non-signature writes the server commits in groups, the server's memory,
// and the same commands as whole CLI processes through the server and on
// the file. Every phase is bounded by a request count and a deadline.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/celltrack/celltrack/internal/shipbuild"
)

// loadConfig is what -load measures.
type loadConfig struct {
	db                 string  // a database kept by the harness (-keep): db-N.db
	lots               int     // N, read from the file name
	clients            int     // concurrent API clients
	checks, writes     int     // requests per phase
	cliRuns, cliPar    int     // CLI processes per command, and at once in the parallel phase
	rate               float64 // requests a second offered in the open-loop phases
	phaseLimit         time.Duration
	workDir, celltrack string
}

// phaseLimit bounds each phase: a phase that has not finished its requests
// by then stops and reports what it did.
const phaseLimit = 3 * time.Minute

func loadMain(dbPath string, clients, checks, writes, cliRuns, cliPar int, rate float64) error {
	m := regexp.MustCompile(`db-(\d+)\.db$`).FindStringSubmatch(dbPath)
	if m == nil {
		return fmt.Errorf("-load %s: give a database the harness kept (…/db-N.db, from -keep)", dbPath)
	}
	lots, _ := strconv.Atoi(m[1])
	work, err := os.MkdirTemp("", "celltrack-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg := loadConfig{db: dbPath, lots: lots, clients: clients, checks: checks, writes: writes, cliRuns: cliRuns, cliPar: cliPar, rate: rate,
		phaseLimit: phaseLimit, workDir: work, celltrack: filepath.Join(work, "celltrack")}
	if msg, err := shipbuild.Command(cfg.celltrack, "./cmd/celltrack").CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", shipbuild.Line(cfg.celltrack, "./cmd/celltrack"), err, msg)
	}
	return cfg.run()
}

// loadResult is one phase's figures.
type loadResult struct {
	name      string
	n, failed int
	wall      time.Duration
	lat       []time.Duration
	cpu       time.Duration // the server's CPU time (user + system) during the phase
}

func (r loadResult) row() string {
	if r.n == 0 {
		return fmt.Sprintf("| %s | 0 | %d failed | | | | |", r.name, r.failed)
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	cpu := ""
	if r.cpu > 0 {
		cpu = fmt.Sprintf(" %.2f ms |", float64(r.cpu.Microseconds())/1000/float64(r.n))
	}
	return fmt.Sprintf("| %s | %d | %.0f/s | %s | %s | %s | %d |%s", r.name, r.n, float64(r.n)/r.wall.Seconds(), ms(q(0.50)), ms(q(0.99)), ms(s[len(s)-1]), r.failed, cpu)
}

func (cfg loadConfig) run() error {
	b := &bench{dir: cfg.workDir, celltrack: cfg.celltrack}
	if err := b.login(cfg.db, "alice", "nina", "aud"); err != nil {
		return err
	}
	bag := checkBagCode(b, cfg.db)
	infusions, err := cfg.infusions(b)
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# celltrack load, %s\n\n%s lots (%s), %d clients, %s, nproc %d; load average at start %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), strconv.Itoa(cfg.lots), cfg.db, cfg.clients, cpuModel(), runtime.NumCPU(),
		strings.Join(strings.Fields(string(load))[:3], " "))

	srv, err := startServer(b, cfg.db)
	if err != nil {
		return err
	}
	defer srv.kill()
	fmt.Printf("server: %s, pid %d; RSS after start %s\n\n", srv.url, srv.cmd.Process.Pid, srv.memory())

	start := time.Now()
	cs, err := loginClients(srv.url, cfg.clients, "nina")
	if err != nil {
		return err
	}
	fmt.Printf("%d API logins (8 at a time) in %s; server RSS %s\n\n", cfg.clients, time.Since(start).Round(time.Millisecond), srv.memory())

	checkBody := func(int) string { return fmt.Sprintf(`{"mrn":"MRN-CHECK","containers":[%q]}`, bag) }
	reactionBody := func(i int) string {
		return fmt.Sprintf(`{"infusion":%q,"grade":1,"text":"load test: fever 38.%d °C"}`, infusions[i%len(infusions)], i%10)
	}
	run := time.Now().UnixNano() % 1_000_000
	// Every registration, warm-up included, a new MRN.
	var patients atomic.Int64
	patientBody := func(int) string {
		return fmt.Sprintf(`{"mrn":"LOAD-%06d-%06d","name":"Load Test","born":"1980-01-01","sex":"F"}`, run, patients.Add(1))
	}
	var rs []loadResult
	phase := func(name string, clients []*http.Client, n int, rate float64, path string, body func(int) string, want int) {
		// A short warm-up per client (connections, caches) is not counted.
		hammer(srv.url, clients, len(clients), 0, path, body, want, time.Minute)
		cpu := srv.cpu()
		r := hammer(srv.url, clients, n, rate, path, body, want, cfg.phaseLimit)
		r.name, r.cpu = name, srv.cpu()-cpu
		rs = append(rs, r)
		fmt.Fprintf(os.Stderr, "benchharness: %s: %d in %s, RSS %s\n", name, r.n, r.wall.Round(time.Millisecond), srv.memory())
	}
	// Closed loop: each client sends its next request when the last is
	// answered — the most the server does. Open loop (offered rate): the
	// clients together send cfg.rate requests a second on a fixed
	// schedule, as tablets on a ward do, whatever the answers' delay; a
	// latency counts from the request's scheduled time, so a server that
	// falls behind is not flattered by the requests it delayed.
	phase(fmt.Sprintf("`POST /api/v1/dose/check`, %d clients, closed loop", cfg.clients), cs, cfg.checks, 0, "/api/v1/dose/check", checkBody, http.StatusOK)
	phase(fmt.Sprintf("`POST /api/v1/dose/check`, %d clients, %.0f/s offered", cfg.clients, cfg.rate), cs, cfg.checks, cfg.rate, "/api/v1/dose/check", checkBody, http.StatusOK)
	phase("`POST /api/v1/dose/check`, 1 client", cs[:1], cfg.checks/10, 0, "/api/v1/dose/check", checkBody, http.StatusOK)
	phase(fmt.Sprintf("`POST /api/v1/dose/reaction` (write), %d clients, closed loop", cfg.clients), cs, cfg.writes, 0, "/api/v1/dose/reaction", reactionBody, http.StatusCreated)
	phase(fmt.Sprintf("`POST /api/v1/dose/reaction` (write), %d clients, %.0f/s offered", cfg.clients, cfg.rate/2), cs, cfg.writes, cfg.rate/2, "/api/v1/dose/reaction", reactionBody, http.StatusCreated)
	phase("`POST /api/v1/dose/reaction` (write), 1 client", cs[:1], cfg.writes/10, 0, "/api/v1/dose/reaction", reactionBody, http.StatusCreated)
	phase(fmt.Sprintf("`POST /api/v1/patients` (write), %d clients, closed loop", cfg.clients), cs, cfg.writes/5, 0, "/api/v1/patients", patientBody, http.StatusCreated)
	phase("`POST /api/v1/patients` (write), 1 client", cs[:1], cfg.writes/50, 0, "/api/v1/patients", patientBody, http.StatusCreated)
	mem := srv.memory()

	fmt.Println("Over loopback, HTTP keep-alive, one connection per client; each write is acknowledged after its commit;")
	fmt.Println("server CPU is the server process's user + system time in the phase over its requests:")
	fmt.Println()
	fmt.Println("| phase | requests | throughput | p50 | p99 | max | failed | server CPU per request |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Println(r.row())
	}
	fmt.Printf("\nserver memory after the phases: %s; Go heap (GODEBUG=gctrace=1): %s\n\n", mem, srv.heap())

	// The CLI as a client of the server, a process per command.
	remote := &bench{dir: filepath.Join(cfg.workDir, "remote"), celltrack: cfg.celltrack}
	env := []string{"CELLTRACK_SERVER=" + srv.url}
	if _, err := remote.ctEnv(env, cfg.db, benchPassword+"\n", "login", "--password-stdin", "nina"); err != nil {
		return err
	}
	checkArgs := []string{"--user", "nina", "dose", "check", "--container", bag, "MRN-CHECK"}
	writeArgs := func(i int) []string {
		return []string{"--user", "nina", "dose", "reaction", "--infusion", infusions[(i*7)%len(infusions)], "--grade", "1", "--text", "load test: CLI"}
	}
	var cli []loadResult
	cli = append(cli, remote.procs("`dose check` through the server", env, cfg.db, cfg.cliRuns, 1, func(int) []string { return checkArgs }))
	cli = append(cli, remote.procs("`dose reaction` through the server", env, cfg.db, cfg.cliRuns, 1, writeArgs))
	cli = append(cli, remote.procs(fmt.Sprintf("`dose check` through the server, %d at once", cfg.cliPar), env, cfg.db, cfg.cliRuns*2, cfg.cliPar, func(int) []string { return checkArgs }))
	cli = append(cli, remote.procs(fmt.Sprintf("`dose reaction` through the server, %d at once", cfg.cliPar), env, cfg.db, cfg.cliRuns*2, cfg.cliPar, writeArgs))
	if err := srv.stop(); err != nil {
		return err
	}
	cli = append(cli, b.procs("`dose check` on the file", nil, cfg.db, cfg.cliRuns, 1, func(int) []string { return checkArgs }))
	cli = append(cli, b.procs("`dose reaction` on the file", nil, cfg.db, cfg.cliRuns, 1, writeArgs))
	cli = append(cli, b.procs(fmt.Sprintf("`dose check` on the file, %d at once", cfg.cliPar), nil, cfg.db, cfg.cliRuns*2, cfg.cliPar, func(int) []string { return checkArgs }))
	cli = append(cli, b.procs(fmt.Sprintf("`dose reaction` on the file, %d at once", cfg.cliPar), nil, cfg.db, cfg.cliRuns*2, cfg.cliPar, writeArgs))
	fmt.Println("CLI commands, a whole process each (fork to exit), through the server (`CELLTRACK_SERVER`) and then on the file (server stopped):")
	fmt.Println()
	fmt.Println("| command | processes | throughput | p50 | p99 | max | failed |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range cli {
		fmt.Println(r.row())
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("\nload average at end %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	return nil
}

// infusions returns the ids of the infusions of the first released lots
// (98 each, at most 490), read with `trace lot --json`: the reactions the
// load records are spread over them, so no infusion's list of reactions
// grows long enough to slow its writes.
func (cfg loadConfig) infusions(b *bench) ([]string, error) {
	re := regexp.MustCompile(`"infusion": "([0-9a-f-]{36})"`)
	var ids []string
	for i := releasedEvery / 2; i < cfg.lots && len(ids) < 5*bagsPerRelease; i += releasedEvery {
		cmd := exec.Command(b.celltrack, "--db", cfg.db, "--user", "aud", "--json", "trace", "lot", lotNumber(i))
		cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=", "CELLTRACK_SERVER=", "CELLTRACK_CONFIG_DIR="+b.configDir([]string{"--user", "aud"}))
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("trace lot %s: %v", lotNumber(i), err)
		}
		for _, m := range re.FindAllSubmatch(out, -1) {
			ids = append(ids, string(m[1]))
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s has no infusions to record reactions on", cfg.db)
	}
	return ids, nil
}

// server is a running `celltrack serve`.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan error
	mu   sync.Mutex
	gc   []byte // the last gctrace line
	maxH int    // the largest live heap after a GC, MB
}

// startServer starts `celltrack serve` on a free loopback port as alice,
// with GODEBUG=gctrace=1 so that its Go heap can be read from its stderr.
func startServer(b *bench, db string) (*server, error) {
	args := []string{"--user", "alice", "serve", "--addr", "127.0.0.1:0"}
	s := &server{cmd: exec.Command(b.celltrack, append([]string{"--db", db}, args...)...), done: make(chan error, 1)}
	s.cmd.Env = append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=", "CELLTRACK_SERVER=", "GODEBUG=gctrace=1", "CELLTRACK_CONFIG_DIR="+b.configDir(args))
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	heap := regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			if m := heap.FindSubmatch(line); m != nil {
				live, _ := strconv.Atoi(string(m[3]))
				s.mu.Lock()
				s.gc, s.maxH = append(s.gc[:0], line...), max(s.maxH, live)
				s.mu.Unlock()
			} else {
				os.Stderr.Write(append(append([]byte("serve: "), line...), '\n'))
			}
		}
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		at := regexp.MustCompile(` at (http://\S+) `)
		for sc.Scan() {
			if m := at.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() { s.done <- s.cmd.Wait() }()
	select {
	case s.url = <-urls:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("celltrack serve stopped before serving: %v", err)
	case <-time.After(2 * time.Minute):
		s.kill()
		return nil, fmt.Errorf("celltrack serve did not start within 2 minutes")
	}
}

// memory is the server's resident set now and at its peak (/proc).
func (s *server) memory() string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	var rss, hwm string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			rss = kbToMB(f[1])
		}
		if len(f) >= 2 && f[0] == "VmHWM:" {
			hwm = kbToMB(f[1])
		}
	}
	return fmt.Sprintf("%s (peak %s)", rss, hwm)
}

func kbToMB(kb string) string {
	n, _ := strconv.Atoi(kb)
	return fmt.Sprintf("%.0f MB", float64(n)/1024)
}

func (s *server) heap() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gc == nil {
		return "no GC ran"
	}
	return fmt.Sprintf("largest live heap after a GC %d MB; last GC: %s", s.maxH, s.gc)
}

// cpu is the server's CPU time so far (user + system, /proc/PID/stat).
func (s *server) cpu() time.Duration {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.Atoi(f[11])
	sys, _ := strconv.Atoi(f[12])
	return time.Duration(user+sys) * time.Second / 100 // USER_HZ
}

// stop sends SIGTERM and waits for the server to close the database.
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			return fmt.Errorf("celltrack serve: %v", err)
		}
		return nil
	case <-time.After(time.Minute):
		s.kill()
		return fmt.Errorf("celltrack serve did not stop within a minute of SIGTERM")
	}
}

func (s *server) kill() {
	select {
	case err := <-s.done:
		s.done <- err
	default:
		s.cmd.Process.Kill()
	}
}

// loginClients logs n API clients in as user, each with its cookie jar and
// its own connection, at most 8 at a time (each login hashes the password
// with argon2id, 19 MiB apiece).
func loginClients(url string, n int, user string) ([]*http.Client, error) {
	cs := make([]*http.Client, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range cs {
		jar, _ := cookiejar.New(nil)
		cs[i] = &http.Client{Jar: jar, Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			st, body, err := post(cs[i], url, "/api/v1/login", fmt.Sprintf(`{"user":%q,"password":%q}`, user, benchPassword))
			if err == nil && st != http.StatusOK {
				err = fmt.Errorf("login %d: %d %s", i, st, body)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return cs, nil
}

func post(c *http.Client, url, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Origin", url)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// hammer sends n requests from the clients at once, each client sending its
// next request when the last is answered, until n are sent or limit passes.
// A request that does not get the status want counts as failed (the first
// few are printed).
//
// With rate > 0 the clients send on a schedule instead: request i is due at
// start + i/rate, client i mod len(clients) sends it, and its latency counts
// from when it was due.
func hammer(url string, clients []*http.Client, n int, rate float64, path string, body func(int) string, want int, limit time.Duration) loadResult {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var next, failed atomic.Int64
	lats := make([][]time.Duration, len(clients))
	var printed atomic.Int32
	start := time.Now()
	var wg sync.WaitGroup
	for ci, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ctx.Err() == nil; k++ {
				i := int(next.Add(1)) - 1
				if rate > 0 {
					i = k*len(clients) + ci
				}
				if i >= n {
					return
				}
				t0 := time.Now()
				if rate > 0 {
					t0 = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					time.Sleep(time.Until(t0))
				}
				st, data, err := post(c, url, path, body(i))
				d := time.Since(t0)
				if err != nil || st != want {
					failed.Add(1)
					if printed.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "benchharness: %s: %d %v %s\n", path, st, err, bytes.TrimSpace(data))
					}
					continue
				}
				lats[ci] = append(lats[ci], d)
			}
		}()
	}
	wg.Wait()
	r := loadResult{wall: time.Since(start), failed: int(failed.Load())}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	r.n = len(r.lat)
	return r
}

// ctEnv is ct with more environment (CELLTRACK_SERVER).
func (b *bench) ctEnv(env []string, db, stdin string, args ...string) (time.Duration, error) {
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "CELLTRACK_SERVER=") }) {
		// Through a server the server's database is used: celltrack
		// refuses --db beside CELLTRACK_SERVER.
		args = append([]string{"--db", db}, args...)
	}
	cmd := exec.Command(b.celltrack, args...)
	cmd.Env = append(append(os.Environ(), "CELLTRACK_USER=", "CELLTRACK_DB=", "CELLTRACK_SERVER=", "CELLTRACK_CONFIG_DIR="+b.configDir(args)), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return b.timed(cmd)
}

// procs runs n celltrack processes, par at a time, and times each.
func (b *bench) procs(name string, env []string, db string, n, par int, args func(int) []string) loadResult {
	var mu sync.Mutex
	r := loadResult{name: name}
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bb := &bench{dir: b.dir, celltrack: b.celltrack}
			for time.Since(start) < phaseLimit {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d, err := bb.ctEnv(env, db, "", args(i)...)
				mu.Lock()
				if err != nil {
					if r.failed++; r.failed <= 3 {
						fmt.Fprintln(os.Stderr, "benchharness:", err)
					}
				} else {
					r.lat = append(r.lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.wall, r.n = time.Since(start), len(r.lat)
	return r
}
