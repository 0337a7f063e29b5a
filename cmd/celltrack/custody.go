package main

import (
	"fmt"
	"io"
	"maps"
	"strings"
	"text/tabwriter"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
	"github.com/google/uuid"
	"github.com/urfave/cli/v2"
)

// custody is the custody service: the database's, or the server's with
// --server.
func (rt *runtime) custody() lot.CustodyService {
	if rt.client != nil {
		return web.NewRemoteCustody(rt.client)
	}
	return store.NewCustodyService(rt.db)
}

// custodyCommands are the container subcommands that move a container along
// its chain of custody, and its history.
func (rt *runtime) custodyCommands() []*cli.Command {
	move := func(name, usage, desc string, flags []cli.Flag, do func(c *cli.Context, ref string) (lot.Container, error)) *cli.Command {
		return &cli.Command{
			Name: name, Usage: usage, ArgsUsage: "CONTAINER", Description: desc, Flags: flags,
			Action: rt.action(writeDB, 1, func(c *cli.Context) error {
				ct, err := do(c, c.Args().First())
				if err != nil {
					return err
				}
				return rt.out(rt.containerView(ct), func(w io.Writer) {
					fmt.Fprintf(w, "container %s is %s at site %s; custodian %s\n", ct.Code(), ct.State, ct.Site, ct.Custodian)
				})
			}),
		}
	}
	return []*cli.Command{
		move("store", "put a container into storage at its site (lab)",
			example("celltrack --user liu container store --location 'LN2-A rack 3 box 2 pos 14' G12342600000101"),
			[]cli.Flag{&cli.StringFlag{Name: "location", Required: true, Usage: "freezer and position"}},
			func(c *cli.Context, ref string) (lot.Container, error) {
				return rt.custody().Store(actor(c), ref, c.String("location"))
			}),
		move("ship", "ship a stored container to another site (lab)",
			example("celltrack --user liu container ship --to CLINIC-A --courier 'BioCour #4471' --condition 'dry shipper, LN2 vapour' G12342600000101"),
			[]cli.Flag{
				&cli.StringFlag{Name: "to", Required: true, Usage: "destination site id"},
				&cli.StringFlag{Name: "courier", Usage: "courier and consignment number"},
				&cli.StringFlag{Name: "condition", Usage: "shipping condition, e.g. dry shipper"},
			},
			func(c *cli.Context, ref string) (lot.Container, error) {
				return rt.custody().Ship(actor(c), ref, lot.Move{Site: c.String("to"), Courier: c.String("courier"), Condition: c.String("condition")})
			}),
		move("receive", "receive a shipped container at the site it was shipped to (lab, nurse)",
			"Say whether the shipping temperature went out of range with --excursion. A container received with\n"+
				"--excursion yes may not be thawed or stored: the lab quarantines it pending investigation, then stores or discards it.\n\n"+
				example("celltrack --user nina container receive --at CLINIC-A --condition 'shipper intact, logger OK' --excursion no G12342600000101"),
			[]cli.Flag{
				&cli.StringFlag{Name: "at", Required: true, Usage: "the receiving site id"},
				&cli.StringFlag{Name: "condition", Usage: "condition on arrival"},
				&cli.StringFlag{Name: "excursion", Usage: "temperature excursion in transit: yes or no"},
			},
			func(c *cli.Context, ref string) (lot.Container, error) {
				return rt.custody().Receive(actor(c), ref, lot.Move{Site: c.String("at"), Condition: c.String("condition"), Excursion: c.String("excursion")})
			}),
		move("thaw", "record a thaw and the post-thaw viability and viable cells, which doses then use (lab, nurse)",
			example("celltrack --user nina container thaw --viability 91.5 --viable-cells 9.1e7 --at 2026-11-25T08:40Z G12342600000101"),
			[]cli.Flag{
				&cli.StringFlag{Name: "viability", Required: true, Usage: "post-thaw viability, percent"},
				&cli.StringFlag{Name: "viable-cells", Required: true, Usage: "post-thaw viable cells in the container, e.g. 9.1e7"},
				&cli.StringFlag{Name: "at", Usage: "when it was thawed, ISO 8601 with zone (default now)"},
			},
			func(c *cli.Context, ref string) (lot.Container, error) {
				var t lot.Thaw
				var err error
				if t.Viability, err = lot.ParsePercent("--viability", c.String("viability")); err != nil {
					return lot.Container{}, err
				}
				if t.ViableCells, err = lot.ParseCells("--viable-cells", c.String("viable-cells")); err != nil {
					return lot.Container{}, err
				}
				if c.IsSet("at") {
					if t.At, err = lot.ParseTime("--at", c.String("at")); err != nil {
						return lot.Container{}, err
					}
				}
				return rt.custody().Thaw(actor(c), ref, t)
			}),
		move("dispense", "hand a thawed container over for one patient (lab, nurse)",
			"The lot must be released and not expired; an autologous rFib container goes only to its source patient.\n\n"+
				example("celltrack --user nina container dispense --patient MRN-1001 G12342600000101"),
			[]cli.Flag{&cli.StringFlag{Name: "patient", Required: true, Usage: "the patient's MRN (wristband)"}},
			func(c *cli.Context, ref string) (lot.Container, error) {
				return rt.custody().Dispense(actor(c), ref, c.String("patient"))
			}),
		move("discard", "take a container out of use for good (lab)",
			example("celltrack --user liu container discard --reason 'bag cracked on thaw' G12342600000101"),
			[]cli.Flag{&cli.StringFlag{Name: "reason", Required: true, Usage: "why"}},
			func(c *cli.Context, ref string) (lot.Container, error) {
				return rt.custody().Discard(actor(c), ref, c.String("reason"))
			}),
		move("return", "bring a dispensed, not infused container back into custody (lab, nurse)",
			"A returned container that was thawed can never be stored again; it must be discarded.\n\n"+
				example("celltrack --user nina container return --reason 'infusion postponed: fever' G12342600000101"),
			[]cli.Flag{&cli.StringFlag{Name: "reason", Required: true, Usage: "why it was not infused"}},
			func(c *cli.Context, ref string) (lot.Container, error) {
				return rt.custody().Return(actor(c), ref, c.String("reason"))
			}),
		move("quarantine", "hold a container pending investigation (lab)",
			example("celltrack --user liu container quarantine --reason 'temperature excursion in transit' G12342600000101"),
			[]cli.Flag{&cli.StringFlag{Name: "reason", Required: true, Usage: "why"}},
			func(c *cli.Context, ref string) (lot.Container, error) {
				return rt.custody().Quarantine(actor(c), ref, c.String("reason"))
			}),
		{
			Name:        "history",
			Usage:       "show a container's whole journey, oldest first",
			ArgsUsage:   "CONTAINER",
			Description: "Each step: when (UTC), what, who, where, and from which custodian to which.\n\n" + example("celltrack --user aud container history G12342600000101"),
			Action: rt.action(readDB, 1, func(c *cli.Context) error {
				ct, es, err := rt.custody().History(c.Args().First())
				if err != nil {
					return err
				}
				views := []map[string]any{}
				from := make([]string, len(es)) // the custodian before each event
				// An event keeps the MRN it was recorded with; a patient whose
				// MRN was corrected since is named by the MRN now as well.
				for i, e := range es {
					if was, ok := e.Details["patient_mrn"]; ok && e.PatientID != uuid.Nil {
						p, err := rt.lots().Patient(e.PatientID.String())
						if err != nil {
							return err
						}
						if p.MRN != was {
							es[i].Details = maps.Clone(e.Details)
							es[i].Details["patient_mrn"] = p.MRN + " (recorded as " + was + ")"
						}
					}
				}
				for i, e := range es {
					if i > 0 {
						from[i] = es[i-1].Custodian
					}
					views = append(views, map[string]any{"id": e.ID, "from": e.From, "to": e.To, "at": e.At, "by": e.By,
						"site": e.Site, "location": e.Location, "from_custodian": from[i], "custodian": e.Custodian,
						"patient_id": e.PatientID, "reason": e.Reason, "details": e.Details})
				}
				return rt.out(map[string]any{"container": rt.containerView(ct), "events": views}, func(w io.Writer) {
					fmt.Fprintf(w, "Container %s  now %s at %s\n", ct.Code(), ct.State, dash(ct.Site))
					if !ct.ThawedAt.IsZero() {
						fmt.Fprintf(w, "  thawed %s: viability %s %%, %s viable cells (doses use these)\n", lot.FormatTime(ct.ThawedAt), ct.ThawViability, ct.ViableCells)
					}
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "WHEN\tSTEP\tBY\tSITE\tCUSTODY\tDETAILS")
					for i, e := range es {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", lot.FormatTime(e.At), e.To, e.By, dash(e.Site), custodyText(from[i], e.Custodian), eventDetails(e))
					}
					tw.Flush()
				})
			}),
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func custodyText(from, to string) string {
	if from == "" || from == to {
		return dash(to)
	}
	return from + " → " + to
}

// eventDetails is the move-specific part of a history line, in a fixed order.
func eventDetails(e lot.Event) string {
	var parts []string
	if e.Location != "" {
		parts = append(parts, "location "+e.Location)
	}
	for _, k := range []struct{ key, label string }{{"to_site", "to"}, {"courier", "courier"}, {"condition", "condition"},
		{"excursion", "excursion"}, {"viability_pct", "viability %"}, {"viable_cells", "viable cells"}, {"patient_mrn", "patient"},
		{"volume_ml", "mL"}, {"cells", "cells"}, {"witness", "witness"}, {"infusion", "infusion"}} {
		if x, ok := e.Details[k.key]; ok {
			parts = append(parts, k.label+" "+x)
		}
	}
	if e.Reason != "" {
		parts = append(parts, "reason: "+e.Reason)
	}
	return strings.Join(parts, "; ")
}

func (rt *runtime) siteCommand() *cli.Command {
	return &cli.Command{
		Name:  "site",
		Usage: "the lab and clinics that hold containers",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "register a site; the first one added is the home site where containers start (lab)",
				ArgsUsage: "ID",
				Description: "--tz gives the site its own IANA time zone: patients treated there count their days in it.\n" +
					"Without it the site uses the facility's zone (set at init).\n\n" +
					example("celltrack --user liu site add --name 'Cell therapy lab' LAB",
						"celltrack --user liu site add --name 'Rheumatology day unit, Centre 2' --tz Asia/Shanghai CLINIC-2"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Required: true, Usage: "the site's name"},
					&cli.StringFlag{Name: "tz", Usage: "the site's IANA time `ZONE`, e.g. Asia/Shanghai (default: the facility's)"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					if c.IsSet("tz") && c.String("tz") == "" {
						_, err := lot.LoadZone("--tz", "")
						return err
					}
					s, err := rt.custody().AddSite(actor(c), lot.Site{Code: c.Args().First(), Name: c.String("name"), TZ: c.String("tz")})
					if err != nil {
						return err
					}
					return rt.out(siteView(s), func(w io.Writer) {
						home := ""
						if s.Home {
							home = " (home site: every container starts here)"
						}
						fmt.Fprintf(w, "added site %s%s\n", s.Code, home)
						fmt.Fprintf(w, "time zone %s: patients treated at %s count their days in it\n", siteZoneText(s), s.Code)
					})
				}),
			},
			{
				Name:      "set-tz",
				Usage:     "change a site's time zone, or the facility's with --facility: an audited change with a reason (admin)",
				ArgsUsage: "[SITE]",
				Description: "Courses under way at the site (or, for the facility, at every site without a zone of its own)\n" +
					"count their days in the new zone from now on: \"today\", windows and the day an infusion was given.\n" +
					"The old and the new zone and the reason are kept in the audit trail; the output says how many\n" +
					"courses under way it moved, so that a physician reviews them with `celltrack schedule show`.\n\n" +
					example("celltrack --user alice site set-tz --tz Asia/Shanghai --reason 'clinic is in Nanjing' CLINIC-2",
						"celltrack --user alice site set-tz --facility --tz America/New_York --reason 'facility moved to Charleston'"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "tz", Required: true, Usage: "the new IANA time `ZONE`"},
					&cli.StringFlag{Name: "reason", Required: true, Usage: "why the zone changes"},
					&cli.BoolFlag{Name: "facility", Usage: "change the facility's zone instead of a site's"},
				},
				Action: rt.action(writeDB, -1, func(c *cli.Context) error {
					var ch lot.ZoneChange
					var err error
					switch n := c.NArg(); {
					case c.Bool("facility") && n != 0:
						return lot.Errorf(lot.EUSAGE, "`%s --facility` takes no SITE but got %s; drop --facility to change a site's zone", c.Command.HelpName, c.Args().First())
					case c.Bool("facility"):
						ch, err = rt.custody().SetFacilityZone(actor(c), c.String("tz"), c.String("reason"))
					case n != 1:
						return lot.Errorf(lot.EUSAGE, "`%s` needs one SITE, or --facility for the facility's zone; usage: %s [flags] SITE", c.Command.HelpName, c.Command.HelpName)
					default:
						ch, err = rt.custody().SetSiteZone(actor(c), c.Args().First(), c.String("tz"), c.String("reason"))
					}
					if err != nil {
						return err
					}
					what, old := "facility", ch.Old
					if ch.Site != "" {
						what = "site " + ch.Site
					}
					if old == "" {
						old = "the facility's"
					}
					return rt.out(map[string]any{"site": ch.Site, "old": ch.Old, "new": ch.New, "active_courses": ch.ActiveCourses, "reason": c.String("reason")}, func(w io.Writer) {
						fmt.Fprintf(w, "%s time zone changed from %s to %s\n", what, old, ch.New)
						if ch.ActiveCourses > 0 {
							fmt.Fprintf(w, "%d course(s) under way now count their days in %s; review them with `celltrack schedule show`\n", ch.ActiveCourses, ch.New)
						}
					})
				}),
			},
			{
				Name:        "list",
				Usage:       "list the sites",
				ArgsUsage:   " ",
				Description: example("celltrack --user aud site list"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					ss, err := rt.custody().Sites()
					if err != nil {
						return err
					}
					views := []map[string]any{}
					for _, s := range ss {
						views = append(views, siteView(s))
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "SITE\tNAME\tHOME\tTIME ZONE")
						for _, s := range ss {
							home := ""
							if s.Home {
								home = "yes"
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Code, s.Name, home, siteZoneText(s))
						}
						tw.Flush()
					})
				}),
			},
		},
	}
}

func siteView(s lot.Site) map[string]any {
	return map[string]any{"id": s.ID, "code": s.Code, "name": s.Name, "home": s.Home, "time_zone": s.TZ, "created_at": s.CreatedAt, "created_by": s.CreatedBy}
}

// siteZoneText is a site's zone as shown: its own, or the facility's
// (lot.DisplayZone, which the runtime set from the database).
func siteZoneText(s lot.Site) string {
	if s.TZ != "" {
		return s.TZ
	}
	return lot.ZoneName(lot.DisplayZone()) + " (facility's)"
}
