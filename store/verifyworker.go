package store

import (
	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// valueCheck is a part of `audit verify` that needs only each record's own
// value: decoding JSON to check a lookup-index key or a signature. Such
// checks are most of verify's CPU after the hash chain, so verifyTx runs
// them on a second goroutine while it walks the chain.
//
// bbolt transactions are not safe for use by two goroutines, and the bytes
// they return die with the transaction, so the worker never touches tx: the
// goroutine that owns tx copies the values, a batch at a time, and hands the
// copies over. fn runs on the worker goroutine only, one record at a time in
// bucket order; whatever it records is read after wait returns.
type valueCheck struct {
	kind string
	fn   func(id uuid.UUID, val []byte)
}

type checkItem struct {
	check int
	id    uuid.UUID
	val   []byte
}

// checkRunner feeds the records of each check's bucket to the worker.
type checkRunner struct {
	checks  []valueCheck
	tx      *bolt.Tx
	cur     int // index of the check being fed
	c       *bolt.Cursor
	k, v    []byte
	out     chan []checkItem
	done    chan any // the worker's panic, or nil
	stopped bool
}

const checkBatchBytes = 256 << 10

func startChecks(tx *bolt.Tx, checks []valueCheck) *checkRunner {
	r := &checkRunner{checks: checks, tx: tx, cur: -1, out: make(chan []checkItem, 4), done: make(chan any, 1)}
	go func() {
		var p any
		for batch := range r.out {
			if p == nil { // after a panic, drain so that the feeder never blocks
				p = r.run(batch)
			}
		}
		r.done <- p
	}()
	return r
}

func (r *checkRunner) run(batch []checkItem) (p any) {
	defer func() { p = recover() }()
	for _, it := range batch {
		r.checks[it.check].fn(it.id, it.val)
	}
	return nil
}

// batch copies the next batch of values out of the transaction, or returns
// nil when every bucket has been read.
func (r *checkRunner) batch() []checkItem {
	var items []checkItem
	var arena []byte
	for len(arena) < checkBatchBytes {
		for r.k == nil {
			if r.cur++; r.cur >= len(r.checks) {
				return items
			}
			r.c = r.tx.Bucket(recordBuckets[r.checks[r.cur].kind]).Cursor()
			r.k, r.v = r.c.First()
		}
		if arena == nil {
			arena = make([]byte, 0, checkBatchBytes+len(r.v))
		}
		if cap(arena)-len(arena) < len(r.v) {
			break // the next value starts the next batch
		}
		start := len(arena)
		arena = append(arena, r.v...)
		items = append(items, checkItem{check: r.cur, id: uuid.UUID(r.k), val: arena[start:len(arena):len(arena)]})
		r.k, r.v = r.c.Next()
	}
	return items
}

// feed hands the worker one more batch if it has room for it, without
// waiting; the goroutine that owns tx calls it between its own work.
func (r *checkRunner) feed() {
	if r.stopped || len(r.out) == cap(r.out) {
		return
	}
	if items := r.batch(); len(items) > 0 {
		r.out <- items
		return
	}
	r.stopped = true
	close(r.out)
}

// wait feeds the rest and waits for the worker to finish every check. A
// panic in a check is re-raised here, on the caller's goroutine.
func (r *checkRunner) wait() {
	for !r.stopped {
		items := r.batch()
		if len(items) == 0 {
			r.stopped = true
			close(r.out)
			break
		}
		r.out <- items
	}
	if p := <-r.done; p != nil {
		panic(p)
	}
}
