package pgkv

// table says where a bucket's pairs live. A bucket with a table of its own
// (migrations/0001_init.sql) keeps its key in column k and its value in
// column val; every other bucket lives in the generic table kv, under
// bucket = its name.
type table struct {
	name string
	val  string // the value column
	json bool   // the value column is json: the value goes in as text
}

// generic is the table of buckets without one of their own.
var generic = table{name: "kv", val: "v"}

// tables maps bucket names to their own tables. The record buckets are
// store's recordBuckets (store/db.go); audit, audit_entity and audit_tree
// are the append-only trail.
var tables = map[string]table{
	"audit":        {name: "audit_entries", val: "entry"},
	"audit_entity": {name: "audit_entity", val: "v"},
	"audit_tree":   {name: "audit_tree", val: "hash"},
}

// appendOnly are the tables whose rows are never rewritten (a trigger
// refuses UPDATE and DELETE); writing the same value again is a no-op.
var appendOnly = map[string]bool{"audit_entries": true, "audit_entity": true, "audit_tree": true}

func init() {
	for _, b := range []string{
		"users", "donors", "patients", "weights", "lots", "containers", "events",
		"sites", "facility", "labels", "specs", "results", "screenings",
		"dispositions", "protocols", "schedules", "infusions", "reactions",
		"weight_confirmations", "checkpoint_keys", "settings",
	} {
		tables[b] = table{name: b, val: "record", json: true}
	}
}

// tableFor returns the table holding bucket name.
func tableFor(name string) table {
	if t, ok := tables[name]; ok {
		return t
	}
	return generic
}

// Tables lists the bucket names that have tables of their own, for tests
// and documentation.
func Tables() map[string]string {
	m := make(map[string]string, len(tables))
	for b, t := range tables {
		m[b] = t.name
	}
	return m
}
