package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
)

// doses is the dose service: the database's, or the server's with --server
// (which checks the signers' passwords again before it signs).
func (rt *runtime) doses() dose.Service {
	if rt.client != nil {
		return web.NewRemoteDoses(rt.client, rt.client.signatures)
	}
	return store.NewDoseService(rt.db)
}

func (rt *runtime) protocolCommand() *cli.Command {
	return &cli.Command{
		Name:  "protocol",
		Usage: "list, show and add dosing protocols (regimens as data, versioned)",
		Subcommands: []*cli.Command{
			{
				Name: "list", Usage: "list protocols (latest version of each)", ArgsUsage: " ",
				Description: example("celltrack --user aud protocol list"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					ps, err := rt.doses().Protocols()
					if err != nil {
						return err
					}
					var views []any
					for _, p := range ps {
						views = append(views, protocolView(p))
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "PROTOCOL\tVERSION\tPRODUCT\tDOSE\tSCHEDULE")
						for _, p := range ps {
							fmt.Fprintf(tw, "%s\tv%d\t%s\t%s\t%s\n", p.Name, p.Version, p.Product.Product(), p.DoseText(1), p.ScheduleText())
						}
						tw.Flush()
					})
				}),
			},
			{
				Name: "show", Usage: "show a protocol with every limit the bedside check applies", ArgsUsage: "NAME",
				Description: "With --json the output is the protocol file format: edit it and `protocol add` it as a new version.\n\n" +
					example("celltrack --user aud protocol show ss-rfib-12", "celltrack --user aud protocol show --version 1 --json sle-uc-d0d7"),
				Flags: []cli.Flag{&cli.IntFlag{Name: "version", Usage: "show this version (default: the latest)"}},
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					p, err := rt.doses().Protocol(c.Args().First(), c.Int("version"))
					if err != nil {
						return err
					}
					return rt.out(p.File(), func(w io.Writer) { printProtocol(w, p) })
				}),
			},
			{
				Name: "add", Usage: "add a protocol, or a new version of one, from a JSON file (physician)", ArgsUsage: " ",
				Description: "The file format is in the README, \"Protocol files\".\n\n" + example("celltrack --user pat protocol add --file ss-uc-bands.json"),
				Flags:       []cli.Flag{&cli.StringFlag{Name: "file", Required: true, Usage: "the protocol `FILE` (JSON, format 1)"}},
				Action: rt.action(writeDB, 0, func(c *cli.Context) error {
					data, err := os.ReadFile(c.String("file"))
					if err != nil {
						return lot.Errorf(lot.EINVALID, "--file %s cannot be read: %v", c.String("file"), err)
					}
					p, err := dose.ParseProtocol(data)
					if err != nil {
						return err
					}
					sp, err := rt.doses().AddProtocol(actor(c), p)
					if err != nil {
						return err
					}
					return rt.out(protocolView(sp), func(w io.Writer) { fmt.Fprintf(w, "added protocol %s version %d\n", sp.Name, sp.Version) })
				}),
			},
		},
	}
}

func protocolView(p dose.StoredProtocol) map[string]any {
	return map[string]any{"id": p.ID, "name": p.Name, "version": p.Version, "product": p.Product, "dose": p.DoseText(1),
		"schedule": p.ScheduleText(), "source": p.Source, "created_by": p.CreatedBy, "created_at": p.CreatedAt}
}

