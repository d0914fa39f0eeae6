package authz

import (
	"regexp"
	"slices"
)

// CountInScope returns how many projects an organization token covers now:
// its project set, key patterns and explicit list together, each project
// counted once. It is 0 for a token the index does not hold.
func (ix *Index) CountInScope(tokenID int64) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := ix.tokenIDs[tokenID]
	if t == nil {
		return 0
	}
	n := 0
	for _, p := range ix.projects {
		if t.covers(p) {
			n++
		}
	}
	return n
}

// KeysMatching returns the first limit keys, in key order, of the projects
// whose key re matches, and how many match in all: a template's or a
// token's key pattern previewed before it is saved.
func (ix *Index) KeysMatching(re *regexp.Regexp, limit int) (keys []string, total int) {
	ix.mu.RLock()
	for k := range ix.projectKeys {
		if re.MatchString(k) {
			keys = append(keys, k)
		}
	}
	ix.mu.RUnlock()
	slices.Sort(keys)
	total = len(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	return keys, total
}
