package provision

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// applier applies a plan in batches, in three phases so that every batch
// leaves a store a later run can finish from: first the objects (users,
// groups, projects) are created or updated, then access is added
// (memberships, permissions), and last access is taken away (removals,
// revocations, deactivations, removed groups). A run that stops between two
// batches has lost nothing: the next run plans the rest.
type applier struct {
	e      *Engine
	src    identity.Source
	cur    Current
	counts identity.SyncCounts

	userID    map[string]int64 // by login, after the plan
	groupID   map[string]int64 // by name
	projectID map[string]int64 // by key

	batch    []state.SourceChange
	limit    int // changes per batch: BatchSize, AddBatchSize for additions
	tally    []func(*identity.SyncCounts)
	created  []pendingCreate
	batches  int
	warnings []string
}

func newApplier(e *Engine, src identity.Source, cur Current) *applier {
	return &applier{e: e, src: src, cur: cur, limit: e.cfg.BatchSize}
}

func (a *applier) apply(ctx context.Context, p *Plan) error {
	a.userID, a.groupID, a.projectID = map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, u := range a.cur.Users {
		a.userID[u.Login] = u.ID
	}
	for _, g := range a.cur.Groups {
		a.groupID[g.Name] = g.ID
	}
	for _, pr := range a.cur.Projects {
		a.projectID[pr.Key] = pr.ID
	}
	for _, list := range [][]identity.User{p.UpdateUsers, p.ReactivateUsers, p.DeactivateUsers} {
		for _, u := range list {
			a.userID[u.Login] = u.ID
		}
	}
	for _, g := range p.UpdateGroups {
		a.groupID[g.Name] = g.ID
	}

	// Phase 1: objects.
	for _, u := range p.UpdateUsers {
		a.add(state.SourceChange{Kind: state.UpdateUser, User: u}, func(c *identity.SyncCounts) { c.UsersUpdated++ }, nil)
	}
	for _, u := range p.ReactivateUsers {
		a.add(state.SourceChange{Kind: state.UpdateUser, User: u}, func(c *identity.SyncCounts) { c.UsersReactivated++ }, nil)
	}
	for _, u := range p.CreateUsers {
		a.add(state.SourceChange{Kind: state.CreateUser, User: u}, func(c *identity.SyncCounts) { c.UsersCreated++ }, func(id int64) { a.userID[u.Login] = id })
	}
	for _, g := range p.UpdateGroups {
		a.add(state.SourceChange{Kind: state.UpdateGroup, Group: g}, func(c *identity.SyncCounts) { c.GroupsUpdated++ }, nil)
	}
	for _, g := range p.CreateGroups {
		a.add(state.SourceChange{Kind: state.CreateGroup, Group: g}, func(c *identity.SyncCounts) { c.GroupsCreated++ }, func(id int64) { a.groupID[g.Name] = id })
	}
	for _, pr := range p.UpdateProjects {
		a.add(state.SourceChange{Kind: state.UpdateProject, Project: pr}, func(c *identity.SyncCounts) { c.Projects++ }, nil)
	}
	for _, pr := range p.CreateProjects {
		a.add(state.SourceChange{Kind: state.CreateProject, Project: pr}, func(c *identity.SyncCounts) { c.Projects++; c.ProjectsCreated++ }, func(id int64) { a.projectID[pr.Key] = id })
	}
	if err := a.flush(ctx); err != nil {
		return err
	}

	// Phase 2: access added. A reference to an object phase 1 could not
	// create (refused, with a warning) is skipped.
	a.limit = a.e.cfg.AddBatchSize
	for _, m := range p.AddMembers {
		uid, gid := a.userID[m.Login], a.groupID[m.Group]
		if uid == 0 || gid == 0 {
			continue
		}
		a.add(state.SourceChange{Kind: state.AddMember, Membership: identity.Membership{UserID: uid, GroupID: gid}}, func(c *identity.SyncCounts) { c.MembershipsAdded++ }, nil)
		if err := a.maybeFlush(ctx); err != nil {
			return err
		}
	}
	for _, g := range p.Grant {
		uid, pid := a.userID[g.Login], a.projectID[g.Project]
		if uid == 0 || pid == 0 {
			continue
		}
		grant := identity.Grant{Subject: identity.UserSubject(uid), ProjectID: pid, Permission: g.Permission}
		a.add(state.SourceChange{Kind: state.AddGrant, Grant: grant}, func(c *identity.SyncCounts) { c.PermissionsGranted++; c.PermissionsChanged++ }, nil)
		if err := a.maybeFlush(ctx); err != nil {
			return err
		}
	}
	if err := a.flush(ctx); err != nil {
		return err
	}
	a.limit = a.e.cfg.BatchSize

	// Phase 3: access taken away.
	for _, m := range p.RemoveMembers {
		a.add(state.SourceChange{Kind: state.RemoveMember, Membership: m}, func(c *identity.SyncCounts) { c.MembershipsRemoved++ }, nil)
		if err := a.maybeFlush(ctx); err != nil {
			return err
		}
	}
	for _, g := range p.Revoke {
		a.add(state.SourceChange{Kind: state.RemoveGrant, Grant: g}, func(c *identity.SyncCounts) { c.PermissionsRevoked++; c.PermissionsChanged++ }, nil)
		if err := a.maybeFlush(ctx); err != nil {
			return err
		}
	}
	for _, u := range p.DeactivateUsers {
		a.add(state.SourceChange{Kind: state.UpdateUser, User: u}, func(c *identity.SyncCounts) { c.UsersDeactivated++ }, nil)
		if err := a.maybeFlush(ctx); err != nil {
			return err
		}
	}
	for _, g := range p.RemoveGroups {
		a.add(state.SourceChange{Kind: state.DeleteGroup, Group: g}, func(c *identity.SyncCounts) { c.GroupsDeleted++ }, nil)
	}
	return a.flush(ctx)
}

