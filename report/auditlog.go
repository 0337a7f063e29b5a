package report

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// The audit trail's own outputs — `audit log` and `audit verify` — in the
// formats the command line prints them (text, and json with --json), so the
// command line and the auditor's web pages write the same bytes.

// AuditLogFormats are the formats `audit log` writes: its text, and json
// with --json.
var AuditLogFormats = []string{"text", "json"}

// EntryView is an audit entry as `audit log --json` prints it.
func EntryView(e audit.Entry) map[string]any {
	return map[string]any{"seq": e.Seq, "time": e.Time, "user": e.User, "action": e.Action, "entity": e.Entity, "id": e.ID,
		"prev": e.Prev, "new": e.New, "reason": e.Reason, "hash": hex.EncodeToString(e.Hash[:]), "prev_hash": hex.EncodeToString(e.PrevHash[:])}
}

// AuditLogWriter writes an audit log as `audit log` prints it, an entry at
// a time, so that a trail of millions is written without being held: Write
// each entry, oldest first, then Close, which writes the end (the count, or
// the JSON array's closing bracket). Values adds each entry's previous and
// new values to the text (json always has them). No output shows a
// password hash: every entry is redacted first. Nothing is written after
// an error.
type AuditLogWriter struct {
	w      io.Writer
	format string
	values bool
	n      int
	err    error
}

// NewAuditLogWriter returns the writer of an audit log in format (text or
// json): EUSAGE for another.
func NewAuditLogWriter(w io.Writer, format string, values bool) (*AuditLogWriter, error) {
	if format != "text" && format != "json" {
		return nil, lot.Errorf(lot.EUSAGE, "format %q is not a format of the audit log; use text or json", format)
	}
	return &AuditLogWriter{w: w, format: format, values: values}, nil
}

// Write writes entry e, redacted.
func (a *AuditLogWriter) Write(e audit.Entry) error {
	if a.err != nil {
		return a.err
	}
	e = audit.Redact(e)
	if a.format == "json" {
		// The array writeIndented writes, one element at a time.
		b, err := json.MarshalIndent(EntryView(e), "  ", "  ")
		if err != nil {
			a.err = err
			return err
		}
		sep := ",\n  "
		if a.n == 0 {
			sep = "[\n  "
		}
		_, a.err = fmt.Fprintf(a.w, "%s%s", sep, b)
	} else {
		_, a.err = fmt.Fprintf(a.w, "%6d  %s  %-10s %-20s %-9s %s", e.Seq, lot.FormatTime(e.Time), e.User, e.Action, e.Entity, e.ID)
		if a.err == nil && e.Reason != "" {
			_, a.err = fmt.Fprintf(a.w, "  reason: %s", e.Reason)
		}
		if a.err == nil {
			_, a.err = fmt.Fprintln(a.w)
		}
		if a.err == nil && a.values && e.Prev != nil {
			_, a.err = fmt.Fprintf(a.w, "        prev %s\n", e.Prev)
		}
		if a.err == nil && a.values && e.New != nil {
			_, a.err = fmt.Fprintf(a.w, "        new  %s\n", e.New)
		}
	}
	a.n++
	return a.err
}

// Close writes the end of the log.
func (a *AuditLogWriter) Close() error {
	if a.err != nil {
		return a.err
	}
	switch {
	case a.format == "text":
		_, a.err = fmt.Fprintf(a.w, "%d entries\n", a.n)
	case a.n == 0:
		_, a.err = io.WriteString(a.w, "[]\n")
	default:
		_, a.err = io.WriteString(a.w, "\n]\n")
	}
	return a.err
}

// writeIndented writes v as the command line's --json does: two-space
// indent, a newline at the end.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// HeadView is an audit tree head as every --json output shows it.
func HeadView(h audit.Head) map[string]any {
	v := map[string]any{"facility": h.Facility, "tree_size": h.Size, "root": audit.RootString(h.Root)}
	if !h.Time.IsZero() {
		v["time"] = h.Time
	}
	return v
}

// TreeNote is the tree head line every verification prints: what a printed
// report carries and `audit verify --tree-head` checks.
func TreeNote(h audit.Head) string {
	return fmt.Sprintf("tree head: %d entries, root %s", h.Size, audit.RootString(h.Root))
}

// WriteVerdict writes a verification's text: each problem, the verdict with
// what was checked, the chain head, then notes — `audit verify` and `check`.
func WriteVerdict(w io.Writer, name string, problems []string, counts, head string, notes []string) {
	for _, p := range problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
	result := "OK"
	if len(problems) > 0 {
		result = fmt.Sprintf("FAILED (%d problems)", len(problems))
	}
	fmt.Fprintf(w, "%s: %s — %s\nchain head: %s\n", name, result, counts, head)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

// Verification is what `audit verify` found over the whole database.
type Verification struct {
	Entries  int
	Records  int
	Head     [32]byte
	Tree     audit.Head
	Problems []string
}

// VerificationFormats are the formats `audit verify` writes.
var VerificationFormats = []string{"text", "json"}

// OK is true when nothing was found.
func (v Verification) OK() bool { return len(v.Problems) == 0 }

// HeadHex is the chain head hash in hex.
func (v Verification) HeadHex() string { return hex.EncodeToString(v.Head[:]) }

// Counts is what was checked, as the verdict line says it.
func (v Verification) Counts() string {
	return fmt.Sprintf("%d entries, %d records", v.Entries, v.Records)
}

// View is the --json document of `audit verify`.
func (v Verification) View() map[string]any {
	return map[string]any{"ok": v.OK(), "entries": v.Entries, "records": v.Records, "head": v.HeadHex(), "tree": HeadView(v.Tree), "problems": v.Problems}
}

// Render writes v as `audit verify` prints it, in format (text or json).
func (v Verification) Render(w io.Writer, format string) error {
	switch format {
	case "json":
		return writeIndented(w, v.View())
	case "text":
		WriteVerdict(w, "audit verify", v.Problems, v.Counts(), v.HeadHex(), []string{TreeNote(v.Tree)})
		return nil
	}
	return lot.Errorf(lot.EUSAGE, "format %q is not a format of audit verify; use text or json", format)
}
