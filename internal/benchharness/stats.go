package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/store"
	bolt "go.etcd.io/bbolt"
)

// statsMain prints where a database file's bytes go (BENCHMARKS.md, run V):
// per top-level bucket the pages allocated to it, the bytes of those pages
// in use (keys, values and their element headers), the keys, and the
// bytes of the keys and values themselves; then the free pages and the
// freelist; then, for the audit trail, its entries per entity kind with the
// bytes they are stored in. It reads the file with bbolt directly, read-only,
// as the floor does, opened for writing (bbolt reads the freelist only then) though it writes nothing, so run it on a file no process uses: it measures bbolt's layout, which package kv hides.
func statsMain(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Minute})
	if err != nil {
		return err
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	ps := int64(db.Info().PageSize)
	type row struct {
		name              string
		st                bolt.BucketStats
		keyBytes, valueBy int64
	}
	var rows []row
	var pagesInBuckets int64
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			r := row{name: string(name), st: b.Stats()}
			err := b.ForEach(func(k, v []byte) error {
				r.keyBytes += int64(len(k))
				r.valueBy += int64(len(v))
				return nil
			})
			rows = append(rows, r)
			pagesInBuckets += int64(r.st.BranchPageN + r.st.BranchOverflowN + r.st.LeafPageN + r.st.LeafOverflowN)
			return err
		})
	})
	if err != nil {
		return err
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].st.BranchAlloc+rows[i].st.LeafAlloc > rows[j].st.BranchAlloc+rows[j].st.LeafAlloc
	})
	mb := func(n int64) string { return fmt.Sprintf("%.1f", float64(n)/1e6) }
	fmt.Printf("%s: %s MB, %d pages of %d B\n\n", path, mb(fi.Size()), fi.Size()/ps, ps)
	fmt.Println("| bucket | keys | allocated MB | in use MB | fill | leaf overflow pages | keys MB | values MB |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	var alloc, inuse int64
	for _, r := range rows {
		a := int64(r.st.BranchAlloc + r.st.LeafAlloc)
		u := int64(r.st.BranchInuse + r.st.LeafInuse)
		alloc += a
		inuse += u
		if a < 100_000 {
			continue
		}
		fmt.Printf("| %s | %d | %s | %s | %.0f %% | %d | %s | %s |\n", r.name, r.st.KeyN, mb(a), mb(u), 100*float64(u)/float64(a), r.st.LeafOverflowN, mb(r.keyBytes), mb(r.valueBy))
	}
	fmt.Printf("| all buckets (%d) | | %s | %s | %.0f %% | | | |\n\n", len(rows), mb(alloc), mb(inuse), 100*float64(inuse)/float64(alloc))
	s := db.Stats()
	var hwm int64 // the pages bbolt has used: the file beyond them is grown ahead (AllocSize)
	db.View(func(tx *bolt.Tx) error { hwm = tx.Size(); return nil })
	fmt.Printf("free pages %d (%s MB), pending %d, freelist %s MB; pages in buckets %d; pages used %d (%s MB); file pages %d\n\n",
		s.FreePageN, mb(int64(s.FreePageN)*ps), s.PendingPageN, mb(int64(s.FreelistInuse)), pagesInBuckets, hwm/ps, mb(hwm), fi.Size()/ps)

	// The audit trail by entity kind and entry type.
	type kindRow struct {
		n, stored, header, json, prev int64 // header: the body as stored
	}
	kinds := map[string]*kindRow{}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			h, err := audit.ParseHeader(v)
			if err != nil {
				return err
			}
			body, err := audit.Body(v)
			if err != nil {
				return err
			}
			var e struct {
				Entity string          `json:"entity"`
				Prev   json.RawMessage `json:"prev"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				return err
			}
			typ := "event"
			if h.State {
				typ = "state"
			}
			r := kinds[e.Entity+" "+typ]
			if r == nil {
				r = &kindRow{}
				kinds[e.Entity+" "+typ] = r
			}
			r.n++
			r.stored += int64(len(v))
			hl := int64(113) // the header: the linked layout's (schema 12) is 81 bytes
			if h.Linked {
				hl = 81
			}
			r.header += int64(len(v)) - hl // the compressed (or JSON) body as stored
			r.json += int64(len(body))
			r.prev += int64(len(e.Prev))
			return nil
		})
	})
	if err != nil {
		return err
	}
	var rb int64 // the records' JSON, as store.RecordBytes sums it, on a file of any schema
	for _, r := range rows {
		if slices.Contains(store.RecordBucketNames(), r.name) {
			rb += r.valueBy
		}
	}
	fmt.Printf("\nrecord JSON (the values of the record buckets, as store.RecordBytes) %s MB; the file is %.2f× it, the pages used %.2f× it\n\n", mb(rb), float64(fi.Size())/float64(rb), float64(hwm)/float64(rb))
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return kinds[names[i]].stored > kinds[names[j]].stored })
	fmt.Println("| audit entries (entity, type) | entries | stored MB | stored B/entry | body as stored B/entry | JSON body B/entry | of it prev B/entry |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, k := range names {
		r := kinds[k]
		fmt.Printf("| %s | %d | %s | %d | %d | %d | %d |\n", k, r.n, mb(r.stored), r.stored/r.n, r.header/r.n, r.json/r.n, r.prev/r.n)
	}
	return nil
}
