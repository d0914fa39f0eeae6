// Package gitlabsim is a simulated GitLab instance for tests, demos and
// benchmarks of the GitLab connector: the REST v4 endpoints a provisioning
// sync reads (users, groups and their descendants, direct and effective
// members, group projects, project members, custom roles, the token's own
// scopes) with GitLab's JSON shapes and pagination (offset with its X-*
// headers and Link, per_page capped at 100, no totals past 10,000 records;
// keyset for /projects and /users), GitLab's authentication answers (401
// for a bad token, 403 insufficient_scope without read_api), its
// rate-limit headers and 429 under a configurable fixed-window limit,
// configurable latency and injected faults; the GraphQL API (POST
// /api/graphql) for groups, their descendants, their projects and the
// members of groups and projects by relation, with GitLab's names, global
// ids, cursor pagination and query complexity limit, under the same
// authentication, rate limit, latency and faults (a query counts as one
// request however many groups or projects it reads); and the OAuth2
// authorization-code endpoints (/oauth/authorize, /oauth/token) with
// /api/v4/user for sign-in.
//
// The data comes from a declarative [Fixture] (JSON, see testdata/) and can
// be changed while serving with [Server.Update].
package gitlabsim
