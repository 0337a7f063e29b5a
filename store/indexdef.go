package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// recordIndex says which index entries the records of one kind have. It is
// the one definition of the index buckets: the services write a new
// record's entries with it (writeIndexes), `audit verify` derives from it
// every entry each stored record should have and checks every index bucket
// holds exactly those (verifyindex.go), and indexBuckets, the list of buckets
// Init creates, is read off it. An index written any other way would make
// verify fail; a bucket not declared here is not created.
type recordIndex struct {
	kind string
	// buckets are the index buckets entries may add to.
	buckets []string
	// entries adds the entries of the record whose stored JSON value is r.
	entries func(e *indexEntries, r *jsonFields)
}

// recordIndexes lists every index of the key schema (db.go) by the record
// kind it is derived from. Two shapes: a lookup index maps what a person
// types or scans to the record's id (e.lookup); a composite index has one
// key per record, ending in the record's id, with no value (e.child) — the
// children of one parent, or records in time order.
var recordIndexes = []recordIndex{
	{kindUser, []string{"idx_user_name"}, func(e *indexEntries, r *jsonFields) {
		e.lookup("idx_user_name", r.str("name"))
	}},
	{kindDonor, []string{"idx_donor_code", "idx_donor_code_fold"}, func(e *indexEntries, r *jsonFields) {
		code := r.str("code")
		e.lookup("idx_donor_code", code)
		e.afterFold("idx_donor_code_fold", code) // foldindex.go: a donor id in another letter case is refused
	}},
	{kindPatient, []string{"idx_patient_mrn", "idx_patient_mrn_fold"}, func(e *indexEntries, r *jsonFields) {
		mrns := append([]string{r.str("mrn")}, r.strs("former_mrns")...)
		// A corrected MRN stays reserved to its patient: it may be on a
		// wristband or a label (patientByMRN refuses it with the current one).
		for _, m := range mrns {
			e.lookup("idx_patient_mrn", m)
		}
		// Each MRN folded, once per patient (MRN-1 corrected to mrn-1 folds
		// to one key): a registration finds a letter-case variant here
		// (mrnFolded) instead of reading every MRN.
		for i, m := range mrns {
			if !slices.ContainsFunc(mrns[:i], func(o string) bool { return strings.EqualFold(o, m) }) {
				e.after("idx_patient_mrn_fold", mrnFoldKey(m))
			}
		}
	}},
	{kindWeight, []string{"idx_weight_patient"}, func(e *indexEntries, r *jsonFields) {
		e.child("idx_weight_patient", r.id("patient_id"), nanos(r.time("measured_at")))
	}},
	{kindLot, []string{"idx_lot_number", "idx_lot_din", "idx_lot_donor", "idx_lot_patient", "idx_lot_number_fold"}, func(e *indexEntries, r *jsonFields) {
		number := r.str("number")
		e.lookup("idx_lot_number", number)
		e.afterFold("idx_lot_number_fold", number) // a lot number in another letter case is refused
		e.lookup("idx_lot_din", r.str("din"))
		if lot.Source(r.str("source")) == lot.SourceUC {
			e.child("idx_lot_donor", r.id("donor_id"))
		} else {
			e.child("idx_lot_patient", r.id("patient_id"))
		}
	}},
	{kindContainer, []string{"idx_container_code", "idx_container_lot"}, func(e *indexEntries, r *jsonFields) {
		e.lookup("idx_container_code", fmt.Sprintf("%s%02d", r.str("din"), r.num("number"))) // lot.ContainerCode
		e.child("idx_container_lot", r.id("lot_id"))
	}},
	{kindEvent, []string{"idx_event_container", "idx_event_lot", "idx_event_patient", "idx_event_infused"}, func(e *indexEntries, r *jsonFields) {
		e.child("idx_event_container", r.id("container_id"))
		e.child("idx_event_lot", r.id("lot_id"))
		if p := r.id("patient_id"); p != uuid.Nil {
			// A patient's trace finds the containers dispensed to or
			// infused into the patient here, without reading other events.
			e.child("idx_event_patient", p)
		}
		if lot.ContainerState(r.str("to")) == lot.Infused {
			// `report handling --from --to` seeks the infusions of a
			// period here, by start time, instead of reading every infusion.
			e.after("idx_event_infused", nanos(r.time("at")))
		}
	}},
	{kindSite, []string{"idx_site_code", "idx_site_code_fold"}, func(e *indexEntries, r *jsonFields) {
		code := r.str("code")
		e.lookup("idx_site_code", code)
		e.afterFold("idx_site_code_fold", code) // a site id in another letter case is refused
	}},
	{kindLabel, []string{"idx_label_container"}, func(e *indexEntries, r *jsonFields) {
		c := r.id("container_id")
		e.lookup("idx_label_container", string(c[:]))
	}},
	{kindSpec, []string{"idx_spec_name"}, func(e *indexEntries, r *jsonFields) {
		e.lookup("idx_spec_name", string(specKey(r.str("name"), r.num("version"))))
	}},
	{kindResult, []string{"idx_result_lot"}, func(e *indexEntries, r *jsonFields) {
		e.child("idx_result_lot", r.id("lot_id"))
	}},
	{kindScreening, []string{"idx_screening_donor"}, func(e *indexEntries, r *jsonFields) {
		e.child("idx_screening_donor", r.id("donor_id"))
	}},
	{kindDisposition, []string{"idx_disposition_lot"}, func(e *indexEntries, r *jsonFields) {
		e.child("idx_disposition_lot", r.id("lot_id"))
	}},
	{kindProtocol, []string{"idx_protocol_name"}, func(e *indexEntries, r *jsonFields) {
		e.lookup("idx_protocol_name", string(protocolKey(r.str("name"), r.num("version"))))
	}},
	{kindSchedule, []string{"idx_schedule_patient"}, func(e *indexEntries, r *jsonFields) {
		e.child("idx_schedule_patient", r.id("patient_id"))
	}},
	{kindInfusion, []string{"idx_infusion_patient", "idx_infusion_container"}, func(e *indexEntries, r *jsonFields) {
		e.child("idx_infusion_patient", r.id("patient_id"))
		for _, c := range r.objects("containers") {
			e.child("idx_infusion_container", c.id("container_id"))
		}
	}},
	{kindReaction, []string{"idx_reaction_infusion"}, func(e *indexEntries, r *jsonFields) {
		e.child("idx_reaction_infusion", r.id("infusion_id"))
	}},
	{kindWeightConfirm, []string{"idx_weight_confirm"}, func(e *indexEntries, r *jsonFields) {
		w := r.id("weight_id")
		e.lookup("idx_weight_confirm", string(w[:]))
	}},
}

