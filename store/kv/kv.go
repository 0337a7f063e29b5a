// Package kv is the storage seam beneath celltrack's store: ordered,
// transactional buckets of byte keys and values, the shape of the key schema
// (README "Key schema"). Package store holds every rule — permissions, facts,
// the audit chain and its Merkle tree, indexes, verification — once, over
// these interfaces; an engine implements them: the embedded bbolt file
// (package boltkv) or a PostgreSQL database (package pgkv).
//
// The model is bbolt's, because store was written against it:
//   - one writer at a time: an engine serialises write transactions, so a
//     read-then-write inside Update sees a state no other writer changes;
//   - a read transaction sees one consistent snapshot;
//   - keys sort bytewise (bytes.Compare) in every bucket and cursor;
//   - a value returned by Get or a cursor is valid until the transaction
//     ends, and must not be modified;
//   - reads do not return errors. A read that cannot be answered (a damaged
//     page, a lost connection) panics with a value that wraps the cause as
//     an error; store recovers it where the transaction began and returns
//     it (an *Error from an engine is passed on with its Busy flag).
package kv

import (
	"context"
	"fmt"
)

// Engine is an open database.
type Engine interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// ViewContext is View for a read that may be long (a report's walk of
	// the whole trail, a download): once ctx is done, the transaction's
	// reads end it — within CheckEvery reads (Gets and cursor moves), or
	// a read across the network at once — by panicking, as a read that
	// cannot be answered does, with an *Error whose Err is ctx's error.
	// Checking costs a count per read and nothing to View.
	ViewContext(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a write transaction, committed when fn returns nil
	// and rolled back otherwise.
	Update(fn func(Tx) error) error
	// Batch is Update whose transaction may be shared with other
	// goroutines' concurrent Batch calls, and whose fn may then run more
	// than once (bbolt's DB.Batch). An engine without group commit runs
	// Update.
	Batch(fn func(Tx) error) error
	// Close releases the database.
	Close() error
	// Describe names the database for people (a file path, or a URL
	// without its password).
	Describe() string
}

// CheckEvery is how many reads of a ViewContext transaction an engine may
// make between two looks at its context: a look is cheap, but not free
// beside a bbolt Get, and a thousand reads take a millisecond or so.
const CheckEvery = 1024

// Tx is one transaction.
type Tx interface {
	// Bucket returns the bucket named name, or nil when there is none.
	Bucket(name []byte) Bucket
	// CreateBucket makes a new bucket; it is an error if one exists.
	CreateBucket(name []byte) (Bucket, error)
	// CreateBucketIfNotExists returns the bucket, made if missing.
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	// DeleteBucket removes a bucket and everything in it.
	DeleteBucket(name []byte) error
	// Writable says whether this is a write transaction.
	Writable() bool
}

// Bucket is an ordered map from keys to values.
type Bucket interface {
	// Get returns the value of key, or nil when there is none.
	Get(key []byte) []byte
	// Put sets the value of key. Neither may be changed until the
	// transaction ends.
	Put(key, value []byte) error
	// Delete removes key; removing a missing key is not an error.
	Delete(key []byte) error
	// Cursor returns a cursor over the bucket, in key order.
	Cursor() Cursor
	// ForEach calls fn for each key in order, stopping at its first error.
	ForEach(fn func(k, v []byte) error) error
	// KeyN is the number of keys.
	KeyN() int
	// SetFillPercent hints that keys arrive mostly in order (an engine
	// with pages may fill them fuller); others ignore it.
	SetFillPercent(f float64)
}

// Prefetcher is a Bucket that can read many keys at once, ahead of the Gets
// that will ask for them: an engine across a network (pgkv), where each Get
// it cannot answer from what it holds is a round trip to the server. The
// Gets that follow answer exactly as without it.
type Prefetcher interface {
	Prefetch(keys ...[]byte)
}

