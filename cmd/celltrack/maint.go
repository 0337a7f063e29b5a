package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"
)

// checkCommand and backupCommand are the maintenance commands: proof that the
// file is sound, and a consistent copy of it taken while others work.
func (rt *runtime) checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "check the database file page by page and verify the audit trail",
		ArgsUsage: " ",
		Description: "Runs bbolt's page-level consistency check, then `audit verify`. Exits 3 and names\n" +
			"each problem when either finds one; run it after a crash, a power cut or a restore.\n" +
			"It also prints a WARNING line for each group of lot numbers, donor ids or site ids that\n" +
			"differ only in letter case (kept from before schema 10; not a failure, QA's to resolve).\n\n" +
			"When both pass, check then writes a checkpoint (the audit head it verified, and when) to\n" +
			"the database's meta bucket: traceability reports verify their own records and the chain\n" +
			"from that checkpoint to the head instead of the whole trail, and say so. When the audit\n" +
			"trail fails, check marks the checkpoint failed, so reports verify in full again; it never\n" +
			"moves it backwards: a trail shorter than the checkpoint, or whose entry at it changed,\n" +
			"fails every later check and audit verify. The check\n" +
			"itself runs read-only; only the checkpoint is written, in a short transaction afterwards.\n" +
			"--no-checkpoint writes nothing (read-only media).\n" +
			"--backup FILE checks a kept backup instead, read-only, and writes nothing to it or to the\n" +
			"database: your session is the database's (--db), so nobody logs in to the backup (a login\n" +
			"would write a session and a login entry into it). The backup is left byte for byte.\n" +
			"--checkpoint FILE|FOLDER (the witness folder) also checks, as `audit verify --checkpoint`\n" +
			"does, that the trail extends every kept checkpoint: an older file copied over the live one\n" +
			"passes the page check and audit verify, and fails only here.\n\n" +
			example("celltrack check --checkpoint /witness", "celltrack check --backup /backups/ct-2026-11-25.db --checkpoint /witness"),
		Flags: []cli.Flag{&cli.BoolFlag{Name: "no-checkpoint", Usage: "do not record the verified audit head for traceability reports; write nothing"},
			&cli.StringSliceFlag{Name: "checkpoint", Usage: "also check the trail extends this kept checkpoint `FILE`, or every one in a folder (the witness folder); repeat for more"},
			pinnedFlag,
			&cli.StringFlag{Name: "backup", Usage: "check this kept backup `FILE` instead, read-only (as the database's session's user); write nothing"}},
		Action: rt.action(checkDB, 0, func(c *cli.Context) error {
			kept, skipped, pinned, err := readCheckpointFlags(c)
			if err != nil {
				return err
			}
			db, checked := rt.db, dbPath(c)
			if c.IsSet("backup") {
				if db, err = rt.openKeptBackup(c); err != nil {
					return err
				}
				defer db.Close()
				checked = c.String("backup")
			}
			var problems []string
			for _, err := range db.Check() {
				problems = append(problems, "page check: "+err.Error())
			}
			var cv store.CheckpointVerification
			if len(kept) > 0 {
				cv, err = db.VerifyCheckpointsPinned(c.Context, kept, pinned)
			} else {
				cv.Verification, err = db.Verify()
			}
			if err != nil {
				return err
			}
			v := cv.Verification
			variants, err := db.CaseVariants()
			if err != nil {
				return err
			}
			pagesOK := len(problems) == 0
			problems = append(problems, v.Problems...)
			checkpoint := ""
			notes := []string{treeNote(v.Tree)}
			if len(kept) > 0 {
				rcv := checkpointReport(cv, skipped)
				for _, p := range pinned {
					rcv.Pinned = append(rcv.Pinned, p.Source)
				}
				notes = rcv.Notes()
			}
			// Codes differing only in letter case, kept by the upgrade to
			// schema 10: not damage, but QA's to resolve.
			for _, cv := range variants {
				notes = append(notes, "WARNING: "+cv.String())
			}
			if c.IsSet("backup") {
				notes = append(notes, fmt.Sprintf("checked the backup %s read-only, as %s of %s: nothing was written to either", checked, rt.session.User.Name, dbName(c)))
			} else if pagesOK && !c.Bool("no-checkpoint") {
				checkpoint = rt.recordCheckpoint(c, v)
				notes = append(notes, "checkpoint: "+checkpoint)
			}
			return rt.printVerdict(verdict{name: "check", problems: problems,
				counts: pageNote(checked, len(problems) == len(v.Problems)) + fmt.Sprintf("audit trail: %d entries, %d records", v.Entries, v.Records),
				head:   v.HeadHex(),
				view: map[string]any{"ok": len(problems) == 0, "entries": v.Entries, "records": v.Records, "head": v.HeadHex(), "tree": headView(v.Tree), "problems": problems, "checkpoint": checkpoint,
					"case_variants": variantsView(variants)},
				failed: checkFailed(c, len(problems)),
				notes:  notes})
		}),
	}
}

