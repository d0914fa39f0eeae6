// Package gitlab is Gatehouse's GitLab connector: the automatic provisioning
// source (users, groups named by full path, effective memberships, projects
// with their visibility and per-user project permissions from each member's
// highest GitLab role), the check of its settings on save, and the pieces of
// just-in-time sign-in through GitLab's OAuth2.
//
// It is registered by the wiring under the source name "gitlab". Its
// settings (names as stored under provisioning.gitlab.<name>):
//
//	url=https://gitlab.example.com
//	token=glpat-…                       # read_api (or api); write-only
//	allowedGroups=acme,partners         # root groups; their subgroups are included
//	roleMapping={"Developer":["user","codeviewer","issueadmin","securityhotspotadmin","scan"],
//	             "Security auditor":["user","codeviewer","securityhotspotadmin"]}
//	sync.enabled=true                   # false: JIT-only, no scheduled runs
//	sync.interval=1h
//	readProjectMembers=true             # false: skip members added directly to projects
//	jit.enabled=true
//	oauth.applicationId=…               # OAuth2 application for sign-in
//	oauth.secret=…                      # write-only
//	timeout=30s
//
// Base roles missing from roleMapping keep the default table of
// [DefaultRoleMapping]; a custom role without its own entry falls back to
// its base role.
//
// # Requests
//
// Read keeps the number of GitLab requests close to one per eight groups
// and one per project: per allowed root group one GET of the group, the pages of its
// descendant groups and of its projects (include_subgroups, with_shared=false)
// and its custom roles; the effective members of the groups (GitLab
// resolves inheritance and invited groups, as members/all does) through the
// GraphQL API, 8 groups a query (aliased group fields, as many as GitLab's
// query complexity limit of 250 allows; a refused query is retried with
// half as many groups and the snapshot says so in a warning), each group's
// further pages of 100 in later queries; per project the pages of its direct
// members (inherited ones are known from its namespace's members), and
// members/all only for projects shared with other groups, whose invited
// members GitLab resolves best. Pages are fetched concurrently, and requests
// are paced by GitLab's RateLimit-Remaining and RateLimit-Reset headers so
// that a rate limit is waited out rather than hit; a 429 or 5xx that still
// comes is retried after its Retry-After, a bounded number of times.
//
// The cost grows with effective, not direct, membership: a subgroup's
// members include its ancestors' too, so a root group with thousands of
// direct members makes every subgroup's listing that many pages long.
//
// E-mail addresses are not read (GitLab's member listings do not carry
// them); [SignIn] returns the user's own at sign-in. Blocked users are
// provisioned inactive, with their memberships and no project permissions.
package gitlab
