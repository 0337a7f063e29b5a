// Package boltkv is the embedded engine beneath celltrack's store: one bbolt
// file, behind the storage seam of package kv. It is the only package of
// celltrack (besides the benchmark harness, which measures bbolt's own
// floor) that imports bbolt.
//
// The adapters are pointer-shaped (a struct of one pointer), so putting one
// in an interface does not allocate, and a missing bucket is a nil
// kv.Bucket, not an adapter around a nil *bolt.Bucket.
//
// What only a file has — the page check, a copy of the file, the group
// commit delay, the open options and their errors — is exported here, for
// store to reach by holding an *Engine or through small interfaces of its
// own: Tx values of this engine have Check and WriteTo.
package boltkv

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celltrack/celltrack/store/kv"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors of opening a file, as bbolt returns them.
var (
	// ErrTimeout: another process held the file's lock past Options.Timeout.
	ErrTimeout = berrors.ErrTimeout
	// ErrInvalid: the file is not a bbolt database (no valid meta page).
	ErrInvalid = berrors.ErrInvalid
	// ErrVersionMismatch: the file is of another bbolt data format.
	ErrVersionMismatch = berrors.ErrVersionMismatch
	// ErrChecksum: both meta pages fail their checksum.
	ErrChecksum = berrors.ErrChecksum
)

// Options says how to open a file.
type Options struct {
	// Timeout is how long to wait for another process's lock (0: forever).
	Timeout  time.Duration
	ReadOnly bool
	// OpenFile, when set, opens the file in place of os.OpenFile.
	OpenFile func(name string, flag int, perm os.FileMode) (*os.File, error)
}

// Engine is an open bbolt file.
type Engine struct {
	db   *bolt.DB
	path string
}

var _ kv.Engine = (*Engine)(nil)

// Open opens the bbolt file at path, mode 0600 when it is created (only
// when opts.OpenFile lets it be).
func Open(path string, opts *Options) (*Engine, error) {
	var o bolt.Options
	if opts != nil {
		o = bolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly, OpenFile: opts.OpenFile}
	}
	db, err := bolt.Open(path, 0o600, &o)
	if err != nil {
		return nil, err
	}
	return &Engine{db: db, path: path}, nil
}

// View runs fn in a read-only transaction.
func (e *Engine) View(fn func(kv.Tx) error) error {
	return e.db.View(func(t *bolt.Tx) error { return fn(Tx{t, &opened{}}) })
}

// ViewContext runs fn in a read-only transaction whose reads end it once
// ctx is done (kv.Engine): its first read and every kv.CheckEvery-th look
// at ctx. A ctx done already runs nothing.
func (e *Engine) ViewContext(ctx context.Context, fn func(kv.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return &kv.Error{Op: "read " + e.path, Err: err}
	}
	return e.db.View(func(t *bolt.Tx) error { return fn(Tx{t, &opened{ctx: ctx, path: e.path}}) })
}

// Update runs fn in a write transaction.
func (e *Engine) Update(fn func(kv.Tx) error) error {
	return e.db.Update(func(t *bolt.Tx) error { return fn(Tx{tx: t}) })
}

// Batch runs fn in a write transaction that concurrent Batch calls may
// share (bbolt's DB.Batch: fn may run more than once).
func (e *Engine) Batch(fn func(kv.Tx) error) error {
	return e.db.Batch(func(t *bolt.Tx) error { return fn(Tx{tx: t}) })
}

// Close closes the file and releases its lock.
func (e *Engine) Close() error { return e.db.Close() }

// Describe returns the file's path.
func (e *Engine) Describe() string { return e.path }

// SetMaxBatchDelay sets how long the first Batch of a group waits for
// others before its commit starts (bbolt's DB.MaxBatchDelay).
func (e *Engine) SetMaxBatchDelay(d time.Duration) { e.db.MaxBatchDelay = d }

// SetNoSync turns fsync off (true) or on; for building test and benchmark
// data only, never for a facility's database.
func (e *Engine) SetNoSync(v bool) { e.db.NoSync = v }

// Tx is a transaction of this engine.
type Tx struct {
	tx     *bolt.Tx
	opened *opened // a read-only transaction's buckets; nil in a write transaction
}

// opened holds the buckets a read-only transaction has opened. bbolt keeps
// its own such cache in write transactions only, so in a read-only one
// every Bucket call would seek the root and allocate a bucket and a cursor
// again — thousands of times in a trace. The lock is for the verification
// workers that share a transaction's reads.
type opened struct {
	mu      sync.Mutex
	buckets map[string]*readBucket
	// ctx, when not nil, ends the reads once it is done (ViewContext);
	// reads counts them, path names the file in the error.
	ctx   context.Context
	reads atomic.Uint32
	path  string
}

// read counts one read (a Get, a cursor's move) of the transaction and,
// at the first and then every kv.CheckEvery-th, ends the transaction with
// a panic carrying ctx's error once ctx is done: reads return no errors
// (package kv). A transaction of View has no ctx and counts nothing.
func (o *opened) read() {
	if o.ctx == nil || o.reads.Add(1)%kv.CheckEvery != 1 {
		return
	}
	if err := o.ctx.Err(); err != nil {
		panic(&kv.Error{Op: "read " + o.path, Err: err})
	}
}

