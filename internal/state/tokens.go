package state

import (
	"context"
	"errors"

	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

// Authenticate resolves a token secret to a principal (SPEC §3): checksum
// before any lookup, then hash, expiry, revocation and the owner's state, all
// from memory. A use is recorded in the store at most once a minute. The
// groups of a directory user are re-read first when older than the
// directory's staleness bound (see [State.Freshen]).
func (s *State) Authenticate(secret string) (authz.Principal, error) {
	p, touch, err := s.index.Resolve(secret)
	if err != nil {
		return p, err
	}
	if p.Freshness() != nil {
		s.Freshen(context.Background(), p)
	}
	if touch {
		select {
		case s.touches <- tokenUse{tokenID: p.TokenID, userID: p.UserID, at: s.now()}:
		default: // the recorder is behind; the next minute's use will be recorded
		}
	}
	return p, nil
}

type tokenView struct {
	ID          int64                 `json:"id"`
	Name        string                `json:"name"`
	Type        identity.TokenType    `json:"type"`
	Owner       string                `json:"owner,omitempty"`
	Project     string                `json:"project,omitempty"`
	ExpiresAt   string                `json:"expiresAt,omitempty"`
	Permissions []identity.Permission `json:"permissions,omitempty"`
	ProjectSet  identity.ProjectSet   `json:"projectSet,omitempty"`
	Patterns    []string              `json:"projectPatterns,omitempty"`
	Projects    int                   `json:"projectCount,omitempty"`
	SCIMScopes  []string              `json:"scimScopes,omitempty"`
}

func viewToken(t identity.Token) *tokenView {
	v := &tokenView{ID: t.ID, Name: t.Name, Type: t.Type, Permissions: t.Permissions, ProjectSet: t.Scope.Set, Patterns: t.Scope.Patterns, Projects: t.Scope.ProjectCount, SCIMScopes: t.SCIMScopes}
	if t.UserID != 0 {
		v.Owner = strconv.FormatInt(t.UserID, 10)
	}
	if t.ProjectID != 0 {
		v.Project = strconv.FormatInt(t.ProjectID, 10)
	}
	if !t.ExpiresAt.IsZero() {
		v.ExpiresAt = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return v
}

func validateTokenName(name string) error {
	if strings.TrimSpace(name) == "" {
		return identity.Errorf(identity.ErrInvalid, "The 'name' parameter is missing")
	}
	if utf8.RuneCountInString(name) > identity.MaxTokenNameLen {
		return identity.Errorf(identity.ErrInvalid, "'name' length (%d) is longer than the maximum authorized (%d)", utf8.RuneCountInString(name), identity.MaxTokenNameLen)
	}
	return nil
}

// NewUserToken describes a user-bound token to generate.
type NewUserToken struct {
	UserID    int64
	Name      string
	Type      identity.TokenType // user, global analysis or project analysis
	ProjectID int64              // project analysis tokens
	ExpiresAt time.Time          // zero: never, if the policy allows
}

// SeesProject is whether p may learn that project key exists: a global
// administrator, a holder of browse (or an implicit browse on a public
// project), or an administrator of the project. Others are answered as if
// there were no such project.
func (s *State) SeesProject(p authz.Principal, key string) bool {
	return s.index.Decide(p, identity.PermAdmin, "").Allowed || s.index.Sees(p, key) || s.index.Decide(p, identity.PermAdmin, key).Allowed
}

// UserTokenRequest is a user-bound token asked for by a caller.
type UserTokenRequest struct {
	Owner      identity.User
	Name       string
	Type       identity.TokenType
	ProjectKey string    // project analysis tokens
	ExpiresAt  time.Time // zero: never, if the policy allows
}

// IssueUserToken is the one path of a user-bound token asked for by
// caller, for api/user_tokens/generate and the admin UI: an analysis token
// for oneself only ([CheckTokenOwner]), the project of a project analysis
// token known to the caller ([State.SeesProject], else "not found"), the
// caller's right to the type ([State.CheckTokenRight]), then
// [State.GenerateUserToken].
func (s *State) IssueUserToken(ctx context.Context, caller authz.Principal, req UserTokenRequest) (string, identity.Token, error) {
	if err := CheckTokenOwner(caller.UserID, req.Owner.ID, req.Type); err != nil {
		return "", identity.Token{}, err
	}
	n := NewUserToken{UserID: req.Owner.ID, Name: strings.TrimSpace(req.Name), Type: req.Type, ExpiresAt: req.ExpiresAt}
	key := strings.TrimSpace(req.ProjectKey)
	if req.Type == identity.TokenProjectAnalysis {
		if key == "" {
			return "", identity.Token{}, identity.Errorf(identity.ErrInvalid, "A projectKey is needed when creating Project Analysis Token")
		}
		p, err := s.store.GetProjectByKey(ctx, key)
		if errors.Is(err, identity.ErrNotFound) || err == nil && !s.SeesProject(caller, key) {
			return "", identity.Token{}, identity.Errorf(identity.ErrNotFound, "Project key '%s' not found", key)
		}
		if err != nil {
			return "", identity.Token{}, err
		}
		n.ProjectID = p.ID
	}
	if err := s.CheckTokenRight(caller, req.Type, key); err != nil {
		return "", identity.Token{}, err
	}
	return s.GenerateUserToken(ctx, n)
}

// CheckTokenRight refuses an analysis token its user could not use: a
// global analysis token needs scan globally, a project analysis token scan
// on its project. Every adapter asks it before [State.GenerateUserToken].
func (s *State) CheckTokenRight(p authz.Principal, typ identity.TokenType, projectKey string) error {
	var need string
	switch typ {
	case identity.TokenGlobalAnalysis:
	case identity.TokenProjectAnalysis:
		need = projectKey
	default:
		return nil
	}
	if !s.index.Decide(p, identity.PermScan, need).Allowed {
		return identity.Errorf(identity.ErrForbidden, "Insufficient privileges")
	}
	return nil
}

// CheckTokenOwner refuses an analysis token for a user other than the
// caller (SonarQube's rule): analysis tokens are their user's own; for
// another user, an administrator generates user tokens only. Every adapter
// asks it before [State.GenerateUserToken].
func CheckTokenOwner(callerID, ownerID int64, typ identity.TokenType) error {
	if callerID == ownerID {
		return nil
	}
	switch typ {
	case identity.TokenProjectAnalysis:
		return identity.Errorf(identity.ErrInvalid, "A Project Analysis Token cannot be generated for another user.")
	case identity.TokenGlobalAnalysis:
		return identity.Errorf(identity.ErrInvalid, "A Global Analysis Token cannot be generated for another user.")
	}
	return nil
}

// GenerateUserToken creates a user-bound token and returns its secret, which
// is never shown again.
func (s *State) GenerateUserToken(ctx context.Context, n NewUserToken) (string, identity.Token, error) {
	if err := validateTokenName(n.Name); err != nil {
		return "", identity.Token{}, err
	}
	switch n.Type {
	case identity.TokenUser, identity.TokenGlobalAnalysis:
		n.ProjectID = 0
	case identity.TokenProjectAnalysis:
		if n.ProjectID == 0 {
			return "", identity.Token{}, identity.Errorf(identity.ErrInvalid, "A projectKey is needed when creating Project Analysis Token")
		}
	default:
		return "", identity.Token{}, identity.Errorf(identity.ErrInvalid, "Value of parameter 'type' (%s) must be one of: [USER_TOKEN, GLOBAL_ANALYSIS_TOKEN, PROJECT_ANALYSIS_TOKEN]", n.Type)
	}
	t := identity.Token{Name: n.Name, Type: n.Type, UserID: n.UserID, ProjectID: n.ProjectID, ExpiresAt: n.ExpiresAt}
	return s.createToken(ctx, t, nil, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, n.UserID)
		if err != nil {
			return err
		}
		if !u.Active {
			return identity.Errorf(identity.ErrInvalid, "User '%s' is deactivated", u.Login)
		}
		return nil
	})
}

