package webapi

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// staticConnector is a pull source whose snapshot the test sets.
type staticConnector struct {
	mu   sync.Mutex
	snap provision.Snapshot
}

func (c *staticConnector) Settings() []provision.Setting {
	return []provision.Setting{
		{Name: "gitlab.url", Desc: "GitLab URL", Required: true},
		{Name: "gitlab.token", Desc: "Access token", Secret: true},
	}
}

func (c *staticConnector) Open(_ context.Context, v map[string]string) (provision.Source, error) {
	if v["gitlab.url"] == "" {
		return nil, identity.Errorf(identity.ErrInvalid, "Setting 'gitlab.url' is required")
	}
	return c, nil
}

func (c *staticConnector) Check(_ context.Context, v map[string]string) error {
	if v["gitlab.token"] == "wrong" {
		return errors.New("GitLab answered 401 Unauthorized: the token is not valid")
	}
	return nil
}

func (c *staticConnector) Read(context.Context) (provision.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap, nil
}

type plainSealer struct{}

func (plainSealer) SealFor(name, p string) (string, error) { return "x:" + p, nil }
func (plainSealer) OpenFor(name, s string) (string, error) { return strings.TrimPrefix(s, "x:"), nil }

func newProvisioningServer(t *testing.T) (*testServer, *staticConnector, *provision.Engine) {
	t.Helper()
	conn := &staticConnector{snap: provision.Snapshot{
		Users:  []provision.User{{ExternalID: "1", Login: "ann", Name: "Ann", Active: true}, {ExternalID: "2", Login: "ben", Name: "Ben", Active: true}},
		Groups: []provision.Group{{ExternalID: "10", Name: "acme"}},
		Memberships: []provision.Membership{
			{UserExternalID: "1", GroupExternalID: "10"}, {UserExternalID: "2", GroupExternalID: "10"},
		},
	}}
	var eng *provision.Engine
	s := newTestServerWith(t, nil, func(st *state.State, o *Options) {
		var err error
		eng, err = provision.New(context.Background(), st, map[identity.Source]provision.SourceConfig{identity.SourceGitLab: {Connector: conn}}, provision.Config{Secrets: plainSealer{}})
		if err != nil {
			t.Fatal(err)
		}
		o.Provisioner = eng
	})
	return s, conn, eng
}

