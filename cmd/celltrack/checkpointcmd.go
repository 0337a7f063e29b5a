package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/report"
	"github.com/celltrack/celltrack/store"
	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"
)

// Signed checkpoints (issue 13): the signing key lives in a file outside
// the database; the database knows only the verifier key.

func (rt *runtime) auditKeyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "make and register the key that signs checkpoints of the audit trail",
		Subcommands: []*cli.Command{
			{
				Name:      "init",
				Usage:     "make a new Ed25519 signing key in a file (0600) and print its verifier key",
				ArgsUsage: " ",
				Description: "Writes the signing key to --out, readable by you only, and the verifier key to --out.pub.\n" +
					"The signing key never enters the database; keep it where the checkpoints are made (the\n" +
					"server, an administrator's account). An admin registers the verifier key with\n" +
					"`audit key register`. It never overwrites a file: a lost signing key cannot be recovered.\n\n" +
					example("celltrack audit key init --out /etc/celltrack/checkpoint.key --name celltrack-G1234"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Required: true, Usage: "the new signing key `FILE`"},
					&cli.StringFlag{Name: "name", Value: "celltrack", Usage: "the key's `NAME`, printed on every checkpoint it signs"},
				},
				Action: rt.action(noDB, 0, func(c *cli.Context) error {
					name := c.String("name")
					if name == "" || strings.ContainsAny(name, "+ \t\n") {
						return lot.Errorf(lot.EUSAGE, "--name %q: a key name is non-empty, without spaces or '+'", name)
					}
					skey, vkey, err := note.GenerateKey(rand.Reader, name)
					if err != nil {
						return fmt.Errorf("generate key: %w", err)
					}
					out := c.String("out")
					if err := writeNew("out", signingKeyFile, out, skey+"\n", 0o600); err != nil {
						return err
					}
					if err := writeNew("out", verifierKeyFile, out+".pub", vkey+"\n", 0o644); err != nil {
						os.Remove(out)
						return err
					}
					return rt.out(map[string]any{"key_file": out, "verifier_file": out + ".pub", "verifier": vkey}, func(w io.Writer) {
						fmt.Fprintf(w, "signing key written to %s (0600; keep it safe, it cannot be recovered)\nverifier key: %s\n", out, vkey)
						fmt.Fprintf(w, "register it, logged in as an admin: celltrack audit key register --verifier-file %s.pub\n", out)
					})
				}),
			},
			{
				Name:      "register",
				Usage:     "record the verifier key of the database's signed checkpoints (admin, once)",
				ArgsUsage: " ",
				Description: "Only when no key is registered yet; a registered key is replaced by `audit key rotate`.\n\n" +
					example("celltrack --user alice audit key register --verifier-file checkpoint.key.pub"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "verifier", Usage: "the verifier `KEY` that `audit key init` printed"},
					&cli.StringFlag{Name: "verifier-file", Usage: "a `FILE` holding the verifier key (the .pub `audit key init` wrote)"},
				},
				Action: rt.action(writeDB, 0, func(c *cli.Context) error {
					vkey, err := verifierFlag(c)
					if err != nil {
						return err
					}
					k, err := rt.checkpoints().RegisterCheckpointKey(actor(c), vkey)
					if err != nil {
						return err
					}
					return rt.out(keyView(k), func(w io.Writer) {
						fmt.Fprintf(w, "checkpoint verifier key registered: %s\n", k.Verifier)
					})
				}),
			},
			{
				Name:      "rotate",
				Usage:     "replace the checkpoint verifier key, signed with your password and a reason (admin)",
				ArgsUsage: " ",
				Description: "The old key is kept, retired, so that checkpoints signed before still verify; one signed\n" +
					"with it after the rotation does not. The rotation is two audit entries with the reason.\n\n" +
					example("celltrack --user alice audit key rotate --verifier-file new.key.pub --reason 'yearly rotation'"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "verifier", Usage: "the new verifier `KEY`"},
					&cli.StringFlag{Name: "verifier-file", Usage: "a `FILE` holding the new verifier key"},
					&cli.StringFlag{Name: "reason", Required: true, Usage: "why the key is replaced"},
					&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from standard input"},
				},
				Action: rt.action(writeDB, 0, func(c *cli.Context) error {
					vkey, err := verifierFlag(c)
					if err != nil {
						return err
					}
					pw, err := rt.password(c, actor(c)+" ("+store.MeaningRotateKey+")")
					if err != nil {
						return err
					}
					k, err := rt.checkpoints().RotateCheckpointKey(actor(c), pw, vkey, c.String("reason"))
					if err != nil {
						return asTyped(c, err)
					}
					return rt.out(keyView(k), func(w io.Writer) {
						fmt.Fprintf(w, "checkpoint verifier key rotated to %s; the old key is retired and still verifies older checkpoints\n", k.Verifier)
					})
				}),
			},
			{
				Name:        "list",
				Usage:       "list the checkpoint verifier keys, active and retired",
				ArgsUsage:   " ",
				Description: example("celltrack --user aud audit key list"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					keys, err := rt.checkpoints().CheckpointKeys()
					if err != nil {
						return err
					}
					views := []map[string]any{}
					for _, k := range keys {
						views = append(views, keyView(k))
					}
					return rt.out(views, func(w io.Writer) {
						for _, k := range keys {
							state := "active"
							if k.Retired != nil {
								state = fmt.Sprintf("retired %s by %s: %s", lot.FormatTime(*k.Retired), k.RetiredBy, k.Reason)
							}
							fmt.Fprintf(w, "%s  added %s by %s  %s\n", k.Verifier, lot.FormatTime(k.Added), k.AddedBy, state)
						}
						fmt.Fprintf(w, "%d keys\n", len(keys))
					})
				}),
			},
		},
	}
}