// checkFailed is check's last line when it finds problems: of the
// database, restore the last good backup; of a kept backup, do not
// restore that one.
func checkFailed(c *cli.Context, n int) string {
	if c.IsSet("backup") {
		return fmt.Sprintf("check failed: %d problem(s) in the backup %s; do not restore it — choose another backup, and report it to QA", n, c.String("backup"))
	}
	return fmt.Sprintf("check failed: %d problem(s); restore the last good backup and report it to QA", n)
}

// openKeptBackup opens the backup of check --backup read-only, as it is:
// the session checked is the database's, so nothing is written to the
// backup. One an older celltrack wrote is refused, with what to do.
func (rt *runtime) openKeptBackup(c *cli.Context) (*store.DB, error) {
	path := c.String("backup")
	b, err := store.OpenAsIs(path, store.Options{Timeout: flagValue(c, "lock-timeout", (*cli.Context).Duration), Now: rt.now, Role: store.KeptBackup})
	switch {
	case err != nil && lot.ErrorField(err) == "backup":
		return nil, err // a missing backup, which the store words as one
	case err != nil:
		// The store's other refusals word the file as a database.
		return nil, lot.FieldErrorf("backup", lot.ErrorCode(err), "the backup %s: %s", path, lot.ErrorMessage(err))
	}
	if v := b.Behind(); v > 0 {
		b.Close()
		return nil, lot.FieldErrorf("backup", lot.ECONFLICT, "the backup %s is %s (taken before an update), and this celltrack verifies only its own schema; it was verified when it was taken, and a restore of it upgrades and verifies its own copy, never the backup — to check it now, copy it, log in to the copy as an admin (that upgrades the copy), and check the copy; nothing was written", path, store.OlderWords(v))
	}
	return b, nil
}

// variantsView is the --json form of the codes differing only in letter
// case that a database upgraded to schema 10 kept: [] when none.
func variantsView(vs []store.CaseVariants) []store.CaseVariants {
	if vs == nil {
		return []store.CaseVariants{}
	}
	return vs
}

// recordCheckpoint closes the read-only database, reopens it for writing
// and records v as the checkpoint (or removes it when v failed). It returns
// what it did, in words; a checkpoint that cannot be written (read-only
// media, a busy database) is reported, not an error: the check itself ran.
func (rt *runtime) recordCheckpoint(c *cli.Context, v audit.Verification) string {
	rt.db.Close()
	db, err := store.Open(dbPath(c), store.Options{OneShot: true, Timeout: flagValue(c, "lock-timeout", (*cli.Context).Duration), Now: rt.now})
	if err == nil {
		rt.db = db
		err = db.RecordCheckpoint(v)
	}
	switch {
	case lot.ErrorCode(err) == lot.EBUSY:
		return "not recorded: the database was busy (another writer held it longer than --lock-timeout); run check again later — traceability reports verify the whole trail"
	case err != nil:
		return "not recorded (" + err.Error() + "); traceability reports verify the whole trail"
	case !v.OK():
		return "marked failed; traceability reports verify the whole trail until check passes again"
	}
	return fmt.Sprintf("recorded at entry %d; traceability reports verify their own records and the chain from it", v.Entries)
}

