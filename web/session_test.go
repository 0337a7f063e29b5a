package web

import (
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
)

// Sessions end after the idle time without a request and after the
// absolute time however busy they are; a request inside the idle time
// keeps a session alive; revoking ends it at once.
func TestMemorySessionsExpiry(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		name  string
		steps []time.Duration // wait, then look up
		alive []bool
	}{
		{"used within the idle time", []time.Duration{14 * time.Minute, 14 * time.Minute, 14 * time.Minute}, []bool{true, true, true}},
		{"idle 15 minutes", []time.Duration{15 * time.Minute}, []bool{false}},
		{"idle after use", []time.Duration{10 * time.Minute, 15 * time.Minute}, []bool{true, false}},
		{"busy past 12 hours", append(repeat(10*time.Minute, 71), 10*time.Minute), append(repeatBool(true, 71), false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := NewMemorySessions(DefaultIdle, DefaultAbsolute, clock)
			tok, err := ms.Start("nina")
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range tc.steps {
				now = now.Add(d)
				s, err := ms.Lookup(tok)
				if got := err == nil; got != tc.alive[i] {
					t.Fatalf("step %d (+%s): alive %v, want %v (%v)", i, d, got, tc.alive[i], err)
				}
				if err == nil && s.User != "nina" {
					t.Fatalf("session of %q", s.User)
				}
				if err != nil && lot.ErrorCode(err) != lot.ENOTFOUND {
					t.Fatalf("expired session: %v", err)
				}
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func repeatBool(b bool, n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// Tokens are long, random and never kept: the table holds only hashes, so
// a dump of the server's memory yields no usable cookie.
func TestMemorySessionsKeepOnlyHashes(t *testing.T) {
	ms := NewMemorySessions(DefaultIdle, DefaultAbsolute, nil)
	a, _ := ms.Start("nina")
	b, _ := ms.Start("nina")
	if a == b || len(a) < 43 {
		t.Fatalf("tokens %q and %q", a, b)
	}
	for k := range ms.m {
		if strings.Contains(string(k[:]), a) || strings.Contains(string(k[:]), b) {
			t.Fatal("a token is stored in clear")
		}
	}
	ms.Revoke(a)
	if _, err := ms.Lookup(a); err == nil {
		t.Error("a revoked token still opens its session")
	}
	if _, err := ms.Lookup(b); err != nil {
		t.Error("revoking one session ended another")
	}
}
