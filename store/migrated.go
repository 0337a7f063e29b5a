package store

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	// Changed says how the stored mark disagrees with its audit entry
	// (changed outside celltrack); empty when they agree. The other fields
	// are then the entry's, not the mark's (migratedMark).
	Changed string `json:"-"`
}

// changedNote is what every line built from the mark adds when the stored
// mark was changed outside celltrack.
func (m MigratedMark) changedNote() string {
	if m.Changed == "" {
		return ""
	}
	return " — " + m.Changed
}

// Note is the one line a read of a migrated database prints.
func (m MigratedMark) Note() string {
	return fmt.Sprintf("this database was migrated to %s (%s) on %s by %s; it takes no more writes — this is a read of the old copy; work on %s%s", m.To, m.Engine, lot.FormatTime(m.At), m.By, m.To, m.changedNote())
}

// BedsideNote is what the bedside check of the old copy says: NO-GO, as
// the infusion could not be recorded here and the target's records decide.
func (m MigratedMark) BedsideNote() string {
	return fmt.Sprintf("this database was migrated to %s (%s) on %s by %s: this is the old copy, which takes no more writes and may be out of date — check on %s%s", m.To, m.Engine, lot.FormatTime(m.At), m.By, m.To, m.changedNote())
}

// refusal is the error every write on the marked database returns.
func (m MigratedMark) refusal() error {
	return lot.FieldErrorf("db", lot.ECONFLICT, "this database was migrated to %s (%s) on %s by %s (its audit entry %d; the target received entries 1–%d); it takes no more writes and nothing was written — use that database, %s%s", m.To, m.Engine, lot.FormatTime(m.At), m.By, m.Entry, m.Size, m.To, m.changedNote())
}

// storedMark reads the mark as stored in meta, unchecked; nil when there
// is none.
func storedMark(tx kv.Tx) (*MigratedMark, error) {
	raw := tx.Bucket(bMeta).Get(metaMigrated)
	if raw == nil {
		return nil, nil
	}
	var m MigratedMark
	if err := unmarshalRecord(raw, &m); err != nil || m.To == "" {
		// A mark that cannot be read still marks: writing on would be
		// the double history the mark exists to prevent.
		return &MigratedMark{To: "(an unreadable target: meta \"migrated\" is " + fmt.Sprintf("%q", raw) + ")", Engine: "unknown", By: "unknown"}, nil
	}
	return &m, nil
}

// migratedMark reads the mark of the database of tx; nil when it has none.
// The mark lives in meta, outside the hash chain, so what it says is taken
// from the audited database.migrate entry it names (or, when it names none,
// the trail's last migration away): a target rewritten at raw level would
// send every reader of the old copy, and every refused writer, to a
// database someone else controls. A mark that disagrees with its entry
// still marks; it says so (Changed), and `audit verify` fails on it.
func migratedMark(tx kv.Tx) (*MigratedMark, error) {
	m, err := storedMark(tx)
	if err != nil || m == nil {
		return m, err
	}
	var e *audit.Entry
	if v := tx.Bucket(bAudit).Get(itob(m.Entry)); v != nil {
		if d, err := audit.Decode(v); err == nil && migratedAway(d) {
			e = &d
		}
	}
	if e == nil {
		if e, err = lastMigration(tx, nil); err != nil {
			return nil, err
		}
		if e != nil && !migratedAway(*e) {
			e = nil
		}
	}
	if e == nil {
		m.Changed = "its mark (meta \"migrated\") has no database.migrate entry in the audit trail: it was written outside celltrack; report it to QA"
		return m, nil
	}
	a := markOf(*e)
	if d := markDiffers(*m, *a); d != "" {
		a.Changed = fmt.Sprintf("its mark (meta \"migrated\") was changed outside celltrack (%s); what is shown is its audit entry's; report it to QA", d)
	}
	return a, nil
}

// markDiffers names the first field in which the stored mark m differs
// from a, the mark its audit entry was written with, with both values;
// empty when they agree.
func markDiffers(m, a MigratedMark) string {
	for _, f := range []struct{ name, mark, entry string }{
		{"to", m.To, a.To},
		{"engine", m.Engine, a.Engine},
		{"by", m.By, a.By},
		{"size", fmt.Sprint(m.Size), fmt.Sprint(a.Size)},
		{"root", m.Root, a.Root},
		{"entry", fmt.Sprint(m.Entry), fmt.Sprint(a.Entry)},
	} {
		if f.mark != f.entry {
			return fmt.Sprintf("%s is %s, audit entry %d says %s", f.name, f.mark, a.Entry, f.entry)
		}
	}
	if !m.At.Equal(a.At) {
		return fmt.Sprintf("at is %s, audit entry %d says %s", lot.FormatTime(m.At), a.Entry, lot.FormatTime(a.At))
	}
	return ""
}

