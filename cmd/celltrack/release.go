package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
)

// release is the release service: the database's, or the server's with
// --server (which checks the signers' passwords).
func (rt *runtime) release() release.Service {
	if rt.client != nil {
		return web.NewRemoteReleases(rt.client)
	}
	return store.NewReleaseService(rt.db)
}

func (rt *runtime) releaseCommand() *cli.Command {
	return &cli.Command{
		Name:  "release",
		Usage: "QC results, specifications, evaluation and the signed QA disposition of lots",
		Subcommands: []*cli.Command{
			rt.releaseSpecCommand(),
			{
				Name:      "result",
				Usage:     "record, correct or void a QC result of a lot (lab)",
				ArgsUsage: "LOT",
				Description: "Assays: CD105 CD73 CD90 CD45 CD34 CD14 CD11b CD79a CD19 HLA-DR adherence trilineage sterility\n" +
					"mycoplasma endotoxin viability viable-cells karyotype identity (any case). Numbers are exact decimals in the\n" +
					"assay's unit (% , EU/mL, cells); words are pass|fail, no-growth|growth, negative|positive, normal|abnormal.\n" +
					"A correction (--corrects N) or a void (--void N) keeps the old result visible, and sends a released lot back to quarantine.\n\n" +
					example("celltrack --user liu release result --assay CD105 --value 98.2 --method 'flow cytometry' --tested 2026-11-20 LOT-UC-1",
						"celltrack --user liu release result --assay endotoxin --value 0.12 --unit EU/mL LOT-UC-1",
						"celltrack --user liu release result --corrects 3 --reason 'transcription error' --assay CD90 --value 97.1 LOT-UC-1",
						"celltrack --user liu release result --void 3 --reason 'sample mix-up' LOT-UC-1"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "assay", Usage: "assay `CODE`"},
					&cli.StringFlag{Name: "value", Usage: "the result: a number or a word"},
					&cli.StringFlag{Name: "unit", Usage: "unit of a numeric result (default: the assay's)"},
					&cli.StringFlag{Name: "method", Usage: "test method"},
					&cli.StringFlag{Name: "tested", Usage: "test date, YYYY-MM-DD (default today)"},
					&cli.IntFlag{Name: "corrects", Usage: "record a correction of result number `N` of this lot (voids it)"},
					&cli.IntFlag{Name: "void", Usage: "void result number `N` of this lot without a replacement"},
					&cli.StringFlag{Name: "reason", Usage: "why a result is corrected or voided"},
				},
				Action: rt.action(writeDB, 1, rt.releaseResult),
			},
			{
				Name:        "results",
				Usage:       "list a lot's QC results, voided ones included",
				ArgsUsage:   "LOT",
				Description: example("celltrack --user aud release results LOT-UC-1"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					rs, err := rt.release().Results(c.Args().First())
					if err != nil {
						return err
					}
					views := []map[string]any{}
					for _, r := range rs {
						views = append(views, release.ViewResult(r))
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "#\tASSAY\tRESULT\tTESTED\tBY\tSTATUS")
						for _, r := range rs {
							fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Assay, r.Display(), lot.FormatDate(r.Tested), r.RecordedBy, r.Status())
						}
						tw.Flush()
					})
				}),
			},
			{
				Name:      "evaluate",
				Usage:     "judge a lot against a specification; exit 0 only when every criterion passes",
				ArgsUsage: "LOT",
				Description: "Without --spec the lot kind's built-in is used (isct-uc-msc or rfib-autologous, latest version).\n" +
					"Exit 3 when any criterion fails or is missing.\n\n" + example("celltrack --user aud release evaluate LOT-UC-1", "celltrack --user aud release evaluate --spec isct-uc-msc@1 LOT-UC-1"),
				Flags: []cli.Flag{&cli.StringFlag{Name: "spec", Usage: "specification `NAME[@VERSION]`"}},
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					ev, err := rt.release().Evaluate(c.Args().First(), c.String("spec"))
					if err != nil {
						return err
					}
					if err := rt.out(ev, func(w io.Writer) { printEvaluation(w, ev) }); err != nil {
						return err
					}
					if !ev.Pass {
						return lot.Errorf(lot.ECONFLICT, "lot %s does not conform to %s@%d: %s", ev.Lot, ev.Spec, ev.Version, strings.Join(ev.Failed(), ", "))
					}
					return nil
				}),
			},
			{
				Name:      "approve",
				Usage:     "release a conforming lot, signed with your password (qa)",
				ArgsUsage: "LOT",
				Description: "The signer re-enters the password; the user who registered the lot may not release it.\n" +
					"--exception releases a non-conforming lot for one --patient under medical necessity; it needs a\n" +
					"--reason and the co-signature of a --physician (second password line on standard input).\n\n" +
					example("printf 'qa-password\\n' | celltrack --user quinn release approve --spec isct-uc-msc --password-stdin LOT-UC-1",
						"printf 'qa-password\\nmd-password\\n' | celltrack --user quinn release approve --exception --patient MRN-1001 \\",
						"    --reason 'no alternative; life-threatening flare' --physician pat --password-stdin LOT-UC-2"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "spec", Usage: "specification `NAME[@VERSION]` (default: the lot kind's built-in)"},
					&cli.BoolFlag{Name: "exception", Usage: "exceptional release of a non-conforming lot for one patient"},
					&cli.StringFlag{Name: "patient", Usage: "MRN the exceptional release is restricted to"},
					&cli.StringFlag{Name: "reason", Usage: "the medical necessity of an exceptional release"},
					&cli.StringFlag{Name: "physician", Usage: "the co-signing physician's user `NAME`"},
					passwordStdinFlag,
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					a := release.Approval{Lot: c.Args().First(), Spec: c.String("spec"), QA: actor(c), Exception: c.Bool("exception"),
						Patient: c.String("patient"), Reason: c.String("reason"), Physician: c.String("physician")}
					// Refuse a decision that is not allowed before asking for any password.
					if err := rt.release().CheckApproval(a); err != nil {
						return err
					}
					// QA signs knowingly: the results that no longer stand
					// are shown before the password is asked for (on
					// stderr, beside the prompt, so --json stays one
					// document). What is signed does not change.
					rs, err := rt.release().Results(a.Lot)
					if err != nil {
						return err
					}
					if inv := release.Invalidated(rs); len(inv) > 0 {
						fmt.Fprintf(rt.stderr, "RESULTS VOIDED OR CORRECTED on lot %s (not part of the evaluation):\n", a.Lot)
						for _, i := range inv {
							fmt.Fprintf(rt.stderr, "  %s\n", i.Line())
						}
					}
					if a.Password, err = rt.password(c, a.QA+" (QA signature)"); err != nil {
						return err
					}
					if a.Exception {
						if a.PhysicianPassword, err = rt.password(c, a.Physician+" (physician co-signature)"); err != nil {
							return err
						}
					}
					d, err := rt.release().Approve(a)
					if err != nil {
						return err
					}
					return rt.out(release.ViewDisposition(d), func(w io.Writer) {
						if d.Decision == release.Exception {
							fmt.Fprintf(w, "EXCEPTIONAL RELEASE of lot %s for patient %s only, against %s@%d\n", d.Lot, d.Patient, d.Spec, d.SpecVersion)
							fmt.Fprintf(w, "  DOES NOT MEET: %s\n", strings.Join(release.Nonconforming(d.Rows), ", "))
						} else {
							fmt.Fprintf(w, "released lot %s against %s@%d\n", d.Lot, d.Spec, d.SpecVersion)
						}
						printSignatures(w, d.Signatures)
					})
				}),
			},
			{
				Name:        "reject",
				Usage:       "reject a lot, signed with your password (qa)",
				ArgsUsage:   "LOT",
				Description: example("printf 'qa-password\\n' | celltrack --user quinn release reject --reason 'mycoplasma positive' --password-stdin LOT-UC-3"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "reason", Required: true, Usage: "why the lot is rejected"},
					passwordStdinFlag,
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					if err := rt.release().CheckReject(actor(c), c.Args().First(), c.String("reason"), nil); err != nil {
						return err
					}
					pw, err := rt.password(c, actor(c)+" (QA signature)")
					if err != nil {
						return err
					}
					d, err := rt.release().Reject(actor(c), pw, c.Args().First(), c.String("reason"), nil)
					if err != nil {
						return err
					}
					return rt.out(release.ViewDisposition(d), func(w io.Writer) {
						fmt.Fprintf(w, "rejected lot %s: %s\n", d.Lot, d.Reason)
						if d.Unevaluated != "" {
							fmt.Fprintf(w, "  %s\n", d.Unevaluated)
						}
						printSignatures(w, d.Signatures)
						printLookBack(w, d.Infused, d.Recall)
					})
				}),
			},
			{
				Name:        "history",
				Usage:       "list a lot's release decisions with their signatures, oldest first",
				ArgsUsage:   "LOT",
				Description: example("celltrack --user aud release history LOT-UC-1"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					ds, err := rt.release().Dispositions(c.Args().First())
					if err != nil {
						return err
					}
					return rt.out(release.ViewDispositions(ds), func(w io.Writer) {
						if len(ds) == 0 {
							fmt.Fprintf(w, "lot %s has no release decision yet\n", c.Args().First())
						}
						for _, d := range ds {
							fmt.Fprintf(w, "%s  %s by %s", lot.FormatTime(d.At), strings.ToUpper(string(d.Decision)), d.By)
							if d.Spec != "" {
								fmt.Fprintf(w, " against %s@%d", d.Spec, d.SpecVersion)
							}
							if d.Patient != "" {
								fmt.Fprintf(w, ", patient %s only", d.Patient)
							}
							if d.Reason != "" {
								fmt.Fprintf(w, ": %s", d.Reason)
							}
							if d.Unevaluated != "" {
								fmt.Fprintf(w, " (%s)", d.Unevaluated)
							}
							fmt.Fprintln(w)
							printSignatures(w, d.Signatures)
							printLookBack(w, d.Infused, d.Recall)
						}
					})
				}),
			},
			{
				Name:      "certificate",
				Usage:     "print a lot's certificate of analysis",
				ArgsUsage: "LOT",
				Description: "Formats: text (default; --json gives json), md, json, html, pdf (A4, black and white: one page\n" +
					"for a normal lot, further pages for a long history of decisions). pdf needs --out. Every certificate states\n" +
					"when, by whom (--user) and from which database it was produced, the audit chain head, and whether\n" +
					"`audit verify` passed at that moment.\n\n" +
					example("celltrack --user quinn release certificate LOT-UC-1", "celltrack --user quinn release certificate --format pdf --out LOT-UC-1.pdf LOT-UC-1"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Value: "text", Usage: "text, md, json, html or pdf (default text; json with --json)"},
					&cli.StringFlag{Name: "out", Usage: "write to `FILE` instead of standard output"},
					forceFlag,
				},
				Action: rt.action(readDB, 1, rt.releaseCertificate),
			},
		},
	}
}

