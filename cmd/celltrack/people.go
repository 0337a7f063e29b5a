package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
)

// lots is the lot service: the database's, or the server's with --server.
func (rt *runtime) lots() lot.Service {
	if rt.client != nil {
		return web.NewRemoteLots(rt.client)
	}
	return store.NewLotService(rt.db)
}

func (rt *runtime) donorCommand() *cli.Command {
	return &cli.Command{
		Name:  "donor",
		Usage: "register and look up umbilical-cord donors",
		Subcommands: []*cli.Command{
			rt.donorScreenCommand(),
			{
				Name:        "add",
				Usage:       "register an umbilical-cord donor (lab)",
				ArgsUsage:   "ID",
				Description: example("celltrack --user liu donor add --delivered 2026-10-30 --site 'Ward 5 maternity' --consented 2026-10-12 D-0001"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "delivered", Required: true, Usage: "delivery date, YYYY-MM-DD"},
					&cli.StringFlag{Name: "site", Required: true, Usage: "where the cord was collected"},
					&cli.StringFlag{Name: "consented", Required: true, Usage: "date of the donor's written consent, YYYY-MM-DD"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					var d lot.Donor
					var err error
					d.Code, d.Site = c.Args().First(), c.String("site")
					if d.Delivered, err = lot.ParseDate("--delivered", c.String("delivered")); err != nil {
						return err
					}
					if d.Consented, err = lot.ParseDate("--consented", c.String("consented")); err != nil {
						return err
					}
					if d, err = rt.lots().AddDonor(actor(c), d); err != nil {
						return err
					}
					return rt.out(lot.ViewDonor(d), func(w io.Writer) { fmt.Fprintf(w, "registered donor %s\n", d.Code) })
				}),
			},
			{
				Name:      "correct",
				Usage:     "correct a donor's mistyped delivery or consent date or collection site, with a reason (lab)",
				ArgsUsage: "ID",
				Description: "Give only the fields that are wrong. The old and new values are kept in the donor's record\n" +
					"and the audit trail, and shown by `donor show` and the donor's look-back trace.\n\n" +
					example("celltrack --user liu donor correct --delivered 2026-10-29 --reason 'delivery record says 29 October' D-0001"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "delivered", Usage: "the right delivery date, YYYY-MM-DD"},
					&cli.StringFlag{Name: "consented", Usage: "the right date of the donor's written consent, YYYY-MM-DD"},
					&cli.StringFlag{Name: "site", Usage: "the right collection site"},
					&cli.StringFlag{Name: "reason", Required: true, Usage: "why the record is corrected"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					var fix lot.DonorFix
					var err error
					if c.IsSet("delivered") {
						if fix.Delivered, err = lot.ParseDate("--delivered", c.String("delivered")); err != nil {
							return err
						}
					}
					if c.IsSet("consented") {
						if fix.Consented, err = lot.ParseDate("--consented", c.String("consented")); err != nil {
							return err
						}
					}
					if c.IsSet("site") {
						if fix.Site = c.String("site"); strings.TrimSpace(fix.Site) == "" {
							return lot.Errorf(lot.EINVALID, "--site is blank; give the right collection site or leave the flag out")
						}
					}
					d, corr, err := rt.lots().CorrectDonor(actor(c), c.Args().First(), fix, c.String("reason"))
					if err != nil {
						return err
					}
					v := lot.ViewDonor(d)
					v["correction"] = lot.ViewCorrection(corr)
					return rt.out(v, func(w io.Writer) {
						fmt.Fprintf(w, "corrected donor %s: %s\n  reason: %s\n", d.Code, corr.Summary(), corr.Reason)
					})
				}),
			},
			{
				Name:        "show",
				Usage:       "show a donor",
				ArgsUsage:   "ID",
				Description: example("celltrack --user aud donor show D-0001"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					d, err := rt.lots().Donor(c.Args().First())
					if err != nil {
						return err
					}
					ss, err := rt.release().Screenings(d.Code)
					if err != nil {
						return err
					}
					view, sv := lot.ViewDonor(d), []map[string]any{}
					for _, s := range ss {
						sv = append(sv, screeningView(s))
					}
					status := release.Current(ss)
					view["screenings"], view["eligible"] = sv, status != nil && status.Eligible()
					return rt.out(view, func(w io.Writer) {
						fmt.Fprintf(w, "Donor %s\n  delivered  %s at %s\n  consented  %s\n  registered %s by %s\n",
							d.Code, lot.FormatDate(d.Delivered), d.Site, lot.FormatDate(d.Consented), lot.FormatTime(d.CreatedAt), d.CreatedBy)
						printCorrections(w, d.Corrections)
						printScreenings(w, ss, status)
					})
				}),
			},
			{
				Name:        "list",
				Usage:       "list donors",
				ArgsUsage:   " ",
				Description: example("celltrack --user aud donor list"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					ds, err := rt.lots().Donors()
					if err != nil {
						return err
					}
					views := []map[string]any{}
					for _, d := range ds {
						views = append(views, lot.ViewDonor(d))
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "DONOR\tDELIVERED\tSITE\tCONSENTED")
						for _, d := range ds {
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Code, lot.FormatDate(d.Delivered), d.Site, lot.FormatDate(d.Consented))
						}
						tw.Flush()
					})
				}),
			},
		},
	}
}

