package dose

import (
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
)

// Infusion is an administered dose, signed by the nurse who gave it and the
// witness who checked it (21 CFR 11.50: name, time, meaning).
type Infusion struct {
	ID              uuid.UUID
	PatientID       uuid.UUID
	ScheduleID      uuid.UUID
	Protocol        string
	ProtocolVersion int
	Course          int
	Number          int // which infusion of the course
	Start, End      time.Time
	WeightID        uuid.UUID
	Weight          lot.Grams
	Required        lot.Cells
	Given           lot.Cells
	Volume          lot.Tenths
	Deviation       lot.Tenths
	// EndotoxinMilliEUPerKgH is the endotoxin dose given, milli-EU/kg/h.
	EndotoxinMilliEUPerKgH int64
	Containers             []InfusedContainer
	Checks                 []Result // the bedside check as it passed in the writing transaction
	Nurse, Witness         audit.Signature
}

// InfusedContainer is what one container gave to an infusion.
type InfusedContainer struct {
	ContainerID uuid.UUID
	LotID       uuid.UUID
	Code        string
	Volume      lot.Tenths
	Cells       lot.Cells
}

// Signature meanings (21 CFR 11.50): the two administration signatures, a
// schedule change, and a physician's weight confirmation (stored followed
// by the weight and the MRN: "confirmed the weight 68.3 kg of MRN-1001").
const (
	MeaningAdminister    = "administered the infusion after the bedside check"
	MeaningWitness       = "witnessed the bedside check and the infusion"
	MeaningSchedule      = "changed the treatment schedule"
	MeaningConfirmWeight = "confirmed the weight"
)

// CheckWitnessName checks, before any password, the witness's name as
// typed: given, and not the administering user's own. It says nothing else
// of the witness (who exists, their role or state): only the witness's
// password may (CheckSigners after it).
func CheckWitnessName(nurse audit.User, witness string) error {
	if witness == "" {
		return lot.FieldErrorf("witness", lot.EUSAGE, "the witness needs a user name; the second clinical user who checked types it with their password")
	}
	if witness == nurse.Name {
		return lot.FieldErrorf("witness", lot.EFORBIDDEN, "the witness %s is the administering user; a second, different person must witness", witness)
	}
	return nil
}

// CheckSigners checks the two people who sign an infusion: two different
// users, both with a clinical role (physician or nurse), neither disabled.
// It returns EFORBIDDEN naming the user at fault.
func CheckSigners(nurse, witness audit.User) error {
	if nurse.ID == witness.ID || nurse.Name == witness.Name {
		return lot.Errorf(lot.EFORBIDDEN, "the witness %s is the administering user; a second, different person must witness", witness.Name)
	}
	// Two logins with one printed name are one person as far as the signed
	// record can show: the second check must be somebody else.
	if lot.SameName(nurse.FullName, witness.FullName) {
		return lot.Errorf(lot.EFORBIDDEN, "the witness %s and the administering user %s have the same printed name %q; a second, different person must witness (two people of one name: the administrator adds one of them again with a full name that tells them apart, such as a middle initial, and disables the old login)",
			witness.Name, nurse.Name, witness.FullName)
	}
	// A disabled account is named first: it can do nothing at all, whatever
	// its role.
	for _, u := range []audit.User{nurse, witness} {
		if u.Disabled {
			return lot.Errorf(lot.EFORBIDDEN, "user %s is disabled and may not administer or witness an infusion", u.Name)
		}
	}
	for _, u := range []audit.User{nurse, witness} {
		if !u.Role.Clinical() {
			return lot.Errorf(lot.EFORBIDDEN, "user %s has role %s; the administering user and the witness must be physicians or nurses", u.Name, u.Role)
		}
	}
	return nil
}
