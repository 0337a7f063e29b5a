package store

import (
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// recordJSON are the options a stored record decodes with. Records are
// written by encoding/json (their bytes are what the audit trail hashes, so
// the writer stays as it is), and read by the json v2 decoder, which takes
// about half of encoding/json's time and a third of its allocations on
// them (BENCHMARKS.md, run AB). The options make it read exactly what
// encoding/json reads, a record edited outside celltrack included, so that
// a refusal still names the record it is about: byte arrays as arrays of
// numbers (a signature's digest), durations as nanoseconds (the facility's
// expiry settings), member names matched without regard to case, a
// repeated member read again over the first, a byte that is not UTF-8
// read as U+FFFD. TestRecordJSONAsEncodingJSON holds the two decoders to
// the same values over every kind of record, as written and as tampered.
var recordJSON = jsonv2.JoinOptions(
	jsonv1.FormatByteArrayAsArray(true),
	jsonv1.FormatDurationAsNano(true),
	jsonv2.MatchCaseInsensitiveNames(true),
	jsonv1.MatchCaseSensitiveDelimiter(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// unmarshalRecord decodes a stored record (or any JSON encoding/json wrote
// into the database) into rec.
func unmarshalRecord(v []byte, rec any) error {
	return jsonv2.Unmarshal(v, rec, recordJSON)
}
