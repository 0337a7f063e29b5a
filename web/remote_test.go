package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
)

// Domain values cross the API as their plain JSON encoding: each must come
// back exactly as it went, or the command line in server mode would print
// something else than locally.
func TestDomainValuesRoundTripThroughJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 8, 10, 0, 0, time.UTC)
	shanghai := time.Date(2026, 12, 10, 7, 0, 0, 0, time.FixedZone("", 8*3600))
	id := uuid.MustParse("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	din := lot.DIN{FIN: "G1234", Year: 26, Seq: 1}
	corr := lot.Correction{At: at, By: "liu", Reason: "typo", Changes: []lot.FieldChange{{Field: "site", Old: "a", New: "b"}}}
	for _, c := range roundTripCases(at, shanghai, id, din, corr) {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			back := reflect.New(reflect.TypeOf(c.v))
			if err := json.Unmarshal(b, back.Interface()); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if got := back.Elem().Interface(); !reflect.DeepEqual(got, c.v) {
				t.Errorf("round trip changed the value:\n sent %#v\n  got %#v\n json %s", c.v, got, b)
			}
		})
	}
}

func sig(id uuid.UUID, at time.Time) audit.Signature {
	return audit.Signature{UserID: id, User: "quinn", FullName: "Quinn A", Role: "qa", Time: at, Meaning: "approved for release", Signed: [32]byte{1, 2, 3}}
}

// A time zone has no JSON of its own: courses and reports carry its name,
// and come back in the same zone.
func TestZonesRoundTripByName(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database on this machine")
	}
	for _, loc := range []*time.Location{nil, time.UTC, sh} {
		b, _ := json.Marshal(wireCourse(dose.Course{Zone: loc, ZoneFrom: "site C"}))
		var w WireCourse
		if err := json.Unmarshal(b, &w); err != nil {
			t.Fatal(err)
		}
		c, err := w.course()
		if err != nil || c.Zone.String() != loc.String() || (loc == nil) != (c.Zone == nil) || c.ZoneFrom != "site C" {
			t.Errorf("course zone %v came back as %v (%v)", loc, c.Zone, err)
		}
		b, _ = json.Marshal(wireReport(dose.Report{GO: true, Zone: loc}))
		var wr WireReport
		if err := json.Unmarshal(b, &wr); err != nil {
			t.Fatal(err)
		}
		r, err := wr.report()
		if err != nil || r.Zone.String() != loc.String() || (loc == nil) != (r.Zone == nil) || !r.GO {
			t.Errorf("report zone %v came back as %v (%v)", loc, r.Zone, err)
		}
	}
	if _, err := Zone("Mars/Olympus").loc(); err == nil {
		t.Error("an unknown zone from the server was taken as UTC")
	}
}

type roundTrip struct {
	name string
	v    any
}

