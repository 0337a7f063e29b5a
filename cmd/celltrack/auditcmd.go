package main

import (
	"fmt"

	"github.com/celltrack/celltrack/audit"
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
					es, err := rt.auditLog().AuditLog(c.String("entity"))
					if err != nil {
						return err
					}
					format := "text"
					if rt.json {
						format = "json"
					}
					// The web's audit log page writes the same bytes (report.AuditLog).
					return report.AuditLog(rt.stdout, es, format, c.Bool("values"))
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
	return rt.db.Verify()
}

// checkpoints is the service of checkpoint verifier keys and of checking
// kept checkpoints: the database, or the server's with --server (to which
// only verifier keys and checkpoint notes are sent).
func (rt *runtime) checkpoints() audit.Checkpoints {
	if rt.client != nil {
		return web.NewRemoteCheckpoints(rt.client)
	}
	return rt.db
}
