package webapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// IdentityProvider is a sign-in other than a password (SSO, GitLab), as
// api/users/identity_providers lists it.
type IdentityProvider struct {
	Key             string `json:"key"`
	Name            string `json:"name"`
	IconPath        string `json:"iconPath"`
	BackgroundColor string `json:"backgroundColor"`
	HelpMessage     string `json:"helpMessage,omitempty"`
}

// homepageTypes are SonarQube's homepage types; the ones in
// homepageWithComponent name a component.
var (
	homepageTypes         = []string{"PROJECT", "PROJECTS", "ISSUES", "PORTFOLIOS", "PORTFOLIO", "APPLICATION"}
	homepageWithComponent = []string{"PROJECT", "PORTFOLIO", "APPLICATION"}
)

// notices are the web-app notices SonarQube lets a user dismiss; current
// shows each with whether it was dismissed.
var notices = []string{
	"educationPrinciples", "sonarlintAd", "issueCleanCodeGuide", "qualityGateCaYCConditionsSimplification",
	"overviewZeroNewIssuesSimplification", "issueNewIssueStatusAndTransitionGuide", "onboardingDismissCaycBranchSummaryGuide",
}

func (a *API) userSelfRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "api/users/current", Summary: "The caller: identity, groups, global permissions, homepage and dismissed notices; isLoggedIn false for an anonymous caller.",
			Access: public, Out: currentJSON{}, Handle: a.currentUser},
		{Method: "GET", Path: "api/users/identity_providers", Summary: "The identity providers users may sign in through besides a password; needs no authentication.",
			Access: public, Out: obj{"identityProviders": []IdentityProvider{}}, Handle: a.identityProviders},
		{Method: "POST", Path: "api/users/set_homepage", Summary: "Set the caller's homepage.",
			Access: authenticated, Response: "empty", Params: []Param{
				{Name: "type", Required: true, Values: homepageTypes, Desc: "Type of the homepage"},
				{Name: "component", Desc: "Project key; required for PROJECT, PORTFOLIO and APPLICATION"},
				{Name: "branch", Desc: "Branch of the project (Gatehouse knows no branches)"},
			}, Handle: a.setHomepage},
		{Method: "POST", Path: "api/users/dismiss_notice", Summary: "Dismiss a web-app notice for the caller; dismissing it again changes nothing.",
			Access: authenticated, Response: "empty", Params: []Param{
				{Name: "notice", Required: true, Values: notices, Desc: "Notice key"},
			}, Handle: a.dismissNotice},
		{Method: "POST", Path: "api/users/update_identity_provider", Summary: "Move a local user to an identity provider: it signs in only through it from then on, its password dropped.",
			Access: admin, Response: "empty", Params: []Param{
				{Name: "login", Required: true, Desc: "User login"},
				{Name: "newExternalProvider", Required: true, Desc: "Key of the identity provider (see api/users/identity_providers)"},
				{Name: "newExternalIdentity", MaxLen: identity.MaxLoginLen, Desc: "The user's login at the provider; the current one when absent"},
			}, Handle: a.updateIdentityProvider},
	}
}

// currentJSON is SonarQube's api/users/current answer.
type currentJSON struct {
	IsLoggedIn       bool            `json:"isLoggedIn"`
	ID               string          `json:"id,omitempty"`
	Login            string          `json:"login,omitempty"`
	Name             string          `json:"name,omitempty"`
	Email            string          `json:"email,omitempty"`
	Avatar           string          `json:"avatar,omitempty"`
	Local            *bool           `json:"local,omitempty"`
	ExternalIdentity string          `json:"externalIdentity,omitempty"`
	ExternalProvider string          `json:"externalProvider,omitempty"`
	Groups           []string        `json:"groups"`
	ScmAccounts      []string        `json:"scmAccounts"`
	Permissions      globalPermsJSON `json:"permissions"`
	Homepage         *state.Homepage `json:"homepage,omitempty"`
	// UsingSonarLint is always false: Gatehouse records no SonarLint
	// connection.
	UsingSonarLint   *bool           `json:"usingSonarLintConnectedMode,omitempty"`
	DismissedNotices map[string]bool `json:"dismissedNotices"`
}

type globalPermsJSON struct {
	Global []identity.Permission `json:"global"`
}

