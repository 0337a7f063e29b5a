package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// canonTypes are the records canonReader reads, by kind ("session": a
// login session, which is not in recordBuckets).
var canonTypes = map[string]func() any{
	kindEvent: recordTypes[kindEvent], kindInfusion: recordTypes[kindInfusion], kindFacility: recordTypes[kindFacility],
	kindUser: recordTypes[kindUser], kindPatient: recordTypes[kindPatient], "session": func() any { return new(sessionRecord) },
}

// canonRecords are the records of canonTypes of a database holding every
// kind of record (and a session), as stored, and one of each written here
// with what the stored ones lack: every optional member, strings that
// encoding/json escapes, characters beyond ASCII, a time with an offset.
// (A repeated detail key cannot be written; TestCanonicalRecordsOffTheLayout
// adds one.)
func canonRecords(t *testing.T) map[string][][]byte {
	t.Helper()
	db := everyIndexDB(t)
	if _, _, err := db.Login("nina", testPassword, nil); err != nil {
		t.Fatal(err)
	}
	recs := map[string][][]byte{}
	db.view(func(tx kv.Tx) error {
		for kind := range canonTypes {
			bucket := recordBuckets[kind]
			if kind == "session" {
				bucket = bSessions
			}
			tx.Bucket(bucket).ForEach(func(_, v []byte) error {
				recs[kind] = append(recs[kind], bytes.Clone(v))
				return nil
			})
		}
		return nil
	})
	at := time.Date(2026, 3, 1, 9, 30, 0, 123, time.FixedZone("", 8*3600))
	ev := eventRecord{V: 1, ID: uuid.New(), ContainerID: uuid.New(), LotID: uuid.New(), From: lot.Stored, To: lot.Shipped, At: at,
		By: "nina", Site: "Ward <3> & \"east\"", Location: "Frëezer 2\tshelf \u2028 4", Custodian: "Zoë", PatientID: uuid.New(),
		Reason: "back\\slash", Details: map[string]string{"b": "2", "a": "<1>", "": ""}}
	sig := audit.Signature{UserID: uuid.New(), User: "nina", FullName: "Nina Ä", Role: audit.Nurse, Time: at, Meaning: "administered", Signed: [32]byte{0, 255, 7}}
	in := infusionRecord{V: 1, ID: uuid.New(), PatientID: uuid.New(), ScheduleID: uuid.New(), Protocol: "sle-2", ProtocolVersion: 3,
		Course: 2, Number: 1, Start: at, End: at.Add(time.Hour), WeightID: uuid.New(), Weight: 61_500, Required: 61_500_000,
		Given: -5, Volume: 0, Deviation: -12, EndotoxinMilliEUPerKgH: 1 << 40,
		Containers: []infusedContainerRecord{{uuid.New(), uuid.New(), "G12342600000101", 326, 61_940_000}, {uuid.New(), uuid.New(), "G12342600000102", 1, 2}},
		Checks:     []dose.Result{{Name: "weight", OK: false, Detail: "62.0 kg > 5 days", Fix: "re-weigh", Command: "patient weigh"}, {Name: "dose", OK: true, Detail: "ok"}},
		Nurse:      sig,
	}
	written := map[string][]any{
		kindEvent: {ev}, kindInfusion: {in},
		kindFacility: {facilityRecord{V: 1, ID: uuid.New(), TZ: "Asia/Shanghai"}, facilityRecord{TZ: "<zone> \"x\""}},
		kindUser: {userRecord{V: 1, ID: uuid.New(), Name: "zoë", FullName: "Zoë <Ä> \"Q\"", Role: audit.QA, Disabled: true, Hash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
			CreatedAt: at, CreatedBy: "alice", Failures: 3, LockedUntil: at.Add(time.Minute), LastLogin: at, PasswordChanged: at.Add(-time.Hour),
			MustChange: true, RoleGrant: &sig}, userRecord{Failures: -1}},
		kindPatient: {patientRecord{V: 1, ID: uuid.New(), MRN: "MRN-<1>", Name: "Zoë \"Q\"", Born: at, Sex: "F", CreatedAt: at, CreatedBy: "nina",
			FormerMRNs: []string{"MRN-0", "MRN-\u00e4"}}, patientRecord{FormerMRNs: []string{}}},
		"session": {sessionRecord{V: 1, UserID: uuid.New(), User: "zoë", Created: at, Expires: at.Add(time.Hour), LastActivity: at, Revoked: true,
			TouchKey: []byte{0, 1, 2, 250, 251, 252, 253}}, sessionRecord{TouchKey: []byte{}},
			sessionRecord{V: 1, User: "liu", Created: at, Expires: at.Add(time.Hour), LastActivity: at, ActiveSince: at.Add(-5 * time.Minute), TouchKey: []byte{1}}, sessionRecord{TouchKey: []byte{9}}},
	}
	for kind, rs := range written {
		for _, r := range rs {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			recs[kind] = append(recs[kind], b)
		}
	}
	for kind := range canonTypes {
		if len(recs[kind]) <= len(written[kind]) {
			t.Fatalf("no stored %s record: the test database lacks one", kind)
		}
	}
	return recs
}

