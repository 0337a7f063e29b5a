package dose

import (
	"github.com/celltrack/celltrack/audit"
	"github.com/google/uuid"
)

// WeightConfirmation is a physician's signed confirmation of a weight
// record (MeaningConfirmWeight), which lets a weight that changed more than
// WeightChangeConfirmTenths since the last one accepted for dosing be dosed
// on: the signature a dose then rests on, which a trace shows beside the
// weight used (review 17 D).
type WeightConfirmation struct {
	ID        uuid.UUID
	WeightID  uuid.UUID
	Reason    string
	Signature audit.Signature
}
