package ui

import (
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

func (u *UI) explainRoutes() []route {
	return []route{{"GET /explain", signedIn, u.explain}}
}

type explainData struct {
	Permission, ProjectKey, TokenID string
	Permissions                     []identity.Permission
	Asked                           bool
	About                           string // whose credential was judged
	Answer                          *authz.Explanation
	Error                           string
}

// explain answers "why can't this token (or I) …": the chain behind a
// decision, with the rules of api/authz/explain ([state.State.Ask]).
func (u *UI) explain(p *pageCall) error {
	q := p.r.URL.Query()
	d := explainData{Permission: q.Get("permission"), ProjectKey: strings.TrimSpace(q.Get("projectKey")), TokenID: strings.TrimSpace(q.Get("tokenId")),
		Permissions: allPermissions()}
	if d.Permission == "" {
		return p.show("explain", "Explain access", d)
	}
	d.Asked = true
	question := state.Question{Permission: identity.Permission(d.Permission), ProjectKey: d.ProjectKey}
	d.About = "you (" + p.login + ")"
	if d.TokenID != "" {
		id, err := strconv.ParseInt(d.TokenID, 10, 64)
		if err != nil || id < 1 {
			d.Error = "A token id is a number."
			return p.show("explain", "Explain access", d)
		}
		question.TokenID = id
		d.About = "token " + d.TokenID
	}
	who, _, err := u.st.Ask(p.ctx, p.principal, p.admin, question)
	if err != nil {
		_, d.Error = u.message(p.ctx, p.r, err)
		if statusOf(err) == 403 {
			return err
		}
		return p.show("explain", "Explain access", d)
	}
	e := u.st.Index().Explain(who, question.Permission, question.ProjectKey)
	d.Answer = &e
	return p.show("explain", "Explain access", d)
}

// allPermissions lists every permission once: the project ones, then the
// global-only ones.
func allPermissions() []identity.Permission {
	out := append([]identity.Permission(nil), identity.ProjectPermissions...)
	for _, g := range identity.GlobalPermissions {
		seen := false
		for _, p := range out {
			seen = seen || p == g
		}
		if !seen {
			out = append(out, g)
		}
	}
	return out
}
