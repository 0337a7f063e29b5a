package pgkv

import "testing"

// TestTopMembers: a record's members as COPY's columns read them — a name
// given twice is its last value, as a jsonb object keeps it; a name only
// inside a nested value is absent; an escaped name or a value that is not
// JSON sends the row to INSERT (ok false).
func TestTopMembers(t *testing.T) {
	var m jsonMembers
	if !topMembers([]byte(`{"din": "A", "inner": {"number": 7, "din": "C"}, "din":"B" ,"n":null}`), &m) {
		t.Fatal("topMembers refused a valid object")
	}
	for name, want := range map[string]string{"din": `"B"`, "inner": `{"number": 7, "din": "C"}`, "n": "null", "number": ""} {
		if got := string(m.get(name)); got != want {
			t.Errorf("member %s = %q, want %q", name, got, want)
		}
	}
	if m.get("number") != nil {
		t.Errorf("a name inside a nested object read as a member")
	}
	for _, rec := range []string{`{"d\u0069n": "A"}`, `{"din": "A",}`, `["din"]`, `{"din": tru}`} {
		m = m[:0]
		if topMembers([]byte(rec), &m) {
			t.Errorf("topMembers(%s) = ok, want refused", rec)
		}
	}
}
