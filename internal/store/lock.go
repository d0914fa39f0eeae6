package store

import "context"

// Locker is an optional capability of a [Store], found by type assertion: a
// named lock that excludes every other holder of the same name on the same
// database, in this process and in other processes (replicas) sharing it.
// The provisioning engine takes one per source so that one run per source
// runs at a time.
//
// A lock dies with its holder: when the process exits or loses its database
// connection, the lock is released without anyone calling unlock. The holder
// is not told when that happens, so work done under the lock must stay safe
// to repeat.
type Locker interface {
	// TryLock takes the lock called name without waiting. ok is false
	// when someone else holds it. When ok is true, unlock releases the
	// lock; it is safe to call more than once. A name is 1 to 100
	// letters, digits, '.', '_' or '-', not starting with '.' (e.g.
	// "provision.gitlab"); other names are identity.ErrInvalid.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}
