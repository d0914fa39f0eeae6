package scim

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// maxPatchOps bounds the operations of one PATCH, and maxPatchMembers the
// member values they carry together: 10,000 membership changes in one
// request are accepted (README, ServiceProviderConfig).
const (
	maxPatchOps     = 10_000
	maxPatchMembers = 10_000
)

type patchOp struct {
	Op    string
	Path  string
	Value any
}

// parsePatch reads a PatchOp body. Op names match case-insensitively
// (Entra sends "Add", "Replace", "Remove").
func parsePatch(d map[string]any) ([]patchOp, error) {
	if err := checkSchemas(d, schemaPatch); err != nil {
		return nil, err
	}
	raw, _ := getFold(d, "Operations")
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, badValue("A PATCH needs a non-empty Operations array")
	}
	if len(list) > maxPatchOps {
		return nil, errf(http.StatusRequestEntityTooLarge, typeTooMany, "A PATCH may carry at most %d operations", maxPatchOps)
	}
	ops := make([]patchOp, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, badSyntax("Each operation must be an object with op, path and value")
		}
		op, _ := getString(m, "op")
		op = strings.ToLower(op)
		if op != "add" && op != "replace" && op != "remove" {
			return nil, badSyntax("Unknown PATCH op %q: use add, replace or remove", op)
		}
		path, _ := getString(m, "path")
		v, _ := getFold(m, "value")
		if op != "remove" && v == nil {
			return nil, badValue("The %s operation needs a value", op)
		}
		if op == "remove" && strings.TrimSpace(path) == "" {
			return nil, errf(http.StatusBadRequest, typeNoTarget, "A remove operation needs a path")
		}
		ops = append(ops, patchOp{Op: op, Path: strings.TrimSpace(path), Value: v})
	}
	return ops, nil
}

func parsePath(s string) (filter.Path, error) {
	if len(s) > maxFilterLen {
		return filter.Path{}, badPath("The path is longer than %d bytes", maxFilterLen)
	}
	if _, err := normalizeFilter(s); err != nil {
		return filter.Path{}, badPath("%s", err.Error())
	}
	p, err := filter.ParsePath([]byte(s))
	if err != nil {
		return filter.Path{}, badPath("The path %q is not a valid SCIM attribute path", s)
	}
	return p, nil
}

// expandPathless turns a path-less add or replace into one operation per
// key. Dotted keys ("name.givenName", Entra with aadOptscim062020) and
// extension objects become paths.
func expandPathless(rt *resourceType, op patchOp) ([]patchOp, error) {
	m, ok := op.Value.(map[string]any)
	if !ok {
		return nil, badValue("A %s without path needs an object value", op.Op)
	}
	var out []patchOp
	for k, v := range m {
		switch strings.ToLower(k) {
		case "schemas", "id", "meta":
			continue // Okta re-sends id with every group push
		}
		if isExtension(rt, k) {
			sub, ok := v.(map[string]any)
			if !ok {
				return nil, badValue("%s must be an object", k)
			}
			for sk, sv := range sub {
				out = append(out, patchOp{Op: op.Op, Path: k + ":" + sk, Value: sv})
			}
			continue
		}
		out = append(out, patchOp{Op: op.Op, Path: k, Value: v})
	}
	return out, nil
}

func isExtension(rt *resourceType, k string) bool {
	for u := range rt.Extensions {
		if strings.EqualFold(u, k) {
			return true
		}
	}
	return false
}

// patchDoc applies ops to a resource document in memory.
func patchDoc(rt *resourceType, doc map[string]any, ops []patchOp) error {
	for _, op := range ops {
		if op.Path == "" {
			sub, err := expandPathless(rt, op)
			if err != nil {
				return err
			}
			if err := patchDoc(rt, doc, sub); err != nil {
				return err
			}
			continue
		}
		if err := applyPath(rt, doc, op); err != nil {
			return err
		}
	}
	return nil
}

func applyPath(rt *resourceType, doc map[string]any, op patchOp) error {
	p, err := parsePath(op.Path)
	if err != nil {
		return err
	}
	ap := p.AttributePath
	a, err := rt.lookup(ap.URI(), ap.AttributeName)
	if err != nil {
		return badPath("Unknown attribute in path %q", op.Path)
	}
	if a.Mutability == "readOnly" {
		return errf(http.StatusBadRequest, typeMutability, "%s is read-only", a.Name)
	}
	container := doc
	if urn := ap.URI(); urn != "" && !strings.EqualFold(urn, rt.Schema) {
		key := keyFold(doc, urn)
		c, _ := doc[key].(map[string]any)
		if c == nil {
			if op.Op == "remove" {
				return nil
			}
			c = map[string]any{}
			doc[key] = c
		}
		container = c
	}
	key := keyFold(container, a.Name)
	v := op.Value
	if strings.EqualFold(a.Name, "manager") {
		if s, ok := v.(string); ok {
			v = map[string]any{"value": s} // Entra sends the manager as a bare id
		}
	}
	if p.ValueExpression != nil {
		return applyFiltered(container, key, a, p, op.Op, v)
	}
	if sub := ap.SubAttributeName(); sub != "" {
		parent, _ := container[key].(map[string]any)
		if parent == nil {
			if op.Op == "remove" {
				return nil
			}
			parent = map[string]any{}
			container[key] = parent
		}
		sk := keyFold(parent, sub)
		if op.Op == "remove" {
			delete(parent, sk)
		} else {
			parent[sk] = v
		}
		return nil
	}
	switch op.Op {
	case "remove":
		if a.MultiValued && v != nil {
			container[key] = removeValues(asList(container[key]), asList(v))
			return nil
		}
		delete(container, key)
	case "replace":
		if a.MultiValued {
			v = asList(v)
		}
		container[key] = v
	case "add":
		if !a.MultiValued {
			if old, ok := container[key].(map[string]any); ok {
				if nv, ok := v.(map[string]any); ok {
					for k, x := range nv {
						old[keyFold(old, k)] = x
					}
					return nil
				}
			}
			container[key] = v
			return nil
		}
		container[key] = mergeValues(asList(container[key]), asList(v))
	}
	return nil
}

