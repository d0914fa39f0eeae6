package gitlab

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// groupsPerQuery is how many groups' members one GraphQL query reads, one
// aliased group field each. GitLab refuses a query whose complexity passes
// 250 (authenticated callers); a group of membersField costs 29 (1 for the
// group, (13 fields + 1) × 2 for a connection of 100), so 8 fit.
const groupsPerQuery = 8

// membersField reads one page of a group's effective members: the
// relations that REST members/all resolves (the group's own, its
// ancestors', and invited groups' capped at the invitation).
const membersField = `%s: group(fullPath: $p%[2]d) {
    groupMembers(first: 100, after: $a%[2]d, relations: [DIRECT, INHERITED, SHARED_FROM_GROUPS]) {
      pageInfo { hasNextPage endCursor }
      nodes { user { id username name state } accessLevel { integerValue } memberRole { name } }
    }
  }
`

type gqlMembers struct {
	GroupMembers struct {
		PageInfo struct {
			HasNextPage bool   `json:"hasNextPage"`
			EndCursor   string `json:"endCursor"`
		} `json:"pageInfo"`
		Nodes []struct {
			User *struct {
				ID       string `json:"id"`
				Username string `json:"username"`
				Name     string `json:"name"`
				State    string `json:"state"`
			} `json:"user"`
			AccessLevel struct {
				IntegerValue int `json:"integerValue"`
			} `json:"accessLevel"`
			MemberRole *struct {
				Name string `json:"name"`
			} `json:"memberRole"`
		} `json:"nodes"`
	} `json:"groupMembers"`
}

type gqlAnswer struct {
	Data   map[string]*gqlMembers `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// pendingPage is a group whose members are still to read, from after.
type pendingPage struct {
	i     int // index in the groups read
	after string
}

// memberReader reads the effective members of many groups through GraphQL:
// a round sends the groups still pending in batches (concurrently), each
// group's next page goes to the next round.
type memberReader struct {
	c      *client
	groups []group
	eff    [][]member // by group; each written by one batch at a time

	mu       sync.Mutex
	size     int
	warnings []string
}

func readGroupMembers(ctx context.Context, c *client, groups []group) ([][]member, []string, error) {
	r := &memberReader{c: c, groups: groups, eff: make([][]member, len(groups)), size: groupsPerQuery}
	queue := make([]pendingPage, len(groups))
	for i := range groups {
		queue[i] = pendingPage{i: i}
	}
	for len(queue) > 0 {
		var batches [][]pendingPage
		for n := r.batchSize(); len(queue) > 0; {
			k := min(n, len(queue))
			batches = append(batches, queue[:k])
			queue = queue[k:]
		}
		next := make([][]pendingPage, len(batches))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(cap(c.sem))
		for k, b := range batches {
			g.Go(func() (err error) {
				next[k], err = r.query(gctx, b)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, nil, err
		}
		for _, n := range next {
			queue = append(queue, n...)
		}
	}
	return r.eff, r.warnings, nil
}

func (r *memberReader) batchSize() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.size
}

// shrink halves the batch size after GitLab refused a query of n groups
// with GraphQL errors, and says so once per size.
func (r *memberReader) shrink(n int, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if next := max(n/2, 1); next < r.size {
		r.size = next
		r.warnings = append(r.warnings, fmt.Sprintf("GitLab refused a GraphQL query for the members of %d groups (%s); members are read %d groups per query", n, why, next))
	}
}

// query reads one page of each group of items and returns the groups with
// more pages. GraphQL errors (a complexity or other query limit) make it
// retry with half the groups per query; one group's errors fail the read.
func (r *memberReader) query(ctx context.Context, items []pendingPage) ([]pendingPage, error) {
	if n := r.batchSize(); len(items) > n {
		var more []pendingPage
		for len(items) > 0 {
			k := min(n, len(items))
			m, err := r.query(ctx, items[:k])
			if err != nil {
				return nil, err
			}
			more = append(more, m...)
			items = items[k:]
		}
		return more, nil
	}
	var q strings.Builder
	q.WriteString("query(")
	vars := map[string]any{}
	for k, it := range items {
		if k > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "$p%d: ID!, $a%d: String", k, k)
		vars["p"+strconv.Itoa(k)] = r.groups[it.i].path
		if it.after != "" {
			vars["a"+strconv.Itoa(k)] = it.after
		}
	}
	q.WriteString(") {\n")
	for k := range items {
		fmt.Fprintf(&q, "  "+membersField, "g"+strconv.Itoa(k), k)
	}
	q.WriteString("}")
	what := r.what(items)
	var ans gqlAnswer
	_, err := r.c.do(ctx, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		ans = gqlAnswer{}
		return r.c.gl.GraphQL.Do(gl.GraphQLQuery{Query: q.String(), Variables: vars}, &ans, o...)
	})
	if err != nil {
		var ge *gl.GraphQLResponseError
		if errors.As(err, &ge) {
			err = ge.Err // describe reads the HTTP status
		}
		return nil, describe(what, err)
	}
	if len(ans.Errors) > 0 {
		msgs := make([]string, len(ans.Errors))
		for i, e := range ans.Errors {
			msgs[i] = e.Message
		}
		why := strings.Join(msgs, "; ")
		if len(items) == 1 {
			return nil, identity.Errorf(identity.ErrUnavailable, "GitLab answered GraphQL errors to %s: %s", what, why)
		}
		r.shrink(len(items), why)
		return r.query(ctx, items)
	}
	var more []pendingPage
	for k, it := range items {
		d := ans.Data["g"+strconv.Itoa(k)]
		if d == nil {
			return nil, identity.Errorf(identity.ErrNotFound, "GitLab answered no group %s to %s: it does not exist or the token cannot see it", r.groups[it.i].path, what)
		}
		for _, n := range d.GroupMembers.Nodes {
			if n.User == nil {
				continue // an invitation by email: not a user yet
			}
			id, err := strconv.ParseInt(n.User.ID[strings.LastIndexByte(n.User.ID, '/')+1:], 10, 64)
			if err != nil {
				return nil, identity.Errorf(identity.ErrUnavailable, "GitLab answered a user id '%s' that is not a global id to %s", n.User.ID, what)
			}
			m := member{ID: id, Username: n.User.Username, Name: n.User.Name, State: n.User.State, AccessLevel: n.AccessLevel.IntegerValue}
			if n.MemberRole != nil {
				m.MemberRole = &memberRole{Name: n.MemberRole.Name}
			}
			r.eff[it.i] = append(r.eff[it.i], m)
		}
		if pi := d.GroupMembers.PageInfo; pi.HasNextPage {
			if pi.EndCursor == "" {
				return nil, identity.Errorf(identity.ErrUnavailable, "GitLab said the members of group %s go on but gave no cursor", r.groups[it.i].path)
			}
			more = append(more, pendingPage{i: it.i, after: pi.EndCursor})
		}
	}
	return more, nil
}

// what names a query's groups for errors: "list the members of groups a, b".
func (r *memberReader) what(items []pendingPage) string {
	paths := make([]string, len(items))
	for k, it := range items {
		paths[k] = r.groups[it.i].path
	}
	if len(paths) == 1 {
		return "list the members of group " + paths[0] + " (GraphQL)"
	}
	return "list the members of groups " + strings.Join(paths, ", ") + " (GraphQL)"
}