func keyView(k audit.CheckpointKey) map[string]any {
	return map[string]any{"verifier": k.Verifier, "name": k.Name, "added": k.Added, "added_by": k.AddedBy,
		"retired": k.Retired, "retired_by": k.RetiredBy, "reason": k.Reason}
}

// verifierFlag reads --verifier or --verifier-file: exactly one.
func verifierFlag(c *cli.Context) (string, error) {
	v, f := c.String("verifier"), c.String("verifier-file")
	switch {
	case (v == "") == (f == ""):
		return "", lot.Errorf(lot.EUSAGE, "`%s` needs one of --verifier KEY or --verifier-file FILE", c.Command.HelpName)
	case f != "":
		b, err := os.ReadFile(f)
		if err != nil {
			return "", lot.Errorf(lot.EINVALID, "--verifier-file %s cannot be read: %v", f, err)
		}
		if v := strings.TrimSpace(string(b)); strings.HasPrefix(v, "PRIVATE+KEY+") {
			return "", lot.Errorf(lot.EINVALID, "--verifier-file %s holds a signing key, not a verifier key; give %s.pub, the file `celltrack audit key init` wrote beside it", f, f)
		} else {
			return v, nil
		}
	}
	return v, nil
}

// asTyped names in err the flag the key was typed with: a refused key is
// the store's field "verifier-key", which the command line words as
// --verifier; read from --verifier-file FILE, the admin typed that
// (review 8, finding 12).
func asTyped(c *cli.Context, err error) error {
	f := c.String("verifier-file")
	if f == "" || lot.ErrorField(err) != "verifier-key" {
		return err
	}
	return lot.FieldErrorf("verifier-file", lot.ErrorCode(err), "%s — the key in %s", lot.ErrorMessage(err), f)
}

// What a file writeNew makes is, and why it never replaces one.
const (
	signingKeyFile  = "a signing key file (a lost signing key cannot be recovered)"
	verifierKeyFile = "a verifier key file (it belongs to the signing key it was made with)"
	checkpointFile  = "a checkpoint file (it may be the only witness that the trail was once longer or different)"
)

