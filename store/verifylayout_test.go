package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/dose"
	"github.com/google/uuid"
)

// storedSchedules are schedules as celltrack stores them (json.Marshal of
// the record, as tx.go writes it): without date changes, at a site, with
// a signed change, and (record v2) listing the infusions given on it.
func storedSchedules(t testing.TB) (plain, atSite, changed, given []byte) {
	s := dose.Schedule{ID: uuid.New(), PatientID: uuid.New(), ProtocolID: uuid.New(), Protocol: "sle-uc-d0d7", ProtocolVersion: 1, Course: 2,
		Start: time.Date(2026, 5, 27, 0, 0, 0, 0, time.UTC), CreatedAt: time.Date(2026, 5, 27, 8, 31, 58, 123, time.UTC), CreatedBy: "pat"}
	marshal := func(s dose.Schedule) []byte {
		b, err := json.Marshal(toScheduleRecord(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain = marshal(s)
	s.SiteID, s.Site = uuid.New(), "CLINIC"
	atSite = marshal(s)
	s.Changes = []dose.DateChange{{Infusion: 2, Date: s.Start.AddDate(0, 0, 8), Reason: "fever", Signature: plainSignature()}}
	changed = marshal(s)
	s.Changes, s.GivenListed = nil, true
	s.Given = []dose.GivenInfusion{{Number: 1, InfusionID: uuid.New()}, {Number: 2, InfusionID: uuid.New()}}
	given = marshal(s)
	return plain, atSite, changed, given
}

// TestScheduleLayout: verify reads a schedule as celltrack stores it
// without encoding/json, and leaves one with a date change — a signature
// to check — and every other spelling to the decoder.
func TestScheduleLayout(t *testing.T) {
	plain, atSite, changed, given := storedSchedules(t)
	var f jsonFields
	for name, b := range map[string][]byte{"plain": plain, "at a site": atSite, "given": given,
		"given empty": []byte(withGiven(string(given), "[]"))} {
		if f.parse(b); !scheduleLayout().plain(&f) {
			t.Errorf("%s: %s is decoded to find it has no date change", name, b)
		}
	}
	for name, b := range scheduleVariants(t, plain, changed, given) {
		if f.parse([]byte(b)); scheduleLayout().plain(&f) {
			t.Errorf("%s: %s is not decoded", name, b)
		}
	}
}

// scheduleVariants are spellings of a stored schedule that recordLayout
// must leave to the decoder.
func scheduleVariants(t testing.TB, plain, changed, given []byte) map[string]string {
	p, g := string(plain), string(given)
	variants := map[string]string{
		"a date change":        string(changed),
		"no date changes":      strings.Replace(p, `,"created_at":`, `,"changes":[],"created_at":`, 1),
		"changes null":         strings.Replace(p, `,"created_at":`, `,"changes":null,"created_at":`, 1),
		"changes capitalised":  strings.Replace(string(changed), `"changes":`, `"Changes":`, 1),
		"course a string":      strings.Replace(p, `"course":2`, `"course":"2"`, 1),
		"course a fraction":    strings.Replace(p, `"course":2`, `"course":2.0`, 1),
		"course with exponent": strings.Replace(p, `"course":2`, `"course":2e0`, 1),
		"course leading zero":  strings.Replace(p, `"course":2`, `"course":02`, 1),
		"course too large":     strings.Replace(p, `"course":2`, `"course":99999999999999999999`, 1),
		"course null":          strings.Replace(p, `"course":2`, `"course":null`, 1),
		"start not a time":     strings.Replace(p, `"start":"2026-05-27T00:00:00Z"`, `"start":"tomorrow"`, 1),
		"id in braces":         strings.Replace(p, `"id":"`, `"id":"{`, 1),
		"protocol a number":    strings.Replace(p, `"protocol":"sle-uc-d0d7"`, `"protocol":7`, 1),
		"protocol escaped":     strings.Replace(p, `"protocol":"sle-uc-d0d7"`, `"protocol":"sle\u002duc-d0d7"`, 1),
		"a member more":        strings.Replace(p, `"course":2`, `"course":2,"courses":3`, 1),
		"course twice":         strings.Replace(p, `"course":2`, `"course":2,"course":3`, 1),
		"out of order":         strings.Replace(strings.Replace(p, `"course":2,`, ``, 1), `"created_by"`, `"course":2,"created_by"`, 1),
		"escaped name":         strings.Replace(p, `"course":`, `"cours\u0065":`, 1),
		"cut short":            p[:len(p)-2],
		"an array":             "[" + p + "]",
		// The list of infusions given, read by plainArray.
		"given null":             withGiven(g, "null"),
		"given an object":        withGiven(g, `{"infusion":1}`),
		"given a string":         withGiven(g, `"[]"`),
		"given cut short":        withGiven(g, `[`),
		"given not closed":       withGiven(g, `[{"infusion":1}`),
		"given an empty element": withGiven(g, `[{"infusion":1},]`),
		"given a leading comma":  withGiven(g, `[,{"infusion":1}]`),
		"given an element null":  withGiven(g, `[null]`),
		"given two arrays":       withGiven(g, `[{"infusion":1}][]`),
		"given with a space":     strings.Replace(g, `"given":[{`, `"given":[ {`, 1),
		"given trailing comma":   strings.Replace(g, `}],"created_at"`, `},],"created_at"`, 1),
		"given a number in it":   strings.Replace(g, `"given":[{`, `"given":[1,{`, 1),
		"given an array in it":   strings.Replace(g, `"given":[{`, `"given":[[],{`, 1),
		"given unclosed":         strings.Replace(g, `}],"created_at"`, `},"created_at"`, 1),
		"infusion a string":      strings.Replace(g, `"infusion":1,`, `"infusion":"1",`, 1),
		"infusion a fraction":    strings.Replace(g, `"infusion":2,`, `"infusion":2.5,`, 1),
		"infusion null":          strings.Replace(g, `"infusion":1,`, `"infusion":null,`, 1),
		"infusion_id not an id":  strings.Replace(g, `"infusion_id":"`, `"infusion_id":"x`, 1),
		"infusion_id a number":   withGiven(g, `[{"infusion":1,"infusion_id":7}]`),
		"infusion twice":         strings.Replace(g, `"infusion":1,`, `"infusion":1,"infusion":1,`, 1),
		"given a member more":    strings.Replace(g, `"infusion":1,`, `"infusion":1,"bag":1,`, 1),
		"given out of order":     withGiven(g, `[{"infusion_id":"7bf4af75-1a78-4bee-9bf9-3553bff12eb9","infusion":1}]`),
		"given capitalised":      strings.Replace(g, `"infusion":1,`, `"Infusion":1,`, 1),
		"given escaped name":     strings.Replace(g, `"infusion":1,`, `"infusio\u006e":1,`, 1),
		"given before changes":   strings.Replace(g, `,"created_at":`, `,"changes":[],"created_at":`, 1),
	}
	for name, b := range variants {
		if (b == p || b == g) && name != "a date change" {
			t.Fatalf("%s: the test's edit did not apply", name)
		}
	}
	return variants
}

// withGiven is the stored schedule g with its list of infusions given
// replaced by the JSON value v.
func withGiven(g, v string) string {
	i := strings.Index(g, `"given":`) + len(`"given":`)
	j := strings.Index(g, `,"created_at":`)
	return g[:i] + v + g[j:]
}

// TestRecordLayoutAgreesWithTheDecoder: whenever recordLayout passes a
// schedule without decoding it, encoding/json decodes it without error and
// finds no date change — so the signature check skips no signature and
// hides no record the decoder would refuse.
func TestRecordLayoutAgreesWithTheDecoder(t *testing.T) {
	plain, atSite, changed, given := storedSchedules(t)
	inputs := []string{string(plain), string(atSite), string(changed), string(given)}
	for _, b := range scheduleVariants(t, plain, changed, given) {
		inputs = append(inputs, b)
	}
	var f jsonFields
	for _, b := range inputs {
		layoutAgrees(t, &f, []byte(b))
	}
}

func layoutAgrees(t *testing.T, f *jsonFields, b []byte) {
	if f.parse(b); !scheduleLayout().plain(f) {
		return
	}
	var r scheduleRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Errorf("recordLayout passes %s, which the decoder refuses: %v", b, err)
	} else if len(r.Changes) != 0 {
		t.Errorf("recordLayout passes %s, in which the decoder finds %d date changes", b, len(r.Changes))
	}
}

// FuzzRecordLayout looks for a schedule recordLayout passes that the
// decoder refuses or finds a date change in (go test -fuzz FuzzRecordLayout
// ./store).
func FuzzRecordLayout(f *testing.F) {
	plain, atSite, changed, given := storedSchedules(f)
	f.Add(plain)
	f.Add(atSite)
	f.Add(changed)
	f.Add(given)
	var scratch jsonFields
	f.Fuzz(func(t *testing.T, b []byte) { layoutAgrees(t, &scratch, b) })
}

// TestRecordLayoutKnowsEveryField: a field of a type recordLayout does not
// read is left to the decoder, so a new field of another type in
// scheduleRecord would silently slow verify down: this names it.
func TestRecordLayoutKnowsEveryField(t *testing.T) {
	for _, lf := range scheduleLayout().fields {
		if lf.valid == nil && !lf.decode {
			t.Errorf("scheduleRecord's %s is of a type recordLayout does not read", lf.name)
		}
	}
}

// TestParseUUID: parseUUID reads and refuses exactly what uuid.ParseBytes
// does.
func TestParseUUID(t *testing.T) {
	id := uuid.New()
	s := id.String()
	inputs := []string{s, strings.ToUpper(s), "{" + s + "}", "urn:uuid:" + s, strings.ReplaceAll(s, "-", ""),
		"00000000-0000-0000-0000-000000000000", "", "x", s[:35], s + "0", strings.Replace(s, "-", "_", 1),
		s[:9] + "-" + s[10:], s[:35] + "g", "g" + s[1:], s[:14] + "G" + s[15:], s[:8] + "0" + s[9:]}
	for c := range 256 {
		inputs = append(inputs, s[:20]+string(rune(c))+s[21:], s[:7]+string([]byte{byte(c)})+s[8:])
	}
	for _, in := range inputs {
		want, werr := uuid.ParseBytes([]byte(in))
		got, err := parseUUID([]byte(in))
		if got != want || (err == nil) != (werr == nil) {
			t.Errorf("parseUUID(%q) = %s, %v; uuid.ParseBytes: %s, %v", in, got, err, want, werr)
		}
	}
}
