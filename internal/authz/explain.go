package authz

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Link is one fact in the chain behind a decision.
type Link struct {
	Kind string `json:"kind"` // token, user, group, grant, project, scope
	Name string `json:"name"`
	// Detail adds what the link means, e.g. the token type or the grant's
	// project.
	Detail string `json:"detail,omitempty"`
}

// Explanation is the answer of [Index.Explain].
type Explanation struct {
	Allowed bool   `json:"allowed"`
	Chain   []Link `json:"chain"`
	// Missing names the link that is absent when the answer is no.
	Missing string `json:"missing,omitempty"`
	Reason  string `json:"-"`
}

// ScanDenied is SonarQube's message for a refused analysis.
const ScanDenied = "You're not authorized to run analysis. Please contact the project administrator."

// Explain answers the same question as [Index.Decide] and says why: the chain
// token → user → group → grant, or which link is missing.
func (ix *Index) Explain(p Principal, perm identity.Permission, projectKey string) Explanation {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	d := ix.decide(p, perm, projectKey)
	e := Explanation{Allowed: d.Allowed, Chain: []Link{}}
	where := "globally"
	if projectKey != "" {
		where = "on project '" + projectKey + "'"
	}

	var t *tokenEntry
	if p.TokenID != 0 {
		if t = ix.tokenIDs[p.TokenID]; t != nil {
			e.Chain = append(e.Chain, Link{Kind: "token", Name: t.name, Detail: string(t.typ) + " #" + strconv.FormatInt(t.id, 10)})
		}
	}
	u := ix.users[p.UserID]
	if u != nil && (t == nil || t.typ != identity.TokenOrganization) {
		status := "active"
		if !u.active {
			status = "deactivated"
		}
		e.Chain = append(e.Chain, Link{Kind: "user", Name: u.login, Detail: status})
		if l, ok := u.fresh.link(); ok {
			e.Chain = append(e.Chain, l)
		}
	}

	switch d.Reason {
	case ReasonUserGrant:
		e.Chain = append(e.Chain, Link{Kind: "grant", Name: string(perm), Detail: "granted to user " + u.login + " " + where})
	case ReasonGroupGrant:
		name := ix.groups[d.GroupID].name
		detail := "member"
		if ix.sonarUsers != nil && d.GroupID == ix.sonarUsers.id {
			detail = "implicit member (every active user)"
		}
		e.Chain = append(e.Chain,
			Link{Kind: "group", Name: name, Detail: detail},
			Link{Kind: "grant", Name: string(perm), Detail: "granted to group " + name + " " + where})
	case ReasonAnyoneGrant:
		e.Chain = append(e.Chain,
			Link{Kind: "group", Name: identity.GroupAnyone, Detail: "every user"},
			Link{Kind: "grant", Name: string(perm), Detail: "granted to Anyone " + where})
	case ReasonPublicProject:
		e.Chain = append(e.Chain, Link{Kind: "project", Name: projectKey, Detail: "public: " + string(perm) + " is implicit for everyone"})
	case ReasonGlobalScan:
		e.Chain = append(e.Chain, Link{Kind: "grant", Name: string(identity.PermScan), Detail: "global scan, which implies scan on every project"})
	case ReasonTokenScope:
		e.Chain = append(e.Chain,
			Link{Kind: "scope", Name: projectKey, Detail: "in the token's project scope"},
			Link{Kind: "grant", Name: string(perm), Detail: "in the token's permissions"})
	case ReasonNoGrant:
		e.Missing = fmt.Sprintf("no grant of '%s' %s to user %s, to any of its groups (%s), or to Anyone", perm, where, u.login, ix.groupNames(u))
	case ReasonGroupsUnverified:
		e.Missing = fmt.Sprintf("no grant of '%s' %s to user %s or to Anyone, and its groups do not count: %s", perm, where, u.login, u.fresh.Held())
	case ReasonUnknownPrincipal:
		e.Missing = "the token or user no longer exists"
	case ReasonInactiveUser:
		e.Missing = "user " + u.login + " is deactivated"
	case ReasonTokenExpired:
		e.Missing = "the token expired on " + time.Unix(0, t.expiresAt).UTC().Format("2006-01-02")
	case ReasonTokenCapped:
		e.Missing = ix.capMessage(t, perm, projectKey)
	case ReasonOutOfScope:
		e.Missing = "project '" + projectKey + "' is outside the token's project scope"
	case ReasonUnknownProject:
		e.Missing = "project '" + projectKey + "' does not exist"
	case ReasonInvalidPermission:
		e.Missing = "'" + string(perm) + "' is not a permission " + where
	}
	e.Reason = ix.reasonText(d, perm, where, e)
	return e
}

// ReasonText returns a one-line reason for a decision, as api/authz/check
// shows it.
func (ix *Index) ReasonText(p Principal, perm identity.Permission, projectKey string) (bool, string) {
	e := ix.Explain(p, perm, projectKey)
	return e.Allowed, e.Reason
}

func (ix *Index) reasonText(d Decision, perm identity.Permission, where string, e Explanation) string {
	if !d.Allowed {
		if perm == identity.PermScan && projectKey(where) {
			return ScanDenied + " (" + e.Missing + ")"
		}
		return "denied: " + e.Missing
	}
	last := e.Chain[len(e.Chain)-1]
	switch d.Reason {
	case ReasonGroupGrant, ReasonAnyoneGrant:
		return "allowed: " + string(perm) + " " + where + " through group " + e.Chain[len(e.Chain)-2].Name
	case ReasonTokenScope:
		return "allowed: the organization token covers the project and carries " + string(perm)
	}
	return "allowed: " + last.Detail
}

func projectKey(where string) bool { return where != "globally" }

func (ix *Index) groupNames(u *userEntry) string {
	s := ""
	if ix.sonarUsers != nil {
		s = ix.sonarUsers.name
	}
	for _, g := range u.groups {
		if s != "" {
			s += ", "
		}
		s += g.name
	}
	return s
}

func (ix *Index) capMessage(t *tokenEntry, perm identity.Permission, projectKey string) string {
	if t == nil {
		return "the credential cannot carry '" + string(perm) + "'"
	}
	switch t.typ {
	case identity.TokenGlobalAnalysis:
		return "a global analysis token only carries scan and global provisioning"
	case identity.TokenProjectAnalysis:
		key := "its project"
		if p := ix.projects[t.projectID]; p != nil {
			key = "project '" + p.key + "'"
		}
		return "a project analysis token only carries scan and browse on " + key
	case identity.TokenOrganization:
		if projectKey == "" {
			return "an organization token carries no global permission"
		}
		return "the organization token does not carry '" + string(perm) + "'"
	}
	return "a " + string(t.typ) + " carries no permission here"
}