// add queues one change; count runs when it wrote, created when it
// created an object (with its id).
func (a *applier) add(c state.SourceChange, count func(*identity.SyncCounts), created func(int64)) {
	a.batch = append(a.batch, c)
	a.tally = append(a.tally, count)
	if created != nil {
		// Creations are rare next to memberships: their callbacks ride in
		// a side table keyed by the position in the batch.
		a.created = append(a.created, pendingCreate{at: len(a.batch) - 1, fn: created})
	}
}

type pendingCreate struct {
	at int
	fn func(int64)
}

func (a *applier) maybeFlush(ctx context.Context) error {
	if len(a.batch) < a.limit {
		return nil
	}
	return a.flush(ctx)
}

// flush applies the queued changes in batches of the configured size.
func (a *applier) flush(ctx context.Context) error {
	for len(a.batch) > 0 {
		n := min(len(a.batch), a.limit)
		if err := a.applyBatch(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) applyBatch(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("the run was stopped after %d batches: %w", a.batches, err)
	}
	res, err := a.e.st.ApplySource(ctx, a.src, a.batch[:n])
	if err != nil {
		return fmt.Errorf("apply batch %d: %w", a.batches+1, err)
	}
	for i, r := range res {
		switch {
		case r.Err != nil:
			a.warnings = append(a.warnings, "refused: "+describe(a.batch[i])+": "+r.Err.Error())
		case r.Changed:
			a.tally[i](&a.counts)
			a.counts.Writes++
		}
	}
	var rest []pendingCreate
	for _, pc := range a.created {
		if pc.at < n {
			if id := res[pc.at].ID; id != 0 {
				pc.fn(id)
			}
			continue
		}
		pc.at -= n
		rest = append(rest, pc)
	}
	a.created = rest
	a.batch = append(a.batch[:0], a.batch[n:]...)
	a.tally = append(a.tally[:0], a.tally[n:]...)
	a.batches++
	if a.e.afterBatch != nil {
		if err := a.e.afterBatch(a.batches); err != nil {
			return err
		}
	}
	return nil
}

func describe(c state.SourceChange) string {
	switch c.Kind {
	case state.CreateUser, state.UpdateUser:
		return "user " + c.User.Login
	case state.CreateGroup, state.UpdateGroup, state.DeleteGroup:
		return "group " + c.Group.Name
	case state.CreateProject, state.UpdateProject:
		return "project " + c.Project.Key
	case state.AddMember, state.RemoveMember:
		return fmt.Sprintf("membership of user %d in group %d", c.Membership.UserID, c.Membership.GroupID)
	case state.AddGrant, state.RemoveGrant:
		return fmt.Sprintf("permission %s of user %d on project %d", c.Grant.Permission, c.Grant.Subject.ID, c.Grant.ProjectID)
	}
	return "change"
}