// OrgTokenSpec describes an organization token's scope and rights.
type OrgTokenSpec struct {
	Name, Description string
	Permissions       []identity.Permission
	Set               identity.ProjectSet
	Patterns          []string
	Projects          []int64
	ExpiresAt         time.Time
}

// MaxOrgTokenPatterns bounds the key patterns of one organization token:
// each is matched against every project key the token is checked on.
const MaxOrgTokenPatterns = 100

func validateOrgScope(perms []identity.Permission, set identity.ProjectSet, patterns []string, explicit int) error {
	if len(perms) == 0 {
		return identity.Errorf(identity.ErrInvalid, "An organization token needs at least one permission")
	}
	for _, p := range perms {
		if !p.IsProject() {
			return identity.Errorf(identity.ErrInvalid, "'%s' is not a project permission: organization tokens carry only scan, user, codeviewer, issueadmin, securityhotspotadmin and admin", p)
		}
	}
	if !set.Valid() {
		return identity.Errorf(identity.ErrInvalid, "Value of parameter 'projectSet' (%s) must be one of: [all, public, private]", set)
	}
	if len(patterns) > MaxOrgTokenPatterns {
		return identity.Errorf(identity.ErrInvalid, "An organization token can have at most %d project patterns", MaxOrgTokenPatterns)
	}
	for _, p := range patterns {
		if _, err := identity.CompileKeyPattern(p); err != nil {
			return identity.Errorf(identity.ErrInvalid, "Invalid project pattern '%s': it must be a valid regular expression", p)
		}
	}
	if set == identity.SetNone && len(patterns) == 0 && explicit == 0 {
		return identity.Errorf(identity.ErrInvalid, "An organization token needs a project scope: projects, projectPattern or projectSet")
	}
	return nil
}

