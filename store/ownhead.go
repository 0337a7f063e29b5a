package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// A process keeps the head of the trail as of its own last commit that
// added entries (its number and hash): what it has acknowledged to someone
// as done. A server's checkpointer holds the trail against it before each
// checkpoint (ownHeadLost): on PostgreSQL a dump put back under a running
// server removes writes it acknowledged, and the next writes make a trail
// of the same length with another history, which every kept checkpoint
// (signed before those writes) still agrees with. The entry's hash is
// enough: audit verify, run in the same transaction, proves the chain, so
// the trail holds entry n with that hash only if its first n entries are
// those the process committed over — the tree head of its commit.
//
// Once a rollback is found the process is marked (MarkRolledBack): every
// write transaction it would begin is refused (ownEngine), and
// RolledBack says why, for the server's health answer and bedside checks.
type ownHeads struct {
	mu      sync.Mutex
	pending map[kv.Tx]ownHead // entries added by transactions not yet committed
	done    ownHead           // the last entry of the last commit that added any
	rolled  string            // why the trail is known rolled back; "" when not
}

type ownHead struct {
	seq  uint64
	hash [32]byte
}

// note records that tx, not yet committed, added entry seq with hash.
func (o *ownHeads) note(tx kv.Tx, seq uint64, hash [32]byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := o.pending[tx]; !ok || seq > p.seq {
		o.pending[tx] = ownHead{seq, hash}
	}
}

// settle forgets what the transactions ran in added, and keeps what the last
// of them added when it committed (committed). A Batch runs a function in
// more than one transaction when another of its writes is refused; only the
// last one committed it.
func (o *ownHeads) settle(ran []kv.Tx, committed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, tx := range ran {
		p, ok := o.pending[tx]
		delete(o.pending, tx)
		if ok && committed && i == len(ran)-1 && p.seq > o.done.seq {
			o.done = p
		}
	}
}

func (o *ownHeads) refusal() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.rolled == "" {
		return nil
	}
	return lot.Errorf(lot.ECONFLICT, "refused: this server found the audit trail rolled back under it (%s); it writes nothing more onto that history, so nothing was written — an administrator verifies the trail against the kept checkpoints and restores or investigates, then restarts the server", o.rolled).Run("audit verify --checkpoint")
}

// ownEngine is the engine beneath a DB with the process's own heads kept
// at each commit, and every write refused once the trail is known rolled
// back.
type ownEngine struct {
	kv.Engine
	own *ownHeads
}

func (e ownEngine) Update(fn func(kv.Tx) error) error { return e.write(e.Engine.Update, fn) }
func (e ownEngine) Batch(fn func(kv.Tx) error) error  { return e.write(e.Engine.Batch, fn) }

func (e ownEngine) UpdateReading(first kv.Reads, fn func(kv.Tx) error) error {
	return e.write(func(fn func(kv.Tx) error) error { return kv.UpdateReading(e.Engine, first, fn) }, fn)
}

func (e ownEngine) BatchReading(first kv.Reads, fn func(kv.Tx) error) error {
	return e.write(func(fn func(kv.Tx) error) error { return kv.BatchReading(e.Engine, first, fn) }, fn)
}

func (e ownEngine) write(run func(func(kv.Tx) error) error, fn func(kv.Tx) error) (err error) {
	if err := e.own.refusal(); err != nil {
		return err
	}
	var ran []kv.Tx
	defer func() { e.own.settle(ran, err == nil) }()
	return run(func(tx kv.Tx) error {
		ran = append(ran, tx)
		return fn(tx)
	})
}

// SetMaxBatchDelay passes bbolt's batch delay through (GroupCommit).
func (e ownEngine) SetMaxBatchDelay(d time.Duration) {
	if s, ok := e.Engine.(interface{ SetMaxBatchDelay(time.Duration) }); ok {
		s.SetMaxBatchDelay(d)
	}
}

// MarkRolledBack marks the process as having found the trail rolled back
// (why, in words): from now on each of its writes is refused, and
// RolledBack returns why. It is not undone: the process stops, and an
// administrator looks.
func (db *DB) MarkRolledBack(why string) {
	if db.own == nil {
		return
	}
	db.own.mu.Lock()
	defer db.own.mu.Unlock()
	if db.own.rolled == "" {
		db.own.rolled = why
	}
}

// RolledBack says why this process knows the trail was rolled back under
// it, or "" when it knows of no such thing.
func (db *DB) RolledBack() string {
	if db.own == nil {
		return ""
	}
	db.own.mu.Lock()
	defer db.own.mu.Unlock()
	return db.own.rolled
}

// RolledBackRefusal is the refusal (ECONFLICT) of anything that must not be
// done on a trail this process found rolled back, nil when it found none.
func (db *DB) RolledBackRefusal() error {
	if db.own == nil {
		return nil
	}
	return db.own.refusal()
}

// ownHead is the last entry this process committed; zero before its
// first commit that added any. Read it before the transaction it is checked
// in begins: a commit settled after that transaction's snapshot is not in
// it, and would look like entries vanished.
func (db *DB) ownHead() ownHead {
	if db.own == nil {
		return ownHead{}
	}
	db.own.mu.Lock()
	defer db.own.mu.Unlock()
	return db.own.done
}

// ownHeadLost says, in words, how the trail in tx no longer holds, as its
// entry of that number, own, the last entry this process committed
// (ownHead, read before tx began): entries it acknowledged were removed
// (the trail is shorter), or the trail was put back from an older copy and
// written on since (another entry there now). It is "" while the trail
// extends it.
func ownHeadLost(tx kv.Tx, own ownHead) string {
	if own.seq == 0 {
		return ""
	}
	size := trailSize(tx)
	if uint64(size) < own.seq {
		return fmt.Sprintf("the trail does not extend what this server itself committed: its last commit made the trail %d entries, and the trail now has %d: %s vanished", own.seq, size, EntryRange(size+1, int64(own.seq)))
	}
	if h, err := audit.StoredHash(tx.Bucket(bAudit).Get(itob(own.seq))); err == nil && h == own.hash {
		return ""
	}
	return fmt.Sprintf("the trail does not extend what this server itself committed: its last commit made the trail %d entries, and entry %d is now another entry — the trail was put back from an older copy and written on since, so entries this server acknowledged, up to %d, were lost", own.seq, own.seq, own.seq)
}
