package lot

import (
	"time"

	"github.com/google/uuid"
)

// StorageCondition is printed on every container label. Cryopreserved MSC
// products are kept in the vapour phase of liquid nitrogen at or below
// -150 °C (FACT-JACIE Standards, labelling of cryopreserved cellular
// therapy products: the storage temperature must appear on the label).
const StorageCondition = "Store at or below -150 °C, vapour phase of LN2"

// AutologousWarning is printed on every autologous lot's label (FACT-JACIE).
const AutologousWarning = "FOR AUTOLOGOUS USE ONLY"

// LabelSet is what a label print needs: the lot, its containers to label, the
// source patient of an autologous lot (nil otherwise) and, for a lot released
// exceptionally, the one patient it is restricted to (nil otherwise).
type LabelSet struct {
	Lot          Lot
	Containers   []Container
	Patient      *Patient
	RestrictedTo *Patient
}

// ExceptionalWarning is printed on every label of a lot released
// exceptionally under medical necessity: the bag may go to one patient only.
func ExceptionalWarning(p Patient) string {
	return "EXCEPTIONAL RELEASE — ONLY FOR MRN " + p.MRN
}

// BarcodeData is the ISBT 128 data content encoded in a container's Code 128
// barcode: "=" (the DIN data identifier), the 13-character DIN and the
// 2-character flag, which celltrack uses for the container number.
func BarcodeData(c Container) string { return "=" + ContainerCode(c.DIN, c.Number) }

// LabelCount is the label reconciliation of one container (FACT-JACIE asks
// that printed labels be accounted for): every printed label is applied,
// voided, or still unused.
type LabelCount struct {
	// ID is the container's label record's, which its label entries in
	// the audit trail are about (audit.SeenField reads them by it);
	// uuid.Nil before its first label is printed.
	ID          uuid.UUID
	ContainerID uuid.UUID
	LotID       uuid.UUID
	Printed     int
	Applied     int
	Voided      int
}

// Unused is how many printed labels are neither applied nor voided.
func (n LabelCount) Unused() int { return n.Printed - n.Applied - n.Voided }

// Add sums counts, for a lot's totals.
func (n LabelCount) Add(m LabelCount) LabelCount {
	n.Printed, n.Applied, n.Voided = n.Printed+m.Printed, n.Applied+m.Applied, n.Voided+m.Voided
	return n
}

// LabelStep is one step of a container's label history, from the audit
// entry that recorded it: a print, an application or a void, by whom, why,
// and the container's counts after it. Action is the audit action
// ("label.print", …).
type LabelStep struct {
	At     time.Time
	Action string
	By     string
	Reason string
	After  LabelCount
}

// CheckApply refuses applying a label to container c unless a printed label
// is unused and the container carries none yet: one container, one label.
func CheckApply(c Container, n LabelCount) error {
	if n.Applied > 0 {
		return Errorf(ECONFLICT, "container %s already carries its label; a container carries exactly one label", c.Label())
	}
	if n.Unused() < 1 {
		return Errorf(ECONFLICT, "container %s has no unused printed label (printed %d, applied %d, voided %d); print one",
			c.Label(), n.Printed, n.Applied, n.Voided).Run("label print " + c.Code())
	}
	return nil
}

// CheckVoid refuses voiding a label of container c unless a printed label is
// unused: an applied label stays accounted for as applied.
func CheckVoid(c Container, n LabelCount, reason string) error {
	if err := ValidateText("the reason", reason, true); err != nil {
		return OnField("reason", err)
	}
	if n.Unused() < 1 {
		return Errorf(ECONFLICT, "container %s has no unused printed label to void (printed %d, applied %d, voided %d)",
			c.Label(), n.Printed, n.Applied, n.Voided)
	}
	return nil
}

// CheckLabel refuses printing a label for a container that has left the
// chain: an infused or discarded container needs none.
func CheckLabel(c Container) error {
	if c.State == Infused || c.State == Discarded {
		return Errorf(ECONFLICT, "container %s is %s; it needs no label", c.Label(), c.State)
	}
	return nil
}

// LabelService prints, applies and voids container labels and reconciles
// them per lot. ref is a lot (number, DIN, UUID) or a container (code, UUID).
// Print passes the label set to render inside the transaction that counts the
// labels, so a failed render counts nothing. seen, when not nil, is the
// state of the labels the form was shown with (audit.SeenField: of a lot,
// the last audit entry of the lot, its containers and their labels; of a
// container, of it and its labels): the write is refused (ECONFLICT on
// "seen") once they have changed since. Writes return EFORBIDDEN,
// ECONFLICT, EINVALID or ENOTFOUND.
type LabelService interface {
	Print(actor, ref string, seen *uint64, render func(LabelSet) error) (LabelSet, error)
	Apply(actor, containerRef string, seen *uint64) (LabelCount, error)
	Void(actor, containerRef, reason string, seen *uint64) (LabelCount, error)
	Reconcile(lotRef string) (Lot, []Container, []LabelCount, error)
}
