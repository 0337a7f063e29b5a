package pgkv

import (
	"fmt"
	"strings"
	"sync"
)

// table says where a bucket's pairs live. A bucket with a table of its own
// (migrations/0001_init.sql) keeps its key in column k and its value in
// column val; every other bucket lives in the generic table kv, under
// bucket = its name.
type table struct {
	name string
	val  string // the value column
	json bool   // the value column is json: the value goes in as text;
	// recordColumns has the table's other columns
	// derived: a view over another table (derivedTables), read as a table
	// of its own and never written.
	derived bool
}

// generic is the table of buckets without one of their own.
var generic = table{name: "kv", val: "v"}

// tables maps bucket names to their own tables. The record buckets are
// store's recordBuckets (store/db.go); audit, audit_entity and audit_tree
// are the append-only trail. It, recordColumns and trailColumns are built
// at first use: a command on a bbolt file never needs them, and every
// process start would pay for their maps (issue 10).
var tables = sync.OnceValue(func() map[string]table {
	m := map[string]table{
		"audit":        {name: "audit_entries", val: "entry"},
		"audit_entity": {name: "audit_entity", val: "v"},
		"audit_tree":   {name: "audit_tree", val: "hash"},
	}
	for b := range recordColumns() {
		m[b] = table{name: b, val: "record", json: true}
	}
	return m
})

// appendOnly are the tables whose rows are never rewritten (a trigger
// refuses UPDATE and DELETE); writing the same value again is a no-op.
var appendOnly = map[string]bool{"audit_entries": true, "audit_entity": true, "audit_tree": true}

// col is a column a json table holds beside the record, written with each
// row from the record (schema 2; schema 1 generated them). field is the
// record's JSON field; kind says how the column derives from it.
type col struct {
	name, field string
	kind        colKind
}

type colKind int

const (
	text   colKind = iota // the field's text
	flag                  // a boolean, false when absent
	when                  // a time; Go's zero time (none) is NULL
	ref                   // a uuid; the zero uuid (none) is NULL
	int32c                // an integer
	int64c                // a bigint
	code                  // containers.code: lot.ContainerCode, the DIN and the two-digit number
)

// expr is the column's value as SQL over j, the record parsed once as
// jsonb. They are schema 1's generation expressions
// (migrations/0001_init.sql) over jsonb instead of json, with ct_time and
// ct_ref written out so that the planner inlines them (as SQL functions
// they ran through the function executor for every row):
// TestWrittenColumnsAgreeWithSchema1 holds each to schema 1's answer.
func (c col) expr(j string) string {
	f := fmt.Sprintf("(%s ->> '%s')", j, c.field)
	switch c.kind {
	case flag:
		return fmt.Sprintf("coalesce(%s::boolean, false)", f)
	case when:
		return fmt.Sprintf("NULLIF(%s::timestamptz, '0001-01-01T00:00:00Z'::timestamptz)", f)
	case ref:
		return fmt.Sprintf("NULLIF(%s::uuid, '00000000-0000-0000-0000-000000000000'::uuid)", f)
	case int32c:
		return f + "::integer"
	case int64c:
		return f + "::bigint"
	case code:
		return fmt.Sprintf("(%[1]s ->> 'din') || lpad(%[1]s ->> 'number', 2, '0')", j)
	}
	return f
}

