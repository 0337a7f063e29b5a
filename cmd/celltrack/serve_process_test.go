package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/web"
)

// The real binary serving a file: it prints its address; a local command
// on the file says a server holds it and where; SIGTERM lets a request in
// flight finish (a wrong login password, held a second), then the server
// stops, removes its server file and closes the database, which the next
// command opens and checks.
func TestServeProcessSIGTERM(t *testing.T) {
	p := newProcDB(t)
	cmd := exec.Command(p.bin, "--db", p.db, "serve", "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("no start-up line; stderr: %s", stderr.String())
	}
	m := regexp.MustCompile(`^celltrack serve: (.*) at (http://127\.0\.0\.1:[0-9]+) \(SIGINT or SIGTERM stops\)$`).FindStringSubmatch(lines.Text())
	if m == nil || m[1] != p.db {
		t.Fatalf("start-up line %q", lines.Text())
	}
	url := m[2]
	resp, err := http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	busy := p.command("", "--lock-timeout", "300ms", "--user", "alice", "user", "list")
	var busyErr bytes.Buffer
	busy.Stderr = &busyErr
	err = busy.Run()
	if code := busy.ProcessState.ExitCode(); code != exitBusy {
		t.Errorf("local command on a served file: exit %d (%v), want %d", code, err, exitBusy)
	}
	want := "celltrack serve (pid " + strconv.Itoa(cmd.Process.Pid)
	if !strings.Contains(busyErr.String(), want) || !strings.Contains(busyErr.String(), "serves it at "+url) {
		t.Errorf("busy message does not name the server (%q, %s):\n%s", want, url, busyErr.String())
	}

	inFlight := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/login", strings.NewReader(`{"user":"nina","password":"wrong-password"}`))
		req.Header.Set("Origin", url)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inFlight <- 0
			return
		}
		resp.Body.Close()
		inFlight <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // the wrong password holds the request for a second
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := <-inFlight; st != http.StatusUnauthorized {
		t.Errorf("the request in flight at SIGTERM got %d, want its answer (401)", st)
	}
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(rest.String(), "stopped; "+p.db+" closed") {
		t.Errorf("no shutdown line:\n%s", rest.String())
	}
	if _, err := os.Stat(serverFilePath(p.db)); !os.IsNotExist(err) {
		t.Errorf("the server file is still there after a clean stop: %v", err)
	}
	if out := p.must("", "check"); !strings.Contains(out, "OK") {
		t.Errorf("check after the server stopped:\n%s", out)
	}
	// The refused login in flight was recorded, as every wrong password is.
	if out := p.must("", "--user", "alice", "audit", "log", "--json"); !strings.Contains(out, web.MeaningLogin) {
		t.Errorf("the refused web login is not in the audit trail")
	}
}

// A server file left by a server that is gone (killed) does not make a
// busy file look served; a live one does.
func TestServeStaleServerFile(t *testing.T) {
	db := t.TempDir() + "/ct.db"
	busy := lot.Errorf(lot.EBUSY, "database is busy: another celltrack process held %s", db)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no `true` to make a dead pid")
	}
	write := func(pid int) {
		data, _ := json.Marshal(serverFile{URL: "http://127.0.0.1:9", PID: pid, Started: time.Now()})
		if err := os.WriteFile(serverFilePath(db), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(dead.Process.Pid)
	if got := heldByServer(db, busy); got != error(busy) {
		t.Errorf("stale server file: %v", got)
	}
	write(os.Getpid())
	if got := lot.ErrorMessage(heldByServer(db, busy)); !strings.Contains(got, "serves it at http://127.0.0.1:9") {
		t.Errorf("live server file: %s", got)
	}
	if got := heldByServer(db, lot.Errorf(lot.ENODB, "no database")); lot.ErrorCode(got) != lot.ENODB {
		t.Errorf("a non-busy error was reworded: %v", got)
	}
}
