package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store"
	"github.com/celltrack/celltrack/web"
	"github.com/urfave/cli/v2"
)

// labelService is the label service: the database's, or the server's with
// --server (which counts the labels this command renders and writes here).
func (rt *runtime) labelService() lot.LabelService {
	if rt.client != nil {
		return web.NewRemoteLabels(rt.client)
	}
	return store.NewLabelService(rt.db)
}

// facility is the facility's FIN: the database's, or the server's.
func (rt *runtime) facility() (string, error) {
	if rt.client != nil {
		return rt.client.facility, nil
	}
	return rt.db.Facility()
}

func (rt *runtime) labelCommand() *cli.Command {
	return &cli.Command{
		Name:  "label",
		Usage: "print container labels and reconcile them per lot (FACT-JACIE)",
		Subcommands: []*cli.Command{
			{
				Name:      "print",
				Usage:     "print a PDF label for a container, or for every container of a lot still in use (lab)",
				ArgsUsage: "LOT|CONTAINER",
				Description: "Each 100 × 100 mm page carries the eye-readable DIN with its boxed check character, a Code 128\n" +
					"barcode of '=' + DIN + container number, product, cells, volume, expiry with time zone, storage\n" +
					"condition and, for autologous lots, the patient and FOR AUTOLOGOUS USE ONLY. Every label printed\n" +
					"is counted for reconciliation.\n\n" +
					example("celltrack --user liu label print --out LOT-UC-1-labels.pdf LOT-UC-1", "celltrack --user liu label print G12342600000101"),
				Flags: []cli.Flag{&cli.StringFlag{Name: "out", Usage: "the PDF `FILE` (default: LOT-labels.pdf or CONTAINER-label.pdf)"}, forceFlag},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					ref, out := c.Args().First(), c.String("out")
					fin, err := rt.facility()
					if err != nil {
						return err
					}
					// The file is written inside the transaction that counts
					// the labels, before it counts them, so a label the font
					// cannot print or an --out that exists (or cannot be
					// written) counts nothing; if the count then fails to
					// commit, the file goes too.
					wrote := false
					set, err := rt.labelService().Print(actor(c), ref, nil, func(set lot.LabelSet) error {
						if out == "" {
							out = set.Lot.Number + "-labels.pdf"
							if _, _, err := lot.ParseContainerCode(ref); err == nil || ref == set.Containers[0].ID.String() {
								out = set.Containers[0].Code() + "-label.pdf"
							}
						}
						pdf, err := report.Labels(set, fin, rt.clock())
						if err != nil {
							return err
						}
						if err := writeOut(out, pdf, c.Bool("force")); err != nil {
							return err
						}
						wrote = true
						return nil
					})
					if err != nil {
						if wrote {
							os.Remove(out)
						}
						return err
					}
					abs, _ := filepath.Abs(out)
					return rt.out(map[string]any{"file": abs, "lot": set.Lot.Number, "labels": len(set.Containers)}, func(w io.Writer) {
						fmt.Fprintf(w, "printed %d label(s) for lot %s to %s\n", len(set.Containers), set.Lot.Number, out)
					})
				}),
			},
			{
				Name:        "apply",
				Usage:       "record that a printed label was put on its container (lab)",
				ArgsUsage:   "CONTAINER",
				Description: example("celltrack --user liu label apply G12342600000101"),
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					n, err := rt.labelService().Apply(actor(c), c.Args().First(), nil)
					return rt.labelResult(c, n, err, "applied")
				}),
			},
			{
				Name:        "void",
				Usage:       "record that an unused printed label was destroyed, and why (lab)",
				ArgsUsage:   "CONTAINER",
				Description: example("celltrack --user liu label void --reason 'smudged print' G12342600000101"),
				Flags:       []cli.Flag{&cli.StringFlag{Name: "reason", Required: true, Usage: "why"}},
				Action: rt.action(writeDB, 1, func(c *cli.Context) error {
					n, err := rt.labelService().Void(actor(c), c.Args().First(), c.String("reason"), nil)
					return rt.labelResult(c, n, err, "voided")
				}),
			},
			{
				Name:        "reconcile",
				Usage:       "count a lot's labels: printed = applied + voided + unused",
				ArgsUsage:   "LOT",
				Description: example("celltrack --user aud label reconcile LOT-UC-1"),
				Action: rt.action(readDB, 1, func(c *cli.Context) error {
					l, cs, ns, err := rt.labelService().Reconcile(c.Args().First())
					if err != nil {
						return err
					}
					var total lot.LabelCount
					rows := []map[string]any{}
					for i, n := range ns {
						total = total.Add(n)
						rows = append(rows, labelCountView(cs[i], n))
					}
					v := map[string]any{"lot": l.Number, "containers": rows, "printed": total.Printed, "applied": total.Applied,
						"voided": total.Voided, "unused": total.Unused()}
					return rt.out(v, func(w io.Writer) {
						fmt.Fprintf(w, "Label reconciliation, lot %s\n", l.Number)
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
						fmt.Fprintln(tw, "CONTAINER\tPRINTED\tAPPLIED\tVOIDED\tUNUSED\t")
						for i, n := range ns {
							fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", cs[i].Code(), n.Printed, n.Applied, n.Voided, n.Unused())
						}
						fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t\n", total.Printed, total.Applied, total.Voided, total.Unused())
						tw.Flush()
					})
				}),
			},
		},
	}
}

func (rt *runtime) labelResult(c *cli.Context, n lot.LabelCount, err error, what string) error {
	if err != nil {
		return err
	}
	ct, err := rt.lots().Container(n.ContainerID.String())
	if err != nil {
		return err
	}
	return rt.out(labelCountView(ct, n), func(w io.Writer) {
		fmt.Fprintf(w, "label %s on container %s: printed %d, applied %d, voided %d, unused %d\n", what, ct.Code(), n.Printed, n.Applied, n.Voided, n.Unused())
	})
}

func labelCountView(c lot.Container, n lot.LabelCount) map[string]any {
	return map[string]any{"container": c.Code(), "printed": n.Printed, "applied": n.Applied, "voided": n.Voided, "unused": n.Unused()}
}