// GenerateOrgToken creates an organization token, tied to no user.
func (s *State) GenerateOrgToken(ctx context.Context, spec OrgTokenSpec) (string, identity.Token, error) {
	if err := validateTokenName(spec.Name); err != nil {
		return "", identity.Token{}, err
	}
	spec.Permissions = dedupe(spec.Permissions)
	spec.Projects = dedupe(spec.Projects)
	if err := validateOrgScope(spec.Permissions, spec.Set, spec.Patterns, len(spec.Projects)); err != nil {
		return "", identity.Token{}, err
	}
	t := identity.Token{
		Name: spec.Name, Description: spec.Description, Type: identity.TokenOrganization,
		Permissions: spec.Permissions, Scope: identity.TokenScope{Set: spec.Set, Patterns: spec.Patterns},
		ExpiresAt: spec.ExpiresAt,
	}
	return s.createToken(ctx, t, spec.Projects, nil)
}

// SCIM token scopes; a generated token gets all of them unless narrowed.
var SCIMScopes = []string{"users:read", "users:write", "groups:read", "groups:write"}

// GenerateSCIMToken creates a token for the SCIM provisioning endpoint.
func (s *State) GenerateSCIMToken(ctx context.Context, name string, scopes []string, expiresAt time.Time) (string, identity.Token, error) {
	if err := validateTokenName(name); err != nil {
		return "", identity.Token{}, err
	}
	if len(scopes) == 0 {
		scopes = SCIMScopes
	}
	for _, sc := range scopes {
		if !slices.Contains(SCIMScopes, sc) {
			return "", identity.Token{}, identity.Errorf(identity.ErrInvalid, "Unknown SCIM scope '%s'; known scopes: %s", sc, strings.Join(SCIMScopes, ", "))
		}
	}
	t := identity.Token{Name: name, Type: identity.TokenSCIM, SCIMScopes: dedupe(scopes), ExpiresAt: expiresAt}
	return s.createToken(ctx, t, nil, nil)
}

func (s *State) createToken(ctx context.Context, t identity.Token, projects []int64, check func(tx store.Tx) error) (string, identity.Token, error) {
	secret, hash, err := token.Generate(t.Type)
	if err != nil {
		return "", identity.Token{}, err
	}
	t.Hash = hash[:]
	t.CreatedAt = s.now()
	t.CreatedBy = ActorFrom(ctx).Name
	var out identity.Token
	err = s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		if check != nil {
			if err := check(tx); err != nil {
				return audit{}, nil, err
			}
		}
		policy, err := s.policy(ctx, tx)
		if err != nil {
			return audit{}, nil, err
		}
		if err := policy.check(t.Type, t.ExpiresAt, s.now()); err != nil {
			return audit{}, nil, err
		}
		out, err = tx.CreateToken(ctx, t)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, s.duplicateTokenName(ctx, tx, t)
		}
		if err != nil {
			return audit{}, nil, err
		}
		if len(projects) > 0 {
			if err := s.checkProjects(ctx, tx, projects); err != nil {
				return audit{}, nil, err
			}
			if err := tx.AddTokenProjects(ctx, out.ID, projects); err != nil {
				return audit{}, nil, err
			}
			out.Scope.ProjectCount = len(projects)
		}
		apply := func() {
			if err := s.index.PutToken(out, projects); err != nil {
				s.log.Error("index token", "token_id", out.ID, "err", err)
			}
		}
		return audit{Action: "token.generate", Target: tokenTarget(out), After: viewToken(out)}, apply, nil
	})
	if err != nil {
		return "", identity.Token{}, err
	}
	return secret, out, nil
}

func tokenTarget(t identity.Token) string { return "token:" + strconv.FormatInt(t.ID, 10) }

