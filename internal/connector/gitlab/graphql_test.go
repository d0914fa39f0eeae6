package gitlab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// readMembersBy reads with group members from GraphQL or, with rest, from
// one REST members/all listing per group.
func readMembersBy(t testing.TB, v map[string]string, rest bool) (provision.Snapshot, error) {
	t.Helper()
	src, err := testConnector().Open(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	src.(*source).restMembers = rest
	return src.Read(context.Background())
}

func roots(f *gitlabsim.Fixture) string {
	var out []string
	for _, g := range f.Groups {
		if !strings.Contains(g.FullPath, "/") {
			out = append(out, g.FullPath)
		}
	}
	return strings.Join(out, ",")
}

func TestGraphQLSameSnapshotAsREST(t *testing.T) {
	tests := []struct {
		name string
		fix  *gitlabsim.Fixture
	}{
		{"example", gitlabsim.Example()},
		{"scale of 400 users", gitlabsim.Scale(gitlabsim.ScaleOptions{Users: 400, Groups: 700, Seed: 11})},
		{"groups of 250 members", bigFixture(250, 20, 30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := startSim(t, tt.fix, gitlabsim.Options{})
			v := values(ts.URL, SettingAllowedGroups+"="+roots(tt.fix))
			rest, err := readMembersBy(t, v, true)
			if err != nil {
				t.Fatal(err)
			}
			restReqs := sim.Stats().Requests
			sim.ResetStats()
			gql, err := readMembersBy(t, v, false)
			if err != nil {
				t.Fatal(err)
			}
			gqlReqs := sim.Stats().Requests
			if len(rest.Memberships) == 0 || len(rest.Permissions) == 0 {
				t.Fatalf("nothing read: %d memberships, %d permissions", len(rest.Memberships), len(rest.Permissions))
			}
			if fmt.Sprint(gql) != fmt.Sprint(rest) {
				t.Errorf("snapshots differ: GraphQL %d users, %d memberships, %d permissions; REST %d, %d, %d",
					len(gql.Users), len(gql.Memberships), len(gql.Permissions), len(rest.Users), len(rest.Memberships), len(rest.Permissions))
			}
			t.Logf("%d groups: %d requests with REST members, %d with GraphQL", len(rest.Groups), restReqs, gqlReqs)
			if len(rest.Groups) > groupsPerQuery && gqlReqs >= restReqs {
				t.Errorf("GraphQL took %d requests, REST %d", gqlReqs, restReqs)
			}
		})
	}
}

func TestGraphQLMembersPagination(t *testing.T) {
	// 21 groups of 250 effective members: 3 pages each, 8 groups a query.
	sim, ts := startSim(t, bigFixture(250, 20, 0), gitlabsim.Options{})
	snap := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if len(snap.Users) != 250 || len(snap.Memberships) != 21*250 {
		t.Errorf("%d users, %d memberships: want 250, %d", len(snap.Users), len(snap.Memberships), 21*250)
	}
	v := viewOf(snap)
	if got := len(v.members["big/sub019"]); got != 250 {
		t.Errorf("big/sub019 has %d members", got)
	}
	// group + descendants + projects + custom roles, then 3 rounds of
	// ⌈21/8⌉ = 3 queries.
	if got, want := sim.Stats().Requests, int64(4+3*3); got != want {
		t.Errorf("%d requests, want %d", got, want)
	}
}

func TestGraphQLComplexityFallback(t *testing.T) {
	f := bigFixture(150, 7, 10) // 8 groups: one query, until refused
	_, ts := startSim(t, f, gitlabsim.Options{})
	want, err := readMembersBy(t, values(ts.URL, SettingAllowedGroups+"=big"), true)
	if err != nil {
		t.Fatal(err)
	}
	// A group costs 29: at 100, 8 and 4 groups are refused, 2 pass.
	sim, ts := startSim(t, f, gitlabsim.Options{GraphQLComplexity: 100})
	got := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if len(got.Warnings) != 2 ||
		!strings.Contains(got.Warnings[0], "refused a GraphQL query for the members of 8 groups (Query has complexity of 232, which exceeds max complexity of 100); members are read 4 groups per query") ||
		!strings.Contains(got.Warnings[1], "of 4 groups (Query has complexity of 116, which exceeds max complexity of 100); members are read 2 groups per query") {
		t.Errorf("warnings %q", got.Warnings)
	}
	got.Warnings = want.Warnings
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Error("the snapshot read in smaller batches differs")
	}
	t.Logf("%d requests", sim.Stats().Requests)

	// Not even one group fits: an error, no snapshot.
	_, ts = startSim(t, f, gitlabsim.Options{GraphQLComplexity: 20})
	snap, err := read(t, testConnector(), values(ts.URL, SettingAllowedGroups+"=big"))
	if err == nil || !errors.Is(err, identity.ErrUnavailable) || !strings.Contains(err.Error(), "GraphQL errors to list the members of group big") || len(snap.Users) != 0 {
		t.Errorf("error %v, %d users", err, len(snap.Users))
	}
}

func TestGraphQLRetriesAfter429(t *testing.T) {
	sim, ts := startSim(t, bigFixture(150, 3, 0), gitlabsim.Options{})
	sim.Inject(gitlabsim.Fault{Path: "/api/graphql", Status: 429, Times: 1}) // Retry-After: 1
	start := time.Now()
	snap := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if d := time.Since(start); d < time.Second {
		t.Errorf("read in %v: the Retry-After of 1 s was not waited", d)
	}
	if len(snap.Memberships) != 4*150 {
		t.Errorf("%d memberships", len(snap.Memberships))
	}
	// 4 REST requests, 2 GraphQL pages, 1 retry.
	if st := sim.Stats(); st.Faulted != 1 || st.Requests != 4+2+1 {
		t.Errorf("stats %+v", st)
	}
}

func TestGraphQLRateLimited(t *testing.T) {
	// 5 requests a second, 4 REST and 6 GraphQL needed: the pacer waits
	// for the next window on the GraphQL requests too.
	sim, ts := startSim(t, bigFixture(150, 40, 0), gitlabsim.Options{RateLimit: 5, RateWindow: time.Second})
	snap := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if len(snap.Memberships) != 41*150 {
		t.Errorf("%d memberships", len(snap.Memberships))
	}
	st := sim.Stats()
	t.Logf("%d requests, %d rate-limited", st.Requests, st.RateLimited)
	if st.RateLimited > 8 {
		t.Errorf("%d requests rate-limited", st.RateLimited)
	}
}

func TestRESTMembersFailMidListing(t *testing.T) {
	sim, ts := startSim(t, bigFixture(150, 3, 5), gitlabsim.Options{})
	sim.Inject(gitlabsim.Fault{Path: "/members/all", Page: 2, Status: 500})
	snap, err := readMembersBy(t, values(ts.URL, SettingAllowedGroups+"=big"), true)
	if err == nil || !strings.Contains(err.Error(), "page 2") || len(snap.Users) != 0 {
		t.Errorf("error %v, %d users", err, len(snap.Users))
	}
}
