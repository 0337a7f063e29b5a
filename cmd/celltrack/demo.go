package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
)

// demo builds a demonstration database with a simulated clock, through the
// same services the commands use, and narrates each step.
type demo struct {
	rt   *runtime
	db   *store.DB
	dir  string
	w    io.Writer
	now  time.Time
	lots *store.LotService
}

// demoPassword is every demo user's password; the demo database is a toy.
const demoPassword = "tulip-orbit-canyon-73"

// demoFirstPassword is the one-time password alice types at each `user
// add`; every user's first login changes it to demoPassword.
const demoFirstPassword = "one-time-birch-comet-31"

func (rt *runtime) demoCommand() *cli.Command {
	return &cli.Command{
		Name:      "demo",
		Usage:     "build a demonstration database in a temporary folder and narrate what it did",
		ArgsUsage: " ",
		Description: "The demo uses a simulated clock and the password '" + demoPassword + "' for every user.\n" +
			"With --json the narration goes to standard error and standard output gets a JSON summary\n" +
			"(database, files written, audit verification).\n\n" +
			example("celltrack demo", "celltrack demo --dir /tmp/ct-demo"),
		Flags: []cli.Flag{&cli.StringFlag{Name: "dir", Usage: "write the demo database into this (new or empty) folder instead of a temporary one"}},
		Action: rt.action(noDB, 0, func(c *cli.Context) error {
			dir := c.String("dir")
			var err error
			if dir == "" {
				if dir, err = os.MkdirTemp("", "celltrack-demo-"); err != nil {
					return fmt.Errorf("make demo folder: %w", err)
				}
			} else if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("make demo folder: %w", err)
			}
			d := &demo{rt: rt, dir: dir, w: rt.stdout, now: time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)}
			if rt.json {
				d.w = rt.stderr // stdout carries only the JSON summary
			}
			path := filepath.Join(dir, "demo.db")
			d.db, err = store.Open(path, store.Options{Create: true, Now: func() time.Time { return d.now }})
			if err != nil {
				return err
			}
			rt.db = d.db
			d.lots = store.NewLotService(d.db)
			fmt.Fprintf(d.w, "celltrack demo: building %s with a simulated clock starting %s\n\n", path, lot.FormatTime(d.now))
			for _, step := range demoSteps {
				if err := step(d); err != nil {
					return fmt.Errorf("demo step failed: %w", err)
				}
			}
			v, err := d.db.Verify()
			if err != nil {
				return err
			}
			fmt.Fprintf(d.w, "\naudit verify: ok=%v, %d entries, chain head %s\n", v.OK(), v.Entries, v.HeadHex())
			fmt.Fprintf(d.w, "\nExplore it (every demo password is %q):\n  export CELLTRACK_DB=%s\n  celltrack login aud\n  celltrack lot list\n  celltrack audit log\n", demoPassword, path)
			if !rt.json {
				return nil
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				return fmt.Errorf("list demo folder: %w", err)
			}
			files := []string{}
			for _, e := range entries {
				files = append(files, filepath.Join(dir, e.Name()))
			}
			return rt.out(map[string]any{"database": path, "dir": dir, "files": files, "audit_verified": v.OK(),
				"audit_entries": v.Entries, "audit_head": v.HeadHex(), "audit_problems": v.Problems}, nil)
		}),
	}
}

// demoSteps run in order; each later capability appends its own.
// demoTrace must stay last: the issue asks the demo to end with the look-back
// of what the others built.
var demoSteps = []func(*demo) error{demoFoundation, demoRelease, demoCustody, demoDosing, demoMaint, demoCheckpoint, demoServe, demoTrace}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.w, format+"\n", args...) }

// advance moves the simulated clock forward.
func (d *demo) advance(dur time.Duration) { d.now = d.now.Add(dur) }

