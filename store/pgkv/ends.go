package pgkv

import "github.com/celltrack/celltrack/store/kv"

// endsPlan is what PrefetchReads reads of kv.Reads.Ends: for each bucket
// end no page of this transaction answers yet, the statement a cursor's
// First or Last would send for its page (cursor.fetch), each end once.
type endsPlan struct {
	parts []endPart
	stmts []rawStmt
}

type endPart struct {
	b     *bucket
	last  bool
	stamp int
}

func (t *tx) endsPlan(ends []kv.End) endsPlan {
	var p endsPlan
	for _, e := range ends {
		b, _ := t.Bucket(e.Bucket).(*bucket)
		if b == nil {
			continue
		}
		if p.has(b, e.Last) || t.endKnown(b, e.Last) {
			continue
		}
		q := b.q.first
		if e.Last {
			q = b.q.last
		}
		p.parts = append(p.parts, endPart{b: b, last: e.Last, stamp: t.flushes[b.name]})
		p.stmts = append(p.stmts, rawStmt{sql: q, args: b.args()})
	}
	return p
}

// has says whether p reads the end last of b already.
func (p endsPlan) has(b *bucket, last bool) bool {
	for _, pt := range p.parts {
		if pt.b == b && pt.last == last {
			return true
		}
	}
	return false
}

// endKnown says whether a page of this transaction answers a cursor's move
// to the end last of b, as the table is now.
func (t *tx) endKnown(b *bucket, last bool) bool {
	stamp := t.flushes[b.name]
	for _, pg := range *t.pagesOf(b.name) {
		if pg.stamp != stamp {
			continue
		}
		if _, _, known := pg.answer(nil, last, false); known {
			return true
		}
	}
	return false
}

// endsApply keeps what p's statements returned as the pages the cursor
// moves would have fetched.
func (t *tx) endsApply(p endsPlan, res []rawResult) {
	for i, pt := range p.parts {
		pairs := t.rawPairs("read "+pt.b.name, res[i])
		t.keepPage(pt.b.name, pt.stamp, pageOf(pairs, nil, pt.last, false, pageSize))
	}
}
