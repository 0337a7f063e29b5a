package store

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/store/kv"
	"github.com/google/uuid"
)

// foldIndex is an index of the codes a person types to name a record (a
// lot number, a donor id, a site id) folded to one letter case: a new code
// that folds to an existing one is refused, as an MRN in another case is,
// because a look-back, a recall or a shipment typed in the other case would
// reach the other record. The bucket's keys are foldKey(code) + the record's
// id, with no value (recordIndexes writes them, `audit verify` checks them):
// a composite index, so that a database which already held two case
// variants when it was upgraded to schema 10 keeps an entry for each.
type foldIndex struct {
	bucket string
	kind   string
	member string // the record's JSON member holding the code
	field  string // the code, as the person typing it knows it
}

// foldIndexes are the folded code indexes (schema 10).
var foldIndexes = []foldIndex{
	{"idx_donor_code_fold", kindDonor, "code", "donor id"},
	{"idx_lot_number_fold", kindLot, "number", "lot number"},
	{"idx_site_code_fold", kindSite, "code", "site id"},
}

// foldIndexOf returns the folded code index named bucket.
func foldIndexOf(bucket string) (foldIndex, bool) {
	for _, f := range foldIndexes {
		if f.bucket == bucket {
			return f, true
		}
	}
	return foldIndex{}, false
}

// isFoldIndex reports whether bucket is a folded code index.
func isFoldIndex(bucket string) bool {
	_, ok := foldIndexOf(bucket)
	return ok
}

// foldKey is the key prefix of code in a folded code index: each rune
// replaced by the smallest rune of its Unicode simple case-folding orbit
// (unicode.SimpleFold), so that two codes have the same folded form exactly
// when strings.EqualFold holds for them (the MRN's rule), then a 0x00 byte,
// which no code holds (lot.ValidateCode), so that the key of LOT-1 is no
// prefix of LOT-10's. The record's id follows.
func foldKey(code string) []byte {
	return appendFoldKey(make([]byte, 0, len(code)+1+16), code)
}

// appendFoldKey appends foldKey(code) to b.
func appendFoldKey(b []byte, code string) []byte {
	for i := 0; i < len(code); {
		if c := code[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A' // the smaller of an ASCII letter's two cases; k and s fold to K and S too (the Kelvin sign, the long s)
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(code[i:])
		i += n
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		b = utf8.AppendRune(b, lo)
	}
	return append(b, 0)
}

// foldedCode returns a code in the index ix that differs from code only in
// letter case (the first, when a database upgraded to schema 10 holds
// several); the caller has already refused code itself. It reads the
// index's keys of code's folded form, and the one record found.
func foldedCode(tx kv.Tx, ix foldIndex, code string) (string, bool, error) {
	prefix := foldKey(code)
	c := tx.Bucket([]byte(ix.bucket)).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+16 {
			continue
		}
		id := uuid.UUID(k[len(prefix):])
		var r jsonFields
		if r.parse(tx.Bucket(recordBuckets[ix.kind]).Get(id[:])); r.err != nil {
			return "", false, fmt.Errorf("index %s: %s %s: %w", ix.bucket, ix.kind, id, r.err)
		}
		if other := r.str(ix.member); other != code {
			return other, true, r.err
		}
	}
	return "", false, nil
}

// refuseFolded returns the ECONFLICT refusal of a new code of the folded
// index bucket that differs from a registered one only in letter case; nil
// when none does. show is the command that shows the registered record,
// %s standing for its code.
func refuseFolded(tx kv.Tx, bucket, code, show string) error {
	ix, _ := foldIndexOf(bucket)
	other, ok, err := foldedCode(tx, ix, code)
	if err != nil || !ok {
		return err
	}
	return lot.Errorf(lot.ECONFLICT, "%s %s differs from the registered %s %s only in letter case; one code names one record, and a look-back, recall or shipment typed in another case must never reach another one: if this is that record use %s, otherwise choose a distinct %s; nothing was written",
		ix.field, code, ix.field, other, other, ix.field).Run(strings.ReplaceAll(show, "%s", other))
}

// CaseVariants is a group of registered codes that differ only in letter
// case: possible only in a database written before schema 10, whose
// upgrade keeps every record. QA decides which record is meant.
type CaseVariants struct {
	Field string   `json:"field"`
	Codes []string `json:"codes"` // in registration order within the index's key order
}

// String words the group for a warning.
func (v CaseVariants) String() string {
	return fmt.Sprintf("%ss %s differ only in letter case (registered before schema 10, which refuses such a code): QA must decide which record each label, look-back or recall means, and only the exact code reaches a record", v.Field, joinAnd(v.Codes))
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " and " + s[len(s)-1]
}

// caseVariants lists every group of codes in the folded code indexes that
// differ only in letter case, reading the indexes' keys and the records of
// the groups found.
func caseVariants(tx kv.Tx) ([]CaseVariants, error) {
	var out []CaseVariants
	for _, ix := range foldIndexes {
		b := tx.Bucket([]byte(ix.bucket))
		if b == nil {
			continue
		}
		var prefix []byte
		var ids []uuid.UUID
		flush := func() error {
			if len(ids) > 1 {
				g := CaseVariants{Field: ix.field}
				for _, id := range ids {
					var r jsonFields
					if r.parse(tx.Bucket(recordBuckets[ix.kind]).Get(id[:])); r.err != nil {
						return fmt.Errorf("index %s: %s %s: %w", ix.bucket, ix.kind, id, r.err)
					}
					g.Codes = append(g.Codes, r.str(ix.member))
				}
				out = append(out, g)
			}
			ids = ids[:0]
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) < 17 {
				continue // not an entry of this index; audit verify names it
			}
			p := k[:len(k)-16]
			if !bytes.Equal(p, prefix) {
				if err := flush(); err != nil {
					return nil, err
				}
				prefix = append(prefix[:0], p...)
			}
			ids = append(ids, uuid.UUID(k[len(k)-16:]))
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CaseVariants lists the lot numbers, donor ids and site ids registered
// before schema 10 that differ only in letter case (none in a database
// created at 10 or later: such a code is refused). `celltrack upgrade` and
// `celltrack check` print each group as a warning for QA to resolve.
func (db *DB) CaseVariants() ([]CaseVariants, error) {
	var vs []CaseVariants
	err := db.view(func(tx kv.Tx) (err error) { vs, err = caseVariants(tx); return err })
	return vs, err
}
