package scim

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func etag(updated time.Time) string {
	return `W/"` + strings.TrimLeft(updated.UTC().Format("20060102150405.000000"), "0") + `"`
}

func meta(rt *resourceType, loc string, created, updated time.Time) map[string]any {
	return map[string]any{
		"resourceType": rt.Name, "created": created.UTC().Format(timeFormat), "lastModified": updated.UTC().Format(timeFormat),
		"location": loc, "version": etag(updated),
	}
}

// userDoc renders a user; groups are read only when want says they are
// returned.
func (s *Server) userDoc(ctx context.Context, base string, u identity.User, want projection, w written) (map[string]any, error) {
	id := formatID(userPrefix, u.ID)
	d := map[string]any{
		"schemas":     []string{schemaUser, schemaEnterprise},
		"id":          id,
		"userName":    u.Login,
		"displayName": u.Name,
		"name":        map[string]any{"formatted": u.Name},
		"active":      u.Active,
		"emails":      []any{},
		"meta":        meta(usersType, base+"/Users/"+id, u.CreatedAt, u.UpdatedAt),
	}
	if u.ExternalID != "" {
		d["externalId"] = u.ExternalID
	}
	if u.Email != "" {
		d["emails"] = []any{map[string]any{"value": u.Email, "type": "work", "primary": true}}
	}
	if want.returns("groups") {
		ms, err := s.memberships(ctx, u.ID, 0, w)
		if err != nil {
			return nil, err
		}
		gs := make([]any, 0, len(ms))
		for _, m := range ms {
			gid := formatID(groupPrefix, m.GroupID)
			gs = append(gs, map[string]any{"value": gid, "display": s.b.Index().GroupName(m.GroupID), "$ref": base + "/Groups/" + gid, "type": "direct"})
		}
		d["groups"] = gs
	}
	return want.apply(d), nil
}

// groupDoc renders a group; members are read only when want says they are
// returned (excludedAttributes=members reads none).
func (s *Server) groupDoc(ctx context.Context, base string, g identity.Group, want projection, w written) (map[string]any, error) {
	id := formatID(groupPrefix, g.ID)
	d := map[string]any{
		"schemas":     []string{schemaGroup},
		"id":          id,
		"displayName": g.Name,
		"meta":        meta(groupsType, base+"/Groups/"+id, g.CreatedAt, g.UpdatedAt),
	}
	if g.ExternalID != "" {
		d["externalId"] = g.ExternalID
	}
	if want.returns("members") {
		ms, err := s.memberships(ctx, 0, g.ID, w)
		if err != nil {
			return nil, err
		}
		members := make([]any, 0, len(ms))
		for _, m := range ms {
			uid := formatID(userPrefix, m.UserID)
			members = append(members, map[string]any{"value": uid, "display": s.b.Index().Login(m.UserID), "$ref": base + "/Users/" + uid, "type": "User"})
		}
		d["members"] = members
	}
	return want.apply(d), nil
}

// written says whether a resource document answers a write that has
// committed: its answer must not fail then, so memberships the store
// cannot list come from the index, which the write has updated.
type written bool

const (
	reading   written = false
	committed written = true
)

func (s *Server) memberships(ctx context.Context, userID, groupID int64, w written) ([]identity.Membership, error) {
	ms, err := s.b.Store().ListMemberships(ctx, userID, groupID)
	if err != nil && w == committed {
		s.log.WarnContext(ctx, "list memberships for a write's answer; answering from memory", "err", err)
		return s.b.Index().Memberships(userID, groupID), nil
	}
	return ms, err
}

// projection is the attributes / excludedAttributes of a request.
type projection struct {
	only, except []string // lower-case top-level names
}

func parseProjection(attrs, excluded string) projection {
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == "" {
				continue
			}
			// urn:…:User:name.givenName → name; core URN prefixes are
			// dropped, extension URNs kept whole.
			if i := strings.LastIndex(p, ":"); i >= 0 && (strings.HasPrefix(p, strings.ToLower(schemaUser)+":") || strings.HasPrefix(p, strings.ToLower(schemaGroup)+":")) {
				p = p[i+1:]
			}
			if !strings.HasPrefix(p, "urn:") {
				p, _, _ = strings.Cut(p, ".")
			}
			out = append(out, p)
		}
		return out
	}
	return projection{only: split(attrs), except: split(excluded)}
}

func (p projection) returns(name string) bool {
	name = strings.ToLower(name)
	for _, e := range p.except {
		if e == name {
			return false
		}
	}
	if len(p.only) == 0 {
		return true
	}
	for _, o := range p.only {
		if o == name {
			return true
		}
	}
	return false
}

func (p projection) apply(d map[string]any) map[string]any {
	for k := range d {
		switch k {
		case "id", "schemas":
			continue // returned always
		}
		if !p.returns(k) {
			delete(d, k)
		}
	}
	return d
}

