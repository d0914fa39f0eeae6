package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// SonarQube reads a data set from a running SonarQube (or anything that
// speaks its Web API, such as another Gatehouse) with an administrator's
// token. It reads users, groups and their members, projects, global and
// project permissions of users and groups, permission templates with their
// permissions and the default, and the users' token names. Every listing is
// paged; requests are paced and retried (see the fields).
type SonarQube struct {
	// URL is the server's base URL, e.g. https://sonar.example.com.
	URL string
	// Token is an administrator's token (global admin permission). It is
	// sent as a bearer token and never logged.
	Token string
	// Rate is the most requests per second; 10 when 0.
	Rate float64
	// Retries is how many times a 429, a 5xx or a failed connection is
	// retried; 5 when 0, none when negative.
	Retries int
	// Backoff is the first wait before a retry when the server sends no
	// Retry-After; doubled each attempt; 1 s when 0.
	Backoff time.Duration
	// HTTPClient makes the requests; one with a 60 s timeout when nil.
	HTTPClient *http.Client
	// Progress is told about each phase of reading; nothing when nil.
	Progress Progress

	// Requests is the number of requests the last Read made.
	Requests int
}

// Page sizes: each listing's maximum in SonarQube.
const (
	pageUsers       = 500
	pageGroups      = 500
	pageMembers     = 500
	pageProjects    = 500
	pagePermissions = 100
)

// Read reads the whole data set.
func (s *SonarQube) Read(ctx context.Context) (*DataSet, error) {
	base, err := url.Parse(strings.TrimSuffix(s.URL, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("sonarqube url %q: want http(s)://host[/path]", s.URL)
	}
	if s.Token == "" {
		return nil, errors.New("sonarqube: a token is required")
	}
	c := &client{base: base, token: s.Token, http: s.HTTPClient, retries: s.Retries, backoff: s.Backoff}
	if c.http == nil {
		c.http = &http.Client{Timeout: 60 * time.Second}
	}
	if c.retries == 0 {
		c.retries = 5
	} else if c.retries < 0 {
		c.retries = 0
	}
	if c.backoff <= 0 {
		c.backoff = time.Second
	}
	r := s.Rate
	if r <= 0 {
		r = 10
	}
	c.limit = rate.NewLimiter(rate.Limit(r), 1)
	rd := &sonarReader{c: c, p: s.Progress}
	if rd.p == nil {
		rd.p = noProgress{}
	}
	ds, err := rd.read(ctx)
	s.Requests = c.requests
	return ds, err
}

type sonarReader struct {
	c  *client
	p  Progress
	ds DataSet
}

// Answers of SonarQube's listings, the fields read.
type (
	sqUser struct {
		Login            string   `json:"login"`
		Name             string   `json:"name"`
		Email            string   `json:"email"`
		Active           *bool    `json:"active"`
		Local            *bool    `json:"local"`
		ExternalProvider string   `json:"externalProvider"`
		ExternalIdentity string   `json:"externalIdentity"`
		TokensCount      *int     `json:"tokensCount"`
		SCMAccounts      []string `json:"scmAccounts"`
	}
	sqGroup struct {
		Name         string `json:"name"`
		Description  string `json:"description"`
		MembersCount *int   `json:"membersCount"`
		Default      bool   `json:"default"`
	}
	sqMember struct {
		Login string `json:"login"`
	}
	sqProject struct {
		Key        string `json:"key"`
		Name       string `json:"name"`
		Visibility string `json:"visibility"`
	}
	sqHolder struct {
		Login       string   `json:"login"`
		Name        string   `json:"name"`
		Permissions []string `json:"permissions"`
	}
	sqTemplate struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		KeyPattern  string `json:"projectKeyPattern"`
		Permissions []struct {
			Key                string `json:"key"`
			UsersCount         int    `json:"usersCount"`
			GroupsCount        int    `json:"groupsCount"`
			WithProjectCreator bool   `json:"withProjectCreator"`
		} `json:"permissions"`
	}
	sqToken struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Project *struct {
			Key string `json:"key"`
		} `json:"project"`
	}
)