func (rt *runtime) releaseResult(c *cli.Context) error {
	ref := c.Args().First()
	var (
		r   release.Result
		rq  []release.Requarantine
		err error
	)
	for _, f := range []string{"corrects", "void"} {
		if c.IsSet(f) {
			if err := release.CheckResultNumber(f, c.Int(f)); err != nil {
				return err
			}
		}
	}
	if c.IsSet("void") {
		for _, f := range []string{"assay", "value", "unit", "method", "tested", "corrects"} {
			if c.IsSet(f) {
				return lot.Errorf(lot.EUSAGE, "--void voids a result without a replacement; --%s does not apply (use --corrects to replace it)", f)
			}
		}
		r, rq, err = rt.release().VoidResult(actor(c), ref, c.Int("void"), c.String("reason"))
		if err != nil {
			return err
		}
		return rt.out(map[string]any{"voided": release.ViewResult(r), "requarantined": rq}, func(w io.Writer) {
			fmt.Fprintf(w, "voided result #%d (%s %s) of lot %s: %s\n", r.Seq, r.Assay, r.Display(), ref, r.VoidReason)
			printRequarantines(w, rq)
		})
	}
	for _, f := range []string{"assay", "value"} {
		if !c.IsSet(f) {
			return lot.Errorf(lot.EUSAGE, "`%s` needs --%s (or --void N --reason R to void a result)", c.Command.HelpName, f)
		}
	}
	e := release.Entry{Assay: c.String("assay"), Value: c.String("value"), Unit: c.String("unit"), Method: c.String("method")}
	if c.IsSet("tested") {
		if e.Tested, err = lot.ParseDate("--tested", c.String("tested")); err != nil {
			return err
		}
	}
	r, rq, err = rt.release().RecordResult(actor(c), ref, e, c.Int("corrects"), c.String("reason"))
	if err != nil {
		return err
	}
	return rt.out(map[string]any{"result": release.ViewResult(r), "requarantined": rq}, func(w io.Writer) {
		fmt.Fprintf(w, "recorded result #%d of lot %s: %s %s", r.Seq, ref, r.Assay, r.Display())
		if r.Corrects > 0 {
			fmt.Fprintf(w, " (corrects #%d, now void)", r.Corrects)
		}
		fmt.Fprintln(w)
		printRequarantines(w, rq)
	})
}

