package ui

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// navItem is one entry of the main navigation and of the start page.
type navItem struct {
	Path, Label, About string
	AdminOnly          bool
}

// navigation lists the UI's sections in the order they are shown.
var navigation = []navItem{
	{Path: "/users", Label: "Users", About: "Search, create and deactivate accounts; their groups and tokens.", AdminOnly: true},
	{Path: "/groups", Label: "Groups", About: "Members of each group; groups an identity source manages are read-only.", AdminOnly: true},
	{Path: "/projects", Label: "Projects", About: "Projects and who may browse, scan or administer each; global permissions.", AdminOnly: true},
	{Path: "/templates", Label: "Templates", About: "Permission templates: the grants new projects get, by key pattern, with a preview of what a pattern matches.", AdminOnly: true},
	{Path: "/org-tokens", Label: "Organization tokens", About: "Tokens for automation over a list, key patterns, public, private or all projects; rotate with a grace period.", AdminOnly: true},
	{Path: "/provisioning/scim", Label: "SCIM", About: "SCIM setup assistant: the endpoint URL, the bearer token and each identity provider's steps.", AdminOnly: true},
	{Path: "/provisioning/gitlab", Label: "GitLab", About: "GitLab provisioning: settings, role mapping, Synchronize now, the run's status and history, a dry run's changes.", AdminOnly: true},
	{Path: "/provisioning/ldap", Label: "LDAP", About: "LDAP directory settings, and test how a login would be signed in and which groups it gets.", AdminOnly: true},
	{Path: "/sso", Label: "SSO", About: "Single sign-on connections (SAML, OpenID Connect): create, edit, and run a test sign-in.", AdminOnly: true},
	{Path: "/audit", Label: "Audit log", About: "Every change: who made it, when, and what it was before and after.", AdminOnly: true},
	{Path: "/account/tokens", Label: "My tokens", About: "Your own user and analysis tokens: generate (shown once) and revoke."},
	{Path: "/account/projects", Label: "My projects", About: "Projects I administer: who may browse, scan or administer each."},
	{Path: "/explain", Label: "Explain access", About: "Why a token, or you, may or may not do something: the chain behind a decision."},
}

var funcs = template.FuncMap{
	"hasPrefix": strings.HasPrefix,
	"seg":       url.PathEscape,
	"join":      strings.Join,
	"tokenType": tokenTypeLabel,
	"scope":     scopeText,
	"nav": func(admin bool) []navItem {
		var out []navItem
		for _, n := range navigation {
			if admin || !n.AdminOnly {
				out = append(out, n)
			}
		}
		return out
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02")
	},
}

// tokenTypeLabel names a token type as people say it.
func tokenTypeLabel(t identity.TokenType) string {
	switch t {
	case identity.TokenUser:
		return "user"
	case identity.TokenGlobalAnalysis:
		return "global analysis"
	case identity.TokenProjectAnalysis:
		return "project analysis"
	case identity.TokenOrganization:
		return "organization"
	case identity.TokenSCIM:
		return "SCIM"
	}
	return string(t)
}

// scopeText says what an organization token's scope is made of.
func scopeText(s identity.TokenScope) string {
	var parts []string
	switch s.Set {
	case identity.SetAll:
		parts = append(parts, "all projects")
	case identity.SetPublic:
		parts = append(parts, "public projects")
	case identity.SetPrivate:
		parts = append(parts, "private projects")
	}
	for _, p := range s.Patterns {
		parts = append(parts, "keys matching "+p)
	}
	if s.ProjectCount > 0 {
		parts = append(parts, strconv.Itoa(s.ProjectCount)+" listed")
	}
	if len(parts) == 0 {
		return "no project"
	}
	return strings.Join(parts, ", ")
}
