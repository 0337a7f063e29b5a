package main

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/lot"
	"github.com/urfave/cli/v2"
)

// ruleDirs are the packages whose messages a web page shows as they are:
// the rules and the store (issue 11). Their words say what to do; the
// celltrack command that does it is the error's Command, which the command
// line prints.
var ruleDirs = []string{"lot", "dose", "release", "audit", "report", "trace", "store"}

// TestRuleMessagesNameNoCommand fails when a string in the rules or the
// store names a celltrack command (“run `celltrack check`”), and when a
// Command given to lot.Error's Run is not a command of this celltrack, so
// that what the command line prints after a refusal runs.
func TestRuleMessagesNameNoCommand(t *testing.T) {
	rt := &runtime{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	top := rt.app().Commands
	files, runs := 0, 0
	fset := token.NewFileSet()
	for _, dir := range ruleDirs {
		err := filepath.WalkDir(filepath.Join("..", "..", dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			files++
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BasicLit:
					if s, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && strings.Contains(s, "`celltrack ") {
						t.Errorf("%s: a message names a celltrack command; say what to do in words and give the command with lot.Error's Run: %s", fset.Position(n.Pos()), n.Value)
					}
				case *ast.CallExpr:
					// lot.Error's Run, and the store's refusal of a code
					// differing in case, which runs its show command
					// with the registered code for %s.
					var arg ast.Expr
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Run" && len(n.Args) == 1 {
						arg = n.Args[0]
					} else if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "refuseFolded" && len(n.Args) == 4 {
						arg = n.Args[3]
					} else {
						return true
					}
					runs++
					command, ok := literalPrefix(arg)
					if !ok {
						t.Errorf("%s: Run's command does not start with a string this test can read", fset.Position(n.Pos()))
					} else if why := notACommand(top, command); why != "" {
						t.Errorf("%s: Run(%q): %s", fset.Position(n.Pos()), command, why)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The walk found the sources and the commands they give: a test that
	// read nothing would pass whatever the messages say.
	if files < 100 || runs < 50 {
		t.Errorf("read %d files and %d Run calls; the rules and the store have more", files, runs)
	}
}

// literalPrefix is the constant start of a Run argument: "check", or the
// "login " of "login " + name.
func literalPrefix(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			return literalPrefix(e.X)
		}
	case *ast.Ident: // a parameter passed on, as the API client's
		return "", true
	case *ast.CallExpr:
		sel, ok := e.Fun.(*ast.SelectorExpr)
		switch {
		case ok && sel.Sel.Name == "ReplaceAll" && len(e.Args) == 3: // refuseFolded's strings.ReplaceAll(show, "%s", other)
			return literalPrefix(e.Args[0])
		case ok && sel.Sel.Name == "ErrorCommand": // a rewording keeps the command of the refusal it words
			return "", true
		}
	}
	return "", false
}

// notACommand says why command is not a celltrack command with its
// arguments ("schedule show MRN"), or "" when it is one.
func notACommand(top []*cli.Command, command string) string {
	words := strings.Fields(command)
	if len(words) == 0 {
		return "" // passed on: checked where it is made
	}
	var cur *cli.Command
	cmds := top
	for i, w := range words {
		var next *cli.Command
		for _, c := range cmds {
			if c.Name == w {
				next = c
			}
		}
		if next == nil {
			if cur == nil {
				return "celltrack has no command " + w
			}
			if len(cur.Subcommands) > 0 {
				return strings.Join(words[:i], " ") + " has no subcommand " + w
			}
			return ""
		}
		cur, cmds = next, next.Subcommands
	}
	if len(cur.Subcommands) > 0 {
		return command + " is a group of commands, not one"
	}
	return ""
}

// TestRefusalPrintsItsCommand: the command line words a refusal's Command
// after its message, with its flag when it names a field, and gives it as
// "command" with --json.
func TestRefusalPrintsItsCommand(t *testing.T) {
	for _, tc := range []struct {
		err  error
		text string
	}{
		{lot.Errorf(lot.ESESSION, "the session of alice expired; log in again").Run("login alice"),
			"celltrack: the session of alice expired; log in again (`celltrack login alice`)\n"},
		{lot.FieldErrorf("infusion", lot.ENOTFOUND, "no infusion \"X\"").Run("schedule show MRN"),
			"celltrack: no infusion \"X\" (--infusion; `celltrack schedule show MRN` lists them)\n"},
		{lot.FieldErrorf("reason", lot.ECONFLICT, "user alice cannot reset their own password").Run("user passwd"),
			"celltrack: user alice cannot reset their own password (--reason; `celltrack user passwd`)\n"},
		{lot.Errorf(lot.ECONFLICT, "nothing to do"), "celltrack: nothing to do\n"},
	} {
		var stderr bytes.Buffer
		rt := &runtime{stderr: &stderr, actionStarted: true}
		rt.exit(tc.err)
		if stderr.String() != tc.text {
			t.Errorf("%v printed %q, want %q", tc.err, stderr.String(), tc.text)
		}
	}
	var stderr bytes.Buffer
	rt := &runtime{stderr: &stderr, actionStarted: true, json: true}
	if code := rt.exit(lot.Errorf(lot.ECONFLICT, "the tree was changed outside celltrack — run the database check").Run("check")); code != exitCode(lot.ECONFLICT) {
		t.Errorf("exit %d, want %d", code, exitCode(lot.ECONFLICT))
	}
	var e struct{ Error map[string]any }
	if err := json.Unmarshal(stderr.Bytes(), &e); err != nil || e.Error["command"] != "check" ||
		e.Error["message"] != "the tree was changed outside celltrack — run the database check (`celltrack check`)" {
		t.Errorf("--json: %s (%v)", stderr.String(), err)
	}
}