// mrnFoldKey is the key prefix of mrn in idx_patient_mrn_fold: each rune
// replaced by the smallest rune of its Unicode simple case-folding orbit
// (unicode.SimpleFold), so that two MRNs have the same folded form exactly
// when strings.EqualFold holds for them, then a 0x00 byte, which no MRN
// holds (lot.ValidateCode), so that the key of MRN-1 is no prefix of
// MRN-10's. The patient's id follows.
func mrnFoldKey(mrn string) []byte { return foldKey(mrn) } // the codes' rule (foldindex.go)

// nanos is a time as the big-endian nanoseconds the time-ordered indexes
// sort by.
func nanos(t time.Time) []byte { return itob(uint64(t.UnixNano())) }

// indexOf maps each record kind to its indexes.
var indexOf = func() map[string]*recordIndex {
	m := map[string]*recordIndex{}
	for i := range recordIndexes {
		m[recordIndexes[i].kind] = &recordIndexes[i]
	}
	return m
}()

// indexBuckets are the index buckets, derived from records and written in
// the same transaction; indexSource names the record kind of each, and
// indexPos its position in indexBuckets.
var indexBuckets, indexSource, indexPos = func() ([][]byte, map[string]string, map[string]int) {
	var names [][]byte
	source, pos := map[string]string{}, map[string]int{}
	for _, ix := range recordIndexes {
		for _, b := range ix.buckets {
			pos[b] = len(names)
			names = append(names, []byte(b))
			source[b] = ix.kind
		}
	}
	return names, source, pos
}()

// indexEntry is one entry of an index bucket: key → val, where val is the
// record's id in a lookup index and empty in a composite one.
type indexEntry struct {
	bucket string
	nth    int // bucket is the record index's buckets[nth]
	key    []byte
	val    []byte
}

