package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
)

// Signed checkpoints through a server: the verifier keys (`audit key
// register`, `rotate`, `list`) and `audit verify --checkpoint`. Only
// verifier keys and checkpoint notes travel: a signing key stays in its
// file on the machine that signs, and the client refuses one given as a
// verifier before anything is sent. The checkpoint files are read where
// the command runs, each bounded as a local run bounds it
// (audit.MaxCheckpointBytes), and their contents are checked by the server
// against its trail.

// MaxCheckpointsBytes is the body of POST /api/v1/svc/checkpoints/verification:
// the kept checkpoints of a witness folder, each under 4 KB. 16 MiB holds
// some 30,000 of them, a checkpoint an hour for more than three years.
const MaxCheckpointsBytes = 16 << 20

// maxCheckpointName bounds the name (a client's path) a kept checkpoint is
// sent with: PATH_MAX on Linux.
const maxCheckpointName = 4096

// RemoteCheckpoints is audit.Checkpoints over the API.
type RemoteCheckpoints struct{ c Caller }

var _ audit.Checkpoints = RemoteCheckpoints{}

// NewRemoteCheckpoints returns audit.Checkpoints on the server that c calls.
func NewRemoteCheckpoints(c Caller) RemoteCheckpoints { return RemoteCheckpoints{c} }

// KeyRequest is the body of POST /api/v1/svc/checkpoints/keys: a verifier
// key, never a signing key.
type KeyRequest struct {
	Verifier string
}

// KeyRotationRequest is the body of POST /api/v1/svc/checkpoints/keys/rotation:
// the new verifier key, the reason and the admin's password, which signs
// the rotation (the signing key is not needed to rotate).
type KeyRotationRequest struct {
	Verifier string
	Reason   string
	Password string
}

// CheckpointsRequest is the body of POST /api/v1/svc/checkpoints/verification:
// the kept checkpoints, read by the client, and the verifier keys it pins.
type CheckpointsRequest struct {
	Kept   []audit.KeptCheckpoint
	Pinned []audit.PinnedVerifier
}

func (r RemoteCheckpoints) RegisterCheckpointKey(_, verifier string) (audit.CheckpointKey, error) {
	// Checked here first: a signing key given by mistake never leaves
	// this machine. The server checks again.
	if _, err := audit.ParseVerifier("--verifier", verifier); err != nil {
		return audit.CheckpointKey{}, err
	}
	return remotePost[audit.CheckpointKey](r.c, "/checkpoints/keys", KeyRequest{verifier})
}

func (r RemoteCheckpoints) RotateCheckpointKey(_, password, verifier, reason string) (audit.CheckpointKey, error) {
	if _, err := audit.ParseVerifier("--verifier", verifier); err != nil {
		return audit.CheckpointKey{}, err
	}
	return remotePost[audit.CheckpointKey](r.c, "/checkpoints/keys/rotation", KeyRotationRequest{verifier, reason, password})
}

func (r RemoteCheckpoints) CheckpointKeys() ([]audit.CheckpointKey, error) {
	return remoteGet[[]audit.CheckpointKey](r.c, "/checkpoints/keys")
}

// VerifyCheckpointsPinned asks the server for the verification: ctx is
// looked at before the request is sent (the server's own request context
// bounds its verify).
func (r RemoteCheckpoints) VerifyCheckpointsPinned(ctx context.Context, kept []audit.KeptCheckpoint, pinned []audit.PinnedVerifier) (audit.CheckpointVerification, error) {
	if err := ctx.Err(); err != nil {
		return audit.CheckpointVerification{}, err
	}
	req := CheckpointsRequest{kept, pinned}
	if err := req.check(); err != nil {
		return audit.CheckpointVerification{}, err
	}
	for _, p := range pinned {
		if strings.HasPrefix(strings.TrimSpace(p.Key), "PRIVATE+KEY+") {
			return audit.CheckpointVerification{}, lot.Errorf(lot.EINVALID, "--verifier-file %s holds a signing key, not a verifier key; give %s.pub, the file `celltrack audit key init` wrote beside it", p.Source, p.Source)
		}
	}
	if b, err := json.Marshal(req); err == nil && len(b) > MaxCheckpointsBytes {
		return audit.CheckpointVerification{}, lot.Errorf(lot.EUSAGE, "the %d checkpoints given make %d bytes, more than a server takes in one verification (%d bytes); verify them in parts, giving fewer --checkpoint files or folders to each run",
			len(kept), len(b), MaxCheckpointsBytes)
	}
	return remotePost[audit.CheckpointVerification](r.c, "/checkpoints/verification", req)
}

