package web

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
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
		{"weigh", WeighRequest{Grams: 8350, At: local}},
		{"move", lot.Move{To: lot.Shipped, Location: "L", Site: "S", Courier: "C", Condition: "dry", Excursion: "no", Thaw: lot.Thaw{At: at, Viability: 915, ViableCells: 91_000_000}, Patient: "M", Reason: "R"}},
		{"history", ContainerHistory{Container: lot.Container{ID: id, DIN: din}, Events: []lot.Event{{ID: id, ContainerID: id, LotID: id, From: lot.Stored, To: lot.Shipped,
			At: at, By: "liu", Site: "LAB", Location: "L", Custodian: "liu", PatientID: id, Reason: "r", Details: map[string]string{"courier": "BioCour #4471"}}}}},
		{"site", lot.Site{ID: id, Code: "CLINIC-2", Name: "Day unit", Home: true, TZ: "Asia/Shanghai", CreatedAt: at, CreatedBy: "liu"}},
		{"zone change", lot.ZoneChange{Site: "C", Old: "UTC", New: "Asia/Shanghai", ActiveCourses: 2}},
		{"label set autologous", lot.LabelSet{Lot: lot.Lot{ID: id, DIN: din}, Containers: []lot.Container{{ID: id, Number: 1}}, Patient: &lot.Patient{MRN: "M"}, RestrictedTo: &lot.Patient{MRN: "R"}}},
		{"reconciliation", Reconciliation{Lot: lot.Lot{Number: "L"}, Containers: []lot.Container{{Number: 2}}, Counts: []lot.LabelCount{{ContainerID: id, LotID: id, Printed: 3, Applied: 1, Voided: 1}}}},
		{"print request", PrintRequest{Containers: []uuid.UUID{id}}},
		{"facility", FacilityView{FIN: "G1234", ZoneError: APIErrorBody{Code: lot.EINVALID, Message: "m", Exit: 3}}},
	}
}