func (s *State) duplicateTokenName(ctx context.Context, r store.Reader, t identity.Token) error {
	if t.UserID != 0 {
		if u, err := r.GetUser(ctx, t.UserID); err == nil {
			return identity.Errorf(identity.ErrInvalid, "A user token for login '%s' and name '%s' already exists", u.Login, t.Name)
		}
	}
	return identity.Errorf(identity.ErrInvalid, "A token with name '%s' already exists", t.Name)
}

// checkProjects verifies that every id names a project, so a stale or forged
// id is a 400 rather than a dangling row.
func (s *State) checkProjects(ctx context.Context, r store.Reader, ids []int64) error {
	const chunk = 500
	for i := 0; i < len(ids); i += chunk {
		part := ids[i:min(i+chunk, len(ids))]
		ps, total, err := r.ListProjects(ctx, store.ProjectFilter{IDs: part})
		if err != nil {
			return err
		}
		if total != len(part) {
			found := make(map[int64]bool, len(ps))
			for _, p := range ps {
				found[p.ID] = true
			}
			for _, id := range part {
				if !found[id] {
					return identity.Errorf(identity.ErrNotFound, "Project with id '%d' not found", id)
				}
			}
		}
	}
	return nil
}

// OrgTokenUpdate holds the changes to an organization token; nil leaves a
// field as it is. Projects replaces the explicit list; AddProjects and
// RemoveProjects edit it.
type OrgTokenUpdate struct {
	Name, Description           *string
	Permissions                 *[]identity.Permission
	Set                         *identity.ProjectSet
	Patterns                    *[]string
	Projects                    *[]int64
	AddProjects, RemoveProjects []int64
	ExpiresAt                   *time.Time
}

// UpdateOrgToken edits an organization token's name, description,
// permissions, scope or expiry; the secret stays the same.
func (s *State) UpdateOrgToken(ctx context.Context, id int64, upd OrgTokenUpdate) (identity.Token, error) {
	var out identity.Token
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := getLiveToken(ctx, tx, id)
		if err != nil {
			return audit{}, nil, err
		}
		if old.Type != identity.TokenOrganization {
			return audit{}, nil, identity.Errorf(identity.ErrNotFound, "Organization token '%d' not found", id)
		}
		t := old
		if upd.Name != nil {
			if err := validateTokenName(*upd.Name); err != nil {
				return audit{}, nil, err
			}
			t.Name = *upd.Name
		}
		if upd.Description != nil {
			t.Description = *upd.Description
		}
		if upd.Permissions != nil {
			t.Permissions = dedupe(*upd.Permissions)
		}
		if upd.Set != nil {
			t.Scope.Set = *upd.Set
		}
		if upd.Patterns != nil {
			t.Scope.Patterns = *upd.Patterns
		}
		if upd.ExpiresAt != nil {
			t.ExpiresAt = *upd.ExpiresAt
			policy, err := s.policy(ctx, tx)
			if err != nil {
				return audit{}, nil, err
			}
			if err := policy.check(t.Type, t.ExpiresAt, s.now()); err != nil {
				return audit{}, nil, err
			}
		}
		current, _, err := tx.ListTokenProjects(ctx, id, store.Page{})
		if err != nil {
			return audit{}, nil, err
		}
		want := current
		if upd.Projects != nil {
			want = dedupe(*upd.Projects)
		}
		if len(upd.AddProjects) > 0 || len(upd.RemoveProjects) > 0 {
			set := make(map[int64]struct{}, len(want)+len(upd.AddProjects))
			for _, p := range want {
				set[p] = struct{}{}
			}
			for _, p := range upd.AddProjects {
				set[p] = struct{}{}
			}
			for _, p := range upd.RemoveProjects {
				delete(set, p)
			}
			want = make([]int64, 0, len(set))
			for p := range set {
				want = append(want, p)
			}
		}
		added, removed := diff(current, want)
		if err := validateOrgScope(t.Permissions, t.Scope.Set, t.Scope.Patterns, len(want)); err != nil {
			return audit{}, nil, err
		}
		if err := s.checkProjects(ctx, tx, added); err != nil {
			return audit{}, nil, err
		}
		if err := tx.RemoveTokenProjects(ctx, id, removed); err != nil {
			return audit{}, nil, err
		}
		if err := tx.AddTokenProjects(ctx, id, added); err != nil {
			return audit{}, nil, err
		}
		t.Scope.ProjectCount = len(want)
		t.UpdatedAt = s.now()
		err = tx.UpdateToken(ctx, t)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, s.duplicateTokenName(ctx, tx, t)
		}
		if err != nil {
			return audit{}, nil, err
		}
		out = t
		apply := func() {
			if err := s.index.PutToken(out, want); err != nil {
				s.log.Error("index token", "token_id", out.ID, "err", err)
			}
		}
		after := viewToken(t)
		return audit{Action: "token.update", Target: tokenTarget(t), Before: viewToken(old), After: map[string]any{"token": after, "projectsAdded": len(added), "projectsRemoved": len(removed)}}, apply, nil
	})
	return out, err
}

