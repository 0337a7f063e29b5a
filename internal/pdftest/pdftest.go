// Package pdftest gives tests the text of a PDF as pdftotext (Debian's
// poppler-utils) extracts it, so that a test reads what a person reading
// the PDF would, not the renderer's own idea of what it drew. Where
// pdftotext is missing the test is skipped with a message naming the
// package to install (.ci/run installs it).
package pdftest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Text runs pdftotext with flags (none for its reading order, "-layout"
// for the page's columns, "-bbox" for every word's box) on pdf and returns
// what it writes: the pages separated by form feeds.
func Text(t testing.TB, pdf []byte, flags ...string) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext is not installed (Debian: apt-get install poppler-utils; .ci/run installs it): the PDF is not checked")
	}
	path := filepath.Join(t.TempDir(), "out.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append(flags, path, "-")...).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}
