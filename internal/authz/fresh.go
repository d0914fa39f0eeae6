package authz

import (
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Freshness records when a managed user's groups were last read from the
// source that manages them, and whether they are held back: a source that
// cannot be asked past its staleness bound makes the index ignore the
// user's explicit groups (fail closed) while direct grants, sonar-users and
// Anyone still count. State reads and updates it; the index only consults
// the hold. It survives index reloads, so a peer's write does not make every
// user's groups stale.
type Freshness struct {
	source   identity.Source
	readAt   atomic.Int64 // unix nanoseconds; 0: not read since start-up
	failedAt atomic.Int64 // unix nanoseconds of the last failed re-read
	held     atomic.Pointer[string]
}

// Source is the user's source.
func (f *Freshness) Source() identity.Source { return f.source }

// ReadAt returns when the groups were last read, in unix nanoseconds (0:
// never since start-up).
func (f *Freshness) ReadAt() int64 { return f.readAt.Load() }

// FailedAt returns when a re-read last failed, in unix nanoseconds.
func (f *Freshness) FailedAt() int64 { return f.failedAt.Load() }

// Held returns why the user's groups are ignored, or "" when they count.
func (f *Freshness) Held() string {
	if p := f.held.Load(); p != nil {
		return *p
	}
	return ""
}

// MarkRead records a successful read at t and lifts any hold.
func (f *Freshness) MarkRead(t time.Time) {
	f.readAt.Store(t.UnixNano())
	f.held.Store(nil)
}

// Hold makes decisions ignore the user's explicit groups until the next
// successful read; why says so to the caller.
func (f *Freshness) Hold(t time.Time, why string) {
	f.failedAt.Store(t.UnixNano())
	f.held.Store(&why)
}

// groupsHeld reports whether u's explicit groups must be ignored.
func (u *userEntry) groupsHeld() bool { return u.fresh != nil && u.fresh.held.Load() != nil }

// Freshness returns the freshness record of the principal's user: nil for
// local users and principals without a user.
func (p Principal) Freshness() *Freshness { return p.fresh }

// At returns when the principal's token was resolved (unix nanoseconds),
// or 0 for principals made without a clock reading.
func (p Principal) At() int64 { return p.at }

// GroupNames returns the names of a user's explicit groups (sonar-users
// excluded), for comparing with what a source says.
func (ix *Index) GroupNames(userID int64) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	u := ix.users[userID]
	if u == nil {
		return nil
	}
	out := make([]string, 0, len(u.groups))
	for _, g := range u.groups {
		out = append(out, g.name)
	}
	return out
}

// UserFreshness returns the freshness record of a user, or nil.
func (ix *Index) UserFreshness(userID int64) *Freshness {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if u := ix.users[userID]; u != nil {
		return u.fresh
	}
	return nil
}

// link is the explain chain's statement of when the groups were read.
func (f *Freshness) link() (Link, bool) {
	if f == nil {
		return Link{}, false
	}
	at, why := f.readAt.Load(), f.Held()
	if at == 0 && why == "" {
		// Sources that push (SCIM) are never read: nothing to say.
		return Link{}, false
	}
	l := Link{Kind: "groups", Name: string(f.source), Detail: "not read from " + string(f.source) + " since start-up"}
	if at != 0 {
		l.Detail = "last read from " + string(f.source) + " at " + time.Unix(0, at).UTC().Format(time.RFC3339Nano)
	}
	if why != "" {
		l.Detail += "; not trusted: " + why
	}
	return l, true
}
