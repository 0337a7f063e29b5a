package store

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/celltrack/celltrack/internal/pgtest"
	"github.com/celltrack/celltrack/lot"
)

// TestPostgresUpgradeKeepsTheSitesRole: a database whose sites' role was
// given the README's grants before the lot index views (engine schema 3)
// and the donor check table (schema 4) existed still serves that role after
// `celltrack upgrade` (schema 5 grants it what they added): a lot is read by
// number and a new lot is written through it. Before schema 5 both were
// refused "permission denied" — the look-up as an internal error.
func TestPostgresUpgradeKeepsTheSitesRole(t *testing.T) {
	old, _, now := schema1Copy(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.ReplaceAll(pgtest.Name(old), "celltrack_test_", "")
	app, owner := "ct_app_"+suffix, "ct_owner_"+suffix
	grants, err := pgtest.SitesRoleGrants(readme, app, owner, pgtest.Name(old))
	if err != nil {
		t.Fatal(err)
	}
	if err := pgtest.Exec(old, grants, "ALTER ROLE "+app+" PASSWORD 'app-pw'"); err != nil {
		t.Fatalf("the README's grants on the schema-1 database: %v", err)
	}
	t.Cleanup(func() { pgtest.Exec(old, "DROP OWNED BY "+app+", "+owner, "DROP ROLE "+app+", "+owner) })

	up, _, err := OpenForUpgrade(old, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := up.Upgrade("alice"); err != nil {
		t.Fatal(err)
	}
	up.Close()

	u, err := url.Parse(old)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(app, "app-pw")
	site, err := Open(u.String(), Options{Now: now})
	if err != nil {
		t.Fatalf("open as the sites' role after the upgrade: %v", err)
	}
	defer site.Close()
	s := NewLotService(site)
	if l, err := s.Lot("LOT-1"); err != nil || l.Number != "LOT-1" {
		t.Errorf("lot LOT-1 read by number as the sites' role after the upgrade: %+v, %v", l.Number, err)
	}
	if _, err := s.RegisterLot("liu", lot.Registration{Number: "LOT-2", Source: lot.SourceUC, Donor: "D-1",
		Cells: 2_000_000_000, Viability: 950, VolumeML: 1000, Manufactured: now().AddDate(0, 0, -5), Expires: now().AddDate(1, 0, 0)}); err != nil {
		t.Errorf("a lot written as the sites' role after the upgrade: %v", err)
	}
	if v, err := site.Verify(); err != nil || !v.OK() {
		t.Errorf("audit verify as the sites' role: %v %v", err, v.Problems)
	}
}
