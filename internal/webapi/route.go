package webapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// access is who may call a route; finer checks (project admin, self) are the
// handler's.
type access int

const (
	public        access = iota // no credentials needed
	authenticated               // any valid credential
	admin                       // global admin
)

// Param declares one parameter of a route. The framework enforces Required,
// MaxLen, MinLen, Values, Int and MaxValues before the handler runs.
type Param struct {
	Name     string
	Required bool
	Desc     string
	Default  string
	MaxLen   int      // characters; 0: the framework's cap (maxParamLen)
	MinLen   int      // characters, for non-empty values
	Values   []string // allowed values
	Int      bool     // an integer, at least 1 (p, ps, id)
	MaxInt   int      // with Int: the largest value accepted; 0: none
	// MaxValues bounds a comma-separated list.
	MaxValues int
	Multi     bool // repeatable (scmAccount, projectPattern)
}

// maxParamLen bounds any parameter without its own MaxLen, so no value can be
// unboundedly large.
const maxParamLen = 4000

// Route is one Web API action.
type Route struct {
	Method  string // GET or POST
	Path    string // "api/users/search"
	Summary string
	Access  access
	Params  []Param
	// Response documents the success answer for OpenAPI: "" (JSON, 200),
	// "text", "empty" (204), "ok" (200 with an empty body) or "redirect"
	// (302).
	Response string
	// Out is a sample of a JSON answer, for OpenAPI: a value of the type
	// the handler returns (its schema comes by reflection), or a shape
	// for an answer built as a map.
	Out any
	// In is a sample of a JSON request body (as Out), for a POST action
	// that reads one instead of a form; its parameters stay in the query.
	In any
	// OrgToken admits organization tokens; other non-public routes refuse
	// them, since such a token holds project permissions only.
	OrgToken bool
	// UserOnly refuses analysis tokens: managing one's own tokens or
	// password needs the full user, and a token may only narrow its rights.
	UserOnly bool
	Handle   func(c *call) (any, error)

	series *routeSeries // resolved by New
}

// call is one request being served.
type call struct {
	ctx       context.Context
	r         *http.Request
	w         http.ResponseWriter
	api       *API
	form      url.Values
	route     *Route
	principal authz.Principal
	// authed is false for anonymous calls.
	authed bool
	// cred is how a user without a token signed in (credPassword,
	// credSession), for the decision metrics.
	cred uint8
	rid  string // the request id
}

// Actor is the call's actor for the audit log, from the principal known
// when a write asks ([state.ActorSource]).
func (c *call) Actor() state.Actor { return c.api.actor(c, c.rid) }

// str returns a parameter's value, or its default.
func (c *call) str(name string) string {
	if v := c.form.Get(name); v != "" {
		return v
	}
	for _, p := range c.route.Params {
		if p.Name == name {
			return p.Default
		}
	}
	return ""
}

// has reports whether a parameter was sent (even empty).
func (c *call) has(name string) bool { _, ok := c.form[name]; return ok }

// opt returns a pointer to the value when the parameter was sent.
func (c *call) opt(name string) *string {
	if !c.has(name) {
		return nil
	}
	v := c.form.Get(name)
	return &v
}

// all returns every value of a repeatable parameter.
func (c *call) all(name string) []string {
	var out []string
	for _, v := range c.form[name] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// list splits a comma-separated parameter, dropping empty items.
func (c *call) list(name string) []string {
	return splitList(c.str(name))
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// integer returns an int parameter validated by the framework.
func (c *call) integer(name string) int {
	n, _ := strconv.Atoi(c.str(name))
	return n
}

// boolean parses SonarQube's true/false/yes/no; validated by the framework
// when the Param lists those values.
func (c *call) boolean(name string) (value bool, set bool) {
	switch strings.ToLower(c.str(name)) {
	case "true", "yes":
		return true, true
	case "false", "no":
		return false, true
	}
	return false, false
}

// page returns p and ps with their defaults and caps applied.
func (c *call) page() (p, ps int) {
	p, ps = c.integer("p"), c.integer("ps")
	if p < 1 {
		p = 1
	}
	return p, ps
}

// boolValues are SonarQube's accepted boolean spellings.
var boolValues = []string{"true", "false", "yes", "no"}

// pagingParams returns SonarQube's p and ps parameters.
func pagingParams(defaultSize, maxSize int) []Param {
	return []Param{
		{Name: "p", Int: true, Default: "1", Desc: "1-based page number"},
		{Name: "ps", Int: true, Default: strconv.Itoa(defaultSize), MaxInt: maxSize, Desc: "Page size"},
	}
}

// validate checks the declared constraints, with SonarQube's messages.
func (rt *Route) validate(form url.Values) error {
	for _, p := range rt.Params {
		vals, sent := form[p.Name]
		v := ""
		if sent && len(vals) > 0 {
			v = vals[0]
		}
		if p.Required && strings.TrimSpace(v) == "" {
			return badRequest(fmt.Sprintf("The '%s' parameter is missing", p.Name))
		}
		if !sent {
			continue
		}
		if len(vals) > 1 && !p.Multi {
			return badRequest(fmt.Sprintf("The '%s' parameter must be given once", p.Name))
		}
		if len(vals) > 1000 {
			return badRequest(fmt.Sprintf("The '%s' parameter is repeated too many times (maximum 1000)", p.Name))
		}
		for _, v := range vals {
			if err := p.check(v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p Param) check(v string) error {
	maxLen := p.MaxLen
	if maxLen == 0 {
		maxLen = maxParamLen
		if p.MaxValues > 0 {
			maxLen = p.MaxValues * 500
		}
	}
	n := utf8.RuneCountInString(v)
	if !utf8.ValidString(v) {
		return badRequest(fmt.Sprintf("The '%s' parameter is not valid UTF-8", p.Name))
	}
	if n > maxLen {
		return badRequest(fmt.Sprintf("'%s' length (%d) is longer than the maximum authorized (%d)", p.Name, n, maxLen))
	}
	if strings.IndexByte(v, 0) >= 0 {
		return badRequest(fmt.Sprintf("The '%s' parameter contains a NUL byte", p.Name))
	}
	if v == "" {
		return nil
	}
	if p.MinLen > 0 && n < p.MinLen {
		return badRequest(fmt.Sprintf("'%s' length (%d) is shorter than the minimum authorized (%d)", p.Name, n, p.MinLen))
	}
	if len(p.Values) > 0 && !slices.Contains(p.Values, v) {
		return badRequest(fmt.Sprintf("Value of parameter '%s' (%s) must be one of: [%s]", p.Name, v, strings.Join(p.Values, ", ")))
	}
	if p.Int {
		i, err := strconv.Atoi(v)
		if err != nil {
			return badRequest(fmt.Sprintf("The '%s' parameter cannot be parsed as an integer value: %s", p.Name, v))
		}
		if i < 1 {
			return badRequest(fmt.Sprintf("'%s' value (%d) must be greater than 0", p.Name, i))
		}
		if p.MaxInt > 0 && i > p.MaxInt {
			return badRequest(fmt.Sprintf("'%s' value (%d) must be less than %d", p.Name, i, p.MaxInt))
		}
	}
	if p.MaxValues > 0 {
		if items := splitList(v); len(items) > p.MaxValues {
			return badRequest(fmt.Sprintf("'%s' can contains only %d values, got %d", p.Name, p.MaxValues, len(items)))
		}
	}
	return nil
}
