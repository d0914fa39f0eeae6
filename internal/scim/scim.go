// Package scim is Gatehouse's SCIM 2.0 service provider (RFC 7643, RFC
// 7644): Users (core and enterprise extension), Groups and the discovery
// endpoints, driven by Microsoft Entra ID, Okta and JumpCloud. It is a thin
// adapter: filters become store conditions evaluated where the rows are,
// PATCH operations are applied by closure inside state's write, and every
// change goes through state with the SCIM token as the audit actor.
package scim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/reqinfo"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Backend is what the SCIM service needs of the coordinator; *state.State
// implements it.
type Backend interface {
	Authenticate(secret string) (authz.Principal, error)
	SCIMTokenScopes(ctx context.Context, tokenID int64) ([]string, error)
	Store() store.Reader
	Index() *authz.Index
	SCIMCreateUser(ctx context.Context, u identity.User) (identity.User, error)
	SCIMUpdateUser(ctx context.Context, id int64, edit func(old identity.User) (identity.User, error)) (identity.User, error)
	SCIMCreateGroup(ctx context.Context, g identity.Group, members []int64) (identity.Group, error)
	SCIMUpdateGroup(ctx context.Context, id int64, edit func(old identity.Group) (state.GroupEdit, error)) (identity.Group, error)
	SCIMDeleteGroup(ctx context.Context, id int64) error
}

var _ Backend = (*state.State)(nil)