// printLookBack lists the containers of a lot taken out of use that were
// already infused, and those thawed or dispensed but not infused, to recall.
func printLookBack(w io.Writer, infused, recall []string) {
	if len(infused) > 0 {
		fmt.Fprintf(w, "  LOOK-BACK: containers already infused: %s\n", strings.Join(infused, ", "))
	}
	if len(recall) > 0 {
		fmt.Fprintf(w, "  RECALL: do not infuse, return to the lab and discard: %s\n", strings.Join(recall, ", "))
	}
}

// printRequarantines reports lots sent back to quarantine, the look-back
// list of containers already infused and the containers to recall.
func printRequarantines(w io.Writer, rq []release.Requarantine) {
	for _, q := range rq {
		fmt.Fprintf(w, "LOT %s RETURNED TO QUARANTINE: %s\n", q.Lot, q.Reason)
		if len(q.Infused) == 0 {
			fmt.Fprintln(w, "  look-back: no container of the lot has been infused")
		}
		printLookBack(w, q.Infused, q.Recall)
	}
}

func printEvaluation(w io.Writer, ev release.Evaluation) {
	fmt.Fprintf(w, "Lot %s against %s@%d\n", ev.Lot, ev.Spec, ev.Version)
	rows := [][]string{}
	for _, r := range ev.Rows {
		rows = append(rows, []string{r.Criterion, r.Limit, r.Result, string(r.Verdict)})
	}
	report.WriteTextTable(w, []string{"CRITERION", "LIMIT", "RESULT", "VERDICT"}, rows)
	if ev.Pass {
		fmt.Fprintln(w, "VERDICT: PASS — the lot conforms and may be approved")
	} else {
		fmt.Fprintf(w, "VERDICT: FAIL — %s\n", strings.Join(ev.Failed(), ", "))
	}
}

