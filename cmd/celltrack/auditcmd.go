package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
)

func (rt *runtime) auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "read and verify the tamper-evident audit trail",
		Subcommands: []*cli.Command{
			{
				Name:        "log",
				Usage:       "list audit entries, oldest first",
				ArgsUsage:   " ",
				Description: example("celltrack --user aud audit log", "celltrack --user aud audit log --entity LOT-UC-1"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "entity", Usage: "only this record: UUID, lot, DIN, container code, MRN, donor id or user name"},
					&cli.BoolFlag{Name: "values", Usage: "print the previous and new values of each entry"},
				},
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					format := "text"
					if rt.json {
						format = "json"
					}
					return rt.listAuditLog(c.Context, actor(c), c.String("entity"), format, c.Bool("values"))
				}),
			},
			{
				Name:      "verify",
				Usage:     "recompute the hash chain and check every record against its last audit entry",
				ArgsUsage: " ",
				Description: "Exits 3 and names each problem when the trail or a record was changed outside celltrack.\n" +
					"With --checkpoint it also checks each kept signed checkpoint (`audit checkpoint`): its\n" +
					"signature, and a consistency proof that today's trail extends it; a cut tail, a rewritten\n" +
					"entry, a fork or an older file put in place fails, naming the checkpoint and the first tree\n" +
					"size that no longer matches. --tree-head checks a tree head typed from a printed report\n" +
					"the same way, without a signature: it proves the trail still contains what was printed.\n" +
					"--verifier-file FILE.pub (repeatable) pins the verifier key kept outside the database: the\n" +
					"checkpoints are checked against it alone, and verify fails when the database no longer\n" +
					"registers it (its key record replaced).\n\n" +
					example("celltrack --user aud audit verify", "celltrack --user aud audit verify --checkpoint /witness",
						"celltrack --user aud audit verify --tree-head '306 entries, root XoyPDkC6siVEyYP0rlSKdiJ6OtcTV1vwCwKjCjdS7AY='"),
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "checkpoint", Usage: "a kept checkpoint `FILE`, or a directory of them; repeat for more"},
					&cli.StringFlag{Name: "tree-head", Usage: "an unsigned tree `HEAD` typed from a printed report (\"306 entries, root …\")"},
					pinnedFlag,
				},
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					if c.IsSet("checkpoint") || c.IsSet("tree-head") || c.IsSet("verifier-file") {
						return rt.verifyWithCheckpoints(c)
					}
					v, err := rt.verify()
					if err != nil {
						return err
					}
					rv := report.Verification{Entries: v.Entries, Records: v.Records, Head: v.Head, Tree: v.Tree, Problems: v.Problems}
					return rt.printVerdict(verdict{name: "audit verify", problems: v.Problems,
						counts: rv.Counts(), head: rv.HeadHex(), view: rv.View(),
						failed: fmt.Sprintf("audit verify failed: %d problem(s); the database was changed outside celltrack — report it to QA", len(v.Problems)),
						notes:  []string{report.TreeNote(v.Tree)}})
				}),
			},
			rt.auditCheckpointCommand(),
			rt.auditKeyCommand(),
		},
	}
}

// verify runs `audit verify` on the database, or on the server's.
func (rt *runtime) verify() (audit.Verification, error) {
	if rt.client != nil {
		return web.RemoteVerify(rt.client)
	}
	boundVerifyMemory()
	return rt.db.Verify()
}

// boundVerifyMemory holds a whole-trail verify under issue 13's 256 MiB of
// anonymous memory, unless GOGC or GOMEMLIMIT says otherwise. Its live heap
// is the latest-state table (~160 MiB at 100k lots) and the workers'
// buffers; at Go's default pacing the heap grows to twice the live one
// before a collection, and the 100k verify peaked at 288–297 MiB of
// RssAnon (BENCHMARKS.md, run AE). With the soft limit the collector runs
// more often near it instead: 226 MiB at the peak, the wall time within
// the runs' spread.
func boundVerifyMemory() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(verifyMemoryLimit)
}

// verifyMemoryLimit is the soft memory limit of a local `audit verify`.
const verifyMemoryLimit = 224 << 20

// checkpoints is the service of checkpoint verifier keys and of checking
// kept checkpoints: the database, or the server's with --server (to which
// only verifier keys and checkpoint notes are sent).
func (rt *runtime) checkpoints() audit.Checkpoints {
	if rt.client != nil {
		return web.NewRemoteCheckpoints(rt.client)
	}
	return rt.db
}

// listAuditLog prints the audit log of entity ("" the whole trail) as
// reader may read it (audit.Shown), in format as it is read, an entry at a
// time (audit.Log EachAuditEntry: the database's batches, or the server's
// streamed answer), holding none: the whole trail at 100k is 2.9M entries. The web's download writes the same
// bytes (report.AuditLogWriter). A listing that fails after its first
// entry was printed — a server's answer cut off, a server stopping — ends
// without its last line (the count, or the JSON array's closing bracket)
// and with an error that says the listing printed is incomplete.
func (rt *runtime) listAuditLog(ctx context.Context, reader, entity, format string, values bool) error {
	out := bufio.NewWriterSize(rt.stdout, 64<<10)
	aw, err := report.NewAuditLogWriter(out, format, values)
	if err != nil {
		return err
	}
	n, last := 0, uint64(0)
	err = rt.auditLog().EachAuditEntry(ctx, reader, entity, func(e audit.Entry) error {
		n, last = n+1, e.Seq
		return aw.Write(e)
	})
	if err == nil {
		err = aw.Close()
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil && n > 0 {
		return lot.Wrapf(err, lot.EINTERNAL, "the audit log listing is incomplete: it stopped after %d entries (the last printed is #%d): %s; what was printed is not the whole log — list it again",
			n, last, lot.ErrorMessage(err)).Run("audit log")
	}
	return err
}
