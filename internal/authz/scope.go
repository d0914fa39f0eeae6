package authz

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