func printSignatures(w io.Writer, sigs []audit.Signature) {
	for _, s := range sigs {
		fmt.Fprintf(w, "  signed by %s (%s) at %s — %s\n", s.FullName, s.User, lot.FormatTime(s.Time), s.Meaning)
	}
	if len(sigs) > 0 {
		fmt.Fprintf(w, "  signed record SHA-256 %x\n", sigs[0].Signed)
	}
}

func (rt *runtime) releaseCertificate(c *cli.Context) error {
	cert, err := rt.release().Certificate(c.Args().First())
	if err != nil {
		return err
	}
	if name := actor(c); name != "" {
		u, err := rt.users().User(name)
		if err != nil {
			return err
		}
		cert.ProducedBy, cert.ProducedByName, cert.ProducedByRole = u.Name, u.FullName, string(u.Role)
	}
	format := c.String("format")
	if rt.json && !c.IsSet("format") {
		format = "json"
	}
	switch format {
	case "text", "md", "html", "json":
	case "pdf":
		if !c.IsSet("out") {
			return lot.Errorf(lot.EUSAGE, "--format pdf writes a binary file; give --out FILE")
		}
	default:
		return lot.Errorf(lot.EUSAGE, "--format %q is not a certificate format; use text, md, json, html or pdf", format)
	}
	var buf bytes.Buffer
	err = report.RenderCertificate(&buf, cert, format, rt.clock())
	if err != nil {
		return err
	}
	if out := c.String("out"); out != "" {
		if err := writeOut(out, buf.Bytes(), c.Bool("force")); err != nil {
			return err
		}
		return rt.out(map[string]any{"wrote": out, "format": format, "lot": cert.Lot.Number, "audit_verified": cert.Verified},
			func(w io.Writer) { fmt.Fprintf(w, "wrote certificate of lot %s to %s\n", cert.Lot.Number, out) })
	}
	_, err = rt.stdout.Write(buf.Bytes())
	return err
}

