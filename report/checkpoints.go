package report

import (
	"fmt"
	"io"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// CheckpointCheck is one kept checkpoint, or one tree head typed from a
// printed report, as `audit verify --checkpoint`/`--tree-head` checked it.
type CheckpointCheck struct {
	Name    string
	Head    audit.Head // zero when the note could not be read
	Signer  string     // the verifier key that verified it; "" for a printed head
	Problem string     // empty when today's trail extends it
	// RolledBack says which recorded restore rolled back over it, and why,
	// when today's trail does not extend it for that reason alone.
	RolledBack string
}

// CheckpointVerification is what `audit verify --checkpoint` and
// `--tree-head` found: the whole verification, then each checkpoint.
type CheckpointVerification struct {
	Verification
	Checkpoints []CheckpointCheck
	// Skipped are the files of a witness folder that are clearly not
	// checkpoints, each with the reason; Pinned the sources of the pinned
	// verifier keys (--verifier-file).
	Skipped, Pinned []string
	// FirstMismatch is the first tree size that no longer matches a kept
	// checkpoint (at most); zero when none.
	FirstMismatch int64
}

// Counts is what was checked, as the verdict line says it.
func (cv CheckpointVerification) Counts() string {
	return fmt.Sprintf("%d entries, %d records, %d checkpoints", cv.Entries, cv.Records, len(cv.Checkpoints))
}

// Notes are the lines printed after the chain head: the tree head, the
// pinned keys, each checkpoint's result and each file skipped.
func (cv CheckpointVerification) Notes() []string {
	notes := []string{TreeNote(cv.Tree)}
	for _, p := range cv.Pinned {
		notes = append(notes, "checkpoints checked against the verifier key in "+p+" alone")
	}
	for _, r := range cv.Checkpoints {
		if r.Problem == "" && r.RolledBack != "" {
			notes = append(notes, fmt.Sprintf("checkpoint %s: ROLLED BACK — tree size %d of %s, signed by %s; today's trail does not extend it: %s", r.Name, r.Head.Size, lot.FormatTime(r.Head.Time), r.Signer, r.RolledBack))
			continue
		}
		if r.Problem == "" {
			if r.Head.Time.IsZero() {
				notes = append(notes, fmt.Sprintf("tree head %s: OK — unsigned; today's trail extends it", r.Name))
				continue
			}
			notes = append(notes, fmt.Sprintf("checkpoint %s: OK — tree size %d of %s, signed by %s; today's trail extends it", r.Name, r.Head.Size, lot.FormatTime(r.Head.Time), r.Signer))
		} else {
			what := "checkpoint"
			if r.Head.Time.IsZero() && r.Head.Size > 0 {
				what = "tree head"
			}
			notes = append(notes, fmt.Sprintf("%s %s: FAILED", what, r.Name))
		}
	}
	for _, sk := range cv.Skipped {
		notes = append(notes, "skipped "+sk)
	}
	return notes
}

// View is the --json document of `audit verify --checkpoint`/`--tree-head`.
func (cv CheckpointVerification) View() map[string]any {
	var views []map[string]any
	for _, r := range cv.Checkpoints {
		v := map[string]any{"file": r.Name, "ok": r.Problem == "", "problem": r.Problem, "rolled_back": r.RolledBack}
		if r.Head.Size > 0 {
			v["tree_size"], v["root"], v["time"], v["signer"] = r.Head.Size, audit.RootString(r.Head.Root), r.Head.Time, r.Signer
		}
		views = append(views, v)
	}
	return map[string]any{"ok": cv.OK(), "entries": cv.Entries, "records": cv.Records, "head": cv.HeadHex(), "tree": HeadView(cv.Tree),
		"checkpoints": views, "skipped": cv.Skipped, "first_mismatch": cv.FirstMismatch, "problems": cv.Problems}
}

// Render writes cv as `audit verify --checkpoint`/`--tree-head` prints it,
// in format (text or json).
func (cv CheckpointVerification) Render(w io.Writer, format string) error {
	switch format {
	case "json":
		return writeIndented(w, cv.View())
	case "text":
		WriteVerdict(w, "audit verify", cv.Problems, cv.Counts(), cv.HeadHex(), cv.Notes())
		return nil
	}
	return lot.Errorf(lot.EUSAGE, "format %q is not a format of audit verify; use text or json", format)
}

// PrintedHeadName is how a tree head typed from a printed report is named
// among the checkpoints checked.
func PrintedHeadName(h audit.Head) string { return fmt.Sprintf("(printed %d entries)", h.Size) }
