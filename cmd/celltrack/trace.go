package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/trace"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func (rt *runtime) traceCommand() *cli.Command {
	sub := func(name, args, usage, desc string, build func(s *trace.Service, ctx context.Context, user, ref string) (report.Report, error)) *cli.Command {
		return &cli.Command{
			Name:        name,
			Usage:       usage,
			ArgsUsage:   args,
			Description: desc,
			Flags: []cli.Flag{
				formatFlag(), outFlag(),
				&cli.BoolFlag{Name: "full-verify", Usage: "run the whole of `audit verify` for the report's header, not only its own records and the chain since the last `celltrack check`"},
				forceFlag,
			},
			Action: rt.action(readDB, 1, func(c *cli.Context) error {
				format, err := traceFormat(c, rt.json)
				if err != nil {
					return err
				}
				if rt.client != nil {
					data, sum, err := rt.client.trace(c.Command.Name, c.Args().First(), format, c.Bool("full-verify"))
					if err != nil {
						return err
					}
					return rt.writeRendered(data, sum, format, c.String("out"), c.Bool("force"))
				}
				paceGC()         // a report is built and rendered in this process, which then exits
				user := actor(c) // readDB has checked that this user exists and is enabled
				ts := trace.New(rt.db.ReadTraceContext)
				ts.FullVerify = c.Bool("full-verify")
				r, err := build(ts, c.Context, user, c.Args().First())
				if err != nil {
					return err
				}
				return rt.writeReport(r, format, c.String("out"), c.Bool("force"))
			}),
		}
	}
	return &cli.Command{
		Name:  "trace",
		Usage: "traceability reports: donor look-back, lot forward, patient backward, one container",
		Subcommands: []*cli.Command{
			sub("donor", "DONOR", "look-back: every lot, container and recipient of a donor's cells",
				"Answers \"which patients received cells from this donor?\" — for a donor test that turns positive later.\n\n"+
					example("celltrack --user aud trace donor D-0001", "celltrack --user aud trace donor --format pdf --out D-0001.pdf D-0001"),
				(*trace.Service).Donor),
			sub("lot", "LOT", "forward: a lot's source, release decisions, containers, custody events and recipients",
				"LOT is the lab lot number, the DIN or the UUID.\n\n"+
					example("celltrack --user aud trace lot LOT-UC-1", "celltrack --user aud trace lot --format csv --out LOT-UC-1.csv LOT-UC-1"),
				(*trace.Service).Lot),
			sub("patient", "MRN", "backward: every container a patient received, its lot, donor or source, and its handlers",
				"For an autologous (rFib) source patient the report also lists the lots made from the patient's own cells.\n\n"+
					example("celltrack --user aud trace patient MRN-1001", "celltrack --user aud trace patient --format html --out MRN-1001.html MRN-1001"),
				(*trace.Service).Patient),
			sub("container", "CONTAINER", "one container: its lot and source, its whole journey and who received it",
				"CONTAINER is the code on its label (DIN + 2-digit number) or its UUID.\n\n"+
					example("celltrack --user aud trace container G12342600000101"),
				(*trace.Service).Container),
		},
	}
}

// traceFormat is --format, else the extension of --out, else json with
// --json, else text. Flags that ask for different formats are refused, naming
// both, rather than one silently winning: --json (without --out) with a
// --format other than json, and a --format that contradicts --out's known
// extension (CSV written into x.pdf). With --out, --json only makes the
// confirmation line JSON. An --out that is a directory is named as one.
func traceFormat(c *cli.Context, json bool) (string, error) {
	out := c.String("out")
	if out != "" {
		if st, err := os.Stat(out); err == nil && st.IsDir() {
			return "", lot.Errorf(lot.EINVALID, "--out %s is a directory; give a file name in it, e.g. --out %s", out, filepath.Join(out, "report.pdf"))
		}
	}
	fromExt := ""
	if out != "" {
		ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
		if ext == "txt" {
			ext = "text"
		}
		fromExt, _ = report.ParseFormat(ext)
	}
	if c.IsSet("format") {
		f, err := report.ParseFormat(c.String("format"))
		if err != nil {
			return "", err
		}
		if json && out == "" && f != "json" {
			return "", lot.Errorf(lot.EUSAGE, "--json and --format %s ask for two formats; drop one (--json is --format json)", c.String("format"))
		}
		if fromExt != "" && fromExt != f && (fromExt != "text" || f != "md") { // Markdown is text: .txt may hold it
			return "", lot.Errorf(lot.EUSAGE, "--format %s and --out %s ask for two formats (the extension says %s); drop --format or name the file .%s", c.String("format"), out, fromExt, extOf(f))
		}
		return f, nil
	}
	if out != "" {
		if fromExt != "" {
			return fromExt, nil
		}
		return "", lot.Errorf(lot.EUSAGE, "--out %s: cannot tell the format from the extension %q; add --format (%s)", out, filepath.Ext(out), strings.Join(report.Formats, ", "))
	}
	if json {
		return "json", nil
	}
	return "text", nil
}