func (rt *runtime) releaseSpecCommand() *cli.Command {
	return &cli.Command{
		Name:  "spec",
		Usage: "release specifications: named, versioned lists of criteria",
		Subcommands: []*cli.Command{
			{
				Name:        "list",
				Usage:       "list every version of every specification",
				ArgsUsage:   " ",
				Description: example("celltrack --user aud release spec list"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					ss, err := rt.release().Specs()
					if err != nil {
						return err
					}
					return rt.out(ss, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "SPEC\tVERSION\tKINDS\tCRITERIA\tADDED\tTITLE")
						for _, s := range ss {
							fmt.Fprintf(tw, "%s\t%d\t%v\t%d\t%s by %s\t%s\n", s.Name, s.Version, s.Kinds, len(s.Criteria), lot.FormatDate(s.CreatedAt), s.CreatedBy, s.Title)
						}
						tw.Flush()
					})
				}),
			},
			{
				Name:      "show",
				Usage:     "show a specification's criteria and the source of each limit",
				ArgsUsage: "NAME[@VERSION]",
				Description: "With --json it prints the specification in the file format `release spec add` reads (README, \"Release\"),\n" +
					"to keep, edit and add back as a new version; `release spec list --json` has versions, authors and times.\n\n" +
					example("celltrack --user aud release spec show isct-uc-msc", "celltrack --user aud release spec show isct-uc-msc@1",
						"celltrack --json release spec show isct-uc-msc > our-uc-spec.json"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					s, err := rt.release().Spec(c.Args().First())
					if err != nil {
						return err
					}
					return rt.out(s.File(), func(w io.Writer) {
						fmt.Fprintf(w, "Specification %s version %d — %s\n  kinds %v, added %s by %s\n", s.Name, s.Version, s.Title, s.Kinds, lot.FormatTime(s.CreatedAt), s.CreatedBy)
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "CRITERION\tLIMIT\tKINDS\tSOURCE")
						for _, cr := range s.Criteria {
							kinds := "all"
							if len(cr.Kinds) > 0 {
								kinds = fmt.Sprint(cr.Kinds)
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cr.Name(), cr.Limit(), kinds, cr.Source)
						}
						tw.Flush()
					})
				}),
			},
			{
				Name:      "add",
				Usage:     "add a specification, or a new version of one, from a JSON file (qa)",
				ArgsUsage: " ",
				Description: "File format: README, \"Release\". A file whose content equals the latest version is refused.\n\n" +
					example("celltrack --user quinn release spec add --file our-uc-spec.json"),
				Flags: []cli.Flag{&cli.StringFlag{Name: "file", Required: true, Usage: "the specification `FILE` (JSON)"}},
				Action: rt.action(writeDB, 0, func(c *cli.Context) error {
					data, err := os.ReadFile(c.String("file"))
					if err != nil {
						return lot.Errorf(lot.EINVALID, "--file %s cannot be read: %v", c.String("file"), err)
					}
					s, err := release.ParseSpecFile(data)
					if err != nil {
						return err
					}
					if s, err = rt.release().AddSpec(actor(c), s); err != nil {
						return err
					}
					return rt.out(s, func(w io.Writer) {
						fmt.Fprintf(w, "added specification %s version %d (%d criteria)\n", s.Name, s.Version, len(s.Criteria))
					})
				}),
			},
		},
	}
}

