package web

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// answering is a Caller that cannot stream: it answers every call with body.
type answering struct{ body []byte }

func (a answering) Call(method, path string, body any) ([]byte, map[string][]string, error) {
	return a.body, nil, nil
}

// Through a Caller that cannot stream, the audit log is read from the whole
// answer with the stream's own decoder: every entry of a finished answer,
// and one cut short (no closing bracket) ends with ENODB after the entries
// that came, as a cut stream does.
func TestRemoteAuditEntriesWithoutStreaming(t *testing.T) {
	whole, err := json.Marshal([]WireEntry{{Entry: audit.Entry{Seq: 1, User: "alice", Action: "init"}}, {Entry: audit.Entry{Seq: 2, User: "liu", Action: "login"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		body []byte
		n    int
		code string
	}{
		{"whole", whole, 2, ""},
		{"cut", whole[:len(whole)-1], 2, lot.ENODB},
		{"first entry cut", whole[:10], 0, lot.ENODB},
	} {
		var got []uint64
		err := NewRemoteUsers(answering{c.body}, nil).EachAuditEntry(context.Background(), "", "", func(e audit.Entry) error {
			got = append(got, e.Seq)
			return nil
		})
		if len(got) != c.n || lot.ErrorCode(err) != c.code {
			t.Errorf("%s: entries %v, error %v; want %d entries and code %q", c.name, got, err, c.n, c.code)
		}
	}
}
