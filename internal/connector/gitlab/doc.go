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
// and one per hundred projects: per allowed root group one GET of the
// group, the pages of its descendant groups and of its projects
// (include_subgroups, with_shared=false: the listing says which projects
// are shared with other groups, which GraphQL does not) and its custom
// roles; then, through the GraphQL API, in queries of aliased fields (as
// many as GitLab's query complexity limit of 250 allows):
//
//   - the effective members of the groups (GitLab resolves inheritance and
//     invited groups, as members/all does), 8 groups a query;
//   - with readProjectMembers, the roots' projects (includeSubgroups) with
//     their first 50 direct members each, a page of 100 projects of each of
//     3 roots a query (inherited members are known from the project's
//     namespace); a project with more direct members goes on with its own
//     pages;
//   - the effective members of the projects shared with other groups, whose
//     invited members GitLab resolves best (the relations members/all
//     resolves), 8 projects a query.
//
// Further pages of 100 go to later queries; a refused query is retried
// with half as many groups or projects and the snapshot says so in a
// warning. Pages are fetched concurrently, and requests are paced by
// GitLab's RateLimit-Remaining and RateLimit-Reset headers so that a rate
// limit is waited out rather than hit; a 429 or 5xx that still comes is
// retried after its Retry-After, a bounded number of times.
//
// The cost grows with effective, not direct, membership: a subgroup's
// members include its ancestors' too, so a root group with thousands of
// direct members makes every subgroup's listing that many pages long.
//
// E-mail addresses are not read (GitLab's member listings do not carry
// them); [SignIn] returns the user's own at sign-in. Blocked users are
// provisioned inactive, with their memberships and no project permissions.
package gitlab
