package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// The server's CPU for a PostgreSQL import (issue 14): celltrack's own CPU
// is its rusage, but the rows' insertion, indexes, foreign keys and WAL
// are the backend's, another process. Where the server runs on this
// machine, the backends of a database show in /proc as "postgres: ROLE
// DBNAME …"; their user + system time is read from /proc/PID/stat every
// few milliseconds while the import runs, and the last reading of each
// kept (a backend's time cannot be read once it has exited: up to one
// interval of its work is missed). Nothing is reported (0) where /proc
// is absent or shows no such process — a server on another host.

// backendInterval is how often the backends are read.
const backendInterval = 5 * time.Millisecond

// clockTick is /proc's unit of CPU time (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// backendCPU starts reading the CPU of database db's backends; stop ends
// it and returns their total.
func backendCPU(db string) (stop func() time.Duration) {
	done, result := make(chan struct{}), make(chan time.Duration)
	go func() {
		mark := []byte(" " + db + " ")
		cpu := map[string]time.Duration{} // the backends, by pid
		other := map[string]bool{}        // pids that are not
		read := func() {
			d, err := os.Open("/proc")
			if err != nil {
				return
			}
			names, _ := d.Readdirnames(-1)
			d.Close()
			for _, pid := range names {
				if pid[0] < '0' || pid[0] > '9' || other[pid] {
					continue
				}
				if _, ok := cpu[pid]; !ok {
					cmd, err := os.ReadFile("/proc/" + pid + "/cmdline")
					if err != nil || !bytes.HasPrefix(cmd, []byte("postgres: ")) || !bytes.Contains(cmd, mark) {
						other[pid] = true
						continue
					}
				}
				if t, ok := statCPU(pid); ok {
					cpu[pid] = t
				}
			}
		}
		tick := time.NewTicker(backendInterval)
		defer tick.Stop()
		for {
			read()
			select {
			case <-done:
				var sum time.Duration
				for _, t := range cpu {
					sum += t
				}
				result <- sum
				return
			case <-tick.C:
			}
		}
	}()
	return func() time.Duration {
		close(done)
		return <-result
	}
}

// statCPU is the user + system time of process pid, from /proc/PID/stat.
func statCPU(pid string) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	k, err2 := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * clockTick, true
}
