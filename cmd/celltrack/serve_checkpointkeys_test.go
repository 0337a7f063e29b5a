package main

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// The checkpoint endpoints refuse over HTTP what the command line refuses,
// writing nothing, even from a client that skips the command line's own
// checks: a signing key sent as a verifier (and never echoed), a role that
// may not, a checkpoint larger than a file a local run reads, and a body
// larger than the endpoint takes.
func TestServeCheckpointEndpointsRefuse(t *testing.T) {
	f := newWebFixture(t, false, "lab")
	skey, vkey, err := note.GenerateKey(rand.Reader, "ward")
	if err != nil {
		t.Fatal(err)
	}
	admin, aud := f.client(), f.client()
	f.login(admin, "alice")
	f.login(aud, "aud")
	before := f.auditCount()

	st, m := f.postJSON(admin, "/api/v1/svc/checkpoints/keys", map[string]any{"Verifier": skey})
	if exitOf(m) != exitRefused || strings.Contains(lower(m), "private+key+ward+") {
		t.Errorf("a signing key registered: %d %v, want exit 3 without the key", st, m)
	}
	st, m = f.postJSON(aud, "/api/v1/svc/checkpoints/keys", map[string]any{"Verifier": vkey})
	if st != http.StatusForbidden || exitOf(m) != exitRefused {
		t.Errorf("an auditor registering a key: %d %v, want 403 exit 3", st, m)
	}
	st, m = f.postJSON(aud, "/api/v1/svc/checkpoints/keys/rotation", map[string]any{"Verifier": vkey, "Reason": "yearly", "Password": fixturePassword})
	if st != http.StatusForbidden || exitOf(m) != exitRefused {
		t.Errorf("an auditor rotating the key: %d %v, want 403 exit 3", st, m)
	}
	big := map[string]any{"Kept": []map[string]any{{"Name": "big.checkpoint", "Note": make([]byte, 4097)}}}
	st, m = f.postJSON(aud, "/api/v1/svc/checkpoints/verification", big)
	if exitOf(m) != exitRefused || !strings.Contains(lower(m), "larger than 4096 bytes") {
		t.Errorf("a checkpoint of 4097 bytes: %d %v, want exit 3 naming the limit", st, m)
	}
	huge := map[string]any{"Kept": []map[string]any{{"Name": strings.Repeat("w", 17<<20)}}}
	st, m = f.postJSON(aud, "/api/v1/svc/checkpoints/verification", huge)
	if st != http.StatusRequestEntityTooLarge {
		t.Errorf("a body of 17 MiB: %d %v, want 413", st, m)
	}
	if n := f.auditCount(); n != before {
		t.Errorf("the refusals wrote %d audit entries", n-before)
	}

	// What is allowed answers as the command line prints it.
	st, m = f.postJSON(admin, "/api/v1/svc/checkpoints/keys", map[string]any{"Verifier": vkey})
	if st != http.StatusOK || m["Verifier"] != vkey || m["AddedBy"] != "alice" {
		t.Errorf("register: %d %v", st, m)
	}
	st, body := f.get(aud, "/api/v1/svc/checkpoints/keys")
	if st != http.StatusOK || !strings.Contains(body, vkey) {
		t.Errorf("list: %d %s", st, body)
	}
	st, m = f.postJSON(aud, "/api/v1/svc/checkpoints/verification", map[string]any{"Kept": []any{}})
	if st != http.StatusOK || m["Problems"] != nil {
		t.Errorf("verify with no checkpoints: %d %v", st, m)
	}
}

func lower(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return strings.ToLower(s)
}
