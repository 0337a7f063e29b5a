package audit

import "github.com/celltrack/celltrack/lot"

// Action names a write a user may attempt. Every write is checked against the
// permission table before anything is written.
type Action string

// The actions of the foundation. Later capabilities add theirs to Permissions.
const (
	UserAdd      Action = "user.add"
	UserDisable  Action = "user.disable"
	DonorAdd     Action = "donor.add"
	PatientAdd   Action = "patient.add"
	PatientWeigh Action = "patient.weigh"
	LotRegister  Action = "lot.register"
	LotImport    Action = "lot.import"
	LotSplit     Action = "lot.split"

	// Dosing (issue 4).
	ProtocolAdd    Action = "protocol.add"
	ScheduleCreate Action = "schedule.create"
	ScheduleChange Action = "schedule.change"
	WeightConfirm  Action = "weight.confirm"
	DoseAdminister Action = "dose.administer"
	DoseReaction   Action = "dose.reaction"
)

// Permissions is the permission table: which roles may perform each write.
// The README prints it; a test checks every command against it.
var Permissions = map[Action][]Role{
	UserAdd:      {Admin},
	UserDisable:  {Admin},
	DonorAdd:     {Lab},
	PatientAdd:   {Admin, Physician, Nurse},
	PatientWeigh: {Physician, Nurse},
	LotRegister:  {Lab},
	LotImport:    {Lab},
	LotSplit:     {Lab},

	ProtocolAdd:    {Physician},
	ScheduleCreate: {Physician},
	ScheduleChange: {Physician},
	WeightConfirm:  {Physician},
	DoseAdminister: {Nurse, Physician},
	DoseReaction:   {Nurse, Physician},
}

// Allowed reports whether role may perform a.
func Allowed(r Role, a Action) bool {
	for _, x := range Permissions[a] {
		if x == r {
			return true
		}
	}
	return false
}

// Authorize returns EFORBIDDEN, naming the user, role and action, unless u is
// enabled and its role may perform a.
func Authorize(u User, a Action) error {
	if u.Disabled {
		return lot.Errorf(lot.EFORBIDDEN, "user %s is disabled and can do nothing; ask an admin", u.Name)
	}
	if !Allowed(u.Role, a) {
		return lot.Errorf(lot.EFORBIDDEN, "user %s has role %s, which may not %s; this needs role %s", u.Name, u.Role, a, rolesString(Permissions[a]))
	}
	return nil
}

func rolesString(rs []Role) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += " or "
		}
		s += string(r)
	}
	return s
}
