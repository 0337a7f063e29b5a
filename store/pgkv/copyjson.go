package pgkv

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// A json table's row goes by COPY with its columns computed here, in Go,
// from the record: what col.expr computes on the server, for the records
// whose every field it reads is of a plain form — a string without \u0000
// or a surrogate escape, an RFC 3339 time, a uuid in its 36 characters, an
// integer literal, true or false, null, or absent. A record with any other
// form (a number where text is read, a time PostgreSQL would parse another
// way, …) goes by INSERT and is computed by the server as before: this
// only ever answers for the forms it is sure of. The server parsed each
// record into jsonb for its columns, ~15 µs a row (10,000 lots: 280 ms of
// backend CPU with the parse, 135 ms with the columns given).
// TestWrittenColumnsAgreeWithSchema1 holds both ways to schema 1.

// jsonMembers are the top-level members of a JSON object, raw, in order.
// A slice, not a map: a record has a dozen members, and a map made a
// string of every name of every row an import sends (issue 14).
type jsonMembers []jsonMember

type jsonMember struct{ name, raw []byte }

// get is the last value of member name (as a jsonb object keeps it), nil
// when absent.
func (m jsonMembers) get(name string) []byte {
	for i := len(m) - 1; i >= 0; i-- {
		if string(m[i].name) == name {
			return m[i].raw
		}
	}
	return nil
}

