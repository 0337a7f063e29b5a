package store

import (
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
)

// recordLayout reads a stored record the way encoding/json writes it, to
// let `audit verify` tell without encoding/json that a record decodes and
// carries nothing its check must decode: a schedule without date changes
// has no signature to check, and decoding each of them only to find that
// out was 7 % of verify's CPU.
//
// It is conservative: a record whose members are all fields of the record
// struct, by their exact names, in the struct's order, each at most once,
// each value of a form the decoder reads into that field without error,
// and without any of the members named in its `decode` list, is one
// json.Unmarshal decodes without error and with those fields zero
// (TestRecordLayoutAgreesWithTheDecoder). Anything else — another
// spelling, an escape, a null, a type it does not know — it leaves to
// encoding/json, which decides as before.
type recordLayout struct {
	fields []layoutField
}

type layoutField struct {
	name   string
	valid  func(v []byte) bool // nil: a member left to encoding/json (in decode, or of a type not read here)
	decode bool
}

// newRecordLayout returns the layout of the record struct T, whose fields
// the caller must decode when present are named in decode.
func newRecordLayout[T any](decode ...string) *recordLayout {
	return layoutOf(reflect.TypeFor[T](), decode...)
}

// layoutOf is newRecordLayout of the struct type t.
func layoutOf(t reflect.Type, decode ...string) *recordLayout {
	l := &recordLayout{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() || f.Anonymous {
			panic("newRecordLayout: " + t.Name() + "." + f.Name + " is not a plain field")
		}
		if name == "" {
			name = f.Name
		}
		lf := layoutField{name: name}
		for _, d := range decode {
			lf.decode = lf.decode || d == name
		}
		switch {
		case lf.decode:
		case f.Type == reflect.TypeFor[uuid.UUID]():
			lf.valid = validUUID
		case f.Type == reflect.TypeFor[time.Time]():
			lf.valid = validTime
		case f.Type.Kind() == reflect.String:
			lf.valid = plainString
		case f.Type.Kind() == reflect.Int || f.Type.Kind() == reflect.Int64:
			lf.valid = plainInt
		case f.Type.Kind() == reflect.Bool:
			lf.valid = func(v []byte) bool { return string(v) == "true" || string(v) == "false" }
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			lf.valid = layoutOf(f.Type.Elem()).plainArray
		}
		l.fields = append(l.fields, lf)
	}
	return l
}

// plain reports whether f, the parse of a stored record, is laid out as
// above: it decodes, and has none of the members the caller must decode.
func (l *recordLayout) plain(f *jsonFields) bool {
	if f.err != nil {
		return false
	}
	next := 0 // members come in the fields' order
	for _, m := range f.members {
		if m.unescaped != "" {
			return false
		}
		name := f.b[m.name:m.nameEnd]
		for next < len(l.fields) && l.fields[next].name != string(name) {
			next++
		}
		if next == len(l.fields) {
			return false // unknown, repeated, or out of order
		}
		lf := l.fields[next]
		if lf.valid == nil || !lf.valid(f.b[m.value:m.end]) {
			return false
		}
		next++
	}
	return true
}

// plainArray reports whether v is an array of records each laid out as l,
// as encoding/json writes a slice of them: [] or [e,e,…], without spaces.
// Then the decoder reads it into the slice without error. A schedule lists
// the infusions given on it this way, and decoding every schedule with
// encoding/json for that list alone was 5 % of verify's CPU.
func (l *recordLayout) plainArray(v []byte) bool {
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return false
	}
	if len(v) == 2 {
		return true
	}
	var f jsonFields
	for i := 1; ; {
		end, ok := skipValue(v, i)
		if !ok || v[i] != '{' || end >= len(v) {
			return false
		}
		if f.parse(v[i:end]); !l.plain(&f) {
			return false
		}
		switch {
		case end == len(v)-1:
			return true
		case v[end] != ',':
			return false
		}
		i = end + 1
	}
}

// validUUID reports whether v is a uuid as uuid.UUID's MarshalText writes
// it, which its UnmarshalText reads.
func validUUID(v []byte) bool {
	if len(v) != 2+36 || !plainString(v) {
		return false
	}
	_, err := parseUUID(v[1 : len(v)-1])
	return err == nil
}

// validTime reports whether time.Time's UnmarshalJSON reads v, a string.
func validTime(v []byte) bool {
	var t time.Time
	return plainString(v) && t.UnmarshalJSON(v) == nil
}

// plainInt reports whether v is an integer as encoding/json writes one,
// small enough for any int: no sign but minus, no leading zero, no
// fraction or exponent, at most 18 digits.
func plainInt(v []byte) bool {
	d := v
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 || (len(d) > 1 && d[0] == '0') {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseUUID is uuid.ParseBytes, with the form uuid.UUID writes — 36
// characters, hex in 8-4-4-4-12 — read by a table: verify reads three ids
// of every event for its indexes. Any other form, or a bad one, is left to
// uuid.ParseBytes, which reads or refuses it.
func parseUUID(b []byte) (uuid.UUID, error) {
	var u uuid.UUID
	if len(b) != 36 || b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
		return uuid.ParseBytes(b)
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, lo := hexValue[b[i]], hexValue[b[i+1]]
		if hi > 15 || lo > 15 {
			return uuid.ParseBytes(b)
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, nil
}

// hexValue is the value of each hex digit, 0xff for any other byte.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c], t[c-'a'+'A'] = c-'a'+10, c-'a'+10
	}
	return t
}()
