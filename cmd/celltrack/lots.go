package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

var zeroTime time.Time

func (rt *runtime) lotCommand() *cli.Command {
	return &cli.Command{
		Name:  "lot",
		Usage: "register, split, list and import lots",
		Subcommands: []*cli.Command{
			{
				Name:      "register",
				Usage:     "register a lot in quarantine and issue its DIN (lab)",
				ArgsUsage: "LOT-NUMBER",
				Description: "A uc lot names its --donor; an rfib lot names its source --patient (MRN).\n\n" +
					example("celltrack --user liu lot register --source uc --donor D-0001 --cells 2.5e9 --viability 94.5 --volume-ml 250 \\",
						"    --manufactured 2026-11-20 --expires 2027-11-20 --passage 4 --location 'LN2-A rack 3' LOT-UC-1"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "source", Required: true, Usage: "uc or rfib"},
					&cli.StringFlag{Name: "donor", Usage: "donor id (uc lots)"},
					&cli.StringFlag{Name: "patient", Usage: "source patient MRN (rfib lots)"},
					&cli.StringFlag{Name: "cells", Required: true, Usage: "total cells, e.g. 2.5e9 or 2.5x10^9"},
					&cli.StringFlag{Name: "viability", Required: true, Usage: "viable cells, percent"},
					&cli.StringFlag{Name: "volume-ml", Required: true, Usage: "lot volume in mL"},
					&cli.StringFlag{Name: "manufactured", Required: true, Usage: "manufacturing date, YYYY-MM-DD"},
					&cli.StringFlag{Name: "expires", Required: true, Usage: "expiry date, YYYY-MM-DD (expires at 00:00 UTC that day)"},
					&cli.IntFlag{Name: "passage", Usage: "passage number"},
					&cli.StringFlag{Name: "cryopreserved", Usage: "cryopreservation date, YYYY-MM-DD"},
					&cli.StringFlag{Name: "location", Usage: "storage location"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					r, err := registrationFromFlags(c)
					if err != nil {
						return err
					}
					l, err := rt.lots().RegisterLot(actor(c), r)
					if err != nil {
						return err
					}
					return rt.out(rt.lotView(l), func(w io.Writer) {
						fmt.Fprintf(w, "registered lot %s in quarantine; DIN %s\n", l.Number, l.DIN.EyeReadable())
					})
				}),
			},
			{
				Name:      "split",
				Usage:     "split a lot into containers whose codes derive from its DIN (lab)",
				ArgsUsage: "LOT",
				Description: "The cells in containers can never exceed the lot's cells.\n\n" +
					example("celltrack --user liu lot split --containers 10 --cells-each 1e8 --volume-ml-each 50 LOT-UC-1"),
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "containers", Required: true, Usage: "how many bags or vials"},
					&cli.StringFlag{Name: "cells-each", Required: true, Usage: "cells in each container"},
					&cli.StringFlag{Name: "volume-ml-each", Usage: "volume of each container in mL (default: in proportion to the lot)"},
				},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					sp := lot.Split{Lot: c.Args().First(), Containers: c.Int("containers")}
					var err error
					if sp.CellsEach, err = lot.ParseCells("--cells-each", c.String("cells-each")); err != nil {
						return err
					}
					if c.IsSet("volume-ml-each") {
						if sp.VolumeEach, err = lot.ParseTenths("--volume-ml-each", c.String("volume-ml-each")); err != nil {
							return err
						}
						if sp.VolumeEach == 0 { // zero would mean "in proportion to the lot"
							return lot.Errorf(lot.EINVALID, "--volume-ml-each 0 is not a container volume; give mL, or leave it out to share the lot's volume in proportion")
						}
					}
					cs, err := rt.lots().SplitLot(actor(c), sp)
					if err != nil {
						return err
					}
					views := []map[string]any{}
					for _, ct := range cs {
						views = append(views, rt.containerView(ct))
					}
					return rt.out(views, func(w io.Writer) {
						fmt.Fprintf(w, "split %s into %d containers:\n", sp.Lot, len(cs))
						for _, ct := range cs {
							fmt.Fprintf(w, "  %s  %s cells  %s mL\n", ct.Code(), ct.Cells, ct.VolumeML)
						}
					})
				}),
			},
			{
				Name:        "show",
				Usage:       "show a lot and its containers",
				ArgsUsage:   "LOT",
				Description: "LOT is the lab lot number, the DIN (with or without check character) or the UUID.\n\n" + example("celltrack --user aud lot show LOT-UC-1", "celltrack --user aud lot show 'G1234 26 000001 4'"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					l, err := rt.lots().Lot(c.Args().First())
					if err != nil {
						return err
					}
					cs, err := rt.lots().Containers(l.ID.String())
					if err != nil {
						return err
					}
					v := rt.lotView(l)
					cv := []map[string]any{}
					for _, ct := range cs {
						cv = append(cv, rt.containerView(ct))
					}
					v["containers"] = cv
					return rt.out(v, func(w io.Writer) { rt.printLot(w, l, cs) })
				}),
			},
			{
				Name:        "list",
				Usage:       "list lots",
				ArgsUsage:   " ",
				Description: example("celltrack --user aud lot list --status quarantine --source uc"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "status", Usage: "quarantine, released or rejected"},
					&cli.StringFlag{Name: "source", Usage: "uc or rfib"},
				},
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					var f lot.LotFilter
					var err error
					if c.IsSet("status") {
						if f.Status, err = lot.ParseStatus(c.String("status")); err != nil {
							return err
						}
					}
					if c.IsSet("source") {
						if f.Source, err = lot.ParseSource(c.String("source")); err != nil {
							return err
						}
					}
					ls, err := rt.lots().Lots(f)
					if err != nil {
						return err
					}
					views := []map[string]any{}
					for _, l := range ls {
						views = append(views, rt.lotView(l))
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "LOT\tDIN\tPRODUCT\tSTATUS\tCELLS\tEXPIRES")
						for _, l := range ls {
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.Number, l.DIN.EyeReadable(), l.Source.Product(), rt.statusText(l), l.Cells, lot.FormatDate(l.Expires))
						}
						tw.Flush()
					})
				}),
			},
			{
				Name:      "import",
				Usage:     "register many lots from a CSV file, all or nothing (lab)",
				ArgsUsage: " ",
				Description: "Columns (first line): " + strings.Join(lot.ImportColumns, ",") + "\n" +
					"Every bad row is reported with its line number; nothing is written if any row is bad.\n\n" +
					example("celltrack --user liu lot import --csv lots.csv"),
				Flags: []cli.Flag{&cli.StringFlag{Name: "csv", Required: true, Usage: "the CSV `FILE`"}},
				Action: rt.action(writeDB, 0, func(c *cli.Context) error {
					f, err := os.Open(c.String("csv"))
					if err != nil {
						return lot.Errorf(lot.EINVALID, "--csv %s cannot be read: %v", c.String("csv"), err)
					}
					defer f.Close()
					var r io.Reader = f
					if fi, err := f.Stat(); err == nil && rt.stderrIsTerminal() {
						r = &progressReader{r: f, total: fi.Size(), w: rt.stderr}
					}
					// One transaction whose heap grows with the file, then
					// the process exits: at the default pacing a PostgreSQL
					// import collected 17 times at 10k lots and 32 at 100k,
					// paced 3 and 9 (gctrace; issue 14).
					paceGC()
					rows, err := lot.ParseImport(r)
					if err != nil {
						return err
					}
					start := time.Now()
					ls, err := rt.lots().Import(actor(c), rows)
					if err != nil {
						return err
					}
					return rt.out(map[string]any{"imported": len(ls)}, func(w io.Writer) {
						fmt.Fprintf(w, "imported %d lots in %s; all are in quarantine\n", len(ls), since(start))
					})
				}),
			},
		},
	}
}