// donorScreenCommand records a donor's infectious-disease screening, or
// voids a mistyped one (QA, signed).
func (rt *runtime) donorScreenCommand() *cli.Command {
	flags := []cli.Flag{}
	for _, m := range release.ScreenPanel {
		// Required unless --void: checked in the action, as a usage error.
		flags = append(flags, &cli.StringFlag{Name: m.Flag, Usage: m.Name + ": negative, positive or indeterminate (required unless --void)"})
	}
	flags = append(flags, &cli.StringFlag{Name: "tested", Usage: "date the samples were tested, YYYY-MM-DD (default today)"},
		&cli.IntFlag{Name: "void", Usage: "void screening number `N` of this donor (qa, signed; see `donor show`)"},
		&cli.StringFlag{Name: "reason", Usage: "why the screening is voided"},
		passwordStdinFlag)
	return &cli.Command{
		Name:      "screen",
		Usage:     "record a donor's infectious-disease screening (lab), or void a mistyped one (qa)",
		ArgsUsage: "ID",
		Description: "Any result but negative makes the donor ineligible: every lot of the donor then fails evaluation,\n" +
			"and released ones go back to quarantine at once, with the containers already infused listed. A donor who\n" +
			"once tested positive stays ineligible whatever another screening says; otherwise the screening with the latest\n" +
			"test date stands, so an indeterminate is resolved only by an all-negative screening tested later.\n" +
			"QA voids a mistyped screening with --void N --reason R, signed with the password: it stays visible in\n" +
			"`donor show` but counts for nothing; lots it sent back to quarantine stay there until QA approves them again.\n\n" +
			example("celltrack --user liu donor screen --hiv negative --hbv negative --hcv negative --syphilis negative --htlv negative --tested 2026-10-31 D-0001",
				"printf 'qa-password\\n' | celltrack --user quinn donor screen --void 2 --reason 'syphilis typed positive; the report says negative' --password-stdin D-0001"),
		Flags: flags,
		Action: rt.action(writeDB, 1, func(c *cli.Context) error {
			if c.IsSet("void") {
				return rt.donorScreenVoid(c)
			}
			if c.IsSet("reason") {
				return lot.Errorf(lot.EUSAGE, "--reason is for voiding a screening; give --void N too, or drop --reason")
			}
			sc := release.Screening{}
			for _, m := range release.ScreenPanel {
				if !c.IsSet(m.Flag) {
					return lot.Errorf(lot.EUSAGE, "`%s` needs --%s (or --void N --reason R to void a screening); see `%s --help`", c.Command.HelpName, m.Flag, c.Command.HelpName)
				}
				r, err := release.ParseReactivity("--"+m.Flag, c.String(m.Flag))
				if err != nil {
					return err
				}
				sc.Markers = append(sc.Markers, release.Marker{Name: m.Name, Result: r})
			}
			if c.IsSet("tested") {
				t, err := lot.ParseDate("--tested", c.String("tested"))
				if err != nil {
					return err
				}
				sc.Tested = t
			}
			sc, status, rq, err := rt.release().Screen(actor(c), c.Args().First(), sc)
			if err != nil {
				return err
			}
			verdict := "ELIGIBLE"
			if !status.Eligible() {
				verdict = "INELIGIBLE: " + strings.Join(status.Problems(), ", ")
			}
			if status.ID != sc.ID {
				verdict += fmt.Sprintf(" (the screening tested %s is later than this one, tested %s, and stands)", lot.FormatDate(status.Tested), lot.FormatDate(sc.Tested))
			}
			return rt.out(map[string]any{"id": sc.ID, "seq": sc.Seq, "donor": c.Args().First(), "markers": sc.Markers, "consented": lot.FormatDate(sc.Consented),
				"tested": lot.FormatDate(sc.Tested), "eligible": status.Eligible(), "status_tested": lot.FormatDate(status.Tested),
				"requarantined": rq}, func(w io.Writer) {
				fmt.Fprintf(w, "screened donor %s: %s; consent on file %s; donor %s\n", c.Args().First(), sc.Summary(), lot.FormatDate(sc.Consented), verdict)
				printRequarantines(w, rq)
			})
		}),
	}
}