// writeNew creates path with data, never replacing a file: an existing one
// is refused (ECONFLICT) as what (signingKeyFile, …), naming field, the
// input that gave the path ("" when none did); the command line adds its
// flag to the message.
func writeNew(field, what, path, data string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return lot.FieldErrorf(field, lot.ECONFLICT, "%s already exists; celltrack never overwrites %s — choose a new name; nothing was written", path, what)
	} else if err != nil {
		return lot.FieldErrorf(field, lot.EINVALID, "%s cannot be created: %v", path, err)
	}
	err = f.Chmod(perm) // the umask may have narrowed or, for 0644, left it as asked
	if err == nil {
		_, err = f.WriteString(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return lot.FieldErrorf(field, lot.EINVALID, "%s cannot be written: %v", path, err)
	}
	return nil
}

// readSigner reads a signing key file, given with flag, refusing one that
// others can read: whoever can read it can sign checkpoints in the
// facility's name. Each refusal names the flag as its field; the command
// line adds it to the message.
func readSigner(flag, path string) (note.Signer, error) {
	field := strings.TrimPrefix(flag, "--")
	fi, err := os.Stat(path)
	if err != nil {
		return nil, lot.FieldErrorf(field, lot.EINVALID, "the signing key file %s cannot be read: %v", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, lot.FieldErrorf(field, lot.EINVALID, "the signing key file %s is readable by others (mode %04o): whoever can read it can sign checkpoints; run chmod 600 %s — nothing was signed", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, lot.FieldErrorf(field, lot.EINVALID, "the signing key file %s cannot be read: %v", path, err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, lot.FieldErrorf(field, lot.EINVALID, "%s is not a signing key made by `celltrack audit key init` (%v)", path, err)
	}
	return s, nil
}

func (rt *runtime) auditCheckpointCommand() *cli.Command {
	return &cli.Command{
		Name:      "checkpoint",
		Usage:     "write a signed checkpoint of the audit trail: facility, tree size, root hash, time",
		ArgsUsage: " ",
		Description: "Runs the whole of `audit verify` first and signs nothing when it fails (exit 3). Keep the\n" +
			"checkpoint outside the database (another disk, a write-once share, with a printed report);\n" +
			"`audit verify --checkpoint FILE` later proves the trail still extends it. The checkpoints\n" +
			"already in the folder of --out (and in each --witness folder) must be extended by this\n" +
			"trail: one that is not (a file rolled back, cut or forked since) signs nothing (exit 3).\n\n" +
			example("celltrack --user alice audit checkpoint --key /etc/celltrack/checkpoint.key --out /witness/2026-11-25.checkpoint"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Required: true, Usage: "the signing key `FILE` (from `audit key init`)"},
			&cli.StringFlag{Name: "out", Usage: "write the checkpoint to a new `FILE` instead of standard output (never replaced)"},
			witnessFlag,
			&cli.BoolFlag{Name: "force", Hidden: true},
		},
		Action: rt.action(readDB, 0, func(c *cli.Context) error {
			if c.Bool("force") {
				return lot.Errorf(lot.EUSAGE, "--force: a checkpoint file is never replaced — it may be the only witness that the trail was once longer or different; write the new one to a new --out")
			}
			signer, err := readSigner("--key", c.String("key"))
			if err != nil {
				return err
			}
			kept, err := readWitnesses(c, c.String("out"))
			if err != nil {
				return err
			}
			msg, head, rolled, err := rt.db.SignCheckpointOver(signer, kept)
			if err != nil {
				return err
			}
			for _, r := range rolled {
				fmt.Fprintf(rt.stderr, "ROLLED BACK: %s\n", r)
			}
			view := headView(head)
			view["note"] = string(msg)
			if out := c.String("out"); out != "" {
				if err := writeNew("out", checkpointFile, out, string(msg), 0o600); err != nil {
					return err
				}
				view["out"] = out
				return rt.out(view, func(w io.Writer) {
					fmt.Fprintf(w, "checkpoint of %d entries written to %s\n", head.Size, out)
				})
			}
			return rt.out(view, func(w io.Writer) { w.Write(msg) })
		}),
	}
}

func headView(h audit.Head) map[string]any { return report.HeadView(h) }

// treeNote is the tree head line every verification prints.
func treeNote(h audit.Head) string { return report.TreeNote(h) }

// maxCheckpointBytes caps what is read of a checkpoint file
// (audit.MaxCheckpointBytes), here and when it is sent to a server.
const maxCheckpointBytes = audit.MaxCheckpointBytes

// checkpointText is how every checkpoint note begins (audit.FormatCheckpoint).
const checkpointText = "celltrack audit trail "

// readKept reads the --checkpoint files; a folder stands for every
// checkpoint in it and its subfolders (a witness folder), in name order.
// A file given by name must be a regular file (a link to one is followed)
// of at most maxCheckpointBytes. In a folder, nothing is passed over
// silently: a file whose name celltrack gives checkpoints (*.checkpoint,
// checkpoint-*) or whose text begins like one is a checkpoint, and fails
// verification when it cannot be read as one; a link to a folder, a link to
// nothing and anything but a file or a folder fail too; any other file is
// clearly not a checkpoint and is listed in skipped with the reason.
func readKept(paths []string) (kept []audit.KeptCheckpoint, skipped []string, err error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, lot.Errorf(lot.ENOTFOUND, "--checkpoint %s: %v", p, err)
		}
		if !fi.IsDir() {
			b, err := readCheckpointFile(p)
			if err != nil {
				return nil, nil, lot.Errorf(lot.EINVALID, "--checkpoint %s %s; give a checkpoint file, or a folder of them", p, err)
			}
			kept = append(kept, audit.KeptCheckpoint{Name: p, Note: b})
			continue
		}
		k, sk, err := readWitness(p, false)
		if err != nil {
			return nil, nil, err
		}
		kept, skipped = append(kept, k...), append(skipped, sk...)
	}
	return kept, skipped, nil
}