// Prefetch tells b that its keys are about to be read with Get; an engine
// for which a Get costs no round trip (bbolt) has nothing to do.
func Prefetch(b Bucket, keys ...[]byte) {
	if p, ok := b.(Prefetcher); ok {
		p.Prefetch(keys...)
	}
}

// Cursor walks a bucket in key order. Each move returns the key and value it
// lands on, or nil keys past either end.
type Cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
	// Seek moves to the first key ≥ seek.
	Seek(seek []byte) (k, v []byte)
	// Delete removes the key the cursor is on.
	Delete() error
}

// Error is an engine's failure to read or write, carried by a read's panic or
// returned by a transaction.
type Error struct {
	// Busy says the transaction could not run because of others (a lock
	// not granted in time, a serialization failure retried until the
	// engine gave up): trying again later may succeed.
	Busy bool
	// Unavailable says the database could not be reached, or the
	// connection to it was lost (a database server restarting, a network
	// gone): trying again once it is back may succeed. Nothing was
	// written, unless InDoubt.
	Unavailable bool
	// InDoubt says the connection was lost while COMMIT was under way: the
	// transaction may or may not be in the database.
	InDoubt bool
	Op      string
	Err     error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Mismatch is a column an engine keeps beside a stored value, computed from
// it when the pair is written, that holds other than the value gives: it
// was written outside the engine (pgkv's columns people query, written by
// celltrack with each row, edited by a DBA's UPDATE).
type Mismatch struct {
	// Table and Column name the column where the engine keeps it;
	// Bucket and Key the pair whose row it is in.
	Table, Column string
	Bucket        string
	Key           []byte
	// FromKey says the column derives from the key, not the value.
	FromKey bool
	// Found is what the column holds, Want what the pair gives, as the
	// engine writes them out; nil is none (SQL's NULL).
	Found, Want *string
	// Unreadable, when not empty, says why the engine could not compute
	// the row's columns from its value at all (Column, Found and Want are
	// then empty): a value celltrack did not write.
	Unreadable string
}

// ColumnChecker is a Tx whose engine keeps columns derived from the pairs
// (pgkv). StartColumnCheck starts comparing every such column of every
// row, as the transaction sees them, with what its pair gives, and returns
// a function that waits for those that differ (called again, it returns
// the same). It must be called before the transaction ends; the check may
// run beside the caller's reads.
type ColumnChecker interface {
	StartColumnCheck() func() ([]Mismatch, error)
}

// DerivedReader is a Tx whose engine reads some buckets from the columns
// of a record bucket instead of storing their pairs (pgkv: the lot index
// buckets are views over lots, which refuse every write). Such a bucket
// cannot be edited apart from its source: it differs from what the records
// give only where a column of the source does, which ColumnChecker names.
type DerivedReader interface {
	Derived(bucket string) bool
}

// SeekPrefetcher is a Bucket that can read at once what cursor Seeks to
// many keys will land on: an engine across a network (pgkv), where each
// Seek it cannot answer from what it holds is a round trip. For each key it
// reads up to below pairs before the key and up to from pairs from the key
// on; a Seek to the key in the same transaction, and Prevs and Nexts within
// those pairs, are then answered from them, exactly as without it.
type SeekPrefetcher interface {
	PrefetchSeeks(below, from int, keys ...[]byte)
}

// PrefetchSeeks tells b that cursors are about to Seek to keys and move
// within below pairs before and from pairs from each; an engine for which a
// Seek costs no round trip (bbolt) has nothing to do. It says whether b
// read ahead.
func PrefetchSeeks(b Bucket, below, from int, keys ...[]byte) bool {
	p, ok := b.(SeekPrefetcher)
	if ok {
		p.PrefetchSeeks(below, from, keys...)
	}
	return ok
}

// BucketKey is a key of a bucket.
type BucketKey struct{ Bucket, Key []byte }

// KeysPrefetcher is a Tx that can read keys of several buckets at once: an
// engine across a network (pgkv) reads them in one round trip, where each
// Get would be one. The Gets that follow answer exactly as without it.
type KeysPrefetcher interface {
	PrefetchKeys(keys ...BucketKey)
}

// PrefetchKeys tells tx that keys are about to be read with Get; a key of a
// bucket that does not exist is left out. An engine for which a Get costs
// no round trip (bbolt) has nothing to do.
func PrefetchKeys(tx Tx, keys ...BucketKey) {
	if p, ok := tx.(KeysPrefetcher); ok {
		p.PrefetchKeys(keys...)
	}
}

// SeeksPrefetcher is a Tx that can do what SeekPrefetcher does for keys of
// several buckets at once (pgkv: in one round trip).
type SeeksPrefetcher interface {
	PrefetchSeeksIn(below, from int, seeks ...BucketKey)
}

// PrefetchSeeksIn tells tx that cursors are about to Seek to seeks, each in
// its bucket, and move within below pairs before and from pairs from each
// (see SeekPrefetcher); a key of a bucket that does not exist is left out.
// An engine for which a Seek costs no round trip (bbolt) has nothing to do.
func PrefetchSeeksIn(tx Tx, below, from int, seeks ...BucketKey) {
	if p, ok := tx.(SeeksPrefetcher); ok {
		p.PrefetchSeeksIn(below, from, seeks...)
	}
}

// Reads is what a transaction is about to read: Keys with Get, the
// Seeks of cursors, and the Ends of buckets cursors go to.
type Reads struct {
	Keys  []BucketKey
	Seeks []Seeks
	Ends  []End
}

// End is a cursor's move to the First (Last false) or the Last pair of
// Bucket, and the moves on from there within a page (pgkv: the page that
// move would fetch); a bucket that does not exist is left out.
type End struct {
	Bucket []byte
	Last   bool
}

// Seeks are cursor Seeks to Keys, each in its bucket, and moves within
// Below pairs before and From pairs from each (see SeekPrefetcher).
type Seeks struct {
	Below, From int
	Keys        []BucketKey
}

// ReadsPrefetcher is a Tx that can read keys and seeks of several buckets
// at once (pgkv: in one round trip, where PrefetchKeys and PrefetchSeeksIn
// would take one each).
type ReadsPrefetcher interface {
	PrefetchReads(r Reads)
}

// PrefetchReads tells tx what it is about to read (PrefetchKeys and
// PrefetchSeeksIn at once); an engine for which a read costs no round trip
// (bbolt) has nothing to do.
func PrefetchReads(tx Tx, r Reads) {
	if p, ok := tx.(ReadsPrefetcher); ok {
		p.PrefetchReads(r)
	}
}

// ReadingWriter is an Engine that can begin a write transaction with what
// its function reads first (pgkv: BEGIN, the write lock and those reads in
// one round trip): Update and Batch told so. The function runs once they
// are read, in the transaction, as in Update and Batch.
type ReadingWriter interface {
	UpdateReading(first Reads, fn func(Tx) error) error
	BatchReading(first Reads, fn func(Tx) error) error
}

// UpdateReading is e.Update(fn), told that fn reads first first (see
// ReadingWriter); an engine for which a read costs no round trip (bbolt)
// has nothing to do with it.
func UpdateReading(e Engine, first Reads, fn func(Tx) error) error {
	if w, ok := e.(ReadingWriter); ok {
		return w.UpdateReading(first, fn)
	}
	return e.Update(fn)
}

// BatchReading is e.Batch(fn), told that fn reads first first (see
// UpdateReading).
func BatchReading(e Engine, first Reads, fn func(Tx) error) error {
	if w, ok := e.(ReadingWriter); ok {
		return w.BatchReading(first, fn)
	}
	return e.Batch(fn)
}

// ReadsAhead says whether tx reads ahead what it is told it will read
// (PrefetchReads): a caller may spare the work of finding what to tell a
// transaction that does not (bbolt's).
func ReadsAhead(tx Tx) bool {
	_, ok := tx.(ReadsPrefetcher)
	return ok
}
