package web

import (
	"strings"
	"testing"
)

// A --server value with a password in it is refused without printing the
// password, whether it parses or not (review 20, fix20c's noticed item).
func TestNewClientNeverPrintsAURLPassword(t *testing.T) {
	for _, raw := range []string{
		"https://nurse:Secret-pw-1@ward.example:8443",
		"https://nurse:Secret-pw-1@ward.example:8443/api",
		"ftp://nurse:Secret-pw-1@ward.example",
		"https://nurse:Secret-pw-1%zz@ward.example:8443",
	} {
		_, err := NewClient(raw, nil, "")
		if err == nil {
			t.Fatalf("NewClient(%q) accepted", raw)
		}
		if msg := err.Error(); strings.Contains(msg, "Secret-pw-1") || !strings.Contains(msg, "--server") {
			t.Errorf("NewClient(%q): %s", raw, msg)
		}
	}
}
