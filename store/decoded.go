package store

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// decodedCache keeps records the bedside check reads on every call decoded
// — a specification or protocol version and an audit entry, never
// rewritten once stored; a QC result, rewritten when it is voided; the
// patient, the bag and its lot (keptRecords), rewritten now and then:
// each entry holds the record's stored bytes with their decoded value, and
// get uses the value only for the same key and the same bytes, decoding
// anew otherwise. So a cache shared by every database the process opens
// (tests open many) answers as decoding would, even for a record changed
// under it by a restore or a raw tool. It is emptied when it holds max
// records.
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

// maxKept bounds the caches of records the bedside check reads by id
// (keptRecords), as checkedEntries is bounded: the records of a few hundred
// checks.
const maxKept = 4096

// keptRecords is a decodedCache of the stored records of one kind, decoded
// as get decodes them; clone, when the record holds slices, copies them, so
// that a caller appending to or changing one leaves the kept value alone.
func keptRecords[R any](kind string, clone func(R) R) *decodedCache[uuid.UUID, R] {
	return &decodedCache[uuid.UUID, R]{decode: func(id uuid.UUID, v []byte) (R, error) {
		var r R
		if err := unmarshalRecord(v, &r); err != nil {
			return r, fmt.Errorf("decode %s %s: %w", kind, id, err)
		}
		return r, nil
	}, clone: clone, max: maxKept, m: map[uuid.UUID]decodedValue[R]{}}
}

// getKept is get through kept: record id of kind, false when it is absent.
func getKept[R any](tx kv.Tx, kind string, id uuid.UUID, kept *decodedCache[uuid.UUID, R]) (r R, found bool, err error) {
	v := tx.Bucket(recordBuckets[kind]).Get(id[:])
	if v == nil {
		return r, false, nil
	}
	if r, err = kept.get(id, v); err != nil {
		return r, false, err
	}
	return r, true, nil
}

// The records every bedside check reads by id besides specifications and
// protocols (which keep their own): the patient, the course, the weights,
// the bag and its lot, the facility's time zone.
var (
	keptPatients = keptRecords(kindPatient, func(r patientRecord) patientRecord {
		r.FormerMRNs, r.Corrections = slices.Clone(r.FormerMRNs), slices.Clone(r.Corrections)
		for i := range r.Corrections {
			r.Corrections[i].Changes = slices.Clone(r.Corrections[i].Changes)
		}
		return r
	})
	keptSchedules  = keptRecords[scheduleRecord](kindSchedule, nil) // schedule() copies its lists
	keptWeights    = keptRecords[weightRecord](kindWeight, nil)
	keptContainers = keptRecords[containerRecord](kindContainer, nil)
	keptLots       = keptRecords[lotRecord](kindLot, nil)
	keptFacility   = keptRecords[facilityRecord](kindFacility, nil)
)
