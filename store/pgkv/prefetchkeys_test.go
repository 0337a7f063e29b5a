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

// TestPrefetchReads: keys and seeks of several buckets, seeks of two
// reaches (pairs below and from each key), read together are
// answered — Gets present and absent, Seeks and the moves within what was
// read — exactly as without, in one round trip for all of them, where
// PrefetchKeys and PrefetchSeeksIn take one each; with fewer than two left
// to read it reads nothing.
func TestPrefetchReads(t *testing.T) {
	e, u := create(t)
	key := func(i, j int) []byte { k := make([]byte, 24); k[0], k[15], k[23] = 1, byte(i), byte(j); return k }
	if err := e.Update(func(tx kv.Tx) error {
		for _, name := range []string{"things", "audit_entity", "meta"} {
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for i := 2; i < 20; i += 3 {
				for j := range 1 + i%4 {
					if err := b.Put(key(i, j+1), fmt.Appendf(nil, "%s%d.%d", name, i, j+1)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	keys := []kv.BucketKey{{Bucket: []byte("things"), Key: key(2, 1)}, {Bucket: []byte("things"), Key: key(3, 1)},
		{Bucket: []byte("meta"), Key: key(5, 2)}, {Bucket: []byte("nothing"), Key: key(5, 1)}}
	var seeks, wide []kv.BucketKey
	var seekKeys [][]byte
	for i := range 22 {
		k := append(key(i, 0)[:16:16], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		seekKeys = append(seekKeys, k)
		seeks = append(seeks, kv.BucketKey{Bucket: []byte("audit_entity"), Key: k})
		wide = append(wide, kv.BucketKey{Bucket: []byte("meta"), Key: k})
	}
	read := func(tx kv.Tx) []string {
		var out []string
		for _, bk := range keys {
			if b := tx.Bucket(bk.Bucket); b != nil {
				out = append(out, fmt.Sprintf("get %s/%x: %q %v", bk.Bucket, bk.Key, b.Get(bk.Key), b.Get(bk.Key) == nil))
			}
		}
		out = append(out, moves(tx.Bucket([]byte("audit_entity")), seekKeys, false)...)
		return append(out, moves(tx.Bucket([]byte("meta")), seekKeys, false)...)
	}
	e2, c := countedEngine(t, u)
	var want, got []string
	if err := e2.View(func(tx kv.Tx) error { want = read(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	before := c.n()
	if err := e2.View(func(tx kv.Tx) error {
		kv.PrefetchReads(tx, kv.Reads{Keys: keys, Seeks: []kv.Seeks{{Below: 3, From: 1, Keys: seeks}, {Below: 2, From: 4, Keys: wide}}})
		got = read(tx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	equalLines(t, "PrefetchReads", got, want)
	if n := c.n() - before; n != 1 {
		t.Errorf("PrefetchReads of %d keys and %d seeks of three buckets, two reaches, and the reads within them took %d round trips, want 1 (the last one's COMMIT, BEGIN and the prefetch)", len(keys), len(seeks)+len(wide), n)
	}
	// One key and nothing else: a Get is one round trip too, so nothing
	// is read ahead, and the Get answers as without.
	before = c.n()
	if err := e2.View(func(tx kv.Tx) error {
		kv.PrefetchReads(tx, kv.Reads{Keys: keys[:1]})
		if n := c.n() - before; n != 0 {
			t.Errorf("PrefetchReads of one key took %d round trips, want 0", n)
		}
		if v := tx.Bucket(keys[0].Bucket).Get(keys[0].Key); string(v) != "things2.1" {
			t.Errorf("Get %x = %q, want things2.1", keys[0].Key, v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
