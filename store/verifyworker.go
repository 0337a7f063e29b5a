package store

import (
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// valueCheck is a part of `audit verify` that needs only each record's own
// value: decoding JSON to check a lookup-index key or a signature. Such
// checks are most of verify's CPU after the hash chain, so verifyTx runs
// them on goroutines of their own while it walks the chain.
//
// bbolt transactions are not safe for use by two goroutines, so the worker
// never touches tx: the goroutine that owns tx walks the buckets and hands
// the worker the values, a batch at a time. The values are the
// transaction's bytes, read in place, as hashPool's jobs read them: valid
// while the transaction is open, and the owner waits for the worker before
// it ends (wait, or stop on a panic). fn runs on the worker goroutine only,
// one record at a time in bucket order; it must not keep val, and whatever
// it records is read after wait returns.
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
	checks   []valueCheck
	tx       kv.Tx
	cur      int // index of the check being fed
	c        kv.Cursor
	k, v     []byte
	out      chan []checkItem
	done     chan any // the worker's panic, or nil
	stopped  bool     // out is closed
	finished bool     // the worker is done, with panicked
	panicked any
}

// checkBatchBytes is about how many bytes of values one batch holds.
const checkBatchBytes = 256 << 10

func startChecks(tx kv.Tx, checks []valueCheck) *checkRunner {
	r := &checkRunner{checks: checks, tx: tx, cur: -1, out: make(chan []checkItem, 4), done: make(chan any, 1)}
	go func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // it reads the file's map
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

// batch returns the next batch of values, or nil when every bucket has
// been read.
func (r *checkRunner) batch() []checkItem {
	items := make([]checkItem, 0, 256)
	for size := 0; size < checkBatchBytes; {
		for r.k == nil {
			if r.cur++; r.cur >= len(r.checks) {
				return items
			}
			r.c = r.tx.Bucket(recordBuckets[r.checks[r.cur].kind]).Cursor()
			r.k, r.v = r.c.First()
		}
		items = append(items, checkItem{check: r.cur, id: uuid.UUID(r.k), val: r.v})
		size += len(r.v)
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
	if p := r.stop(); p != nil {
		panic(p)
	}
}

// stop feeds nothing more and waits for the worker to finish what it was
// given; it returns the worker's panic. The owner defers it, so that on a
// panic of its own no check reads the transaction's bytes after it ends.
func (r *checkRunner) stop() any {
	if !r.stopped {
		r.stopped = true
		close(r.out)
	}
	if !r.finished {
		r.panicked, r.finished = <-r.done, true
	}
	return r.panicked
}

// hashPool runs the hashing of `audit verify` — each entry's hash
// recomputed from its bytes, each record's SHA-256 compared with its last
// entry's — on every core, beside the goroutine that walks the transaction:
// after the JSON checks, hashing is most of verify's work, and one goroutine
// walking the chain could not keep two cores busy.
//
// Its jobs read the transaction's bytes in place, without the copies the
// value checks make: a read transaction's bytes point into bbolt's read-only
// map of the file, which bbolt does not remap while the transaction is open,
// and verifyTx waits for every job before it returns — on a panic, too
// (close). The jobs never call the transaction itself. A fault reading the
// map (a file truncated under it) panics in the job, as it would on the
// walking goroutine, and the panic is re-raised there by wait.
type hashPool struct {
	jobs     chan func()
	wg       sync.WaitGroup
	closing  sync.Once
	mu       sync.Mutex
	panicked any // the first job's panic
}

func startHashPool() *hashPool {
	p := &hashPool{jobs: make(chan func(), 8)}
	for range runtime.GOMAXPROCS(0) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			for job := range p.jobs {
				p.run(job)
			}
		}()
	}
	return p
}

func (p *hashPool) run(job func()) {
	defer func() {
		if r := recover(); r != nil {
			p.mu.Lock()
			if p.panicked == nil {
				p.panicked = r
			}
			p.mu.Unlock()
		}
	}()
	job()
}

// do queues job, waiting while every worker is busy and the queue full.
func (p *hashPool) do(job func()) { p.jobs <- job }

// close waits for the jobs queued; verifyTx defers it so that no job reads
// the transaction's bytes after it has returned.
func (p *hashPool) close() {
	p.closing.Do(func() { close(p.jobs) })
	p.wg.Wait()
}

// wait waits for the jobs queued and re-raises the first panic of one.
func (p *hashPool) wait() {
	p.close()
	if p.panicked != nil {
		panic(p.panicked)
	}
}
