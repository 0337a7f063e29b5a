package store

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"

	"github.com/celltrack/celltrack/store/kv"
)

// recordTypes are the Go types each kind of record is stored as.
var recordTypes = map[string]func() any{
	kindUser: func() any { return new(userRecord) }, kindDonor: func() any { return new(donorRecord) },
	kindPatient: func() any { return new(patientRecord) }, kindWeight: func() any { return new(weightRecord) },
	kindLot: func() any { return new(lotRecord) }, kindContainer: func() any { return new(containerRecord) },
	kindEvent: func() any { return new(eventRecord) }, kindSite: func() any { return new(siteRecord) },
	kindFacility: func() any { return new(facilityRecord) }, kindLabel: func() any { return new(labelRecord) },
	kindSpec: func() any { return new(specRecord) }, kindResult: func() any { return new(resultRecord) },
	kindScreening: func() any { return new(screeningRecord) }, kindDisposition: func() any { return new(dispositionRecord) },
	kindProtocol: func() any { return new(protocolRecord) }, kindSchedule: func() any { return new(scheduleRecord) },
	kindInfusion: func() any { return new(infusionRecord) }, kindReaction: func() any { return new(reactionRecord) },
	kindWeightConfirm: func() any { return new(weightConfirmRecord) }, kindCheckpointKey: func() any { return new(checkpointKeyRecord) },
	kindSettings: func() any { return new(settingsRecord) },
}

// TestRecordJSONAsEncodingJSON decodes every record of a database holding
// every kind (everyIndexDB) both with encoding/json, which wrote them, and
// with unmarshalRecord, which reads them, and wants the same value from
// each — as stored and as someone editing the file might leave it: member
// names in capitals, members repeated with another record's values, a byte
// that is not UTF-8. It decodes each into its record type and into the
// untagged struct describe names records with.
func TestRecordJSONAsEncodingJSON(t *testing.T) {
	db := everyIndexDB(t)
	set := audit.DefaultSettings
	set.IdleExpiry = 5 * time.Minute
	if err := db.SetSettings("alice", set, "shorter idle expiry on the ward"); err != nil {
		t.Fatal(err)
	}
	_, vkey := newKey(t, "celltrack-G1234")
	if _, err := db.RegisterCheckpointKey("alice", vkey); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Login("nina", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	kinds, types := maps.Clone(recordBuckets), maps.Clone(recordTypes)
	kinds["session"], types["session"] = bSessions, func() any { return new(sessionRecord) }
	type named struct{ Number, Code, MRN, Name, DIN string }
	names := regexp.MustCompile(`"([a-z_]+)":`)
	firstString := regexp.MustCompile(`":"`)
	for kind, bucket := range kinds {
		mk, ok := types[kind]
		if !ok {
			t.Errorf("kind %s has no entry in recordTypes", kind)
			continue
		}
		var vals [][]byte
		db.view(func(tx kv.Tx) error {
			return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
				vals = append(vals, bytes.Clone(v))
				return nil
			})
		})
		if len(vals) == 0 {
			t.Errorf("no %s record in the database: add one to the test", kind)
		}
		for i, v := range vals {
			other := vals[(i+1)%len(vals)]
			for _, in := range [][]byte{
				v,
				names.ReplaceAllFunc(v, bytes.ToUpper),
				append(append(bytes.Clone(v[:len(v)-1]), ','), other[1:]...),
				firstString.ReplaceAll(v, []byte("\":\"\xff")),
			} {
				for _, mk := range []func() any{mk, func() any { return new(named) }} {
					want, got := mk(), mk()
					werr, gerr := json.Unmarshal(in, want), unmarshalRecord(in, got)
					if (werr == nil) != (gerr == nil) {
						t.Errorf("%s %q: encoding/json: %v; unmarshalRecord: %v", kind, in, werr, gerr)
					} else if werr == nil && !reflect.DeepEqual(want, got) {
						t.Errorf("%s %q decodes differently:\nencoding/json   %+v\nunmarshalRecord %+v", kind, in, want, got)
					}
				}
			}
		}
	}
}
