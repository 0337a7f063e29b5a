package store

import (
	"fmt"
	"strconv"

	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// startColumnCheck starts verify's check of the columns an engine keeps
// beside the stored values, derived from them (kv.ColumnChecker), and
// returns what waits for its problems: on PostgreSQL, the columns people
// query, which celltrack writes with each row from the record
// (lots.status, …). The audit hashes cover the record, not them: a DBA's
// `UPDATE lots SET status = 'released'` leaves the record as its last
// entry set it, and only this sees that the rows SQL readers select no
// longer say what the records do. One problem per column that differs,
// naming the table, the row, the column, what it holds and what the
// record (or the key) gives. An engine without such columns (bbolt) has
// nothing to check. The check may run beside the caller's reads of tx
// (pgkv: on a connection of its own, in tx's snapshot).
//
// It also returns the records whose row's columns differ (changed): an
// index bucket the engine reads from those columns (kv.DerivedReader)
// differs for them as a consequence, which indexCheck.finish does not
// report a second time.
func startColumnCheck(tx kv.Tx) func() (problems []string, changed map[uuid.UUID]bool, err error) {
	cc, ok := tx.(kv.ColumnChecker)
	if !ok {
		return func() ([]string, map[uuid.UUID]bool, error) { return nil, nil, nil }
	}
	wait := cc.StartColumnCheck()
	return func() ([]string, map[uuid.UUID]bool, error) {
		ms, err := wait()
		if err != nil {
			return nil, nil, err
		}
		changed := map[uuid.UUID]bool{}
		for _, m := range ms {
			if isRecordBucket(m.Bucket) && len(m.Key) == len(uuid.UUID{}) {
				changed[uuid.UUID(m.Key)] = true
			}
		}
		return columnProblems(tx, ms), changed, nil
	}
}

// isRecordBucket says whether bucket holds records (recordBuckets).
func isRecordBucket(bucket string) bool {
	for _, name := range recordBuckets {
		if string(name) == bucket {
			return true
		}
	}
	return false
}

// columnProblems words the mismatches of the column check.
func columnProblems(tx kv.Tx, ms []kv.Mismatch) []string {
	var problems []string
	for _, m := range ms {
		row := rowName(tx, m)
		if m.Unreadable != "" {
			problems = append(problems, fmt.Sprintf("%s: the columns of table %s cannot be computed from its record (%s): the record was changed outside celltrack",
				row, m.Table, m.Unreadable))
			continue
		}
		from := "its record gives"
		if m.FromKey {
			from = "its key gives"
		}
		problems = append(problems, fmt.Sprintf("%s: column %s of table %s holds %s where %s %s: the column was changed outside celltrack, and SQL readers of %[3]s.%[2]s see %[4]s",
			row, m.Column, m.Table, sqlValue(m.Found), from, sqlValue(m.Want)))
	}
	return problems
}

// rowName names the row of a mismatch for a person: a record as verify's
// other problems do (its kind, lot number or code, and id), an audit entry
// or tree node by its number, any other by its table and key.
func rowName(tx kv.Tx, m kv.Mismatch) string {
	for kind, name := range recordBuckets {
		if string(name) == m.Bucket && len(m.Key) == len(uuid.UUID{}) {
			return kind + " " + describe(tx, kind, uuid.UUID(m.Key))
		}
	}
	switch {
	case m.Bucket == string(bAudit) && len(m.Key) == 8:
		return fmt.Sprintf("audit entry %d", btoi(m.Key))
	case m.Bucket == string(bAuditTree) && len(m.Key) == 8:
		return fmt.Sprintf("audit tree node %d", btoi(m.Key))
	case m.Bucket == string(bAuditEntity) && len(m.Key) == 24:
		return fmt.Sprintf("the audit_entity row of %s for entry %d", uuid.UUID(m.Key[:16]), btoi(m.Key[16:]))
	}
	return fmt.Sprintf("the row of table %s with key %x", m.Table, m.Key)
}

// sqlValue writes a column's value for a problem: NULL for none, else
// quoted.
func sqlValue(s *string) string {
	if s == nil {
		return "NULL"
	}
	return strconv.Quote(*s)
}
