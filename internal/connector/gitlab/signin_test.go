package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

const callback = "https://gatehouse.example.com/oauth2/callback/gitlab"

func signInValues(url string, extra ...string) map[string]string {
	return values(url, append([]string{SettingApplicationID + "=gatehouse-app", SettingSecret + "=gatehouse-secret", SettingAllowedGroups + "=acme,partners"}, extra...)...)
}

// authorize plays the browser: it follows the sign-in URL to GitLab as
// login and returns the code and state GitLab redirects back with.
func authorize(t *testing.T, si *SignIn, state, login string) (code, gotState string) {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(si.AuthCodeURL(state) + "&login=" + url.QueryEscape(login))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %s", resp.Status)
	}
	to, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return to.Query().Get("code"), to.Query().Get("state")
}

func TestSignIn(t *testing.T) {
	_, ts := startSim(t, gitlabsim.Example(), gitlabsim.Options{})
	si, err := Connector{}.OpenSignIn(signInValues(ts.URL), callback)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		login  string
		groups string
	}{
		{"bob", "[acme/backend acme/backend/payments]"},
		{"alice", "[acme acme/backend acme/backend/payments acme/frontend]"},
		{"grace", "[acme acme/backend acme/backend/payments acme/frontend partners]"}, // invited into acme
		{"heidi", "[]"}, // a project member only
		{"ivan", "[]"},  // in a group that is not allowed
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			state := NewState()
			code, got := authorize(t, si, state, tt.login)
			if got != state {
				t.Fatalf("state %q came back as %q", state, got)
			}
			acc, err := si.Exchange(context.Background(), code, got, state)
			if err != nil {
				t.Fatal(err)
			}
			if acc.User.Login != tt.login || !acc.User.Active || acc.User.Email != tt.login+"@example.com" || acc.User.ExternalID == "" {
				t.Errorf("user %+v", acc.User)
			}
			var names []string
			for _, g := range acc.Groups {
				names = append(names, g.Name)
			}
			if !acc.GroupsSynced || fmt.Sprint(names) != tt.groups && !(names == nil && tt.groups == "[]") {
				t.Errorf("groups %v (synced %v), want %s", names, acc.GroupsSynced, tt.groups)
			}
		})
	}
}

func TestSignInSameAsSync(t *testing.T) {
	// A sign-in's groups are the user's memberships in a full sync.
	_, ts := startSim(t, gitlabsim.Example(), gitlabsim.Options{})
	v := signInValues(ts.URL)
	snap := viewOf(mustRead(t, v))
	si, err := Connector{}.OpenSignIn(v, callback)
	if err != nil {
		t.Fatal(err)
	}
	for login := range snap.users {
		if !snap.users[login].Active {
			continue // GitLab does not sign in blocked users
		}
		want := []string{}
		for _, g := range snap.groups {
			for _, m := range snap.members[g] {
				if m == login {
					want = append(want, g)
				}
			}
		}
		state := NewState()
		code, _ := authorize(t, si, state, login)
		acc, err := si.Exchange(context.Background(), code, state, state)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, g := range acc.Groups {
			got = append(got, g.Name)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: sign-in groups %v, sync memberships %v", login, got, want)
		}
	}
}

func TestSignInRefused(t *testing.T) {
	_, ts := startSim(t, gitlabsim.Example(), gitlabsim.Options{})
	si, err := Connector{}.OpenSignIn(signInValues(ts.URL), callback)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Run("state mismatch", func(t *testing.T) {
		state := NewState()
		code, got := authorize(t, si, state, "bob")
		if _, err := si.Exchange(ctx, code, got, NewState()); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("Exchange = %v", err)
		}
		if _, err := si.Exchange(ctx, code, "", ""); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("empty state: %v", err)
		}
	})
	t.Run("code used twice", func(t *testing.T) {
		state := NewState()
		code, _ := authorize(t, si, state, "bob")
		if _, err := si.Exchange(ctx, code, state, state); err != nil {
			t.Fatal(err)
		}
		if _, err := si.Exchange(ctx, code, state, state); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("second Exchange = %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		bad, err := Connector{}.OpenSignIn(signInValues(ts.URL, SettingSecret+"=nope"), callback)
		if err != nil {
			t.Fatal(err)
		}
		state := NewState()
		code, _ := authorize(t, bad, state, "bob")
		if _, err := bad.Exchange(ctx, code, state, state); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("Exchange = %v", err)
		}
	})
	t.Run("no application", func(t *testing.T) {
		if _, err := (Connector{}).OpenSignIn(values(ts.URL), callback); !errors.Is(err, identity.ErrInvalid) {
			t.Errorf("OpenSignIn = %v", err)
		}
	})
}

func TestSignInWithoutJIT(t *testing.T) {
	_, ts := startSim(t, gitlabsim.Example(), gitlabsim.Options{})
	si, err := Connector{}.OpenSignIn(signInValues(ts.URL, SettingJITEnabled+"=false"), callback)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(si.AuthCodeURL("s")); u.Query().Get("scope") != "read_user" {
		t.Errorf("scope %q, want read_user only", u.Query().Get("scope"))
	}
	code, _ := authorize(t, si, "s", "bob")
	acc, err := si.Exchange(context.Background(), code, "s", "s")
	if err != nil {
		t.Fatal(err)
	}
	if acc.GroupsSynced || acc.Groups != nil || acc.User.Login != "bob" {
		t.Errorf("account %+v", acc)
	}
}
