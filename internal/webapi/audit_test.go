package webapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type auditTestPage struct {
	Paging paging           `json:"paging"`
	Events []auditEventJSON `json:"events"`
}

// TestAuditSearch checks that writes through the API are audited with their
// actor and request id, never with a secret, and that the filters work.
func TestAuditSearch(t *testing.T) {
	s := newTestServer(t)
	_, userTok := orgTokUser(t, s, "erin")
	gen := s.post("api/organization_tokens/generate", asAdmin, "name", "audited", "projectSet", "all").must(t, 200)
	var tok orgTokenJSON
	gen.json(t, &tok)
	rot := s.post("api/organization_tokens/rotate", asAdmin, "id", tok.ID, "gracePeriod", "60").must(t, 200)
	var rotated orgTokenJSON
	rot.json(t, &rotated)
	s.post("api/settings/set_token_policy", asAdmin, "maxLifetime", "USER_TOKEN=90").must(t, 204)

	var all auditTestPage
	r := s.get("api/audit/search", asAdmin).must(t, 200)
	r.json(t, &all)
	for _, secret := range []string{tok.Token, rotated.Token, userTok} {
		if strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), secret[4:20]) {
			t.Fatalf("the audit log holds a secret: %s", r.body)
		}
	}
	if len(all.Events) == 0 || all.Paging.Total != len(all.Events) {
		t.Fatalf("paging %+v for %d events", all.Paging, len(all.Events))
	}

	target := "token:" + tok.ID
	cases := []struct {
		name    string
		params  []string
		actions string // expected actions, newest first
	}{
		{"by target", []string{"target", target}, "token.rotate token.generate"},
		{"by action", []string{"action", "token.generate", "target", target}, "token.generate"},
		{"by actor", []string{"actor", "user:admin", "target", target}, "token.rotate token.generate"},
		{"by login", []string{"actor", "admin", "action", "settings.token_policy"}, "settings.token_policy"},
		{"other actor", []string{"actor", "erin", "target", target}, ""},
		{"from today", []string{"from", time.Now().UTC().Format(sonarDate), "target", target}, "token.rotate token.generate"},
		{"to yesterday", []string{"to", time.Now().UTC().AddDate(0, 0, -1).Format(sonarDate), "target", target}, ""},
		{"to a datetime in the future", []string{"to", time.Now().Add(time.Hour).Format(sonarTime), "target", target}, "token.rotate token.generate"},
		{"page size", []string{"target", target, "ps", "1", "p", "2"}, "token.generate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var page auditTestPage
			s.get("api/audit/search", asAdmin, tc.params...).must(t, 200).json(t, &page)
			var actions []string
			for _, e := range page.Events {
				actions = append(actions, e.Action)
			}
			if strings.Join(actions, " ") != tc.actions {
				t.Fatalf("actions %v, want %q", actions, tc.actions)
			}
		})
	}

	var page auditTestPage
	s.get("api/audit/search", asAdmin, "target", target, "action", "token.rotate").must(t, 200).json(t, &page)
	e := page.Events[0]
	if e.Actor != "user:admin" || e.RequestID != rot.header.Get("X-Request-Id") || e.RequestID == "" {
		t.Fatalf("event %+v, request id %q", e, rot.header.Get("X-Request-Id"))
	}
	var after map[string]any
	if err := json.Unmarshal(e.After, &after); err != nil || after["gracePeriodSeconds"] != float64(60) {
		t.Fatalf("after %s: %v", e.After, err)
	}
	if _, err := time.Parse(sonarTime, e.Time); err != nil {
		t.Fatalf("time %q: %v", e.Time, err)
	}

	for _, tc := range []struct {
		name   string
		cred   cred
		params []string
		status int
	}{
		{"bad from", asAdmin, []string{"from", "yesterday"}, 400},
		{"bad to", asAdmin, []string{"to", "2026-13-01"}, 400},
		{"page too large", asAdmin, []string{"ps", "501"}, 400},
		{"not admin", bearer(userTok), nil, 403},
		{"anonymous", cred{}, nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.get("api/audit/search", tc.cred, tc.params...).must(t, tc.status)
		})
	}
}

// TestAuditEveryEventHasActorAndRequestID makes writes through every kind
// of action, a GET that writes (the badge token created on first use)
// included, and checks that each event names the real actor and the
// request id the client saw.
func TestAuditEveryEventHasActorAndRequestID(t *testing.T) {
	s := newTestServer(t)
	s.createUser("ann")
	s.post("api/projects/create", asAdmin, "project", "app", "name", "App").must(t, 200)
	annTok := s.userToken("ann", "ann-token")
	ctx := context.Background()
	before, _, err := s.st.Store().ListAudit(ctx, store.AuditFilter{Page: store.Page{Number: 1, Size: 1}})
	if err != nil || len(before) == 0 {
		t.Fatalf("audit before: %v", err)
	}

	badge := s.get("api/project_badges/token", bearer(annTok), "project", "app").must(t, 200)
	renew := s.post("api/project_badges/renew_token", asAdmin, "project", "app").must(t, 204)
	group := s.post("api/user_groups/create", bearer(annTok), "name", "nope")
	_ = group // refused: ann is no admin, and a refusal writes nothing
	add := s.post("api/user_groups/create", asAdmin, "name", "devs").must(t, 200)
	want := map[string]struct{ actor, rid string }{
		"project.badge_token/" + badge.header.Get("X-Request-Id"): {"user:ann (token:", badge.header.Get("X-Request-Id")},
		"project.badge_token/" + renew.header.Get("X-Request-Id"): {"user:admin", renew.header.Get("X-Request-Id")},
		"group.create/" + add.header.Get("X-Request-Id"):          {"user:admin", add.header.Get("X-Request-Id")},
	}

	evs, _, err := s.st.Store().ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range evs {
		if e.ID <= before[0].ID {
			continue
		}
		if e.RequestID == "" || e.Actor == "system" || e.Actor == "anonymous" {
			t.Errorf("event %s %s: actor %q, request id %q", e.Action, e.Target, e.Actor, e.RequestID)
		}
		if w, ok := want[e.Action+"/"+e.RequestID]; ok {
			seen++
			if !strings.HasPrefix(e.Actor, w.actor) {
				t.Errorf("event %s: actor %q, want %q", e.Action, e.Actor, w.actor)
			}
		}
	}
	if seen != len(want) {
		t.Fatalf("found %d of the %d expected events in %+v", seen, len(want), evs)
	}
}
