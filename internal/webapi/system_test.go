package webapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
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
	// SonarQube's sections and keys only; Gatehouse's own moved out.
	var sections map[string]json.RawMessage
	r := s.get("api/system/info", asAdmin).must(t, 200)
	r.json(t, &sections)
	if got := slices.Sorted(maps.Keys(sections)); !slices.Equal(got, []string{"Health", "Health Causes", "System"}) {
		t.Fatalf("sections %v", got)
	}
	var sys map[string]any
	if err := json.Unmarshal(sections["System"], &sys); err != nil {
		t.Fatal(err)
	}
	for k := range sys {
		if !slices.Contains([]string{"Server ID", "Version", "Edition", "High Availability", "External Users and Groups Provisioning", "Force authentication"}, k) {
			t.Errorf("System.%s is not SonarQube's", k)
		}
	}
	var gh struct {
		Version    string         `json:"version"`
		API        string         `json:"sonarQubeApiVersion"`
		Statistics map[string]int `json:"statistics"`
	}
	s.get("api/gatehouse/info", asAdmin).must(t, 200).json(t, &gh)
	if gh.Version != "test" || gh.API != Version || gh.Statistics["users"] != 1 || gh.Statistics["groups"] != 2 {
		t.Fatalf("gatehouse info %+v", gh)
	}
	s.get("api/gatehouse/info", cred{}).must(t, http.StatusUnauthorized)
	s.get("api/system/info", cred{}).must(t, http.StatusUnauthorized)
	if msg := s.post("api/system/status", cred{}).must(t, 405).errMsg(t); msg != "HTTP method GET is required" {
		t.Fatalf("405 message %q", msg)
	}
	if msg := s.get("api/nope", cred{}).must(t, 404).errMsg(t); msg != "Unknown url : /api/nope" {
		t.Fatalf("404 message %q", msg)
	}
	// SonarQube builds no session for the status probe: credentials,
	// however wrong, are not looked at.
	s.get("api/system/status", cred{login: "admin", pw: "wrong"}).must(t, 200)
}
