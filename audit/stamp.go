package audit

import (
	"time"

	"github.com/google/uuid"
)

// Record kinds as audit entries name them (Entry.Entity): a report names the
// records it shows by kind and id (Ref), so that the store can check each
// against its latest entry.
const (
	EntityUser        = "user"
	EntityDonor       = "donor"
	EntityPatient     = "patient"
	EntityLot         = "lot"
	EntityContainer   = "container"
	EntityEvent       = "event"
	EntityLabel       = "label"
	EntityScreening   = "screening"
	EntityDisposition = "disposition"
	EntityProtocol    = "protocol"
	EntitySchedule    = "schedule"
	EntityInfusion    = "infusion"
	EntityReaction    = "reaction"
	EntityWeight      = "weight"
	// EntityWeightConfirmation is a physician's confirmation of a weight.
	EntityWeightConfirmation = "weight_confirmation"
)

// Ref is one record a report shows: its kind (an Entity name) and id.
type Ref struct {
	Kind string
	ID   uuid.UUID
}

// Stamp is the state of the audit trail a report was produced against, as
// the store found it in the same read snapshot as the report's records: the
// facts a report's provenance block prints. Scoped is false for the whole of
// `audit verify` (every entry and record); true for a report-scoped
// verification, which checked the report's own records (Records of them)
// against their latest entries and the chain from entry ChainFrom — the
// head of the last full verification, made at FullVerifyAt — to the head.
type Stamp struct {
	Head     string // hex SHA-256 of the last audit entry
	Entries  int    // the head's sequence number
	Tree     string // the Merkle tree head (size and root); "" for an empty tree
	Problems []string
	Scoped   bool
	// Records, ChainFrom and FullVerifyAt are set when Scoped.
	Records      int
	ChainFrom    uint64
	FullVerifyAt time.Time
}

// OK reports whether the verification found nothing wrong.
func (s Stamp) OK() bool { return len(s.Problems) == 0 }

// AccessRow is one account in the periodic user-access review, with what
// the audit trail says of it.
type AccessRow struct {
	User        User
	RoleChanges []RoleChange
	Failures    int // refused passwords in the whole trail, those while locked included
	WhileLocked int // of Failures, those typed while the account was locked
	Locks       int
	Logins      int
}

// RoleChange is one change of an account's role.
type RoleChange struct {
	At       time.Time
	By       string
	From, To Role
	Reason   string
}