func printProtocol(w io.Writer, p dose.StoredProtocol) {
	fmt.Fprintf(w, "Protocol %s v%d: %s\n", p.Name, p.Version, p.Title)
	fmt.Fprintf(w, "  source        %s\n", p.Source)
	fmt.Fprintf(w, "  product       %s\n", p.Product.Product())
	fmt.Fprintf(w, "  dose          %s\n", p.DoseText(1))
	for _, ch := range p.Changes {
		fmt.Fprintf(w, "                from infusion %d: %s\n", ch.From, p.DoseText(ch.From))
	}
	fmt.Fprintf(w, "  schedule      %s (%d infusions)\n", p.ScheduleText(), p.Infusions())
	follow := "the plan"
	if p.FollowActual {
		follow = "the actual date of the infusion before"
	}
	fmt.Fprintf(w, "  later dates   follow %s\n", follow)
	fmt.Fprintf(w, "  window        ±%d days\n", p.WindowDays)
	fmt.Fprintf(w, "  tolerance     -%s %% / +%s %%\n", p.ToleranceMinus, p.TolerancePlus)
	if p.CapCells > 0 {
		fmt.Fprintf(w, "  cap           %s cells per infusion\n", p.CapCells)
	}
	fmt.Fprintf(w, "  weight age    at most %d days\n", p.MaxWeightAgeDays)
	fmt.Fprintf(w, "  thaw window   at most %d min from thaw to start\n", p.MaxThawMinutes)
	fmt.Fprintf(w, "  infusion time %d min\n", p.InfusionMinutes)
	fmt.Fprintf(w, "  endotoxin     at most %s EU/kg/h (USP <85>)\n", dose.FormatEU(p.EndotoxinMilliEUPerKgH))
	if p.Notes != "" {
		fmt.Fprintf(w, "  notes         %s\n", p.Notes)
	}
	fmt.Fprintf(w, "  added         %s by %s\n", lot.FormatTime(p.CreatedAt), p.CreatedBy)
}

func (rt *runtime) scheduleCommand() *cli.Command {
	return &cli.Command{
		Name:  "schedule",
		Usage: "lay out, show and change a patient's treatment schedule",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "start a course of a protocol for a patient (physician)", ArgsUsage: "MRN",
				Description: "A patient has one active course; a second course of the same protocol starts after the first ends.\n" +
					"The course counts its days (\"day 7\", \"today\", windows) in the time zone of the site that treats the patient (--site),\n" +
					"or the facility's when no site is given or the site has no zone of its own.\n\n" +
					example("celltrack --user pat schedule create --protocol sle-uc-d0d7 --start 2026-11-25 --site CLINIC-A MRN-1001"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "protocol", Required: true, Usage: "protocol `NAME` (latest version is used)"},
					&cli.StringFlag{Name: "start", Required: true, Usage: "date of the first infusion, YYYY-MM-DD, a calendar day at the treating site"},
					&cli.StringFlag{Name: "site", Usage: "the `SITE` that treats the patient; its time zone counts the days (default: the facility's zone)"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					start, err := lot.ParseDate("--start", c.String("start"))
					if err != nil {
						return err
					}
					co, err := rt.doses().CreateSchedule(actor(c), c.Args().First(), c.String("protocol"), start, c.String("site"))
					if err != nil {
						return err
					}
					return rt.out(courseView(co), func(w io.Writer) {
						fmt.Fprintf(w, "scheduled %s on %s v%d, course %d\n", c.Args().First(), co.Protocol.Name, co.Protocol.Version, co.Schedule.Course)
						printZone(w, co, rt.clock())
						printEntries(w, co)
					})
				}),
			},
			{
				Name: "show", Usage: "show a patient's courses: planned, given, missed and due infusions", ArgsUsage: "MRN",
				Description: example("celltrack --user aud schedule show MRN-2001"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					p, cs, err := rt.doses().Courses(c.Args().First())
					if err != nil {
						return err
					}
					var views []any
					for _, co := range cs {
						views = append(views, courseView(co))
					}
					return rt.out(views, func(w io.Writer) {
						fmt.Fprintf(w, "Patient %s  %s\n", p.MRN, p.Name)
						if len(cs) == 0 {
							fmt.Fprintln(w, "  no schedule")
						}
						for _, co := range cs {
							state := "active"
							if co.Ended {
								state = "ended"
							}
							fmt.Fprintf(w, "%s v%d, course %d (%s), created %s by %s\n", co.Protocol.Name, co.Protocol.Version, co.Schedule.Course, state,
								lot.FormatTimeIn(co.Schedule.CreatedAt, co.Zone), co.Schedule.CreatedBy)
							if !co.Ended {
								printZone(w, co, rt.clock())
							} else {
								fmt.Fprintf(w, "  days counted in %s\n", zoneText(co))
							}
							printEntries(w, co)
							for _, ch := range co.Schedule.Changes {
								fmt.Fprintf(w, "  change: infusion %d moved to %s — %s; signed %s\n", ch.Infusion, lot.FormatDate(ch.Date), ch.Reason, ch.Signature)
							}
						}
					})
				}),
			},
			{
				Name: "change", Usage: "move one planned infusion to another date: a signed, reasoned change (physician)", ArgsUsage: "MRN",
				Description: "The physician signs with their password. Later infusions follow the new date.\n\n" +
					example("celltrack --user pat schedule change --infusion 2 --date 2026-12-03 --reason 'patient febrile on day 7' MRN-1001"),
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "infusion", Required: true, Usage: "the infusion `N` to move"},
					&cli.StringFlag{Name: "date", Required: true, Usage: "its new date, YYYY-MM-DD"},
					&cli.StringFlag{Name: "reason", Required: true, Usage: "why"},
					&cli.BoolFlag{Name: "password-stdin", Usage: "read the signing password from standard input"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					date, err := lot.ParseDate("--date", c.String("date"))
					if err != nil {
						return err
					}
					// Refuse the wrong people before asking for any password
					// (the store's Authenticate checks the role again).
					if err := rt.mayAct(actor(c), audit.ScheduleChange); err != nil {
						return err
					}
					pw, err := rt.password(c, actor(c))
					if err != nil {
						return err
					}
					u, err := rt.users().Authenticate(actor(c), pw, dose.MeaningSchedule)
					if err != nil {
						return err
					}
					co, err := rt.doses().ChangeSchedule(u, c.Args().First(), c.Int("infusion"), date, c.String("reason"))
					if err != nil {
						return err
					}
					return rt.out(courseView(co), func(w io.Writer) {
						fmt.Fprintf(w, "moved infusion %d of %s to %s, signed by %s\n", c.Int("infusion"), c.Args().First(), lot.FormatDate(date), u.FullName)
						printEntries(w, co)
					})
				}),
			},
		},
	}
}

