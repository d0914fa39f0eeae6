package state

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// MaxBulkItems bounds the items of one bulk write: a bulk write holds the
// write lock for its whole batch, so an unbounded one would stall every
// other writer.
const MaxBulkItems = 1000

// BulkOptions selects how a bulk write treats failing items.
type BulkOptions struct {
	// Atomic makes the batch all or nothing: one failing item writes
	// nothing (ErrBulkRefused). Otherwise each item is atomic on its own:
	// the items that pass are written, those that fail are reported.
	Atomic bool
	// SkipExisting makes creating an object that already exists a no-op
	// (unchanged) rather than an error, so an interrupted import can be run
	// again.
	SkipExisting bool
}

// ItemResult is the outcome of one item of a bulk write.
type ItemResult struct {
	// Changed reports that the item changed the store (false: it was
	// already so, or it failed).
	Changed bool
	// Err is the item's domain error (identity kinds, SonarQube's message);
	// nil when the item was applied.
	Err error
}

// ErrBulkRefused is returned by an atomic bulk write when some item failed;
// the results say which and why, and nothing was written.
var ErrBulkRefused = identity.Errorf(identity.ErrInvalid, "Some items were refused; nothing was written")

// MemberChange names one membership of a bulk write.
type MemberChange struct {
	Group, Login string
}

// AddMembers adds many memberships in one write, each with the rules and
// the audit event of [State.AddMember].
func (s *State) AddMembers(ctx context.Context, ms []MemberChange, opts BulkOptions) ([]ItemResult, error) {
	return s.bulk(ctx, len(ms), opts, func(tx store.Tx, i int) (audit, func(), error) {
		return s.memberTx(ctx, tx, ms[i].Group, ms[i].Login, true)
	})
}

// AddGrants adds many grants in one write, each with the rules and the
// audit event of [State.AddGrant]. Subjects are resolved by the caller.
func (s *State) AddGrants(ctx context.Context, gs []identity.Grant, opts BulkOptions) ([]ItemResult, error) {
	return s.bulk(ctx, len(gs), opts, func(tx store.Tx, i int) (audit, func(), error) {
		return s.grantTx(ctx, tx, gs[i], true)
	})
}

// CreateUsers creates (or reactivates) many users in one write, each with
// the rules and the audit event of [State.CreateUser]. Users without a
// password are what an identity provider creates: they cannot sign in with
// a password until an administrator sets one.
func (s *State) CreateUsers(ctx context.Context, ns []NewUser, opts BulkOptions) ([]ItemResult, error) {
	if len(ns) > MaxBulkItems {
		return nil, tooMany(len(ns))
	}
	// The rules that need no store (and password hashing) run before the
	// write lock is taken.
	prepared := make([]identity.User, len(ns))
	early := make([]error, len(ns))
	for i, n := range ns {
		u, err := s.prepareUser(ctx, n)
		if err != nil && !isDomain(err) {
			return nil, err
		}
		prepared[i], early[i] = u, err
	}
	return s.bulk(ctx, len(ns), opts, func(tx store.Tx, i int) (audit, func(), error) {
		if early[i] != nil {
			return audit{}, nil, early[i]
		}
		_, a, apply, err := s.createUserTx(ctx, tx, prepared[i], opts.SkipExisting)
		return a, apply, err
	})
}

func tooMany(n int) error {
	return identity.Errorf(identity.ErrInvalid, "A bulk request holds at most %d items, got %d", MaxBulkItems, n)
}

// isDomain reports whether err is an item's refusal rather than a failure
// of the store.
func isDomain(err error) bool {
	for _, kind := range []error{identity.ErrInvalid, identity.ErrNotFound, identity.ErrAlreadyExists, identity.ErrManaged, identity.ErrForbidden} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

// bulk runs item for each of n items inside one write. Every item writes
// its own audit event; an item's domain error is its result (the item
// functions refuse before they write, so a refused item leaves nothing
// behind), while a store failure fails the whole batch, which then writes
// nothing. Index changes are applied in item order after the commit.
func (s *State) bulk(ctx context.Context, n int, opts BulkOptions, item func(tx store.Tx, i int) (audit, func(), error)) ([]ItemResult, error) {
	if n > MaxBulkItems {
		return nil, tooMany(n)
	}
	return s.bulkThen(ctx, n, opts, item, nil)
}

// settleFunc runs in a bulk write after its items, for the items it
// handles together (a provisioning batch's grants): it sets their results
// and returns their audit events and index changes. It refuses an item by
// its result, and fails the batch by its error.
type settleFunc func(tx store.Tx, res []ItemResult) ([]audit, func(), error)

// bulkThen is bulk without its bound, with settle (when set) run after the
// items in the same write.
func (s *State) bulkThen(ctx context.Context, n int, opts BulkOptions, item func(tx store.Tx, i int) (audit, func(), error), settle settleFunc) ([]ItemResult, error) {
	res := make([]ItemResult, n)
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		clear(res)
		var (
			applies []func()
			events  []identity.AuditEvent
		)
		for i := range n {
			a, apply, err := item(tx, i)
			if err != nil {
				if !isDomain(err) {
					return audit{}, nil, fmt.Errorf("bulk item %d: %w", i, err)
				}
				res[i].Err = err
				continue
			}
			if a.Action == "" {
				continue
			}
			events = append(events, s.auditEvent(ctx, a))
			res[i].Changed = true
			if apply != nil {
				applies = append(applies, apply)
			}
		}
		if settle != nil {
			as, apply, err := settle(tx, res)
			if err != nil {
				return audit{}, nil, err
			}
			for _, a := range as {
				events = append(events, s.auditEvent(ctx, a))
			}
			if apply != nil {
				applies = append(applies, apply)
			}
		}
		if opts.Atomic && slices.ContainsFunc(res, func(r ItemResult) bool { return r.Err != nil }) {
			return audit{}, nil, ErrBulkRefused
		}
		if err := tx.AppendAudits(ctx, events); err != nil {
			return audit{}, nil, err
		}
		return audit{}, func() {
			for _, apply := range applies {
				apply()
			}
		}, nil
	})
	if errors.Is(err, ErrBulkRefused) {
		for i := range res {
			res[i].Changed = false
		}
		return res, err
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
