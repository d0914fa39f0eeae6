package conformance

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var settingTests = []test{
	{"GetAndSet", testSettings},
}

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	const key = "token.max_lifetime_days"
	_, err := s.GetSetting(ctx, key)
	wantErrIs(t, "GetSetting of an unset key", err, identity.ErrNotFound)

	set := func(key, value string) {
		t.Helper()
		write(t, s, func(tx store.Tx) error { return tx.SetSetting(ctx, key, value) })
	}
	check := func(key, want string) {
		t.Helper()
		got, err := s.GetSetting(ctx, key)
		noErr(t, "GetSetting("+key+")", err)
		if got != want {
			t.Errorf("GetSetting(%q) = %q, want %q", key, got, want)
		}
	}
	set(key, "90")
	check(key, "90")
	set(key, "30") // an upsert, not a second row
	check(key, "30")
	set("token.allow_non_expiring", "")
	check("token.allow_non_expiring", "")
	check(key, "30")
}