// RotateToken gives a token a new secret. The old secret keeps working for
// grace (0: it stops at once).
func (s *State) RotateToken(ctx context.Context, id int64, grace time.Duration) (string, identity.Token, error) {
	if grace < 0 || grace > 30*24*time.Hour {
		return "", identity.Token{}, identity.Errorf(identity.ErrInvalid, "The grace period must be between 0 and 2592000 seconds")
	}
	var secret string
	var out identity.Token
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		t, err := getLiveToken(ctx, tx, id)
		if err != nil {
			return audit{}, nil, err
		}
		sec, hash, err := token.Generate(t.Type)
		if err != nil {
			return audit{}, nil, err
		}
		t.PrevHash, t.PrevValidUntil = nil, time.Time{}
		if grace > 0 {
			t.PrevHash, t.PrevValidUntil = t.Hash, s.now().Add(grace)
		}
		t.Hash = hash[:]
		t.UpdatedAt = s.now()
		if err := tx.UpdateToken(ctx, t); err != nil {
			return audit{}, nil, err
		}
		projects, _, err := tx.ListTokenProjects(ctx, id, store.Page{})
		if err != nil {
			return audit{}, nil, err
		}
		secret, out = sec, t
		apply := func() {
			if err := s.index.PutToken(out, projects); err != nil {
				s.log.Error("index token", "token_id", out.ID, "err", err)
			}
		}
		return audit{Action: "token.rotate", Target: tokenTarget(t), After: map[string]any{"gracePeriodSeconds": int64(grace / time.Second)}}, apply, nil
	})
	return secret, out, err
}

// RevokeToken revokes a token: it stops working at once and is kept for
// audit.
func (s *State) RevokeToken(ctx context.Context, id int64) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		t, err := tx.GetToken(ctx, id)
		if errors.Is(err, identity.ErrNotFound) || err == nil && t.Revoked() {
			return audit{}, nil, identity.Errorf(identity.ErrNotFound, "Token '%d' not found", id)
		}
		if err != nil {
			return audit{}, nil, err
		}
		t.RevokedAt = s.now()
		t.PrevHash, t.PrevValidUntil = nil, time.Time{}
		if err := tx.UpdateToken(ctx, t); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "token.revoke", Target: tokenTarget(t), Before: viewToken(t)}, func() { s.index.RemoveToken(id) }, nil
	})
}

// RevokeUserToken revokes a user's token by name.
func (s *State) RevokeUserToken(ctx context.Context, userID int64, name string) error {
	uid := userID
	ts, _, err := s.store.ListTokens(ctx, store.TokenFilter{UserID: &uid})
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Name == name {
			return s.RevokeToken(ctx, t.ID)
		}
	}
	return identity.Errorf(identity.ErrNotFound, "User token with name '%s' doesn't exist", name)
}

func getLiveToken(ctx context.Context, r store.Reader, id int64) (identity.Token, error) {
	t, err := r.GetToken(ctx, id)
	if errors.Is(err, identity.ErrNotFound) || err == nil && t.Revoked() {
		return t, identity.Errorf(identity.ErrNotFound, "Token '%d' not found", id)
	}
	return t, err
}

func dedupe[T comparable](xs []T) []T {
	seen := make(map[T]struct{}, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if _, ok := seen[x]; !ok {
			seen[x] = struct{}{}
			out = append(out, x)
		}
	}
	return out
}

func diff(current, want []int64) (added, removed []int64) {
	cur := make(map[int64]struct{}, len(current))
	for _, p := range current {
		cur[p] = struct{}{}
	}
	w := make(map[int64]struct{}, len(want))
	for _, p := range want {
		w[p] = struct{}{}
		if _, ok := cur[p]; !ok {
			added = append(added, p)
		}
	}
	for _, p := range current {
		if _, ok := w[p]; !ok {
			removed = append(removed, p)
		}
	}
	return added, removed
}