// readWitness reads a witness folder by readKept's rules; a folder with no
// checkpoint is refused unless empty is allowed (a server's new folder).
func readWitness(p string, empty bool) (kept []audit.KeptCheckpoint, skipped []string, err error) {
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			kept = append(kept, audit.KeptCheckpoint{Name: path, Unusable: fmt.Sprintf("cannot be read (%v)", err)})
			return nil
		case path == p || d.IsDir():
			return nil
		}
		kept, skipped = witnessEntry(path, d, kept, skipped, false)
		return nil
	})
	if err != nil {
		return nil, nil, lot.Errorf(lot.EINVALID, "--checkpoint %s: %v", p, err)
	}
	if len(kept) == 0 && !empty {
		return nil, nil, lot.Errorf(lot.EINVALID, "--checkpoint %s is a folder with no checkpoint files", p)
	}
	return kept, skipped, nil
}

// witnessEntry reads one file of a witness folder by readKept's rules
// into kept or skipped. With flat (the folder of --out, read without its
// subfolders), a link to a folder is passed over like a folder.
func witnessEntry(path string, d fs.DirEntry, kept []audit.KeptCheckpoint, skipped []string, flat bool) ([]audit.KeptCheckpoint, []string) {
	fi, err := os.Stat(path) // follows a link
	switch {
	case err != nil:
		return append(kept, audit.KeptCheckpoint{Name: path, Unusable: fmt.Sprintf("is a link to nothing (%v)", err)}), skipped
	case fi.IsDir() && flat:
		return kept, skipped
	case fi.IsDir():
		return append(kept, audit.KeptCheckpoint{Name: path, Unusable: "is a link to a folder, which is not followed; give it as its own --checkpoint"}), skipped
	}
	b, err := readCheckpointFile(path)
	named := strings.HasSuffix(d.Name(), ".checkpoint") || strings.HasPrefix(d.Name(), "checkpoint-")
	switch {
	case err != nil && (named || !fi.Mode().IsRegular()):
		kept = append(kept, audit.KeptCheckpoint{Name: path, Unusable: err.Error()})
	case err != nil:
		skipped = append(skipped, fmt.Sprintf("%s: %s, so not a checkpoint", path, err))
	case !named && !strings.HasPrefix(string(b), checkpointText):
		skipped = append(skipped, fmt.Sprintf("%s: does not begin %q, so not a checkpoint", path, checkpointText))
	default:
		kept = append(kept, audit.KeptCheckpoint{Name: path, Note: b})
	}
	return kept, skipped
}

