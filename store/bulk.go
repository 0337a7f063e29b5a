package store

import (
	"fmt"

	"github.com/celltrack/celltrack/store/kv"
)

// Bulk runs fn, in which every call to db's services shares one write
// transaction, committed when fn returns nil and rolled back whole on any
// error. Each call goes through exactly the code it runs alone — the
// permission check of its actor, its domain rules, the audited writer that
// appends its hash-chained entry — only the commits (and their fsyncs) are
// shared. It is the bulk-loading path of the benchmark harness
// (BENCHMARKS.md), which builds databases of a million custody events that
// one transaction per event would take hours to write. Not for concurrent
// use, and not for commands: a refusal inside fn undoes the whole batch.
func (db *DB) Bulk(fn func() error) (err error) {
	if db.bulk != nil {
		return fmt.Errorf("store: Bulk inside Bulk")
	}
	defer db.recoverDamage(&err)
	return db.engine.Update(func(tx kv.Tx) error {
		db.bulk = tx
		defer func() { db.bulk = nil }()
		return fn()
	})
}