// applyFiltered applies an operation on the elements of a multi-valued
// attribute a value filter selects: emails[type eq "work"].value.
func applyFiltered(container map[string]any, key string, a attribute, p filter.Path, op string, v any) error {
	if !a.MultiValued {
		return badPath("%s is not multi-valued: a value filter does not apply", a.Name)
	}
	list := asList(container[key])
	sub := p.SubAttributeName()
	matched := false
	out := list[:0:0]
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			out = append(out, e)
			continue
		}
		hit, err := matches(p.ValueExpression, m)
		if err != nil {
			return err
		}
		if !hit {
			out = append(out, e)
			continue
		}
		matched = true
		switch {
		case op == "remove" && sub == "":
			continue // drop the element
		case op == "remove":
			delete(m, keyFold(m, sub))
		case sub != "":
			m[keyFold(m, sub)] = v
		default:
			nv, ok := v.(map[string]any)
			if !ok {
				return badValue("%s elements are objects", a.Name)
			}
			for k, x := range nv {
				m[keyFold(m, k)] = x
			}
		}
		out = append(out, m)
	}
	if !matched && op != "remove" {
		// Entra adds a work e-mail with emails[type eq "work"].value: the
		// element the filter describes is created.
		if sub == "" {
			return errf(http.StatusBadRequest, typeNoTarget, "No %s value matches the filter", a.Name)
		}
		elem := equalities(p.ValueExpression)
		elem[sub] = v
		out = append(out, elem)
	}
	container[key] = out
	return nil
}

// equalities collects the attr eq value pairs of an and-filter.
func equalities(e filter.Expression) map[string]any {
	m := map[string]any{}
	var walk func(filter.Expression)
	walk = func(e filter.Expression) {
		switch e := e.(type) {
		case *filter.LogicalExpression:
			if e.Operator == filter.AND {
				walk(e.Left)
				walk(e.Right)
			}
		case *filter.AttributeExpression:
			if e.Operator == filter.EQ {
				m[e.AttributePath.AttributeName] = compareValue(e.CompareValue)
			}
		}
	}
	walk(e)
	return m
}

func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return []any{}
	case []any:
		return v
	}
	return []any{v}
}

// mergeValues adds values to a multi-valued attribute: an equal value is
// not added twice, and a new primary value takes primary from the others.
func mergeValues(list, add []any) []any {
	for _, v := range add {
		if isPrimary(v) {
			for _, e := range list {
				if m, ok := e.(map[string]any); ok {
					if k := keyFold(m, "primary"); k != "" {
						if _, present := m[k]; present {
							m[k] = false
						}
					}
				}
			}
		}
		dup := false
		for _, e := range list {
			if sameValue(e, v) {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, v)
		}
	}
	return list
}

func removeValues(list, remove []any) []any {
	out := list[:0:0]
	for _, e := range list {
		drop := false
		for _, r := range remove {
			if sameValue(e, r) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, e)
		}
	}
	return out
}

func isPrimary(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	p, _ := getFold(m, "primary")
	b, _ := boolValue(p)
	return b
}

// sameValue compares elements by their value sub-attribute when both have
// one, else whole.
func sameValue(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		av, ok1 := getFold(am, "value")
		bv, ok2 := getFold(bm, "value")
		if ok1 && ok2 {
			return reflect.DeepEqual(av, bv)
		}
	}
	return reflect.DeepEqual(a, b)
}

// keyFold returns the existing key of m equal to k ignoring case, else k.
func keyFold(m map[string]any, k string) string {
	if _, ok := m[k]; ok {
		return k
	}
	for x := range m {
		if strings.EqualFold(x, k) {
			return x
		}
	}
	return k
}

// memberChange accumulates the membership operations of a PATCH in order.
type memberChange struct {
	replace     *[]int64
	add, remove []int64
	n           int
}

func (c *memberChange) count(k int) error {
	if c.n += k; c.n > maxPatchMembers {
		return errf(http.StatusRequestEntityTooLarge, typeTooMany, "A PATCH may change at most %d members", maxPatchMembers)
	}
	return nil
}