// indexEntries collects the entries of one record. Its slices are reused
// from one record to the next: use them before calling reset again.
type indexEntries struct {
	ix   *recordIndex
	id   uuid.UUID
	list []indexEntry
	buf  []byte
}

// reset starts the entries of record id of ix's kind.
func (e *indexEntries) reset(ix *recordIndex, id uuid.UUID) {
	e.ix, e.id, e.list, e.buf = ix, id, e.list[:0], e.buf[:0]
}

// lookup adds key → the record's id.
func (e *indexEntries) lookup(bucket, key string) {
	start := len(e.buf)
	e.buf = append(e.buf, key...)
	e.buf = append(e.buf, e.id[:]...)
	e.add(bucket, e.buf[start:start+len(key)], e.buf[start+len(key):])
}

// afterFold adds foldKey(code) + the record's id, with no value: an
// entry of a folded code index (foldindex.go).
func (e *indexEntries) afterFold(bucket, code string) {
	start := len(e.buf)
	e.buf = appendFoldKey(e.buf, code)
	e.buf = append(e.buf, e.id[:]...)
	e.add(bucket, e.buf[start:], nil)
}

// child adds parent + more + the record's id, with no value.
func (e *indexEntries) child(bucket string, parent uuid.UUID, more ...[]byte) {
	start := len(e.buf)
	e.buf = append(e.buf, parent[:]...)
	for _, m := range more {
		e.buf = append(e.buf, m...)
	}
	e.buf = append(e.buf, e.id[:]...)
	e.add(bucket, e.buf[start:], nil)
}

// after adds prefix + the record's id, with no value.
func (e *indexEntries) after(bucket string, prefix []byte) {
	start := len(e.buf)
	e.buf = append(e.buf, prefix...)
	e.buf = append(e.buf, e.id[:]...)
	e.add(bucket, e.buf[start:], nil)
}

func (e *indexEntries) add(bucket string, key, val []byte) {
	for i, b := range e.ix.buckets {
		if b == bucket {
			e.list = append(e.list, indexEntry{bucket, i, key, val})
			return
		}
	}
	panic(fmt.Sprintf("the indexes of %s add to %s, which recordIndexes does not declare for it", e.ix.kind, bucket))
}

// derive sets e to the entries of record id, of ix's kind, whose stored
// value is val; r is scratch space.
func (e *indexEntries) derive(ix *recordIndex, r *jsonFields, id uuid.UUID, val []byte) error {
	r.parse(val)
	return e.deriveParsed(ix, r, id)
}

// deriveParsed is derive of a value r has parsed.
func (e *indexEntries) deriveParsed(ix *recordIndex, r *jsonFields, id uuid.UUID) error {
	e.reset(ix, id)
	if r.err == nil {
		ix.entries(e, r)
	}
	if r.err != nil {
		return fmt.Errorf("decode %s %s: %w", ix.kind, id, r.err)
	}
	return nil
}

// rewriteIndexes replaces the index entries of record id of kind, whose
// stored value was prev before this transaction changed it, with those of
// its value now: the one way an indexed field changes (a corrected MRN).
func rewriteIndexes(tx kv.Tx, kind string, id uuid.UUID, prev []byte) error {
	ix := indexOf[kind]
	var e indexEntries
	var r jsonFields
	if err := e.derive(ix, &r, id, prev); err != nil {
		return err
	}
	for _, en := range e.list {
		if err := tx.Bucket([]byte(en.bucket)).Delete(en.key); err != nil {
			return fmt.Errorf("unindex %s %s in %s: %w", kind, id, en.bucket, err)
		}
	}
	return writeIndexes(tx, kind, id)
}

// writeIndexes writes the index entries of the new record id of kind, as
// it is now stored in tx. Every service calls it after storing a record
// for the first time; the fields it indexes change afterwards only through
// rewriteIndexes.
// appendIndexes are the index buckets whose keys mostly arrive in order, as
// the audit trail's do: they begin with the UUIDv7 of a record made shortly
// before (the lot of a container, the container of a custody event), a DIN
// issued in sequence, or a time. bbolt splits pages at 50 % by default, which
// left these half empty (BENCHMARKS.md, run M); lookups by name, code or MRN
// arrive in any order and keep the default.
var appendIndexes = map[string]bool{
	"idx_lot_din": true, "idx_lot_donor": true, "idx_lot_patient": true,
	"idx_container_code": true, "idx_container_lot": true,
	"idx_event_container": true, "idx_event_lot": true, "idx_event_patient": true, "idx_event_infused": true,
	"idx_weight_patient": true, "idx_label_container": true, "idx_result_lot": true, "idx_screening_donor": true,
	"idx_disposition_lot": true, "idx_schedule_patient": true, "idx_infusion_patient": true,
	"idx_infusion_container": true, "idx_reaction_infusion": true, "idx_weight_confirm": true,
}

