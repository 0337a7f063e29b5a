package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/internal/shipbuild"
)

// loadSharedMain puts several `celltrack serve` processes on one PostgreSQL
// database the harness kept (-engines postgres -keep: …/ctbench_db_N) and
// sends them bedside checks and reactions from clients split evenly among
// them — sites sharing one database. Then `audit verify` checks that the
// chain the servers appended to together is whole, and the reactions
// counted in it are every one acknowledged.
func loadSharedMain(dbURL string, servers, clients, checks, writes int) error {
	m := regexp.MustCompile(`ctbench_db_(\d+)(\?|$)`).FindStringSubmatch(dbURL)
	if m == nil {
		return fmt.Errorf("-load %s: give a PostgreSQL database the harness kept (…/ctbench_db_N, from -engines postgres -keep)", dbURL)
	}
	lots, _ := strconv.Atoi(m[1])
	work, err := os.MkdirTemp("", "celltrack-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{dir: work, celltrack: filepath.Join(work, "celltrack")}
	if msg, err := shipbuild.Command(b.celltrack, "./cmd/celltrack").CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", shipbuild.Line(b.celltrack, "./cmd/celltrack"), err, msg)
	}
	cfg := loadConfig{db: dbURL, lots: lots}
	if err := b.login(dbURL, "alice", "nina", "aud"); err != nil {
		return err
	}
	bag := checkBagCode(b, dbURL)
	infusions, err := cfg.infusions(b)
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# celltrack load on PostgreSQL, %s\n\n%d lots, %d servers on one database, %d clients split among them, %s, nproc %d; load average at start %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), lots, servers, clients, cpuModel(), runtime.NumCPU(),
		strings.Join(strings.Fields(string(load))[:3], " "))
	var srvs []*server
	var urls []string
	for range servers {
		s, err := startServer(b, dbURL)
		if err != nil {
			return err
		}
		defer s.kill()
		srvs, urls = append(srvs, s), append(urls, s.url)
	}
	// Client i logs in to, and then talks to, server i mod servers.
	cs := make([]*http.Client, 0, clients)
	for i, u := range urls {
		n := clients / servers
		if i < clients%servers {
			n++
		}
		got, err := loginClients(u, n, "nina")
		if err != nil {
			return err
		}
		cs = append(cs, got...)
	}
	// Interleave so that client i belongs to urls[i mod servers].
	ordered := make([]*http.Client, len(cs))
	per := make([]int, servers)
	off := make([]int, servers)
	for i := 1; i < servers; i++ {
		off[i] = off[i-1] + clients/servers
		if i-1 < clients%servers {
			off[i]++
		}
	}
	for i := range ordered {
		s := i % servers
		ordered[i] = cs[off[s]+per[s]]
		per[s]++
	}
	// The entries before the phases, after the logins (which write).
	entriesBefore, err := b.auditCount(dbURL)
	if err != nil {
		return err
	}
	cpu := func() time.Duration {
		var d time.Duration
		for _, s := range srvs {
			d += s.cpu()
		}
		return d
	}
	checkBody := func(int) string { return fmt.Sprintf(`{"mrn":"MRN-CHECK","containers":[%q]}`, bag) }
	reactionBody := func(i int) string {
		return fmt.Sprintf(`{"infusion":%q,"grade":1,"text":"shared load: fever 38.%d °C"}`, infusions[i%len(infusions)], i%10)
	}
	var rs []loadResult
	var written int
	phase := func(name string, clients []*http.Client, n int, path string, body func(int) string, want int) {
		hammer(urls, clients, len(clients), 0, path, body, want, time.Minute)
		if path == "/api/v1/dose/reaction" {
			written += len(clients)
		}
		c := cpu()
		r := hammer(urls, clients, n, 0, path, body, want, phaseLimit)
		r.name, r.cpu = name, cpu()-c
		if path == "/api/v1/dose/reaction" {
			written += r.n
		}
		rs = append(rs, r)
		fmt.Fprintf(os.Stderr, "benchharness: %s: %d in %s\n", name, r.n, r.wall.Round(time.Millisecond))
	}
	phase(fmt.Sprintf("`POST /api/v1/dose/check`, %d clients on %d servers, closed loop", clients, servers), ordered, checks, "/api/v1/dose/check", checkBody, http.StatusOK)
	phase("`POST /api/v1/dose/check`, 1 client", ordered[:1], checks/10, "/api/v1/dose/check", checkBody, http.StatusOK)
	phase(fmt.Sprintf("`POST /api/v1/dose/reaction` (write), %d clients on %d servers, closed loop", clients, servers), ordered, writes, "/api/v1/dose/reaction", reactionBody, http.StatusCreated)
	phase("`POST /api/v1/dose/reaction` (write), 1 client", ordered[:1], writes/10, "/api/v1/dose/reaction", reactionBody, http.StatusCreated)
	for _, s := range srvs {
		if err := s.stop(); err != nil {
			return err
		}
	}
	fmt.Println("Over loopback, HTTP keep-alive, one connection per client; each write acknowledged after its commit;")
	fmt.Println("server CPU is all servers' user + system time in the phase over its requests (PostgreSQL's own CPU not included):")
	fmt.Println()
	fmt.Println("| phase | requests | throughput | p50 | p99 | max | failed | server CPU per request |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Println(r.row())
	}
	after, err := b.auditCount(dbURL)
	if err != nil {
		return fmt.Errorf("audit verify after the load: %w", err)
	}
	fmt.Printf("\n`audit verify` after the load: the chain is whole; %d audit entries before, %d after: %d new for %d acknowledged reactions\n",
		entriesBefore, after, after-entriesBefore, written)
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("\nload average at end %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	return nil
}

// auditCount runs `audit verify` (an error when the chain is broken) and
// returns the number of entries it checked.
func (b *bench) auditCount(db string) (int, error) {
	if _, err := b.ct(db, "", "--user", "aud", "audit", "verify"); err != nil {
		return 0, err
	}
	return b.auditEntries(db), nil
}
