package audit

import "github.com/celltrack/celltrack/lot"

// Action names a write a user may attempt. Every write is checked against the
// permission table before anything is written.
type Action string

// The actions of the foundation. Later capabilities add theirs to Permissions.
const (
	UserAdd     Action = "user.add"
	UserDisable Action = "user.disable"
	// Account lifecycle and facility settings (issue 10).
	UserEnable   Action = "user.enable"
	UserReset    Action = "user.reset"
	UserRole     Action = "user.role"
	UserUnlock   Action = "user.unlock"
	SettingsSet  Action = "settings.set"
	DonorAdd     Action = "donor.add"
	PatientAdd   Action = "patient.add"
	PatientWeigh Action = "patient.weigh"
	LotRegister  Action = "lot.register"
	LotImport    Action = "lot.import"
	LotSplit     Action = "lot.split"

	// Chain of custody (issue 5).
	SiteAdd Action = "site.add"
	// ZoneSet changes the facility's or a site's time zone (issue 12):
	// it moves the calendar days of every course counted in it.
	ZoneSet             Action = "zone.set"
	ContainerStore      Action = "container.store"
	ContainerShip       Action = "container.ship"
	ContainerReceive    Action = "container.receive"
	ContainerThaw       Action = "container.thaw"
	ContainerDispense   Action = "container.dispense"
	ContainerDiscard    Action = "container.discard"
	ContainerReturn     Action = "container.return"
	ContainerQuarantine Action = "container.quarantine"
	LabelPrint          Action = "label.print"
	LabelApply          Action = "label.apply"
	LabelVoid           Action = "label.void"
	// Release (issue 3).
	ReleaseResult Action = "release.result"
	DonorScreen   Action = "donor.screen"
	// DonorScreenVoid voids a mistyped screening: QA's signed decision,
	// because it can make a reactive donor eligible again.
	DonorScreenVoid Action = "donor.screen.void"
	ReleaseApprove  Action = "release.approve"
	ReleaseReject   Action = "release.reject"
	ReleaseSpecAdd  Action = "release.spec.add"
	// Dosing (issue 4).
	ProtocolAdd    Action = "protocol.add"
	ScheduleCreate Action = "schedule.create"
	ScheduleChange Action = "schedule.change"
	WeightConfirm  Action = "weight.confirm"
	DoseAdminister Action = "dose.administer"
	DoseReaction   Action = "dose.reaction"
	// Corrections of master data (issue 12): a mistyped name, date of
	// birth, sex or MRN of a patient; a donor's dates or site.
	PatientCorrect Action = "patient.correct"
	DonorCorrect   Action = "donor.correct"
	// Signed checkpoints and restore (issue 13).
	AuditKeyRegister Action = "audit.key.register"
	AuditKeyRotate   Action = "audit.key.rotate"
	DatabaseRestore  Action = "database.restore"
	// DatabaseMigrate moves a database to the other engine (issue 14).
	DatabaseMigrate Action = "database.migrate"
	// DatabaseBackup copies the whole database to a file (`celltrack
	// backup`): every patient's records and every password hash with it.
	DatabaseBackup Action = "database.backup"
	// DatabaseUpgrade brings a database an older celltrack wrote up to
	// this one's schema (`celltrack upgrade`): a change to the whole
	// database, the administrator's.
	DatabaseUpgrade Action = "database.upgrade"
)

// Permissions is the permission table: which roles may perform each write,
// and database.backup, the one read that takes the whole database away.
// The README prints it; a test checks every command against it.
var Permissions = map[Action][]Role{
	UserAdd:      {Admin},
	UserDisable:  {Admin},
	UserEnable:   {Admin},
	UserReset:    {Admin},
	UserRole:     {Admin},
	UserUnlock:   {Admin},
	SettingsSet:  {Admin},
	DonorAdd:     {Lab},
	PatientAdd:   {Admin, Physician, Nurse},
	PatientWeigh: {Physician, Nurse},
	LotRegister:  {Lab},
	LotImport:    {Lab},
	LotSplit:     {Lab},

	// Custody: the cell lab moves containers; at a clinic the nurse receives,
	// thaws, dispenses to the patient and returns an unused bag. Only the lab
	// stores, ships, discards or quarantines, and labels.
	SiteAdd:             {Lab},
	ZoneSet:             {Admin},
	ContainerStore:      {Lab},
	ContainerShip:       {Lab},
	ContainerReceive:    {Lab, Nurse},
	ContainerThaw:       {Lab, Nurse},
	ContainerDispense:   {Lab, Nurse},
	ContainerDiscard:    {Lab},
	ContainerReturn:     {Lab, Nurse},
	ContainerQuarantine: {Lab},
	LabelPrint:          {Lab},
	LabelApply:          {Lab},
	LabelVoid:           {Lab},
	// Release: the lab records QC results and donor screening; only QA
	// decides. An exceptional release is also co-signed by a physician,
	// checked by the store (release.Approval).
	ReleaseResult:   {Lab},
	DonorScreen:     {Lab},
	DonorScreenVoid: {QA},
	ReleaseApprove:  {QA},
	ReleaseReject:   {QA},
	ReleaseSpecAdd:  {QA},
	ProtocolAdd:     {Physician},
	ScheduleCreate:  {Physician},
	ScheduleChange:  {Physician},
	WeightConfirm:   {Physician},
	DoseAdminister:  {Nurse, Physician},
	DoseReaction:    {Nurse, Physician},
	// Whoever may register a patient or a donor may correct the record's
	// typing errors; the correction names them and their reason.
	PatientCorrect: {Admin, Physician, Nurse},
	DonorCorrect:   {Lab},
	// The checkpoint verifier key and a restore change what every later
	// verification trusts: the administrator's, as user accounts are.
	AuditKeyRegister: {Admin},
	AuditKeyRotate:   {Admin},
	DatabaseRestore:  {Admin},
	// A migration takes the whole database, every patient's records with
	// it, to another engine: the administrator's, as a restore is.
	DatabaseMigrate: {Admin},
	DatabaseUpgrade: {Admin},
	// A backup takes the whole database away in one file, password
	// hashes included: the administrator's, who keeps the backups, and
	// the auditor's, who takes the history home to check it offline
	// (issue 14). QA decides releases by reading — every record, report
	// and `audit verify` is open to every role —, and needs no copy of
	// everyone's password hashes for it.
	DatabaseBackup: {Admin, Auditor},
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

// AuthorizeRead says whether u may read the database: every role may, a
// disabled user may not (a disabled user can do nothing). Reads show patient
// data, so a regulated system must know who reads.
func AuthorizeRead(u User) error {
	if u.Disabled {
		return lot.Errorf(lot.EFORBIDDEN, "user %s is disabled and can do nothing, not even read; ask an admin", u.Name)
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

// clinicOnly are the actions a nurse may take only at a clinic: at the home
// site (the cell lab) containers are the lab's to handle.
var clinicOnly = map[Action]bool{ContainerReceive: true, ContainerThaw: true, ContainerDispense: true, ContainerReturn: true}

// AuthorizeAtSite returns EFORBIDDEN when a nurse attempts a custody action
// at the home site; everyone else, and a nurse at a clinic, is governed by the
// permission table alone (checked by Authorize before).
func AuthorizeAtSite(u User, a Action, site string, home bool) error {
	if u.Role == Nurse && clinicOnly[a] && home {
		return lot.Errorf(lot.EFORBIDDEN, "user %s has role nurse, who may %s only at a clinic; %s is the home site (the cell lab), where the lab does this", u.Name, a, site)
	}
	return nil
}
