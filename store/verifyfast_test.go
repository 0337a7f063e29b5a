package store

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// TestVerifyFastPathsStillSeeBadValues edits stored records with raw bbolt
// where verify now reads them without encoding/json — an infusion's
// signatures (signedOf), a schedule without date changes and the infusions
// given on it (recordLayout, plainArray),
// an infusion's index entries (derived from the signature check's parse) —
// and shows each edit still named, as the decoder or the index check names
// it, besides the record no longer matching its audit entry.
func TestVerifyFastPathsStillSeeBadValues(t *testing.T) {
	db := everyIndexDB(t)
	firstID := func(kind string) (id uuid.UUID) {
		db.view(func(tx kv.Tx) error {
			k, _ := tx.Bucket(recordBuckets[kind]).Cursor().First()
			id = uuid.UUID(k)
			return nil
		})
		return id
	}
	infusion, schedule := firstID(kindInfusion), firstID(kindSchedule)
	otherPatient := uuid.New()
	for _, tc := range []struct {
		name string
		kind string
		id   uuid.UUID
		edit *regexp.Regexp // its first match is replaced by to
		to   string
		want []string
	}{
		{"infusion signature time", kindInfusion, infusion, regexp.MustCompile(`"Time":"[^"]*"`), `"Time":"yesterday"`,
			[]string{"infusion " + infusion.String() + " cannot be decoded"}},
		{"infusion signature user id", kindInfusion, infusion, regexp.MustCompile(`"UserID":"[^"]*"`), `"UserID":"nurse"`,
			[]string{"infusion " + infusion.String() + " cannot be decoded"}},
		{"infusion signature role a number", kindInfusion, infusion, regexp.MustCompile(`"Role":"[^"]*"`), `"Role":7`,
			[]string{"infusion " + infusion.String() + " cannot be decoded"}},
		{"infusion patient", kindInfusion, infusion, regexp.MustCompile(`"patient_id":"[^"]*"`), `"patient_id":"` + otherPatient.String() + `"`,
			[]string{"is missing from index idx_infusion_patient (key " + keyText(append(otherPatient[:], infusion[:]...)), "index idx_infusion_patient: key "}},
		{"schedule course a string", kindSchedule, schedule, regexp.MustCompile(`"course":[0-9]+`), `"course":"1"`,
			[]string{"schedule " + schedule.String() + " cannot be decoded"}},
		{"schedule start not a time", kindSchedule, schedule, regexp.MustCompile(`"start":"[^"]*"`), `"start":"soon"`,
			[]string{"schedule " + schedule.String() + " cannot be decoded"}},
		{"schedule given infusion not an id", kindSchedule, schedule, regexp.MustCompile(`"infusion_id":"[^"]*"`), `"infusion_id":"bag 2"`,
			[]string{"schedule " + schedule.String() + " cannot be decoded"}},
		{"schedule given infusion a string", kindSchedule, schedule, regexp.MustCompile(`"infusion":[0-9]+`), `"infusion":"1"`,
			[]string{"schedule " + schedule.String() + " cannot be decoded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before []byte
			rewrite := func(val func([]byte) []byte) {
				t.Helper()
				if err := db.engine.Update(func(tx kv.Tx) error {
					b := tx.Bucket(recordBuckets[tc.kind])
					return b.Put(tc.id[:], val(bytes.Clone(b.Get(tc.id[:]))))
				}); err != nil {
					t.Fatal(err)
				}
			}
			rewrite(func(v []byte) []byte {
				before = v
				loc := tc.edit.FindIndex(v)
				if loc == nil {
					t.Fatalf("%s has no %s: %s", tc.kind, tc.edit, v)
				}
				return append(append(v[:loc[0]:loc[0]], tc.to...), v[loc[1]:]...)
			})
			defer rewrite(func([]byte) []byte { return before })
			v, err := db.Verify()
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(v.Problems, "\n")
			for _, w := range append(tc.want, "differs from the value its last audit entry") {
				if !strings.Contains(all, w) {
					t.Errorf("verify did not say %q; it said:\n%s", w, all)
				}
			}
		})
	}
	verifyOK(t, db)
}
