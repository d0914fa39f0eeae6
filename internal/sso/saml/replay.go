package saml

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ReplayCache remembers the ids of accepted assertions until they expire, so
// that each assertion signs someone in once. Several Gatehouse replicas
// behind one load balancer must share one (for example in the database);
// the default, in memory, serves one process.
type ReplayCache interface {
	// Remember records id until expires and reports whether it was new.
	Remember(ctx context.Context, id string, expires time.Time) (bool, error)
}

// DefaultReplayCacheSize is how many unexpired assertion ids the in-memory
// ReplayCache holds. An assertion is acceptable for at most a few minutes
// (crewjam/saml refuses one issued more than saml.MaxIssueDelay ago), so
// this is thousands of sign-ins a minute.
const DefaultReplayCacheSize = 1 << 16

// errReplayCacheFull is returned by MemoryReplayCache when it holds
// DefaultReplayCacheSize unexpired ids. Forgetting one early would let that
// assertion be replayed, so the new one is refused instead.
var errReplayCacheFull = errors.New("replay cache full")

// MemoryReplayCache is a ReplayCache in memory, bounded to a number of
// unexpired ids. Its zero value is not usable; call NewMemoryReplayCache.
type MemoryReplayCache struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	expires map[string]time.Time
}

var _ ReplayCache = (*MemoryReplayCache)(nil)

// NewMemoryReplayCache returns an empty MemoryReplayCache holding at most
// size unexpired ids (DefaultReplayCacheSize if size <= 0). now is its clock
// (time.Now if nil).
func NewMemoryReplayCache(size int, now func() time.Time) *MemoryReplayCache {
	if size <= 0 {
		size = DefaultReplayCacheSize
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{now: now, max: size, expires: make(map[string]time.Time)}
}

// Remember implements ReplayCache.
func (c *MemoryReplayCache) Remember(_ context.Context, id string, expires time.Time) (bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.expires[id]; ok && now.Before(exp) {
		return false, nil
	}
	if len(c.expires) >= c.max {
		for k, exp := range c.expires {
			if !now.Before(exp) {
				delete(c.expires, k)
			}
		}
		if len(c.expires) >= c.max {
			return false, errReplayCacheFull
		}
	}
	c.expires[id] = expires
	return true, nil
}
