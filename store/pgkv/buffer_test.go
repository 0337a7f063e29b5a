package pgkv_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/celltrack/celltrack/store/pgkv"
)

// TestBufferedWritesAgainstAModel: a write transaction's buffered writes
// (buffer.go) read back exactly as if each had gone to the server at once.
// Random Puts, Deletes, Gets and cursor moves in both directions over a
// table larger than a cursor's page, some writes made while a cursor is
// out, the buffer sent every 150 writes in the middle of it all; each
// answer is compared with a sorted map, and the committed table with the
// map at the end. Twice: the buffer sent by INSERT, and by COPY wherever
// it may (copy.go: a key the table holds is written by INSERT all the same).
func TestBufferedWritesAgainstAModel(t *testing.T) {
	defer pgkv.SetFlushAt(150)()
	t.Run("insert", func(t *testing.T) { testBufferedWritesAgainstAModel(t, 14, 1000) })
	t.Run("copy", func(t *testing.T) {
		defer pgkv.SetCopyMin(1)()
		testBufferedWritesAgainstAModel(t, 14, 1000)
	})
	// Moves near the table's end, where the page at the end is carried
	// past each send (written): keys written again there, and walks down
	// from the end across them.
	t.Run("end", func(t *testing.T) { testBufferedWritesAgainstAModel(t, 15, 60) })
}

// testBufferedWritesAgainstAModel writes, reads and walks at random, by
// seed, the keys from 1000 - span up: a transaction's reads must answer as
// the model does.
func testBufferedWritesAgainstAModel(t *testing.T, seed uint64, span int) {
	e, _ := create(t)
	key := func(i int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(i)) }
	model := map[string]string{}
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("things"))
		if err != nil {
			return err
		}
		for i := 0; i < 1000; i += 3 {
			v := fmt.Sprintf("first %d", i)
			model[string(key(i))] = v
			if err := b.Put(key(i), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	// sorted keys of the model; near is the model's answer to a move.
	sorted := func() []string {
		ks := make([]string, 0, len(model))
		for k := range model {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	near := func(k string, desc, strict bool) string {
		ks := sorted()
		if !desc {
			for _, m := range ks {
				if m > k || m == k && !strict {
					return m
				}
			}
			return ""
		}
		for i := len(ks) - 1; i >= 0; i-- {
			if ks[i] < k || ks[i] == k && !strict {
				return ks[i]
			}
		}
		return ""
	}
	r := rand.New(rand.NewPCG(seed, 1))
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("things"))
		c := b.Cursor()
		cur := ""
		check := func(what string, k, v []byte, want string) {
			t.Helper()
			if want == "" {
				if k != nil {
					t.Fatalf("%s: %x %q, want the end", what, k, v)
				}
				cur = ""
				return
			}
			if string(k) != want || string(v) != model[want] {
				t.Fatalf("%s: %x %q, want %x %q", what, k, v, want, model[want])
			}
			cur = want
		}
		for step := 0; step < 3000; step++ {
			i := 1000 - span + r.IntN(span)
			switch n := r.IntN(100); {
			case n < 30:
				v := fmt.Sprintf("step %d", step)
				if r.IntN(10) == 0 {
					v = "" // empty values are values
				}
				model[string(key(i))] = v
				if err := b.Put(key(i), []byte(v)); err != nil {
					return err
				}
			case n < 45:
				delete(model, string(key(i)))
				if err := b.Delete(key(i)); err != nil {
					return err
				}
			case n < 55:
				v := b.Get(key(i))
				want, ok := model[string(key(i))]
				if ok != (v != nil) || string(v) != want {
					t.Fatalf("step %d: Get(%x) = %q, want %q (%v)", step, key(i), v, want, ok)
				}
			case n < 57:
				k, v := c.First()
				check("First", k, v, near("", false, false))
			case n < 59:
				k, v := c.Last()
				check("Last", k, v, near("\xff\xff\xff", true, false))
			case n < 63:
				k, v := c.Seek(key(i))
				check(fmt.Sprintf("Seek(%x)", key(i)), k, v, near(string(key(i)), false, false))
			case n < 83:
				if cur == "" {
					continue
				}
				k, v := c.Next()
				check(fmt.Sprintf("Next from %x", cur), k, v, near(cur, false, true))
			case n < 98:
				if cur == "" {
					continue
				}
				k, v := c.Prev()
				check(fmt.Sprintf("Prev from %x", cur), k, v, near(cur, true, true))
			default:
				if got := b.KeyN(); got != len(model) {
					t.Fatalf("step %d: KeyN = %d, want %d", step, got, len(model))
				}
			}
		}
		return nil
	})
	e.View(func(tx kv.Tx) error {
		var got []string
		tx.Bucket([]byte("things")).ForEach(func(k, v []byte) error {
			if string(v) != model[string(k)] {
				t.Errorf("committed %x = %q, want %q", k, v, model[string(k)])
			}
			got = append(got, string(k))
			return nil
		})
		if want := sorted(); !slices.Equal(got, want) {
			t.Errorf("committed %d keys, want %d", len(got), len(want))
		}
		return nil
	})
}

