package store

import (
	"encoding/base64"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// The two records a large trace decodes most — a lot's ~700 custody events
// and its ~100 infusions, each with its bedside check — and the few every
// one-shot command reads at its start (below canonicalDecode) are read here
// as encoding/json writes them: their members in the order of their fields,
// without spaces, each name as tagged. A reader for that one layout
// (canonReader) is several times faster than the general decoder, which
// was a third of a `trace lot`'s CPU. Whatever departs from the layout in
// any way — another order or case of a name, a member repeated or unknown,
// a space, null, a number with a fraction, an escape it does not handle —
// makes the reader give up, and the record is decoded by the general
// decoder (unmarshalRecord), so a record edited outside celltrack still
// reads as encoding/json reads it. On the layout, the values are those
// encoding/json would give: strings as written (through the general decoder
// when escaped or not UTF-8), ids by uuid.UUID.UnmarshalText and times by
// time.Time.UnmarshalJSON, as encoding/json calls them.
// TestRecordJSONAsEncodingJSON holds both paths to encoding/json;
// TestCanonicalRecordsTakeTheFastPath checks the layout is the one written.

// canonReader reads JSON laid out as encoding/json writes it. ok turns
// false at the first byte it does not expect, and stays false.
type canonReader struct {
	b  []byte
	i  int
	ok bool
}

// has consumes s when the input continues with it.
func (c *canonReader) has(s string) bool {
	if c.ok && len(c.b)-c.i >= len(s) && string(c.b[c.i:c.i+len(s)]) == s {
		c.i += len(s)
		return true
	}
	return false
}

// lit consumes s, which must come next.
func (c *canonReader) lit(s string) {
	if !c.has(s) {
		c.ok = false
	}
}

// done reports whether the whole input was read as expected.
func (c *canonReader) done() bool { return c.ok && c.i == len(c.b) }

// quoted consumes a string and returns it with its quotes; plain is false
// when it holds an escape.
func (c *canonReader) quoted() (q []byte, plain bool) {
	if !c.ok || c.i >= len(c.b) || c.b[c.i] != '"' {
		c.ok = false
		return nil, false
	}
	for j := c.i + 1; j < len(c.b); j++ {
		switch ch := c.b[j]; {
		case ch == '"':
			q, c.i = c.b[c.i:j+1], j+1
			return q, true
		case ch == '\\':
			end, ok := skipString(c.b, c.i)
			if !ok {
				c.ok = false
				return nil, false
			}
			q, c.i = c.b[c.i:end], end
			return q, false
		case ch < 0x20:
			c.ok = false // the general decoder says what is wrong
			return nil, false
		}
	}
	c.ok = false
	return nil, false
}

func (c *canonReader) str() string {
	q, plain := c.quoted()
	if !c.ok {
		return ""
	}
	if plain && utf8.Valid(q) {
		return string(q[1 : len(q)-1])
	}
	var s string // escaped or not UTF-8: as the general decoder reads it
	if unmarshalRecord(q, &s) != nil {
		c.ok = false
	}
	return s
}

func (c *canonReader) id() (u uuid.UUID) {
	if q, plain := c.quoted(); !plain || u.UnmarshalText(q[1:len(q)-1]) != nil {
		c.ok = false
	}
	return u
}

func (c *canonReader) time() (t time.Time) {
	if q, plain := c.quoted(); !plain || t.UnmarshalJSON(q) != nil {
		c.ok = false
	}
	return t
}

// int consumes an integer of at most 18 digits, without a leading zero.
func (c *canonReader) int() int64 {
	if !c.ok {
		return 0
	}
	j, neg := c.i, false
	if j < len(c.b) && c.b[j] == '-' {
		j, neg = j+1, true
	}
	start, n := j, int64(0)
	for ; j < len(c.b) && c.b[j] >= '0' && c.b[j] <= '9'; j++ {
		n = n*10 + int64(c.b[j]-'0')
	}
	if digits := j - start; digits == 0 || digits > 18 || digits > 1 && c.b[start] == '0' {
		c.ok = false
		return 0
	}
	c.i = j
	if neg {
		return -n
	}
	return n
}

// base64 consumes a []byte as encoding/json writes it: a string in
// standard base64 with padding. Anything it would write otherwise (a line
// break, missing padding) is given up on.
func (c *canonReader) base64() []byte {
	q, plain := c.quoted()
	if !plain {
		c.ok = false
		return nil
	}
	q = q[1 : len(q)-1]
	b := make([]byte, base64.StdEncoding.DecodedLen(len(q)))
	n, err := base64.StdEncoding.Decode(b, q)
	if err != nil || base64.StdEncoding.EncodedLen(n) != len(q) {
		c.ok = false
		return nil
	}
	return b[:n]
}

func (c *canonReader) bool() bool {
	if c.has("true") {
		return true
	}
	c.lit("false")
	return false
}

// array consumes an array, calling elem for each element, and says whether
// it was null (a nil slice) rather than an array (an empty one for []).
func (c *canonReader) array(elem func()) (null bool) {
	if c.has("null") {
		return true
	}
	c.lit("[")
	if c.has("]") {
		return false
	}
	for c.ok {
		elem()
		if !c.has(",") {
			c.lit("]")
			break
		}
	}
	return false
}

// canonicalDecode decodes v into rec when rec is a record canonReader
// reads and is zero (the general decoder would merge into a value already
// there), and v is laid out as encoding/json writes it; false otherwise,
// with rec untouched.
func canonicalDecode(v []byte, rec any) bool {
	switch r := rec.(type) {
	case *eventRecord:
		return readZero(r, v, (*eventRecord).readCanonical)
	case *infusionRecord:
		return readZero(r, v, (*infusionRecord).readCanonical)
	case *facilityRecord:
		return readZero(r, v, (*facilityRecord).readCanonical)
	case *sessionRecord:
		return readZero(r, v, (*sessionRecord).readCanonical)
	case *userRecord:
		return readZero(r, v, (*userRecord).readCanonical)
	case *patientRecord:
		return readZero(r, v, (*patientRecord).readCanonical)
	}
	return false
}

// readZero reads v into *r by read when *r is zero, leaving *r untouched
// when read gives up.
func readZero[R any](r *R, v []byte, read func(*R, []byte) bool) bool {
	if !reflect.ValueOf(r).Elem().IsZero() {
		return false
	}
	var x R
	if !read(&x, v) {
		return false
	}
	*r = x
	return true
}

// The facility, the session and its user are read by every command a
// session runs — at its start, and again in a write's transaction — and the
// patient by every command about one, so reading them here spares a
// one-shot process the general decoder's work of learning their types
// (issue 10: a write decoded nothing else with it). A patient with
// corrections is left to the general decoder.

func (r *facilityRecord) readCanonical(b []byte) bool {
	c := canonReader{b: b, ok: true}
	c.lit(`{"v":`)
	r.V = int(c.int())
	c.lit(`,"id":`)
	r.ID = c.id()
	c.lit(`,"tz":`)
	r.TZ = c.str()
	c.lit("}")
	return c.done()
}

func (r *sessionRecord) readCanonical(b []byte) bool {
	c := canonReader{b: b, ok: true}
	c.lit(`{"v":`)
	r.V = int(c.int())
	c.lit(`,"user_id":`)
	r.UserID = c.id()
	c.lit(`,"user":`)
	r.User = c.str()
	c.lit(`,"created":`)
	r.Created = c.time()
	c.lit(`,"expires":`)
	r.Expires = c.time()
	c.lit(`,"last_activity":`)
	r.LastActivity = c.time()
	if c.has(`,"active_since":`) {
		r.ActiveSince = c.time()
	}
	if c.has(`,"revoked":`) {
		r.Revoked = c.bool()
	}
	c.lit(`,"touch_key":`)
	if !c.has("null") {
		r.TouchKey = c.base64()
	}
	c.lit("}")
	return c.done()
}

func (r *patientRecord) readCanonical(b []byte) bool {
	c := canonReader{b: b, ok: true}
	c.lit(`{"v":`)
	r.V = int(c.int())
	c.lit(`,"id":`)
	r.ID = c.id()
	c.lit(`,"mrn":`)
	r.MRN = c.str()
	c.lit(`,"name":`)
	r.Name = c.str()
	c.lit(`,"born":`)
	r.Born = c.time()
	c.lit(`,"sex":`)
	r.Sex = lot.Sex(c.str())
	c.lit(`,"created_at":`)
	r.CreatedAt = c.time()
	c.lit(`,"created_by":`)
	r.CreatedBy = c.str()
	if c.has(`,"former_mrns":`) {
		if !c.array(func() { r.FormerMRNs = append(r.FormerMRNs, c.str()) }) && r.FormerMRNs == nil {
			r.FormerMRNs = []string{}
		}
	}
	c.lit("}") // corrections: the general decoder
	return c.done()
}

func (r *userRecord) readCanonical(b []byte) bool {
	c := canonReader{b: b, ok: true}
	c.lit(`{"v":`)
	r.V = int(c.int())
	c.lit(`,"id":`)
	r.ID = c.id()
	c.lit(`,"name":`)
	r.Name = c.str()
	c.lit(`,"full_name":`)
	r.FullName = c.str()
	c.lit(`,"role":`)
	r.Role = audit.Role(c.str())
	if c.has(`,"disabled":`) {
		r.Disabled = c.bool()
	}
	c.lit(`,"hash":`)
	r.Hash = c.str()
	c.lit(`,"created_at":`)
	r.CreatedAt = c.time()
	c.lit(`,"created_by":`)
	r.CreatedBy = c.str()
	if c.has(`,"failures":`) {
		r.Failures = int(c.int())
	}
	if c.has(`,"locked_until":`) {
		r.LockedUntil = c.time()
	}
	if c.has(`,"last_login":`) {
		r.LastLogin = c.time()
	}
	if c.has(`,"password_changed":`) {
		r.PasswordChanged = c.time()
	}
	if c.has(`,"must_change":`) {
		r.MustChange = c.bool()
	}
	if c.has(`,"role_grant":`) && !c.has("null") {
		s := c.signature()
		r.RoleGrant = &s
	}
	c.lit("}")
	return c.done()
}

func (r *eventRecord) readCanonical(b []byte) bool {
	c := canonReader{b: b, ok: true}
	c.lit(`{"v":`)
	r.V = int(c.int())
	c.lit(`,"id":`)
	r.ID = c.id()
	c.lit(`,"container_id":`)
	r.ContainerID = c.id()
	c.lit(`,"lot_id":`)
	r.LotID = c.id()
	if c.has(`,"from":`) {
		r.From = lot.ContainerState(c.str())
	}
	c.lit(`,"to":`)
	r.To = lot.ContainerState(c.str())
	c.lit(`,"at":`)
	r.At = c.time()
	c.lit(`,"by":`)
	r.By = c.str()
	if c.has(`,"site":`) {
		r.Site = c.str()
	}
	if c.has(`,"location":`) {
		r.Location = c.str()
	}
	if c.has(`,"custodian":`) {
		r.Custodian = c.str()
	}
	if c.has(`,"patient_id":`) {
		r.PatientID = c.id()
	}
	if c.has(`,"reason":`) {
		r.Reason = c.str()
	}
	if c.has(`,"details":{`) {
		r.Details = map[string]string{}
		for !c.has("}") && c.ok {
			if len(r.Details) > 0 {
				c.lit(",")
			}
			k := c.str()
			c.lit(":")
			r.Details[k] = c.str() // a repeated key: the last wins, as in encoding/json
		}
	}
	c.lit("}")
	return c.done()
}

func (r *infusionRecord) readCanonical(b []byte) bool {
	c := canonReader{b: b, ok: true}
	c.lit(`{"v":`)
	r.V = int(c.int())
	c.lit(`,"id":`)
	r.ID = c.id()
	c.lit(`,"patient_id":`)
	r.PatientID = c.id()
	c.lit(`,"schedule_id":`)
	r.ScheduleID = c.id()
	c.lit(`,"protocol":`)
	r.Protocol = c.str()
	c.lit(`,"protocol_version":`)
	r.ProtocolVersion = int(c.int())
	c.lit(`,"course":`)
	r.Course = int(c.int())
	c.lit(`,"number":`)
	r.Number = int(c.int())
	c.lit(`,"start":`)
	r.Start = c.time()
	c.lit(`,"end":`)
	r.End = c.time()
	c.lit(`,"weight_id":`)
	r.WeightID = c.id()
	c.lit(`,"weight_grams":`)
	r.Weight = lot.Grams(c.int())
	c.lit(`,"required_cells":`)
	r.Required = lot.Cells(c.int())
	c.lit(`,"given_cells":`)
	r.Given = lot.Cells(c.int())
	c.lit(`,"volume_tenths_ml":`)
	r.Volume = lot.Tenths(c.int())
	c.lit(`,"deviation_tenths_pct":`)
	r.Deviation = lot.Tenths(c.int())
	c.lit(`,"endotoxin_milli_eu_per_kg_h":`)
	r.EndotoxinMilliEUPerKgH = c.int()
	c.lit(`,"containers":`)
	if !c.array(func() {
		var ic infusedContainerRecord
		c.lit(`{"container_id":`)
		ic.ContainerID = c.id()
		c.lit(`,"lot_id":`)
		ic.LotID = c.id()
		c.lit(`,"code":`)
		ic.Code = c.str()
		c.lit(`,"volume_tenths_ml":`)
		ic.Volume = lot.Tenths(c.int())
		c.lit(`,"cells":`)
		ic.Cells = lot.Cells(c.int())
		c.lit("}")
		r.Containers = append(r.Containers, ic)
	}) && r.Containers == nil {
		r.Containers = []infusedContainerRecord{}
	}
	c.lit(`,"checks":`)
	if !c.array(func() {
		var res dose.Result
		c.lit(`{"check":`)
		res.Name = c.str()
		c.lit(`,"ok":`)
		res.OK = c.bool()
		c.lit(`,"detail":`)
		res.Detail = c.str()
		if c.has(`,"fix":`) {
			res.Fix = c.str()
		}
		if c.has(`,"command":`) {
			res.Command = c.str()
		}
		c.lit("}")
		r.Checks = append(r.Checks, res)
	}) && r.Checks == nil {
		r.Checks = []dose.Result{}
	}
	c.lit(`,"nurse":`)
	r.Nurse = c.signature()
	c.lit(`,"witness":`)
	r.Witness = c.signature()
	c.lit("}")
	return c.done()
}

// signature reads an audit.Signature, which has no tags: its members are
// named as its fields, and Signed is an array of 32 numbers.
func (c *canonReader) signature() (s audit.Signature) {
	c.lit(`{"UserID":`)
	s.UserID = c.id()
	c.lit(`,"User":`)
	s.User = c.str()
	c.lit(`,"FullName":`)
	s.FullName = c.str()
	c.lit(`,"Role":`)
	s.Role = audit.Role(c.str())
	c.lit(`,"Time":`)
	s.Time = c.time()
	c.lit(`,"Meaning":`)
	s.Meaning = c.str()
	c.lit(`,"Signed":[`)
	for i := range s.Signed {
		if i > 0 {
			c.lit(",")
		}
		n := c.int()
		if n < 0 || n > 255 {
			c.ok = false
		}
		s.Signed[i] = byte(n)
	}
	c.lit("]}")
	return s
}
