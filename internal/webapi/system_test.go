package webapi

import (
	"net/http"
	"testing"
)

func TestProbes(t *testing.T) {
	s := newTestServer(t)
	var st map[string]string
	s.get("api/system/status", cred{}).must(t, 200).json(t, &st)
	if st["status"] != "UP" || st["version"] != Version {
		t.Fatalf("status = %v", st)
	}
	if r := s.get("api/system/ping", cred{}).must(t, 200); string(r.body) != "pong" {
		t.Fatalf("ping = %q", r.body)
	}
	if r := s.get("api/server/version", cred{}).must(t, 200); string(r.body) != Version {
		t.Fatalf("version = %q", r.body)
	}
	var info struct {
		System struct {
			Version string `json:"Version"`
			Edition string `json:"Edition"`
		} `json:"System"`
	}
	s.get("api/system/info", asAdmin).must(t, 200).json(t, &info)
	if info.System.Version != Version || info.System.Edition == "" {
		t.Fatalf("info = %+v", info)
	}
	s.get("api/system/info", cred{}).must(t, http.StatusUnauthorized)
	if msg := s.post("api/system/status", cred{}).must(t, 405).errMsg(t); msg != "HTTP method GET is required" {
		t.Fatalf("405 message %q", msg)
	}
	if msg := s.get("api/nope", cred{}).must(t, 404).errMsg(t); msg != "Unknown url : /api/nope" {
		t.Fatalf("404 message %q", msg)
	}
	s.get("api/system/status", cred{login: "admin", pw: "wrong"}).must(t, 401)
}