func roundTripCases(at, local time.Time, id uuid.UUID, din lot.DIN, corr lot.Correction) []roundTrip {
	return []roundTrip{
		{"donor", lot.Donor{ID: id, Code: "D-0001", Delivered: at, Site: "Ward 5", Consented: at, CreatedAt: local, CreatedBy: "liu", Corrections: []lot.Correction{corr}}},
		{"patient with former MRN", lot.Patient{ID: id, MRN: "MRN-1", Name: "Mei Chen", Born: at, Sex: "F", CreatedAt: at, CreatedBy: "nina", FormerMRNs: []string{"MRN-0"}, Corrections: []lot.Correction{corr}}},
		{"weight", lot.Weight{ID: id, PatientID: id, Grams: 62000, MeasuredAt: local, RecordedBy: "nina"}},
		{"lot restricted", lot.Lot{ID: id, Number: "LOT-1", DIN: din, Source: lot.SourceRFib, PatientID: id, Cells: 2_500_000_000, Viability: 945, VolumeML: 2500,
			Manufactured: at, Expires: at, Passage: 4, Cryopreserved: at, Location: "LN2", Status: lot.Released, Exceptional: true, RestrictedTo: id, Containers: 3, CellsSplit: 300_000_000, CreatedAt: at, CreatedBy: "liu"}},
		{"registration", lot.Registration{Number: "LOT-1", Source: lot.SourceUC, Donor: "D-1", Cells: 1, Viability: 1, VolumeML: 1, Manufactured: at, Expires: at}},
		{"import rows", []lot.ImportRow{{Line: 2, Registration: lot.Registration{Number: "L"}}}},
		{"split", lot.Split{Lot: "LOT-1", Containers: 2, CellsEach: 100_000_000, VolumeEach: 500}},
		{"container thawed", lot.Container{ID: id, LotID: id, DIN: din, Number: 7, Cells: 1e8, VolumeML: 500, State: lot.Thawed, Location: "ward", Site: "S", Custodian: "nina",
			PatientID: id, ThawedAt: local, ThawViability: 912, ViableCells: 91_200_000, CreatedAt: at, CreatedBy: "liu"}},
		{"donor correction", DonorCorrected{Donor: lot.Donor{Code: "D"}, Correction: corr}},
		{"patient fix", CorrectPatientRequest{Fix: lot.PatientFix{MRN: "M", Name: "N", Born: at, Sex: "X"}, Reason: "r"}},
		{"weigh", WeighRequest{Kg: "8.35", At: local}},
		{"move", lot.Move{To: lot.Shipped, Location: "L", Site: "S", Courier: "C", Condition: "dry", Excursion: "no", Thaw: lot.Thaw{At: at, Viability: 915, ViableCells: 91_000_000}, Patient: "M", Reason: "R"}},
		{"history", ContainerHistory{Container: lot.Container{ID: id, DIN: din}, Events: []lot.Event{{ID: id, ContainerID: id, LotID: id, From: lot.Stored, To: lot.Shipped,
			At: at, By: "liu", Site: "LAB", Location: "L", Custodian: "liu", PatientID: id, Reason: "r", Details: map[string]string{"courier": "BioCour #4471"}}}}},
		{"site", lot.Site{ID: id, Code: "CLINIC-2", Name: "Day unit", Home: true, TZ: "Asia/Shanghai", CreatedAt: at, CreatedBy: "liu"}},
		{"zone change", lot.ZoneChange{Site: "C", Old: "UTC", New: "Asia/Shanghai", ActiveCourses: 2}},
		{"label set autologous", lot.LabelSet{Lot: lot.Lot{ID: id, DIN: din}, Containers: []lot.Container{{ID: id, Number: 1}}, Patient: &lot.Patient{MRN: "M"}, RestrictedTo: &lot.Patient{MRN: "R"}}},
		{"reconciliation", Reconciliation{Lot: lot.Lot{Number: "L"}, Containers: []lot.Container{{Number: 2}}, Counts: []lot.LabelCount{{ContainerID: id, LotID: id, Printed: 3, Applied: 1, Voided: 1}}}},
		{"print request", PrintRequest{Containers: []uuid.UUID{id}}},
		{"spec", WireSpec{Spec: release.Spec{Name: "isct", Version: 2, Title: "ISCT", Kinds: []lot.Source{lot.SourceUC}, Source: "Dominici 2006",
			Criteria: []release.Criterion{{Assays: []release.Assay{"CD105"}, Op: ">=", Min: "95", Unit: "%", Kinds: []lot.Source{lot.SourceUC}, Source: "ISCT"}}, CreatedAt: at, CreatedBy: "quinn"}, ID: id}},
		{"result recorded", ResultRecorded{Result: release.Result{ID: id, LotID: id, Seq: 3, Assay: "CD90", Value: release.Value{Text: "97.1", Unit: "%"}, Method: "flow", Tested: at,
			RecordedAt: local, RecordedBy: "liu", Corrects: 2, VoidedAt: at, VoidedBy: "liu", VoidReason: "mix-up"}, Requarantined: []release.Requarantine{{Lot: "L", Reason: "r", Infused: []string{"a"}, Recall: []string{"b"}}}}},
		{"screening voided", ScreeningVoided{Voided: release.Screening{ID: id, DonorID: id, Seq: 1, Markers: []release.Marker{{Name: "HIV", Result: "negative"}}, Consented: at, Tested: at,
			RecordedAt: at, RecordedBy: "liu", PriorReactive: []string{"HBsAg"}, VoidedAt: local, VoidedBy: "quinn", VoidReason: "wrong donor", VoidSignature: sig(id, at)},
			Status: &release.Screening{Seq: 2}, Quarantined: []string{"LOT-1"}}},
		{"disposition", release.Disposition{ID: id, LotID: id, Lot: "L", DIN: "G1234", Decision: release.Exception, Spec: "isct", SpecVersion: 1,
			Rows: []release.Row{{Criterion: "CD105", Limit: ">= 95", Result: "94", Verdict: "fail", Source: "ISCT"}}, Reason: "need", Patient: "M", PatientID: id,
			Infused: []string{"x"}, Recall: []string{"y"}, Unevaluated: "u", At: at, By: "quinn", Signatures: []audit.Signature{sig(id, at)}}},
		{"approval", release.Approval{Lot: "L", Spec: "s@1", QA: "q", Password: "p", Exception: true, Patient: "M", Reason: "r", Physician: "pat", PhysicianPassword: "pp"}},
		{"certificate", release.Certificate{Lot: lot.Lot{Number: "L"}, Source: "donor D", RestrictedTo: "M", Evaluation: release.Evaluation{Spec: "s", Version: 1, Lot: "L", Pass: true, At: at},
			SpecTitle: "t", Results: []release.Result{{Seq: 1}}, Dispositions: []release.Disposition{{Lot: "L"}}, Expired: true, ChainHead: "ab", TreeHead: "3 entries",
			Generated: at, Facility: "G1234", Database: "ct.db", AuditEntries: 3, Verified: true, AuditProblems: []string{"p"}, ProducedBy: "aud", ProducedByName: "A", ProducedByRole: "auditor"}},
		{"protocol", dose.StoredProtocol{Protocol: dose.Protocol{Name: "sle", Version: 1, Title: "SLE", Source: "NCT01741857", Product: lot.SourceUC, Basis: dose.PerKg, CellsPerKg: 1_000_000,
			Bands: []dose.Band{{UpTo: 30000, Cells: 5e7}}, Changes: []dose.Change{{From: 8, Cells: 75_000_000}}, Phases: []dose.Phase{{Count: 2, IntervalDays: 7}}, WindowDays: 1,
			FollowActual: true, ToleranceMinus: 100, TolerancePlus: 100, CapCells: 1e9, MaxWeightAgeDays: 7, MaxThawMinutes: 120}, ID: id, CreatedAt: at, CreatedBy: "pat"}},
		{"infusions", Infusions{Infusions: []dose.Infusion{{ID: id, PatientID: id, ScheduleID: id, Protocol: "sle", ProtocolVersion: 1, Course: 1, Number: 2, Start: at, End: local,
			WeightID: id, Weight: 62000, Required: 62_000_000, Given: 62_000_000, Volume: 310, Deviation: -5, EndotoxinMilliEUPerKgH: 12,
			Containers: []dose.InfusedContainer{{ContainerID: id, LotID: id, Code: "c", Volume: 310, Cells: 62_000_000}},
			Checks:     []dose.Result{{Name: "n", OK: true, Detail: "d", Fix: "f"}}, Nurse: sig(id, at), Witness: sig(id, local)}},
			Reactions: map[uuid.UUID][]dose.Reaction{id: {{ID: id, InfusionID: id, Seq: 1, Grade: 2, Text: "fever", At: at, By: "nina", Corrects: 1, CorrectedBy: 2, VoidedAt: at, VoidedBy: "nina", VoidReason: "r"}}}}},
		{"administration", AdministerBody{Administration: dose.Administration{MRN: "M", Containers: []string{"a", "b"}, Start: local, Volume: 310}, NursePassword: "p", Witness: "omar", WitnessPassword: "w"}},
		{"user without hash", audit.Public(audit.User{ID: id, Name: "quinn", FullName: "Q", Role: "qa", Disabled: true, Hash: "$argon2id$x", CreatedAt: at, CreatedBy: "alice",
			Failures: 2, LockedUntil: local, LastLogin: at, PasswordChanged: at, MustChange: true, RoleGrant: &audit.Signature{User: "alice", Time: at}})},
		{"settings", audit.Settings{IdleExpiry: 15 * time.Minute, AbsoluteExpiry: 12 * time.Hour, LockoutDuration: time.Minute, PasswordMaxAge: 90 * 24 * time.Hour}},
		{"audit entry", WireEntry{Entry: audit.Entry{Seq: 7, Time: at, User: "liu", Action: "lot.register", Entity: "lot", ID: id, Prev: []byte(`{"a":1}`), New: []byte(`{"b":2}`), Reason: "r"},
			PrevHash: [32]byte{1, 2}, Hash: [32]byte{3, 4}, State: true}},
		{"verification", Verification{Entries: 3, Records: 2, Head: [32]byte{9}, Tree: audit.Head{Facility: "G1234", Size: 3, Root: [32]byte{7}, Time: at}, Problems: []string{"p"}}},
		{"checkpoint verification", audit.CheckpointVerification{Verification: audit.Verification{Entries: 3, Records: 2, Head: [32]byte{9}, Tree: audit.Head{Facility: "G1234", Size: 3, Root: [32]byte{7}}, Problems: []string{"p"}},
			Checkpoints:   []audit.CheckpointResult{{Name: "w/a.checkpoint", Head: audit.Head{Facility: "G1234", Size: 2, Root: [32]byte{5}, Time: at}, Signer: "celltrack+0a1b2c3d", Problem: "x", Mismatch: true, Ahead: true}},
			FirstMismatch: 2, LastMatch: 1}},
		{"checkpoint keys", []audit.CheckpointKey{{Verifier: "celltrack+0a1b2c3d+AQ", Name: "celltrack", Hash: 0x0a1b2c3d, Added: at, AddedBy: "alice", Retired: &local, RetiredBy: "alice", Reason: "yearly", Signature: &audit.Signature{User: "alice", Time: at, Signed: [32]byte{1}}}}},
		{"checkpoints request", checkpointsRequest(at)},
		{"session", SessionView{User: audit.User{Name: "nina"}, Session: audit.Session{User: "nina", Created: at, Expires: local, LastActivity: at, Revoked: true}}},
		{"facility", FacilityView{FIN: "G1234", ZoneError: APIErrorBody{Code: lot.EINVALID, Message: "m", Exit: 3}}},
	}
}

