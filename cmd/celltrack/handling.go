package main

import (
	"net/url"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/trace"
	"github.com/urfave/cli/v2"
)

// reportCommand holds reports across many records: `report handling`.
func (rt *runtime) reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "reports across records: handling data of infusions, the user-access review",
		Subcommands: []*cli.Command{{
			Name:      "access",
			Usage:     "the user-access review: every account, role, status, creation, role changes, last login, failed passwords and locks (admin, auditor)",
			ArgsUsage: " ",
			Description: "The periodic review of user access an inspector asks for (21 CFR 11.10(d), 11.300). CSV has\n" +
				"one row per account with every column. It is the admin's and the auditor's: the accounts' state\n" +
				"(locked, disabled, wrong passwords) is not shown to other roles, whose `user list` is the staff directory.\n\n" +
				example("celltrack report access", "celltrack report access --out access-2026-Q4.pdf"),
			Flags: []cli.Flag{formatFlag(), outFlag(), forceFlag},
			Action: rt.action(readDB, 0, func(c *cli.Context) error {
				format, err := traceFormat(c, rt.json)
				if err != nil {
					return err
				}
				if rt.client != nil {
					data, sum, err := rt.client.report("access", url.Values{"format": {format}})
					if err != nil {
						return err
					}
					return rt.writeRendered(data, sum, format, c.String("out"), c.Bool("force"))
				}
				r, err := trace.New(rt.db.ReadTraceContext).Access(c.Context, actor(c))
				if err != nil {
					return err
				}
				return rt.writeReport(r, format, c.String("out"), c.Bool("force"))
			}),
		}, {
			Name:      "handling",
			Usage:     "per infusion: storage time, thaw to infusion, post-thaw viability, cells/kg, duration; with median and range",
			ArgsUsage: " ",
			Description: "The handling data MSC trial publications rarely report, one CSV row per container of each infusion, " +
				"and a summary table (median and range). --from and --to are dates (UTC), both included.\n\n" +
				example("celltrack --user aud report handling",
					"celltrack --user aud report handling --protocol sle-uc-d0d7 --from 2026-01-01 --to 2026-12-31 --format csv --out handling.csv"),
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "protocol", Usage: "only infusions of protocol `NAME`"},
				&cli.StringFlag{Name: "from", Usage: "only infusions started on or after `DATE` (YYYY-MM-DD, UTC)"},
				&cli.StringFlag{Name: "to", Usage: "only infusions started on or before `DATE` (YYYY-MM-DD, UTC)"},
				formatFlag(), outFlag(),
				forceFlag,
			},
			Action: rt.action(readDB, 0, func(c *cli.Context) error {
				format, err := traceFormat(c, rt.json)
				if err != nil {
					return err
				}
				user := actor(c) // readDB has checked that this user exists and is enabled
				f := dose.HandlingFilter{Protocol: c.String("protocol")}
				for _, name := range []string{"from", "to"} {
					if c.IsSet(name) && c.String(name) == "" { // given, but empty: not an open end
						_, err := lot.ParseDate("--"+name, "")
						return err
					}
				}
				if f.From, f.To, err = dose.HandlingPeriod("--from", c.String("from"), "--to", c.String("to")); err != nil {
					return err
				}
				if rt.client != nil {
					q := url.Values{"format": {format}, "protocol": {f.Protocol}}
					if !f.From.IsZero() {
						q.Set("from", f.From.Format(time.RFC3339))
					}
					if !f.To.IsZero() {
						q.Set("to", f.To.Format(time.RFC3339))
					}
					data, sum, err := rt.client.report("handling", q)
					if err != nil {
						return err
					}
					return rt.writeRendered(data, sum, format, c.String("out"), c.Bool("force"))
				}
				r, err := trace.New(rt.db.ReadTraceContext).Handling(c.Context, user, f)
				if err != nil {
					return err
				}
				return rt.writeReport(r, format, c.String("out"), c.Bool("force"))
			}),
		}},
	}
}
