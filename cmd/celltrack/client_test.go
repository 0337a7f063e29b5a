package main

import (
	"bytes"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Through an https server whose certificate a private CA signed: refused
// without CELLTRACK_SERVER_CA (nothing sent, exit 10 naming the
// certificate), accepted with it; the session file is 0600.
func TestClientHTTPSPrivateCA(t *testing.T) {
	dir := t.TempDir()
	db := baseCopy(t, dir, "")
	var requests atomic.Int64
	srv := httptest.NewTLSServer(storyServer(db, &requests))
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "home-aud")
	run := func(caFile, stdin string, args ...string) invocation {
		env := map[string]string{"CELLTRACK_CONFIG_DIR": cfg, "CELLTRACK_SERVER_CA": caFile}
		var out, errb bytes.Buffer
		code := runEnv(append([]string{"celltrack", "--server", srv.URL}, args...), strings.NewReader(stdin), &out, &errb, fixedClock(), func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return os.Getenv(k)
		})
		return invocation{code, out.String(), errb.String()}
	}
	got := run("", fixturePassword+"\n", "login", "--password-stdin", "aud")
	if got.code != 10 || !strings.Contains(got.stderr, "certificate") {
		t.Fatalf("without the CA: exit %d, stderr %q; want 10 naming the certificate", got.code, got.stderr)
	}
	if requests.Load() != 0 {
		t.Fatalf("%d requests reached the server over an unverified connection", requests.Load())
	}
	got = run(ca, fixturePassword+"\n", "login", "--password-stdin", "aud")
	if got.code != 0 || !strings.HasPrefix(got.stdout, "logged in as aud (Ada Auditor, auditor) to "+srv.URL+" until ") {
		t.Fatalf("login with the CA: exit %d\nstdout %s\nstderr %s", got.code, got.stdout, got.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(cfg, "server-*.json"))
	if len(files) != 1 {
		t.Fatalf("session files %v, want one", files)
	}
	if st, err := os.Stat(files[0]); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session file %s: %v %v, want 0600", files[0], st.Mode(), err)
	}
	got = run(ca, "", "--user", "aud", "trace", "donor", "D-0001")
	if got.code != 0 || !strings.Contains(got.stdout, "Look-back trace of donor D-0001") {
		t.Fatalf("trace: exit %d\nstdout %s\nstderr %s", got.code, got.stdout, got.stderr)
	}
}
