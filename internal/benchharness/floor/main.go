// Command floor is the benchmark floor of BENCHMARKS.md: the least work a
// bbolt program — or a pgx program on PostgreSQL — can do for the same
// records, with no celltrack in it. It is a measuring instrument, which is
// why it may import bbolt and pgx outside store.
//
//	floor commit FILE     open FILE, put one 400-byte record, commit, close
//	floor puts FILE N     create FILE and put N lot-sized records, with the
//	                      same index and audit-sized values celltrack writes,
//	                      in one transaction
//	floor pginsert URL    connect to URL, INSERT one 400-byte row (one
//	                      statement, its own transaction), disconnect
//	floor pgcopy URL N    connect to URL (an empty database) and COPY what
//	                      `floor puts` writes into tables shaped as
//	                      celltrack's, in one transaction
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: floor commit FILE | floor puts FILE N | floor pginsert URL | floor pgcopy URL N")
	}
	switch args[0] {
	case "pginsert":
		return pgInsert(args[1])
	case "pgcopy":
		if len(args) != 3 {
			return fmt.Errorf("usage: floor pgcopy URL N")
		}
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		return pgCopy(args[1], n)
	}
	db, err := bolt.Open(args[1], 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "commit":
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("floor"))
			if err != nil {
				return err
			}
			k := make([]byte, 16)
			rand.Read(k)
			return b.Put(k, make([]byte, 400))
		})
	case "puts":
		if len(args) != 3 {
			return fmt.Errorf("usage: floor puts FILE N")
		}
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		return db.Update(func(tx *bolt.Tx) error { return puts(tx, n) })
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

// puts writes what importing n lots writes: a ~450-byte record, three index
// entries and a ~700-byte audit entry chained by SHA-256, per lot.
func puts(tx *bolt.Tx, n int) error {
	bs := map[string]*bolt.Bucket{}
	for _, name := range []string{"lots", "idx_lot_number", "idx_lot_din", "idx_lot_donor", "audit", "audit_entity"} {
		b, err := tx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		b.FillPercent = 0.95 // as celltrack's store sets for keys that arrive in order
		bs[name] = b
	}
	rec, entry := make([]byte, 450), make([]byte, 700)
	var prev [32]byte
	for i := 0; i < n; i++ {
		id := make([]byte, 16)
		binary.BigEndian.PutUint64(id, uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint64(id[8:], uint64(i))
		seq := make([]byte, 8)
		binary.BigEndian.PutUint64(seq, uint64(i+1))
		copy(entry[32:], prev[:])
		prev = sha256.Sum256(entry[32:])
		copy(entry, prev[:])
		for _, kv := range [][3][]byte{
			{[]byte("lots"), id, rec},
			{[]byte("idx_lot_number"), []byte(fmt.Sprintf("LOT-%d", i)), id},
			{[]byte("idx_lot_din"), []byte(fmt.Sprintf("G123426%06d", i)), id},
			{[]byte("idx_lot_donor"), append(make([]byte, 16), id...), nil},
			{[]byte("audit"), seq, entry},
			{[]byte("audit_entity"), append(append([]byte(nil), id...), seq...), nil},
		} {
			if err := bs[string(kv[0])].Put(kv[1], kv[2]); err != nil {
				return err
			}
		}
	}
	return nil
}
