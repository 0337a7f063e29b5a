package store

import (
	"bytes"
	"sync"

	"github.com/google/uuid"
)

// decodedCache keeps records the bedside check reads on every call and that
// are never rewritten once stored — a specification version, a protocol
// version, an audit entry — or seldom (a QC result, when it is voided),
// decoded: each entry holds the record's stored bytes with their decoded
// value, and get uses the value only for the same key and the same bytes,
// decoding anew otherwise. So a cache shared by every database the process
// opens (tests open many) answers as decoding would, even for a record
// changed under it by a restore or a raw tool. It is emptied when it holds
// max records.
type decodedCache[K comparable, T any] struct {
	decode func(K, []byte) (T, error) // its error says what failed
	clone  func(T) T                  // a copy the caller may change; nil: the value is shared
	max    int
	mu     sync.Mutex
	m      map[K]decodedValue[T]
}

type decodedValue[T any] struct {
	raw []byte
	val T
}

// maxDecoded bounds the caches of records by id: a database holds a few
// dozen specification and protocol versions.
const maxDecoded = 256

func newDecodedCache[T any](decode func(uuid.UUID, []byte) (T, error), clone func(T) T) *decodedCache[uuid.UUID, T] {
	return &decodedCache[uuid.UUID, T]{decode: decode, clone: clone, max: maxDecoded, m: map[uuid.UUID]decodedValue[T]{}}
}

// get returns record key, stored as v, decoded.
func (c *decodedCache[K, T]) get(key K, v []byte) (T, error) {
	c.mu.Lock()
	d, ok := c.m[key]
	c.mu.Unlock()
	if !ok || !bytes.Equal(d.raw, v) {
		val, err := c.decode(key, v)
		if err != nil {
			return val, err
		}
		d = decodedValue[T]{bytes.Clone(v), val}
		c.mu.Lock()
		if len(c.m) >= c.max {
			clear(c.m)
		}
		c.m[key] = d
		c.mu.Unlock()
	}
	if c.clone != nil {
		return c.clone(d.val), nil
	}
	return d.val, nil
}