func checkpointsRequest(at time.Time) CheckpointsRequest {
	return CheckpointsRequest{Kept: []audit.KeptCheckpoint{
		{Name: "w/a.checkpoint", Note: []byte("celltrack audit trail G1234\n3\n...\n")},
		{Name: "(printed 3 entries)", Printed: &audit.Head{Size: 3, Root: [32]byte{7}}},
		{Name: "w/gone.checkpoint", Unusable: "is a link to nothing"},
	}, Pinned: []audit.PinnedVerifier{{Source: "ck.key.pub", Key: "celltrack+0a1b2c3d+AQ"}}}
}

// The kept checkpoints reach the server as the command line sent them:
// the server's strict decoder reads what encoding/json wrote.
func TestCheckpointsRequestDecodesStrictly(t *testing.T) {
	want := checkpointsRequest(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got CheckpointsRequest
	if err := decode(httptest.NewRequest("POST", "/", bytes.NewReader(b)), &got); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the server read\n %#v\nfrom\n %s", got, b)
	}
}

// recorder is a Caller that keeps every request and answers none.
type recorder struct{ bodies []string }

func (r *recorder) Call(method, path string, body any) ([]byte, map[string][]string, error) {
	b, _ := json.Marshal(body)
	r.bodies = append(r.bodies, method+" "+path+" "+string(b))
	return nil, nil, lot.Errorf(lot.ENODB, "not sent")
}

