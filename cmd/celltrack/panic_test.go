package main

import (
	"bytes"
	"strings"
	"testing"
)

// panicWriter stands for a bug anywhere in a command: it panics on write.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("boom in stdout") }

// TestAPanicIsAnInternalError: a panic in a command exits 1 (internal) with
// the panic value and a stack on stderr — not Go's 2, which is celltrack's
// usage code and would tell a script its command line was wrong.
func TestAPanicIsAnInternalError(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"celltrack", "isbt", "check", "G123426000001"}, strings.NewReader(""), panicWriter{}, &stderr, nil)
	if code != exitInternal {
		t.Errorf("exit %d, want %d", code, exitInternal)
	}
	if s := stderr.String(); !strings.Contains(s, "panic: boom in stdout") || !strings.Contains(s, "goroutine ") {
		t.Errorf("stderr lacks the panic value or stack: %s", s)
	}
}
