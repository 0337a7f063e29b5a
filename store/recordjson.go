package store

import (
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// recordJSON are the options a stored record decodes with. Records are
// written by encoding/json (their bytes are what the audit trail hashes, so
// the writer stays as it is), and read by the json v2 decoder with every
// v1 semantic on (jsonv1.DefaultOptionsV1: the package's own emulation of
// encoding/json), which takes about half of encoding/json's time and a
// third of its allocations on them (BENCHMARKS.md, run AB). A record
// edited outside celltrack must read as encoding/json reads it, so that a
// refusal still names the record it is about and verify and the readers
// agree on what decodes: names matched without regard to case, a repeated
// member merged over the first (null included), loose RFC 3339 times,
// byte arrays as numbers of any length, durations as nanoseconds, bad
// UTF-8 as U+FFFD. TestRecordJSONAsEncodingJSON holds the two decoders to
// the same values over every kind of record, as written and as tampered.
var recordJSON = jsonv1.DefaultOptionsV1()

// unmarshalRecord decodes a stored record (or any JSON encoding/json wrote
// into the database) into rec. Custody events and infusions laid out as
// encoding/json writes them are read by canonicalDecode (recordcanon.go).
func unmarshalRecord(v []byte, rec any) error {
	if canonicalDecode(v, rec) {
		return nil
	}
	return jsonv2.Unmarshal(v, rec, recordJSON)
}