// recordColumns are the record buckets (store's recordBuckets,
// store/db.go), each with its own table of the same name, and the columns
// of each table besides k, record and id (the key as a uuid).
var recordColumns = sync.OnceValue(func() map[string][]col {
	return map[string][]col{
		"users": {{"name", "name", text}, {"full_name", "full_name", text}, {"role", "role", text},
			{"disabled", "disabled", flag}, {"created_at", "created_at", when}},
		"donors": {{"code", "code", text}, {"site", "site", text}, {"delivered", "delivered", when},
			{"consented", "consented", when}, {"created_at", "created_at", when}},
		"patients": {{"mrn", "mrn", text}, {"name", "name", text}, {"born", "born", when},
			{"sex", "sex", text}, {"created_at", "created_at", when}},
		"weights": {{"patient_id", "patient_id", ref}, {"grams", "grams", int64c}, {"measured_at", "measured_at", when}},
		"lots": {{"number", "number", text}, {"din", "din", text}, {"source", "source", text},
			{"status", "status", text}, {"donor_id", "donor_id", ref}, {"patient_id", "patient_id", ref},
			{"manufactured", "manufactured", when}, {"expires", "expires", when}, {"created_at", "created_at", when}},
		"containers": {{"lot_id", "lot_id", ref}, {"din", "din", text}, {"number", "number", int32c},
			{"code", "", code}, {"state", "state", text}, {"site", "site", text}, {"location", "location", text},
			{"patient_id", "patient_id", ref}, {"thawed_at", "thawed_at", when}, {"created_at", "created_at", when}},
		"events": {{"container_id", "container_id", ref}, {"lot_id", "lot_id", ref}, {"from_state", "from", text},
			{"to_state", "to", text}, {"at", "at", when}, {"by_user", "by", text}, {"site", "site", text},
			{"patient_id", "patient_id", ref}},
		"sites":    {{"code", "code", text}, {"name", "name", text}, {"home", "home", flag}},
		"facility": {{"tz", "tz", text}},
		"labels": {{"container_id", "container_id", ref}, {"lot_id", "lot_id", ref}, {"printed", "printed", int32c},
			{"applied", "applied", int32c}, {"voided", "voided", int32c}},
		"specs": {{"name", "name", text}, {"version", "version", int32c}, {"title", "title", text},
			{"created_at", "created_at", when}},
		"results": {{"lot_id", "lot_id", ref}, {"assay", "assay", text}, {"value", "value", text}, {"unit", "unit", text},
			{"tested", "tested", when}, {"recorded_at", "recorded_at", when}, {"voided_at", "voided_at", when}},
		"screenings": {{"donor_id", "donor_id", ref}, {"tested", "tested", when}, {"recorded_at", "recorded_at", when},
			{"voided_at", "voided_at", when}},
		"dispositions": {{"lot_id", "lot_id", ref}, {"lot", "lot", text}, {"din", "din", text},
			{"decision", "decision", text}, {"patient_id", "patient_id", ref}},
		"protocols": {{"name", "name", text}, {"version", "version", int32c}, {"created_at", "created_at", when}},
		"schedules": {{"patient_id", "patient_id", ref}, {"protocol_id", "protocol_id", ref}, {"protocol", "protocol", text},
			{"course", "course", int32c}, {"start", "start", when}, {"site", "site", text}},
		"infusions": {{"patient_id", "patient_id", ref}, {"schedule_id", "schedule_id", ref}, {"weight_id", "weight_id", ref},
			{"course", "course", int32c}, {"number", "number", int32c}, {"start", "start", when}, {`"end"`, "end", when}},
		"reactions": {{"infusion_id", "infusion_id", ref}, {"grade", "grade", int32c}, {"at", "at", when},
			{"voided_at", "voided_at", when}},
		"weight_confirmations": {{"weight_id", "weight_id", ref}},
		"checkpoint_keys":      {{"added", "added", when}, {"retired", "retired", when}},
		"settings":             nil,
	}
})

// written is a column pgkv writes with each row of a table besides the key
// and the value: its name, and its value as SQL over s.k, the key, and (a
// json table's) s.j, the record parsed once as jsonb. fromKey: it derives
// from the key alone. The statements that write the columns (jsonInsert,
// trailInsert; COPY's are computed to the same answers, copyjson.go) and
// the one that checks them (checkStatement) take them from here.
type written struct {
	name, expr string
	fromKey    bool
}

// writtenColumns are t's written columns: a json table's id, from the
// key, and recordColumns; a trail table's trailColumns.
func writtenColumns(t table) []written {
	var ws []written
	if t.json {
		ws = append(ws, written{"id", "encode(s.k, 'hex')::uuid", true})
		for _, c := range recordColumns()[t.name] {
			ws = append(ws, written{c.name, c.expr("s.j"), false})
		}
		return ws
	}
	for _, c := range trailColumns()[t.name] {
		ws = append(ws, written{c[0], c[1], true})
	}
	return ws
}

