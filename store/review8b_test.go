package store

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// TestReview8bRecordJSONRepeatedNull: recordjson.go says unmarshalRecord
// reads "exactly what encoding/json reads, a record edited outside
// celltrack included … a repeated member read again over the first". A
// member repeated as null is read otherwise: encoding/json keeps the first
// value of a string, number, bool, time or struct member (null is a no-op
// there), the v2 decoder without MergeWithLegacySemantics zeros it. So a
// lot's status, a reaction's grade, a schedule's start read by the bedside
// are not what encoding/json (and anything still using it) reads from the
// same bytes.
func TestReview8bRecordJSONRepeatedNull(t *testing.T) {
	db := everyIndexDB(t)
	for kind, bucket := range recordBuckets {
		mk, ok := recordTypes[kind]
		if !ok {
			continue
		}
		var v []byte
		db.view(func(tx kv.Tx) error {
			return tx.Bucket(bucket).ForEach(func(_, val []byte) error {
				if v == nil {
					v = bytes.Clone(val)
				}
				return nil
			})
		})
		if v == nil {
			continue
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(v, &members); err != nil {
			t.Fatal(err)
		}
		var differ []string
		for _, name := range slices.Sorted(maps.Keys(members)) {
			in := append(bytes.Clone(v[:len(v)-1]), []byte(`,"`+name+`":null}`)...)
			want, got := mk(), mk()
			werr, gerr := json.Unmarshal(in, want), unmarshalRecord(in, got)
			if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(want, got) {
				differ = append(differ, name)
			}
		}
		if len(differ) > 0 {
			t.Errorf("%s: a member repeated as null reads differently for encoding/json and unmarshalRecord: %v", kind, differ)
		}
	}
}

// TestReview8bRecordJSONLooseTime: encoding/json reads a time through
// time.Time.UnmarshalJSON, which takes an hour of one digit and a comma
// before the fraction; unmarshalRecord (no ParseTimeWithLooseRFC3339)
// refuses both. A record so edited decodes for encoding/json and is
// refused by every reader in store.
func TestReview8bRecordJSONLooseTime(t *testing.T) {
	for _, in := range []string{
		`{"v":2,"at":"2026-12-04T9:00:00Z","grade":2}`,
		`{"v":2,"at":"2026-12-04T09:00:00,5Z","grade":2}`,
	} {
		var want, got reactionRecord
		werr, gerr := json.Unmarshal([]byte(in), &want), unmarshalRecord([]byte(in), &got)
		if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(want, got) {
			t.Errorf("%s: encoding/json %+v, %v; unmarshalRecord %+v, %v", in, want, werr, got, gerr)
		}
	}
}

// TestReview8bRecordJSONRepeatedSlice: a slice of records repeated merges
// into the first slice's elements for encoding/json (v1 keeps the backing
// array and decodes each element over the old one); unmarshalRecord
// replaces them. A schedule's given list so edited reads two ways.
func TestReview8bRecordJSONRepeatedSlice(t *testing.T) {
	_, _, _, given := storedSchedules(t)
	in := append(bytes.Clone(given[:len(given)-1]), []byte(`,"given":[{}]}`)...)
	var want, got scheduleRecord
	werr, gerr := json.Unmarshal(in, &want), unmarshalRecord(in, &got)
	if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(want, got) {
		t.Errorf("%s:\nencoding/json   %+v, %v\nunmarshalRecord %+v, %v", in, want.Given, werr, got.Given, gerr)
	}
}

// TestReview8bScheduleLayoutAgreesWithRecordReader: audit verify's
// signature check skips a schedule recordLayout calls plain — "it
// decodes" — judged by time.Time.UnmarshalJSON (validTime), i.e. by
// encoding/json. The store now reads schedules with unmarshalRecord, which
// refuses a time encoding/json reads. Such a schedule passes verify's
// check ("cannot be decoded" is never said) while every reader of it fails.
// TestRecordLayoutAgreesWithTheDecoder still holds the layout to
// encoding/json, not to the decoder the store uses.
func TestReview8bScheduleLayoutAgreesWithRecordReader(t *testing.T) {
	plain, _, _, _ := storedSchedules(t)
	in := bytes.Replace(plain, []byte(`"start":"2026-05-27T00:`), []byte(`"start":"2026-05-27T0:`), 1)
	if bytes.Equal(in, plain) {
		t.Fatalf("no start time to edit in %s", plain)
	}
	var f jsonFields
	if f.parse(in); !scheduleLayout().plain(&f) {
		return
	}
	var r scheduleRecord
	if err := unmarshalRecord(in, &r); err != nil {
		t.Errorf("recordLayout passes %s (verify skips it as decodable), which unmarshalRecord refuses: %v", in, err)
	}
}

// TestReview8bPGQueriedColumnEditUnseen (PostgreSQL): since schema 2 the
// columns people query (lots.status, …) are plain columns celltrack writes
// with each row, no longer generated from the record. A DBA's
// `UPDATE lots SET status = 'released'` on a rejected lot leaves the record
// (which the trail hashes) as it was, so audit verify passes, while every
// SQL reader the README invites (`SELECT … FROM lots WHERE status =
// 'released'`) sees a released lot. Verify should compare the written
// columns with the record (or the columns be refused an UPDATE).
func TestReview8bPGQueriedColumnEditUnseen(t *testing.T) {
	t.Setenv(envEngine, "postgres")
	db, _ := bedside(t, "0.5")
	changeLot(t, db, "LOT-1", func(l *lot.Lot) { l.Status = lot.Rejected })
	if err := pgtest.Exec(db.Path(), "UPDATE lots SET status = 'released' WHERE number = 'LOT-1'"); err != nil {
		t.Fatal(err)
	}
	if p := problemsOf(t, db); p == "" {
		t.Errorf("audit verify passes with lots.status of the rejected LOT-1 set to released by SQL")
	}
}
