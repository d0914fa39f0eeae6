package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIListsProbes checks that the served OpenAPI document lists the
// health probes and the metrics beside the API, that each path it lists
// outside /api is served, and that it stays valid OpenAPI 3.
func TestOpenAPIListsProbes(t *testing.T) {
	cfg := testConfig(t)
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + srv.Addr()
	status, body := get(t, base+"/api/openapi.json", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /api/openapi.json = %d %s", status, body)
	}
	doc, err := openapi3.NewLoader().LoadFromData([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableSchemaFormatValidation(), openapi3.EnableSchemaDefaultsValidation(), openapi3.EnableMultiError()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if doc.Paths.Value(path) == nil || doc.Paths.Value(path).Get == nil {
			t.Errorf("%s is not in the OpenAPI document", path)
		}
		if status, body := get(t, base+path, "", ""); status != http.StatusOK {
			t.Errorf("GET %s = %d %s", path, status, body)
		}
	}
}
