package audit

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
	"golang.org/x/mod/sumdb/note"
)

// The values of `audit verify` and of the signed checkpoints' keys, shared
// by the store that computes them and every front end that shows them (the
// command line, locally or through a server, and the server's API).

// Verification is the result of `audit verify`.
type Verification struct {
	Entries int
	Records int
	Head    [32]byte
	// Tree is the head of the audit tree, recomputed from the entries and
	// compared with every stored hash of the tree.
	Tree     Head
	Problems []string
}

// OK reports whether nothing was wrong.
func (v Verification) OK() bool { return len(v.Problems) == 0 }

// HeadHex returns the chain head hash in hex.
func (v Verification) HeadHex() string { return hex.EncodeToString(v.Head[:]) }

// MaxCheckpointBytes caps a kept checkpoint: a note of a tree head with a
// few signatures is a few hundred bytes, always under 4 KB. A file read as a
// checkpoint, and a checkpoint sent to a server, is refused above it.
const MaxCheckpointBytes = 4096

// KeptCheckpoint is a signed checkpoint to check: where it came from (a
// file name, for messages) and its bytes.
type KeptCheckpoint struct {
	Name string
	Note []byte
	// Printed, instead of Note, is an unsigned tree head typed from a
	// printed report, certificate or backup (ParseHead): it is checked for
	// consistency with today's trail only, and proves nothing about who
	// made it.
	Printed *Head
	// Unusable, instead of Note, says why an entry of a witness folder
	// that may be a checkpoint could not be read as one (a link to
	// nothing, not a regular file, too large): it fails like a checkpoint
	// the trail does not extend, so that nothing in a witness folder is
	// passed over silently.
	Unusable string
}

// CheckpointResult is what verification found of one kept checkpoint.
type CheckpointResult struct {
	Name    string
	Head    Head   // zero when the note could not be read
	Signer  string // the verifier key that verified it
	Problem string // empty when today's tree extends it
	// Mismatch is set when today's trail does not extend the checkpoint's
	// tree (not for a signature, facility or key-date problem).
	Mismatch bool
	// Ahead is set when the checkpoint is of a larger tree than the trail
	// has: the trail was cut back, or this file is older than the checkpoint.
	Ahead bool
	// RolledBack says, when the trail does not extend the checkpoint but a
	// `database.restore` entry of the trail records rolling back over it
	// (with --allow-rollback and a reason), which entry and why; the
	// checkpoint is then reported as rolled back, not as a problem.
	RolledBack string
}

// CheckpointVerification is `audit verify --checkpoint`: the whole verify,
// then every kept checkpoint.
type CheckpointVerification struct {
	Verification
	Checkpoints []CheckpointResult
	// FirstMismatch bounds the first tree size that no longer matches: the
	// smallest tree size of a checkpoint the trail does not extend (or of
	// the missing entries, for a trail shorter than a checkpoint) — an
	// upper bound, as a checkpoint's root alone cannot show which of its
	// entries changed. LastMatch is the largest tree size a checkpoint
	// still proves below it; what changed lies in between. Only tree
	// mismatches count (Mismatch), not a signature, facility or key-date
	// problem. Zero when none.
	FirstMismatch, LastMatch int64
}

// PinnedVerifier is a checkpoint verifier key given from outside the
// database (`--verifier-file FILE.pub`): a key record replaced inside the
// file cannot change what it verifies.
type PinnedVerifier struct {
	Source string // where it came from, for messages
	Key    string // the note verifier key
}

// CheckpointKey is a verifier key registered in the database.
type CheckpointKey struct {
	Verifier  string
	Name      string
	Hash      uint32
	Added     time.Time
	AddedBy   string
	Retired   *time.Time
	RetiredBy string
	Reason    string
	Signature *Signature
}

// ParseVerifier refuses a verifier key that is not in the note format
// (EINVALID naming field). A signing key given in its place is refused
// without being repeated: a signing key in a message is a key given away.
// A client of a server checks the key with it before anything is sent, so
// that a signing key typed by mistake never leaves the machine it is on.
func ParseVerifier(field, vkey string) (note.Verifier, error) {
	if strings.HasPrefix(vkey, "PRIVATE+KEY+") {
		return nil, lot.Errorf(lot.EINVALID, "%s holds a signing key (PRIVATE+KEY+…), not a verifier key; give the .pub file written beside it when the key pair was made, and keep the signing key secret", field)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, lot.Errorf(lot.EINVALID, "%s %q is not a verifier key (want name+hash+key, as printed when the key pair was made): %v", field, vkey, err)
	}
	return v, nil
}
