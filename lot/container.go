package lot

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// MaxContainers is how many containers one lot may be split into. Container
// numbers are two digits appended to the DIN (the ISBT 128 flag position used
// for containers of one collection), so 99 is the ceiling.
const MaxContainers = 99

// ContainerState is where a container is in its chain of custody.
type ContainerState string

// Container states (DOMAIN.md, "Chain of custody"). Only "created" is entered
// by lot split; the custody commands move a container through the rest.
const (
	Created     ContainerState = "created"
	Stored      ContainerState = "stored"
	Shipped     ContainerState = "shipped"
	Received    ContainerState = "received"
	Thawed      ContainerState = "thawed"
	Dispensed   ContainerState = "dispensed"
	Infused     ContainerState = "infused"
	Discarded   ContainerState = "discarded"
	Returned    ContainerState = "returned"
	Quarantined ContainerState = "quarantined"
)

// Container is a bag or vial holding part of a lot, with its own label and
// history.
type Container struct {
	ID        uuid.UUID
	LotID     uuid.UUID
	DIN       DIN
	Number    int // 1–99 within the lot
	Cells     Cells
	VolumeML  Tenths
	State     ContainerState
	Location  string    // freezer and position, or where it is now
	Site      string    // the site that holds it
	Custodian string    // the user who last took custody
	PatientID uuid.UUID // dispensed to (zero until dispensed)

	// Post-thaw measurements; once recorded, doses use them.
	ThawedAt      time.Time
	ThawViability Tenths
	ViableCells   Cells

	CreatedAt time.Time
	CreatedBy string
}

// Code is the container's identifier as typed or scanned: the DIN followed by
// the two-digit container number, e.g. G12342600000101.
func (c Container) Code() string { return ContainerCode(c.DIN, c.Number) }

// ContainerCode returns the code of container n of the lot with DIN d.
func ContainerCode(d DIN, n int) string {
	return string(appendZeroPadded(d.appendTo(make([]byte, 0, 15)), n, 2))
}

// ParseContainerCode reads a container code as typed or scanned: spaces and
// dashes are ignored, a check character may follow the DIN (G1234260000014 01)
// and a barcode's leading "=" is accepted.
func ParseContainerCode(s string) (DIN, int, error) {
	c := strings.ToUpper(spacesAndDashes.Replace(strings.TrimSpace(s)))
	c = strings.TrimPrefix(c, "=")
	if len(c) != 15 && len(c) != 16 {
		return DIN{}, 0, Errorf(EINVALID, "container %q is not a container code: it is the 13-character DIN, an optional check character and a 2-digit container number, e.g. G123426000001 01", s)
	}
	din, err := ParseDIN(c[:len(c)-2])
	if err != nil {
		return DIN{}, 0, err
	}
	var n int
	if _, err := fmt.Sscanf(c[len(c)-2:], "%02d", &n); err != nil || n < 1 {
		return DIN{}, 0, Errorf(EINVALID, "container %q: the container number %q must be 01–99", s, c[len(c)-2:])
	}
	return din, n, nil
}

// Split is a request to divide a lot into containers.
type Split struct {
	Lot        string // reference: DIN, lot number or UUID
	Containers int
	CellsEach  Cells
	VolumeEach Tenths // optional; zero means the lot's volume shared evenly
	// Seen, optional, is the lot's state the split was asked from
	// (audit.SeenField: its last audit entry): the split is refused
	// (ECONFLICT on "seen") once the lot has changed since — a split
	// form sent again.
	Seen *uint64 `json:",omitempty"`
}

// CheckSplit checks that splitting l as asked fits: at most MaxContainers in
// all, and never more cells in containers than the lot holds.
func CheckSplit(l Lot, s Split) error {
	if s.Containers < 1 {
		return FieldErrorf("containers", EINVALID, "the number of containers %d must be at least 1", s.Containers)
	}
	if l.Containers+s.Containers > MaxContainers {
		return FieldErrorf("containers", EINVALID, "%d more containers would give lot %s %d containers; at most %d are allowed", s.Containers, l.Number, l.Containers+s.Containers, MaxContainers)
	}
	if s.CellsEach <= 0 {
		return FieldErrorf("cells-each", EINVALID, "the cells in each container are required")
	}
	total := Cells(int64(s.CellsEach) * int64(s.Containers))
	if l.CellsSplit+total > l.Cells {
		return Errorf(EINVALID, "%d containers × %s cells = %s, but lot %s has only %s cells left to split (%s registered, %s already in containers)",
			s.Containers, s.CellsEach, total, l.Number, l.Cells-l.CellsSplit, l.Cells, l.CellsSplit)
	}
	if l.Status == Rejected {
		return Errorf(ECONFLICT, "lot %s is rejected; a rejected lot cannot be split", l.Number)
	}
	return nil
}

// Service registers and looks up donors, patients, lots and containers.
// References (ref) to a lot accept its DIN (with or without check character),
// the lab lot number or the UUID; to a container, its code or UUID; to a
// patient, the MRN; to a donor, the donor code. Write methods take the acting
// user's name and return EFORBIDDEN when the role may not, EINVALID for a bad
// value, ECONFLICT for a duplicate or a state that forbids the change, and
// ENOTFOUND for an unknown reference.
type Service interface {
	AddDonor(actor string, d Donor) (Donor, error)
	Donor(ref string) (Donor, error)
	Donors() ([]Donor, error)
	// CorrectDonor corrects a donor's dates or site with a reason
	// (CorrectDonor's refusals).
	CorrectDonor(actor, ref string, fix DonorFix, reason string) (Donor, Correction, error)

	AddPatient(actor string, p Patient) (Patient, error)
	Patient(ref string) (Patient, error)
	Patients() ([]Patient, error)
	// CorrectPatient corrects a patient's MRN, name, date of birth or sex
	// with a reason (CorrectPatient's refusals); a new MRN that is any
	// patient's MRN, current or former, is ECONFLICT, unless it is a former
	// MRN of this patient.
	CorrectPatient(actor, mrn string, fix PatientFix, reason string) (Patient, Correction, error)
	Weigh(actor string, mrn string, g Grams, at time.Time) (Weight, error)
	Weights(mrn string) ([]Weight, error)

	RegisterLot(actor string, r Registration) (Lot, error)
	Lot(ref string) (Lot, error)
	Lots(f LotFilter) ([]Lot, error)
	Import(actor string, rows []ImportRow) ([]Lot, error)

	SplitLot(actor string, s Split) ([]Container, error)
	Container(ref string) (Container, error)
	Containers(lotRef string) ([]Container, error)
}

// LotFilter narrows a lot listing; zero fields match everything.
type LotFilter struct {
	Status Status
	Source Source
	// Last, when above 0, keeps only the Last matching lots registered most
	// recently (still listed in registration order): a page of a
	// database's newest lots reads those and no others.
	Last int
}
