package store

import (
	"time"

	"github.com/celltrack/celltrack/store/kv"
)

// Start asks Open for what a command reads before its own work — the
// facility's zone, the migration mark, the session — in the one read
// transaction Open checks the schema in, instead of a transaction each
// (issue 10: on PostgreSQL each was a round trip or more). What Open found
// is Started's; each part carries its own error, so that a refusal is
// what the command would have met reading it alone.
type Start struct {
	// Mark asks for the migration mark (Started.Mark).
	Mark bool
	// Credentials, when not nil, are checked as Session checks them —
	// SessionOnly: as SessionOnly does, without the user record — on a
	// database at this celltrack's schema (a file left behind is not
	// checked: Behind).
	Credentials *Credentials
	SessionOnly bool
}

// Started is what Open read for Options.Start.
type Started struct {
	// Zone is the facility's time zone, UTC when ZoneErr says why it
	// cannot be read.
	Zone    *time.Location
	ZoneErr error
	// Mark is the migration mark when asked for and the database has one
	// (its errors are not the command's: nil).
	Mark *MigratedMark
	// Checked says the credentials were checked: Session, Next and
	// SessionErr are Session's results.
	Checked    bool
	Session    SessionInfo
	Next       Credentials
	SessionErr error
}

// Started returns what Open read for Options.Start (the zero Started when
// nothing was asked).
func (db *DB) Started() Started {
	if db.started == nil {
		return Started{Zone: time.UTC}
	}
	return *db.started
}

// startReads is what Open's read transaction reads for s, the schema
// version included: asked for together (one round trip on PostgreSQL,
// nothing on bbolt) — by key, and the facility's record, the first of its
// bucket (facilityRec), for the zone.
func startReads(s *Start) kv.Reads {
	if s == nil {
		return kv.Reads{Keys: startKeys(s)}
	}
	return kv.Reads{Keys: startKeys(s), Ends: []kv.End{{Bucket: recordBuckets[kindFacility]}}}
}

// startKeys are the keys Open's read transaction reads by key for s.
func startKeys(s *Start) []kv.BucketKey {
	keys := []kv.BucketKey{{Bucket: bMeta, Key: []byte("schema")}}
	if s == nil {
		return keys
	}
	if s.Mark {
		keys = append(keys, kv.BucketKey{Bucket: bMeta, Key: metaMigrated})
	}
	if s.Credentials != nil && s.Credentials.Token != "" {
		keys = append(keys, sessionKeys(*s.Credentials)...)
	}
	return keys
}

// readStart reads what s asks for in tx, the schema checked (current says
// it is this celltrack's, so the session may be checked). A damaged page
// met by one part is that part's error, as it was in a transaction of its
// own.
func (db *DB) readStart(tx kv.Tx, s *Start, current bool) *Started {
	st := &Started{}
	func() {
		defer db.recoverDamage(&st.ZoneErr)
		st.Zone, st.ZoneErr = facilityZone(tx)
	}()
	if st.Zone == nil || st.ZoneErr != nil {
		st.Zone = time.UTC
	}
	if s.Mark {
		func() {
			var err error
			defer db.recoverDamage(&err)
			if st.Mark, err = migratedMark(tx); err != nil {
				st.Mark = nil
			}
		}()
	}
	if current && s.Credentials != nil {
		st.Checked = true
		func() {
			defer db.recoverDamage(&st.SessionErr)
			st.Session, st.Next, st.SessionErr = db.sessionIn(tx, *s.Credentials, !s.SessionOnly)
		}()
	}
	return st
}

// Served is what a command through a server reads before its own request
// (DB.ServedStart): the session checked, and the facility.
type Served struct {
	// Session and Next are Session's results.
	Session SessionInfo
	Next    Credentials
	// FIN is the facility's ISBT 128 facility number (Facility).
	FIN string
	// Zone is the facility's time zone (FacilityZone), nil when ZoneErr
	// says why it cannot be read.
	Zone    *time.Location
	ZoneErr error
	// Mark is the migration mark (Migrated), nil when there is none.
	Mark *MigratedMark
	// FacilityErr is why the facility's number or the mark could not be
	// read, as Facility or Migrated would have failed.
	FacilityErr error
}

// ServedStart is, in one read transaction, what a command through a server
// reads before its own request (web's GET /api/v1/svc/start): c checked as
// Session checks it and then, the session passed, the facility's FIN, zone
// and migration mark, all asked for together: on PostgreSQL one round trip
// once this process has checked the session before (sessionUsers; two on
// the first), where a request for the session and one for the facility
// took nine. The error is Session's: the session refused, or the database
// not read; the facility's are Served's.
func (db *DB) ServedStart(c Credentials) (s Served, err error) {
	err = db.view(func(tx kv.Tx) (err error) {
		if c.Token != "" {
			// The facility's record: a Seek to the empty key
			// (facilityRec).
			kv.PrefetchReads(tx, kv.Reads{
				Keys:  append(sessionKeys(c), kv.BucketKey{Bucket: bMeta, Key: []byte("facility")}, kv.BucketKey{Bucket: bMeta, Key: metaMigrated}),
				Seeks: []kv.Seeks{{From: 1, Keys: []kv.BucketKey{{Bucket: recordBuckets[kindFacility], Key: []byte{}}}}},
			})
		}
		if s.Session, s.Next, err = db.sessionIn(tx, c, true); err != nil {
			return err
		}
		func() {
			defer db.recoverDamage(&s.FacilityErr)
			s.FIN = string(tx.Bucket(bMeta).Get([]byte("facility")))
			s.Mark, s.FacilityErr = migratedMark(tx)
		}()
		func() {
			defer db.recoverDamage(&s.ZoneErr)
			s.Zone, s.ZoneErr = facilityZone(tx)
		}()
		if s.ZoneErr != nil {
			s.Zone = nil
		}
		return nil
	})
	return s, err
}