// printCorrections lists a record's corrections, oldest first: when, who,
// every field's old and new value, and why.
func printCorrections(w io.Writer, cs []lot.Correction) {
	for _, c := range cs {
		fmt.Fprintf(w, "  corrected  %s by %s: %s — reason: %s\n", lot.FormatTime(c.At), c.By, c.Summary(), c.Reason)
	}
}

func (rt *runtime) patientCommand() *cli.Command {
	return &cli.Command{
		Name:  "patient",
		Usage: "register patients and record their weight",
		Subcommands: []*cli.Command{
			{
				Name:        "add",
				Usage:       "register a patient (admin, physician, nurse)",
				ArgsUsage:   "MRN",
				Description: example("celltrack --user nina patient add --name 'Mei Chen' --born 1984-03-09 --sex F MRN-1001"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Required: true, Usage: "the patient's full name, as on the wristband"},
					&cli.StringFlag{Name: "born", Required: true, Usage: "date of birth, YYYY-MM-DD"},
					&cli.StringFlag{Name: "sex", Required: true, Usage: "F, M or X"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					p := lot.Patient{MRN: c.Args().First(), Name: c.String("name")}
					var err error
					if p.Born, err = lot.ParseDate("--born", c.String("born")); err != nil {
						return err
					}
					if p.Sex, err = lot.ParseSex(c.String("sex")); err != nil {
						return err
					}
					if p, err = rt.lots().AddPatient(actor(c), p); err != nil {
						return err
					}
					return rt.out(lot.ViewPatient(p, nil), func(w io.Writer) { fmt.Fprintf(w, "registered patient %s (%s)\n", p.MRN, p.Name) })
				}),
			},
			{
				Name:      "correct",
				Usage:     "correct a patient's mistyped MRN, name, date of birth or sex, with a reason (admin, physician, nurse)",
				ArgsUsage: "MRN",
				Description: "Give only the fields that are wrong. The old and new values are kept in the patient's record\n" +
					"and the audit trail, and shown by `patient show` and the patient's trace. A corrected MRN\n" +
					"keeps the patient's weights, schedules, infusions and autologous lots attached; the old MRN\n" +
					"stays reserved to the patient and is refused wherever it is typed or scanned, naming the new one.\n\n" +
					example("celltrack --user nina patient correct --name 'Mei Chan' --reason 'wristband and ID card read Mei Chan' MRN-1001"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "mrn", Usage: "the right MRN"},
					&cli.StringFlag{Name: "name", Usage: "the right full name, as on the wristband"},
					&cli.StringFlag{Name: "born", Usage: "the right date of birth, YYYY-MM-DD"},
					&cli.StringFlag{Name: "sex", Usage: "the right sex: F, M or X"},
					&cli.StringFlag{Name: "reason", Required: true, Usage: "why the record is corrected"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					var fix lot.PatientFix
					var err error
					for _, f := range []string{"mrn", "name"} {
						if c.IsSet(f) && strings.TrimSpace(c.String(f)) == "" {
							return lot.Errorf(lot.EINVALID, "--%s is blank; give the right value or leave the flag out", f)
						}
					}
					fix.MRN, fix.Name = c.String("mrn"), c.String("name")
					if c.IsSet("born") {
						if fix.Born, err = lot.ParseDate("--born", c.String("born")); err != nil {
							return err
						}
					}
					if c.IsSet("sex") {
						if fix.Sex, err = lot.ParseSex(c.String("sex")); err != nil {
							return err
						}
					}
					p, corr, err := rt.lots().CorrectPatient(actor(c), c.Args().First(), fix, c.String("reason"))
					if err != nil {
						return err
					}
					v := lot.ViewPatient(p, nil)
					v["correction"] = lot.ViewCorrection(corr)
					return rt.out(v, func(w io.Writer) {
						fmt.Fprintf(w, "corrected patient %s: %s\n  reason: %s\n", p.MRN, corr.Summary(), corr.Reason)
						if fix.MRN != "" {
							fmt.Fprintf(w, "  %s stays reserved to this patient and is refused wherever it is typed or scanned: replace the wristband and any label that shows it\n", c.Args().First())
						}
					})
				}),
			},
			{
				Name:      "weigh",
				Usage:     "record a body weight (physician, nurse)",
				ArgsUsage: "MRN",
				Description: "Doses per kg use the most recent weight; record it in kg.\n\n" +
					example("celltrack --user nina patient weigh --kg 62.0 --at 2026-11-25T08:10Z MRN-1001"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "kg", Required: true, Usage: "weight in kilograms, 1–300"},
					&cli.StringFlag{Name: "at", Usage: "when it was measured (ISO 8601 with zone; default now)"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					g, err := lot.ParseWeightKg("--kg", c.String("kg"))
					if err != nil {
						return err
					}
					var at = zeroTime
					if c.IsSet("at") {
						if at, err = lot.ParseTime("--at", c.String("at")); err != nil {
							return err
						}
					}
					wt, err := rt.lots().Weigh(actor(c), c.Args().First(), g, at)
					if err != nil {
						return err
					}
					return rt.out(lot.ViewWeight(wt), func(w io.Writer) {
						fmt.Fprintf(w, "recorded %s for %s, measured %s\n", wt.Grams, c.Args().First(), lot.FormatTime(wt.MeasuredAt))
					})
				}),
			},
			{
				Name:        "show",
				Usage:       "show a patient with weight history",
				ArgsUsage:   "MRN",
				Description: example("celltrack --user aud patient show MRN-1001"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					p, err := rt.lots().Patient(c.Args().First())
					if err != nil {
						return err
					}
					ws, err := rt.lots().Weights(p.MRN)
					if err != nil {
						return err
					}
					return rt.out(lot.ViewPatient(p, ws), func(w io.Writer) {
						fmt.Fprintf(w, "Patient %s  %s  born %s  sex %s\n", p.MRN, p.Name, lot.FormatDate(p.Born), p.Sex)
						fmt.Fprintf(w, "  registered %s by %s\n", lot.FormatTime(p.CreatedAt), p.CreatedBy)
						if len(p.FormerMRNs) > 0 {
							fmt.Fprintf(w, "  formerly  %s (reserved to this patient)\n", strings.Join(p.FormerMRNs, ", "))
						}
						printCorrections(w, p.Corrections)
						if len(ws) == 0 {
							fmt.Fprintln(w, "  no weight recorded")
						}
						for _, wt := range ws {
							ahead := ""
							if c := wt.Counted(); !c.Equal(wt.MeasuredAt) {
								ahead = fmt.Sprintf("  (dated ahead: counts as recorded, %s)", lot.FormatTime(c))
							}
							fmt.Fprintf(w, "  weight %8s  measured %s  by %s%s\n", wt.Grams, lot.FormatTime(wt.MeasuredAt), wt.RecordedBy, ahead)
						}
					})
				}),
			},
			{
				Name:        "list",
				Usage:       "list patients",
				ArgsUsage:   " ",
				Description: example("celltrack --user aud patient list"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					ps, err := rt.lots().Patients()
					if err != nil {
						return err
					}
					views := []map[string]any{}
					for _, p := range ps {
						views = append(views, lot.ViewPatient(p, nil))
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "MRN\tNAME\tBORN\tSEX")
						for _, p := range ps {
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.MRN, p.Name, lot.FormatDate(p.Born), p.Sex)
						}
						tw.Flush()
					})
				}),
			},
		},
	}
}

// printScreenings lists a donor's screenings by number, voided ones marked
// VOID with who, when, why and the signature, and the donor's status.
func printScreenings(w io.Writer, ss []release.Screening, status *release.Screening) {
	if len(ss) == 0 {
		fmt.Fprintln(w, "  not screened")
		return
	}
	fmt.Fprintln(w, "  screenings")
	for _, s := range ss {
		fmt.Fprintf(w, "    #%d  tested %s: %s; recorded %s by %s; %s\n", s.Seq, lot.FormatDate(s.Tested), s.Summary(),
			lot.FormatTime(s.RecordedAt), s.RecordedBy, s.Status())
		if s.Voided() {
			g := s.VoidSignature
			fmt.Fprintf(w, "        signed by %s (%s) at %s — %s\n", g.FullName, g.User, lot.FormatTime(g.Time), g.Meaning)
		}
	}
	fmt.Fprintf(w, "  status     %s\n", donorVerdict(status))
}

// donorVerdict is a donor's status from release.Current.
func donorVerdict(status *release.Screening) string { return release.DonorVerdict(status) }