// zoneText says which zone a course counts its days in and why:
// "Asia/Shanghai (site CLINIC-CN)", "UTC (the facility's; no treating site
// given)".
func zoneText(co dose.Course) string {
	switch {
	case co.ZoneFrom != "facility":
		return fmt.Sprintf("%s (%s)", lot.ZoneName(co.Zone), co.ZoneFrom)
	case co.Schedule.Site != "":
		return fmt.Sprintf("%s (the facility's; site %s has no zone of its own)", lot.ZoneName(co.Zone), co.Schedule.Site)
	}
	return fmt.Sprintf("%s (the facility's; no treating site given)", lot.ZoneName(co.Zone))
}

// printZone says where a course's days are counted and what day it is there.
func printZone(w io.Writer, co dose.Course, now time.Time) {
	fmt.Fprintf(w, "  days counted in %s; now %s there\n", zoneText(co), lot.FormatTimeIn(now, co.Zone))
}

func printEntries(w io.Writer, co dose.Course) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tDATE\tWINDOW\tDOSE\tSTATUS\tGIVEN")
	for i, e := range co.Entries {
		given := ""
		switch {
		case e.Status == dose.Given:
			given = lot.FormatTimeIn(e.Given.At, co.Zone) + "  infusion " + e.Given.InfusionID.String()
			if day := e.Given.DayIn(co.Zone); !day.Equal(dose.DateIn(e.Given.At, co.Zone)) {
				// The zone changed since: the day stays the one its
				// bedside check counted.
				given += fmt.Sprintf("  (on %s in the zone in force then)", lot.FormatDate(day))
			}
		case e.FromPrevious:
			// Say why the date is not the one first planned.
			prev := co.Entries[i-1]
			day := prev.Given.DayIn(co.Zone)
			given = fmt.Sprintf("(%d days after infusion %d, given %s)", e.Date.Sub(day)/(24*time.Hour), prev.Number, lot.FormatDate(day))
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s – %s\t%s\t%s\t%s\n", e.Number, lot.FormatDate(e.Date), lot.FormatDate(e.From), lot.FormatDate(e.To), e.Dose, e.Status, given)
	}
	tw.Flush()
}

