package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestTopCommandNames keeps topCommands' names those of the commands they
// build: a wrong name would give a command line a tree without its command.
func TestTopCommandNames(t *testing.T) {
	rt := &runtime{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	for _, tc := range rt.topCommands() {
		if c := tc.build(); c.Name != tc.name || len(c.Aliases) > 0 {
			t.Errorf("topCommands: %q builds %q (aliases %v)", tc.name, c.Name, c.Aliases)
		}
	}
}

func TestTopCommandName(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"celltrack", "lot", "list"}, "lot"},
		{[]string{"celltrack", "--db", "x.db", "lot", "list"}, "lot"},
		{[]string{"celltrack", "-db", "x.db", "--user=nina", "--json", "dose", "check"}, "dose"},
		{[]string{"celltrack", "--lock-timeout", "3s", "-server", "https://h", "--json=true", "trace", "lot"}, "trace"},
		{[]string{"celltrack", "--db", "lot", "patient"}, "patient"}, // "lot" is --db's value
		{[]string{"celltrack", "--db=lot", "patient"}, "patient"},
		{[]string{"celltrack"}, ""},
		{[]string{"celltrack", "--db"}, ""},
		{[]string{"celltrack", "--help"}, ""},
		{[]string{"celltrack", "-h", "lot"}, ""},
		{[]string{"celltrack", "--version"}, ""},
		{[]string{"celltrack", "--generate-bash-completion"}, ""},
		{[]string{"celltrack", "--", "lot"}, ""},
		{[]string{"celltrack", "--bogus", "lot"}, ""},
		{[]string{"celltrack", "help", "lot"}, "help"},
		{[]string{"celltrack", "", "lot"}, ""},
	} {
		if got := topCommandName(tc.args); got != tc.want {
			t.Errorf("topCommandName(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestAppForOneCommandIsThatCommand checks that the tree built for a command
// line naming one top-level command holds that command exactly as the whole
// tree does — every subcommand, flag, usage and required flag — and that
// anything uncertain gets the whole tree.
func TestAppForOneCommandIsThatCommand(t *testing.T) {
	newRT := func() *runtime {
		return &runtime{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	}
	full := newRT()
	whole := full.app()
	var describe func(prefix string, c *cli.Command, rt *runtime) []string
	describe = func(prefix string, c *cli.Command, rt *runtime) []string {
		p := prefix + " " + c.Name
		out := []string{p + " usage=" + c.Usage + " args=" + c.ArgsUsage + " desc=" + c.Description + " hidden=" + map[bool]string{true: "y"}[c.Hidden] +
			" action=" + map[bool]string{true: "y"}[c.Action != nil] + " required=" + strings.Join(rt.required[c], ",")}
		for _, f := range c.Flags {
			out = append(out, p+" flag="+strings.Join(f.Names(), "/")+" "+f.String())
		}
		for _, s := range c.Subcommands {
			out = append(out, describe(p, s, rt)...)
		}
		return out
	}
	if len(whole.Commands) < 20 {
		t.Fatalf("the whole tree has %d commands", len(whole.Commands))
	}
	for _, c := range whole.Commands {
		rt := newRT()
		one := rt.appFor([]string{"celltrack", "--db", "x.db", c.Name, "whatever"})
		if c.Name == "completion" { // fish completion walks the whole tree
			if len(one.Commands) != len(whole.Commands) {
				t.Errorf("completion: %d commands, want the whole tree", len(one.Commands))
			}
			continue
		}
		if len(one.Commands) != 1 || one.Commands[0].Name != c.Name {
			t.Errorf("%s: built %d commands", c.Name, len(one.Commands))
			continue
		}
		if got, want := describe("", one.Commands[0], rt), describe("", c, full); !slices.Equal(got, want) {
			t.Errorf("%s: the tree differs from the whole tree's:\n%s\nwant\n%s", c.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	for _, args := range [][]string{{"celltrack"}, {"celltrack", "--help"}, {"celltrack", "help", "lot"}, {"celltrack", "lott", "list"}} {
		if n := len(newRT().appFor(args).Commands); n != len(whole.Commands) {
			t.Errorf("%q: %d commands, want the whole tree (%d)", args, n, len(whole.Commands))
		}
	}
}

// TestFlagValueIsIsSetsValue: flagValue, which asks each context of the
// lineage which flags were set in it, gives every common flag the value the
// walk with IsSet gave — typed before the command, after it, at both, read
// from the environment or not set — in a command that carries the common
// flags and in one that does not (as a group's subcommand does).
func TestFlagValueIsIsSetsValue(t *testing.T) {
	byIsSet := func(c *cli.Context, name string) string {
		for _, cc := range c.Lineage() {
			if cc.IsSet(name) {
				return fmt.Sprint(cc.Value(name))
			}
		}
		return fmt.Sprint(c.Value(name))
	}
	for _, env := range []map[string]string{nil, {"CELLTRACK_DB": "env.db", "CELLTRACK_USER": "envuser", "CELLTRACK_SERVER": "https://env"}} {
		for _, args := range [][]string{
			{"grp", "leaf"},
			{"--db", "top.db", "--json", "grp", "leaf"},
			{"grp", "leaf", "--db", "leaf.db", "--user", "u1", "--lock-timeout", "3s"},
			{"--db", "top.db", "--user", "u0", "grp", "leaf", "--db", "leaf.db", "--json=false"},
			{"--server", "https://top", "--lock-timeout", "1s", "grp", "bare"},
			{"grp", "bare"},
		} {
			for k, v := range env {
				t.Setenv(k, v)
			}
			if env == nil {
				for _, k := range []string{"CELLTRACK_DB", "CELLTRACK_USER", "CELLTRACK_SERVER"} {
					t.Setenv(k, "")
					os.Unsetenv(k) // restored by t.Setenv
				}
			}
			ran := false
			check := func(c *cli.Context) error {
				ran = true
				for _, name := range []string{"db", "user", "lock-timeout", "json", "server"} {
					got := fmt.Sprint(flagValue(c, name, func(cc *cli.Context, n string) any { return cc.Value(n) }))
					if want := byIsSet(c, name); got != want {
						t.Errorf("%v, environment %v: --%s is %q, by IsSet %q", args, env, name, got, want)
					}
				}
				return nil
			}
			app := &cli.App{Name: "celltrack", Flags: commonFlags(true), Commands: []*cli.Command{{
				Name: "grp",
				Subcommands: []*cli.Command{
					{Name: "leaf", Flags: commonFlags(false), Action: check},
					{Name: "bare", Action: check},
				},
			}}}
			if err := app.Run(append([]string{"celltrack"}, args...)); err != nil || !ran {
				t.Fatalf("%v: %v (ran %v)", args, err, ran)
			}
		}
	}
}
