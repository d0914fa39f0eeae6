package state

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Question is an access question: may a credential use a permission on a
// project ("" for a global permission)?
type Question struct {
	Permission identity.Permission
	ProjectKey string
	// TokenID, when set, asks about that token instead of the asker's own
	// credential; only administrators may.
	TokenID int64
}

// Ask answers q for asker (askerAdmin: it holds global admin) with the
// rules every adapter keeps (api/authz/check and explain, the admin UI's
// explain page): the principal judged, and the decision. A question about
// another token from a non-administrator is forbidden; an unknown project,
// or one a non-administrator asking about itself cannot see, is not found
// (no existence leak); a permission that does not exist at that level is
// invalid. It reads only memory.
func (s *State) Ask(ctx context.Context, asker authz.Principal, askerAdmin bool, q Question) (authz.Principal, authz.Decision, error) {
	p := asker
	if q.TokenID != 0 {
		if !askerAdmin {
			return p, authz.Decision{}, identity.Errorf(identity.ErrForbidden, "Insufficient privileges: only administrators may ask about another token (tokenId)")
		}
		var err error
		if p, err = s.index.TokenPrincipal(q.TokenID); err != nil {
			return p, authz.Decision{}, err
		}
		s.Freshen(ctx, p)
	}
	perm, key := q.Permission, q.ProjectKey
	d := s.index.Decide(p, perm, key)
	notFound := identity.Errorf(identity.ErrNotFound, "Project '%s' not found", key)
	switch {
	case d.Reason == authz.ReasonUnknownProject:
		return p, d, notFound
	case !d.Allowed && key != "" && q.TokenID == 0 && !s.index.Sees(p, key) && !askerAdmin:
		// A caller that cannot see the project learns nothing about it, as
		// api/components/show answers.
		return p, d, notFound
	case d.Reason == authz.ReasonInvalidPermission && key == "":
		return p, d, identity.Errorf(identity.ErrInvalid, "'%s' is not a global permission; global permissions are admin, gateadmin, profileadmin, provisioning and scan", perm)
	case d.Reason == authz.ReasonInvalidPermission:
		return p, d, identity.Errorf(identity.ErrInvalid, "'%s' is not a project permission; project permissions are admin, codeviewer, issueadmin, securityhotspotadmin, scan and user", perm)
	}
	return p, d, nil
}