func courseView(co dose.Course) map[string]any {
	var es []map[string]any
	for _, e := range co.Entries {
		v := map[string]any{"number": e.Number, "date": lot.FormatDate(e.Date), "window_from": lot.FormatDate(e.From),
			"window_to": lot.FormatDate(e.To), "dose": e.Dose, "status": e.Status}
		if e.Status == dose.Given {
			v["infusion"], v["given_at"], v["given_at_local"] = e.Given.InfusionID, e.Given.At, lot.FormatTimeIn(e.Given.At, co.Zone)
			v["given_on"] = lot.FormatDate(e.Given.DayIn(co.Zone))
		} else if e.FromPrevious {
			v["follows_given_infusion"] = e.Number - 1
		}
		es = append(es, v)
	}
	return map[string]any{"schedule": co.Schedule.ID, "protocol": co.Protocol.Name, "protocol_version": co.Protocol.Version,
		"course": co.Schedule.Course, "start": lot.FormatDate(co.Schedule.Start), "ended": co.Ended, "entries": es,
		"changes": co.Schedule.Changes, "site": co.Schedule.Site, "time_zone": lot.ZoneName(co.Zone), "time_zone_from": co.ZoneFrom}
}

func (rt *runtime) doseCommand() *cli.Command {
	return &cli.Command{
		Name:  "dose",
		Usage: "calculate a dose, run the bedside check, record the infusion",
		Subcommands: []*cli.Command{
			{
				Name: "calc", Usage: "show the working of a dose: weight, cells required, containers, volume to draw, endotoxin", ArgsUsage: "MRN",
				Description: example("celltrack --user aud dose calc MRN-1001", "celltrack --user aud dose calc --infusion 8 MRN-2001", "celltrack --user aud dose calc --container G12342600000101 MRN-1001"),
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "infusion", Usage: "infusion `N` of the active course (default: the next one)"},
					&cli.StringSliceFlag{Name: "container", Usage: "use this container `CODE` (repeat for several); default: propose from the candidates"},
				},
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					res, err := rt.doses().Calc(dose.CalcRequest{MRN: c.Args().First(), Infusion: c.Int("infusion"), Containers: c.StringSlice("container")})
					if err != nil {
						return err
					}
					v := calcView(res.Calc)
					v["patient"], v["protocol"], v["protocol_version"], v["course"] = res.Patient.MRN, res.Course.Protocol.Name, res.Course.Protocol.Version, res.Course.Schedule.Course
					v["planned"], v["status"], v["weight_measured_at"] = lot.FormatDate(res.Entry.Date), res.Entry.Status, res.Weight.MeasuredAt
					cands := []map[string]any{}
					for _, s := range res.Candidates {
						viable, post := s.Viable()
						cands = append(cands, map[string]any{"container": s.Container.Code(), "lot": s.Lot.Number, "state": s.Container.State,
							"viable_cells": viable.Exact(), "post_thaw": post, "volume_ml": s.Container.VolumeML.String()})
					}
					v["candidates"] = cands
					if len(res.Failed) > 0 {
						v["bedside_failed"] = res.Failed
					}
					return rt.out(v, func(w io.Writer) { printCalc(w, res) })
				}),
			},
			{
				Name: "check", Usage: "the bedside check: GO or NO-GO with every check (exit 4 on NO-GO)", ArgsUsage: "MRN",
				Description: example("celltrack --user aud dose check --container G12342600000101 MRN-1001"),
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "container", Required: true, Usage: "the container `CODE` in your hand (repeat for several)"},
					&cli.StringFlag{Name: "volume-ml", Usage: "the volume `V` you will infuse, if not the computed one"},
				},
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					vol, err := statedVolume(c)
					if err != nil {
						return err
					}
					rep, err := rt.doses().Check(c.Args().First(), c.StringSlice("container"), vol)
					if err != nil {
						return err
					}
					return rt.printCheck(dose.ViewReport(rep), rep.Err())
				}),
			},
			{
				Name: "administer", Usage: "record an infusion after the check, signed by the nurse and a witness (nurse, physician)", ArgsUsage: "MRN",
				Description: "Both re-enter their passwords; with --password-stdin the nurse's is the first line and the witness's the second.\n" +
					"The whole bedside check runs before any password is read, and again in the writing transaction; NO-GO writes nothing.\n" +
					"--checked-ml binds the infusion to the volume `dose check` showed: NO-GO if the dose computed now is another.\n\n" +
					example("celltrack --user nina dose administer --container G12342600000101 --witness omar MRN-1001"),
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "container", Required: true, Usage: "container `CODE` infused (repeat for several)"},
					&cli.StringFlag{Name: "witness", Required: true, Usage: "the second clinical `USER` who checked"},
					&cli.StringFlag{Name: "start", Usage: "start of the infusion (ISO 8601 with zone; default now)"},
					&cli.StringFlag{Name: "volume-ml", Usage: "volume `V` infused, if not the computed one"},
					&cli.StringFlag{Name: "checked-ml", Usage: "the volume `V` `dose check` showed (what you drew up); NO-GO if the dose is now another"},
					&cli.BoolFlag{Name: "password-stdin", Usage: "read the two passwords from standard input, one a line"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					vol, err := statedVolume(c)
					if err != nil {
						return err
					}
					var checked lot.Tenths
					if c.IsSet("checked-ml") {
						if checked, err = dose.ParseCheckedVolume("--checked-ml", c.String("checked-ml")); err != nil {
							return err
						}
					}
					a := dose.Administration{MRN: c.Args().First(), Containers: c.StringSlice("container"), Volume: vol, Shown: dose.Shown{Volume: checked}, Recording: true}
					if c.IsSet("start") {
						if a.Start, err = lot.ParseTime("--start", c.String("start")); err != nil {
							return err
						}
					}
					// Refuse the wrong nurse, and a witness who is the nurse,
					// before asking for any password; nothing else is said
					// of the witness before the witness's password
					// (CoSigner: one answer for an unknown name and a wrong
					// password, as at the login).
					nu, err := rt.users().User(actor(c))
					if err != nil {
						return err
					}
					if err := audit.Authorize(nu, audit.DoseAdminister); err != nil {
						return err
					}
					if err := dose.CheckWitnessName(nu, c.String("witness")); err != nil {
						return err
					}
					// Then the bedside rules: a NO-GO is said before any
					// password is read, and counts no failed attempt.
					rep, err := rt.doses().CheckAdministration(a)
					if err != nil {
						return err
					}
					if err := rep.Err(); err != nil {
						return rt.printCheck(dose.ViewReport(rep), err)
					}
					pw1, err := rt.password(c, actor(c)+" (administering)")
					if err != nil {
						return err
					}
					pw2, err := rt.password(c, c.String("witness")+" (witness)")
					if err != nil {
						return err
					}
					nurse, err := rt.users().Authenticate(actor(c), pw1, dose.MeaningAdminister)
					if err != nil {
						return err
					}
					witness, err := rt.users().CoSigner("witness", c.String("witness"), pw2, dose.MeaningWitness)
					if err != nil {
						return err
					}
					in, rep, err := rt.doses().Administer(nurse, witness, a)
					if lot.ErrorCode(err) == lot.ENOGO {
						return rt.printCheck(dose.ViewReport(rep), err)
					}
					if err != nil {
						return err
					}
					v := dose.ViewInfusion(in, rep.Zone)
					return rt.out(v, func(w io.Writer) { printInfusion(w, c.Args().First(), v) })
				}),
			},
			{
				Name: "reaction", Usage: "record, correct or void an adverse reaction to an infusion (nurse, physician)", ArgsUsage: " ",
				Description: "Reactions are numbered #1, #2, … within the infusion (`trace patient` lists them). A correction (--corrects N)\n" +
					"or a void (--void N) needs a --reason and keeps the old reaction visible, marked corrected or void.\n\n" +
					example("celltrack --user nina dose reaction --infusion 0192… --grade 1 --text 'transient fever 38.1 °C'",
						"celltrack --user nina dose reaction --infusion 0192… --corrects 1 --grade 2 --text 'fever 39.2 °C' --reason 'misread thermometer'",
						"celltrack --user nina dose reaction --infusion 0192… --void 1 --reason 'entered for the wrong patient'"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "infusion", Required: true, Usage: "the infusion `ID` (from `schedule show`)"},
					&cli.IntFlag{Name: "grade", Usage: "CTCAE grade 1–5"},
					&cli.StringFlag{Name: "text", Usage: "what happened"},
					&cli.IntFlag{Name: "corrects", Usage: "record a correction of reaction number `N` of this infusion (marks it corrected)"},
					&cli.IntFlag{Name: "void", Usage: "mark reaction number `N` of this infusion void, without a replacement"},
					&cli.StringFlag{Name: "reason", Usage: "why a reaction is corrected or voided"},
				},
				Action: rt.action(writeDB, 0, rt.doseReaction),
			},
			{
				Name: "confirm-weight", Usage: "confirm a patient's latest weight after a change of more than 10 % (physician, signed)", ArgsUsage: "MRN",
				Description: "--kg is the weight you confirm, as `dose check` showed it (\"FAIL weight change: 72.0 kg is +16.1 % …\"). If the\n" +
					"latest weight is another (recorded since you looked), nothing is signed and the refusal names it: review it and\n" +
					"confirm again. A weight no bedside check needs confirmed — the patient's first, one within 10 % of the weight\n" +
					"its change is measured from, one an infusion was given on — is refused before the password, nothing signed.\n\n" +
					example("celltrack --user pat dose confirm-weight --kg 72.0 --reason 're-weighed: fluid overload' MRN-1001"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "kg", Required: true, Usage: "the weight you confirm, in kg, as the check showed it (for example 72.0)"},
					&cli.StringFlag{Name: "reason", Required: true, Usage: "why the change is real"},
					&cli.BoolFlag{Name: "password-stdin", Usage: "read the signing password from standard input"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					// Refuse the wrong people before asking for any password
					// (the store's Authenticate checks the role again).
					if err := rt.mayAct(actor(c), audit.WeightConfirm); err != nil {
						return err
					}
					kg, err := dose.ParseKgShown("--kg", c.String("kg"))
					if err != nil {
						return err
					}
					shown := dose.WeightShown{Grams: kg}
					// A weight recorded since the physician looked, or one
					// no check needs confirmed, is said before the password,
					// as a NO-GO is before the administer's: it costs no
					// attempt. The store checks again in the writing
					// transaction.
					if _, err := rt.doses().CheckConfirmWeight(c.Args().First(), shown); err != nil {
						return err
					}
					pw, err := rt.password(c, actor(c))
					if err != nil {
						return err
					}
					u, err := rt.users().Authenticate(actor(c), pw, dose.MeaningConfirmWeight)
					if err != nil {
						return err
					}
					wt, err := rt.doses().ConfirmWeight(u, c.Args().First(), shown, c.String("reason"))
					if err != nil {
						return err
					}
					return rt.out(lot.ViewWeight(wt), func(w io.Writer) {
						fmt.Fprintf(w, "confirmed %s measured %s for %s, signed by %s\n", wt.Grams, lot.FormatTime(wt.MeasuredAt), c.Args().First(), u.FullName)
					})
				}),
			},
		},
	}
}

