package webapi

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIDescribesEveryRoute checks that every route of the contract
// (testdata/routes.txt: the SonarQube actions of the reference and
// Gatehouse's own) is served and described in /api/openapi.json, and that
// every served route is described.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := newTestServer(t)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	s.get("api/openapi.json", cred{}).must(t, 200).json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	described := func(method, path string) bool {
		op, ok := doc.Paths["/"+path][strings.ToLower(method)]
		return ok && op["responses"] != nil && op["summary"] != ""
	}
	f, err := os.Open("testdata/routes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		method, path, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		if !described(method, path) {
			t.Errorf("%s %s is missing from the OpenAPI document", method, path)
		}
		if strings.HasPrefix(path, "api/v2/") {
			if !slices.ContainsFunc(s.api.v2, func(rt *v2Route) bool { return rt.Method == method && rt.Pattern == path }) {
				t.Errorf("%s %s is not served", method, path)
			}
			continue
		}
		if rt := s.api.byMethod[method+" "+path]; rt == nil {
			t.Errorf("%s %s is not served", method, path)
		}
	}
	for _, rt := range s.api.Routes() {
		if !described(rt.Method, rt.Path) {
			t.Errorf("served route %s %s is missing from the OpenAPI document", rt.Method, rt.Path)
		}
		if rt.Summary == "" {
			t.Errorf("%s has no summary", rt.Path)
		}
	}
	for _, rt := range s.api.v2 {
		if !described(rt.Method, rt.Pattern) {
			t.Errorf("served route %s %s is missing from the OpenAPI document", rt.Method, rt.Pattern)
		}
	}
}
