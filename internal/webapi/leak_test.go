package webapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// projectKeyParams and projectIDParams are the parameter names that take a
// project.
var (
	projectKeyParams = []string{"project", "projectKey", "component", "from"}
	projectIDParams  = []string{"projectId"}
)

// TestNoProjectExistenceLeak asks every action that takes a project key or
// id, from the route table, about a private project the caller cannot see
// and about a missing one, with each kind of credential (password, user
// token, organization token): the answers must be the same (status and
// message, the key or id aside), so neither keys nor ids can be probed or
// enumerated.
func TestNoProjectExistenceLeak(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	s.post("api/projects/create", asAdmin, "project", "secret", "name", "Secret", "visibility", "private").must(t, 200)
	s.post("api/projects/create", asAdmin, "project", "pub", "name", "Pub", "visibility", "public").must(t, 200)
	secret, err := s.st.Store().GetProjectByKey(ctx, "secret")
	if err != nil {
		t.Fatal(err)
	}
	// The other parameters name objects that exist, so that the project is
	// what decides the answer.
	s.createUser("mallory")
	// A fresh store lets every user scan every project (SonarQube's
	// default): without it, mallory sees only what is granted.
	s.post("api/permissions/remove_group", asAdmin, "groupName", identity.GroupUsers, "permission", "scan").must(t, 204)
	for _, perm := range identity.ProjectPermissions {
		// and the default template's grants on the new project.
		s.post("api/permissions/remove_group", asAdmin, "groupName", identity.GroupUsers, "permission", string(perm), "projectKey", "secret").must(t, 204)
	}
	s.createUser("does-not-exist")
	s.post("api/user_groups/create", asAdmin, "name", "does-not-exist").must(t, 200)
	s.post("api/permissions/create_template", asAdmin, "name", "does-not-exist").must(t, 200)
	malloryTok := s.userToken("mallory", "probe")
	var org orgTokenJSON
	s.post("api/organization_tokens/generate", asAdmin, "name", "probe", "projects", "pub", "permissions", "scan,user").must(t, 200).json(t, &org)
	if s.st.Index().Sees(mustPrincipal(t, s, "mallory"), "secret") {
		t.Fatal("fixture: mallory sees the private project")
	}

	creds := []struct {
		name string
		c    cred
	}{
		{"password", userCred("mallory")},
		{"user token", bearer(malloryTok)},
		{"organization token", bearer(org.Token)},
	}
	// Creating a project names a new key: that it is taken is SonarQube's
	// answer too, and needs the provisioning permission.
	skip := []string{"api/projects/create"}
	// Parameters without which a route ignores its project parameter.
	extra := map[string][]string{"api/user_tokens/generate": {"type", string(identity.TokenProjectAnalysis)}}
	tested := 0
	for _, rt := range s.api.Routes() {
		if slices.Contains(skip, rt.Path) {
			continue
		}
		for _, p := range rt.Params {
			byID := slices.Contains(projectIDParams, p.Name)
			if !byID && !slices.Contains(projectKeyParams, p.Name) {
				continue
			}
			tested++
			hidden, missing := secret.Key, "no-such-project"
			if byID {
				hidden, missing = fmt.Sprint(secret.ID), fmt.Sprint(secret.ID+1000)
			}
			for _, cr := range creds {
				t.Run(rt.Path+"/"+p.Name+"/"+cr.name, func(t *testing.T) {
					ask := func(v string) (int, string) {
						kv := []string{}
						for _, q := range rt.Params {
							if q.Required && q.Name != p.Name {
								kv = append(kv, q.Name, plausible(q))
							}
						}
						kv = append(append(kv, extra[rt.Path]...), p.Name, v)
						r := s.do(rt.Method, rt.Path, cr.c, values(kv...))
						msg := ""
						if r.status >= 400 {
							msg = strings.ReplaceAll(r.errMsg(t), v, "<project>")
						}
						return r.status, msg
					}
					hs, hm := ask(hidden)
					ms, mm := ask(missing)
					if hs != ms || hm != mm {
						t.Fatalf("hidden project: %d %q; missing project: %d %q", hs, hm, ms, mm)
					}
					if hs < 400 {
						t.Fatalf("answered %d about a project the caller cannot see", hs)
					}
				})
			}
		}
	}
	if tested < 10 {
		t.Fatalf("only %d project parameters found in the route table", tested)
	}
}

// mustPrincipal returns the principal of a user, for fixture checks.
func mustPrincipal(t *testing.T, s *testServer, login string) authz.Principal {
	t.Helper()
	u, err := s.st.Store().GetUserByLogin(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.st.Index().UserPrincipal(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