// statedVolume reads --volume-ml as the bedside page and the API read
// volume_ml (dose.ParseVolume); 0 when it is not given (the computed volume).
func statedVolume(c *cli.Context) (lot.Tenths, error) {
	if !c.IsSet("volume-ml") {
		return 0, nil
	}
	return dose.ParseVolume("--volume-ml", c.String("volume-ml"))
}

func printCalc(w io.Writer, res dose.CalcResult) {
	k := res.Calc
	fmt.Fprintf(w, "Dose for %s (%s): %s v%d course %d, infusion %d planned %s (%s)\n", res.Patient.MRN, res.Patient.Name,
		res.Course.Protocol.Name, res.Course.Protocol.Version, res.Course.Schedule.Course, res.Entry.Number, lot.FormatDate(res.Entry.Date), res.Entry.Status)
	fmt.Fprintf(w, "  basis     %s\n", k.Basis)
	zone := res.Course.Zone // the treating site's, as the bedside check shows it
	if zone == nil {
		zone = lot.DisplayZone()
	}
	fmt.Fprintf(w, "  weight    %s measured %s by %s\n", res.Weight.Grams, lot.FormatTimeIn(res.Weight.MeasuredAt, zone), res.Weight.RecordedBy)
	fmt.Fprintf(w, "  required  %s  (%s cells)\n", k.Working, k.Required.Exact())
	fmt.Fprintf(w, "  candidates: %d container(s) of released, unexpired lots %s may receive\n", len(res.Candidates), res.Patient.MRN)
	for _, s := range res.Candidates {
		v, post := s.Viable()
		fmt.Fprintf(w, "    %s  lot %s  %s  %s viable (%s)  %s mL\n", s.Container.Code(), s.Lot.Number, s.Container.State, v, viableWhy(post, s.Lot), s.Container.VolumeML)
	}
	if len(k.Draws) == 0 {
		fmt.Fprintln(w, "  no container to draw from: none is released, unexpired and available for this patient")
	} else if res.Proposed {
		fmt.Fprintln(w, "  proposed draw:")
	} else {
		fmt.Fprintln(w, "  draw:")
	}
	for _, d := range k.Draws {
		fmt.Fprintf(w, "    %s  %s viable in %s mL = %s/mL; draw %s mL = %s cells\n", d.Code, d.Viable, d.Volume, d.ConcentrationPerML, d.Draw, d.Cells)
	}
	if len(k.Draws) > 0 {
		fmt.Fprintf(w, "  total     %s cells in %s mL, %s from the required dose\n", k.Given, k.Volume, dose.FormatDeviation(k.Deviation))
		if k.Short {
			fmt.Fprintln(w, "  SHORT     the containers hold fewer viable cells than required")
		}
		if k.EndotoxinKnown {
			fmt.Fprintf(w, "  endotoxin %s EU/kg/h over %d min (limit %s)\n", dose.FormatEU(k.EndotoxinMilliEUPerKgH), k.InfusionMinutes, dose.FormatEU(res.Course.Protocol.EndotoxinMilliEUPerKgH))
		} else {
			fmt.Fprintln(w, "  endotoxin unknown: no endotoxin result for a lot; QC must record one")
		}
	}
	if len(res.Failed) > 0 {
		fmt.Fprintf(w, "  NOT READY: the bedside check would be NO-GO now (%d check(s) failed):\n", len(res.Failed))
		for _, f := range res.Failed {
			fmt.Fprintf(w, "    %s: %s\n       → %s\n", f.Name, f.Detail, fixLine(f))
		}
	}
}