// topMembers appends the members of the object rec to m; ok is false when
// rec is not a valid JSON object of names without escapes.
func topMembers(rec []byte, m *jsonMembers) bool {
	if !json.Valid(rec) || !utf8.Valid(rec) {
		return false
	}
	i := skipSpace(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return false
	}
	i = skipSpace(rec, i+1)
	if i < len(rec) && rec[i] == '}' {
		return true
	}
	for i < len(rec) {
		if rec[i] != '"' {
			return false
		}
		end := bytes.IndexByte(rec[i+1:], '"')
		if end < 0 {
			return false
		}
		name := rec[i+1 : i+1+end]
		if bytes.IndexByte(name, '\\') >= 0 {
			return false
		}
		i = skipSpace(rec, i+end+2)
		if i >= len(rec) || rec[i] != ':' {
			return false
		}
		i = skipSpace(rec, i+1)
		n := valueEnd(rec[i:])
		if n <= 0 {
			return false
		}
		*m = append(*m, jsonMember{name, rec[i : i+n]})
		i = skipSpace(rec, i+n)
		if i >= len(rec) {
			return false
		}
		if rec[i] == '}' {
			return true
		}
		if rec[i] != ',' {
			return false
		}
		i = skipSpace(rec, i+1)
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd is the length of the JSON value b starts with (b is part of a
// valid document).
func valueEnd(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case '"':
		for i := 1; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return 0
	case '{', '[':
		depth := 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '"':
				n := valueEnd(b[i:])
				if n <= 0 {
					return 0
				}
				i += n - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return 0
	}
	i := 0
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// jsonText is what ->> gives of raw: the string's text (null: absent, as
// NULL), for a string only; ok is false for any other value but null, and
// for a string with an escape PostgreSQL refuses or Go reads otherwise.
func jsonText(raw []byte) (s []byte, null, ok bool) {
	switch {
	case raw == nil || string(raw) == "null":
		return nil, true, true
	case raw[0] != '"':
		return nil, false, false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return body, false, true
	}
	for i := bytes.Index(body, []byte(`\u`)); i >= 0; {
		if i+6 > len(body) {
			return nil, false, false
		}
		n, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		if err != nil || n == 0 || n >= 0xd800 && n <= 0xdfff {
			return nil, false, false
		}
		j := bytes.Index(body[i+6:], []byte(`\u`))
		if j < 0 {
			break
		}
		i += 6 + j
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return nil, false, false
	}
	return []byte(str), false, true
}

// pgEpoch is PostgreSQL's timestamp zero, in Unix seconds.
const pgEpoch = 946684800

// zeroTime is Go's zero time.Time (0001-01-01T00:00:00Z) as PostgreSQL
// microseconds: the value col.expr writes as NULL.
var zeroTime = (time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - pgEpoch) * 1_000_000

// rfc3339Micros parses s as PostgreSQL reads an RFC 3339 time into a
// timestamptz (microseconds from 2000-01-01 UTC): the fraction read as a
// double and rounded half to even to microseconds, as its
// ParseFractionalSecond does. ok is false for any other form.
func rfc3339Micros(s []byte) (int64, bool) {
	// YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || year < 1 || month < 1 || month > 12 || day < 1 ||
		day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	rest := s[19:]
	var fsec int64
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return 0, false
		}
		frac, err := strconv.ParseFloat("0"+string(rest[:n]), 64)
		if err != nil {
			return 0, false
		}
		fsec = int64(math.RoundToEven(frac * 1_000_000))
		rest = rest[n:]
	}
	var offset int
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 14 || om > 59 {
			return 0, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	unix := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC).Unix() - int64(offset)
	return (unix-pgEpoch)*1_000_000 + fsec, true
}

// intLiteral reads raw as a JSON integer literal in [lo, hi].
func intLiteral(raw []byte, lo, hi int64) (int64, bool) {
	if len(raw) == 0 || bytes.ContainsAny(raw, ".eE+") {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// jsonTuple is the row of json table t for key k and record v as COPY
// sends it (copyData.tuple): k, the record, id and each column of
// recordColumns, in PostgreSQL's binary format. ok is false when the key
// is not 16 bytes or the record has a form it does not compute (see
// above).
func (c *copyData) jsonTuple(t table, k, v []byte) ([]byte, bool) {
	if len(k) != 16 {
		return nil, false
	}
	c.members = c.members[:0]
	if !topMembers(v, &c.members) {
		return nil, false
	}
	cols := recordColumns()[t.name]
	r := c.scratch[:0]
	r = binary.BigEndian.AppendUint16(r, uint16(3+len(cols)))
	field := func(b []byte) { r = appendField(r, b) }
	null := func() { r = binary.BigEndian.AppendUint32(r, math.MaxUint32) }
	field(k)
	field(v)
	field(k) // id: the key's 16 bytes are the uuid's
	for _, col := range cols {
		raw := c.members.get(col.field)
		switch col.kind {
		case flag:
			switch string(raw) {
			case "true":
				field([]byte{1})
			case "false", "null", "":
				field([]byte{0})
			default:
				return nil, false
			}
		case text, when, ref:
			b, isNull, ok := stringColumn(raw, col.kind)
			switch {
			case !ok:
				return nil, false
			case isNull:
				null()
			default:
				field(b)
			}
		case int32c, int64c:
			if raw == nil || string(raw) == "null" {
				null()
				continue
			}
			if col.kind == int32c {
				n, ok := intLiteral(raw, math.MinInt32, math.MaxInt32)
				if !ok {
					return nil, false
				}
				field(binary.BigEndian.AppendUint32(nil, uint32(int32(n))))
			} else {
				n, ok := intLiteral(raw, math.MinInt64, math.MaxInt64)
				if !ok {
					return nil, false
				}
				field(binary.BigEndian.AppendUint64(nil, uint64(n)))
			}
		case code:
			// din || lpad(number, 2, '0'): NULL when either is.
			din, dinNull, ok := jsonText(c.members.get("din"))
			if !ok {
				return nil, false
			}
			numRaw := c.members.get("number")
			var num []byte
			switch {
			case numRaw == nil || string(numRaw) == "null":
				null()
				continue
			case numRaw[0] == '"':
				s, _, ok := jsonText(numRaw)
				if !ok {
					return nil, false
				}
				num = s
			default:
				if _, ok := intLiteral(numRaw, math.MinInt64, math.MaxInt64); !ok {
					return nil, false
				}
				num = numRaw
			}
			if dinNull {
				null()
				continue
			}
			if !utf8.Valid(num) {
				return nil, false
			}
			runes := []rune(string(num))
			for len(runes) < 2 {
				runes = append([]rune{'0'}, runes...)
			}
			field(append(append([]byte{}, din...), string(runes[:2])...))
		}
	}
	c.scratch = r
	return r, true
}

// stringColumn is the binary value of a text, time or uuid column (kind)
// from raw, a JSON string; null for JSON null, absent, or (a time or uuid)
// Go's zero value, which col.expr writes as NULL.
func stringColumn(raw []byte, kind colKind) (b []byte, null, ok bool) {
	s, isNull, ok := jsonText(raw)
	if !ok || isNull || kind == text {
		return s, isNull, ok
	}
	if kind == when {
		us, ok := rfc3339Micros(s)
		return binary.BigEndian.AppendUint64(nil, uint64(us)), us == zeroTime, ok
	}
	u, ok := uuidBytes(s)
	return u[:], u == [16]byte{}, ok
}

// uuidBytes parses the 36-character form of a uuid.
func uuidBytes(s []byte) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	h := make([]byte, 0, 32)
	h = append(append(append(append(append(h, s[0:8]...), s[9:13]...), s[14:18]...), s[19:23]...), s[24:]...)
	if _, err := hex.Decode(u[:], h); err != nil {
		return u, false
	}
	return u, true
}