// Options configures the service.
type Options struct {
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; 4 MiB when 0 (a PATCH of 10,000
	// member operations fits).
	MaxBodyBytes int64
}

// Bases are the URL prefixes the service answers under: Gatehouse's own and
// SonarQube Server's, so that an admin migrating pastes the URL they had.
var Bases = []string{"/scim/v2", "/api/scim/v2"}

// Paging bounds: count above maxResults is lowered to it (RFC 7644
// §3.4.2.4 lets the provider return fewer).
const (
	defaultCount = 100
	maxResults   = 1000
)

// Server is the SCIM handler.
type Server struct {
	b    Backend
	log  *slog.Logger
	opts Options
}

// New returns the SCIM service over b.
func New(b Backend, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	return &Server{b: b, log: opts.Logger, opts: opts}
}

// Wrap returns a handler that serves SCIM requests itself and passes the
// rest to next. It sits in front of the mux because ServeMux redirects
// JumpCloud's `/scim/v2//Users` to a cleaned path, which a POST does not
// survive.
func (s *Server) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if base, rest, ok := splitBase(r.URL.Path); ok {
			s.serve(w, r, base, rest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func splitBase(p string) (base string, rest []string, ok bool) {
	for _, b := range Bases {
		after, found := strings.CutPrefix(p, b)
		if !found || after != "" && after[0] != '/' {
			continue
		}
		for _, seg := range strings.Split(after, "/") {
			if seg != "" {
				rest = append(rest, seg)
			}
		}
		return b, rest, true
	}
	return "", nil, false
}

// call is one SCIM request.
type call struct {
	ctx    context.Context
	w      http.ResponseWriter
	r      *http.Request
	base   string // absolute base URL for locations
	scopes []string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, base string, rest []string) {
	c := &call{ctx: r.Context(), w: w, r: r, base: absoluteBase(r, base)}
	if _, err := s.route(c, rest); err != nil {
		se := toError(err)
		if se.Status >= 500 {
			s.log.ErrorContext(r.Context(), "scim request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(w, se)
	}
}

func absoluteBase(r *http.Request, base string) string {
	scheme := "http"
	if reqinfo.HTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + base
}

func writeError(w http.ResponseWriter, e *Error) {
	body := map[string]any{"schemas": []string{schemaError}, "status": strconv.Itoa(e.Status), "detail": e.Detail}
	if e.ScimType != "" {
		body["scimType"] = e.ScimType
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-scim"`)
	}
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.FormatInt(identity.RetrySeconds(e.Retry), 10))
	}
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"schemas":["`+schemaError+`"],"status":"500","detail":"An internal error occurred"}`)
	}
	w.Header().Set("Content-Type", "application/scim+json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// scope names; a generated token has all of them (state.SCIMScopes).
const (
	scopeUsersRead   = "users:read"
	scopeUsersWrite  = "users:write"
	scopeGroupsRead  = "groups:read"
	scopeGroupsWrite = "groups:write"
)

func (s *Server) authenticate(c *call) error {
	h := c.r.Header.Get("Authorization")
	scheme, secret, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return errf(http.StatusUnauthorized, "", "Authentication is required: send a SCIM token (gts_…) as Authorization: Bearer")
	}
	p, err := s.b.Authenticate(strings.TrimSpace(secret))
	if err != nil {
		return errf(http.StatusUnauthorized, "", "%s", identity.Message(err))
	}
	if p.TokenType != identity.TokenSCIM {
		return errf(http.StatusForbidden, "", "Only a SCIM token (gts_…) may be used here: generate one with api/scim_tokens/generate or `gatehouse token scim`")
	}
	scopes, err := s.b.SCIMTokenScopes(c.ctx, p.TokenID)
	if errors.Is(err, identity.ErrUnavailable) {
		return err // the store cannot say now: 503, not a bad token
	}
	if err != nil {
		return errf(http.StatusUnauthorized, "", "Invalid token")
	}
	c.scopes = scopes
	rid := c.r.Header.Get("X-Request-Id")
	if len(rid) > 100 {
		rid = rid[:100]
	}
	c.ctx = state.WithActor(c.ctx, state.Actor{Name: "token:" + strconv.FormatInt(p.TokenID, 10), Source: identity.SourceSCIM, RequestID: rid, ClientAddress: reqinfo.ClientAddress(c.r)})
	return nil
}

func (c *call) need(scope string) error {
	if slices.Contains(c.scopes, scope) {
		return nil
	}
	return errf(http.StatusForbidden, "", "Insufficient scope: this request needs the SCIM scope %s and the token has [%s]. Generate a token with every scope (api/scim_tokens/generate without scopes, or `gatehouse token scim`) and paste it into the identity provider.", scope, strings.Join(c.scopes, ", "))
}

func (s *Server) route(c *call, rest []string) (int, error) {
	if err := s.authenticate(c); err != nil {
		return 0, err
	}
	if len(rest) == 0 {
		return 0, notFound("Use %s/Users, /Groups, /ServiceProviderConfig, /ResourceTypes or /Schemas", c.base)
	}
	m := c.r.Method
	switch strings.ToLower(rest[0]) {
	case "serviceproviderconfig", "resourcetypes", "schemas":
		if m != http.MethodGet {
			return 0, errf(http.StatusMethodNotAllowed, "", "%s supports GET only", rest[0])
		}
		return s.discovery(c, rest)
	case "users":
		return s.resource(c, rest[1:], usersType)
	case "groups":
		return s.resource(c, rest[1:], groupsType)
	case "bulk", "me", ".search":
		return 0, errf(http.StatusNotImplemented, "", "%s is not supported (see ServiceProviderConfig)", rest[0])
	}
	return 0, notFound("No SCIM endpoint %s", rest[0])
}

func (s *Server) resource(c *call, rest []string, rt *resourceType) (int, error) {
	read, write := scopeUsersRead, scopeUsersWrite
	if rt == groupsType {
		read, write = scopeGroupsRead, scopeGroupsWrite
	}
	if len(rest) > 1 {
		return 0, notFound("No such resource")
	}
	m := c.r.Method
	if m == http.MethodGet {
		if err := c.need(read); err != nil {
			return 0, err
		}
	} else if err := c.need(write); err != nil {
		return 0, err
	}
	if len(rest) == 0 {
		switch m {
		case http.MethodGet:
			return s.list(c, rt)
		case http.MethodPost:
			return s.create(c, rt)
		}
		return 0, errf(http.StatusMethodNotAllowed, "", "%s %s is not supported", m, rt.Endpoint)
	}
	id, ok := parseID(rt.idPrefix, rest[0])
	if !ok {
		return 0, notFound("%s %s not found", rt.Name, rest[0])
	}
	switch m {
	case http.MethodGet:
		return s.get(c, rt, id)
	case http.MethodPut:
		return s.put(c, rt, id)
	case http.MethodPatch:
		return s.patch(c, rt, id)
	case http.MethodDelete:
		return s.delete(c, rt, id)
	}
	return 0, errf(http.StatusMethodNotAllowed, "", "%s is not supported on a %s", m, rt.Name)
}

// body reads a bounded JSON object body.
func (s *Server) body(c *call) (map[string]any, error) {
	ct := strings.ToLower(c.r.Header.Get("Content-Type"))
	if ct != "" && !strings.HasPrefix(ct, "application/scim+json") && !strings.HasPrefix(ct, "application/json") {
		return nil, errf(http.StatusUnsupportedMediaType, "", "Send application/scim+json (or application/json), not %s", ct)
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, s.opts.MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errf(http.StatusRequestEntityTooLarge, typeTooMany, "The request body is larger than %d bytes", s.opts.MaxBodyBytes)
	}
	if err != nil {
		return nil, badSyntax("The request body could not be read")
	}
	if strings.IndexByte(string(b), 0) >= 0 {
		return nil, badSyntax("The request body contains a NUL byte")
	}
	return decodeJSON(b)
}

func (c *call) projection() projection {
	q := c.r.URL.Query()
	return parseProjection(q.Get("attributes"), q.Get("excludedAttributes"))
}

func (s *Server) list(c *call, rt *resourceType) (int, error) {
	q := c.r.URL.Query()
	if q.Get("sortBy") != "" {
		// Declared unsupported in ServiceProviderConfig; the stable order
		// is kept rather than refusing the request.
		s.log.DebugContext(c.ctx, "scim sortBy ignored", "sortBy", q.Get("sortBy"))
	}
	start, err := intParam(q.Get("startIndex"), 1)
	if err != nil {
		return 0, err
	}
	if start < 1 {
		start = 1
	}
	count, err := intParam(q.Get("count"), defaultCount)
	if err != nil {
		return 0, err
	}
	count = max(0, min(count, maxResults))
	var where *store.Cond
	if f := q.Get("filter"); f != "" {
		if strings.IndexByte(f, 0) >= 0 {
			return 0, badFilter("The filter contains a NUL byte")
		}
		e, err := parseFilter(f)
		if err != nil {
			return 0, err
		}
		cond, err := translator{rt: rt}.cond(e)
		if err != nil {
			return 0, err
		}
		where = &cond
	}
	// count=0 asks for totalResults only.
	page := store.Page{Size: max(count, 1), Skip: start - 1}
	want := c.projection()
	resources := []any{}
	var total int
	if rt == usersType {
		users, n, err := s.b.Store().ListUsers(c.ctx, store.UserFilter{Where: where, Page: page})
		if err != nil {
			return 0, asFilterErr(err)
		}
		total = n
		for _, u := range users[:min(len(users), count)] {
			d, err := s.userDoc(c.ctx, c.base, u, want, reading)
			if err != nil {
				return 0, err
			}
			resources = append(resources, d)
		}
	} else {
		groups, n, err := s.b.Store().ListGroups(c.ctx, store.GroupFilter{Where: where, Page: page})
		if err != nil {
			return 0, asFilterErr(err)
		}
		total = n
		for _, g := range groups[:min(len(groups), count)] {
			d, err := s.groupDoc(c.ctx, c.base, g, want, reading)
			if err != nil {
				return 0, err
			}
			resources = append(resources, d)
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"schemas": []string{schemaList}, "totalResults": total, "startIndex": start, "itemsPerPage": len(resources), "Resources": resources,
	})
	return http.StatusOK, nil
}

func asFilterErr(err error) error {
	if errors.Is(err, identity.ErrInvalid) {
		return badFilter("%s", identity.Message(err))
	}
	return err
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		if len(strings.TrimLeft(s, "-0123456789")) == 0 && len(s) > 1 {
			return maxResults * 1000, nil // an integer too large for int: as large as allowed
		}
		return 0, badValue("%q is not an integer", s)
	}
	return n, nil
}

func (s *Server) loadUser(c *call, id int64) (identity.User, error) {
	u, err := s.b.Store().GetUser(c.ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return u, notFound("User %s not found", formatID(userPrefix, id))
	}
	return u, err
}

func (s *Server) loadGroup(c *call, id int64) (identity.Group, error) {
	g, err := s.b.Store().GetGroup(c.ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return g, notFound("Group %s not found", formatID(groupPrefix, id))
	}
	return g, err
}

// checkIfMatch enforces If-Match against the stored version.
func (c *call) checkIfMatch(updated time.Time) error {
	im := c.r.Header.Get("If-Match")
	if im == "" || im == "*" {
		return nil
	}
	cur := etag(updated)
	for _, t := range strings.Split(im, ",") {
		t = strings.TrimSpace(t)
		if t == cur || "W/"+t == cur {
			return nil
		}
	}
	return errf(http.StatusPreconditionFailed, typeInvalidVers, "The resource changed: its version is %s, not %s", cur, im)
}

func (s *Server) get(c *call, rt *resourceType, id int64) (int, error) {
	var d map[string]any
	var updated time.Time
	if rt == usersType {
		u, err := s.loadUser(c, id)
		if err != nil {
			return 0, err
		}
		updated = u.UpdatedAt
		if d, err = s.userDoc(c.ctx, c.base, u, c.projection(), reading); err != nil {
			return 0, err
		}
	} else {
		g, err := s.loadGroup(c, id)
		if err != nil {
			return 0, err
		}
		updated = g.UpdatedAt
		if d, err = s.groupDoc(c.ctx, c.base, g, c.projection(), reading); err != nil {
			return 0, err
		}
	}
	tag := etag(updated)
	if inm := c.r.Header.Get("If-None-Match"); inm != "" && (inm == "*" || strings.Contains(inm, tag) || strings.Contains(tag, inm)) {
		c.w.Header().Set("ETag", tag)
		c.w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified, nil
	}
	return s.answer(c, http.StatusOK, d, updated)
}

func (s *Server) answer(c *call, status int, d map[string]any, updated time.Time) (int, error) {
	c.w.Header().Set("ETag", etag(updated))
	if status == http.StatusCreated {
		if m, ok := d["meta"].(map[string]any); ok {
			c.w.Header().Set("Location", m["location"].(string))
		}
	}
	writeJSON(c.w, status, d)
	return status, nil
}

func (s *Server) create(c *call, rt *resourceType) (int, error) {
	d, err := s.body(c)
	if err != nil {
		return 0, err
	}
	if err := checkSchemas(d, rt.Schema); err != nil {
		return 0, err
	}
	if err := checkAttributes(d, rt); err != nil {
		return 0, err
	}
	if rt == usersType {
		u, err := userFromDoc(d, identity.User{Active: true})
		if err != nil {
			return 0, err
		}
		if err := s.uniqueLogin(c, u.Login, 0); err != nil {
			return 0, err
		}
		wantActive := u.Active
		u, err = s.b.SCIMCreateUser(c.ctx, u)
		if err != nil {
			return 0, err
		}
		if !wantActive {
			// Created inactive (active:false in the POST).
			u, err = s.b.SCIMUpdateUser(c.ctx, u.ID, func(old identity.User) (identity.User, error) { old.Active = false; return old, nil })
			if err != nil {
				return 0, err
			}
		}
		out, err := s.userDoc(c.ctx, c.base, u, projection{}, committed)
		if err != nil {
			return 0, err
		}
		return s.answer(c, http.StatusCreated, out, u.UpdatedAt)
	}
	g, members, _, err := groupFromDoc(d, identity.Group{})
	if err != nil {
		return 0, err
	}
	g, err = s.b.SCIMCreateGroup(c.ctx, g, members)
	if err != nil {
		return 0, err
	}
	out, err := s.groupDoc(c.ctx, c.base, g, projection{}, committed)
	if err != nil {
		return 0, err
	}
	return s.answer(c, http.StatusCreated, out, g.UpdatedAt)
}

// uniqueLogin refuses a userName another active user holds in any case:
// userName is not case-exact in SCIM, while Gatehouse logins are.
func (s *Server) uniqueLogin(c *call, login string, self int64) error {
	active := true
	users, _, err := s.b.Store().ListUsers(c.ctx, store.UserFilter{Active: &active, Page: store.Page{Size: 2},
		Where: &store.Cond{Op: store.OpEq, Field: store.FieldLogin, Value: login, Fold: true}})
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.ID != self {
			return errf(http.StatusConflict, typeUniqueness, "A user with userName '%s' already exists (id %s)", u.Login, formatID(userPrefix, u.ID))
		}
	}
	return nil
}

func (s *Server) put(c *call, rt *resourceType, id int64) (int, error) {
	d, err := s.body(c)
	if err != nil {
		return 0, err
	}
	if err := checkSchemas(d, rt.Schema); err != nil {
		return 0, err
	}
	if err := checkAttributes(d, rt); err != nil {
		return 0, err
	}
	if rt == usersType {
		if login, ok := getString(d, "userName"); ok {
			if err := s.uniqueLogin(c, login, id); err != nil {
				return 0, err
			}
		}
		u, err := s.b.SCIMUpdateUser(c.ctx, id, func(old identity.User) (identity.User, error) {
			if err := c.checkIfMatch(old.UpdatedAt); err != nil {
				return old, err
			}
			return userFromDoc(d, old)
		})
		if err != nil {
			return 0, notFoundAs(err, rt, id)
		}
		return s.answerUser(c, u)
	}
	g, err := s.b.SCIMUpdateGroup(c.ctx, id, func(old identity.Group) (state.GroupEdit, error) {
		if err := c.checkIfMatch(old.UpdatedAt); err != nil {
			return state.GroupEdit{}, err
		}
		g, members, _, err := groupFromDoc(d, old)
		if err != nil {
			return state.GroupEdit{}, err
		}
		// PUT replaces the resource: no members attribute means none.
		if members == nil {
			members = []int64{}
		}
		return state.GroupEdit{Group: g, Replace: &members}, nil
	})
	if err != nil {
		return 0, notFoundAs(err, rt, id)
	}
	out, err := s.groupDoc(c.ctx, c.base, g, c.projection(), committed)
	if err != nil {
		return 0, err
	}
	return s.answer(c, http.StatusOK, out, g.UpdatedAt)
}

// answerUser answers 200 with the user's resource, as PUT and PATCH of a
// user do.
func (s *Server) answerUser(c *call, u identity.User) (int, error) {
	out, err := s.userDoc(c.ctx, c.base, u, c.projection(), committed)
	if err != nil {
		return 0, err
	}
	return s.answer(c, http.StatusOK, out, u.UpdatedAt)
}

func notFoundAs(err error, rt *resourceType, id int64) error {
	if errors.Is(err, identity.ErrNotFound) {
		var se *Error
		if !errors.As(err, &se) {
			return notFound("%s %s not found", rt.Name, formatID(rt.idPrefix, id))
		}
	}
	return err
}

func (s *Server) patch(c *call, rt *resourceType, id int64) (int, error) {
	d, err := s.body(c)
	if err != nil {
		return 0, err
	}
	ops, err := parsePatch(d)
	if err != nil {
		return 0, err
	}
	if rt == usersType {
		u, err := s.b.SCIMUpdateUser(c.ctx, id, func(old identity.User) (identity.User, error) {
			if err := c.checkIfMatch(old.UpdatedAt); err != nil {
				return old, err
			}
			doc, err := s.userDoc(c.ctx, c.base, old, projection{except: []string{"groups"}}, reading)
			if err != nil {
				return old, err
			}
			doc = jsonClone(doc)
			if err := patchDoc(usersType, doc, ops); err != nil {
				return old, err
			}
			nu, err := userFromDoc(doc, old)
			if err != nil {
				return old, err
			}
			if nu.Login != old.Login {
				if err := s.uniqueLogin(c, nu.Login, old.ID); err != nil {
					return old, err
				}
			}
			return nu, nil
		})
		if err != nil {
			return 0, notFoundAs(err, rt, id)
		}
		return s.answerUser(c, u)
	}
	g, err := s.b.SCIMUpdateGroup(c.ctx, id, func(old identity.Group) (state.GroupEdit, error) {
		if err := c.checkIfMatch(old.UpdatedAt); err != nil {
			return state.GroupEdit{}, err
		}
		return groupEdit(old, ops, func() ([]map[string]any, error) {
			ms, err := s.b.Store().ListMemberships(c.ctx, 0, id)
			if err != nil {
				return nil, err
			}
			out := make([]map[string]any, len(ms))
			for i, m := range ms {
				out[i] = map[string]any{"value": formatID(userPrefix, m.UserID), "display": s.b.Index().Login(m.UserID), "type": "User"}
			}
			return out, nil
		})
	})
	if err != nil {
		return 0, notFoundAs(err, rt, id)
	}
	// Entra expects 204 for a group PATCH; Okta accepts it too. The new
	// version is in the ETag header.
	c.w.Header().Set("ETag", etag(g.UpdatedAt))
	c.w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent, nil
}

func (s *Server) delete(c *call, rt *resourceType, id int64) (int, error) {
	if rt == usersType {
		// A deleted user is deactivated and kept for audit: its tokens
		// stop at once, its history stays.
		_, err := s.b.SCIMUpdateUser(c.ctx, id, func(old identity.User) (identity.User, error) {
			if err := c.checkIfMatch(old.UpdatedAt); err != nil {
				return old, err
			}
			old.Active = false
			return old, nil
		})
		if err != nil {
			return 0, notFoundAs(err, rt, id)
		}
	} else {
		g, err := s.loadGroup(c, id)
		if err != nil {
			return 0, err
		}
		if err := c.checkIfMatch(g.UpdatedAt); err != nil {
			return 0, err
		}
		if err := s.b.SCIMDeleteGroup(c.ctx, id); err != nil {
			return 0, notFoundAs(err, rt, id)
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent, nil
}