func viableWhy(postThaw bool, l lot.Lot) string {
	if postThaw {
		return "post-thaw count"
	}
	return "estimate: label × lot viability " + l.Viability.String() + " %"
}

// calcView is dose.ViewCalc as a map, which `dose calc` extends with the
// course and the candidate bags.
func calcView(k dose.Calculation) map[string]any {
	b, _ := json.Marshal(dose.ViewCalc(k))
	var v map[string]any
	json.Unmarshal(b, &v)
	return v
}

// printCheck prints a bedside check's report and returns its NO-GO error
// (nil for GO): the same for a check made here and one made by a server
// (--server), which answers with the same view.
func (rt *runtime) printCheck(v dose.ReportView, err error) error {
	if lot.ErrorCode(err) != lot.ENOGO && err != nil {
		return err
	}
	if oerr := rt.out(v, func(w io.Writer) { printReport(w, v) }); oerr != nil {
		return oerr
	}
	return err
}

// printReport prints a bedside check from its view (dose.ReportView), which
// is also what the server's API answers.
func printReport(w io.Writer, r dose.ReportView) {
	verdict := "GO"
	if !r.GO {
		verdict = "NO-GO"
	}
	fmt.Fprintln(w, verdict)
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Name, c.Detail)
		if !c.OK {
			fmt.Fprintf(w, "       → %s\n", fixLine(c))
		}
	}
	if r.GO && r.Calc != nil {
		fmt.Fprintf(w, "draw %s mL: %s cells (infusion %d)\n", r.Calc.VolumeML, cellsText(r.Calc.GivenCells), r.Calc.Infusion)
		// With several bags the total alone does not say how much from each.
		for _, d := range r.Calc.Draws {
			fmt.Fprintf(w, "  from %s: %s mL of %s mL (%s viable/mL) = %s cells\n", d.Container, d.DrawML, d.VolumeML, cellsText(d.ConcentrationPerML), cellsText(d.Cells))
		}
	}
}

