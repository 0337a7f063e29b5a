package lot

import (
	"time"

	"github.com/google/uuid"
)

// Event is one step of a container's chain of custody: who moved it into
// which state, when, where, and from which custodian to which. Events are
// appended, never changed; a container's State is the To of its last event.
// The custody capability (issue 5) defines the allowed moves; the fields here
// are the contract that custody, dosing and the traceability reports share.
type Event struct {
	ID          uuid.UUID
	ContainerID uuid.UUID
	LotID       uuid.UUID
	From, To    ContainerState
	At          time.Time         // UTC
	By          string            // the user who recorded it
	Site        string            // where it happened (site id)
	Location    string            // freezer and position, when stored
	Custodian   string            // who holds the container after this event
	PatientID   uuid.UUID         // dispensed to / infused into (zero otherwise)
	Reason      string            // discard, return or quarantine reason
	Details     map[string]string // move-specific data: courier, condition, excursion, viability …
}