// readOutFolder reads the checkpoints in the folder a new checkpoint is
// written to, by readKept's rules but without its subfolders: --out may
// name a file in a shared folder (the current one, /tmp) whose subfolders
// are not the witness's. A missing folder holds none.
func readOutFolder(dir string) ([]audit.KeptCheckpoint, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, lot.Errorf(lot.EINVALID, "the folder of --out, %s, cannot be read to check the checkpoints kept there (%v); nothing was signed", dir, err)
	}
	var kept []audit.KeptCheckpoint
	for _, d := range entries {
		if d.IsDir() {
			continue
		}
		kept, _ = witnessEntry(filepath.Join(dir, d.Name()), d, kept, nil, true)
	}
	return kept, nil
}

// readCheckpointFile reads a checkpoint file through one handle: a regular
// file of at most maxCheckpointBytes. The error completes "FILE …".
func readCheckpointFile(path string) ([]byte, error) {
	// Stat before opening: opening a FIFO to read waits for a writer.
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot be read (%v)", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("is not a regular file (%s)", store.FileKind(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read (%v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot be read (%v)", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("is not a regular file (%s)", store.FileKind(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCheckpointBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot be read (%v)", err)
	}
	if len(b) > maxCheckpointBytes {
		return nil, fmt.Errorf("is larger than %d bytes (a checkpoint note is under 4 KB)", maxCheckpointBytes)
	}
	return b, nil
}

// witnessFlag is --witness on audit checkpoint and backup: folders of kept
// checkpoints the trail must extend before anything is signed.
var witnessFlag = &cli.StringSliceFlag{Name: "witness", Usage: "refuse to sign unless the trail extends every checkpoint kept in this `FOLDER` (the folder of --out is always checked); repeat for more"}

// readWitnesses reads the checkpoints a signing command must not
// contradict: those in the folder of out (where the new checkpoint goes;
// none when out is ""; its subfolders are not read) and in each --witness
// folder, whole, by readKept's rules (nothing there passed over: an
// unreadable checkpoint refuses too). A folder without checkpoints is
// allowed: the first one is signed there. A checkpoint in both is checked
// twice, which does no harm.
func readWitnesses(c *cli.Context, out string) ([]audit.KeptCheckpoint, error) {
	var kept []audit.KeptCheckpoint
	if out != "" {
		k, err := readOutFolder(filepath.Dir(out))
		if err != nil {
			return nil, err
		}
		kept = k
	}
	for _, d := range c.StringSlice("witness") {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, lot.Errorf(lot.EINVALID, "--witness %s is not a folder of kept checkpoints; give the witness folder", d)
		}
		k, _, err := readWitness(d, true)
		if err != nil {
			return nil, err
		}
		kept = append(kept, k...)
	}
	return kept, nil
}

// pinnedFlag is --verifier-file on audit verify and restore.
var pinnedFlag = &cli.StringSliceFlag{Name: "verifier-file", Usage: "check the --checkpoint files against the verifier key in `FILE.pub`, kept outside the database, alone; repeat for more"}

// readPinned reads the --verifier-file keys.
func readPinned(c *cli.Context) ([]audit.PinnedVerifier, error) {
	var out []audit.PinnedVerifier
	for _, f := range c.StringSlice("verifier-file") {
		b, err := readCheckpointFile(f) // a regular file, under 4 KB
		if err != nil {
			return nil, lot.Errorf(lot.EINVALID, "--verifier-file %s %s; give the .pub file `celltrack audit key init` wrote", f, err)
		}
		v := strings.TrimSpace(string(b))
		if strings.HasPrefix(v, "PRIVATE+KEY+") {
			return nil, lot.Errorf(lot.EINVALID, "--verifier-file %s holds a signing key, not a verifier key; give %s.pub, the file `celltrack audit key init` wrote beside it", f, f)
		}
		if _, err := note.NewVerifier(v); err != nil {
			return nil, lot.Errorf(lot.EINVALID, "--verifier-file %s is not a verifier key (want name+hash+key, as `celltrack audit key init` wrote it): %v", f, err)
		}
		out = append(out, audit.PinnedVerifier{Source: f, Key: v})
	}
	return out, nil
}

