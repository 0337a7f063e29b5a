package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestFailedVerifyKeepsTheJSONContract: with --json, a failed `audit verify`
// or `check` writes its verdict as JSON on stdout and the JSON error object
// on stderr (exit 3), never plain text on stderr.
func TestFailedVerifyKeepsTheJSONContract(t *testing.T) {
	dir := t.TempDir()
	lab := labCopy(t, dir)
	data, err := os.ReadFile(lab)
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(damaged, bytes.ReplaceAll(data, []byte("Maternity ward 5"), []byte("Maternity ward 6")), 0o600); err != nil {
		t.Fatal(err)
	}
	copySessions(t, lab, damaged)
	for _, args := range [][]string{{"--user", "aud", "--json", "audit", "verify"}, {"--json", "check"}} {
		r := celltrack(damaged, "", args...)
		if r.code != exitRefused {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitRefused)
		}
		var out struct {
			OK       bool     `json:"ok"`
			Problems []string `json:"problems"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.OK || len(out.Problems) == 0 {
			t.Errorf("%v: stdout is not the failed verdict as JSON (%v):\n%s", args, err, r.stdout)
		}
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Exit    int    `json:"exit"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || e.Error.Code != "conflict" || e.Error.Exit != exitRefused || e.Error.Message == "" {
			t.Errorf("%v: stderr is not the JSON error object (%v):\n%s", args, err, r.stderr)
		}
	}
}
