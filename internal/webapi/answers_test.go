package webapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// answerChecker validates every answer a test server sends, whichever
// client sent the request, against the server's own OpenAPI document,
// strictly: an undocumented status or content type, a member the schema
// does not name, a missing required member or a wrong type fails the test.
// So every test of the package also checks that the document describes
// what the handlers really answer.
type answerChecker struct {
	t    *testing.T
	api  *API
	once sync.Once
	doc  *openapi3.T
	err  error
}

// wrap returns h with its answers checked.
func (ac *answerChecker) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recordingWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if err := ac.check(r, rec); err != nil {
			body := rec.body.String()
			if len(body) > 2000 {
				body = body[:2000] + "…"
			}
			ac.t.Errorf("%s %s answered %d, not as /api/openapi.json documents: %v\nbody: %s", r.Method, r.URL.Path, rec.status, err, body)
		}
	})
}

// strictDoc is the document with every object schema closed
// (additionalProperties: false), loaded once per server.
func (ac *answerChecker) strictDoc() (*openapi3.T, error) {
	ac.once.Do(func() {
		doc := ac.api.openAPI()
		components := doc["components"].(map[string]any)["schemas"].(map[string]any)
		for _, sc := range components {
			closeSchema(sc)
		}
		for _, item := range doc["paths"].(map[string]any) {
			for _, op := range item.(map[string]any) {
				for _, resp := range op.(map[string]any)["responses"].(map[string]any) {
					content, _ := resp.(map[string]any)["content"].(map[string]any)
					for _, mt := range content {
						closeSchema(mt.(map[string]any)["schema"])
					}
				}
			}
		}
		b, err := json.Marshal(doc)
		if err != nil {
			ac.err = err
			return
		}
		// Test servers serve the same document: load it once (loading
		// takes a third of a second under the race detector).
		if d, ok := strictDocs.Load(string(b)); ok {
			ac.doc = d.(*openapi3.T)
			return
		}
		ac.doc, ac.err = openapi3.NewLoader().LoadFromData(b)
		if ac.err == nil {
			strictDocs.Store(string(b), ac.doc)
		}
	})
	return ac.doc, ac.err
}

// strictDocs are the loaded strict documents by their JSON, shared by the
// package's test servers; a loaded document is only read.
var strictDocs sync.Map

// closeSchema adds additionalProperties: false to every object schema
// with properties under s.
func closeSchema(s any) {
	m, ok := s.(map[string]any)
	if !ok {
		return
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for _, p := range props {
			closeSchema(p)
		}
		if _, set := m["additionalProperties"]; !set {
			m["additionalProperties"] = false
		}
	}
	if ap, ok := m["additionalProperties"].(map[string]any); ok {
		closeSchema(ap)
	}
	closeSchema(m["items"])
	for _, k := range []string{"anyOf", "allOf", "oneOf"} {
		alts, _ := m[k].([]any)
		for _, alt := range alts {
			closeSchema(alt)
		}
	}
}

// findPath returns the document's path item for a request path: exact, or
// a templated one ({id}).
func findPath(doc *openapi3.T, path string) *openapi3.PathItem {
	path = "/" + strings.Trim(path, "/")
	if item := doc.Paths.Value(path); item != nil {
		return item
	}
	segs := strings.Split(path, "/")
	for tmpl, item := range doc.Paths.Map() {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) || !strings.Contains(tmpl, "{") {
			continue
		}
		match := true
		for i := range ts {
			if ts[i] != segs[i] && !(strings.HasPrefix(ts[i], "{") && segs[i] != "") {
				match = false
				break
			}
		}
		if match {
			return item
		}
	}
	return nil
}

func (ac *answerChecker) check(r *http.Request, rec *recordingWriter) error {
	doc, err := ac.strictDoc()
	if err != nil {
		return fmt.Errorf("the document does not load: %w", err)
	}
	item := findPath(doc, r.URL.Path)
	if item == nil {
		return nil // an unknown path: its 404 is the framework's
	}
	op := item.GetOperation(r.Method)
	if op == nil {
		return nil // a wrong method: its 405 is the framework's
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := op.Responses.Status(status)
	if resp == nil {
		resp = op.Responses.Default()
	}
	if resp == nil || resp.Value == nil {
		return fmt.Errorf("status %d is not documented", status)
	}
	if status >= 300 && status < 400 {
		return nil // a redirect's body is net/http's
	}
	if len(resp.Value.Content) == 0 {
		if rec.body.Len() > 0 {
			return fmt.Errorf("a body, where none is documented")
		}
		return nil
	}
	ct := rec.Header().Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	media := resp.Value.Content.Get(mt)
	if media == nil {
		return fmt.Errorf("content type %q is not documented (documented: %v)", ct, keys(resp.Value.Content))
	}
	if mt != "application/json" {
		return nil
	}
	var v any
	if err := json.Unmarshal(rec.body.Bytes(), &v); err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	if err := media.Schema.Value.VisitJSON(v, openapi3.MultiErrors(), openapi3.VisitAsResponse()); err != nil {
		return err
	}
	return nil
}

func keys(c openapi3.Content) []string {
	var out []string
	for k := range c {
		out = append(out, k)
	}
	return out
}

// recordingWriter keeps a copy of the answer for the checker.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes on (the metrics handler may stream).
func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// TestAnswerCheckerCatchesDrift shows that the checker every test server
// runs fails an answer its route's Out no longer describes: a member the
// schema lacks, a required member the answer lacks, a wrong type.
func TestAnswerCheckerCatchesDrift(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  any
		want string
	}{
		{"undocumented member", obj{"id": "", "version": ""}, `property "status" is unsupported`},
		{"missing member", obj{"id": "", "version": "", "status": "", "extra": ""}, `property "extra" is missing`},
		{"wrong type", obj{"id": 0, "version": "", "status": ""}, `value must be an integer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t)
			s.api.byMethod["GET api/system/status"].Out = tc.out
			ac := &answerChecker{t: t, api: s.api}
			req := httptest.NewRequest(http.MethodGet, "/api/system/status", nil)
			rec := &recordingWriter{ResponseWriter: httptest.NewRecorder()}
			s.api.Handler().ServeHTTP(rec, req)
			err := ac.check(req, rec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check: %v; want an error with %q", err, tc.want)
			}
		})
	}
}
