package kvtest_test

import (
	"path/filepath"
	"testing"

	"github.com/celltrack/celltrack/store/boltkv"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/kv/kvtest"
)

// TestBolt runs the conformance suite on the file engine (pgkv's tests run
// it on PostgreSQL).
func TestBolt(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		e, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}
