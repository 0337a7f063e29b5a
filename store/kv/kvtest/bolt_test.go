package kvtest_test

import (
	"path/filepath"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/kv/kvtest"
	bolt "go.etcd.io/bbolt"
)

// A minimal bbolt adapter, until store/boltkv is on this branch.
type bEngine struct{ db *bolt.DB }
type bTx struct{ tx *bolt.Tx }
type bBucket struct{ b *bolt.Bucket }

func (e bEngine) View(fn func(kv.Tx) error) error {
	return e.db.View(func(tx *bolt.Tx) error { return fn(bTx{tx}) })
}
func (e bEngine) Update(fn func(kv.Tx) error) error {
	return e.db.Update(func(tx *bolt.Tx) error { return fn(bTx{tx}) })
}
func (e bEngine) Batch(fn func(kv.Tx) error) error {
	return e.db.Batch(func(tx *bolt.Tx) error { return fn(bTx{tx}) })
}
func (e bEngine) Close() error     { return e.db.Close() }
func (e bEngine) Describe() string { return e.db.Path() }
func (t bTx) Bucket(name []byte) kv.Bucket {
	if b := t.tx.Bucket(name); b != nil {
		return bBucket{b}
	}
	return nil
}
func (t bTx) CreateBucket(name []byte) (kv.Bucket, error) {
	b, err := t.tx.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	return bBucket{b}, nil
}
func (t bTx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return bBucket{b}, nil
}
func (t bTx) DeleteBucket(name []byte) error               { return t.tx.DeleteBucket(name) }
func (t bTx) Writable() bool                               { return t.tx.Writable() }
func (b bBucket) Get(k []byte) []byte                      { return b.b.Get(k) }
func (b bBucket) Put(k, v []byte) error                    { return b.b.Put(k, v) }
func (b bBucket) Delete(k []byte) error                    { return b.b.Delete(k) }
func (b bBucket) Cursor() kv.Cursor                        { return b.b.Cursor() }
func (b bBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b bBucket) KeyN() int                                { return b.b.Stats().KeyN }
func (b bBucket) SetFillPercent(f float64)                 { b.b.FillPercent = f }

func TestBolt(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		// Map enough up front that a write never waits for a reader to
		// remap (the snapshot test writes while a View is open).
		db, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), 0o600, &bolt.Options{InitialMmapSize: 1 << 24})
		if err != nil {
			t.Fatal(err)
		}
		return bEngine{db}
	})
}
