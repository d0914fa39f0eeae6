package sso

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/sso/claims"
)

// Derived is the user a connection's mapping makes of a sign-in's claims.
type Derived struct {
	Login      string   `json:"login"`
	Name       string   `json:"name"`
	Email      string   `json:"email"`
	ExternalID string   `json:"externalId"`
	Groups     []string `json:"groups"`
	// Problems name each mapped attribute the IdP did not send, and the
	// attributes it did send, so a wrong name (user.email for user.mail)
	// shows at once.
	Problems []string `json:"problems"`

	refusal error
}

func (d Derived) account() identity.ExternalAccount {
	return identity.ExternalAccount{Login: d.Login, Name: d.Name, Email: d.Email, ExternalID: d.ExternalID, Active: true}
}

// derive applies c's mapping to cl. A missing or invalid login refuses the
// sign-in; other missing attributes are problems only (a user without an
// e-mail signs in: contractors without a mailbox must).
func derive(c identity.SSOConnection, cl claims.Claims) Derived {
	m := c.Settings.Mapping
	d := Derived{Groups: []string{}, Problems: []string{}}
	where := "the assertion"
	if cl.Protocol == "oidc" {
		where = "the ID token or userinfo"
	}
	sent := make([]string, 0, len(cl.Attributes))
	for k := range cl.Attributes {
		sent = append(sent, "`"+k+"`")
	}
	slices.Sort(sent)
	carries := "it carries no attributes"
	if len(sent) > 0 {
		carries = "it carries " + strings.Join(sent, ", ")
	}
	read := func(field, attr, fallback string) (string, bool) {
		if attr == "" {
			return fallback, true
		}
		if v := strings.TrimSpace(cl.First(attr)); v != "" {
			return v, true
		}
		d.Problems = append(d.Problems, fmt.Sprintf("%s: `%s` not in %s; %s", field, attr, where, carries))
		return "", false
	}
	login, ok := read("login", m.Login, cl.Subject)
	d.Login = login
	switch {
	case !ok:
		d.refusal = identity.Errorf(identity.ErrUnauthenticated, "The SSO connection '%s' reads the login from `%s`, which the IdP did not send; an administrator can see what it sends with a test sign-in", c.Name, m.Login)
	case identity.ValidateLogin(login) != nil:
		d.Problems = append(d.Problems, fmt.Sprintf("login: %q is not a valid Gatehouse login", login))
		d.refusal = identity.Errorf(identity.ErrUnauthenticated, "The login the IdP sent (%q) is not a valid Gatehouse login", login)
	}
	d.Name, _ = read("name", m.Name, "")
	if d.Name == "" {
		d.Name = d.Login
	}
	d.Email, _ = read("email", m.Email, "")
	d.ExternalID, _ = read("externalId", m.ExternalID, cl.Subject)
	if m.Groups != "" {
		if vs, ok := cl.Attributes[m.Groups]; ok {
			for _, g := range vs {
				if g = strings.TrimSpace(g); g != "" && !slices.Contains(d.Groups, g) {
					d.Groups = append(d.Groups, g)
				}
			}
		} else {
			d.Problems = append(d.Problems, fmt.Sprintf("groups: `%s` not in %s; %s", m.Groups, where, carries))
		}
	}
	return d
}

// Report is a test sign-in's answer: what the IdP sent, what Gatehouse
// derives, whom it would sign in. Nothing is created or changed.
type Report struct {
	Connection string `json:"connection"`
	Protocol   string `json:"protocol"`
	// OK: a real sign-in with these claims would succeed.
	OK bool `json:"ok"`
	// Error is the protocol's or the matching's refusal.
	Error      *ReportError        `json:"error,omitempty"`
	Issuer     string              `json:"issuer,omitempty"`
	Subject    string              `json:"subject,omitempty"`
	Attributes map[string][]string `json:"attributes"`
	Mapping    identity.SSOMapping `json:"mapping"`
	Derived    *Derived            `json:"derived,omitempty"`
	Match      *ReportMatch        `json:"match,omitempty"`
}

// ReportError is a refusal in a report.
type ReportError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// ReportMatch is the user a sign-in would be: an existing one (and how it
// matched) or one JIT creation makes.
type ReportMatch struct {
	// Outcome is "existing", "create" or "refused".
	Outcome string `json:"outcome"`
	Login   string `json:"login,omitempty"`
	Name    string `json:"name,omitempty"`
	Source  string `json:"source,omitempty"`
	By      string `json:"by,omitempty"`
	Message string `json:"message,omitempty"`
	// GroupsApplied: the sign-in would make the user's SSO groups Derived.Groups.
	GroupsApplied bool `json:"groupsApplied"`
}

func (h *Handler) report(ctx context.Context, c identity.SSOConnection, cl claims.Claims, err error) Report {
	rep := Report{Connection: c.Name, Protocol: string(c.Protocol), Attributes: map[string][]string{}, Mapping: c.Settings.Mapping}
	if err != nil {
		code, msg := status(err)
		rep.Error = &ReportError{Status: code, Message: msg}
		return rep
	}
	rep.Issuer, rep.Subject = cl.Issuer, cl.Subject
	if cl.Attributes != nil {
		rep.Attributes = cl.Attributes
	}
	d := derive(c, cl)
	rep.Derived = &d
	if d.refusal != nil {
		code, msg := status(d.refusal)
		rep.Error = &ReportError{Status: code, Message: msg}
		return rep
	}
	m, err := h.st.MatchSSO(ctx, c, d.account())
	if err != nil {
		code, msg := status(err)
		rep.Error = &ReportError{Status: code, Message: msg}
		rep.Match = &ReportMatch{Outcome: "refused", Message: msg}
		return rep
	}
	rep.OK = true
	if m.Create {
		rep.Match = &ReportMatch{Outcome: "create", Login: d.Login, Name: d.Name, Source: string(identity.SourceSSO), GroupsApplied: c.Settings.GroupsFromAssertions}
	} else {
		rep.Match = &ReportMatch{Outcome: "existing", Login: m.User.Login, Name: m.User.Name, Source: string(m.User.Source), By: m.By,
			GroupsApplied: c.Settings.GroupsFromAssertions && m.User.Source == identity.SourceSSO}
	}
	if !c.Settings.Enabled {
		rep.OK = false
		rep.Error = &ReportError{Status: 403, Message: identity.Message(errDisabled(c.Name))}
	}
	return rep
}