func registrationFromFlags(c *cli.Context) (lot.Registration, error) {
	r := lot.Registration{Number: c.Args().First(), Donor: c.String("donor"), Patient: c.String("patient"),
		Passage: c.Int("passage"), Location: c.String("location")}
	var err error
	if r.Source, err = lot.ParseSource(c.String("source")); err != nil {
		return r, err
	}
	if r.Cells, err = lot.ParseCells("--cells", c.String("cells")); err != nil {
		return r, err
	}
	if r.Viability, err = lot.ParsePercent("--viability", c.String("viability")); err != nil {
		return r, err
	}
	if r.VolumeML, err = lot.ParseTenths("--volume-ml", c.String("volume-ml")); err != nil {
		return r, err
	}
	if r.Manufactured, err = lot.ParseDate("--manufactured", c.String("manufactured")); err != nil {
		return r, err
	}
	if r.Expires, err = lot.ParseDate("--expires", c.String("expires")); err != nil {
		return r, err
	}
	if c.IsSet("cryopreserved") {
		if r.Cryopreserved, err = lot.ParseDate("--cryopreserved", c.String("cryopreserved")); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (rt *runtime) clock() time.Time {
	if rt.now != nil {
		return rt.now().UTC()
	}
	return time.Now().UTC()
}

// statusText is the lot status as shown to people (lot.StatusText): an
// expired lot is never shown as usable, an exceptional release names its
// patient.
func (rt *runtime) statusText(l lot.Lot) string { return l.StatusText(rt.clock(), rt.restrictedTo(l)) }

func (rt *runtime) printLot(w io.Writer, l lot.Lot, cs []lot.Container) {
	fmt.Fprintf(w, "Lot %s  %s  %s\n", l.Number, l.Source.Product(), rt.statusText(l))
	fmt.Fprintf(w, "  DIN           %s\n", l.DIN.EyeReadable())
	fmt.Fprintf(w, "  id            %s\n", l.ID)
	if src, err := rt.lotSource(l); err == nil {
		fmt.Fprintf(w, "  source        %s\n", src)
	}
	fmt.Fprintf(w, "  cells         %s   viability %s %%   volume %s mL\n", l.Cells, l.Viability, l.VolumeML)
	fmt.Fprintf(w, "  manufactured  %s   expires %s\n", lot.FormatDate(l.Manufactured), lot.FormatDate(l.Expires))
	if l.Passage > 0 || l.Location != "" {
		fmt.Fprintf(w, "  passage       %d   location %s\n", l.Passage, l.Location)
	}
	fmt.Fprintf(w, "  registered    %s by %s\n", lot.FormatTime(l.CreatedAt), l.CreatedBy)
	fmt.Fprintf(w, "  containers    %d (%s of %s cells split)\n", len(cs), l.CellsSplit, l.Cells)
	for _, c := range cs {
		fmt.Fprintf(w, "    %s  %-10s %s cells  %s mL", c.Code(), c.State, c.Cells, c.VolumeML)
		if c.Site != "" {
			fmt.Fprintf(w, "  at %s", c.Site)
		}
		if c.PatientID != uuid.Nil {
			fmt.Fprintf(w, "  for patient %s", rt.patientMRN(c.PatientID))
		}
		fmt.Fprintln(w)
	}
}

// lotSource names where a lot came from: its donor, or its source patient.
func (rt *runtime) lotSource(l lot.Lot) (string, error) {
	if l.Source == lot.SourceUC {
		d, err := rt.lots().Donor(l.DonorID.String())
		return "donor " + d.Code, err
	}
	p, err := rt.lots().Patient(l.PatientID.String())
	return fmt.Sprintf("patient %s (%s) — FOR AUTOLOGOUS USE ONLY", p.MRN, p.Name), err
}

func (rt *runtime) stderrIsTerminal() bool {
	f, ok := rt.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressReader draws a progress bar on a terminal as the import file is read.
type progressReader struct {
	r           io.Reader
	total, read int64
	w           io.Writer
	last        int
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read += int64(n)
	if p.total > 0 {
		pct := int(p.read * 100 / p.total)
		if pct != p.last || err == io.EOF {
			p.last = pct
			fmt.Fprintf(p.w, "\rreading %3d%% [%-40s]", pct, strings.Repeat("#", pct*40/100))
			if err == io.EOF {
				fmt.Fprintln(p.w)
			}
		}
	}
	return n, err
}

func (rt *runtime) containerCommand() *cli.Command {
	return &cli.Command{
		Name:  "container",
		Usage: "look up containers (bags and vials)",
		Subcommands: append([]*cli.Command{
			{
				Name:        "show",
				Usage:       "show a container",
				ArgsUsage:   "CONTAINER",
				Description: "CONTAINER is the code on its label (DIN + 2-digit number) or its UUID.\n\n" + example("celltrack --user aud container show G123426000001-01"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					ct, err := rt.lots().Container(c.Args().First())
					if err != nil {
						return err
					}
					l, err := rt.lots().Lot(ct.LotID.String())
					if err != nil {
						return err
					}
					v := rt.containerView(ct)
					v["lot"], v["lot_status"], v["expired"], v["usable"] = l.Number, l.Status, l.Expired(rt.clock()), l.Usable(rt.clock())
					v["exceptional"], v["restricted_to"] = l.Exceptional, rt.restrictedTo(l)
					return rt.out(v, func(w io.Writer) { rt.printContainer(w, ct, l) })
				}),
			},
			{
				Name:        "list",
				Usage:       "list a lot's containers",
				ArgsUsage:   "LOT",
				Description: example("celltrack --user aud container list LOT-UC-1"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					cs, err := rt.lots().Containers(c.Args().First())
					if err != nil {
						return err
					}
					views := []map[string]any{}
					for _, ct := range cs {
						views = append(views, rt.containerView(ct))
					}
					return rt.out(views, func(w io.Writer) {
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "CONTAINER\tSTATE\tCELLS\tVOLUME mL\tSITE\tLOCATION\tPATIENT")
						for _, ct := range cs {
							patient := "-"
							if ct.PatientID != uuid.Nil {
								patient = rt.patientMRN(ct.PatientID)
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ct.Code(), ct.State, ct.Cells, ct.VolumeML, dash(ct.Site), dash(ct.Location), patient)
						}
						tw.Flush()
					})
				}),
			},
		}, rt.custodyCommands()...),
	}
}

