package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
)

// migrateCommand moves a database between the file engine and PostgreSQL
// (issue 14): the copy, its checks and the entry on the target are the
// store's (store.DB.MigrateTo); this parses, checks the session on the
// source and prints.
func (rt *runtime) migrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "move the database, with its whole history, to a new one on the other engine (admin)",
		ArgsUsage: " ",
		Description: "Copies every record, index and the whole audit trail (entries, entity links, the Merkle\n" +
			"tree, checkpoint keys) byte for byte from --from (default: --db) to --to: from a file to an\n" +
			"empty PostgreSQL database, or from PostgreSQL to a new file. The source must pass the page\n" +
			"check and `audit verify` in the read transaction that is copied, or nothing is written. The\n" +
			"target must be new: a file that does not exist, or a PostgreSQL database without tables\n" +
			"(`createdb`); migrate makes the schema and the copy in one transaction, a file under a\n" +
			"temporary name linked in only when it verifies, so a failure leaves no half-made target.\n" +
			"The target's tree head must equal the source's before it is kept; the migration is then the\n" +
			"target's next audit entry (database.migrate: who, when, from which engine), and the target\n" +
			"is checked as `celltrack check` does. Needs an admin's session on the source. Sessions are\n" +
			"not copied: log in to the target with the same name and password. Between two files use\n" +
			"`celltrack backup`; between two PostgreSQL databases, the server's tools.\n\n" +
			"Once the target is kept, the source is marked as migrated to it (its own database.migrate\n" +
			"entry and meta \"migrated\", in the transaction that was copied) and refuses every write from\n" +
			"then on (exit 3, naming the target); reads, check, audit verify, trace and backup still work.\n" +
			"--reopen-source --reason takes the mark off (an admin's, audited as database.reopen), for a\n" +
			"target that was lost. A hidden .NAME.writing-N a killed migrate left beside a file target is\n" +
			"removed when nobody holds it and it has not changed for a minute, else named.\n\n" +
			example("celltrack --db lab.db migrate --to postgres://celltrack@db.example.org/celltrack",
				"celltrack migrate --from postgres://celltrack@db.example.org/celltrack --to site-b.db",
				"celltrack --db lab.db migrate --reopen-source --reason 'the PostgreSQL server was lost (INC-42)'"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the database to move: a `FILE` or a postgres:// URL (default: --db)"},
			&cli.StringFlag{Name: "to", Usage: "the new database: a `FILE` that does not exist, or the postgres:// URL of an empty database"},
			&cli.BoolFlag{Name: "reopen-source", Usage: "take the migration mark off --from (default: --db) so that it takes writes again, with --reason; for a target that was lost"},
			&cli.StringFlag{Name: "reason", Usage: "why the source is reopened (with --reopen-source)"},
		},
		Action: rt.action(noDB, 0, func(c *cli.Context) error {
			from := c.String("from")
			if from == "" {
				from = dbPath(c)
			}
			if err := store.CheckLocation("from", from); err != nil {
				return err
			}
			timeout := flagValue(c, "lock-timeout", (*cli.Context).Duration)
			if c.Bool("reopen-source") {
				return rt.reopenSource(c, from, timeout)
			}
			if c.IsSet("reason") {
				return lot.Errorf(lot.EUSAGE, "--reason is for --reopen-source; a migration records its own entry")
			}
			to := c.String("to")
			if err := store.CheckMigration(from, to); err != nil {
				return err
			}
			db, err := store.OpenForMigrate(from, store.Options{Timeout: timeout, Now: rt.now})
			if err != nil {
				return heldByServer(from, err)
			}
			rt.db = db
			if err := rt.useSessionOf(c, from, db, readDB); err != nil {
				return err
			}
			if err := audit.Authorize(rt.session.User, audit.DatabaseMigrate); err != nil {
				return err
			}
			rep, err := db.MigrateTo(to, rt.session.User.Name, timeout)
			if err != nil {
				return err
			}
			source, target := store.DisplayName(from), store.DisplayName(to)
			view := map[string]any{
				"from": source, "to": target, "from_engine": store.EngineName(from), "to_engine": store.EngineName(to),
				"pairs":  rep.Pairs,
				"source": map[string]any{"entries": rep.Source.Entries, "records": rep.Source.Records, "head": rep.Source.HeadHex(), "tree": headView(rep.SourceHead)},
				"copied": map[string]any{"tree": headView(rep.Copied)},
				"entry":  rep.Entry, "by": rt.session.User.Name,
				"source_marked": map[string]any{"entry": rep.Entry, "writes": "refused from now on"},
				"stale":         staleView(rep.Stale),
				"target":        map[string]any{"ok": rep.Target.OK(), "entries": rep.Target.Entries, "records": rep.Target.Records, "head": rep.Target.HeadHex(), "tree": headView(rep.Target.Tree)},
			}
			return rt.out(view, func(w io.Writer) {
				fmt.Fprintf(w, "source %s (%s): audit verify OK — %d entries, %d records; chain head %s\n", source, store.EngineName(from), rep.Source.Entries, rep.Source.Records, rep.Source.HeadHex())
				fmt.Fprintf(w, "  source %s\n", treeNote(rep.SourceHead))
				fmt.Fprintf(w, "copied %d keys to %s (%s)\n", rep.Pairs, target, store.EngineName(to))
				fmt.Fprintf(w, "  target %s (as copied: equal to the source's)\n", treeNote(rep.Copied))
				fmt.Fprintf(w, "migration recorded on the target as audit entry %d (database.migrate, by %s)\n", rep.Entry, rt.session.User.Name)
				fmt.Fprintf(w, "target check: OK — %saudit trail: %d entries, %d records; chain head %s\n", targetPages(to), rep.Target.Entries, rep.Target.Records, rep.Target.HeadHex())
				fmt.Fprintf(w, "  target %s\n", treeNote(rep.Target.Tree))
				fmt.Fprintf(w, "source %s marked as migrated to %s (its audit entry %d, database.migrate): it refuses every write from now on; reads, check, audit verify, trace and backup still work\n", source, target, rep.Entry)
				for _, st := range rep.Stale {
					if st.Removed {
						fmt.Fprintf(w, "removed %s, a copy a killed migrate left behind\n", st.Path)
					} else {
						fmt.Fprintf(w, "WARNING: %s looks like a copy a killed migrate left behind (kept: %s); it holds the whole database: delete it once no celltrack writes it\n", st.Path, st.Kept)
					}
				}
				fmt.Fprintf(w, "sessions are not copied: log in to %s with `celltrack --db %s login NAME`\n", target, target)
			})
		}),
	}
}

