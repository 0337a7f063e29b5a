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

// openapi.json's summary of each service endpoint is the one its route
// carries in the code (svcRoute.summary), so a route whose behaviour
// changes with its summary cannot leave the document saying the old.
func TestOpenAPIServiceSummariesAreTheRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Summary string `json:"summary"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	svc := (&Server{}).serviceRoutes()
	if len(svc) < 80 {
		t.Fatalf("only %d service routes", len(svc))
	}
	for _, r := range svc {
		method, path, _ := strings.Cut(r.pattern, " ")
		got := doc.Paths[path][strings.ToLower(method)].Summary
		if got != r.summary {
			t.Errorf("%s: openapi.json says\n  %s\nthe route says\n  %s", r.pattern, got, r.summary)
		}
	}
}
