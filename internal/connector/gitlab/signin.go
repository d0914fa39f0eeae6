package gitlab

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// SignIn is sign-in through GitLab's OAuth2 authorization-code flow, with
// just-in-time memberships: the user as GitLab has them, and their groups
// among the allowed ones at that moment. The wiring keeps the state between
// the two steps (e.g. in a short-lived cookie).
type SignIn struct {
	oauth oauth2.Config
	cfg   Config
	opts  clientOptions
}

// Account is what a sign-in learns of the user.
type Account struct {
	// User carries the e-mail address GitLab gives the user themself (a
	// sync does not see e-mail addresses; sign-in updates them).
	User provision.User
	// Groups are the allowed groups (root groups and subgroups, named by
	// full path) the user is an effective member of, at Guest or above:
	// inherited from a parent group or through an invited group as in a
	// full sync. GroupsSynced is false, and Groups nil, when jit.enabled is
	// false.
	Groups       []provision.Group
	GroupsSynced bool
}

// OpenSignIn returns the sign-in the settings describe; redirectURL is
// Gatehouse's callback, registered in the GitLab application.
func (c Connector) OpenSignIn(values map[string]string, redirectURL string) (*SignIn, error) {
	cfg, err := Parse(values)
	if err != nil {
		return nil, err
	}
	if !cfg.Enabled {
		return nil, invalid("%s: the GitLab integration is disabled", SettingEnabled)
	}
	if cfg.ApplicationID == "" || cfg.Secret == "" {
		return nil, invalid("%s and %s: GitLab sign-in needs the application ID and secret of a GitLab OAuth2 application", SettingApplicationID, SettingSecret)
	}
	// Groups are read with the user's own token, so it needs read_api.
	scopes := []string{"read_user"}
	if cfg.JITEnabled {
		scopes = append(scopes, "read_api")
	}
	return &SignIn{
		oauth: oauth2.Config{
			ClientID: cfg.ApplicationID, ClientSecret: cfg.Secret, RedirectURL: redirectURL, Scopes: scopes,
			Endpoint: oauth2.Endpoint{AuthURL: cfg.URL + "/oauth/authorize", TokenURL: cfg.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		},
		cfg:  cfg,
		opts: c.clientOptions(cfg),
	}, nil
}

// NewState returns a random state for one sign-in.
func NewState() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// AuthCodeURL is where the browser goes to sign in to GitLab.
func (s *SignIn) AuthCodeURL(state string) string { return s.oauth.AuthCodeURL(state) }

var errState = identity.Errorf(identity.ErrUnauthenticated, "The GitLab sign-in could not be verified (its state does not match); please sign in again")

// Exchange completes a sign-in: it checks that the state GitLab returned is
// the one the sign-in started with, exchanges the code for the user's
// token, and reads the user and, with jit.enabled, their memberships in
// allowed groups. A refusal is an identity.ErrUnauthenticated.
func (s *SignIn) Exchange(ctx context.Context, code, state, wantState string) (Account, error) {
	if wantState == "" || subtle.ConstantTimeCompare([]byte(state), []byte(wantState)) != 1 {
		return Account{}, errState
	}
	if s.opts.http != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, s.opts.http)
	}
	tok, err := s.oauth.Exchange(ctx, code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Account{}, identity.Errorf(identity.ErrUnauthenticated, "GitLab refused the sign-in: %s", cmp.Or(re.ErrorDescription, re.ErrorCode, "the authorization code was refused"))
		}
		return Account{}, describe("exchange the sign-in code", err)
	}
	o := s.opts
	o.oauth = true
	c, err := newClient(s.cfg.URL, tok.AccessToken, o)
	if err != nil {
		return Account{}, err
	}
	var u *gl.User
	if _, err := c.do(ctx, func(o ...gl.RequestOptionFunc) (r *gl.Response, err error) {
		u, r, err = c.gl.Users.CurrentUser(o...)
		return r, err
	}); err != nil {
		return Account{}, describe("read the signed-in user", err)
	}
	name := strings.TrimSpace(u.Name)
	if name == "" {
		name = u.Username
	}
	acc := Account{
		User: provision.User{ExternalID: strconv.FormatInt(u.ID, 10), Login: u.Username, Name: name, Email: u.Email, Active: u.State == "active"},
	}
	if !s.cfg.JITEnabled {
		return acc, nil
	}
	acc.GroupsSynced = true
	acc.Groups, err = s.groupsOf(ctx, c)
	return acc, err
}

// groupsOf lists the signed-in user's groups from Guest up (GitLab counts
// inherited and invited memberships) and keeps the allowed trees'.
func (s *SignIn) groupsOf(ctx context.Context, c *client) ([]provision.Group, error) {
	gs, err := listAll(ctx, c, "list the signed-in user's groups", func(page int64, o ...gl.RequestOptionFunc) ([]*gl.Group, *gl.Response, error) {
		return c.gl.Groups.ListGroups(&gl.ListGroupsOptions{
			ListOptions:    gl.ListOptions{Page: page, PerPage: perPage},
			MinAccessLevel: gl.Ptr(gl.AccessLevelValue(minMemberLevel)),
		}, o...)
	})
	if err != nil {
		return nil, err
	}
	out := []provision.Group{}
	for _, g := range gs {
		if s.allowed(g.FullPath) {
			out = append(out, provision.Group{ExternalID: strconv.FormatInt(g.ID, 10), Name: g.FullPath})
		}
	}
	return out, nil
}

func (s *SignIn) allowed(path string) bool {
	root, _, _ := strings.Cut(path, "/")
	for _, a := range s.cfg.AllowedGroups {
		if strings.EqualFold(a, root) {
			return true
		}
	}
	return false
}