// readCheckpointFlags reads --checkpoint and --verifier-file, the one way
// `audit verify`, `check` and `restore` read them, so that the same flags
// give the same answer and the same message on each: a --verifier-file
// without --checkpoint is a usage error before any file is read (it pins
// the key of the checkpoints, and there are none to check); then the kept
// checkpoints (readKept: skipped names what a witness folder holds that is
// not one), then the pinned keys (readPinned).
func readCheckpointFlags(c *cli.Context) (kept []audit.KeptCheckpoint, skipped []string, pinned []audit.PinnedVerifier, err error) {
	if c.IsSet("verifier-file") && !c.IsSet("checkpoint") {
		return nil, nil, nil, lot.Errorf(lot.EUSAGE, "--verifier-file pins the key that checks the --checkpoint files; give --checkpoint too")
	}
	if kept, skipped, err = readKept(c.StringSlice("checkpoint")); err != nil {
		return nil, nil, nil, err
	}
	if pinned, err = readPinned(c); err != nil {
		return nil, nil, nil, err
	}
	return kept, skipped, pinned, nil
}

// verifyWithCheckpoints is `audit verify --checkpoint`.
func (rt *runtime) verifyWithCheckpoints(c *cli.Context) error {
	kept, skipped, pinned, err := readCheckpointFlags(c)
	if err != nil {
		return err
	}
	if s := c.String("tree-head"); s != "" {
		h, err := audit.ParseHead(s)
		if err != nil {
			return lot.Errorf(lot.EINVALID, "--tree-head: %v", err)
		}
		kept = append(kept, audit.KeptCheckpoint{Name: report.PrintedHeadName(h), Printed: &h})
	}
	cv, err := rt.checkpoints().VerifyCheckpointsPinned(c.Context, kept, pinned)
	if err != nil {
		return err
	}
	rcv := checkpointReport(cv, skipped)
	for _, p := range pinned {
		rcv.Pinned = append(rcv.Pinned, p.Source)
	}
	var bad []string
	for _, r := range cv.Checkpoints {
		if r.Problem != "" {
			bad = append(bad, r.Name)
		}
	}
	failed := fmt.Sprintf("audit verify failed: %d problem(s); the database was changed outside celltrack — report it to QA", len(cv.Problems))
	if len(bad) > 0 {
		failed = fmt.Sprintf("audit verify failed: %d problem(s), among them the kept checkpoint(s) %s; see PROBLEM lines — report it to QA", len(cv.Problems), strings.Join(bad, ", "))
	}
	if cv.FirstMismatch > 0 {
		failed = fmt.Sprintf("audit verify failed: %d problem(s); the first tree size that no longer matches a kept checkpoint is at most %d", len(cv.Problems), cv.FirstMismatch)
		if cv.LastMatch > 0 {
			failed += fmt.Sprintf(" (a checkpoint of %d entries still matches: what changed lies in %s)", cv.LastMatch, store.EntryRange(cv.LastMatch+1, cv.FirstMismatch))
		}
		failed += "; the database was changed outside celltrack, cut back or replaced by an older file — report it to QA"
	}
	// The server's audit verify page writes the same text and JSON
	// (report.CheckpointVerification).
	return rt.printVerdict(verdict{name: "audit verify", problems: cv.Problems,
		counts: rcv.Counts(), head: rcv.HeadHex(), view: rcv.View(), failed: failed, notes: rcv.Notes()})
}

// checkpointReport is cv as package report renders it.
func checkpointReport(cv store.CheckpointVerification, skipped []string) report.CheckpointVerification {
	r := report.CheckpointVerification{
		Verification: report.Verification{Entries: cv.Entries, Records: cv.Records, Head: cv.Head, Tree: cv.Tree, Problems: cv.Problems},
		Skipped:      skipped, FirstMismatch: cv.FirstMismatch}
	for _, c := range cv.Checkpoints {
		r.Checkpoints = append(r.Checkpoints, report.CheckpointCheck{Name: c.Name, Head: c.Head, Signer: c.Signer, Problem: c.Problem, RolledBack: c.RolledBack})
	}
	return r
}

