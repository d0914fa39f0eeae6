package webapi

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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

// TestSlowBodyIsBounded promises a body and never sends it: the server gives
// up after its body read bound instead of holding the connection.
func TestSlowBodyIsBounded(t *testing.T) {
	s := newTestServer(t)
	s.api.opts.BodyReadTimeout = 200 * time.Millisecond
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/user_groups/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	reply, _ := io.ReadAll(conn) // an error answer, then the close
	if time.Since(start) > 4*time.Second {
		t.Fatalf("connection held for %v", time.Since(start))
	}
	if len(reply) > 0 && !strings.Contains(string(reply), " 400 ") {
		t.Fatalf("reply %q", reply)
	}
}

// TestSecureCookiesOption checks that the option marks the session and XSRF
// cookies Secure on plain HTTP (a server behind a TLS proxy).
func TestSecureCookiesOption(t *testing.T) {
	s := newTestServer(t)
	s.api.opts.SecureCookies = true
	r := s.post("api/authentication/login", cred{}, "login", "admin", "password", adminPassword).must(t, 200)
	if len(r.cookies) < 2 {
		t.Fatalf("cookies %v", r.cookies)
	}
	for _, ck := range r.cookies {
		if !ck.Secure {
			t.Errorf("cookie %s not Secure", ck.Name)
		}
	}
}