// printInfusion prints a recorded infusion from its view (dose.InfusionView),
// which is also what the server's API answers.
func printInfusion(w io.Writer, mrn string, in dose.InfusionView) {
	zone, err := time.LoadLocation(in.TimeZone)
	if err != nil {
		zone = time.UTC // every time printed carries its zone's name or offset
	}
	fmt.Fprintf(w, "recorded infusion %s: %s, infusion %d of %s course %d\n", in.ID, mrn, in.Number, in.Protocol, in.Course)
	fmt.Fprintf(w, "  %s in %s mL (%s from %s), %s to %s\n", cellsText(in.GivenCells), in.VolumeML, deviationText(in.DeviationPct), cellsText(in.RequiredCells),
		lot.FormatTimeIn(in.Start, zone), lot.FormatTimeIn(in.End, zone))
	fmt.Fprintf(w, "  administered: %s\n  witnessed:    %s\n", in.Nurse, in.Witness)
}

// cellsText shows an exact cell count of a view ("62062000") as the text
// screens do ("6.2062×10^7"); a count that does not parse is shown as is.
func cellsText(exact string) string {
	n, err := strconv.ParseInt(exact, 10, 64)
	if err != nil {
		return exact
	}
	return lot.Cells(n).String()
}

// deviationText shows a view's deviation ("0.1") with its sign and unit.
func deviationText(pct string) string {
	t, err := lot.ParseTenths("deviation", strings.TrimPrefix(pct, "+"))
	if err != nil {
		if strings.HasPrefix(pct, "-") {
			if t, err = lot.ParseTenths("deviation", pct[1:]); err == nil {
				return dose.FormatDeviation(-t)
			}
		}
		return pct + " %"
	}
	return dose.FormatDeviation(t)
}