// refuseIfMigrated returns the mark's refusal when tx's database is marked,
// or when its mark was removed outside celltrack while the trail's last
// entries still say it was migrated away (migratedByTrail).
func refuseIfMigrated(tx kv.Tx) error {
	m, err := migratedMark(tx)
	if err != nil {
		return err
	}
	if m == nil {
		if m = migratedByTrail(tx); m == nil {
			return nil
		}
		return lot.Errorf(lot.ECONFLICT, "%s — its mark (meta \"migrated\") was removed outside celltrack; report it to QA", m.refusal())
	}
	return m.refusal()
}

// migratedByTrail is the mark of the migration away that the trail's last
// entries record when the meta mark is gone: a database migrated away takes
// no record write after its database.migrate entry, only access and
// security events — logins, logouts, wrong passwords and a right one that
// resets their count — whose entries set a user record (its last login,
// its count of wrong passwords) or change none. So reading back from the
// end over user entries and events reaches that entry; a state entry of
// any other record, or a database.reopen, ends the walk: nil. There is no
// bound on how far: however many logins the old copy took since, the
// migration is found (a bound is how far a reader of the old copy would
// have to log in to reopen it). A write on an open database reads the
// last entry only (its header, and whose record it sets: setsUser), unless
// it sets a user record or is an event; then back to the last record write. `audit verify` checks the
// mark against the whole trail (verifyMigratedMark).
func migratedByTrail(tx kv.Tx) *MigratedMark {
	users := tx.Bucket(recordBuckets[kindUser])
	c := tx.Bucket(bAudit).Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		h, err := audit.ParseHeader(v)
		if err != nil || (h.State && !setsUser(tx, users, v, h)) {
			return nil
		}
		if h.State {
			continue // a user's login, logout or password count
		}
		e, err := audit.Decode(v)
		if err != nil {
			return nil // a broken entry is audit verify's to report
		}
		switch {
		case migratedAway(e):
			return markOf(e)
		case e.Action == actionReopen:
			return nil
		}
	}
	return nil
}

// setsUser reports whether the state entry v, whose header is h, sets a user
// record. Where a Get is a round trip (PostgreSQL: an engine that reads
// ahead), the entry's own kind says so (audit.StoredEntity), read from its
// body — a write's last entry is mostly another record's, and asking the
// users bucket for its id was a round trip on nearly every write. Where a
// Get costs nothing (bbolt), the users bucket is asked for h's id, which
// spares a write the entry decoder's set-up. The two agree: a state entry
// of kind user is written with its record, and a user record is never
// deleted.
func setsUser(tx kv.Tx, users kv.Bucket, v []byte, h audit.Header) bool {
	if kv.ReadsAhead(tx) {
		kind, err := audit.StoredEntity(v)
		return err == nil && kind == kindUser
	}
	return users != nil && users.Get(h.ID[:]) != nil
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
// reason (EUSAGE); nothing is written then. A database whose mark was
// removed outside celltrack, while its trail's last migration entry says it
// was migrated away, is reopened as if marked (the entry says so): that is
// how it passes `audit verify` again.
func (db *DB) ReopenMigrated(actor, reason string) (m MigratedMark, err error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return m, lot.FieldErrorf("reason", lot.EUSAGE, "reopening a migrated database needs a reason: why this database takes writes again (the target lost, say)")
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
		lost := ""
		if mark == nil {
			// The mark removed outside celltrack: the trail still says the
			// database was migrated, and `audit verify` fails until an
			// admin reopens it, as from a mark.
			e, err := lastMigration(tx, nil)
			if err != nil {
				return err
			}
			if e == nil || !migratedAway(*e) {
				return lot.Errorf(lot.ECONFLICT, "%s was not migrated: it takes writes already, and there is nothing to reopen; nothing was written", db.path)
			}
			mark, lost = markOf(*e), " (its mark, meta \"migrated\", had been removed outside celltrack)"
		}
		m = *mark
		w := &writer{db: db, tx: tx, actor: u, now: db.now(), open: true}
		note := fmt.Sprintf("reopened for writes after its migration to %s (%s) on %s by %s (entry %d)%s: %s", m.To, m.Engine, lot.FormatTime(m.At), m.By, m.Entry, lost, reason)
		if err := w.event(kindUser, u.ID, actionReopen, note); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Delete(metaMigrated)
	})
	return m, err
}

// migrationMention starts the action of every entry lastMigration looks
// for: the database's own actions (database.migrate, .reopen, .restore,
// …), few in any trail.
var migrationMention = []byte(`database.`)