// upgradeCommand brings a file written by an older celltrack up to this
// one's schema, as an admin. Only it and an admin's login do it: every
// other command on an older file is refused (store.Open).
func (rt *runtime) upgradeCommand() *cli.Command {
	return &cli.Command{
		Name:      "upgrade",
		Usage:     "bring a database written by an older celltrack up to this one's schema",
		ArgsUsage: " ",
		Description: "Creates the buckets the older file lacks and rebuilds the custody-event indexes from the\n" +
			"events, in one transaction; every record is kept. The upgrade is noted in the file's meta\n" +
			"and recorded in the audit trail (database.upgrade, by you, naming the versions and steps).\n" +
			"An admin's `celltrack login` upgrades an older file too; every other command is refused.\n" +
			"Lot numbers, donor ids or site ids that an older celltrack let in differing only in letter\n" +
			"case are all kept; each group is printed as a WARNING line for QA to resolve.\n" +
			"Take a backup first; a file already up to date is left as it is. Only an admin may run it,\n" +
			"checked before anything is changed. On PostgreSQL it also applies the engine's numbered\n" +
			"migrations when they are behind (README \"Who may do what\"), which no other command does,\n" +
			"and names them in its output and its audit entry.\n\n" +
			example("celltrack upgrade"),
		Action: rt.action(noDB, 0, func(c *cli.Context) error {
			// Opened without the store's migration and, on PostgreSQL,
			// with an engine schema that is behind opened for reading
			// only, so that an admin's session is checked before anything
			// is changed.
			db, _, err := store.OpenForUpgrade(dbPath(c), store.Options{Timeout: flagValue(c, "lock-timeout", (*cli.Context).Duration), Now: rt.now})
			if err != nil {
				return heldByServer(dbPath(c), err)
			}
			rt.db = db
			if err := rt.useSession(c, db, writeDB); err != nil {
				return err
			}
			v, note, err := rt.db.Upgrade(rt.session.User.Name)
			if err != nil {
				return err
			}
			engine := rt.db.EngineUpgrade()
			variants, err := rt.db.CaseVariants()
			if err != nil {
				return err
			}
			return rt.out(map[string]any{"database": dbName(c), "schema": v, "migration": note, "engine_migration": engine, "case_variants": variantsView(variants)}, func(w io.Writer) {
				fmt.Fprintf(w, "%s is at schema version %d", dbName(c), v)
				if note != "" {
					fmt.Fprintf(w, " (upgraded: %s)", note)
				}
				fmt.Fprintln(w)
				if engine != "" {
					fmt.Fprintf(w, "upgraded %s (recorded in the audit trail, database.upgrade)\n", engine)
				}
				for _, cv := range variants {
					fmt.Fprintln(w, "WARNING: "+cv.String())
				}
			})
		}),
	}
}

func (rt *runtime) backupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "verify the database and write a consistent copy while others keep working",
		ArgsUsage: " ",
		Description: "The copy is taken from one read transaction, after the page check and the whole of\n" +
			"`audit verify` in that same transaction, so it is exactly what was verified, even while\n" +
			"other users write. A source that fails is still copied, but the copy is marked in its meta\n" +
			"as taken from a database that failed (restore refuses it) and backup exits 3. It prints\n" +
			"the copy's tree head; with --key (checked against the registered key before anything is\n" +
			"written) it also signs the head of the transaction that wrote the copy, once the copy read\n" +
			"back has that head, and writes the checkpoint to OUT.checkpoint.\n" +
			"It never overwrites a file and creates it readable by you only (0600). Restore with\n" +
			"`celltrack restore --from FILE`.\n" +
			"With --key, the checkpoints already in the folder of --out (and in each --witness folder)\n" +
			"must be extended by this trail: one that is not (a file rolled back, cut or forked since)\n" +
			"refuses the backup with exit 3, and nothing is written or signed.\n" +
			"A file an older celltrack wrote (which every other command refuses until an admin upgrades\n" +
			"it) is backed up as it is, with no session: an admin gives --user and their password (a\n" +
			"prompt, or --password-stdin), checked without writing; the copy is verified on a scratch\n" +
			"copy upgraded beside it and removed, and the file is left byte for byte. No --key then.\n\n" +
			example("celltrack --user alice backup --out /backups/celltrack-2026-11-25.db --key /etc/celltrack/checkpoint.key"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Required: true, Usage: "the new backup `FILE`"},
			&cli.StringFlag{Name: "key", Usage: "sign the copy's tree head with this signing key `FILE`"},
			witnessFlag,
			passwordStdinFlag,
		},
		Action: rt.action(backupDB, 0, func(c *cli.Context) error {
			if len(c.StringSlice("witness")) > 0 && !c.IsSet("key") {
				return lot.Errorf(lot.EUSAGE, "--witness is checked before a checkpoint is signed; give --key too (or `celltrack check --checkpoint FOLDER` to check the trail against it)")
			}
			if rt.db != nil && rt.db.Behind() > 0 {
				return rt.backupOlder(c)
			}
			// The copy holds every patient's records and every password
			// hash: checked before anything is written.
			if err := audit.Authorize(rt.session.User, audit.DatabaseBackup); err != nil {
				return err
			}
			var signer note.Signer
			var kept []audit.KeptCheckpoint
			out := c.String("out")
			if c.IsSet("key") {
				s, err := readSigner("--key", c.String("key"))
				if err != nil {
					return err
				}
				signer = s
				if kept, err = readWitnesses(c, out); err != nil {
					return err
				}
			}
			rep, err := rt.db.VerifiedBackupOver(out, signer, kept)
			if err != nil {
				return err
			}
			view := map[string]any{"backup": out, "bytes": rep.Bytes, "verified": len(rep.Problems) == 0, "problems": rep.Problems, "tree": headView(rep.Head)}
			if len(rep.Problems) > 0 {
				return rt.backupFailed(c, view, rep, out)
			}
			msg := rep.Checkpoint
			if msg != nil {
				if err := writeNew("out", checkpointFile, out+".checkpoint", string(msg), 0o600); err != nil {
					return lot.FieldErrorf("out", lot.ErrorCode(err), "the backup %s is written and verified, but its checkpoint was not: %s", out, lot.ErrorMessage(err))
				}
				view["checkpoint_file"], view["checkpoint"] = out+".checkpoint", string(msg)
			}
			return rt.out(view, func(w io.Writer) {
				fmt.Fprintf(w, "backed up %s to %s (%d bytes); verified: %d entries\n%s\n", dbName(c), out, rep.Bytes, rep.Entries, treeNote(rep.Head))
				if msg != nil {
					fmt.Fprintf(w, "signed checkpoint written to %s:\n%s", out+".checkpoint", msg)
				}
			})
		}),
	}
}

