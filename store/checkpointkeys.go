package store

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
)

// A signed checkpoint is verified with a verifier key (golang.org/x/mod/sumdb/note
// format: name+hash+key). The database holds only verifier keys, never the
// signing key, which stays in a file the administrator keeps (0600) or on
// the server that writes checkpoints. An administrator registers the first
// one; it is replaced only by a rotation the administrator signs with their
// password and a reason. A rotated key is kept, retired, so that
// checkpoints signed before the rotation still verify — and a checkpoint
// dated after its key was retired does not. Each key is an audited record:
// registration and rotation stay in the trail.

const kindCheckpointKey = "checkpoint_key"

type checkpointKeyRecord struct {
	V        int       `json:"v"`
	ID       uuid.UUID `json:"id"`
	Verifier string    `json:"verifier"` // the note verifier key
	Added    time.Time `json:"added"`
	AddedBy  string    `json:"added_by"`
	// Retired is set when a rotation replaced the key.
	Retired   *time.Time       `json:"retired,omitempty"`
	RetiredBy string           `json:"retired_by,omitempty"`
	Reason    string           `json:"reason,omitempty"` // why it was replaced
	Signature *audit.Signature `json:"signature,omitempty"`
	// Replaces is the key this one replaced, with the rotation's signature.
	Replaces string `json:"replaces,omitempty"`
}

// CheckpointKey is a verifier key registered in the database
// (audit.CheckpointKey).
type CheckpointKey = audit.CheckpointKey

// The database is the service of signed checkpoints' keys and of checking
// kept checkpoints; a server serves it to its clients.
var _ audit.Checkpoints = (*DB)(nil)

func (r checkpointKeyRecord) key() CheckpointKey {
	k := CheckpointKey{Verifier: r.Verifier, Added: r.Added, AddedBy: r.AddedBy, Retired: r.Retired, RetiredBy: r.RetiredBy, Reason: r.Reason, Signature: r.Signature}
	if v, err := note.NewVerifier(r.Verifier); err == nil {
		k.Name, k.Hash = v.Name(), v.KeyHash()
	}
	return k
}

// rotationDigest is what the administrator signs to rotate the key: the old
// verifier key, the new one and the reason.
func rotationDigest(old, new, reason string) [32]byte {
	payload, _ := json.Marshal(struct{ Old, New, Reason string }{old, new, reason})
	return sha256.Sum256(payload)
}

func checkpointKeys(tx kv.Tx) ([]checkpointKeyRecord, error) {
	var out []checkpointKeyRecord
	err := tx.Bucket(recordBuckets[kindCheckpointKey]).ForEach(func(k, v []byte) error {
		var r checkpointKeyRecord
		if err := unmarshalRecord(v, &r); err != nil {
			return fmt.Errorf("decode checkpoint key %x: %w", k, err)
		}
		out = append(out, r)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Added.Before(out[j].Added) })
	return out, err
}

func activeKey(keys []checkpointKeyRecord) (checkpointKeyRecord, bool) {
	for _, k := range keys {
		if k.Retired == nil {
			return k, true
		}
	}
	return checkpointKeyRecord{}, false
}

// RegisterCheckpointKey records vkey as the verifier key of the database's
// signed checkpoints (admin only). It is refused with ECONFLICT when a key is
// already registered: a key is replaced only by RotateCheckpointKey.
func (db *DB) RegisterCheckpointKey(actor, vkey string) (CheckpointKey, error) {
	if _, err := audit.ParseVerifier("the key", vkey); err != nil {
		return CheckpointKey{}, lot.OnField("verifier", err)
	}
	var out CheckpointKey
	err := db.update(actor, audit.AuditKeyRegister, func(w *writer) error {
		keys, err := checkpointKeys(w.tx)
		if err != nil {
			return err
		}
		if k, ok := activeKey(keys); ok {
			return lot.Errorf(lot.ECONFLICT, "a checkpoint verifier key is already registered (%s, by %s at %s); an admin replaces it instead (a key rotation), signed with a reason", k.Verifier, k.AddedBy, lot.FormatTime(k.Added)).Run("audit key rotate")
		}
		r := checkpointKeyRecord{V: 1, ID: w.db.NewID(), Verifier: vkey, Added: w.now, AddedBy: w.actor.Name}
		out = r.key()
		return w.put(kindCheckpointKey, r.ID, "audit.key.register", "", r)
	})
	return out, err
}