// jsonInsert is the statement that inserts the pairs of json table t from
// two arrays, $1 the keys and $2 the records as text: the record as json
// (its exact text) and every written column of t, from the key and one
// jsonb parse of the record (OFFSET 0 keeps the planner from copying the
// parse into each column's expression). upsert adds the ON CONFLICT clause
// that rewrites a key's row.
func jsonInsert(t table, upsert bool) string {
	names := []string{"k", t.val}
	exprs := []string{"s.k", "s.v::json"}
	set := []string{fmt.Sprintf("%[1]s = excluded.%[1]s", t.val)}
	for _, w := range writtenColumns(t) {
		names = append(names, w.name)
		exprs = append(exprs, w.expr)
		if !w.fromKey {
			set = append(set, fmt.Sprintf("%[1]s = excluded.%[1]s", w.name))
		}
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM (SELECT u.k, u.v, u.v::jsonb AS j FROM unnest($1::bytea[], $2::text[]) AS u(k, v) OFFSET 0) AS s",
		t.name, strings.Join(names, ", "), strings.Join(exprs, ", "))
	if upsert {
		q += " ON CONFLICT (k) DO UPDATE SET " + strings.Join(set, ", ")
	}
	return q
}

// derivedTables are the buckets read from views over the lots table
// (migrations/0003_lot_index_views.sql): lot index buckets whose every pair
// derives from a lots row's columns, which pgkv writes with the row. store
// writes their pairs as it does on bbolt; pgkv keeps them in the buffer, so
// that the transaction reads its own writes until they are sent, and sends
// nothing for them: the lots rows sent with them (a lot's record is put
// before its index entries, in the same flush or an earlier one) are what
// the views then show. derivedFrom is the table they are read from.
var derivedTables = map[string]table{
	"idx_lot_number":      {name: "idx_lot_number", val: "v", derived: true},
	"idx_lot_number_fold": {name: "idx_lot_number_fold", val: "v", derived: true},
	"idx_lot_din":         {name: "idx_lot_din", val: "v", derived: true},
	"idx_lot_donor":       {name: "idx_lot_donor", val: "v", derived: true},
}

const derivedFrom = "lots"

// Derived says whether bucket name is read from a view over the lots table
// (derivedTables): a Put or Delete of it changes nothing in the database,
// only what the transaction reads until its writes are sent.
func Derived(name string) bool {
	_, ok := derivedTables[name]
	return ok
}

// Derived says whether bucket is read from a view over lots (kv.DerivedReader).
func (t *tx) Derived(bucket string) bool { return Derived(bucket) }

// tableFor returns the table holding bucket name.
func tableFor(name string) table {
	if t, ok := tables()[name]; ok {
		return t
	}
	if t, ok := derivedTables[name]; ok {
		return t
	}
	return generic
}

// Tables lists the bucket names that have tables of their own, for tests
// and documentation.
func Tables() map[string]string {
	m := make(map[string]string, len(tables()))
	for b, t := range tables() {
		m[b] = t.name
	}
	return m
}

// trailColumns are the columns of the trail's tables besides the key and
// the value, written with each row from the key (schema 2; schema 1
// generated them with ct_seq and ct_id): the sequence number of an entry
// or tree node (the key's 8 bytes, big-endian), the entity of an
// audit_entity key (its first 16 bytes) and its entry's number (the last
// 8). The expressions are over s.k.
var trailColumns = sync.OnceValue(func() map[string][][2]string {
	return map[string][][2]string{
		"audit_entries": {{"seq", seqOf("s.k")}},
		"audit_entity": {{"entity_id", "encode(substring(s.k FROM 1 FOR 16), 'hex')::uuid"},
			{"seq", seqOf("substring(s.k FROM 17 FOR 8)")}},
		"audit_tree": {{"idx", seqOf("s.k")}},
	}
})

func seqOf(k string) string { return fmt.Sprintf("('x' || encode(%s, 'hex'))::bit(64)::bigint", k) }

// trailInsert is the statement that inserts pairs into trail table t from
// two arrays, $1 the keys and $2 the values, with t's columns from each
// key. With keep, a key already there is left as it is (the table is
// append-only) and comes back missing from RETURNING k; without, it is an
// error.
func trailInsert(t table, keep bool) string {
	names, exprs := []string{"k", t.val}, []string{"s.k", "s.v"}
	for _, w := range writtenColumns(t) {
		names, exprs = append(names, w.name), append(exprs, w.expr)
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM unnest($1::bytea[], $2::bytea[]) AS s(k, v)",
		t.name, strings.Join(names, ", "), strings.Join(exprs, ", "))
	if keep {
		q += " ON CONFLICT (k) DO NOTHING RETURNING k"
	}
	return q
}