// reopenSource takes the migration mark off the database at from
// (store.DB.ReopenMigrated): an admin's session on it, and a reason.
func (rt *runtime) reopenSource(c *cli.Context, from string, timeout time.Duration) error {
	if c.IsSet("to") {
		return lot.Errorf(lot.EUSAGE, "--reopen-source takes no --to: it reopens --from (default: --db) %s where it is", store.DisplayName(from))
	}
	if strings.TrimSpace(c.String("reason")) == "" {
		return lot.FieldErrorf("reason", lot.EUSAGE, "reopening a migrated database needs a reason: why this database takes writes again (the target lost, say)")
	}
	db, err := store.OpenForMigrate(from, store.Options{Timeout: timeout, Now: rt.now})
	if err != nil {
		return heldByServer(from, err)
	}
	rt.db = db
	if err := rt.useSessionOf(c, from, db, writeDB); err != nil {
		return err
	}
	m, err := rt.db.ReopenMigrated(rt.session.User.Name, c.String("reason"))
	if err != nil {
		return err
	}
	source := store.DisplayName(from)
	view := map[string]any{"reopened": source, "was_migrated_to": m.To, "migrated_at": m.At, "migrated_by": m.By, "by": rt.session.User.Name}
	return rt.out(view, func(w io.Writer) {
		fmt.Fprintf(w, "%s takes writes again (database.reopen, by %s); it had been migrated to %s on %s by %s\n", source, rt.session.User.Name, m.To, lot.FormatTime(m.At), m.By)
		fmt.Fprintf(w, "WARNING: whatever %s recorded since then is not here; stop using %s, or the two histories diverge\n", m.To, m.To)
	})
}

// staleView lists the leftover temporary copies for --json.
func staleView(st []store.StaleWrite) []map[string]any {
	v := []map[string]any{}
	for _, s := range st {
		v = append(v, map[string]any{"path": s.Path, "removed": s.Removed, "kept": s.Kept})
	}
	return v
}

// targetPages is the page check's word on the target, as check words it.
func targetPages(to string) string {
	if store.IsPostgres(to) {
		return "pages: none to check on PostgreSQL; "
	}
	return "pages consistent: true; "
}