func (rt *runtime) restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "replace the database with a verified backup (admin; every celltrack stopped)",
		ArgsUsage: " ",
		Description: "Verifies the backup (page check, audit verify, every --checkpoint) and refuses one that\n" +
			"fails, one of another facility, and one older than a kept checkpoint or than the database\n" +
			"it replaces — a rollback — unless --allow-rollback with --reason. The replaced file is kept\n" +
			"beside the database (NAME.replaced-TIME); the restore is the next entry of the restored trail.\n" +
			"The backup is copied beside the database first, and that copy is what is verified and put\n" +
			"in place. Only a damaged database (bbolt rejects its contents) is replaced unread; a database\n" +
			"it cannot open for another reason (permissions, a newer schema), a directory or a symbolic\n" +
			"link as --db is refused, and a running server (NAME.serve) refuses it with exit 11.\n" +
			"It needs no session (the database may be too damaged to check one): the admin names\n" +
			"themselves with --user and gives their password, checked in the database, or in the\n" +
			"backup when the database does not open.\n" +
			"A backup an older celltrack wrote (taken before an update) is restored through its copy,\n" +
			"upgraded as that admin (recorded in the restored trail, before the restore); the backup\n" +
			"file itself is never written.\n\n" +
			example("celltrack --user alice restore --from /backups/2026-11-25.db --checkpoint /witness",
				"celltrack --user alice restore --from old.db --allow-rollback --reason 'disk failure; entries since re-entered from paper'"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Required: true, Usage: "the backup `FILE`"},
			&cli.StringSliceFlag{Name: "checkpoint", Usage: "a kept checkpoint `FILE` or a directory of them; repeat for more"},
			pinnedFlag,
			&cli.BoolFlag{Name: "allow-rollback", Usage: "restore even a backup older than a kept checkpoint or the database (needs --reason)"},
			&cli.StringFlag{Name: "reason", Usage: "why a rollback is allowed"},
			&cli.StringFlag{Name: "facility", Usage: "the facility's ISBT 128 `FIN` (e.g. G1234), needed when the database does not open: the backup must be of it"},
			passwordStdinFlag,
		},
		Action: rt.action(noDB, 0, func(c *cli.Context) error {
			// No session: the database may be too damaged to check one.
			// The admin names themselves and gives their password instead.
			admin := flagValue(c, "user", (*cli.Context).String)
			if admin == "" {
				return lot.Errorf(lot.EUSAGE, "`%s` needs --user NAME (or CELLTRACK_USER) and that admin's password: a restore works without a session, as the database may be damaged", c.Command.HelpName)
			}
			if c.IsSet("reason") && !c.Bool("allow-rollback") {
				return lot.Errorf(lot.EUSAGE, "--reason is the reason for --allow-rollback; give both, or neither")
			}
			if err := serverHolds(dbPath(c)); err != nil {
				return err
			}
			kept, skipped, pinned, err := readCheckpointFlags(c)
			if err != nil {
				return err
			}
			for _, sk := range skipped {
				fmt.Fprintf(rt.stderr, "skipped %s\n", sk)
			}
			password, err := rt.password(c, admin)
			if err != nil {
				return err
			}
			rep, err := store.Restore(dbPath(c), store.RestoreOptions{From: c.String("from"), Actor: admin, Password: password, Facility: c.String("facility"), Kept: kept, Pinned: pinned,
				AllowRollback: c.Bool("allow-rollback"), Reason: c.String("reason"),
				Timeout: flagValue(c, "lock-timeout", (*cli.Context).Duration), Now: rt.now})
			if err != nil {
				return err
			}
			return rt.out(map[string]any{"database": dbName(c), "from": c.String("from"), "tree": headView(rep.Backup),
				"replaced": rep.Replaced, "rollback": rep.Rollback, "replaced_unreadable": rep.Unproven, "witness": rep.Witness, "checkpoint_keys": rep.Keys, "upgraded_from_schema": rep.Upgraded}, func(w io.Writer) {
				fmt.Fprintf(w, "restored %s from %s (%s)\nthe replaced file is kept at %s\n", dbName(c), c.String("from"), treeNote(rep.Backup), rep.Replaced)
				if rep.Upgraded > 0 {
					fmt.Fprintf(w, "the backup is %s (taken before an update): its copy was upgraded to %d as %s (entry %d, database.upgrade) before it was verified; %s is left as it was\n", store.OlderWords(rep.Upgraded), store.SchemaVersion, admin, rep.Backup.Size+1, c.String("from"))
				}
				if rep.Keys != "" {
					fmt.Fprintf(w, "the kept checkpoints were checked against %s\n", rep.Keys)
				}
				if rep.Witness != "" {
					fmt.Fprintf(w, "the replaced file could not be read; %s\n", rep.Witness)
				}
				for _, r := range rep.Rollback {
					fmt.Fprintf(w, "ROLLBACK: %s\n", r)
				}
				fmt.Fprintln(w, "the restore is recorded in the audit trail; run `celltrack check`")
			})
		}),
	}
}