func (a *API) currentUser(c *call) (any, error) {
	out := currentJSON{Groups: []string{}, ScmAccounts: []string{}, Permissions: globalPermsJSON{Global: []identity.Permission{}}, DismissedNotices: map[string]bool{}}
	for _, n := range notices {
		out.DismissedNotices[n] = false
	}
	if !c.authed || c.principal.UserID == 0 {
		// Anonymous, or a token of no user (an organization token).
		return out, nil
	}
	u, err := a.st.Store().GetUser(c.ctx, c.principal.UserID)
	if err != nil {
		return nil, err
	}
	groups, err := a.groupsOf(c, []identity.User{u})
	if err != nil {
		return nil, err
	}
	prefs, err := a.st.UserPrefs(c.ctx, u.ID)
	if err != nil {
		return nil, err
	}
	local, sonarLint := isLocal(u), false
	out.IsLoggedIn, out.ID, out.Login, out.Name, out.Email, out.Avatar = true, idString(u.ID), u.Login, u.Name, u.Email, avatar(u.Email)
	out.Local, out.ExternalIdentity, out.ExternalProvider = &local, externalIdentity(u), externalProvider(u)
	out.Groups, out.ScmAccounts, out.UsingSonarLint = nonNil(groups[u.ID]), nonNil(u.SCMAccounts), &sonarLint
	for _, p := range identity.GlobalPermissions {
		if a.st.Index().Decide(c.principal, p, "").Allowed {
			out.Permissions.Global = append(out.Permissions.Global, p)
		}
	}
	out.Homepage = prefs.Homepage
	if out.Homepage == nil {
		out.Homepage = &state.Homepage{Type: "PROJECTS"} // SonarQube's default
	}
	for _, n := range prefs.Dismissed {
		if _, known := out.DismissedNotices[n]; known {
			out.DismissedNotices[n] = true
		}
	}
	return out, nil
}

func (a *API) identityProviders(c *call) (any, error) {
	return map[string]any{"identityProviders": nonNilSlice(a.providers(c.ctx))}, nil
}

// providers lists the configured identity providers: the fixed ones and
// those whose settings can change at run time (GitLab).
func (a *API) providers(ctx context.Context) []IdentityProvider {
	out := slices.Clone(a.opts.IdentityProviders)
	if a.opts.DynamicIdentityProviders != nil {
		out = append(out, a.opts.DynamicIdentityProviders(ctx)...)
	}
	return out
}

func (a *API) setHomepage(c *call) (any, error) {
	if c.principal.UserID == 0 {
		return nil, errForbidden
	}
	h := state.Homepage{Type: c.str("type"), Component: c.str("component"), Branch: c.str("branch")}
	needsComponent := slices.Contains(homepageWithComponent, h.Type)
	switch {
	case needsComponent && h.Component == "":
		return nil, badRequest(fmt.Sprintf("Type %s requires a parameter 'component'", h.Type))
	case !needsComponent && h.Component != "":
		return nil, badRequest(fmt.Sprintf("Parameter 'component' must not be provided when type is '%s'", h.Type))
	case !needsComponent && h.Branch != "":
		return nil, badRequest(fmt.Sprintf("Parameter 'branch' must not be provided when type is '%s'", h.Type))
	case needsComponent:
		// Gatehouse has projects only, and no branches; a component the
		// caller may not browse is as unknown as a missing one.
		notFound := errorf(http.StatusNotFound, fmt.Sprintf("Component key '%s' not found", h.Component))
		if h.Type != "PROJECT" || h.Branch != "" || !c.may(identity.PermUser, h.Component) {
			return nil, notFound
		}
	}
	return nil, a.st.SetHomepage(c.ctx, c.principal.UserID, h)
}

func (a *API) dismissNotice(c *call) (any, error) {
	if c.principal.UserID == 0 {
		return nil, errForbidden
	}
	return nil, a.st.DismissNotice(c.ctx, c.principal.UserID, c.str("notice"))
}

func (a *API) updateIdentityProvider(c *call) (any, error) {
	if err := a.checkProvider(c.ctx, c.str("newExternalProvider"), "newExternalProvider"); err != nil {
		return nil, err
	}
	u, err := a.activeUser(c, c.str("login"), "User '%s' doesn't exist")
	if err != nil {
		return nil, err
	}
	_, err = a.moveToProvider(c, u, c.str("newExternalProvider"), c.str("newExternalIdentity"))
	return nil, err
}

// checkProvider accepts the key of a configured identity provider.
func (a *API) checkProvider(ctx context.Context, provider, param string) error {
	ps := a.providers(ctx)
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.Key
	}
	if !slices.Contains(keys, provider) {
		return badRequest(fmt.Sprintf("Value of parameter '%s' (%s) must be one of: [%s]", param, provider, strings.Join(keys, ", ")))
	}
	return nil
}

// moveToProvider makes a local user sign in through provider as ext (its
// current external identity when empty), for update_identity_provider and
// the v2 API's PATCH.
func (a *API) moveToProvider(c *call, u identity.User, provider, ext string) (identity.User, error) {
	if u.Source.Managed() {
		return u, errManagedInstance(u.Source)
	}
	if ext == "" {
		ext = externalIdentity(u)
	}
	u, err := a.st.UpdateUser(c.ctx, u.Login, state.UserUpdate{Provider: &provider, ExternalID: &ext})
	if err != nil {
		return u, err
	}
	// Its password no longer signs it in, nor do sessions made with it
	// (the state ends them with the change).
	return u, nil
}

// isLocal reports whether a user signs in with a Gatehouse password.
func isLocal(u identity.User) bool { return !u.Source.Managed() && u.Provider == "" }
