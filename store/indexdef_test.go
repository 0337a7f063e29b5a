package store

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// TestJSONFieldsReadsAsEncodingJSON: the index definitions read records with
// jsonFields, the services with encoding/json; both must see the same
// values, or verify would check the indexes against something the services
// never read.
func TestJSONFieldsReadsAsEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		in, name, want string
	}{
		{`{"a":"x"}`, "a", "x"},
		{` { "a" : "x" , "b":1 } `, "a", "x"},
		{`{"a":"x\"}{,y"}`, "a", `x"}{,y`},
		{`{"a":"L\u003cT\u003e \u0026 \\"}`, "a", `L<T> & \`},
		{`{"n":{"a":"in"},"a":"out"}`, "a", "out"},
		{`{"n":["a",{"a":"]"}],"a":"out"}`, "a", "out"},
		{`{"A":"case"}`, "a", "case"},
		{`{"a":"first","a":"last"}`, "a", "last"},
		{`{"a":null}`, "a", ""},
		{`{}`, "a", ""},
		{`{"a\u0062":"escaped name"}`, "ab", "escaped name"},
		// encoding/json folds names as Unicode does: a long s is an s,
		// though its name is two bytes long (member.ascii).
		{`{"ſ":"long s"}`, "s", "long s"},
		{`{"\u017f":"long s, escaped"}`, "s", "long s, escaped"},
		{`{"s":"short","ſs":"other"}`, "s", "short"},
		{`{"ab":"ab","a\\":"escape","a":"a"}`, "ab", "ab"},
		// Quotes after runs of backslashes: escaped after an odd run, the
		// end of the string after an even one (skipString).
		{`{"a":"\\","b":1}`, "a", `\`},
		{`{"a":"x\\\"y","b":1}`, "a", `x\"y`},
		{`{"a":"\\\\","b":1}`, "a", `\\`},
		{`{"n":["\\",{"a":"\"]"}],"a":"out"}`, "a", "out"},
	} {
		var f jsonFields
		f.parse([]byte(tc.in))
		got := f.str(tc.name)
		var m struct {
			A  string `json:"a"`
			B  int    `json:"b"`
			AB string `json:"ab"`
			S  string `json:"s"`
		}
		if err := json.Unmarshal([]byte(tc.in), &m); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if f.err != nil || got != tc.want {
			t.Errorf("%s: %s = %q, %v; want %q", tc.in, tc.name, got, f.err, tc.want)
		}
		if want := map[string]string{"a": m.A, "ab": m.AB, "s": m.S}[tc.name]; want != tc.want {
			t.Errorf("%s: encoding/json reads %s as %q; the table says %q", tc.in, tc.name, want, tc.want)
		}
	}
	for _, bad := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":"x"`, `{"a":"x" "b":1}`, `{"a":"x"} {}`, `{"a":{"b":1}`} {
		var f jsonFields
		if f.parse([]byte(bad)); f.err == nil {
			t.Errorf("%q: parsed without error; encoding/json refuses it", bad)
		}
	}
	var f jsonFields
	if f.parse([]byte(` { "a" : "x" , "b":12 } `)); f.num("b") != 12 || f.err != nil {
		t.Errorf("b = %d, %v; want 12", f.num("b"), f.err)
	}
	if f.parse([]byte(`{"id":"not-a-uuid","n":"1","at":"yesterday"}`)); f.id("id") != uuid.Nil || f.err == nil {
		t.Errorf("a bad uuid read without error")
	}
	if f.err = nil; f.num("n") != 0 || f.err == nil {
		t.Errorf("a quoted number read without error")
	}
	if f.err = nil; !f.time("at").IsZero() || f.err == nil {
		t.Errorf("a bad time read without error")
	}
	var g jsonFields
	for _, in := range []string{`{"id":"01a23983-a6d4-778b-ab13-f22b790b8ca6"}`, `{"id":"01a23983-a6d4-778b-ab13-f22b790b8c\u0061\u0036"}`} {
		var want struct{ ID uuid.UUID }
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if g.parse([]byte(in)); g.id("id") != want.ID || g.err != nil {
			t.Errorf("%s: id = %s, %v; encoding/json reads %s", in, g.id("id"), g.err, want.ID)
		}
	}
	if g.parse([]byte(`{"id":7}`)); g.id("id") != uuid.Nil || g.err == nil {
		t.Errorf("a number read as a uuid without error")
	}

	// Every member of every record of a database with every kind, read both
	// ways.
	db := everyIndexDB(t)
	db.view(func(tx kv.Tx) error {
		for kind, name := range recordBuckets {
			tx.Bucket(name).ForEach(func(k, v []byte) error {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(v, &m); err != nil {
					t.Fatal(err)
				}
				var f jsonFields
				f.parse(v)
				for member, raw := range m {
					if got := f.raw(member); string(got) != string(raw) {
						t.Errorf("%s %x: %s is %s; encoding/json reads %s", kind, k, member, got, raw)
					}
					var s string
					if json.Unmarshal(raw, &s) == nil && f.str(member) != s {
						t.Errorf("%s %x: %s is %q; encoding/json reads %q", kind, k, member, f.str(member), s)
					}
				}
				if f.err != nil || len(f.members) != len(m) {
					t.Errorf("%s %x: %d members, %v; encoding/json reads %d", kind, k, len(f.members), f.err, len(m))
				}
				return nil
			})
		}
		return nil
	})
}

// TestAppendIndexesAreIndexBuckets: a name in appendIndexes that is no index
// bucket (a typo, a renamed index) would silently leave its bucket at 50 %.
func TestAppendIndexesAreIndexBuckets(t *testing.T) {
	for name := range appendIndexes {
		if _, ok := indexPos[name]; !ok {
			t.Errorf("appendIndexes names %s, which is not an index bucket", name)
		}
	}
}

// TestJSONFieldsNeed: a member a rule rests on (a disposition's decision, a
// custody event's "to") fails to decode when it is missing, instead of
// reading as "" and letting the rule be skipped.
func TestJSONFieldsNeed(t *testing.T) {
	var r jsonFields
	if r.parse([]byte(`{"decision":"approved"}`)); r.need("decision") != "approved" || r.err != nil {
		t.Fatalf("present: %q %v", r.need("decision"), r.err)
	}
	if r.parse([]byte(`{"verdict":"approved"}`)); r.need("decision") != "" || r.err == nil || !strings.Contains(r.err.Error(), `"decision"`) {
		t.Fatalf("missing: err %v, want one naming the member", r.err)
	}
	if r.parse([]byte(`{"decision":""}`)); r.need("decision") != "" || r.err != nil {
		t.Fatalf("present and empty is a value: %v", r.err)
	}
}
