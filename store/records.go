package store

import (
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Stored forms of the lot package's types (version 1). Each has one pair of
// conversion functions; a later version adds fields and bumps V.

// Version 2 of donor and patient records adds their corrections (and a
// patient's former MRNs); a record never corrected is still written as
// version 1, byte for byte as before.
type donorRecord struct {
	V           int                `json:"v"`
	ID          uuid.UUID          `json:"id"`
	Code        string             `json:"code"`
	Delivered   time.Time          `json:"delivered"`
	Site        string             `json:"site"`
	Consented   time.Time          `json:"consented"`
	CreatedAt   time.Time          `json:"created_at"`
	CreatedBy   string             `json:"created_by"`
	Corrections []correctionRecord `json:"corrections,omitempty"`
}

// correctionRecord is a lot.Correction as stored in a donor or patient
// record.
type correctionRecord struct {
	At      time.Time         `json:"at"`
	By      string            `json:"by"`
	Reason  string            `json:"reason"`
	Changes []lot.FieldChange `json:"changes"`
}

func toCorrectionRecords(cs []lot.Correction) []correctionRecord {
	var out []correctionRecord
	for _, c := range cs {
		out = append(out, correctionRecord{c.At, c.By, c.Reason, c.Changes})
	}
	return out
}

func corrections(rs []correctionRecord) []lot.Correction {
	var out []lot.Correction
	for _, r := range rs {
		out = append(out, lot.Correction{At: r.At, By: r.By, Reason: r.Reason, Changes: r.Changes})
	}
	return out
}

func toDonorRecord(d lot.Donor) donorRecord {
	v := 1
	if len(d.Corrections) > 0 {
		v = 2
	}
	return donorRecord{v, d.ID, d.Code, d.Delivered, d.Site, d.Consented, d.CreatedAt, d.CreatedBy, toCorrectionRecords(d.Corrections)}
}

func (r donorRecord) donor() lot.Donor {
	return lot.Donor{ID: r.ID, Code: r.Code, Delivered: r.Delivered, Site: r.Site, Consented: r.Consented, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		Corrections: corrections(r.Corrections)}
}

type patientRecord struct {
	V           int                `json:"v"`
	ID          uuid.UUID          `json:"id"`
	MRN         string             `json:"mrn"`
	Name        string             `json:"name"`
	Born        time.Time          `json:"born"`
	Sex         lot.Sex            `json:"sex"`
	CreatedAt   time.Time          `json:"created_at"`
	CreatedBy   string             `json:"created_by"`
	FormerMRNs  []string           `json:"former_mrns,omitempty"`
	Corrections []correctionRecord `json:"corrections,omitempty"`
}

func toPatientRecord(p lot.Patient) patientRecord {
	v := 1
	if len(p.Corrections) > 0 {
		v = 2
	}
	return patientRecord{v, p.ID, p.MRN, p.Name, p.Born, p.Sex, p.CreatedAt, p.CreatedBy, p.FormerMRNs, toCorrectionRecords(p.Corrections)}
}

func (r patientRecord) patient() lot.Patient {
	return lot.Patient{ID: r.ID, MRN: r.MRN, Name: r.Name, Born: r.Born, Sex: r.Sex, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		FormerMRNs: r.FormerMRNs, Corrections: corrections(r.Corrections)}
}

type weightRecord struct {
	V          int       `json:"v"`
	ID         uuid.UUID `json:"id"`
	PatientID  uuid.UUID `json:"patient_id"`
	Grams      lot.Grams `json:"grams"`
	MeasuredAt time.Time `json:"measured_at"`
	RecordedBy string    `json:"recorded_by"`
	RecordedAt time.Time `json:"recorded_at,omitzero"` // since schema 13
}

func toWeightRecord(w lot.Weight) weightRecord {
	return weightRecord{1, w.ID, w.PatientID, w.Grams, w.MeasuredAt, w.RecordedBy, w.RecordedAt}
}

func (r weightRecord) weight() lot.Weight {
	return lot.Weight{ID: r.ID, PatientID: r.PatientID, Grams: r.Grams, MeasuredAt: r.MeasuredAt, RecordedBy: r.RecordedBy, RecordedAt: r.RecordedAt}
}

type lotRecord struct {
	V             int        `json:"v"`
	ID            uuid.UUID  `json:"id"`
	Number        string     `json:"number"`
	DIN           string     `json:"din"`
	Source        lot.Source `json:"source"`
	DonorID       uuid.UUID  `json:"donor_id,omitzero"`
	PatientID     uuid.UUID  `json:"patient_id,omitzero"`
	Cells         lot.Cells  `json:"cells"`
	Viability     lot.Tenths `json:"viability_tenths_pct"`
	VolumeML      lot.Tenths `json:"volume_tenths_ml"`
	Manufactured  time.Time  `json:"manufactured"`
	Expires       time.Time  `json:"expires"`
	Passage       int        `json:"passage,omitempty"`
	Cryopreserved time.Time  `json:"cryopreserved,omitzero"`
	Location      string     `json:"location,omitempty"`
	Status        lot.Status `json:"status"`
	Exceptional   bool       `json:"exceptional,omitempty"`
	RestrictedTo  uuid.UUID  `json:"restricted_to,omitzero"`
	Containers    int        `json:"containers"`
	CellsSplit    lot.Cells  `json:"cells_split"`
	CreatedAt     time.Time  `json:"created_at"`
	CreatedBy     string     `json:"created_by"`
}

func toLotRecord(l lot.Lot) lotRecord {
	return lotRecord{1, l.ID, l.Number, l.DIN.String(), l.Source, l.DonorID, l.PatientID, l.Cells, l.Viability,
		l.VolumeML, l.Manufactured, l.Expires, l.Passage, l.Cryopreserved, l.Location, l.Status, l.Exceptional, l.RestrictedTo,
		l.Containers, l.CellsSplit, l.CreatedAt, l.CreatedBy}
}

// lot is the lot r holds, read in a transaction that found the facility's
// zone to be zone (lotZone): the zone its expiry is counted in.
func (r lotRecord) lot(zone lot.Zone) lot.Lot {
	din, _ := lot.ParseDIN(r.DIN)
	return lot.Lot{ID: r.ID, Number: r.Number, DIN: din, Source: r.Source, DonorID: r.DonorID, PatientID: r.PatientID,
		Cells: r.Cells, Viability: r.Viability, VolumeML: r.VolumeML, Manufactured: r.Manufactured, Expires: r.Expires,
		Passage: r.Passage, Cryopreserved: r.Cryopreserved, Location: r.Location, Status: r.Status,
		Exceptional: r.Exceptional, RestrictedTo: r.RestrictedTo,
		Containers: r.Containers, CellsSplit: r.CellsSplit, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		FacilityZone: zone}
}

type containerRecord struct {
	V             int                `json:"v"`
	ID            uuid.UUID          `json:"id"`
	LotID         uuid.UUID          `json:"lot_id"`
	DIN           string             `json:"din"`
	Number        int                `json:"number"`
	Cells         lot.Cells          `json:"cells"`
	VolumeML      lot.Tenths         `json:"volume_tenths_ml"`
	State         lot.ContainerState `json:"state"`
	Location      string             `json:"location,omitempty"`
	Site          string             `json:"site,omitempty"`
	Custodian     string             `json:"custodian,omitempty"`
	PatientID     uuid.UUID          `json:"patient_id,omitzero"`
	ThawedAt      time.Time          `json:"thawed_at,omitzero"`
	ThawViability lot.Tenths         `json:"thaw_viability_tenths_pct,omitempty"`
	ViableCells   lot.Cells          `json:"viable_cells,omitempty"`
	CreatedAt     time.Time          `json:"created_at"`
	CreatedBy     string             `json:"created_by"`
}

func toContainerRecord(c lot.Container) containerRecord {
	return containerRecord{1, c.ID, c.LotID, c.DIN.String(), c.Number, c.Cells, c.VolumeML, c.State, c.Location,
		c.Site, c.Custodian, c.PatientID, c.ThawedAt, c.ThawViability, c.ViableCells, c.CreatedAt, c.CreatedBy}
}

func (r containerRecord) container() lot.Container {
	din, _ := lot.ParseDIN(r.DIN)
	return lot.Container{ID: r.ID, LotID: r.LotID, DIN: din, Number: r.Number, Cells: r.Cells, VolumeML: r.VolumeML,
		State: r.State, Location: r.Location, Site: r.Site, Custodian: r.Custodian, PatientID: r.PatientID,
		ThawedAt: r.ThawedAt, ThawViability: r.ThawViability, ViableCells: r.ViableCells, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}
