//go:build unix

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 11's stop with a long read in flight: a client downloads the whole
// audit log and stops reading, as a slow link or a stalled browser does.
// SIGTERM, and after --stop-grace the server cuts the download (its
// client gets a log without its end, never one that looks whole), logs
// what it cut, closes the database and exits 0; every write it
// acknowledged is in the file, which checks OK. Without the cut the server
// waited on the download past any grace.
func TestServeProcessStopCutsALongDownload(t *testing.T) {
	p := newProcDB(t)
	// 12,000 lots: a download of about 9 MB, more than loopback's socket
	// buffers hold (4 MB at most for the server's), so the server is still
	// writing when the client stalls.
	var csv strings.Builder
	csv.WriteString("lot_number,source,donor,cells,viability,volume_ml,manufactured,expires\n")
	made, expires := time.Now().UTC().AddDate(0, 0, -5).Format("2006-01-02"), time.Now().UTC().AddDate(1, 0, 0).Format("2006-01-02")
	for i := range 12_000 {
		fmt.Fprintf(&csv, "LOT-S%05d,uc,D-1,2e9,95,100,%s,%s\n", i, made, expires)
	}
	file := filepath.Join(t.TempDir(), "lots.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p.must("", "--user", "liu", "lot", "import", "--csv", file)

	sp := p.startServe("--addr", "127.0.0.1:0", "--stop-grace", "1s")
	cmd, url := sp.cmd, sp.url
	jar, _ := cookiejar.New(nil)
	// A client that reads 4 KB at a time into a small socket buffer.
	c := &http.Client{Jar: jar, Transport: &http.Transport{DialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext, ReadBufferSize: 4096}}
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/login", strings.NewReader(`{"user":"liu","password":"`+strings.TrimSpace(procPassword)+`"}`))
	req.Header.Set("Origin", url)
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close() // acknowledged: the login is recorded

	resp, err = c.Get(url + "/reports/audit-log/download?format=json")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %v %v", resp, err)
	}
	defer resp.Body.Close()
	head := make([]byte, 1024)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatalf("the download's first bytes: %v", err)
	}
	// The client stalls; the server stops.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		for sp.lines.Scan() {
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\nstderr: %s", err, sp.stderr.String())
		}
	case <-time.After(3 * time.Minute): // "it exits", not how fast
		t.Fatalf("serve did not exit after SIGTERM with a download stalled\nstderr: %s", sp.stderr.String())
	}
	if log := sp.stderr.String(); !regexp.MustCompile(`stopping: GET /reports/audit-log/download from 127\.0\.0\.1:\d+, running \d+s when the 1s grace ended: cut\n`).MatchString(log) {
		t.Errorf("the log does not name the download cut:\n%s", log)
	}
	rest, _ := io.ReadAll(resp.Body)
	t.Logf("the client read %d bytes of the download", len(head)+len(rest))
	if got := string(head) + string(rest); strings.HasSuffix(got, "\n]\n") {
		t.Errorf("the cut download ends as a whole log does (%d bytes)", len(got))
	}
	if out := p.must("", "--user", "alice", "check"); !strings.Contains(out, "OK") {
		t.Errorf("check after the stop:\n%s", out)
	}
	if out := p.must("", "--user", "alice", "audit", "log", "--entity", "liu"); strings.Count(out, " login ") < 2 {
		t.Errorf("the web login acknowledged before the stop is not in the trail (liu's command-line login and the web's):\n%s", out)
	}
}

// smallReceiveBuffer gives a client's socket a 4 KB receive buffer.
func smallReceiveBuffer(network, address string, c syscall.RawConn) error {
	var err error
	c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	return err
}
