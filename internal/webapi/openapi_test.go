package webapi

import (
	"bufio"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse-dev/gatehouse/internal/state"
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

// TestOpenAPIValidates loads /api/openapi.json with kin-openapi and
// validates it against the OpenAPI 3 rules, strictly: schema formats,
// patterns, defaults and examples are checked, and every error is listed.
func TestOpenAPIValidates(t *testing.T) {
	s := newTestServer(t)
	body := s.get("api/openapi.json", cred{}).must(t, 200).body
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background(),
		openapi3.EnableSchemaFormatValidation(),
		openapi3.EnableSchemaPatternValidation(),
		openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableExamplesValidation(),
		openapi3.ProhibitExtensionsWithRef(),
		openapi3.EnableMultiError(),
	); err != nil {
		t.Fatalf("invalid OpenAPI document:\n%v", err)
	}
}

// TestOpenAPITypedResponses checks that every operation documents its
// success answer: no content (204, an empty 200, a redirect) or a typed
// body, never a bare {"type":"object"}; every object schema in a JSON
// answer names its properties (or their type, for a map). It also checks
// that the probes a server passes in Options and /metrics are listed.
func TestOpenAPITypedResponses(t *testing.T) {
	s := newTestServerWith(t, nil, func(_ *state.State, o *Options) {
		o.Probes = []Probe{{Path: "/healthz", Summary: "Liveness."}}
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(s.get("api/openapi.json", cred{}).must(t, 200).body)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/healthz", "/metrics", "/api/openapi.json"} {
		if doc.Paths.Value(p) == nil {
			t.Errorf("%s is not listed", p)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			var success []string
			for code, resp := range op.Responses.Map() {
				if !strings.HasPrefix(code, "2") && !strings.HasPrefix(code, "3") {
					continue
				}
				success = append(success, code)
				if resp.Value.Description == nil || *resp.Value.Description == "" {
					t.Errorf("%s %s %s: no description", method, path, code)
				}
				if len(resp.Value.Content) == 0 {
					if code == "200" && !strings.Contains(*resp.Value.Description, "empty") {
						t.Errorf("%s %s: 200 without content must say it answers an empty body", method, path)
					}
					continue
				}
				for mt, media := range resp.Value.Content {
					if mt != "application/json" || path == "/api/openapi.json" {
						continue
					}
					if problem := trivialSchema(media.Schema, map[*openapi3.Schema]bool{}); problem != "" {
						t.Errorf("%s %s %s: %s", method, path, code, problem)
					}
				}
			}
			if len(success) != 1 {
				t.Errorf("%s %s: success answers %v, want one", method, path, success)
			}
		}
	}
}

// trivialSchema reports an untyped object anywhere in s.
func trivialSchema(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) string {
	if ref == nil || ref.Value == nil {
		return "a missing schema"
	}
	s := ref.Value
	if seen[s] {
		return ""
	}
	seen[s] = true
	for _, alts := range []openapi3.SchemaRefs{s.AnyOf, s.AllOf, s.OneOf} {
		for _, alt := range alts {
			if p := trivialSchema(alt, seen); p != "" {
				return p
			}
		}
	}
	switch {
	case len(s.AnyOf) > 0 || len(s.AllOf) > 0 || len(s.OneOf) > 0:
		return ""
	case s.Type.Is("object"):
		if len(s.Properties) == 0 && s.AdditionalProperties.Schema == nil {
			return "an object schema with neither properties nor a value type"
		}
		for name, p := range s.Properties {
			if problem := trivialSchema(p, seen); problem != "" {
				return name + ": " + problem
			}
		}
		if s.AdditionalProperties.Schema != nil {
			return trivialSchema(s.AdditionalProperties.Schema, seen)
		}
	case s.Type.Is("array"):
		return trivialSchema(s.Items, seen)
	case s.Type == nil || len(*s.Type) == 0:
		// {}: any JSON value, for members that carry caller-defined
		// data (an audit event's before and after).
	}
	return ""
}