// lastMigration returns the trail's last database.migrate or
// database.reopen entry, nil when it has none. With mentions (the events
// whose action starts with migrationMention, as `audit verify` found them
// while hashing) it decodes those alone; without, it reads back from the
// end, decoding the events (a migration is no record's state).
func lastMigration(tx kv.Tx, mentions []uint64) (*audit.Entry, error) {
	b := tx.Bucket(bAudit)
	is := func(v []byte) (*audit.Entry, bool) {
		e, err := audit.Decode(v)
		if err != nil || (e.Action != actionMigrate && e.Action != actionReopen) {
			return nil, false // a broken entry is audit verify's to report
		}
		return &e, true
	}
	if mentions != nil {
		sort.Slice(mentions, func(i, j int) bool { return mentions[i] > mentions[j] })
		for _, seq := range mentions {
			if e, ok := is(b.Get(itob(seq))); ok {
				return e, nil
			}
		}
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if h, err := audit.ParseHeader(v); err != nil || h.State {
			continue
		}
		if e, ok := is(v); ok {
			return e, nil
		}
	}
	return nil, nil
}

// migratedAway reports whether e is a database's own entry of its migration
// away (MigrateTo's, "migrated to …"); a target's entry of the same action
// says where it came from.
func migratedAway(e audit.Entry) bool {
	return e.Action == actionMigrate && strings.HasPrefix(e.Reason, "migrated to ")
}

// migratedToRE reads back the entry MigrateTo writes on the source.
// Compiled at first use (dbIDPattern).
var migratedToRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^migrated to (.+) \(([^()]+)\) with (\d+) entries, root (\S+); `)
})

// markOf is the mark the migration entry e was written with.
func markOf(e audit.Entry) *MigratedMark {
	m := &MigratedMark{V: 1, To: "(see audit entry " + fmt.Sprint(e.Seq) + ")", Engine: "unknown", At: e.Time, By: e.User, Entry: e.Seq}
	if p := migratedToRE().FindStringSubmatch(e.Reason); p != nil {
		m.To, m.Engine, m.Root = p[1], p[2], p[4]
		m.Size, _ = strconv.ParseInt(p[3], 10, 64)
	}
	return m
}

// verifyMigratedMark is `audit verify`'s check of the mark against the
// trail, given the entries that mention a database action (lastMigration):
// a database whose last migration entry says it was migrated away must
// carry the mark of that entry, field for field — without it, it takes
// writes as if it had never been migrated, the double history the mark
// prevents; with another target, its readers are sent elsewhere — and a
// mark must have such an entry.
func verifyMigratedMark(tx kv.Tx, mentions []uint64) ([]string, error) {
	mark, err := storedMark(tx)
	if err != nil {
		return nil, err
	}
	e, err := lastMigration(tx, append([]uint64{}, mentions...))
	if err != nil {
		return nil, err
	}
	away := e != nil && migratedAway(*e)
	switch {
	case away && mark == nil:
		return []string{fmt.Sprintf("audit entry %d (database.migrate by %s, %s) says this database was migrated to %s and takes no more writes, but its mark (meta \"migrated\") is missing: it was removed outside celltrack, and writes are taken here as if it had never been migrated — work on the target; if this copy must take writes again, an admin reopens it as the migration's source, with a reason, and report it to QA", e.Seq, e.User, lot.FormatTime(e.Time), markOf(*e).To)}, nil
	case away && mark.Entry != e.Seq:
		return []string{fmt.Sprintf("the mark (meta \"migrated\") names audit entry %d, but the database.migrate entry of the migration is %d: the mark was changed outside celltrack — report it to QA", mark.Entry, e.Seq)}, nil
	case away:
		// Every field, not its presence only: the mark is what readers
		// of the old copy are told to work on.
		if d := markDiffers(*mark, *markOf(*e)); d != "" {
			return []string{fmt.Sprintf("the mark (meta \"migrated\") disagrees with the database.migrate entry %d of the migration: %s — the mark was changed outside celltrack; work on the database the entry names, and report it to QA", e.Seq, d)}, nil
		}
	case !away && mark != nil:
		last := "the trail has no database.migrate entry"
		if e != nil {
			last = fmt.Sprintf("the trail's last migration entry, %d (%s), is not this database's migration away", e.Seq, e.Action)
		}
		return []string{fmt.Sprintf("the mark (meta \"migrated\") says this database was migrated to %s (entry %d), but %s: the mark was written outside celltrack — report it to QA", mark.To, mark.Entry, last)}, nil
	}
	return nil, nil
}
