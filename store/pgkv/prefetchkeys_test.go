package pgkv_test

import (
	"fmt"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
)

// TestPrefetchKeys: the keys of several buckets PrefetchKeys reads in one
// round trip are answered by the Gets that follow without the server,
// present or absent; a bucket that does not exist is left out; a write
// transaction's own buffered writes still win.
func TestPrefetchKeys(t *testing.T) {
	e, u := create(t)
	key := func(i int) []byte { k := make([]byte, 16); k[0], k[15] = 1, byte(i); return k }
	if err := e.Update(func(tx kv.Tx) error {
		for _, name := range []string{"things", "settings", "meta"} {
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put(key(1), fmt.Appendf(nil, `{"in":%q}`, name)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	keys := []kv.BucketKey{
		{Bucket: []byte("things"), Key: key(1)}, {Bucket: []byte("things"), Key: key(2)},
		{Bucket: []byte("settings"), Key: key(1)}, {Bucket: []byte("meta"), Key: key(1)},
		{Bucket: []byte("meta"), Key: key(1)}, {Bucket: []byte("nothing"), Key: key(1)},
	}
	check := func(tx kv.Tx, what string, want map[string]string) {
		for _, bk := range keys {
			b := tx.Bucket(bk.Bucket)
			if b == nil {
				if string(bk.Bucket) != "nothing" {
					t.Errorf("%s: no bucket %s", what, bk.Bucket)
				}
				continue
			}
			w := want[fmt.Sprintf("%s/%d", bk.Bucket, bk.Key[15])]
			if v := b.Get(bk.Key); string(v) != w || (v == nil) != (w == "") {
				t.Errorf("%s: Get %s/%x = %q, want %q", what, bk.Bucket, bk.Key, v, w)
			}
		}
	}
	stored := map[string]string{"things/1": `{"in":"things"}`, "settings/1": `{"in":"settings"}`, "meta/1": `{"in":"meta"}`}
	e2, c := countedEngine(t, u)
	before := c.n()
	if err := e2.View(func(tx kv.Tx) error {
		kv.PrefetchKeys(tx, keys...)
		check(tx, "read", stored)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := c.n() - before; n != 1 {
		t.Errorf("PrefetchKeys of 4 keys of 3 buckets and their Gets took %d round trips, want 1 (the last one's COMMIT, BEGIN and the prefetch)", n)
	}
	if err := e2.Update(func(tx kv.Tx) error {
		tx.Bucket([]byte("things")).Put(key(2), []byte("new"))
		tx.Bucket([]byte("meta")).Delete(key(1))
		kv.PrefetchKeys(tx, keys...)
		check(tx, "write", map[string]string{"things/1": `{"in":"things"}`, "things/2": "new", "settings/1": `{"in":"settings"}`})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