// TestCanonicalRecordsTakeTheFastPath: every custody event and infusion as
// encoding/json writes it is read by canonReader, to the value
// encoding/json gives — the fast path is taken, and right.
func TestCanonicalRecordsTakeTheFastPath(t *testing.T) {
	for kind, vals := range canonRecords(t) {
		for _, v := range vals {
			want, got := canonTypes[kind](), canonTypes[kind]()
			if err := json.Unmarshal(v, want); err != nil {
				t.Fatal(err)
			}
			corrected := kind == kindPatient && len(want.(*patientRecord).Corrections) > 0
			if canonicalDecode(v, got) == corrected {
				t.Errorf("%s %s: read by canonReader %v, want %v (only a patient with corrections is not)", kind, v, !corrected, corrected)
			} else if !corrected && !reflect.DeepEqual(want, got) {
				t.Errorf("%s %s:\nencoding/json %+v\ncanonReader   %+v", kind, v, want, got)
			}
			// A record already holding a value is merged into by the
			// general decoder: the fast path leaves it alone.
			if kind == kindEvent {
				r := eventRecord{By: "someone"}
				if canonicalDecode(v, &r) {
					t.Errorf("%s: canonReader decoded into a record that held a value", kind)
				}
			}
		}
	}
}

// TestCanonicalRecordsOffTheLayout: the same records changed as someone
// editing the file might change them, or as a broken write might leave
// them, read by unmarshalRecord as encoding/json reads them — the same
// value, or an error both ways — whether canonReader reads them or gives
// up.
func TestCanonicalRecordsOffTheLayout(t *testing.T) {
	edits := []func([]byte) []byte{
		func(b []byte) []byte { return bytes.Replace(b, []byte(`":"`), []byte(`": "`), 1) },
		func(b []byte) []byte { return append(bytes.Clone(b), ' ') },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"v":1`), []byte(`"v":1.0`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"v":1`), []byte(`"v":01`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"v":1`), []byte(`"v":-0`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"v":1`), []byte(`"v":1234567890123456789`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"v":1`), []byte(`"v":null`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"id"`), []byte(`"ID"`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"by":"`), []byte(`"by":"\u0041`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"by":"`), []byte(`"by":"\u00`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"by":"`), []byte("\"by\":\"\xff"), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"by":"`), []byte("\"by\":\"\x01"), 1) },
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"protocol":"`), []byte("\"protocol\":\"\xe2\x82"), 1)
		},
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"id":"`), []byte(`"id":"urn:uuid:`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"id":"`), []byte(`"id":"\u0030`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`Z"`), []byte(`+00:00"`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`Z"`), []byte(`z"`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`T`), []byte(` `), 1) },
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"details":{`), []byte(`,"details":{"k":"first",`), 1)
		},
		func(b []byte) []byte { return bytes.Replace(b, []byte(`}}`), []byte(`,"k":"1","k":"2"}}`), 1) },
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"details":{`), []byte(`,"details":null,"x":{`), 1)
		},
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"ok":true`), []byte(`"ok":1`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"checks":[`), []byte(`"checks":[],"c":[`), 1) },
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"containers":[`), []byte(`"containers":null,"c":[`), 1)
		},
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"Signed":[`), []byte(`"Signed":[256,`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"Signed":[`), []byte(`"Signed":[1,`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`]}`), []byte(`,1]}`), 1) },
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"weight_grams":`), []byte(`,"weight_grams":-`), 1)
		},
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"fix":"`), []byte(`"Fix":"`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`,"witness":`), []byte(`,"nurse":`), 1) },
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"to":`), []byte(`,"extra":[1,{"a":"}"}],"to":`), 1)
		},
		func(b []byte) []byte { return b[:len(b)-1] },
		func(b []byte) []byte { return b[:len(b)/2] },
		func(b []byte) []byte { return append(bytes.Clone(b), '}') },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"revoked":true`), []byte(`"revoked":false`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"touch_key":"`), []byte(`"touch_key":"A`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"touch_key":"`), []byte(`"touch_key":"\n`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`=="`), []byte(`"`), 1) },
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"touch_key":"`), []byte(`,"touch_key":null,"k":"`), 1)
		},
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"role_grant":{`), []byte(`,"role_grant":null,"g":{`), 1)
		},
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"failures":`), []byte(`,"failures":0,"f":`), 1)
		},
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"locked_until":`), []byte(`,"locked_until":"0001-01-01T00:00:00Z","l":`), 1)
		},
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"former_mrns":[`), []byte(`,"former_mrns":null,"m":[`), 1)
		},
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"former_mrns":[`), []byte(`,"former_mrns":[],"m":[`), 1)
		},
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"created_by":`), []byte(`,"corrections":null,"c":`), 1)
		},
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"tz":"`), []byte(`"tz":"\u0041`), 1) },
	}
	for kind, vals := range canonRecords(t) {
		for _, v := range vals {
			for i, edit := range edits {
				in := edit(v)
				if bytes.Equal(in, v) {
					continue
				}
				want, got := canonTypes[kind](), canonTypes[kind]()
				werr, gerr := json.Unmarshal(in, want), unmarshalRecord(in, got)
				switch {
				case (werr == nil) != (gerr == nil):
					t.Errorf("%s, edit %d %q: encoding/json: %v; unmarshalRecord: %v", kind, i, in, werr, gerr)
				case werr == nil && !reflect.DeepEqual(want, got):
					t.Errorf("%s, edit %d %q:\nencoding/json   %+v\nunmarshalRecord %+v", kind, i, in, want, got)
				}
			}
		}
	}
}

// FuzzCanonicalRecord holds canonReader to encoding/json on any bytes: when
// it reads a record, encoding/json reads the same value from them.
//
//	go test ./store -run '^$' -fuzz FuzzCanonicalRecord -fuzztime 1m
func FuzzCanonicalRecord(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"01a24284-b244-756d-9cae-631762b4162a","container_id":"01a24283-2e2c-799f-aea3-266a5ebd478f","lot_id":"01a24282-f8e6-74d7-8dc1-3a719141964e","from":"thawed","to":"dispensed","at":"2026-12-04T19:24:30.370746906Z","by":"nina","site":"CLINIC","custodian":"nina","patient_id":"01a24284-b242-7e3b-a318-b196956ac8a9","details":{"patient_mrn":"MRN-CHECK"}}`))
	f.Add([]byte(`{"v":1,"id":"01a24284-b244-756d-9cae-631762b4162a","container_id":"01a24283-2e2c-799f-aea3-266a5ebd478f","lot_id":"01a24282-f8e6-74d7-8dc1-3a719141964e","to":"created","at":"2026-12-04T19:24:30Z","by":"li\u003cu","details":{"a":"\ud83d\ude00","a":"2"}}`))
	f.Add([]byte(`{"v":1,"id":"01a24284-b224-7cf0-b509-a5c4bce3e7bc","patient_id":"01a24284-b220-7ccd-9941-60f6406cd42a","schedule_id":"01a24284-b220-7f01-a9c4-3b14b529816f","protocol":"ss-uc-single","protocol_version":1,"course":1,"number":1,"start":"2026-05-29T10:15:59Z","end":"2026-05-29T11:15:59Z","weight_id":"01a24284-b220-7dfc-8822-80ba3c97d3b4","weight_grams":62000,"required_cells":62000000,"given_cells":61940000,"volume_tenths_ml":326,"deviation_tenths_pct":-1,"endotoxin_milli_eu_per_kg_h":106,"containers":[{"container_id":"01a24284-b043-7a9c-bd17-7809fc8b3c9c","lot_id":"01a24282-fb66-7655-9a68-78f5b9cef9ef","code":"G12342600994898","volume_tenths_ml":326,"cells":61940000}],"checks":[{"check":"weight","ok":true,"detail":"62.0 kg measured 2026-05-29 10:15 UTC"},{"check":"endotoxin dose","ok":false,"detail":"(USP \u003c85\u003e)","fix":"wait","command":"x"}],"nurse":{"UserID":"01a24282-f1b8-7ea6-adba-7b367b9297f5","User":"nina","FullName":"nina","Role":"nurse","Time":"2026-05-29T10:15:59Z","Meaning":"administered","Signed":[7,63,139,29,110,206,139,255,51,60,204,198,129,78,160,97,66,101,151,6,64,128,22,9,98,130,243,230,166,236,46,105]},"witness":{"UserID":"01a24282-f2fc-72c6-a6a3-54f2ae88ff2e","User":"omar","FullName":"omar","Role":"nurse","Time":"2026-05-29T10:15:59Z","Meaning":"witnessed","Signed":[7,63,139,29,110,206,139,255,51,60,204,198,129,78,160,97,66,101,151,6,64,128,22,9,98,130,243,230,166,236,46,105]}}`))
	f.Add([]byte(`{"v":1,"user_id":"01a24282-f1b8-7ea6-adba-7b367b9297f5","user":"nina","created":"2026-12-05T07:26:00.1Z","expires":"2026-12-05T19:26:00.1Z","last_activity":"2026-12-05T07:26:00.1Z","revoked":true,"touch_key":"AAEC+vv8/Q=="}`))
	f.Add([]byte(`{"v":1,"id":"01a24282-f1b8-7ea6-adba-7b367b9297f5","name":"nina","full_name":"Nina \u003cR\u003e","role":"nurse","disabled":true,"hash":"$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA","created_at":"2026-12-04T19:24:30Z","created_by":"alice","failures":2,"locked_until":"2026-12-04T19:24:30Z","last_login":"2026-12-04T19:24:30Z","password_changed":"2026-12-04T19:24:30Z","must_change":true,"role_grant":{"UserID":"01a24282-f2fc-72c6-a6a3-54f2ae88ff2e","User":"alice","FullName":"alice","Role":"admin","Time":"2026-05-29T10:15:59Z","Meaning":"granted","Signed":[7,63,139,29,110,206,139,255,51,60,204,198,129,78,160,97,66,101,151,6,64,128,22,9,98,130,243,230,166,236,46,105]}}`))
	f.Add([]byte(`{"v":1,"id":"01a24284-b220-7ccd-9941-60f6406cd42a","mrn":"MRN-1","name":"P","born":"1980-01-02T00:00:00Z","sex":"F","created_at":"2026-12-04T19:24:30Z","created_by":"nina","former_mrns":["MRN-0"]}`))
	f.Add([]byte(`{"v":1,"id":"01a24284-b220-7ccd-9941-60f6406cd42a","tz":"Asia/Shanghai"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for kind, mk := range canonTypes {
			want, got := mk(), mk()
			if !canonicalDecode(b, got) {
				continue
			}
			if err := json.Unmarshal(b, want); err != nil {
				t.Fatalf("%s %q: canonReader read it, encoding/json: %v", kind, b, err)
			}
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("%s %q:\nencoding/json %+v\ncanonReader   %+v", kind, b, want, got)
			}
		}
	})
}