func (c *memberChange) doAdd(ids []int64) {
	c.remove = without(c.remove, ids)
	c.add = append(c.add, ids...)
}

func (c *memberChange) doRemove(ids []int64) {
	c.add = without(c.add, ids)
	c.remove = append(c.remove, ids...)
}

func (c *memberChange) doReplace(ids []int64) {
	c.replace, c.add, c.remove = &ids, nil, nil
}

func without(list, drop []int64) []int64 {
	if len(list) == 0 || len(drop) == 0 {
		return list
	}
	d := make(map[int64]struct{}, len(drop))
	for _, x := range drop {
		d[x] = struct{}{}
	}
	out := list[:0]
	for _, x := range list {
		if _, ok := d[x]; !ok {
			out = append(out, x)
		}
	}
	return out
}

// groupEdit turns a group PATCH into a state.GroupEdit. members lists the
// current members; it is called only for a remove whose filter is not a
// plain list of ids, so that ordinary changes cost O(change).
func groupEdit(old identity.Group, ops []patchOp, members func() ([]map[string]any, error)) (state.GroupEdit, error) {
	g := old
	var mc memberChange
	var apply func(op patchOp) error
	apply = func(op patchOp) error {
		if op.Path == "" {
			sub, err := expandPathless(groupsType, op)
			if err != nil {
				return err
			}
			for _, s := range sub {
				if err := apply(s); err != nil {
					return err
				}
			}
			return nil
		}
		p, err := parsePath(op.Path)
		if err != nil {
			return err
		}
		ap := p.AttributePath
		if u := ap.URI(); u != "" && !strings.EqualFold(u, schemaGroup) {
			return badPath("Unknown attribute in path %q", op.Path)
		}
		switch strings.ToLower(ap.AttributeName) {
		case "displayname":
			if op.Op == "remove" {
				return errf(http.StatusBadRequest, typeMutability, "displayName is required and cannot be removed")
			}
			s, ok := op.Value.(string)
			if !ok || strings.TrimSpace(s) == "" {
				return badValue("displayName must be a non-empty string")
			}
			g.Name = s
		case "externalid":
			if op.Op == "remove" {
				g.ExternalID = ""
				return nil
			}
			s, ok := op.Value.(string)
			if !ok {
				return badValue("externalId must be a string")
			}
			g.ExternalID = s
		case "members":
			if ap.SubAttribute != nil || p.SubAttribute != nil {
				return errf(http.StatusBadRequest, typeMutability, "Member sub-attributes cannot be changed: add or remove the member")
			}
			if p.ValueExpression != nil {
				if op.Op != "remove" {
					return badPath("A value filter on members applies to remove only")
				}
				ids, ok := idList(p.ValueExpression)
				if !ok {
					current, err := members()
					if err != nil {
						return err
					}
					for _, m := range current {
						hit, err := matches(p.ValueExpression, m)
						if err != nil {
							return err
						}
						if hit {
							id, _ := parseID(userPrefix, m["value"].(string))
							ids = append(ids, id)
						}
					}
				}
				if err := mc.count(len(ids)); err != nil {
					return err
				}
				mc.doRemove(ids)
				return nil
			}
			ids, err := memberIDs(op.Value)
			if err != nil {
				return err
			}
			if err := mc.count(len(ids)); err != nil {
				return err
			}
			switch op.Op {
			case "add":
				mc.doAdd(ids)
			case "replace":
				mc.doReplace(ids)
			case "remove":
				// Entra sends the members to remove as a value array:
				// remove those only. Without a value, remove them all.
				if op.Value == nil {
					mc.doReplace([]int64{})
				} else {
					mc.doRemove(ids)
				}
			}
		case "id", "meta", "schemas":
			return errf(http.StatusBadRequest, typeMutability, "%s is read-only", ap.AttributeName)
		default:
			return badPath("Unknown attribute in path %q", op.Path)
		}
		return nil
	}
	for _, op := range ops {
		if err := apply(op); err != nil {
			return state.GroupEdit{}, err
		}
	}
	return state.GroupEdit{Group: g, Replace: mc.replace, Add: mc.add, Remove: mc.remove}, nil
}

// idList reads a filter made only of `value eq "<user id>"` joined by or.
func idList(e filter.Expression) ([]int64, bool) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if e.Operator != filter.OR {
			return nil, false
		}
		l, ok := idList(e.Left)
		if !ok {
			return nil, false
		}
		r, ok := idList(e.Right)
		return append(l, r...), ok
	case *filter.AttributeExpression:
		if !strings.EqualFold(e.AttributePath.AttributeName, "value") || e.AttributePath.SubAttribute != nil || e.Operator != filter.EQ {
			return nil, false
		}
		s, _ := compareValue(e.CompareValue).(string)
		id, ok := parseID(userPrefix, s)
		if !ok {
			return []int64{}, true // no such user: removes nothing
		}
		return []int64{id}, true
	}
	return nil, false
}

// jsonClone deep-copies a document through JSON, so that a failed PATCH
// leaves nothing half-applied.
func jsonClone(d map[string]any) map[string]any {
	b, _ := json.Marshal(d)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}