// extOf is the file extension of a format.
func extOf(format string) string {
	if format == "text" {
		return "txt"
	}
	return format
}

// writeReport renders r in full before writing anything, so that a failure
// never leaves half a report; with out, it writes the file and says where.
// A report whose audit verification failed is still written — marked FAILED
// with every problem, it is the evidence QA needs — but the command then
// fails with exit 3 (verifyFailed), so that no script files it as a good one.
func (rt *runtime) writeReport(r report.Report, format, out string, force bool) error {
	var buf bytes.Buffer
	if err := report.Render(&buf, r, format); err != nil {
		return err
	}
	return rt.writeRendered(buf.Bytes(), summarize(r), format, out, force)
}

// writeRendered writes a rendered report (made here, or by a server) to
// standard output or to out, and says what it wrote.
func (rt *runtime) writeRendered(data []byte, r reportSummary, format, out string, force bool) error {
	if out == "" {
		if f, ok := rt.stdout.(*os.File); ok && format == "pdf" && term.IsTerminal(int(f.Fd())) {
			return lot.Errorf(lot.EUSAGE, "a PDF is not for the terminal; add --out FILE.pdf")
		}
		if _, err := rt.stdout.Write(data); err != nil {
			return err
		}
		return verifyFailed(r, "")
	}
	if err := writeOut(out, data, force); err != nil {
		return err
	}
	verdict := "audit verify passed"
	switch {
	case !r.Verified:
		verdict = "audit verify FAILED"
	case r.Scope == report.ScopeReport:
		verdict = fmt.Sprintf("not a full audit verify: its records and the chain from entry %d verified", r.ChainFrom)
	}
	err := rt.out(map[string]any{"wrote": out, "format": format, "events": r.Events, "audit_verified": r.Verified, "audit_verify_scope": r.Scope},
		func(w io.Writer) {
			if r.Rows >= 0 {
				fmt.Fprintf(w, "wrote the %s report of %s to %s (%s, %d rows; %s)\n", r.Kind, r.Subject, out, format, r.Rows, verdict)
				return
			}
			fmt.Fprintf(w, "wrote the %s trace of %s to %s (%s, %d events; %s)\n", r.Kind, r.Subject, out, format, r.Events, verdict)
		})
	if err != nil {
		return err
	}
	return verifyFailed(r, out)
}

// verifyFailed is the refusal (ECONFLICT, exit 3) of a report written, to
// out or to standard output (out ""), although its audit verification failed.
func verifyFailed(r reportSummary, out string) error {
	if r.Verified {
		return nil
	}
	where := "above"
	if out != "" {
		where = "to " + out
	}
	return lot.Errorf(lot.ECONFLICT, "audit verify FAILED (%d problem(s)) for the %s: it was written %s marked FAILED, with each problem; do not rely on it — run `celltrack check` and report it to QA",
		r.Problems, r.name(), where)
}

// formatFlag and outFlag are the output flags every report command shares.
func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "text, md, json, csv, html or pdf (default: from --out's extension, else text)"}
}

func outFlag() cli.Flag {
	return &cli.StringFlag{Name: "out", Usage: "write the report to `FILE` instead of standard output"}
}
