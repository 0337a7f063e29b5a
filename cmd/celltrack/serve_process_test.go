package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// The real binary serving a file: it prints its address; a local command
// on the file says a server holds it and where; SIGTERM lets a request in
// flight finish (a wrong login password, held a second), then the server
// stops, removes its server file and closes the database, which the next
// command opens and checks.
func TestServeProcessSIGTERM(t *testing.T) {
	p := newProcDB(t)
	sp := p.startServe("--addr", "127.0.0.1:0")
	cmd, lines, stderr, url := sp.cmd, sp.lines, sp.stderr, sp.url
	if m := regexp.MustCompile(`^celltrack serve: (.*) at (http://127\.0\.0\.1:[0-9]+) \(SIGINT or SIGTERM stops\)$`).FindStringSubmatch(sp.line); m == nil || m[1] != p.db {
		t.Fatalf("start-up line %q", sp.line)
	}
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
	if out := p.must("", "--user", "alice", "check"); !strings.Contains(out, "OK") {
		t.Errorf("check after the server stopped:\n%s", out)
	}
	// The refused login in flight was recorded, as every wrong password is.
	if out := p.must("", "--user", "alice", "audit", "log", "--json"); !strings.Contains(out, "wrong password at login") {
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

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files in dir, and returns a pool that trusts it.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ward test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "ward.crt"), filepath.Join(dir, "ward.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With --tls-cert and --tls-key the real binary serves HTTPS (it may then
// bind beyond loopback), and the session cookie is __Host-, Secure,
// HttpOnly and SameSite=Strict.
func TestServeProcessTLS(t *testing.T) {
	p := newProcDB(t)
	certFile, keyFile, pool := writeTestCert(t, t.TempDir())
	sp := p.startServe("--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	defer func() { sp.cmd.Process.Signal(syscall.SIGTERM); sp.cmd.Wait() }()
	if !strings.HasPrefix(sp.url, "https://") {
		t.Fatalf("start-up line %q does not give an https URL", sp.line)
	}
	m := []string{sp.line, sp.url}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, m[1]+"/api/v1/login", strings.NewReader(`{"user":"nina","password":"`+strings.TrimSpace(procPassword)+`"}`))
	req.Header.Set("Origin", m[1])
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login over TLS: %d", resp.StatusCode)
	}
	ck := sessionCookie(t, resp)
	if ck.Name != "__Host-celltrack_session" || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie over TLS: %+v", ck)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("no Strict-Transport-Security over TLS")
	}
}

// SIGKILL of the server in the middle of a stream of writes through the API
// (logins by four clients at once: each is a durable write, an audit entry
// and a session record, acknowledged by 200): every acknowledged login is in
// the file afterwards, and the file passes check and audit verify.
func TestServeProcessSIGKILLKeepsAcknowledgedWrites(t *testing.T) {
	p := newProcDB(t)
	sp := p.startServe("--addr", "127.0.0.1:0")
	cmd, url := sp.cmd, sp.url
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/login", strings.NewReader(`{"user":"nina","password":"`+strings.TrimSpace(procPassword)+`"}`))
				req.Header.Set("Origin", url)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					acked.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for acked.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	wg.Wait()
	got := acked.Load()
	if got == 0 {
		t.Fatal("no login was acknowledged before the kill")
	}
	if out := p.must("", "--user", "alice", "check"); !strings.Contains(out, "OK") {
		t.Fatalf("check after SIGKILL:\n%s", out)
	}
	if out := p.must("", "--user", "alice", "audit", "verify"); !strings.Contains(out, "OK") {
		t.Fatalf("audit verify after SIGKILL:\n%s", out)
	}
	out := p.must("", "--user", "alice", "audit", "log", "--entity", "nina")
	// newProcDB logged nina in once at the command line.
	logins := int64(len(regexp.MustCompile(`(?m) nina +login +user `).FindAllStringIndex(out, -1)))
	if logins-1 < got {
		t.Errorf("%d logins acknowledged over HTTP, %d in the file after SIGKILL", got, logins-1)
	}
	t.Logf("%d logins acknowledged before SIGKILL; %d in the file", got, logins-1)
}

// TestServeProcessSIGKILLKeepsGroupCommittedWrites: clients register
// patients through the API at the same time, so that their writes share
// commits (store.DB.GroupCommit); the server is killed mid-stream. Every
// registration the server acknowledged is in the file, once, and the file
// and its audit trail check.
func TestServeProcessSIGKILLKeepsGroupCommittedWrites(t *testing.T) {
	p := newProcDB(t)
	sp := p.startServe("--addr", "127.0.0.1:0")
	cmd, url := sp.cmd, sp.url
	send := func(c *http.Client, path, body string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
		req.Header.Set("Origin", url)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	const clients = 8
	var mu sync.Mutex
	var acked []string
	var ready sync.WaitGroup
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range clients {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		if st, err := send(c, "/api/v1/login", `{"user":"nina","password":"`+strings.TrimSpace(procPassword)+`"}`); err != nil || st != http.StatusOK {
			t.Fatalf("login %d: %d %v", g, st, err)
		}
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mrn := fmt.Sprintf("K-%d-%d", g, i)
				st, err := send(c, "/api/v1/patients", `{"mrn":"`+mrn+`","name":"Kill Test","born":"1980-01-01","sex":"F"}`)
				if err != nil {
					return // the server is gone
				}
				if st == http.StatusCreated {
					mu.Lock()
					acked = append(acked, mrn)
					mu.Unlock()
				}
			}
		}()
	}
	ready.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 80 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no registration was acknowledged before the kill")
	}
	if out := p.must("", "--user", "alice", "check"); !strings.Contains(out, "OK") {
		t.Fatalf("check after SIGKILL:\n%s", out)
	}
	out := p.must("", "--user", "nina", "patient", "list")
	for _, mrn := range acked {
		if n := len(regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(mrn)+` `).FindAllString(out, -1)); n != 1 {
			t.Errorf("acknowledged patient %s is in the file %d times after SIGKILL", mrn, n)
		}
	}
	t.Logf("%d registrations acknowledged before SIGKILL, all in the file", len(acked))
}

// servingProcess is `celltrack serve` started by alice on a procDB's file:
// the command, its standard output after the start-up line, its standard
// error, the start-up line and the URL it printed.
type servingProcess struct {
	cmd       *exec.Cmd
	lines     *bufio.Scanner
	stderr    *bytes.Buffer
	line, url string
}

// startServe starts `celltrack serve` with args, waits for its start-up
// line and reads the URL from it; the process is killed when the test ends.
func (p procDB) startServe(args ...string) servingProcess {
	p.t.Helper()
	cmd := p.command("", append([]string{"--user", "alice", "serve"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		p.t.Fatalf("no start-up line; stderr: %s", stderr.String())
	}
	m := regexp.MustCompile(` at (https?://127\.0\.0\.1:[0-9]+) `).FindStringSubmatch(lines.Text())
	if m == nil {
		p.t.Fatalf("start-up line %q gives no URL", lines.Text())
	}
	return servingProcess{cmd: cmd, lines: lines, stderr: stderr, line: lines.Text(), url: m[1]}
}