// patientMRN names a patient by MRN, or by UUID if the lookup fails.
func (rt *runtime) patientMRN(id uuid.UUID) string {
	if p, err := rt.lots().Patient(id.String()); err == nil {
		return p.MRN
	}
	return id.String()
}

// printContainer is the text of `container show`: the lot's status (with any
// expiry or exceptional-release flag), where the container is, its post-thaw
// numbers and the patient it was dispensed to.
func (rt *runtime) printContainer(w io.Writer, ct lot.Container, l lot.Lot) {
	fmt.Fprintf(w, "Container %s  (lot %s, %s, %s)\n", ct.Code(), l.Number, l.Source.Product(), rt.statusText(l))
	fmt.Fprintf(w, "  state         %s\n", ct.State)
	if ct.PatientID != uuid.Nil {
		who := rt.patientMRN(ct.PatientID)
		if p, err := rt.lots().Patient(ct.PatientID.String()); err == nil {
			who += " (" + p.Name + ")"
		}
		fmt.Fprintf(w, "  dispensed to  patient %s\n", who)
	}
	fmt.Fprintf(w, "  cells         %s   volume %s mL\n", ct.Cells, ct.VolumeML)
	fmt.Fprintf(w, "  site          %s\n", dash(ct.Site))
	if ct.Location != "" {
		fmt.Fprintf(w, "  location      %s\n", ct.Location)
	}
	if !ct.ThawedAt.IsZero() {
		fmt.Fprintf(w, "  thawed        %s   viability %s %%   viable cells %s\n", lot.FormatTime(ct.ThawedAt), ct.ThawViability, ct.ViableCells)
	}
	fmt.Fprintf(w, "  custodian     %s\n  created       %s by %s\n", dash(ct.Custodian), lot.FormatTime(ct.CreatedAt), ct.CreatedBy)
}

