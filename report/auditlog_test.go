package report

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/google/uuid"
)

// The audit log written an entry at a time (AuditLogWriter, which streams a
// server's download) is byte for byte the document `audit log --json`
// wrote as one indented array, for none, one and several entries, with a
// user's password hash redacted in both.
func TestAuditLogWriterIsTheIndentedArray(t *testing.T) {
	at := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	all := []audit.Entry{
		{Seq: 1, Time: at, User: "alice", Action: "lot.create", Entity: "lot", ID: uuid.MustParse("0190a0b0-0000-7000-8000-000000000001"),
			New: json.RawMessage(`{"number":"LOT-1","note":"<b>&</b>"}`), State: true},
		{Seq: 2, Time: at.Add(time.Minute), User: "alice", Action: "user.passwd", Entity: "user", ID: uuid.MustParse("0190a0b0-0000-7000-8000-000000000002"),
			Prev: json.RawMessage(`{"name":"nina","hash":"$argon2id$old"}`), New: json.RawMessage(`{"name":"nina","hash":"$argon2id$new"}`), Reason: "reset", State: true},
		{Seq: 3, Time: at.Add(2 * time.Minute), User: "nina", Action: "login", Entity: "user", ID: uuid.MustParse("0190a0b0-0000-7000-8000-000000000002")},
	}
	for _, n := range []int{0, 1, 3} {
		es := all[:n]
		views := []map[string]any{}
		for _, e := range es {
			views = append(views, EntryView(audit.Redact(e)))
		}
		var want, got bytes.Buffer
		if err := writeIndented(&want, views); err != nil {
			t.Fatal(err)
		}
		if err := writeAuditLog(&got, es, "json", false); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%d entries: streamed\n%s\nwant the indented array\n%s", n, got.String(), want.String())
		}
		if strings.Contains(got.String(), "argon2id") {
			t.Errorf("%d entries: a password hash was written:\n%s", n, got.String())
		}
	}
	var text bytes.Buffer
	if err := writeAuditLog(&text, all, "text", true); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(text.String(), "\n3 entries\n") || strings.Contains(text.String(), "argon2id") {
		t.Errorf("text log:\n%s", text.String())
	}
	if _, err := NewAuditLogWriter(&text, "csv", false); err == nil || !strings.Contains(err.Error(), `"csv"`) {
		t.Errorf("format csv: %v, want a refusal naming it", err)
	}
}

// writeAuditLog writes es through an AuditLogWriter, as a download streams
// them.
func writeAuditLog(w io.Writer, es []audit.Entry, format string, values bool) error {
	aw, err := NewAuditLogWriter(w, format, values)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := aw.Write(e); err != nil {
			return err
		}
	}
	return aw.Close()
}
