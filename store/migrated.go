package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
)

// A database that `celltrack migrate` copied to the other engine is the old
// copy from then on: the site works on the target, and a write still made
// on the source — a nurse whose CELLTRACK_DB still names the file recording
// an infusion — would start a second history in which the bag the target
// still holds as GO was given, and the dose due there is given twice. So a
// successful migration marks the source, in the write transaction whose
// contents were copied (MigrateTo), and every write on a marked database is
// refused before anything is written. Reads, `audit verify`, `check`,
// `trace` and `backup` still work on it; logging in and out, and the
// security events of wrong passwords, are still recorded, because who reads
// the old copy must be known as on any database.

// metaMigrated is the meta key of the mark: MigratedMark as JSON.
var metaMigrated = []byte("migrated")

// MigratedMark says where a database was migrated to, when and by whom, and
// which cut of its audit trail the target received.
type MigratedMark struct {
	V int `json:"v"`
	// To names the target for people: a file's absolute path, or a
	// PostgreSQL URL without its password; Engine is its engine.
	To     string    `json:"to"`
	Engine string    `json:"engine"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	// Size and Root are the tree head the target received (the source's
	// entries 1..Size); Entry is the source's own database.migrate entry,
	// Size+1, written with the mark.
	Size  int64  `json:"size"`
	Root  string `json:"root"`
	Entry uint64 `json:"entry"`
}

// Note is the one line a read of a migrated database prints.
func (m MigratedMark) Note() string {
	return fmt.Sprintf("this database was migrated to %s (%s) on %s by %s; it takes no more writes — this is a read of the old copy; work on %s", m.To, m.Engine, lot.FormatTime(m.At), m.By, m.To)
}

// BedsideNote is what the bedside check of the old copy says: NO-GO, as
// the infusion could not be recorded here and the target's records decide.
func (m MigratedMark) BedsideNote() string {
	return fmt.Sprintf("this database was migrated to %s (%s) on %s by %s: this is the old copy, which takes no more writes and may be out of date — check on %s", m.To, m.Engine, lot.FormatTime(m.At), m.By, m.To)
}

// refusal is the error every write on the marked database returns.
func (m MigratedMark) refusal() error {
	return lot.Errorf(lot.ECONFLICT, "this database was migrated to %s (%s) on %s by %s (its audit entry %d; the target received entries 1–%d); it takes no more writes and nothing was written — use that database: celltrack --db %s …", m.To, m.Engine, lot.FormatTime(m.At), m.By, m.Entry, m.Size, m.To)
}

// migratedMark reads the mark of the database of tx; nil when it has none.
func migratedMark(tx kv.Tx) (*MigratedMark, error) {
	raw := tx.Bucket(bMeta).Get(metaMigrated)
	if raw == nil {
		return nil, nil
	}
	var m MigratedMark
	if err := json.Unmarshal(raw, &m); err != nil || m.To == "" {
		// A mark that cannot be read still marks: writing on would be
		// the double history the mark exists to prevent.
		return &MigratedMark{To: "(an unreadable target: meta \"migrated\" is " + fmt.Sprintf("%q", raw) + ")", Engine: "unknown", By: "unknown"}, nil
	}
	return &m, nil
}

// refuseIfMigrated returns the mark's refusal when tx's database is marked.
func refuseIfMigrated(tx kv.Tx) error {
	m, err := migratedMark(tx)
	if err != nil || m == nil {
		return err
	}
	return m.refusal()
}

// Migrated returns the mark of a database that was migrated to the other
// engine, or nil.
func (db *DB) Migrated() (m *MigratedMark, err error) {
	err = db.view(func(tx kv.Tx) (err error) {
		m, err = migratedMark(tx)
		return err
	})
	return m, err
}

// actionReopen is the audit action of ReopenMigrated.
const actionReopen = "database.reopen"

// ReopenMigrated takes the migration mark off this database, so that it
// takes writes again, as actor, who must be allowed audit.DatabaseMigrate
// (an admin: reopening is the migration's undo), with a reason, recorded
// with where the database had gone in a database.reopen entry in the same
// transaction. It is for a target that was lost or never used: whatever
// the target recorded since the migration is not here, and working on both
// again is the double history the mark prevents — the command says so. A
// database that is not marked is refused (ECONFLICT), as is an empty
// reason (EUSAGE); nothing is written then.
func (db *DB) ReopenMigrated(actor, reason string) (m MigratedMark, err error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return m, lot.Errorf(lot.EUSAGE, "--reopen-source needs --reason: why this database takes writes again (the target lost, say)")
	}
	defer db.recoverDamage(&err)
	err = db.engine.Update(func(tx kv.Tx) error {
		u, err := userByName(tx, actor)
		if err != nil {
			return err
		}
		if err := audit.Authorize(u, audit.DatabaseMigrate); err != nil {
			return err
		}
		if err := db.touchSession(tx, actor); err != nil {
			return err
		}
		mark, err := migratedMark(tx)
		if err != nil {
			return err
		}
		if mark == nil {
			return lot.Errorf(lot.ECONFLICT, "%s was not migrated: it takes writes already, and there is nothing to reopen; nothing was written", db.path)
		}
		m = *mark
		w := &writer{db: db, tx: tx, actor: u, now: db.now(), open: true}
		note := fmt.Sprintf("reopened for writes after its migration to %s (%s) on %s by %s (entry %d): %s", m.To, m.Engine, lot.FormatTime(m.At), m.By, m.Entry, reason)
		if err := w.event(kindUser, u.ID, actionReopen, note); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Delete(metaMigrated)
	})
	return m, err
}