func (rt *runtime) isbtCommand() *cli.Command {
	return &cli.Command{
		Name:  "isbt",
		Usage: "ISBT 128 identifiers",
		Subcommands: []*cli.Command{{
			Name:      "check",
			Usage:     "validate a typed or scanned DIN and show its check character",
			ArgsUsage: "DIN",
			Description: "Spaces, dashes, a barcode's leading '=' and flag are accepted; a 14th character is verified as the check character.\n\n" +
				example("celltrack isbt check 'G1234 17 654321 A'", "celltrack isbt check =G12341765432100"),
			Action: rt.action(noDB, 1, func(c *cli.Context) error {
				d, err := lot.ParseDIN(c.Args().First())
				if err != nil {
					return err
				}
				return rt.out(map[string]any{"din": d.String(), "check": string(d.Check()), "eye_readable": d.EyeReadable(),
					"facility": d.FIN, "year": d.Year, "sequence": d.Seq}, func(w io.Writer) {
					fmt.Fprintf(w, "DIN %s is valid: facility %s, year %02d, sequence %06d, check character %c\n", d.EyeReadable(), d.FIN, d.Year, d.Seq, d.Check())
				})
			}),
		}},
	}
}

// lotView is a lot as --json prints it (lot.ViewLot), judged at the
// command's clock.
func (rt *runtime) lotView(l lot.Lot) map[string]any {
	return lot.ViewLot(l, rt.clock(), rt.restrictedTo(l))
}

// containerView is a container as --json prints it (lot.ViewContainer).
func (rt *runtime) containerView(c lot.Container) map[string]any {
	return lot.ViewContainer(c, rt.patientMRN)
}