// backupOlder backs up a file an older celltrack wrote, which no session
// opens (only an admin's login upgrades it, and a login writes): the admin
// names themselves with --user and gives their password, checked without
// writing, as restore does. The file is left byte for byte.
func (rt *runtime) backupOlder(c *cli.Context) error {
	admin := flagValue(c, "user", (*cli.Context).String)
	if admin == "" {
		return lot.FieldErrorf("user", lot.EUSAGE, "%s is %s, and is backed up as it is, with no session (a login would write to it): give --user NAME (or CELLTRACK_USER) of an admin, and their password; nothing was written", dbName(c), store.OlderWords(rt.db.Behind()))
	}
	if c.IsSet("key") {
		return lot.FieldErrorf("key", lot.EUSAGE, "%s is %s: its tree head is signed once it is upgraded — back it up without --key now, then upgrade it and back it up again with --key; nothing was written", dbName(c), store.OlderWords(rt.db.Behind()))
	}
	password, err := rt.password(c, admin)
	if err != nil {
		return err
	}
	out := c.String("out")
	rep, err := rt.db.VerifiedBackupOfOlder(out, admin, password)
	if err != nil {
		return err
	}
	older := fmt.Sprintf("%s is %s; copied as it is, and verified on a copy upgraded to %d, which was then removed", dbName(c), store.OlderWords(rt.db.Behind()), store.SchemaVersion)
	view := map[string]any{"backup": out, "bytes": rep.Bytes, "verified": len(rep.Problems) == 0, "problems": rep.Problems, "tree": headView(rep.Head), "schema": rt.db.Behind(), "note": older}
	if len(rep.Problems) > 0 {
		return rt.backupFailed(c, view, rep, out)
	}
	return rt.out(view, func(w io.Writer) {
		fmt.Fprintf(w, "backed up %s to %s (%d bytes); verified: %d entries\n%s\n%s\n", dbName(c), out, rep.Bytes, rep.Entries, treeNote(rep.Head), older)
	})
}

// backupFailed prints the problems of a source that failed verification
// and refuses: its copy out was written, marked.
func (rt *runtime) backupFailed(c *cli.Context, view map[string]any, rep store.BackupReport, out string) error {
	rt.out(view, func(w io.Writer) {
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "PROBLEM: %s\n", p)
		}
		fmt.Fprintf(w, "backed up %s to %s (%d bytes), MARKED as taken from a database that failed verification\n", dbName(c), out, rep.Bytes)
	})
	return lot.Errorf(lot.ECONFLICT, "backup: the database failed verification (%d problem(s)); the copy %s is marked as such and restore refuses it — report it to QA", len(rep.Problems), out)
}

// demoMaint backs the demo database up and checks the copy, as an operator
// would at the end of a day.
func demoMaint(d *demo) error {
	out := filepath.Join(d.dir, "demo-backup.db")
	n, err := d.db.Backup(out)
	if err != nil {
		return err
	}
	b, err := store.Open(out, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer b.Close()
	problems := len(b.Check())
	v, err := b.Verify()
	if err != nil {
		return err
	}
	d.say("backup: %s (%d bytes) taken while the database was open; check: %d page problems, audit verify ok=%v over %d entries",
		out, n, problems, v.OK(), v.Entries)
	if problems > 0 || !v.OK() {
		return fmt.Errorf("the demo backup failed its check")
	}
	return nil
}

// pageNote is check's word on the page check: a file's pages, or, on
// PostgreSQL, that there are none of celltrack's to check (the server
// checks its own: data checksums, amcheck).
func pageNote(path string, ok bool) string {
	if store.IsPostgres(path) {
		return "pages: none to check on PostgreSQL (the page check is for the file engine); "
	}
	return fmt.Sprintf("pages consistent: %t; ", ok)
}
