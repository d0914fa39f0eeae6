package webapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// postJSON sends a JSON body as the administrator.
func (s *testServer) postJSON(path, body string) response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+"/"+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(asAdmin.login, asAdmin.pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b, header: resp.Header}
}

type bulkAnswerJSON struct {
	Errors  []errorMsg       `json:"errors"`
	Summary bulkSummaryJSON  `json:"summary"`
	Results []bulkResultJSON `json:"results"`
}

func statuses(a bulkAnswerJSON) string {
	var b bytes.Buffer
	for _, r := range a.Results {
		b.WriteString(r.Status)
		for _, e := range r.Errors {
			b.WriteString("(" + e.Msg + ")")
		}
		b.WriteString(" ")
	}
	return strings.TrimSpace(b.String())
}

func TestBulkActions(t *testing.T) {
	s := newTestServer(t)
	s.post("api/user_groups/create", asAdmin, "name", "devs").must(t, 200)
	s.post("api/projects/create", asAdmin, "project", "app", "name", "App", "visibility", "private").must(t, 200)

	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"users", "api/bulk/create_users", `{"items":[{"login":"ann","name":"Ann"},{"login":"bob","name":"Bob","email":"bob@example.com"},{"login":"ann","name":"Again"}]}`,
			200, "changed changed failed(An active user with login 'ann' already exists)"},
		{"users skip existing", "api/bulk/create_users?existing=skip", `{"items":[{"login":"ann","name":"Ann"},{"login":"cid","name":"Cid"}]}`,
			200, "unchanged changed"},
		{"members", "api/bulk/add_group_members", `{"items":[{"group":"devs","login":"ann"},{"group":"devs","login":"nobody"},{"group":"nogroup","login":"bob"},{"group":"devs","login":"ann"}]}`,
			200, "changed failed(Could not find a user with login 'nobody') failed(No group with name 'nogroup') unchanged"},
		{"members atomic", "api/bulk/add_group_members?atomic=true", `{"items":[{"group":"devs","login":"bob"},{"group":"devs","login":"nobody"}]}`,
			400, "notWritten failed(Could not find a user with login 'nobody')"},
		{"permissions", "api/bulk/add_permissions", `{"items":[{"login":"bob","permission":"scan","projectKey":"app"},{"group":"devs","permission":"codeviewer","projectKey":"app"},{"group":"anyone","permission":"admin"},{"login":"bob","permission":"nope","projectKey":"app"},{"permission":"scan","projectKey":"missing","login":"bob"},{"group":"devs","login":"bob","permission":"scan"}]}`,
			200, "changed changed failed(It is not possible to add the 'admin' permission to group 'Anyone'.) failed(Value of parameter 'permission' (nope) must be one of: [admin, codeviewer, issueadmin, securityhotspotadmin, scan, user]) failed(Component key 'missing' not found) failed(An item names either a 'login' or a 'group')"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.postJSON(tc.path, tc.body)
			var a bulkAnswerJSON
			r.json(t, &a)
			if r.status != tc.status {
				t.Errorf("status %d; want %d: %s", r.status, tc.status, r.body)
			}
			if got := statuses(a); got != tc.want {
				t.Errorf("results\n got %s\nwant %s", got, tc.want)
			}
			if tc.status == 400 && len(a.Errors) == 0 {
				t.Error("an atomic refusal without a top-level error")
			}
		})
	}
	// The atomic refusal wrote nothing: bob is not in devs.
	var users struct {
		Users []struct{ Login string } `json:"users"`
	}
	s.get("api/user_groups/users", asAdmin, "name", "devs").must(t, 200).json(t, &users)
	if len(users.Users) != 1 || users.Users[0].Login != "ann" {
		t.Errorf("devs members %+v; want ann only", users.Users)
	}
	// Each item has its own audit event.
	evs, _, err := s.st.Store().ListAudit(t.Context(), store.AuditFilter{Action: "permission.add"})
	if err != nil || len(evs) != 2 {
		t.Errorf("permission.add events %d, %v; want 2", len(evs), err)
	}
}

func TestBulkRefusesBadRequests(t *testing.T) {
	s := newTestServer(t)
	many := make([]map[string]string, 1001)
	for i := range many {
		many[i] = map[string]string{"group": "g", "login": "u"}
	}
	tooMany, _ := json.Marshal(map[string]any{"items": many})
	for _, tc := range []struct{ name, body, want string }{
		{"empty", `{"items":[]}`, "The 'items' list is missing or empty"},
		{"not json", `items=1`, "The request body is not a valid bulk request"},
		{"unknown field", `{"items":[{"group":"g","login":"u","x":1}]}`, "The request body is not a valid bulk request"},
		{"two values", `{"items":[{"group":"g","login":"u"}]} {}`, "The request body holds more than one JSON value"},
		{"too many", string(tooMany), "A bulk request holds at most 1000 items, got 1001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.postJSON("api/bulk/add_group_members", tc.body)
			if r.status != 400 || !strings.HasPrefix(r.errMsg(t), tc.want) {
				t.Errorf("%d %s; want 400 %q", r.status, r.body, tc.want)
			}
		})
	}
	// Only administrators; form bodies are refused with a clear message.
	s.createUser("joe")
	s.post("api/bulk/create_users", cred{login: "joe", pw: "joe-password-1"}).must(t, 403)
	if msg := s.post("api/bulk/create_users", asAdmin, "items", "[]").must(t, 400).errMsg(t); !strings.Contains(msg, "must be JSON") {
		t.Errorf("form body: %q", msg)
	}
}
