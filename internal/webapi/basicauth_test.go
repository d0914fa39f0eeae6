package webapi

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestBasicAuthReusesPassword checks issue 7 item 9 through the API: once
// a script's basic-auth password is verified, its requests sign in from
// memory — shown by swapping the stored hash behind the state's back: the
// reused pair still works, the store's check would not — and a new
// password, an administrator's sign-out or a deactivation end the reuse
// at once.
func TestBasicAuthReusesPassword(t *testing.T) {
	db := sharedSQLite(t)
	s := newTestServerOn(t, db)
	s.createUser("alice")
	alice := userCred("alice")
	ctx := t.Context()
	// swapHash stores another password's hash for alice without telling
	// the state (no change is logged, nothing is dropped).
	swapHash := func() {
		t.Helper()
		h, err := password.Hash("not-the-password-1")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Tx(ctx, func(tx store.Tx) error {
			u, err := tx.GetUserByLogin(ctx, "alice")
			if err != nil {
				return err
			}
			u.PasswordHash = h
			return tx.UpdateUser(ctx, u)
		}); err != nil {
			t.Fatal(err)
		}
	}
	s.get("api/user_tokens/search", alice).must(t, 200)
	swapHash()
	s.get("api/user_tokens/search", alice).must(t, 200) // from memory
	s.get("api/user_tokens/search", cred{login: "alice", pw: "not-the-password-1"}).must(t, 200)

	// A new password (through the state) drops the reuse.
	s.post("api/users/change_password", asAdmin, "login", "alice", "password", "alice-password-2").must(t, 204)
	s.get("api/user_tokens/search", alice).must(t, 401)
	s.get("api/user_tokens/search", cred{login: "alice", pw: "not-the-password-1"}).must(t, 401)

	// An administrator's sign-out drops it.
	alice.pw = "alice-password-2"
	s.get("api/user_tokens/search", alice).must(t, 200)
	swapHash()
	s.get("api/user_tokens/search", alice).must(t, 200)
	s.post("api/sessions/sign_out", asAdmin, "login", "alice").must(t, 200)
	s.get("api/user_tokens/search", alice).must(t, 401)

	// So does a deactivation.
	s.get("api/user_tokens/search", cred{login: "alice", pw: "not-the-password-1"}).must(t, 200)
	s.post("api/users/deactivate", asAdmin, "login", "alice").must(t, 200)
	s.get("api/user_tokens/search", cred{login: "alice", pw: "not-the-password-1"}).must(t, 401)
}
