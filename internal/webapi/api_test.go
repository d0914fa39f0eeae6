package webapi

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"testing"
)

// TestMultipartForm checks that parameters sent as multipart/form-data, as
// some generated clients do, are read once.
func TestMultipartForm(t *testing.T) {
	s := newTestServer(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("name", "multipart-group")
	_ = mw.WriteField("description", "sent as multipart")
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/api/user_groups/create", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("multipart create: status %d", resp.StatusCode)
	}
	var out struct {
		Groups []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"groups"`
	}
	s.get("api/user_groups/search", asAdmin, "q", "multipart").must(t, 200).json(t, &out)
	if len(out.Groups) != 1 || out.Groups[0].Description != "sent as multipart" {
		t.Fatalf("search = %+v", out.Groups)
	}
}

// TestHugePageNumber asks every paged listing for a page whose offset would
// overflow: an empty page, never a 5xx.
func TestHugePageNumber(t *testing.T) {
	s := newTestServer(t)
	for _, path := range []string{"api/users/search", "api/user_groups/search", "api/projects/search", "api/audit/search", "api/organization_tokens/search"} {
		r := s.get(path, asAdmin, "p", "9223372036854775807", "ps", "100")
		if r.status >= 500 {
			t.Errorf("%s: status %d: %s", path, r.status, r.body)
		}
	}
}
