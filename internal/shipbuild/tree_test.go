package shipbuild

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoBuildOutputTracked keeps compiled programs and databases out of the
// repository: a committed test binary once made up 6 MB of an 8 MB clone.
// The only binary files git may track are the fonts the PDF reports embed.
func TestNoBuildOutputTracked(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: cannot list the tracked files")
	}
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): nothing is tracked to check", err)
	}
	magics := map[string][]byte{
		"an ELF program":       []byte("\x7fELF"),
		"a Windows program":    []byte("MZ"),
		"a Mach-O program":     {0xcf, 0xfa, 0xed, 0xfe},
		"a bbolt database":     {0xed, 0x0c, 0xdd, 0x0c}, // bbolt's page magic, little-endian, at byte 16
		"a zip or jar archive": []byte("PK\x03\x04"),
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		for _, ext := range []string{".test", ".exe", ".db", ".out", ".o", ".a", ".so"} {
			if strings.HasSuffix(name, ext) {
				t.Errorf("%s is tracked: build output (*%s) is never committed; git rm --cached it", name, ext)
			}
		}
		b, err := os.ReadFile(filepath.Join("../..", name))
		if err != nil {
			continue // deleted in the work tree, not yet committed
		}
		head := b[:min(len(b), 8000)]
		for what, m := range magics {
			at := 0
			if what == "a bbolt database" {
				at = 16
			}
			if len(head) >= at+len(m) && bytes.Equal(head[at:at+len(m)], m) {
				t.Errorf("%s is %s: build output is never committed; git rm --cached it", name, what)
			}
		}
		if bytes.IndexByte(head, 0) >= 0 && !(strings.HasPrefix(name, "report/fonts/") && strings.HasSuffix(name, ".ttf")) {
			t.Errorf("%s is a binary file; only the embedded fonts under report/fonts/ may be, so say why it is source or remove it", name)
		}
	}
}