func writeIndexes(tx kv.Tx, kind string, id uuid.UUID) error {
	ix := indexOf[kind]
	var e indexEntries
	var r jsonFields
	if err := e.derive(ix, &r, id, tx.Bucket(recordBuckets[kind]).Get(id[:])); err != nil {
		return err
	}
	for _, en := range e.list {
		b := tx.Bucket([]byte(en.bucket))
		if appendIndexes[en.bucket] {
			b.SetFillPercent(appendFill)
		}
		if err := b.Put(en.key, en.val); err != nil {
			return fmt.Errorf("index %s %s in %s: %w", kind, id, en.bucket, err)
		}
	}
	return nil
}

// jsonFields holds the top-level members of one JSON object, their values
// raw. It reads the few members an index needs from a stored record without
// decoding the rest, about ten times faster than encoding/json, which is
// what keeps `audit verify` fast with every record's indexes checked. Its
// accessors read a member as encoding/json would into the record's field
// (a missing member or null is the zero value); the first error sticks.
type jsonFields struct {
	b       []byte
	members []member
	err     error
}

// member is one member of b: its name b[name:nameEnd] as written (or
// unescaped, when written with escapes), its value b[value:end]. Offsets, not slices, so that
// the parse writes no pointers (no GC write barriers) for each member.
type member struct {
	name, nameEnd, value, end int32
	unescaped                 string // the name, when written with escapes
	ascii                     bool   // the name is ASCII, written without escapes
}

var errNotObject = errors.New("not a JSON object")

func (f *jsonFields) parse(b []byte) {
	if f.members == nil {
		// Room for a record's members in one allocation, not the five
		// that growing from none takes: most jsonFields parse one or two
		// records (the bedside check has a dozen of them).
		f.members = make([]member, 0, 24)
	}
	f.b, f.members, f.err = b, f.members[:0], nil
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		f.err = errNotObject
		return
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		f.end(b, i+1)
		return
	}
	for {
		if i >= len(b) || b[i] != '"' {
			f.err = fmt.Errorf("member name expected at byte %d", i)
			return
		}
		// A name is short: one pass reads it, noting whether it is ASCII
		// (so raw can tell a name of another length cannot match) and
		// stopping at a backslash, which skipString then handles.
		end, ascii := i+1, true
		for end < len(b) {
			if c := b[end]; nameStop[c] {
				if c < utf8.RuneSelf {
					break // '"' or '\\'
				}
				ascii = false
			}
			end++
		}
		escaped := end < len(b) && b[end] == '\\'
		if end++; escaped {
			var ok bool
			if end, ok = skipString(b, i); !ok {
				f.err = fmt.Errorf("unterminated string at byte %d", i)
				return
			}
		} else if end > len(b) {
			f.err = fmt.Errorf("unterminated string at byte %d", i)
			return
		}
		m := member{name: int32(i + 1), nameEnd: int32(end - 1), ascii: ascii && !escaped}
		if escaped {
			var name string // declared here, so that only an escaped name is allocated
			if err := unmarshalRecord(b[i:end], &name); err != nil {
				f.err = err
				return
			}
			m.unescaped = name
		}
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			f.err = fmt.Errorf("':' expected at byte %d", i)
			return
		}
		i = skipSpace(b, i+1)
		vend, ok := skipValue(b, i)
		if !ok {
			f.err = fmt.Errorf("bad value at byte %d", i)
			return
		}
		m.value, m.end = int32(i), int32(vend)
		f.members = append(f.members, m)
		switch i = skipSpace(b, vend); {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			f.end(b, i+1)
			return
		default:
			f.err = fmt.Errorf("',' or '}' expected at byte %d", i)
			return
		}
	}
}

