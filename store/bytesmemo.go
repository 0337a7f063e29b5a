package store

import (
	"fmt"
	"sync"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// bytesMemo keeps values decoded from stored bytes, keyed by the bytes
// themselves. A decode is a function of the bytes alone, so the value kept
// for the same bytes is the value decoding them again would give: the
// bytes are still read from the database in the caller's transaction every
// time, and a record changed in any way (a session revoked, a user locked
// or disabled, a setting changed, or an edit with a raw tool) is new bytes
// and is decoded anew. What it saves is encoding/json on every request of
// a server for the few records every request reads: its session, its user
// and the facility's settings (web's session check). A failed decode is not
// kept. It is emptied when it holds maxMemo values.
type bytesMemo[T any] struct {
	decode func([]byte) (T, error)
	mu     sync.Mutex
	m      map[string]T
}

// maxMemo bounds each memo: about a day of sessions of a busy facility, a
// few hundred bytes each.
const maxMemo = 4096

func newBytesMemo[T any](decode func([]byte) (T, error)) *bytesMemo[T] {
	return &bytesMemo[T]{decode: decode, m: map[string]T{}}
}

// get returns v decoded. The value is shared: the caller must not change
// what its slices or pointers refer to.
func (c *bytesMemo[T]) get(v []byte) (T, error) {
	c.mu.Lock()
	val, ok := c.m[string(v)]
	c.mu.Unlock()
	if ok {
		return val, nil
	}
	val, err := c.decode(v)
	if err != nil {
		return val, err
	}
	c.mu.Lock()
	if len(c.m) >= maxMemo {
		clear(c.m)
	}
	c.m[string(v)] = val
	c.mu.Unlock()
	return val, nil
}

var (
	decodedSessions = newBytesMemo(func(v []byte) (s sessionRecord, err error) {
		if err := unmarshalRecord(v, &s); err != nil {
			return s, fmt.Errorf("decode session: %w", err)
		}
		return s, nil
	})
	decodedUsers = newBytesMemo(func(v []byte) (r userRecord, err error) {
		err = unmarshalRecord(v, &r)
		return r, err
	})
	decodedSettings = newBytesMemo(func(v []byte) (r settingsRecord, err error) {
		err = unmarshalRecord(v, &r)
		return r, err
	})
)

// userByID reads user record id through decodedUsers, as get does: false
// when it is not stored, get's error when it does not decode. The role
// grant is copied, so the caller may keep or change the user.
func userByID(tx kv.Tx, id uuid.UUID) (audit.User, bool, error) {
	v := tx.Bucket(recordBuckets[kindUser]).Get(id[:])
	if v == nil {
		return audit.User{}, false, nil
	}
	r, err := decodedUsers.get(v)
	if err != nil {
		return audit.User{}, false, fmt.Errorf("decode %s %s: %w", kindUser, id, err)
	}
	u := r.user()
	if u.RoleGrant != nil {
		g := *u.RoleGrant
		u.RoleGrant = &g
	}
	return u, true, nil
}