func demoFoundation(d *demo) error {
	admin, err := d.db.Init("G1234", audit.User{Name: "alice", FullName: "Alice Adams (admin)"}, demoPassword)
	if err != nil {
		return err
	}
	d.say("init: facility G1234, admin %s", admin.Name)
	// Every person proves who they are before acting: alice logs in, and
	// her writes below check her session in their own transaction.
	creds, info, err := d.db.Login("alice", demoPassword, nil)
	if err != nil {
		return err
	}
	d.say("login: %s (%s), session until %s at the latest, 15 min idle (`celltrack login alice`)", info.User.Name, info.User.Role, lot.FormatTime(info.Session.Expires))
	as := d.db.WithSession(creds)
	for _, u := range []audit.User{
		{Name: "liu", FullName: "Liu Wei (cell lab)", Role: audit.Lab},
		{Name: "quinn", FullName: "Quinn Adebayo (QA)", Role: audit.QA},
		{Name: "pat", FullName: "Dr Pat Okafor (physician)", Role: audit.Physician},
		{Name: "nina", FullName: "Nina Rossi RN", Role: audit.Nurse},
		{Name: "omar", FullName: "Omar Haddad RN", Role: audit.Nurse},
		{Name: "aud", FullName: "Ada Auditor", Role: audit.Auditor},
	} {
		if _, err := as.AddUser("alice", u, demoFirstPassword, demoPassword); err != nil {
			return err
		}
		d.say("user add: %-6s %s, with a one-time first password", u.Name, u.Role)
	}
	if _, err := d.db.Logout(creds); err != nil {
		return err
	}
	d.say("logout: alice; the admin cannot sign, so QA, physicians and nurses sign below with their own passwords")
	for _, name := range []string{"liu", "quinn", "pat", "nina", "omar", "aud"} {
		if err := d.firstLogin(name); err != nil {
			return err
		}
	}
	d.advance(time.Hour)
	donor, err := d.lots.AddDonor("liu", lot.Donor{Code: "D-0001", Site: "Maternity ward 5",
		Delivered: day(2026, 8, 28), Consented: day(2026, 8, 14)})
	if err != nil {
		return err
	}
	d.say("donor add: %s (cord collected %s)", donor.Code, lot.FormatDate(donor.Delivered))
	for _, p := range []lot.Patient{
		{MRN: "MRN-1001", Name: "Mei Chen", Born: day(1984, 3, 9), Sex: "F"},
		{MRN: "MRN-1002", Name: "Sara Lind", Born: day(1979, 11, 2), Sex: "F"},
		{MRN: "MRN-1003", Name: "Tom Berg", Born: day(1990, 6, 21), Sex: "M"},
		{MRN: "MRN-2001", Name: "Hana Sato", Born: day(1968, 1, 15), Sex: "F"},
	} {
		if _, err := d.lots.AddPatient("pat", p); err != nil {
			return err
		}
		d.say("patient add: %s %s", p.MRN, p.Name)
	}
	for _, w := range []struct {
		mrn string
		g   lot.Grams
	}{{"MRN-1001", 62_000}, {"MRN-1002", 71_400}, {"MRN-1003", 80_200}, {"MRN-2001", 55_300}} {
		if _, err := d.lots.Weigh("nina", w.mrn, w.g, d.now); err != nil {
			return err
		}
	}
	d.say("patient weigh: four patients weighed (MRN-1001 is %s)", lot.Grams(62_000))
	uc, err := d.lots.RegisterLot("liu", lot.Registration{Number: "LOT-UC-1", Source: lot.SourceUC, Donor: "D-0001",
		Cells: 2_500_000_000, Viability: 945, VolumeML: 2500, Manufactured: day(2026, 8, 30), Expires: day(2027, 8, 30),
		Passage: 4, Location: "LN2 tank A, rack 3"})
	if err != nil {
		return err
	}
	d.say("lot register: %s, UC-MSC from %s, %s cells, DIN %s, in quarantine", uc.Number, donor.Code, uc.Cells, uc.DIN.EyeReadable())
	cs, err := d.lots.SplitLot("liu", lot.Split{Lot: uc.Number, Containers: 10, CellsEach: 100_000_000, VolumeEach: 500})
	if err != nil {
		return err
	}
	d.say("lot split: %s into %d bags of %s cells (first bag %s)", uc.Number, len(cs), cs[0].Cells, cs[0].Code())
	rf, err := d.lots.RegisterLot("liu", lot.Registration{Number: "LOT-RF-1", Source: lot.SourceRFib, Patient: "MRN-2001",
		Cells: 1_200_000_000, Viability: 921, VolumeML: 1200, Manufactured: day(2026, 8, 31), Expires: day(2027, 8, 31), Passage: 6})
	if err != nil {
		return err
	}
	d.say("lot register: %s, autologous rFib from patient MRN-2001, DIN %s", rf.Number, rf.DIN.EyeReadable())
	if _, err := d.lots.SplitLot("liu", lot.Split{Lot: rf.Number, Containers: 12, CellsEach: 100_000_000, VolumeEach: 500}); err != nil {
		return err
	}
	d.say("lot split: %s into 12 bags of %s cells", rf.Number, lot.Cells(100_000_000))
	if _, err := d.lots.RegisterLot("nina", lot.Registration{Number: "LOT-X", Source: lot.SourceUC, Donor: "D-0001",
		Cells: 1e9, Viability: 900, VolumeML: 100, Manufactured: day(2026, 8, 30), Expires: day(2027, 8, 30)}); err != nil {
		d.say("refused as expected: nurse nina tried to register a lot: %s", lot.ErrorMessage(err))
	}
	return nil
}

// firstLogin is a user's first login: the password alice typed at `user
// add` is one-time (it is the admin's secret and signs nothing), so the
// login changes it to the user's own, as `celltrack login` asks.
func (d *demo) firstLogin(name string) error {
	creds, _, err := d.db.Login(name, demoFirstPassword, func() (string, error) { return demoPassword, nil })
	if err != nil {
		return err
	}
	if _, err := d.db.Logout(creds); err != nil {
		return err
	}
	d.say("login: %s changes the first password, typed by alice, to one only %s knows (audit: password changed at login)", name, name)
	return nil
}

func day(y int, m time.Month, dd int) time.Time { return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC) }
