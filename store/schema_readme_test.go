package store

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEKeySchemaListsEveryBucket keeps the README's key schema honest:
// every bucket the store creates has a row, and every row names a bucket the
// store creates. A new bucket needs a row in README.md (and in the comment
// table at the top of db.go). The store creates meta, audit, audit_entity,
// the record buckets and the index buckets declared in recordIndexes, which
// `audit verify` checks (TestVerifyChecksEveryIndex): so a bucket of the key
// schema that is neither a record bucket nor a verified index fails here.
func TestREADMEKeySchemaListsEveryBucket(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- key-schema -->")
	table, _, ok2 := strings.Cut(rest, "<!-- /key-schema -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- key-schema --> table")
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|").FindAllStringSubmatch(table, -1) {
		documented[m[1]] = true
	}
	created := map[string]bool{string(bMeta): true, string(bAudit): true, string(bAuditEntity): true, string(bAuditTree): true, string(bSessions): true}
	for _, b := range recordBuckets {
		created[string(b)] = true
	}
	for _, b := range indexBuckets {
		created[string(b)] = true
	}
	dbComment, err := os.ReadFile("db.go")
	if err != nil {
		t.Fatal(err)
	}
	for b := range created {
		if !documented[b] {
			t.Errorf("bucket %s is not in README.md's key schema table; add a row | `%s` | key | value |", b, b)
		}
		if !regexp.MustCompile(`(?m)^//\t` + b + ` `).Match(dbComment) {
			t.Errorf("bucket %s is not in the key-schema comment of store/db.go", b)
		}
	}
	for b := range documented {
		if !created[b] {
			t.Errorf("README.md's key schema lists bucket %s, which the store does not create", b)
		}
	}
}
