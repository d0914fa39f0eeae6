package server

import (
	"context"

	gitlabconn "github.com/gatehouse-dev/gatehouse/internal/connector/gitlab"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/webapi"
)

// openGitLabSignIn opens sign-in through GitLab from the engine's current
// GitLab settings, so a change through api/provisioning/settings applies to
// the next sign-in.
func (s *Server) openGitLabSignIn(ctx context.Context, redirectURL string) (webapi.OAuthSignIn, error) {
	if s.engine == nil {
		return nil, identity.Errorf(identity.ErrInvalid, "Sign-in through GitLab is not configured")
	}
	values, err := s.engine.Values(ctx, identity.SourceGitLab)
	if err != nil {
		return nil, err
	}
	c := gitlabconn.Connector{Logger: s.log, Retries: s.cfg.gitlabRetries, RetryBase: s.cfg.gitlabRetryBase}
	si, err := c.OpenSignIn(values, redirectURL)
	if err != nil {
		return nil, err
	}
	cfg, err := gitlabconn.Parse(values)
	if err != nil {
		return nil, err
	}
	return gitlabSignIn{si: si, restricted: len(cfg.AllowedGroups) > 0, noSignUp: !cfg.AllowSignUp}, nil
}

// gitlabSignIn adapts the connector's sign-in to the Web API's.
type gitlabSignIn struct {
	si *gitlabconn.SignIn
	// restricted: allowed groups are set, and a user in none of them may
	// not sign in (the sync would deactivate them).
	restricted bool
	// noSignUp: allowUsersToSignUp is off; only existing users sign in.
	noSignUp bool
}

var errNotAllowed = identity.Errorf(identity.ErrUnauthenticated, "You are not a member of any GitLab group allowed to sign in to Gatehouse")

func (g gitlabSignIn) AuthCodeURL(st string) string { return g.si.AuthCodeURL(st) }

func (g gitlabSignIn) Exchange(ctx context.Context, code, st, want string) (identity.ExternalAccount, []state.ExternalGroup, error) {
	acc, err := g.si.Exchange(ctx, code, st, want)
	if err != nil {
		return identity.ExternalAccount{}, nil, err
	}
	if g.restricted && acc.GroupsSynced && len(acc.Groups) == 0 {
		return identity.ExternalAccount{}, nil, errNotAllowed
	}
	u := acc.User
	out := identity.ExternalAccount{Login: u.Login, Name: u.Name, Email: u.Email, ExternalID: u.ExternalID, Active: u.Active, GroupsManaged: acc.GroupsSynced, NoSignUp: g.noSignUp}
	var groups []state.ExternalGroup
	for _, gr := range acc.Groups {
		out.Groups = append(out.Groups, gr.Name)
		groups = append(groups, state.ExternalGroup{Name: gr.Name, ExternalID: gr.ExternalID})
	}
	return out, groups, nil
}

// identityProviders lists GitLab in api/users/identity_providers while
// sign-in through it is configured (the integration enabled with an OAuth
// application), as SonarQube lists its GitLab provider.
func (s *Server) identityProviders(ctx context.Context) []webapi.IdentityProvider {
	if s.engine == nil {
		return nil
	}
	values, err := s.engine.Values(ctx, identity.SourceGitLab)
	if err != nil {
		return nil
	}
	cfg, err := gitlabconn.Parse(values)
	if err != nil || !cfg.Enabled || cfg.ApplicationID == "" {
		return nil
	}
	return []webapi.IdentityProvider{{Key: "gitlab", Name: "GitLab", IconPath: "/images/alm/gitlab.svg", BackgroundColor: "#6753b5"}}
}