// donorScreenVoid voids a donor's screening: QA's decision, refused before
// the password is asked for when it is not allowed.
func (rt *runtime) donorScreenVoid(c *cli.Context) error {
	for _, f := range append(release.ScreenFlags(), "tested") {
		if c.IsSet(f) {
			return lot.Errorf(lot.EUSAGE, "--void voids a screening without a replacement; --%s does not apply (record a new screening without --void)", f)
		}
	}
	ref, seq, reason := c.Args().First(), c.Int("void"), c.String("reason")
	if err := rt.release().CheckVoidScreening(actor(c), ref, seq, reason); err != nil {
		return err
	}
	pw, err := rt.password(c, actor(c)+" (QA signature)")
	if err != nil {
		return err
	}
	sc, status, quarantined, err := rt.release().VoidScreening(actor(c), pw, ref, seq, reason)
	if err != nil {
		return err
	}
	return rt.out(map[string]any{"voided": screeningView(sc), "donor": ref, "eligible": status != nil && status.Eligible(),
		"quarantined": quarantined}, func(w io.Writer) {
		fmt.Fprintf(w, "voided screening #%d of donor %s (tested %s: %s): %s\n", sc.Seq, ref, lot.FormatDate(sc.Tested), sc.Summary(), sc.VoidReason)
		printSignatures(w, []audit.Signature{sc.VoidSignature})
		fmt.Fprintf(w, "donor %s now %s\n", ref, donorVerdict(status))
		if len(quarantined) > 0 {
			fmt.Fprintf(w, "lots of donor %s in quarantine stay in quarantine: %s; voiding a screening releases nothing — QA decides again with `release approve`\n",
				ref, strings.Join(quarantined, ", "))
		}
	})
}

// screeningView is a screening as --json prints it.
func screeningView(s release.Screening) map[string]any {
	v := map[string]any{"seq": s.Seq, "id": s.ID, "markers": s.Markers, "tested": lot.FormatDate(s.Tested),
		"recorded_at": s.RecordedAt, "recorded_by": s.RecordedBy, "voided": s.Voided()}
	if s.Voided() {
		v["voided_at"], v["voided_by"], v["void_reason"] = s.VoidedAt, s.VoidedBy, s.VoidReason
		v["void_signature"] = release.ViewSignature(s.VoidSignature)
	}
	return v
}

// restrictedTo is the MRN an exceptional release restricts the lot to, or "".
func (rt *runtime) restrictedTo(l lot.Lot) string {
	if !l.Exceptional {
		return ""
	}
	if p, err := rt.lots().Patient(l.RestrictedTo.String()); err == nil {
		return p.MRN
	}
	return l.RestrictedTo.String()
}