// TestBufferedAuditRewriteRefused: an audit entry written twice in one
// transaction with different bytes is refused at the second Put, as it is
// once committed; the same bytes again are not.
func TestBufferedAuditRewriteRefused(t *testing.T) {
	e, _ := create(t)
	seq := []byte{0, 0, 0, 0, 0, 0, 0, 9}
	err := e.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("audit"))
		if err != nil {
			return err
		}
		if err := b.Put(seq, []byte("entry 9")); err != nil {
			return err
		}
		if err := b.Put(seq, []byte("entry 9")); err != nil {
			t.Errorf("the same bytes again: %v", err)
		}
		if err := b.Put(seq, []byte("forged")); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("a rewrite in the same transaction: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("audit")).Get(seq); !bytes.Equal(v, []byte("entry 9")) {
			t.Errorf("audit entry 9 = %q", v)
		}
		return nil
	})
}

func mustUpdateKV(t *testing.T, e kv.Engine, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := e.Update(fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

// TestBufferCountsKeysNotPuts: a key written again is one pair to send, so
// the count of buffered writes does not grow with it. (It did: an import
// rewrites one counter per lot, and after flushAt lots the count never fell
// below flushAt again, so every later Put sent the whole buffer — a round
// trip per pair.)
func TestBufferCountsKeysNotPuts(t *testing.T) {
	defer pgkv.SetFlushAt(100)()
	e, _ := create(t)
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		for i := 0; i < 1000; i++ {
			if err := b.Put([]byte("din/26"), []byte(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		if n := pgkv.Pending(tx); n != 1 {
			t.Errorf("%d writes pending after 1,000 Puts of one key, want 1", n)
		}
		if v := b.Get([]byte("din/26")); string(v) != "999" {
			t.Errorf("read back %q, want the last value 999", v)
		}
		return nil
	})
}

// TestCopiedWrites: pairs sent by COPY (copy.go) land as INSERT would put
// them. Keys below, among and above those the table holds: the ones there
// are rewritten in the generic table, left alone in the trail when the
// bytes are the same, and refused when they are not — the whole
// transaction then writes nothing, as a trail key of the wrong length,
// which goes by INSERT and its CHECK.
func TestCopiedWrites(t *testing.T) {
	defer pgkv.SetCopyMin(4)()
	e, _ := create(t)
	key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	entry := func(i int) []byte { return fmt.Appendf(nil, "entry %d", i) }
	put := func(tx kv.Tx, bucket string, k, v []byte) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put(k, v)
	}
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		for i := 10; i < 20; i += 2 {
			if err := put(tx, "things", key(i), []byte("first")); err != nil {
				return err
			}
		}
		for i := 1; i <= 10; i++ {
			if err := put(tx, "audit", key(i), entry(i)); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		for i := 0; i < 30; i++ {
			if err := put(tx, "things", key(i), []byte("second")); err != nil {
				return err
			}
		}
		for i := 1; i <= 20; i++ {
			if err := put(tx, "audit", key(i), entry(i)); err != nil {
				return err
			}
		}
		return nil
	})
	state := func() (things, audit map[string]string) {
		things, audit = map[string]string{}, map[string]string{}
		e.View(func(tx kv.Tx) error {
			tx.Bucket([]byte("things")).ForEach(func(k, v []byte) error { things[string(k)] = string(v); return nil })
			tx.Bucket([]byte("audit")).ForEach(func(k, v []byte) error { audit[string(k)] = string(v); return nil })
			return nil
		})
		return things, audit
	}
	things, audit := state()
	for i := 0; i < 30; i++ {
		if things[string(key(i))] != "second" {
			t.Errorf("things %d = %q, want second", i, things[string(key(i))])
		}
	}
	for i := 1; i <= 20; i++ {
		if audit[string(key(i))] != string(entry(i)) {
			t.Errorf("audit %d = %q, want %q", i, audit[string(key(i))], entry(i))
		}
	}
	if len(things) != 30 || len(audit) != 20 {
		t.Fatalf("%d things and %d audit entries, want 30 and 20", len(things), len(audit))
	}
	for name, write := range map[string]func(tx kv.Tx) error{
		"a trail entry rewritten": func(tx kv.Tx) error { return put(tx, "audit", key(5), []byte("forged")) },
		"a trail key of 7 bytes":  func(tx kv.Tx) error { return put(tx, "audit", key(99)[1:], []byte("short")) },
	} {
		err := e.Update(func(tx kv.Tx) error {
			for i := 30; i < 40; i++ {
				if err := put(tx, "things", key(i), []byte("third")); err != nil {
					return err
				}
			}
			for i := 21; i <= 30; i++ {
				if err := put(tx, "audit", key(i), entry(i)); err != nil {
					return err
				}
			}
			return write(tx)
		})
		if err == nil {
			t.Errorf("%s: committed", name)
		}
		if th, au := state(); len(th) != 30 || len(au) != 20 || au[string(key(5))] != string(entry(5)) {
			t.Errorf("%s (%v): %d things and %d audit entries after, want 30 and 20 as before", name, err, len(th), len(au))
		}
	}
}

// TestSendBehindRefusedRollsBack: writes sent behind the transaction
// (behind.go) that the server refuses — here a rewrite of a committed audit
// entry, which the Put cannot see — fail the transaction at its next use of
// the connection, with the refusal's words, and nothing of it is committed:
// neither the writes sent before the refused ones nor those after.
func TestSendBehindRefusedRollsBack(t *testing.T) {
	defer pgkv.SetFlushAt(10)()
	e, _ := create(t)
	seq := []byte{0, 0, 0, 0, 0, 0, 0, 9}
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		if _, err := tx.CreateBucket([]byte("things")); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists([]byte("audit"))
		if err != nil {
			return err
		}
		return b.Put(seq, []byte("entry 9"))
	})
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%04d", i)) }
	var putErr error
	err := e.Update(func(tx kv.Tx) error {
		things, audit := tx.Bucket([]byte("things")), tx.Bucket([]byte("audit"))
		for i := 0; i < 100; i++ {
			if i == 5 {
				if err := audit.Put(seq, []byte("forged")); err != nil {
					t.Fatalf("the rewrite refused by the Put, not by the server: %v", err)
				}
			}
			if err := things.Put(key(i), []byte("v")); err != nil {
				putErr = err
				return err
			}
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("Update = %v, want the append-only refusal", err)
	}
	if putErr == nil {
		t.Errorf("every Put after the refused send succeeded")
	}
	e.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("audit")).Get(seq); !bytes.Equal(v, []byte("entry 9")) {
			t.Errorf("audit entry 9 = %q", v)
		}
		if n := tx.Bucket([]byte("things")).KeyN(); n != 0 {
			t.Errorf("%d keys of the refused transaction committed", n)
		}
		return nil
	})
}