// MeaningRotateKey is the meaning of the administrator's signature on a key
// rotation.
const MeaningRotateKey = "rotated the checkpoint key"

// RotateCheckpointKey retires the active verifier key and registers vkey in
// its place, in one transaction, signed by the administrator with their
// password and a reason. The retired key is kept so that older checkpoints
// still verify.
func (db *DB) RotateCheckpointKey(actor, password, vkey, reason string) (CheckpointKey, error) {
	if _, err := audit.ParseVerifier("the key", vkey); err != nil {
		return CheckpointKey{}, lot.OnField("verifier", err)
	}
	if err := lot.OnField("reason", lot.ValidateText("the reason", reason, true)); err != nil {
		return CheckpointKey{}, err
	}
	u, err := db.User(actor)
	if err != nil {
		return CheckpointKey{}, err
	}
	if err := audit.Authorize(u, audit.AuditKeyRotate); err != nil {
		return CheckpointKey{}, err
	}
	// The rotation is the administrator's own signature, as a role grant
	// is (grantSignature): audit.AuthorizeSign keeps admins from signing
	// records, not from signing their own administrative acts.
	if u, err = db.signPassword(u, password, "signature.refused", "wrong password for signature: "+MeaningRotateKey); err != nil {
		return CheckpointKey{}, err
	}
	var out CheckpointKey
	err = db.update(actor, audit.AuditKeyRotate, func(w *writer) error {
		if err := stillProven(w.actor, u, "signature.refused"); err != nil {
			return err
		}
		keys, err := checkpointKeys(w.tx)
		if err != nil {
			return err
		}
		old, ok := activeKey(keys)
		if !ok {
			return lot.Errorf(lot.ECONFLICT, "no checkpoint verifier key is registered yet, so there is none to replace; register the first").Run("audit key register")
		}
		for _, k := range keys {
			if k.Verifier == vkey {
				return lot.FieldErrorf("verifier-key", lot.ECONFLICT, "the verifier key %s is already registered (added %s); a rotation needs a new key pair", vkey, lot.FormatTime(k.Added))
			}
		}
		if err := checkIntact(w.tx, recordRef{kindCheckpointKey, old.ID}); err != nil {
			return err
		}
		sig := w.sign(w.actor, MeaningRotateKey, rotationDigest(old.Verifier, vkey, reason))
		now := w.now
		old.Retired, old.RetiredBy, old.Reason, old.Signature = &now, w.actor.Name, reason, &sig
		if err := w.put(kindCheckpointKey, old.ID, "audit.key.retire", reason, old); err != nil {
			return err
		}
		r := checkpointKeyRecord{V: 1, ID: w.db.NewID(), Verifier: vkey, Added: w.now, AddedBy: w.actor.Name, Replaces: old.Verifier}
		out = r.key()
		return w.put(kindCheckpointKey, r.ID, "audit.key.rotate", reason, r)
	})
	return out, err
}

// CheckpointKeys lists the registered verifier keys, oldest first.
func (db *DB) CheckpointKeys() ([]CheckpointKey, error) {
	var out []CheckpointKey
	err := db.view(func(tx kv.Tx) error {
		keys, err := checkpointKeys(tx)
		for _, k := range keys {
			out = append(out, k.key())
		}
		return err
	})
	return out, err
}

// verifyCheckpointKeys checks what `audit verify` must of the keys: at most
// one active key, and each rotation's signature bound to the keys and reason
// it names.
func verifyCheckpointKeys(tx kv.Tx) []string {
	keys, err := checkpointKeys(tx)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	active := 0
	next := map[string]string{} // old verifier → the one that replaced it
	for _, k := range keys {
		if k.Replaces != "" {
			next[k.Replaces] = k.Verifier
		}
	}
	for _, k := range keys {
		if k.Retired == nil {
			active++
			continue
		}
		if k.Signature == nil || k.Signature.Signed != rotationDigest(k.Verifier, next[k.Verifier], k.Reason) {
			problems = append(problems, fmt.Sprintf("checkpoint key %s was retired without a signature bound to its rotation: it was changed outside celltrack", k.Verifier))
		}
	}
	if active > 1 {
		problems = append(problems, fmt.Sprintf("%d checkpoint keys are active; only one can be: a key was added outside celltrack", active))
	}
	return problems
}
