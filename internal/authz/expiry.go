package authz

import "time"

// TokensExpiringBefore counts the tokens of the index that still work now
// and expire before t, by token type. It reads every token once, for a
// scrape, not for decisions.
func (ix *Index) TokensExpiringBefore(t time.Time) map[string]int {
	now, until := ix.now().UnixNano(), t.UnixNano()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := map[string]int{}
	for _, e := range ix.tokenIDs {
		if e.expiresAt != 0 && e.expiresAt > now && e.expiresAt < until {
			out[string(e.typ)]++
		}
	}
	return out
}
