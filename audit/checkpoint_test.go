package audit

import (
	"crypto/sha256"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestLeafHashIsTlogs: the tree's leaves must stay tlog's record hashes,
// or no proof tlog makes over the stored tree would check.
func TestLeafHashIsTlogs(t *testing.T) {
	for _, s := range []string{"", "entry 1", "entry 2"} {
		h := sha256.Sum256([]byte(s))
		if got, want := LeafHash(h), tlog.RecordHash(h[:]); got != want {
			t.Errorf("LeafHash(%x) = %x, tlog.RecordHash gives %x", h, got, want)
		}
	}
}