// checkSchemas verifies a request body's schemas list names want; a body
// without schemas is accepted (several IdPs omit it on PUT).
func checkSchemas(d map[string]any, want string) error {
	v, ok := getFold(d, "schemas")
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return badValue("schemas must be an array of schema URNs")
	}
	for _, s := range list {
		if str, ok := s.(string); ok && strings.EqualFold(str, want) {
			return nil
		}
	}
	return badValue("schemas must include %s", want)
}

// checkAttributes refuses attributes no schema of rt declares.
func checkAttributes(d map[string]any, rt *resourceType) error {
	for k := range d {
		switch strings.ToLower(k) {
		case "schemas", "id", "meta", "externalid":
			continue
		}
		if strings.HasPrefix(strings.ToLower(k), "urn:") {
			known := strings.EqualFold(k, rt.Schema)
			for u := range rt.Extensions {
				known = known || strings.EqualFold(k, u)
			}
			if !known {
				return badValue("Unknown schema extension %s for %s", k, rt.Name)
			}
			continue
		}
		if _, err := rt.lookup("", k); err != nil {
			return badValue("Unknown attribute %q for %s", k, rt.Name)
		}
	}
	return nil
}

// userFromDoc reads the attributes Gatehouse stores from a User document
// into u (which holds the previous values on a replace).
func userFromDoc(d map[string]any, u identity.User) (identity.User, error) {
	login, ok := getString(d, "userName")
	if !ok || strings.TrimSpace(login) == "" {
		return u, badValue("userName is required")
	}
	u.Login = login
	if v, ok := getString(d, "externalId"); ok {
		u.ExternalID = v
	} else if _, present := getFold(d, "externalId"); present {
		u.ExternalID = "" // explicit null
	}
	name := ""
	if v, ok := getString(d, "displayName"); ok {
		name = v
	}
	if n, ok := getFold(d, "name"); ok {
		if nm, ok := n.(map[string]any); ok {
			if name == "" {
				name, _ = getString(nm, "formatted")
			}
			if name == "" {
				g, _ := getString(nm, "givenName")
				f, _ := getString(nm, "familyName")
				name = strings.TrimSpace(g + " " + f)
			}
		}
	}
	if name == "" {
		name = login
	}
	u.Name = name
	u.Email = primaryValue(d, "emails")
	if v, ok := getFold(d, "active"); ok && v != nil {
		b, ok := boolValue(v)
		if !ok {
			return u, badValue("active must be a boolean, got %v", v)
		}
		u.Active = b
	}
	return u, nil
}

// primaryValue returns the value of the primary element of a multi-valued
// attribute, else of its work element, else of its first.
func primaryValue(d map[string]any, attr string) string {
	v, _ := getFold(d, attr)
	list, _ := v.([]any)
	best, rank := "", 0
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		val, ok := getString(m, "value")
		if !ok || val == "" {
			continue
		}
		r := 1
		if t, _ := getString(m, "type"); strings.EqualFold(t, "work") {
			r = 2
		}
		if p, ok := getFold(m, "primary"); ok {
			if b, _ := boolValue(p); b {
				r = 3
			}
		}
		if r > rank {
			best, rank = val, r
		}
	}
	return best
}

func getString(m map[string]any, key string) (string, bool) {
	v, ok := getFold(m, key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// groupFromDoc reads a Group document: its attributes into g and its
// member ids.
func groupFromDoc(d map[string]any, g identity.Group) (identity.Group, []int64, bool, error) {
	name, ok := getString(d, "displayName")
	if !ok || strings.TrimSpace(name) == "" {
		return g, nil, false, badValue("displayName is required")
	}
	g.Name = name
	if v, ok := getString(d, "externalId"); ok {
		g.ExternalID = v
	}
	mv, present := getFold(d, "members")
	if !present || mv == nil {
		return g, nil, present, nil
	}
	ids, err := memberIDs(mv)
	return g, ids, true, err
}

// memberIDs reads a members value: an array of {value} objects (or one).
func memberIDs(v any) ([]int64, error) {
	var list []any
	switch v := v.(type) {
	case []any:
		list = v
	case map[string]any:
		list = []any{v}
	case nil:
		return nil, nil
	default:
		return nil, badValue("members must be an array of {\"value\": \"<user id>\"}")
	}
	ids := make([]int64, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, badValue("members must be an array of {\"value\": \"<user id>\"}")
		}
		s, _ := getString(m, "value")
		id, ok := parseID(userPrefix, s)
		if !ok {
			if _, isGroup := parseID(groupPrefix, s); isGroup {
				return nil, badValue("Member %q is a group: nested groups are not supported", s)
			}
			return nil, badValue("Member %q is not a user id", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func decodeJSON(b []byte) (map[string]any, error) {
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil || d == nil {
		return nil, badSyntax("The request body is not a JSON object")
	}
	if dec.More() {
		return nil, badSyntax("The request body holds more than one JSON value")
	}
	return d, nil
}