// readBucket is a bucket of a read-only transaction. bbolt's Bucket.Get
// allocates a cursor for every call, and the cursor's stack again as the
// seek descends the tree: at 100k lots most of a bedside check's
// allocations. Its Get seeks with one cursor it keeps instead — what
// Bucket.Get does with a new one — and falls back to Bucket.Get while
// another goroutine sharing the transaction (a verification worker) holds
// that cursor.
type readBucket struct {
	bucket
	o  *opened
	mu sync.Mutex
	c  *bolt.Cursor
}

// Get returns the value of key, or nil when there is none (or it names a
// nested bucket), as bolt.Bucket.Get.
func (b *readBucket) Get(key []byte) []byte {
	b.o.read()
	if !b.mu.TryLock() {
		return b.b.Get(key)
	}
	defer b.mu.Unlock()
	if b.c == nil {
		b.c = b.b.Cursor()
	}
	// Seek lands on key when it is there; a nested bucket's value is nil.
	k, v := b.c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

var _ kv.Tx = Tx{}

// Bucket returns the bucket named name, or nil.
func (t Tx) Bucket(name []byte) kv.Bucket {
	if t.opened == nil {
		if b := t.tx.Bucket(name); b != nil {
			return bucket{b}
		}
		return nil
	}
	o := t.opened
	o.mu.Lock()
	defer o.mu.Unlock()
	b, ok := o.buckets[string(name)]
	if !ok {
		if bb := t.tx.Bucket(name); bb != nil {
			b = &readBucket{bucket: bucket{bb}, o: o}
		}
		if o.buckets == nil {
			o.buckets = make(map[string]*readBucket, 16)
		}
		o.buckets[string(name)] = b
	}
	if b == nil {
		return nil
	}
	return b
}

// CreateBucket makes a new bucket.
func (t Tx) CreateBucket(name []byte) (kv.Bucket, error) {
	b, err := t.tx.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	return bucket{b}, nil
}

// CreateBucketIfNotExists returns the bucket, made if missing.
func (t Tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return bucket{b}, nil
}

// DeleteBucket removes a bucket.
func (t Tx) DeleteBucket(name []byte) error { return t.tx.DeleteBucket(name) }

// Writable says whether this is a write transaction.
func (t Tx) Writable() bool { return t.tx.Writable() }

// ID is bbolt's transaction id.
func (t Tx) ID() int { return t.tx.ID() }

// Check runs bbolt's page-level consistency check and returns every
// problem it finds.
func (t Tx) Check() []error {
	var errs []error
	for err := range t.tx.Check() {
		errs = append(errs, err)
	}
	return errs
}

// WriteTo writes a consistent copy of the whole file, as of this
// transaction, to w.
func (t Tx) WriteTo(w io.Writer) (int64, error) { return t.tx.WriteTo(w) }

// BucketNames lists the buckets at the root, in name order (what
// `celltrack migrate` and a snapshot backup copy).
func (t Tx) BucketNames() []string {
	// The root's keys are the buckets' names: a cursor walks them without
	// opening each bucket, as tx.ForEach would.
	var names []string
	c := t.tx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		names = append(names, string(k))
	}
	return names
}

type bucket struct{ b *bolt.Bucket }

func (b bucket) Get(key []byte) []byte                    { return b.b.Get(key) }
func (b bucket) Put(key, value []byte) error              { return b.b.Put(key, value) }
func (b bucket) Delete(key []byte) error                  { return b.b.Delete(key) }
func (b bucket) Cursor() kv.Cursor                        { return cursor{b.b.Cursor()} }
func (b bucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b bucket) KeyN() int                                { return b.b.Stats().KeyN }
func (b bucket) SetFillPercent(f float64)                 { b.b.FillPercent = f }

// Cursor is a cursor whose moves are counted (opened.read) in a
// transaction of ViewContext.
func (b *readBucket) Cursor() kv.Cursor {
	if b.o.ctx == nil {
		return cursor{b.b.Cursor()}
	}
	return readCursor{cursor{b.b.Cursor()}, b.o}
}

// ForEach counts each pair it reads in a transaction of ViewContext.
func (b *readBucket) ForEach(fn func(k, v []byte) error) error {
	if b.o.ctx == nil {
		return b.b.ForEach(fn)
	}
	return b.b.ForEach(func(k, v []byte) error { b.o.read(); return fn(k, v) })
}

type cursor struct{ c *bolt.Cursor }

func (c cursor) First() ([]byte, []byte)           { return c.c.First() }
func (c cursor) Last() ([]byte, []byte)            { return c.c.Last() }
func (c cursor) Next() ([]byte, []byte)            { return c.c.Next() }
func (c cursor) Prev() ([]byte, []byte)            { return c.c.Prev() }
func (c cursor) Seek(seek []byte) ([]byte, []byte) { return c.c.Seek(seek) }
func (c cursor) Delete() error                     { return c.c.Delete() }

// readCursor is a cursor of a ViewContext transaction: each move is a read
// that ends the transaction once its context is done.
type readCursor struct {
	cursor
	o *opened
}

func (c readCursor) First() ([]byte, []byte)           { c.o.read(); return c.c.First() }
func (c readCursor) Last() ([]byte, []byte)            { c.o.read(); return c.c.Last() }
func (c readCursor) Next() ([]byte, []byte)            { c.o.read(); return c.c.Next() }
func (c readCursor) Prev() ([]byte, []byte)            { c.o.read(); return c.c.Prev() }
func (c readCursor) Seek(seek []byte) ([]byte, []byte) { c.o.read(); return c.c.Seek(seek) }
