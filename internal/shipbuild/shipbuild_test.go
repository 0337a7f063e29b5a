package shipbuild

import (
	"debug/elf"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestREADMEInstallLine keeps the README's install line the build used here.
func TestREADMEInstallLine(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	line := Line("celltrack", "./cmd/celltrack")
	if !strings.Contains(string(readme), "\n"+line+"\n") {
		t.Errorf("README.md does not give the install line\n\t%s\non a line of its own; change the README or this package together", line)
	}
}

// TestStatic builds the binary as shipped and checks it needs no C library:
// an ELF file with no interpreter (PT_INTERP) is loaded by the kernel alone.
func TestStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("checks an ELF file")
	}
	bin := filepath.Join(t.TempDir(), "celltrack")
	cmd := Command(bin, "./cmd/celltrack")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", Line(bin, "./cmd/celltrack"), err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: it is dynamically linked, so CGO_ENABLED=0 did not take", bin)
		}
	}
}
