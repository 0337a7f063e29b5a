package web

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// openapi.json describes exactly the routes the server registers.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var described, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			described = append(described, strings.ToUpper(method)+" "+path)
		}
	}
	for _, rt := range (&Server{}).apiRoutes() {
		served = append(served, rt.pattern)
	}
	slices.Sort(described)
	slices.Sort(served)
	if !slices.Equal(described, served) {
		t.Errorf("openapi.json describes\n  %s\nthe server serves\n  %s", strings.Join(described, "\n  "), strings.Join(served, "\n  "))
	}
}
