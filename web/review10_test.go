package web

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"testing"

	"github.com/celltrack/celltrack/lot"
)

// Review 10: pages9 bounded the lots page by having s.lots ask the store
// for the newest maxLotRows+1 lots; but /api/v1/lots (README: "200, the
// lots as `lot list --json`", no paging documented) goes through the same
// s.lots. An API client — an inventory reconciliation, an inspector's
// export — now gets the 1,001 newest lots of 1,500, with 200 and nothing
// saying any were left out (not even the page's own 1,000). It should
// answer every matching lot, as `lot list --json` does, or document and
// signal the bound.
func TestReview10APILotsListsEveryLot(t *testing.T) {
	var asked lot.LotFilter
	const total = 1500
	s := New(Config{Log: log.New(io.Discard, "", 0), Sessions: oneSession{}, Lots: manyLots{total: total, asked: &asked}})
	w := getAs(s, "/api/v1/lots?status=quarantine")
	body, _ := io.ReadAll(w.Body)
	var views []map[string]any
	if err := json.Unmarshal(body, &views); err != nil || w.Code != http.StatusOK {
		t.Fatalf("/api/v1/lots: %d %v\n%.500s", w.Code, err, body)
	}
	if len(views) != total {
		t.Errorf("/api/v1/lots with %d quarantined lots answered %d (asked the store for Last=%d), 200, with nothing saying lots were left out", total, len(views), asked.Last)
	}
}
