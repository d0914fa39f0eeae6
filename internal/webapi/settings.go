package webapi

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// settingsTokenTypes are the token types a lifetime policy applies to, in
// the order the API lists them.
var settingsTokenTypes = []identity.TokenType{
	identity.TokenUser, identity.TokenGlobalAnalysis, identity.TokenProjectAnalysis,
	identity.TokenOrganization, identity.TokenSCIM,
}

// settingsLifetimes are SonarQube's "Maximum allowed lifetime" choices in
// days: 30 days, 90 days, 1 year and No expiration (0).
var settingsLifetimes = map[string]int{"30": 30, "90": 90, "365": 365, "0": 0}

func (a *API) settingsRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "api/settings/token_policy", Access: admin, Out: settingsPolicyJSON{}, Handle: a.settingsTokenPolicy,
			Summary: "The token policy: {maxLifetimeDays:{TOKEN_TYPE: days}, allowNonExpiring}; 0 days means no maximum."},
		{Method: "POST", Path: "api/settings/set_token_policy", Access: admin, Response: "empty", Handle: a.settingsSetTokenPolicy,
			Params: []Param{
				{Name: "maxLifetime", Multi: true, MaxLen: 40, Desc: "TOKEN_TYPE=DAYS, repeatable, e.g. ORGANIZATION_TOKEN=90. DAYS is SonarQube's choice of 30 (30 days), 90 (90 days), 365 (1 year) or 0 (No expiration: no maximum). Types not given keep their setting."},
				{Name: "allowNonExpiring", Values: boolValues, Desc: "Whether tokens without an expiration date may be created for types with no maximum lifetime."},
			},
			Summary: "Change the token policy. It applies to tokens created or edited afterwards; a token type with a maximum lifetime never gets non-expiring tokens."},
	}
}

// settingsPolicyJSON is the token policy as the API shows it.
type settingsPolicyJSON struct {
	MaxLifetimeDays  map[identity.TokenType]int `json:"maxLifetimeDays"`
	AllowNonExpiring bool                       `json:"allowNonExpiring"`
}

func (a *API) settingsTokenPolicy(c *call) (any, error) {
	p, err := a.st.TokenPolicy(c.ctx)
	if err != nil {
		return nil, err
	}
	out := settingsPolicyJSON{MaxLifetimeDays: make(map[identity.TokenType]int, len(settingsTokenTypes)), AllowNonExpiring: p.AllowNonExpiring}
	for _, t := range settingsTokenTypes {
		out.MaxLifetimeDays[t] = p.MaxLifetimeDays[t]
	}
	return out, nil
}

func (a *API) settingsSetTokenPolicy(c *call) (any, error) {
	p, err := a.st.TokenPolicy(c.ctx)
	if err != nil {
		return nil, err
	}
	for _, item := range c.all("maxLifetime") {
		typ, days, ok := strings.Cut(item, "=")
		t := identity.TokenType(strings.TrimSpace(typ))
		if !ok || !t.Valid() {
			names := make([]string, len(settingsTokenTypes))
			for i, t := range settingsTokenTypes {
				names[i] = string(t)
			}
			return nil, badRequest("The 'maxLifetime' parameter must be TOKEN_TYPE=DAYS with TOKEN_TYPE one of [" + strings.Join(names, ", ") + "], got '" + item + "'")
		}
		d, ok := settingsLifetimes[strings.TrimSpace(days)]
		if !ok {
			return nil, badRequest("The maximum lifetime of " + string(t) + " must be 30, 90, 365 or 0 (no expiration) days, got '" + days + "'")
		}
		if d == 0 {
			delete(p.MaxLifetimeDays, t)
		} else {
			p.MaxLifetimeDays[t] = d
		}
	}
	if v, set := c.boolean("allowNonExpiring"); set {
		p.AllowNonExpiring = v
	}
	return nil, a.st.SetTokenPolicy(c.ctx, p)
}
