package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/trace"
)

// demoTrace ends the demo as an auditor would: the look-back trace of the UC
// donor, printed, and the same report as PDF (to sign off) and HTML (to
// archive or mail) next to the demo database.
func demoTrace(d *demo) error {
	d.advance(time.Hour)
	r, err := trace.New(d.db.ReadTraceContext).Donor(context.Background(), "aud", "D-0001")
	if err != nil {
		return err
	}
	d.say("\ntrace donor D-0001 (look-back, as auditor aud):\n")
	if err := report.RenderText(d.w, r); err != nil {
		return err
	}
	for _, format := range []string{"pdf", "html"} {
		var buf bytes.Buffer
		if err := report.Render(&buf, r, format); err != nil {
			return err
		}
		path := filepath.Join(d.dir, "trace-donor-D-0001."+format)
		if err := writeOut(path, buf.Bytes(), false); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		d.say("trace report written: %s", path)
	}
	d.say("(again at any time: %s trace donor --out FILE.pdf D-0001)", againAsAud(d.db.Path()))
	return demoHandling(d)
}

// demoHandling prints the handling report of the demo's infusions and
// leaves its CSV next to the database.
func demoHandling(d *demo) error {
	r, err := trace.New(d.db.ReadTraceContext).Handling(context.Background(), "aud", dose.HandlingFilter{})
	if err != nil {
		return err
	}
	d.say("\nreport handling (storage, thaw to infusion, viability, cells/kg, duration):\n")
	if err := report.RenderText(d.w, r); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, r, "csv"); err != nil {
		return err
	}
	path := filepath.Join(d.dir, "handling.csv")
	if err := writeOut(path, buf.Bytes(), false); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d.say("handling report written: %s", path)
	d.say("(again at any time: %s report handling --out FILE.csv)", againAsAud(d.db.Path()))
	return nil
}

// againAsAud is the start of a command line that runs a report of the demo
// database again as the auditor, as printed: the login first (the demo
// leaves no session open: its clock is simulated, and a session is the
// user's own to open), then the command.
func againAsAud(path string) string {
	return fmt.Sprintf("celltrack --db %s login aud && celltrack --db %s", path, path)
}
