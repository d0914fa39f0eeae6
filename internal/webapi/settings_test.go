package webapi

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

func TestSettingsTokenPolicy(t *testing.T) {
	s := newTestServer(t)
	_, userTok := orgTokUser(t, s, "dave")
	var got settingsPolicyJSON
	s.get("api/settings/token_policy", asAdmin).must(t, 200).json(t, &got)
	if !got.AllowNonExpiring || len(got.MaxLifetimeDays) != 5 || got.MaxLifetimeDays[identity.TokenOrganization] != 0 {
		t.Fatalf("default policy %+v", got)
	}
	cases := []struct {
		name   string
		cred   cred
		params []string
		status int
		want   map[identity.TokenType]int
		allow  bool
	}{
		{"one type", asAdmin, []string{"maxLifetime", "ORGANIZATION_TOKEN=90"}, 204, map[identity.TokenType]int{identity.TokenOrganization: 90}, true},
		{"several types and no non-expiring", asAdmin, []string{"maxLifetime", "USER_TOKEN=365", "maxLifetime", "SCIM_TOKEN=30", "allowNonExpiring", "false"}, 204,
			map[identity.TokenType]int{identity.TokenOrganization: 90, identity.TokenUser: 365, identity.TokenSCIM: 30}, false},
		{"no expiration clears a maximum", asAdmin, []string{"maxLifetime", "USER_TOKEN=0", "allowNonExpiring", "true"}, 204,
			map[identity.TokenType]int{identity.TokenOrganization: 90, identity.TokenSCIM: 30}, true},
		{"unknown type", asAdmin, []string{"maxLifetime", "ROOT_TOKEN=30"}, 400, nil, true},
		{"unsupported days", asAdmin, []string{"maxLifetime", "USER_TOKEN=45"}, 400, nil, true},
		{"no equals sign", asAdmin, []string{"maxLifetime", "USER_TOKEN"}, 400, nil, true},
		{"bad boolean", asAdmin, []string{"allowNonExpiring", "maybe"}, 400, nil, true},
		{"not admin", bearer(userTok), []string{"maxLifetime", "USER_TOKEN=30"}, 403, nil, true},
	}
	want := map[identity.TokenType]int{}
	allow := true
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.post("api/settings/set_token_policy", tc.cred, tc.params...).must(t, tc.status)
			if tc.status == 204 {
				want, allow = tc.want, tc.allow
			}
			var got settingsPolicyJSON
			s.get("api/settings/token_policy", asAdmin).must(t, 200).json(t, &got)
			for _, typ := range settingsTokenTypes {
				if got.MaxLifetimeDays[typ] != want[typ] {
					t.Fatalf("%s: %d days, want %d", typ, got.MaxLifetimeDays[typ], want[typ])
				}
			}
			if got.AllowNonExpiring != allow {
				t.Fatalf("allowNonExpiring %v, want %v", got.AllowNonExpiring, allow)
			}
		})
	}
	s.get("api/settings/set_token_policy", asAdmin).must(t, 405)
	s.get("api/settings/token_policy", bearer(userTok)).must(t, 403)
}
