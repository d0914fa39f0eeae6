package dataset

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// IDMap maps the ids of a [Set] to the ids the store gave the same rows.
type IDMap struct {
	Users, Groups, Projects, Tokens map[int64]int64
}

// loadChunk bounds the rows one transaction writes, so that a load is a few
// big transactions rather than one per row or one holding everything.
const loadChunk = 50_000

// Load writes set into st (migrated, and empty but for the built-in groups
// a state may already have created) and returns how the set's ids map to the
// store's. Tokens keep their hashes, so set.Secrets authenticate against a
// server over st. Groups whose name already exists (sonar-administrators,
// sonar-users) are reused rather than created.
func Load(ctx context.Context, st store.Store, set *Set) (*IDMap, error) {
	snap := &set.Snapshot
	m := &IDMap{
		Users:    make(map[int64]int64, len(snap.Users)),
		Groups:   make(map[int64]int64, len(snap.Groups)),
		Projects: make(map[int64]int64, len(snap.Projects)),
		Tokens:   make(map[int64]int64, len(snap.Tokens)),
	}
	steps := []struct {
		what string
		n    int
		fn   func(tx store.Tx, i int) error
	}{
		{"groups", len(snap.Groups), func(tx store.Tx, i int) error {
			g := snap.Groups[i]
			old, err := tx.GetGroupByName(ctx, g.Name)
			if err == nil {
				m.Groups[g.ID] = old.ID
				return nil
			}
			if !errors.Is(err, identity.ErrNotFound) {
				return err
			}
			id := g.ID
			g.ID = 0
			got, err := tx.CreateGroup(ctx, g)
			m.Groups[id] = got.ID
			return err
		}},
		{"users", len(snap.Users), func(tx store.Tx, i int) error {
			u := snap.Users[i]
			id := u.ID
			u.ID = 0
			got, err := tx.CreateUser(ctx, u)
			m.Users[id] = got.ID
			return err
		}},
		{"projects", len(snap.Projects), func(tx store.Tx, i int) error {
			p := snap.Projects[i]
			id := p.ID
			p.ID = 0
			got, err := tx.CreateProject(ctx, p)
			m.Projects[id] = got.ID
			return err
		}},
		{"memberships", len(snap.Memberships), func(tx store.Tx, i int) error {
			ms := snap.Memberships[i]
			_, err := tx.AddMember(ctx, m.Users[ms.UserID], m.Groups[ms.GroupID])
			return err
		}},
		{"grants", len(snap.Grants), func(tx store.Tx, i int) error {
			g := snap.Grants[i]
			switch g.Subject.Kind {
			case identity.SubjectUser:
				g.Subject.ID = m.Users[g.Subject.ID]
			case identity.SubjectGroup:
				g.Subject.ID = m.Groups[g.Subject.ID]
			}
			if g.ProjectID != 0 {
				g.ProjectID = m.Projects[g.ProjectID]
			}
			_, err := tx.AddGrant(ctx, g)
			return err
		}},
		{"tokens", len(snap.Tokens), func(tx store.Tx, i int) error {
			t := snap.Tokens[i]
			id := t.ID
			t.ID, t.Scope.ProjectCount = 0, 0
			if t.UserID != 0 {
				t.UserID = m.Users[t.UserID]
			}
			if t.ProjectID != 0 {
				t.ProjectID = m.Projects[t.ProjectID]
			}
			got, err := tx.CreateToken(ctx, t)
			if err != nil {
				return err
			}
			m.Tokens[id] = got.ID
			if ps := snap.TokenProjects[id]; len(ps) > 0 {
				mapped := make([]int64, len(ps))
				for j, p := range ps {
					mapped[j] = m.Projects[p]
				}
				return tx.AddTokenProjects(ctx, got.ID, mapped)
			}
			return nil
		}},
	}
	for _, step := range steps {
		for from := 0; from < step.n; from += loadChunk {
			to := min(from+loadChunk, step.n)
			err := st.Tx(ctx, func(tx store.Tx) error {
				for i := from; i < to; i++ {
					if err := step.fn(tx, i); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", step.what, err)
			}
		}
	}
	return m, nil
}