// doseReaction records a reaction, a correction of one (--corrects) or a
// void (--void), mirroring `release result`.
func (rt *runtime) doseReaction(c *cli.Context) error {
	infusion := c.String("infusion")
	if c.IsSet("void") {
		for _, f := range []string{"grade", "text", "corrects"} {
			if c.IsSet(f) {
				return lot.Errorf(lot.EUSAGE, "--void voids a reaction without a replacement; --%s does not apply (use --corrects to replace it)", f)
			}
		}
		var r dose.Reaction
		var err error
		r, err = rt.doses().VoidReaction(actor(c), infusion, c.Int("void"), c.String("reason"))
		if err != nil {
			return err
		}
		return rt.out(r, func(w io.Writer) {
			fmt.Fprintf(w, "voided reaction #%d (grade %d: %s) of infusion %s: %s\n", r.Seq, r.Grade, r.Text, r.InfusionID, r.VoidReason)
		})
	}
	for _, f := range []string{"grade", "text"} {
		if !c.IsSet(f) {
			return lot.Errorf(lot.EUSAGE, "`%s` needs --%s (or --void N --reason R to void a reaction)", c.Command.HelpName, f)
		}
	}
	var (
		r   dose.Reaction
		err error
	)
	if c.IsSet("corrects") {
		r, err = rt.doses().CorrectReaction(actor(c), infusion, c.Int("corrects"), c.Int("grade"), c.String("text"), c.String("reason"))
	} else if c.IsSet("reason") {
		err = lot.Errorf(lot.EINVALID, "--reason is for a correction or a void; give --corrects N or --void N too, or drop --reason")
	} else {
		r, err = rt.doses().RecordReaction(actor(c), dose.NewReaction{Infusion: infusion, Grade: c.Int("grade"), Text: c.String("text")})
	}
	if err != nil {
		return err
	}
	return rt.out(r, func(w io.Writer) {
		fmt.Fprintf(w, "recorded grade %d reaction #%d to infusion %s", r.Grade, r.Seq, r.InfusionID)
		if r.Corrects > 0 {
			fmt.Fprintf(w, " (corrects #%d, now marked corrected)", r.Corrects)
		}
		fmt.Fprintln(w)
	})
}

// fixLine is a failed bedside check's fix as the command line words it:
// the celltrack command that does it, where one does, after the fix.
func fixLine(c dose.Result) string {
	if c.Command == "" {
		return c.Fix
	}
	return c.Fix + " (`celltrack " + c.Command + "`)"
}
