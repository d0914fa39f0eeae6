package importer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/importer"
)

// recorded serves SonarQube's answers from testdata, keyed by path and
// sorted query; faults maps a key to statuses answered (in turn) before
// the recorded answer.
type recorded struct {
	t       *testing.T
	answers map[string]json.RawMessage
	mu      sync.Mutex
	faults  map[string][]int
	calls   map[string]int
}

func newRecorded(t *testing.T, faults map[string][]int) (*recorded, string) {
	t.Helper()
	b, err := os.ReadFile("testdata/sonarqube-answers.json")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorded{t: t, faults: faults, calls: map[string]int{}}
	if err := json.Unmarshal(b, &r.answers); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *recorded) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer squ_recorded" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	key := strings.TrimPrefix(req.URL.Path, "/") + "?" + req.URL.Query().Encode()
	r.mu.Lock()
	r.calls[key]++
	var fault int
	if fs := r.faults[key]; len(fs) > 0 {
		fault, r.faults[key] = fs[0], fs[1:]
	}
	r.mu.Unlock()
	if fault != 0 {
		if fault == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(fault)
		_, _ = w.Write([]byte(`{"errors":[{"msg":"try again"}]}`))
		return
	}
	body, ok := r.answers[key]
	if !ok {
		r.t.Errorf("unrecorded request %s", key)
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errors":[{"msg":"Unknown url"}]}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func TestImportRecordedSonarQube(t *testing.T) {
	ctx := context.Background()
	rec, url := newRecorded(t, map[string][]int{
		"api/users/search?p=1&ps=500":       {http.StatusTooManyRequests},
		"api/permissions/search_templates?": {http.StatusServiceUnavailable, http.StatusBadGateway},
	})
	sq := &importer.SonarQube{URL: url + "/", Token: "squ_recorded", Rate: 1000, Backoff: time.Millisecond}
	ds, err := sq.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec.calls["api/users/search?p=1&ps=500"] != 2 || rec.calls["api/permissions/search_templates?"] != 3 {
		t.Errorf("retries: %v", rec.calls)
	}
	if _, asked := rec.calls["api/user_groups/users?name=sonar-users&p=1&ps=500&selected=selected"]; asked {
		t.Error("the members of sonar-users were read")
	}
	if len(ds.Users) != 3 || ds.Users[2].Login != "msmith" || !slices.Equal(ds.Users[2].SCMAccounts, []string{"msmith", "mark.smith@old.example"}) {
		t.Errorf("users %+v", ds.Users)
	}
	wantTokens := []importer.Token{
		{Login: "admin", Name: "sonar-scanner", Type: "GLOBAL_ANALYSIS_TOKEN"},
		{Login: "msmith", Name: "laptop", Type: "USER_TOKEN"},
		{Login: "msmith", Name: "web-ci", Type: "PROJECT_ANALYSIS_TOKEN", Project: "acme:web"},
	}
	if !slices.Equal(ds.Tokens, wantTokens) {
		t.Errorf("tokens %+v", ds.Tokens)
	}

	g := newGatehouse(t)
	sum, err := g.writer("import:sonarqube").Apply(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if sum.FailureCount != 0 {
		t.Fatalf("failures %+v", sum.Failures)
	}
	if sum.ExternalUsers["github"] != 1 || sum.ExternalUsers["saml"] != 1 || len(sum.ExternalUsers) != 2 || sum.NoPassword != 3 {
		t.Errorf("external %v, without password %d", sum.ExternalUsers, sum.NoPassword)
	}
	got := g.dump(t)
	for _, want := range []string{
		`user msmith "Mark Smith" m.smith@corp.example active=true scm=[msmith mark.smith@old.example]`,
		`member developers jdoe`,
		`member sonar-administrators admin`,
		`project acme:lib "Acme library" public`,
		`grant global group:developers scan`,
		`grant global group:sonar-administrators profileadmin`,
		`grant global user:admin admin`,
		`grant acme:web user:msmith user`,
		`grant acme:web group:developers codeviewer`,
		`grant acme:lib group:sonar-users securityhotspotadmin`,
		`template Acme web "Web applications" "acme:web.*" default=true [creator=admin group:developers=scan group:developers=user user:msmith=admin]`,
		`template Default template "This permission template will be used as default when no other permission configuration is available" "" default=false [group:sonar-administrators=admin group:sonar-users=codeviewer group:sonar-users=issueadmin group:sonar-users=securityhotspotadmin group:sonar-users=user]`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s", want)
		}
	}
	// No template was applied to the imported projects: acme:web has only
	// its own seven grants, not the default template's.
	n := 0
	for _, l := range got {
		if strings.HasPrefix(l, "grant acme:web ") {
			n++
		}
	}
	if n != 7 {
		t.Errorf("acme:web has %d grants; want its 7:\n%s", n, strings.Join(got, "\n"))
	}
}

func TestSonarQubeRefusals(t *testing.T) {
	ctx := context.Background()
	_, url := newRecorded(t, map[string][]int{"api/users/search?p=1&ps=500": {503, 503, 503}})
	cases := []struct {
		name string
		sq   importer.SonarQube
		want string
	}{
		{"bad token", importer.SonarQube{URL: url, Token: "wrong"}, "HTTP 401"},
		{"retries exhausted", importer.SonarQube{URL: url, Token: "squ_recorded", Retries: 2, Backoff: time.Millisecond}, "HTTP 503: try again"},
		{"no token", importer.SonarQube{URL: url}, "token is required"},
		{"bad url", importer.SonarQube{URL: "ftp://x", Token: "t"}, "want http(s)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sq := tc.sq
			sq.Rate = 1000
			_, err := sq.Read(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "squ_recorded") {
				t.Error("the token is in the error")
			}
		})
	}
}

func TestSonarQubeRate(t *testing.T) {
	_, url := newRecorded(t, nil)
	sq := &importer.SonarQube{URL: url, Token: "squ_recorded", Rate: 40}
	start := time.Now()
	if _, err := sq.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The first request goes at once, each further one 25 ms later.
	if min := time.Duration(sq.Requests-1) * time.Second / 40; time.Since(start) < min {
		t.Errorf("%d requests in %s; at 40/s they take ≥ %s", sq.Requests, time.Since(start), min)
	}
}
