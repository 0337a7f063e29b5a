package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
)

// checkCommand and backupCommand are the maintenance commands: proof that the
// file is sound, and a consistent copy of it taken while others work.
func (rt *runtime) checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "check the database file page by page and verify the audit trail",
		ArgsUsage: " ",
		Description: "Runs bbolt's page-level consistency check, then `audit verify`. Exits 3 and names\n" +
			"each problem when either finds one; run it after a crash, a power cut or a restore.\n\n" +
			example("celltrack check"),
		Action: rt.action(readDB, 0, func(c *cli.Context) error {
			var problems []string
			for _, err := range rt.db.Check() {
				problems = append(problems, "page check: "+err.Error())
			}
			v, err := rt.db.Verify()
			if err != nil {
				return err
			}
			problems = append(problems, v.Problems...)
			return rt.printVerdict(verdict{name: "check", problems: problems,
				counts: fmt.Sprintf("pages consistent: %t; audit trail: %d entries, %d records", len(problems) == len(v.Problems), v.Entries, v.Records),
				head:   v.HeadHex(),
				view:   map[string]any{"ok": len(problems) == 0, "entries": v.Entries, "records": v.Records, "head": v.HeadHex(), "problems": problems},
				failed: fmt.Sprintf("check failed: %d problem(s); restore the last good backup and report it to QA", len(problems))})
		}),
	}
}

func (rt *runtime) backupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write a consistent copy of the database while others keep working",
		ArgsUsage: " ",
		Description: "The copy is taken from one read transaction, so it is consistent even while other\n" +
			"users write. It never overwrites a file and is created readable by you only (0600).\n" +
			"To restore, stop every celltrack and copy the file back over the database.\n\n" +
			example("celltrack backup --out /backups/celltrack-2026-11-25.db"),
		Flags: []cli.Flag{&cli.StringFlag{Name: "out", Required: true, Usage: "the new backup `FILE`"}},
		Action: rt.action(readDB, 0, func(c *cli.Context) error {
			n, err := rt.db.Backup(c.String("out"))
			if err != nil {
				return err
			}
			return rt.out(map[string]any{"backup": c.String("out"), "bytes": n}, func(w io.Writer) {
				fmt.Fprintf(w, "backed up %s to %s (%d bytes); check it with `celltrack --db %s check`\n", dbPath(c), c.String("out"), n, c.String("out"))
			})
		}),
	}
}

// demoMaint backs the demo database up and checks the copy, as an operator
// would at the end of a day.
func demoMaint(d *demo) error {
	out := filepath.Join(d.dir, "demo-backup.db")
	n, err := d.db.Backup(out)
	if err != nil {
		return err
	}
	b, err := store.Open(out, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer b.Close()
	problems := len(b.Check())
	v, err := b.Verify()
	if err != nil {
		return err
	}
	d.say("backup: %s (%d bytes) taken while the database was open; check: %d page problems, audit verify ok=%v over %d entries",
		out, n, problems, v.OK(), v.Entries)
	if problems > 0 || !v.OK() {
		return fmt.Errorf("the demo backup failed its check")
	}
	return nil
}