// TestCopyKnowsItsOwnKeys: a key below the table's largest goes by COPY
// without a look-up only when it is above the largest the table held
// before the transaction's sends and is none the transaction sent
// (copy.go, aboveFloor). Here, over three sends by COPY: keys below the
// committed one, keys between keys this transaction sent, its own keys
// written again, and the committed key written again — a key COPY took
// for absent that the table held would fail the commit with a unique
// violation; every value must read back as last written.
func TestCopyKnowsItsOwnKeys(t *testing.T) {
	defer pgkv.SetFlushAt(10)()
	defer pgkv.SetCopyMin(4)()
	e, _ := create(t)
	want := map[string]string{"m0": "committed"}
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("idx_things"))
		if err != nil {
			return err
		}
		return b.Put([]byte("m0"), []byte("committed"))
	})
	rounds := [][]string{
		{"a1", "a2", "a3", "a4", "a5", "n1", "n3", "n5", "n7", "n9", "z"},      // below and above m0
		{"n15", "n35", "n55", "n5", "n7", "m0", "a3", "b1", "b2", "b3", "n95"}, // between, own, committed
		{"n15", "n2", "n4", "n6", "n8", "a0", "m", "m00", "z", "y", "x"},
	}
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("idx_things"))
		for r, keys := range rounds {
			for _, k := range keys {
				v := fmt.Sprintf("round %d", r)
				want[k] = v
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
			if n := pgkv.Pending(tx); n > 10 {
				t.Fatalf("round %d: %d writes unsent, want them sent past 10", r, n)
			}
		}
		return nil
	})
	got := map[string]string{}
	if err := e.View(func(tx kv.Tx) error {
		return tx.Bucket([]byte("idx_things")).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the table holds\n%v\nwant\n%v", got, want)
	}
}

// TestCopyStreamsRows: a COPY's rows are made as the server reads them
// (copy.go, stream), many reads of one COPY for a large send. Two buckets
// of the generic table share one COPY; keys the table holds, among them,
// go by INSERT instead, their new values replacing the old: every value
// must read back as last written, none lost or doubled between reads.
func TestCopyStreamsRows(t *testing.T) {
	defer pgkv.SetCopyMin(4)()
	e, _ := create(t)
	key := func(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }
	val := func(b string, i, round int) []byte {
		return fmt.Appendf(nil, "%s %d round %d %s", b, i, round, strings.Repeat("x", 200))
	}
	buckets := []string{"idx_a", "idx_b"}
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		for _, name := range buckets {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := 0; i < 3000; i += 97 {
				if err := b.Put(key(i), val(name, i, 0)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	mustUpdateKV(t, e, func(tx kv.Tx) error {
		for _, name := range buckets {
			b := tx.Bucket([]byte(name))
			for i := 0; i < 3000; i++ {
				if err := b.Put(key(i), val(name, i, 1)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err := e.View(func(tx kv.Tx) error {
		for _, name := range buckets {
			n := 0
			if err := tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
				if i := int(binary.BigEndian.Uint32(k)); !bytes.Equal(v, val(name, i, 1)) {
					t.Errorf("%s %d = %.30q…, want round 1", name, i, v)
				}
				n++
				return nil
			}); err != nil {
				return err
			}
			if n != 3000 {
				t.Errorf("%s holds %d keys, want 3000", name, n)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