// check bounds what a client sends as a local run bounds what it reads:
// each checkpoint note at most audit.MaxCheckpointBytes, each name a path.
func (q CheckpointsRequest) check() error {
	for _, k := range q.Kept {
		name := k.Name
		if len(name) > maxCheckpointName {
			return lot.Errorf(lot.EINVALID, "a checkpoint name is longer than %d bytes (it begins %q); give the path of a checkpoint file", maxCheckpointName, name[:64])
		}
		if len(k.Note) > audit.MaxCheckpointBytes || len(k.Unusable) > audit.MaxCheckpointBytes {
			return lot.Errorf(lot.EINVALID, "checkpoint %s is larger than %d bytes (a checkpoint note is under 4 KB); give a checkpoint file", name, audit.MaxCheckpointBytes)
		}
		if k.Printed != nil && len(k.Note) > 0 {
			return lot.Errorf(lot.EINVALID, "checkpoint %s is both a signed note and a printed tree head; send each on its own", name)
		}
	}
	for _, p := range q.Pinned {
		if len(p.Source) > maxCheckpointName || len(p.Key) > audit.MaxCheckpointBytes {
			return lot.Errorf(lot.EINVALID, "a pinned verifier key or its file name is longer than %d bytes; give the .pub file `celltrack audit key init` wrote", audit.MaxCheckpointBytes)
		}
	}
	return nil
}

func (s *Server) checkpointRoutes() []svcRoute {
	p := svcPrefix
	CK := func() (audit.Checkpoints, error) {
		if s.cfg.Checkpoints == nil {
			return nil, lot.Errorf(lot.EINTERNAL, "this server does not serve signed checkpoints")
		}
		return s.cfg.Checkpoints, nil
	}
	return []svcRoute{
		{"GET " + p + "/checkpoints/keys", "audit.Checkpoints CheckpointKeys: the checkpoint verifier keys, active and retired, oldest first",
			readCall(s, func(r *http.Request) ([]audit.CheckpointKey, error) {
				ck, err := CK()
				if err != nil {
					return nil, err
				}
				ks, err := ck.CheckpointKeys()
				if ks == nil {
					ks = []audit.CheckpointKey{}
				}
				return ks, err
			})},
		{"POST " + p + "/checkpoints/keys", "audit.Checkpoints RegisterCheckpointKey: record the first checkpoint verifier key (admin); body: KeyRequest, a verifier key only",
			writeCall(s, func(u audit.User, r *http.Request, q KeyRequest) (audit.CheckpointKey, error) {
				ck, err := CK()
				if err != nil {
					return audit.CheckpointKey{}, err
				}
				return ck.RegisterCheckpointKey(u.Name, q.Verifier)
			})},
		{"POST " + p + "/checkpoints/keys/rotation", "audit.Checkpoints RotateCheckpointKey: replace the verifier key, signed with the admin's password and a reason (admin)",
			writeCall(s, func(u audit.User, r *http.Request, q KeyRotationRequest) (audit.CheckpointKey, error) {
				ck, err := CK()
				if err != nil {
					return audit.CheckpointKey{}, err
				}
				return ck.RotateCheckpointKey(u.Name, q.Password, q.Verifier, q.Reason)
			})},
		{"POST " + p + "/checkpoints/verification", fmt.Sprintf("audit.Checkpoints VerifyCheckpointsPinned: `audit verify --checkpoint`: the whole verify, then each kept checkpoint the client read (each at most %d bytes, the body at most %d) against this trail; it writes nothing", audit.MaxCheckpointBytes, MaxCheckpointsBytes),
			writeCall(s, func(u audit.User, r *http.Request, q CheckpointsRequest) (audit.CheckpointVerification, error) {
				if err := audit.AuthorizeRead(u); err != nil {
					return audit.CheckpointVerification{}, err
				}
				ck, err := CK()
				if err != nil {
					return audit.CheckpointVerification{}, err
				}
				if err := q.check(); err != nil {
					return audit.CheckpointVerification{}, err
				}
				return ck.VerifyCheckpointsPinned(r.Context(), q.Kept, q.Pinned)
			})},
	}
}