func (f *jsonFields) end(b []byte, i int) {
	if skipSpace(b, i) != len(b) {
		f.err = fmt.Errorf("data after the object at byte %d", i)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"':
// after the first quote not escaped, that is not preceded by an odd number
// of backslashes. It finds quotes with bytes.IndexByte, because the long
// strings of a record (the lines of a bedside check) are most of its bytes.
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; ; {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, false
		}
		q += j
		n := 0
		for k := q - 1; k > i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && !literalStop[b[j]] {
		j++
	}
	return j, j > i
}

// nameStop marks the bytes that end the plain ASCII run of a member name:
// its closing quote, a backslash, a byte of a non-ASCII character;
// literalStop those that end a number or literal.
var nameStop, literalStop = func() (name, literal [256]bool) {
	name['"'], name['\\'] = true, true
	for c := utf8.RuneSelf; c < 256; c++ {
		name[c] = true
	}
	for _, c := range []byte(",}] \t\r\n") {
		literal[c] = true
	}
	return name, literal
}()

// raw returns the member's raw value, nil when absent or null. Like
// encoding/json, the last of repeated names wins and names match without
// regard to case.
func (f *jsonFields) raw(name string) []byte {
	for i := len(f.members) - 1; i >= 0; i-- {
		m := &f.members[i]
		if m.ascii && int(m.nameEnd-m.name) != len(name) {
			continue // every name asked for is ASCII, and ASCII folds only to ASCII of its length
		}
		n := f.b[m.name:m.nameEnd]
		if m.unescaped != "" {
			n = []byte(m.unescaped)
		}
		if bytes.EqualFold(n, []byte(name)) {
			v := f.b[m.value:m.end]
			if string(v) == "null" {
				return nil
			}
			return v
		}
	}
	return nil
}

func (f *jsonFields) fail(name string, err error) {
	if f.err == nil {
		f.err = fmt.Errorf("member %q: %w", name, err)
	}
}

func (f *jsonFields) str(name string) string {
	v := f.raw(name)
	if v == nil {
		return ""
	}
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	if err := unmarshalRecord(v, &s); err != nil {
		f.fail(name, err)
	}
	return s
}

// need is str for a member the reader cannot do without: a record without
// it fails to decode, rather than reading as "" (a renamed field would
// otherwise pass for a value, and a rule resting on it be skipped).
func (f *jsonFields) need(name string) string {
	if f.err == nil && f.raw(name) == nil {
		f.fail(name, errors.New("missing"))
		return ""
	}
	return f.str(name)
}

func (f *jsonFields) id(name string) uuid.UUID {
	v := f.raw(name)
	if v == nil {
		return uuid.Nil
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && bytes.IndexByte(v, '\\') < 0 {
		// The string as it stands, without making a Go string of it: every
		// index of an event, container or infusion is an id.
		u, err := parseUUID(v[1 : len(v)-1])
		if err != nil {
			f.fail(name, err)
		}
		return u
	}
	u, err := uuid.Parse(f.str(name))
	if err != nil {
		f.fail(name, err)
	}
	return u
}

func (f *jsonFields) num(name string) int {
	v := f.raw(name)
	if v == nil {
		return 0
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		f.fail(name, err)
	}
	return n
}

func (f *jsonFields) time(name string) time.Time {
	var t time.Time
	if v := f.raw(name); v != nil {
		if err := t.UnmarshalJSON(v); err != nil {
			f.fail(name, err)
		}
	}
	return t
}

// strs returns an array member of strings (nil when absent).
func (f *jsonFields) strs(name string) []string {
	v := f.raw(name)
	if v == nil {
		return nil
	}
	var out []string
	if err := unmarshalRecord(v, &out); err != nil {
		f.fail(name, err)
	}
	return out
}

// objects returns the members of each object in an array member.
func (f *jsonFields) objects(name string) []jsonFields {
	v := f.raw(name)
	if v == nil {
		return nil
	}
	if v[0] != '[' {
		f.fail(name, errors.New("not an array"))
		return nil
	}
	var out []jsonFields
	i := skipSpace(v, 1)
	for i < len(v) && v[i] != ']' {
		end, ok := skipValue(v, i)
		if !ok {
			f.fail(name, errors.New("bad array"))
			return nil
		}
		var o jsonFields
		if o.parse(v[i:end]); o.err != nil {
			f.fail(name, o.err)
			return nil
		}
		out = append(out, o)
		if i = skipSpace(v, end); i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return out
}
