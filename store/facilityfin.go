package store

import (
	"fmt"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// The facility's ISBT 128 FIN is meta "facility", one value outside the
// trail that every DIN issued and every release certificate reads. The
// value it is held against is the one the trail recorded: init's entry
// (entry 1, action "init") says "database created for facility FIN", as
// every celltrack has worded it since the first. There is no other audited
// record of it today (the facility record holds the time zone only): a
// new one would need a schema change.
const initFacilityWords = "database created for facility "

// auditedFacility is the FIN init's entry recorded, and whether the trail
// has such an entry to read it from.
func auditedFacility(tx kv.Tx) (string, bool) {
	e, err := audit.Decode(tx.Bucket(bAudit).Get(itob(1)))
	if err != nil || e.Action != "init" || !strings.HasPrefix(e.Reason, initFacilityWords) {
		return "", false // a broken entry 1 is the chain's problem, reported as such
	}
	fin, _, _ := strings.Cut(strings.TrimPrefix(e.Reason, initFacilityWords), " ")
	return fin, true
}

// facilityDiffers says, in words, how meta "facility" differs from the FIN
// init's entry recorded; "" when they agree or the trail records none.
func facilityDiffers(tx kv.Tx) string {
	fin := string(tx.Bucket(bMeta).Get([]byte("facility")))
	if rec, ok := auditedFacility(tx); ok && rec != fin {
		return fmt.Sprintf("the facility's FIN in the database settings (meta \"facility\") is %q, but the audit trail recorded %q when the database was created (entry 1): it was changed outside celltrack", fin, rec)
	}
	return ""
}

// verifyFacility is audit verify's check of the facility's FIN.
func verifyFacility(tx kv.Tx) []string {
	if d := facilityDiffers(tx); d != "" {
		return []string{d + "; DINs issued since may carry another facility's number"}
	}
	return nil
}

// refuseFacilityChanged refuses (ECONFLICT) to issue a DIN while the FIN it
// would carry is not the facility's the trail recorded: a DIN is unique
// worldwide by its FIN, and a label with another facility's collides with
// that facility's bags.
func refuseFacilityChanged(tx kv.Tx) error {
	if d := facilityDiffers(tx); d != "" {
		return lot.Errorf(lot.ECONFLICT, "%s; no DIN is issued with it (a DIN with another facility's number collides with that facility's bags), so nothing was registered — have an administrator verify the audit trail and restore a sound backup", d).Run("audit verify")
	}
	return nil
}
