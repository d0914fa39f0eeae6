package scim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Bounds of a filter: longer or deeper ones are refused before parsing, so
// that a hostile filter cannot make the recursive parser or the SQL large.
const (
	maxFilterLen   = 4096
	maxFilterDepth = 16
	maxFilterNodes = 64
)

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

// token is one lexical piece of a filter: a quoted string, a bracket or a
// word.
type token struct {
	text   string
	quoted bool
}

// lex splits a filter into tokens; ok is false on an unterminated string.
func lex(s string) (toks []token, ok bool) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, false
			}
			toks = append(toks, token{text: s[i : j+1], quoted: true})
			i = j + 1
		case c == '(' || c == ')' || c == '[' || c == ']':
			toks = append(toks, token{text: s[i : i+1]})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r\"()[]", rune(s[j])) {
				j++
			}
			toks = append(toks, token{text: s[i:j]})
			i = j
		}
	}
	return toks, true
}

// normalizeFilter applies the IdP compatibility rewrites the parser does
// not know: an unquoted comparison value is quoted (Entra's documented
// `externalId eq jyoung`), and `x[f].sub op v` becomes `x[f and sub op v]`
// (Entra's `emails[type eq "work"].value eq "…"`).
func normalizeFilter(s string) (string, error) {
	if len(s) > maxFilterLen {
		return "", badFilter("The filter is longer than %d bytes", maxFilterLen)
	}
	toks, ok := lex(s)
	if !ok {
		return "", badFilter("The filter has an unterminated string")
	}
	depth, nodes := 0, 0
	for _, t := range toks {
		switch t.text {
		case "(", "[":
			if depth++; depth > maxFilterDepth {
				return "", badFilter("The filter is nested deeper than %d levels", maxFilterDepth)
			}
		case ")", "]":
			depth--
		}
		if !t.quoted && compareOps[strings.ToLower(t.text)] || strings.EqualFold(t.text, "pr") {
			if nodes++; nodes > maxFilterNodes {
				return "", badFilter("The filter has more than %d comparisons", maxFilterNodes)
			}
		}
	}
	for i := 0; i+1 < len(toks); i++ {
		if !toks[i].quoted && compareOps[strings.ToLower(toks[i].text)] && i > 0 {
			v := toks[i+1]
			if !v.quoted && !isLiteral(v.text) && v.text != "(" && v.text != ")" && v.text != "[" && v.text != "]" {
				toks[i+1] = token{text: strconv.Quote(v.text), quoted: true}
			}
		}
	}
	// x [ f ] .sub op v  →  x [ f and sub op v ]
	for i := 0; i < len(toks); i++ {
		if toks[i].text != "]" || toks[i].quoted || i+3 >= len(toks) {
			continue
		}
		sub := toks[i+1]
		if sub.quoted || !strings.HasPrefix(sub.text, ".") || len(sub.text) < 2 {
			continue
		}
		op := strings.ToLower(toks[i+2].text)
		n := 3 // ".sub op v"
		if op == "pr" {
			n = 2
		} else if !compareOps[op] {
			continue
		}
		inner := []token{{text: "and"}, {text: sub.text[1:]}}
		inner = append(inner, toks[i+2:i+1+n]...)
		rest := append([]token{}, toks[i+1+n:]...)
		toks = append(append(append(toks[:i], inner...), token{text: "]"}), rest...)
		i += len(inner)
	}
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.text != "]" && t.text != ")" && toks[i-1].text != "(" && toks[i-1].text != "[" && t.text != "[" {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String(), nil
}

func isLiteral(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "null":
		return true
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// parseFilter normalises and parses a filter.
func parseFilter(s string) (filter.Expression, error) {
	n, err := normalizeFilter(s)
	if err != nil {
		return nil, err
	}
	e, err := filter.ParseFilter([]byte(n))
	if err != nil {
		return nil, badFilter("The filter %q is not valid SCIM filter syntax (RFC 7644 §3.4.2.2)", s)
	}
	return e, nil
}

// compareValue returns a parsed comparison value with string escapes
// resolved: the parser hands back the raw characters between the quotes.
func compareValue(v any) any {
	s, ok := v.(string)
	if !ok || !strings.Contains(s, `\`) {
		return v
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

var storeOps = map[filter.CompareOperator]store.CondOp{
	filter.EQ: store.OpEq, filter.NE: store.OpNe, filter.CO: store.OpContains, filter.SW: store.OpStartsWith,
	filter.EW: store.OpEndsWith, filter.PR: store.OpPresent, filter.GT: store.OpGt, filter.GE: store.OpGe,
	filter.LT: store.OpLt, filter.LE: store.OpLe,
}

// never is a condition no row satisfies.
var never = store.Cond{Op: store.OpOr}

// always is a condition every row satisfies.
var always = store.Cond{Op: store.OpAnd}

// translator turns a parsed filter into a store condition for one resource
// type.
type translator struct {
	rt *resourceType
}

func (t translator) cond(e filter.Expression) (store.Cond, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := t.cond(e.Left)
		if err != nil {
			return l, err
		}
		r, err := t.cond(e.Right)
		if err != nil {
			return r, err
		}
		op := store.OpAnd
		if e.Operator == filter.OR {
			op = store.OpOr
		}
		return store.Cond{Op: op, Sub: []store.Cond{l, r}}, nil
	case *filter.NotExpression:
		c, err := t.cond(e.Expression)
		return store.Cond{Op: store.OpNot, Sub: []store.Cond{c}}, err
	case *filter.AttributeExpression:
		return t.compare(e.AttributePath, "", e.Operator, compareValue(e.CompareValue))
	case *filter.ValuePath:
		return t.valuePath(e.AttributePath, e.ValueFilter)
	}
	return store.Cond{}, badFilter("Unsupported filter expression")
}

// valuePath translates attr[filter] on a multi-valued attribute.
func (t translator) valuePath(p filter.AttributePath, f filter.Expression) (store.Cond, error) {
	switch e := f.(type) {
	case *filter.LogicalExpression:
		l, err := t.valuePath(p, e.Left)
		if err != nil {
			return l, err
		}
		r, err := t.valuePath(p, e.Right)
		if err != nil {
			return r, err
		}
		op := store.OpAnd
		if e.Operator == filter.OR {
			op = store.OpOr
		}
		return store.Cond{Op: op, Sub: []store.Cond{l, r}}, nil
	case *filter.NotExpression:
		c, err := t.valuePath(p, e.Expression)
		return store.Cond{Op: store.OpNot, Sub: []store.Cond{c}}, err
	case *filter.AttributeExpression:
		return t.compare(p, e.AttributePath.AttributeName, e.Operator, compareValue(e.CompareValue))
	}
	return store.Cond{}, badFilter("Unsupported value filter in %s", p)
}

// compare translates one comparison on attribute p (sub overrides p's
// sub-attribute, for value paths).
func (t translator) compare(p filter.AttributePath, sub string, op filter.CompareOperator, v any) (store.Cond, error) {
	if sub == "" {
		sub = p.SubAttributeName()
	}
	a, err := t.rt.lookup(p.URI(), p.AttributeName)
	if err != nil {
		return store.Cond{}, err
	}
	fm, ok := a.filterable(sub)
	if !ok {
		return store.Cond{}, badFilter("Gatehouse does not store %s, so it cannot filter on it", attrName(p, sub))
	}
	switch fm.kind {
	case matchConst:
		// emails.type (every stored address is the work one) and
		// emails.primary (the one address is primary).
		want := fm.constant
		got := fmt.Sprint(v)
		match := false
		switch op {
		case filter.PR:
			match = true
		case filter.EQ:
			match = strings.EqualFold(got, want)
		case filter.NE:
			match = !strings.EqualFold(got, want)
		default:
			return store.Cond{}, badFilter("%s supports only eq, ne and pr", attrName(p, sub))
		}
		if match {
			return always, nil
		}
		return never, nil
	case matchID:
		if op == filter.PR {
			return always, nil
		}
		s, ok := v.(string)
		if !ok {
			return store.Cond{}, badFilter("%s compares with a string", attrName(p, sub))
		}
		id, ok := parseID(fm.prefix, s)
		if !ok {
			// An id of another resource type, or no id at all, names
			// nothing: eq matches no row, ne every row.
			if op == filter.NE {
				return always, nil
			}
			if op == filter.EQ {
				return never, nil
			}
			return store.Cond{}, badFilter("%s supports only eq, ne and pr", attrName(p, sub))
		}
		if fm.field == store.FieldMember || fm.field == store.FieldGroup {
			if op != filter.EQ {
				return store.Cond{}, badFilter("%s supports only eq and pr", attrName(p, sub))
			}
		} else if op != filter.EQ && op != filter.NE {
			return store.Cond{}, badFilter("%s supports only eq, ne and pr", attrName(p, sub))
		}
		return store.Cond{Op: storeOps[op], Field: fm.field, Value: id}, nil
	case matchBool:
		if op == filter.PR {
			return always, nil
		}
		b, ok := boolValue(v)
		if !ok || op != filter.EQ && op != filter.NE {
			return store.Cond{}, badFilter("%s compares with eq or ne and true or false", attrName(p, sub))
		}
		return store.Cond{Op: storeOps[op], Field: fm.field, Value: b}, nil
	case matchTime:
		if op == filter.PR {
			return always, nil
		}
		s, _ := v.(string)
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return store.Cond{}, badFilter("%s compares with an RFC 3339 date-time, got %v", attrName(p, sub), v)
		}
		if op == filter.CO || op == filter.SW || op == filter.EW {
			return store.Cond{}, badFilter("%s does not support %s", attrName(p, sub), op)
		}
		return store.Cond{Op: storeOps[op], Field: fm.field, Value: at}, nil
	}
	if op == filter.PR {
		return store.Cond{Op: store.OpPresent, Field: fm.field}, nil
	}
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return store.Cond{}, badFilter("%s compares with a string; use pr to test presence", attrName(p, sub))
		}
		s = fmt.Sprint(v)
	}
	return store.Cond{Op: storeOps[op], Field: fm.field, Value: s, Fold: !fm.caseExact}, nil
}

func attrName(p filter.AttributePath, sub string) string {
	n := p.AttributeName
	if p.URIPrefix != nil {
		n = p.URI() + ":" + n
	}
	if sub != "" {
		n += "." + sub
	}
	return n
}

// boolValue accepts JSON booleans and Entra's "True"/"False" strings.
func boolValue(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// matches evaluates a value filter against one element of a multi-valued
// attribute held in memory (PATCH paths such as emails[type eq "work"]).
func matches(e filter.Expression, elem map[string]any) (bool, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := matches(e.Left, elem)
		if err != nil {
			return false, err
		}
		r, err := matches(e.Right, elem)
		if err != nil {
			return false, err
		}
		if e.Operator == filter.OR {
			return l || r, nil
		}
		return l && r, nil
	case *filter.NotExpression:
		m, err := matches(e.Expression, elem)
		return !m, err
	case *filter.AttributeExpression:
		name := e.AttributePath.AttributeName
		if s := e.AttributePath.SubAttributeName(); s != "" {
			name = s
		}
		got, present := getFold(elem, name)
		if e.Operator == filter.PR {
			return present && got != nil && got != "", nil
		}
		want := compareValue(e.CompareValue)
		if gb, ok := boolValue(got); ok {
			if wb, ok := boolValue(want); ok {
				switch e.Operator {
				case filter.EQ:
					return gb == wb, nil
				case filter.NE:
					return gb != wb, nil
				}
			}
		}
		// Sub-attributes of multi-valued attributes (type, value, display)
		// are not case-exact, except ids, which match exactly.
		gs, ws := fmt.Sprint(got), fmt.Sprint(want)
		if !present {
			gs = ""
		}
		if !strings.EqualFold(name, "value") || !looksLikeID(ws) {
			gs, ws = strings.ToLower(gs), strings.ToLower(ws)
		}
		switch e.Operator {
		case filter.EQ:
			return present && gs == ws, nil
		case filter.NE:
			return !present || gs != ws, nil
		case filter.CO:
			return strings.Contains(gs, ws), nil
		case filter.SW:
			return strings.HasPrefix(gs, ws), nil
		case filter.EW:
			return strings.HasSuffix(gs, ws), nil
		case filter.GT:
			return gs > ws, nil
		case filter.GE:
			return gs >= ws, nil
		case filter.LT:
			return gs < ws, nil
		case filter.LE:
			return gs <= ws, nil
		}
	}
	return false, badFilter("Unsupported value filter")
}

func looksLikeID(s string) bool {
	_, okU := parseID(userPrefix, s)
	_, okG := parseID(groupPrefix, s)
	return okU || okG
}

// getFold looks a key up case-insensitively.
func getFold(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}