// serverHolds refuses a restore while the server marker beside the
// database (NAME.serve) names a live server, or cannot be read: the
// database's lock alone is not enough, since a user who cannot open the
// file cannot test its lock either. A marker whose process is gone (a
// server killed without cleaning up), or whose pid another process that
// started later has, is ignored (serverFile.alive).
func serverHolds(db string) error {
	marker := serverFilePath(db)
	data, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return lot.Errorf(lot.EBUSY, "%s exists and cannot be read (%v): a celltrack server may hold %s; stop it before restoring (or, if no server runs, remove %s)", marker, err, db, marker)
	}
	var f serverFile
	if json.Unmarshal(data, &f) != nil || f.PID <= 0 {
		return lot.Errorf(lot.EBUSY, "%s is not a server marker celltrack wrote, so whether a server holds %s cannot be told; stop any server (or, if none runs, remove %s) before restoring", marker, db, marker)
	}
	if !f.alive() {
		return nil
	}
	return lot.Errorf(lot.EBUSY, "celltrack serve (pid %d, since %s) holds %s; stop that server before restoring (or, if no server runs — pid %d is then another process's, after a restart —, remove %s) — nothing was restored", f.PID, lot.FormatTime(f.Started), db, f.PID, marker)
}

// demoCheckpoint shows signed checkpoints: a signing key made outside the
// database, its verifier registered by the admin, a checkpoint of the trail
// signed and kept beside the demo, and `audit verify --checkpoint` reading
// it back.
func demoCheckpoint(d *demo) error {
	skey, vkey, err := note.GenerateKey(rand.Reader, "celltrack-G1234")
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	keyFile := filepath.Join(d.dir, "checkpoint.key")
	if err := writeNew("", signingKeyFile, keyFile, skey+"\n", 0o600); err != nil {
		return err
	}
	if _, err := d.db.RegisterCheckpointKey("alice", vkey); err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	msg, head, err := d.db.SignCheckpoint(signer, true)
	if err != nil {
		return err
	}
	out := filepath.Join(d.dir, "day1.checkpoint")
	if err := writeNew("", checkpointFile, out, string(msg), 0o600); err != nil {
		return err
	}
	d.say("\ncheckpoint: signing key in %s (0600; only its verifier is in the database, registered by alice); %s signs the trail at %d entries", keyFile, out, head.Size)
	cv, err := d.db.VerifyCheckpoints([]audit.KeptCheckpoint{{Name: out, Note: msg}})
	if err != nil {
		return err
	}
	d.say("audit verify --checkpoint %s: ok=%v (today's trail extends it; `celltrack serve --checkpoint-key` signs one every hour)", out, cv.OK())
	if !cv.OK() {
		return fmt.Errorf("the demo checkpoint does not verify: %v", cv.Problems)
	}
	return nil
}
