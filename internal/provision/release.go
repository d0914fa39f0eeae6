package provision

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// releaseGroups deletes every group of s's source, with their memberships
// and permissions, when its synchronization was switched off and its
// policy says so ([Policy.ReleaseGroupsOnDisable]). The caller holds the
// run lock, so no run recreates them meanwhile. Each deletion is audited
// as the connector's.
func (e *Engine) releaseGroups(ctx context.Context, s *source) (int, error) {
	groups, _, err := e.st.Store().ListGroups(ctx, store.GroupFilter{Source: s.name})
	if err != nil {
		return 0, fmt.Errorf("list the %s groups: %w", s.name, err)
	}
	a := newApplier(e, s.name, Current{})
	for _, g := range groups {
		a.add(state.SourceChange{Kind: state.DeleteGroup, Group: g}, func(c *identity.SyncCounts) { c.GroupsDeleted++ }, nil)
		if err := a.maybeFlush(ctx); err != nil {
			return a.counts.GroupsDeleted, err
		}
	}
	if err := a.flush(ctx); err != nil {
		return a.counts.GroupsDeleted, err
	}
	if a.counts.GroupsDeleted > 0 {
		e.log.Info("synchronization switched off: removed the source's groups", "source", s.name, "groups", a.counts.GroupsDeleted)
	}
	return a.counts.GroupsDeleted, nil
}
