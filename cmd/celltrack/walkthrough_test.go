package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rogpeppe/go-internal/txtar"
)

// TestREADMEWalkthrough runs the walkthrough in README.md (between the
// <!-- walkthrough --> markers) as a testscript story, so the manual cannot
// drift from the program. In its fenced blocks:
//
//	$ export NAME=VALUE          sets an environment variable
//	$ echo 'pw' | celltrack ...  runs celltrack with that line on stdin
//	$ printf 'a\nb\n' | celltrack ... with those lines on stdin
//	$ celltrack ...              runs celltrack; the lines up to the next $
//	                             are its exact stdout, except that lines
//	                             starting "celltrack: " are its stderr, "…"
//	                             matches any text within a line, and a last
//	                             line "[exit N]" is its exit code (default 0)
//
// A block opened with ```csv NAME (or any language then a file name) is a
// file the walkthrough uses.
func TestREADMEWalkthrough(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ar, err := walkthroughArchive(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "readme_walkthrough.txtar"), txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
	p := scriptParams(dir)
	p.Cmds["walkmatch"] = cmdWalkMatch
	// The walkthrough is one person's shell at one workstation: logins
	// switch its user. It gets a config dir of its own and no default user.
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		env.Setenv("CELLTRACK_TEST_HOMES", "")
		env.Setenv("CELLTRACK_USER", "")
		env.Setenv("CELLTRACK_CONFIG_DIR", filepath.Join(env.WorkDir, "config"))
		return nil
	}
	testscript.Run(t, p)
}

var exitLine = regexp.MustCompile(`^\[exit (\d+)\]$`)

// walkthroughArchive turns the README walkthrough into a testscript archive.
func walkthroughArchive(readme string) (*txtar.Archive, error) {
	_, rest, ok := strings.Cut(readme, "<!-- walkthrough -->")
	body, _, ok2 := strings.Cut(rest, "<!-- /walkthrough -->")
	if !ok || !ok2 {
		return nil, fmt.Errorf("README.md has no <!-- walkthrough --> ... <!-- /walkthrough --> section")
	}
	ar := &txtar.Archive{}
	var script strings.Builder
	script.WriteString("# Generated from README.md's walkthrough by TestREADMEWalkthrough.\n")
	lines := strings.Split(body, "\n")
	commands := 0
	for i := 0; i < len(lines); i++ {
		fence, isFence := strings.CutPrefix(lines[i], "```")
		if !isFence {
			continue
		}
		var block []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			block = append(block, lines[i])
		}
		if f := strings.Fields(fence); len(f) == 2 { // ```csv lots.csv: a file
			ar.Files = append(ar.Files, txtar.File{Name: f[1], Data: []byte(strings.Join(block, "\n") + "\n")})
			continue
		}
		for j := 0; j < len(block); j++ {
			cmd, isCmd := strings.CutPrefix(block[j], "$ ")
			if !isCmd {
				return nil, fmt.Errorf("README walkthrough: output %q has no command before it", block[j])
			}
			var stdout, stderr []string
			status := 0
			for j+1 < len(block) && !strings.HasPrefix(block[j+1], "$ ") {
				j++
				switch out := block[j]; {
				case exitLine.MatchString(out):
					status, _ = strconv.Atoi(exitLine.FindStringSubmatch(out)[1])
				case strings.HasPrefix(out, "celltrack: "):
					stderr = append(stderr, out)
				default:
					stdout = append(stdout, out)
				}
			}
			if name, ok := strings.CutPrefix(cmd, "export "); ok {
				fmt.Fprintf(&script, "env %s\n", name)
				continue
			}
			commands++
			if pw, after, ok := strings.Cut(cmd, " | "); ok {
				words := splitWords(pw)
				if len(words) != 2 || (words[0] != "echo" && words[0] != "printf") {
					return nil, fmt.Errorf("README walkthrough: only `echo 'LINE' | celltrack ...` or `printf 'LINE\\nLINE\\n' | celltrack ...` may pipe: %s", cmd)
				}
				name := fmt.Sprintf("step%02d.stdin", commands)
				data := words[1] + "\n"
				if words[0] == "printf" {
					data = strings.ReplaceAll(words[1], `\n`, "\n")
				}
				ar.Files = append(ar.Files, txtar.File{Name: name, Data: []byte(data)})
				fmt.Fprintf(&script, "stdin %s\n", name)
				cmd = after
			}
			words := splitWords(cmd)
			if len(words) == 0 || words[0] != "celltrack" {
				return nil, fmt.Errorf("README walkthrough: only celltrack commands can run: %s", cmd)
			}
			fmt.Fprintf(&script, "\n# $ %s\nstatus %d", cmd, status)
			for _, w := range words {
				script.WriteString(" '" + strings.ReplaceAll(w, "'", "''") + "'")
			}
			script.WriteString("\n")
			for _, s := range []struct {
				name  string
				lines []string
			}{{"stdout", stdout}, {"stderr", stderr}} {
				name := fmt.Sprintf("step%02d.%s", commands, s.name)
				data := strings.Join(s.lines, "\n")
				if len(s.lines) > 0 {
					data += "\n"
				}
				ar.Files = append(ar.Files, txtar.File{Name: name, Data: []byte(data)})
				fmt.Fprintf(&script, "walkmatch %s %s\n", s.name, name)
			}
		}
	}
	if commands < 10 {
		return nil, fmt.Errorf("README walkthrough has only %d commands; is it still there?", commands)
	}
	ar.Comment = []byte(script.String())
	return ar, nil
}

// cmdWalkMatch compares the last command's stdout or stderr with an expected
// file line by line; "…" in the expected file matches any text in a line,
// and trailing spaces are ignored.
//
//	walkmatch stdout step03.stdout
func cmdWalkMatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: walkmatch stdout|stderr FILE")
	}
	got := strings.Split(strings.TrimSuffix(ts.ReadFile(args[0]), "\n"), "\n")
	want := strings.Split(strings.TrimSuffix(ts.ReadFile(args[1]), "\n"), "\n")
	if len(got) == 1 && got[0] == "" {
		got = nil
	}
	if len(want) == 1 && want[0] == "" {
		want = nil
	}
	mismatch := len(got) != len(want)
	for i := 0; !mismatch && i < len(want); i++ {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(strings.TrimRight(want[i], " ")), "…", ".*") + "$")
		mismatch = !re.MatchString(strings.TrimRight(got[i], " "))
	}
	if mismatch {
		ts.Fatalf("README.md walkthrough: %s differs.\n--- README says:\n%s\n--- celltrack printed:\n%s", args[0], strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}