func (r *sonarReader) read(ctx context.Context) (*DataSet, error) {
	withTokens, err := r.users(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := r.groups(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.members(ctx, groups); err != nil {
		return nil, err
	}
	if err := r.projects(ctx); err != nil {
		return nil, err
	}
	if err := r.permissions(ctx); err != nil {
		return nil, err
	}
	r.ds.GlobalPermissionsComplete = true
	if err := r.templates(ctx); err != nil {
		return nil, err
	}
	if err := r.tokens(ctx, withTokens); err != nil {
		return nil, err
	}
	return &r.ds, nil
}

// pageAll reads every page of a listing whose items are under key, calling
// each for every item until it returns false. The total is the answer's
// paging.total (or top-level total, as api/user_groups/users also sends);
// first, when set, is told it once.
func pageAll[T any](ctx context.Context, c *client, path, key string, q url.Values, ps int, first func(total int), each func(T) bool) error {
	seen := 0
	for p := 1; ; p++ {
		q.Set("p", strconv.Itoa(p))
		q.Set("ps", strconv.Itoa(ps))
		var raw map[string]json.RawMessage
		if err := c.get(ctx, path, q, &raw); err != nil {
			return err
		}
		var items []T
		if b, ok := raw[key]; ok {
			if err := json.Unmarshal(b, &items); err != nil {
				return fmt.Errorf("%s: decode %s: %w", path, key, err)
			}
		}
		var pg struct {
			Total int `json:"total"`
		}
		if b, ok := raw["paging"]; ok {
			if err := json.Unmarshal(b, &pg); err != nil {
				return fmt.Errorf("%s: decode paging: %w", path, err)
			}
		} else if b, ok := raw["total"]; ok {
			if err := json.Unmarshal(b, &pg.Total); err != nil {
				return fmt.Errorf("%s: decode total: %w", path, err)
			}
		}
		if p == 1 && first != nil {
			first(pg.Total)
		}
		for _, it := range items {
			if !each(it) {
				return nil
			}
		}
		seen += len(items)
		// Counting what came rather than p×ps stays right when a server
		// pages smaller than asked.
		if len(items) == 0 || seen >= pg.Total {
			return nil
		}
	}
}

// users reads the active users; it returns the logins that have tokens
// (all of them when the server does not send tokensCount).
func (r *sonarReader) users(ctx context.Context) ([]string, error) {
	var withTokens []string
	started := false // the phase begins with the first page, which tells its size
	err := pageAll(ctx, r.c, "api/users/search", "users", url.Values{}, pageUsers,
		func(total int) { r.p.Start("read users", total); started = true },
		func(u sqUser) bool {
			r.p.Add(1)
			if u.Active != nil && !*u.Active {
				return true
			}
			provider := u.ExternalProvider
			if u.Local != nil && *u.Local {
				provider = "" // a local user is SonarQube's own, whatever the provider field says
			}
			imp := User{Login: u.Login, Name: u.Name, Email: u.Email, SCMAccounts: u.SCMAccounts, ExternalProvider: provider}
			if !imp.Local() {
				imp.ExternalIdentity = u.ExternalIdentity
			}
			r.ds.Users = append(r.ds.Users, imp)
			if u.TokensCount == nil || *u.TokensCount > 0 {
				withTokens = append(withTokens, u.Login)
			}
			return true
		})
	if started {
		r.p.Done()
	}
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	return withTokens, nil
}

func (r *sonarReader) groups(ctx context.Context) ([]sqGroup, error) {
	var all []sqGroup
	started := false
	err := pageAll(ctx, r.c, "api/user_groups/search", "groups", url.Values{}, pageGroups,
		func(total int) { r.p.Start("read groups", total); started = true },
		func(g sqGroup) bool {
			r.p.Add(1)
			all = append(all, g)
			r.ds.Groups = append(r.ds.Groups, Group{Name: g.Name, Description: g.Description})
			return true
		})
	if started {
		r.p.Done()
	}
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	return all, nil
}

// members reads each group's members; the default group (sonar-users)
// holds every user implicitly and is skipped, as are groups the listing
// says are empty.
func (r *sonarReader) members(ctx context.Context, groups []sqGroup) error {
	r.p.Start("read memberships", len(groups))
	defer r.p.Done()
	for _, g := range groups {
		r.p.Add(1)
		if g.Default || g.Name == identity.GroupUsers || (g.MembersCount != nil && *g.MembersCount == 0) {
			continue
		}
		q := url.Values{"name": {g.Name}, "selected": {"selected"}}
		err := pageAll(ctx, r.c, "api/user_groups/users", "users", q, pageMembers, nil, func(m sqMember) bool {
			r.ds.Memberships = append(r.ds.Memberships, Membership{Group: g.Name, Login: m.Login})
			return true
		})
		if err != nil {
			return fmt.Errorf("read members of %q: %w", g.Name, err)
		}
	}
	return nil
}

func (r *sonarReader) projects(ctx context.Context) error {
	started := false
	err := pageAll(ctx, r.c, "api/projects/search", "components", url.Values{"qualifiers": {"TRK"}}, pageProjects,
		func(total int) { r.p.Start("read projects", total); started = true },
		func(p sqProject) bool {
			r.p.Add(1)
			r.ds.Projects = append(r.ds.Projects, Project{Key: p.Key, Name: p.Name, Visibility: identity.Visibility(p.Visibility)})
			return true
		})
	if started {
		r.p.Done()
	}
	if err != nil {
		return fmt.Errorf("read projects: %w", err)
	}
	return nil
}

// permissions reads the global permissions, then each project's.
func (r *sonarReader) permissions(ctx context.Context) error {
	r.p.Start("read permissions", 1+len(r.ds.Projects))
	defer r.p.Done()
	if err := r.scope(ctx, ""); err != nil {
		return fmt.Errorf("read global permissions: %w", err)
	}
	r.p.Add(1)
	for _, p := range r.ds.Projects {
		if err := r.scope(ctx, p.Key); err != nil {
			return fmt.Errorf("read permissions of project %q: %w", p.Key, err)
		}
		r.p.Add(1)
	}
	return nil
}

// scope reads the user and group permissions of one project ("" global).
// Holders come first in both listings (Anyone aside, always first), and
// without a query SonarQube lists only them; reading stops at the first
// subject without a permission, which a server that lists everyone (as
// Gatehouse does) sends after the holders.
func (r *sonarReader) scope(ctx context.Context, project string) error {
	q := url.Values{}
	if project != "" {
		q.Set("projectKey", project)
	}
	err := pageAll(ctx, r.c, "api/permissions/users", "users", q, pagePermissions, nil, func(h sqHolder) bool {
		for _, perm := range h.Permissions {
			r.ds.Permissions = append(r.ds.Permissions, Permission{Permission: identity.Permission(perm), User: h.Login, Project: project})
		}
		return len(h.Permissions) > 0
	})
	if err != nil {
		return err
	}
	return pageAll(ctx, r.c, "api/permissions/groups", "groups", q, pagePermissions, nil, func(h sqHolder) bool {
		for _, perm := range h.Permissions {
			r.ds.Permissions = append(r.ds.Permissions, Permission{Permission: identity.Permission(perm), Group: h.Name, Project: project})
		}
		return len(h.Permissions) > 0 || h.Name == identity.GroupAnyone
	})
}

func (r *sonarReader) templates(ctx context.Context) error {
	var ans struct {
		Templates []sqTemplate `json:"permissionTemplates"`
		Defaults  []struct {
			TemplateID string `json:"templateId"`
			Qualifier  string `json:"qualifier"`
		} `json:"defaultTemplates"`
	}
	if err := r.c.get(ctx, "api/permissions/search_templates", url.Values{}, &ans); err != nil {
		return fmt.Errorf("read templates: %w", err)
	}
	r.p.Start("read templates", len(ans.Templates))
	defer r.p.Done()
	def := ""
	for _, d := range ans.Defaults {
		if d.Qualifier == "TRK" || d.Qualifier == "" {
			def = d.TemplateID
		}
	}
	for _, t := range ans.Templates {
		imp := Template{Name: t.Name, Description: t.Description, KeyPattern: t.KeyPattern, Default: t.ID == def}
		users, groups := false, false
		for _, p := range t.Permissions {
			users = users || p.UsersCount > 0
			groups = groups || p.GroupsCount > 0
			if p.WithProjectCreator {
				imp.Permissions = append(imp.Permissions, TemplatePermission{Permission: identity.Permission(p.Key), ProjectCreator: true})
			}
		}
		// The counts say which listings have anything to read; a server
		// that sends no counts is asked anyway.
		if len(t.Permissions) == 0 {
			users, groups = true, true
		}
		q := url.Values{"templateId": {t.ID}}
		if users {
			err := pageAll(ctx, r.c, "api/permissions/template_users", "users", q, pagePermissions, nil, func(h sqHolder) bool {
				for _, perm := range h.Permissions {
					imp.Permissions = append(imp.Permissions, TemplatePermission{Permission: identity.Permission(perm), User: h.Login})
				}
				return len(h.Permissions) > 0
			})
			if err != nil {
				return fmt.Errorf("read users of template %q: %w", t.Name, err)
			}
		}
		if groups {
			err := pageAll(ctx, r.c, "api/permissions/template_groups", "groups", q, pagePermissions, nil, func(h sqHolder) bool {
				for _, perm := range h.Permissions {
					imp.Permissions = append(imp.Permissions, TemplatePermission{Permission: identity.Permission(perm), Group: h.Name})
				}
				return len(h.Permissions) > 0 || h.Name == identity.GroupAnyone
			})
			if err != nil {
				return fmt.Errorf("read groups of template %q: %w", t.Name, err)
			}
		}
		r.ds.Templates = append(r.ds.Templates, imp)
		r.p.Add(1)
	}
	return nil
}

// tokens lists the tokens of the users that have some: their secrets
// cannot be read, so they must be re-created.
func (r *sonarReader) tokens(ctx context.Context, logins []string) error {
	r.p.Start("read tokens", len(logins))
	defer r.p.Done()
	for _, login := range logins {
		var ans struct {
			Tokens []sqToken `json:"userTokens"`
		}
		err := r.c.get(ctx, "api/user_tokens/search", url.Values{"login": {login}}, &ans)
		if isAPIError(err, http.StatusNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("read tokens of %q: %w", login, err)
		}
		for _, t := range ans.Tokens {
			tok := Token{Login: login, Name: t.Name, Type: t.Type}
			if t.Project != nil {
				tok.Project = t.Project.Key
			}
			r.ds.Tokens = append(r.ds.Tokens, tok)
		}
		r.p.Add(1)
	}
	return nil
}