// startEngine runs the engine's scheduler: as soon as a source's settings
// are usable and it never ran, it runs (trigger startup).
func startEngine(t *testing.T, eng *provision.Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestProvisioningAPI(t *testing.T) {
	s, _, eng := newProvisioningServer(t)
	admin := cred{bearer: s.userToken("admin", "prov")}

	// Global admin only.
	s.createUser("joe")
	joe := cred{bearer: s.userToken("joe", "t")}
	s.get("api/provisioning/status", joe, "source", "gitlab").must(t, 403)
	s.get("api/provisioning/status", cred{}, "source", "gitlab").must(t, 401)

	if msg := s.get("api/provisioning/status", admin, "source", "nope").must(t, 400).errMsg(t); !strings.Contains(msg, "gitlab") {
		t.Fatalf("unknown source: %s", msg)
	}
	// Not configured yet: disabled, saying why; sync refused.
	var st struct {
		Enabled bool   `json:"enabled"`
		Reason  string `json:"reason"`
		LastRun *struct {
			Status string `json:"status"`
		} `json:"lastRun"`
		NextRunAt string `json:"nextRunAt"`
	}
	s.get("api/provisioning/status", admin, "source", "gitlab").must(t, 200).json(t, &st)
	if st.Enabled || !strings.Contains(st.Reason, "gitlab.url") {
		t.Fatalf("status = %+v", st)
	}
	s.post("api/provisioning/sync", admin, "source", "gitlab").must(t, 400)

	// Settings: unknown names refused, the checker's reason shown, secrets
	// write-only.
	if msg := s.post("api/provisioning/settings", admin, "source", "gitlab", "gitlab.nope", "1").must(t, 400).errMsg(t); !strings.Contains(msg, "gitlab.nope") {
		t.Fatalf("unknown setting: %s", msg)
	}
	if msg := s.post("api/provisioning/settings", admin, "source", "gitlab", "gitlab.url", "https://gl", "gitlab.token", "wrong").must(t, 400).errMsg(t); !strings.Contains(msg, "401") {
		t.Fatalf("check failure: %s", msg)
	}
	s.post("api/provisioning/settings", admin, "source", "gitlab", "gitlab.url", "https://gl", "gitlab.token", "glpat-xyz").must(t, 204)
	var set struct {
		Settings []struct {
			Name, Value string
			Secret      bool
		} `json:"settings"`
	}
	r := s.get("api/provisioning/settings", admin, "source", "gitlab").must(t, 200)
	if strings.Contains(string(r.body), "glpat-xyz") {
		t.Fatalf("secret returned: %s", r.body)
	}
	r.json(t, &set)
	if set.Settings[0].Value != "https://gl" || set.Settings[1].Value != provision.Masked || !set.Settings[1].Secret {
		t.Fatalf("settings = %+v", set)
	}
	if strings.Contains(s.logs.String(), "glpat-xyz") {
		t.Fatal("the secret was logged")
	}

	// Dry run: counts and samples, nothing written.
	var dry struct {
		DryRun bool                `json:"dryRun"`
		Counts identity.SyncCounts `json:"counts"`
		Sample map[string][]string `json:"samples"`
	}
	s.post("api/provisioning/sync", admin, "source", "gitlab", "dryRun", "true").must(t, 200).json(t, &dry)
	if !dry.DryRun || dry.Counts.UsersCreated != 2 || len(dry.Sample["usersCreated"]) != 2 {
		t.Fatalf("dry run = %+v", dry)
	}
	s.get("api/users/search", admin, "q", "ann").must(t, 200)
	if _, err := s.st.Store().GetUserByLogin(t.Context(), "ann"); err == nil {
		t.Fatal("a dry run created a user")
	}

	// Sync now: queued, then run by the engine; listed in runs.
	startEngine(t, eng)
	var q struct {
		Run struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"run"`
		AlreadyPending bool `json:"alreadyPending"`
	}
	s.post("api/provisioning/sync", admin, "source", "gitlab").must(t, 200).json(t, &q)
	if q.Run.ID == "" {
		t.Fatalf("sync = %+v", q)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var now struct {
			Pending *struct{} `json:"pending"`
			Running *struct{} `json:"running"`
			LastRun *struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"lastRun"`
		}
		s.get("api/provisioning/status", admin, "source", "gitlab").must(t, 200).json(t, &now)
		if now.Pending == nil && now.Running == nil && now.LastRun != nil && now.LastRun.ID == q.Run.ID {
			s.get("api/provisioning/status", admin, "source", "gitlab").must(t, 200).json(t, &st)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queued run did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.LastRun.Status != "success" || !st.Enabled || st.NextRunAt == "" {
		t.Fatalf("status = %+v", st)
	}
	var runs struct {
		Paging paging `json:"paging"`
		Runs   []struct {
			Status  string              `json:"status"`
			Trigger string              `json:"trigger"`
			Counts  identity.SyncCounts `json:"counts"`
		} `json:"runs"`
	}
	s.get("api/provisioning/runs", admin, "source", "gitlab").must(t, 200).json(t, &runs)
	// The scheduler runs at once when a never-run source's settings become
	// usable (trigger startup), which may come before or after the queued
	// run: together they added the two memberships.
	added := 0
	for _, r := range runs.Runs {
		added += r.Counts.MembershipsAdded
	}
	if runs.Paging.Total < 1 || runs.Paging.Total > 2 || runs.Runs[0].Trigger != "manual" || added != 2 {
		t.Fatalf("runs = %+v", runs)
	}
	// The provisioned group is read-only through the Web API, naming its
	// source.
	msg := s.post("api/user_groups/add_user", admin, "name", "acme", "login", "joe").must(t, 400).errMsg(t)
	if msg == "" {
		t.Fatal("no message")
	}
}

func TestProvisioningWithoutSources(t *testing.T) {
	s := newTestServer(t)
	admin := cred{bearer: s.userToken("admin", "t")}
	if msg := s.get("api/provisioning/status", admin, "source", "gitlab").must(t, 400).errMsg(t); !strings.Contains(msg, "No provisioning source") {
		t.Fatalf("msg = %s", msg)
	}
	s.get("api/provisioning/settings", admin, "source", "gitlab").must(t, 400)
	// The other method of a two-method path is not a 404.
	s.do("DELETE", "api/provisioning/settings", admin, nil).must(t, 405)
}
