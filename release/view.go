package release

import (
	"fmt"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// The JSON views below are the --json output of the release commands and
// the web API's answers to the same calls: one definition, so that a
// script reads either and the two cannot drift apart.

// ViewResult is a QC result as --json prints it, voided or not.
func ViewResult(r Result) map[string]any {
	return map[string]any{"id": r.ID, "seq": r.Seq, "assay": r.Assay, "value": r.Value.Text, "unit": r.Value.Unit,
		"method": r.Method, "tested": lot.FormatDate(r.Tested), "recorded_at": r.RecordedAt, "recorded_by": r.RecordedBy,
		"corrects": r.Corrects, "voided": r.Voided(), "voided_at": r.VoidedAt, "voided_by": r.VoidedBy, "void_reason": r.VoidReason}
}

// ViewResults is a lot's QC results; never null.
func ViewResults(rs []Result) []map[string]any {
	v := []map[string]any{}
	for _, r := range rs {
		v = append(v, ViewResult(r))
	}
	return v
}

// ViewSignature is an electronic signature as --json prints it: printed
// name, role, time, meaning and the SHA-256 of the record it signs.
func ViewSignature(s audit.Signature) map[string]any {
	return map[string]any{"user": s.User, "full_name": s.FullName, "role": s.Role, "time": s.Time,
		"meaning": s.Meaning, "signed_sha256": fmt.Sprintf("%x", s.Signed)}
}

// ViewDisposition is a QA decision on a lot with its signatures.
func ViewDisposition(d Disposition) map[string]any {
	sigs := []map[string]any{}
	for _, s := range d.Signatures {
		sigs = append(sigs, ViewSignature(s))
	}
	return map[string]any{"id": d.ID, "lot": d.Lot, "din": d.DIN, "decision": d.Decision, "spec": d.Spec,
		"spec_version": d.SpecVersion, "rows": d.Rows, "reason": d.Reason, "patient": d.Patient, "infused": d.Infused, "recall": d.Recall,
		"unevaluated": d.Unevaluated, "at": d.At, "by": d.By, "signatures": sigs}
}

// ViewDispositions is a lot's decisions, oldest first; never null.
func ViewDispositions(ds []Disposition) []map[string]any {
	v := []map[string]any{}
	for _, d := range ds {
		v = append(v, ViewDisposition(d))
	}
	return v
}