// A signing key given where a verifier key belongs is refused before any
// request: it never leaves the machine it is on. A checkpoint larger than a
// local run reads is refused before it is sent.
func TestRemoteCheckpointsKeepSecretsAndBounds(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "ward")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ck := NewRemoteCheckpoints(rec)
	if _, err := ck.RegisterCheckpointKey("alice", skey); lot.ErrorCode(err) != lot.EINVALID {
		t.Errorf("register with a signing key: %v, want EINVALID", err)
	}
	if _, err := ck.RotateCheckpointKey("alice", "pw", skey, "yearly"); lot.ErrorCode(err) != lot.EINVALID {
		t.Errorf("rotate to a signing key: %v, want EINVALID", err)
	}
	if _, err := ck.VerifyCheckpointsPinned(context.Background(), nil, []audit.PinnedVerifier{{Source: "ck.key", Key: skey}}); lot.ErrorCode(err) != lot.EINVALID {
		t.Errorf("a signing key pinned: %v, want EINVALID", err)
	}
	big := []audit.KeptCheckpoint{{Name: "big.checkpoint", Note: make([]byte, audit.MaxCheckpointBytes+1)}}
	if _, err := ck.VerifyCheckpointsPinned(context.Background(), big, nil); lot.ErrorCode(err) != lot.EINVALID {
		t.Errorf("a checkpoint of %d bytes: %v, want EINVALID", audit.MaxCheckpointBytes+1, err)
	}
	many := make([]audit.KeptCheckpoint, MaxCheckpointsBytes/audit.MaxCheckpointBytes)
	for i := range many {
		many[i] = audit.KeptCheckpoint{Name: fmt.Sprintf("w/%d.checkpoint", i), Note: make([]byte, audit.MaxCheckpointBytes)}
	}
	if _, err := ck.VerifyCheckpointsPinned(context.Background(), many, nil); lot.ErrorCode(err) != lot.EUSAGE {
		t.Errorf("%d checkpoints of 4 KB: %v, want EUSAGE (verify them in parts)", len(many), err)
	}
	if len(rec.bodies) != 0 {
		t.Fatalf("sent to the server: %.300q", rec.bodies)
	}
	ck.RegisterCheckpointKey("alice", vkey)
	if len(rec.bodies) != 1 || strings.Contains(rec.bodies[0], "PRIVATE") || !strings.Contains(rec.bodies[0], vkey) {
		t.Errorf("a verifier key was sent as %q", rec.bodies)
	}
}
