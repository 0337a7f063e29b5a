package main

// Linking alike (-startup-links): a build of an earlier revision that also
// links every library package this tree's build links and it does not, each
// by a blank import, so that the two builds of a start-up pair run the same
// package initialisation before main and differ only in celltrack's own
// code. Issue 10 asks whether checking a session made commands slower; the
// build it is compared with predates the PostgreSQL engine and the
// compressed audit entries, whose libraries' package inits (Go runs them in
// every process, used or not) would otherwise be counted against it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// linkAlike makes the tree at src (an earlier revision's ./cmd/celltrack)
// import what this tree's links beyond it, and returns those packages.
func linkAlike(src string) ([]string, error) {
	const format = `{{.ImportPath}} {{.Standard}} {{with .Module}}{{.Path}} {{.Version}}{{end}}`
	list := func(dir string) (map[string][]string, error) {
		cmd := exec.Command("go", "list", "-deps", "-f", format, "./cmd/celltrack")
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list in %s: %v\n%s", dir, err, stderr.Bytes())
		}
		pkgs := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			pkgs[f[0]] = f[1:]
		}
		return pkgs, nil
	}
	now, err := list(".")
	if err != nil {
		return nil, err
	}
	old, err := list(src)
	if err != nil {
		return nil, err
	}
	oldModules := map[string]bool{}
	for _, f := range old {
		if len(f) == 3 {
			oldModules[f[1]] = true
		}
	}
	var pkgs []string
	requires := map[string]string{}
	for p, f := range now {
		if _, ok := old[p]; ok || !importable(p) || (len(f) >= 2 && f[1] == "github.com/celltrack/celltrack") {
			continue
		}
		pkgs = append(pkgs, p)
		if len(f) == 3 && !oldModules[f[1]] {
			requires[f[1]] = f[2]
		}
	}
	slices.Sort(pkgs)
	for m, v := range requires {
		edit := exec.Command("go", "mod", "edit", "-require="+m+"@"+v)
		edit.Dir = src
		if out, err := edit.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go mod edit -require=%s@%s: %v\n%s", m, v, err, out)
		}
	}
	// This tree's replacements too (a library kept in third_party/ with its
	// package init made lazy would otherwise come in as published).
	modJSON, err := exec.Command("go", "mod", "edit", "-json").Output()
	if err != nil {
		return nil, fmt.Errorf("go mod edit -json: %v", err)
	}
	var mod struct {
		Replace []struct {
			Old, New struct{ Path, Version string }
		}
	}
	if err := json.Unmarshal(modJSON, &mod); err != nil {
		return nil, err
	}
	for _, r := range mod.Replace {
		to := r.New.Path
		if r.New.Version != "" {
			to += "@" + r.New.Version
		} else if to, err = filepath.Abs(to); err != nil {
			return nil, err
		}
		edit := exec.Command("go", "mod", "edit", "-replace="+r.Old.Path+"="+to)
		edit.Dir = src
		if out, err := edit.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go mod edit -replace=%s=%s: %v\n%s", r.Old.Path, to, err, out)
		}
	}
	var b strings.Builder
	b.WriteString("package main\n\n// Written by benchharness -startup-links (links.go); never committed.\n\nimport (\n")
	for _, p := range pkgs {
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	b.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(src, "cmd", "celltrack", "zz_links_alike.go"), []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// importable reports whether a package outside its own tree may import p:
// not an internal or vendored package (their importers are linked instead).
func importable(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == "internal" || e == "vendor" {
			return false
		}
	}
	return !strings.HasPrefix(p, "vendor/")
}
