package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// MinPasswordLen is SonarQube's minimum password length.
const MinPasswordLen = 12

// userView is what the audit log records of a user: never the password hash.
type userView struct {
	Login       string          `json:"login"`
	Name        string          `json:"name"`
	Email       string          `json:"email,omitempty"`
	Source      identity.Source `json:"source"`
	ExternalID  string          `json:"externalId,omitempty"`
	Provider    string          `json:"provider,omitempty"`
	Active      bool            `json:"active"`
	SCMAccounts []string        `json:"scmAccounts,omitempty"`
}

func viewUser(u identity.User) *userView {
	return &userView{Login: u.Login, Name: u.Name, Email: u.Email, Source: u.Source, ExternalID: u.ExternalID, Provider: u.Provider, Active: u.Active, SCMAccounts: u.SCMAccounts}
}

// NewUser describes a user to create.
type NewUser struct {
	Login, Name, Email string
	// Password is required for local users who sign in with a password.
	Password   string
	Source     identity.Source // local when empty
	ExternalID string
	// Provider is the identity provider a local user without a password
	// signs in through ([identity.User.Provider]).
	Provider    string
	SCMAccounts []string
}

// CreateUser creates a user, or reactivates a deactivated user of the same
// login (SonarQube's behaviour), and returns it.
func (s *State) CreateUser(ctx context.Context, n NewUser) (identity.User, error) {
	u, err := s.prepareUser(ctx, n)
	if err != nil {
		return identity.User{}, err
	}
	var out identity.User
	err = s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		created, a, apply, err := s.createUserTx(ctx, tx, u, false)
		out = created
		return a, apply, err
	})
	return out, err
}

// CreateLocalUser creates a local user who signs in with a password: the
// password is mandatory (a user of an identity provider is made with
// [State.CreateUser] and a Provider).
func (s *State) CreateLocalUser(ctx context.Context, n NewUser) (identity.User, error) {
	if n.Password == "" {
		return identity.User{}, identity.Errorf(identity.ErrInvalid, "Password is mandatory and must not be empty")
	}
	n.Source, n.Provider = identity.SourceLocal, ""
	return s.CreateUser(ctx, n)
}

// prepareUser checks a new user against the rules that need no store and
// hashes its password (outside the write lock: hashing is slow).
func (s *State) prepareUser(ctx context.Context, n NewUser) (identity.User, error) {
	if n.Source == "" {
		n.Source = identity.SourceLocal
	}
	u := identity.User{Login: n.Login, Name: n.Name, Email: n.Email, Source: n.Source, ExternalID: n.ExternalID, Provider: n.Provider, Active: true, SCMAccounts: n.SCMAccounts}
	if u.Provider != "" && n.Password != "" {
		return identity.User{}, identity.Errorf(identity.ErrInvalid, "Password should only be set on local user")
	}
	if err := identity.ValidateUser(u); err != nil {
		return identity.User{}, err
	}
	if err := mayEdit(ctx, n.Source, "Operation not allowed when the instance is externally managed."); err != nil {
		return identity.User{}, err
	}
	if n.Password != "" {
		if err := checkPasswordRules(n.Password); err != nil {
			return identity.User{}, err
		}
		h, err := s.hashPassword(ctx, n.Password)
		if err != nil {
			return identity.User{}, err
		}
		u.PasswordHash = h
	}
	return u, nil
}

// errLoginTaken is creating a user whose login an active user holds: a
// 400 to the Web API (SonarQube's answer), and, to an external sign-in
// that raced a sync creating the same account, the cue to take that one.
var errLoginTaken = fmt.Errorf("%w: login taken", identity.ErrInvalid)

// createUserTx creates (or reactivates) a prepared user inside a write, for
// [State.CreateUser] and the bulk path. Its domain errors come before any
// write. With skipActive an existing active user is left as it is (an empty
// audit) instead of being an error.
func (s *State) createUserTx(ctx context.Context, tx store.Tx, u identity.User, skipActive bool) (identity.User, audit, func(), error) {
	old, err := tx.GetUserByLogin(ctx, u.Login)
	switch {
	case err == nil && old.Active && skipActive:
		return old, audit{}, nil, nil
	case err == nil && old.Active:
		return identity.User{}, audit{}, nil, identity.Errorf(errLoginTaken, "An active user with login '%s' already exists", u.Login)
	case err == nil:
		// Reactivating must not turn a user of a source into someone
		// else's: only that source may bring it back.
		if err := mayEdit(ctx, old.Source, "Operation not allowed when the instance is externally managed."); err != nil {
			return identity.User{}, audit{}, nil, err
		}
		u.ID, u.CreatedAt = old.ID, old.CreatedAt
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return identity.User{}, audit{}, nil, err
		}
		return u, audit{Action: "user.reactivate", Target: "user:" + u.Login, Before: viewUser(old), After: viewUser(u)}, func() { s.index.PutUser(u) }, nil
	case !errors.Is(err, identity.ErrNotFound):
		return identity.User{}, audit{}, nil, err
	}
	out, err := tx.CreateUser(ctx, u)
	if err != nil {
		return identity.User{}, audit{}, nil, err
	}
	return out, audit{Action: "user.create", Target: "user:" + u.Login, After: viewUser(out)}, func() { s.index.PutUser(out) }, nil
}

// UserUpdate holds the fields to change; nil leaves a field as it is.
type UserUpdate struct {
	Name, Email, ExternalID *string
	SCMAccounts             *[]string
	Login                   *string
	// Provider moves a local user to an identity provider: its password is
	// dropped, as it signs in through the provider from then on.
	Provider *string
}

// UpdateUser changes a user's attributes. Name and e-mail of a managed user
// are read-only except to its source's connector.
func (s *State) UpdateUser(ctx context.Context, login string, upd UserUpdate) (identity.User, error) {
	var out identity.User
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := getUser(ctx, tx, login)
		if err != nil {
			return audit{}, nil, err
		}
		u := old
		if upd.Name != nil {
			u.Name = *upd.Name
		}
		if upd.Email != nil {
			u.Email = *upd.Email
		}
		if upd.ExternalID != nil {
			u.ExternalID = *upd.ExternalID
		}
		if upd.SCMAccounts != nil {
			u.SCMAccounts = *upd.SCMAccounts
		}
		if upd.Login != nil {
			u.Login = *upd.Login
		}
		if upd.Provider != nil {
			if err := mayEdit(ctx, old.Source, "Operation not allowed when the instance is externally managed."); err != nil {
				return audit{}, nil, err
			}
			u.Provider = *upd.Provider
			if u.Provider != "" {
				u.PasswordHash = ""
			}
		}
		if u.Name != old.Name || u.Email != old.Email || u.Login != old.Login || u.ExternalID != old.ExternalID {
			if err := mayEdit(ctx, old.Source, "It is not allowed to update name/email for this user"); err != nil {
				return audit{}, nil, err
			}
		}
		if err := identity.ValidateUser(u); err != nil {
			return audit{}, nil, err
		}
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return audit{}, nil, err
		}
		out = u
		apply := func() { s.index.PutUser(out) }
		if u.Provider != old.Provider {
			// Its password no longer signs it in, nor do sessions made
			// with it.
			ended, _, err := s.endUserSessions(ctx, tx, u.ID)
			if err != nil {
				return audit{}, nil, err
			}
			apply = func() { s.index.PutUser(out); ended() }
		}
		return audit{Action: "user.update", Target: "user:" + login, Before: viewUser(old), After: viewUser(u)}, apply, nil
	})
	return out, err
}

// SetUserActive activates or deactivates a user. A deactivated user's tokens
// stop working at once; they are kept for audit.
func (s *State) SetUserActive(ctx context.Context, login string, active bool) (identity.User, error) {
	return s.setUserActive(ctx, login, active, false)
}

// DeactivateUser deactivates a user as SonarQube's api/users/deactivate
// does: besides [State.SetUserActive], its e-mail address is cleared, so
// a deactivated user can no longer be found by it. No one deactivates
// themselves (the acting user of ctx).
func (s *State) DeactivateUser(ctx context.Context, login string) (identity.User, error) {
	if id := ActorFrom(ctx).UserID; id != 0 && s.index.Login(id) == login {
		return identity.User{}, identity.Errorf(identity.ErrInvalid, "Self-deactivation is not possible")
	}
	return s.setUserActive(ctx, login, false, true)
}

func (s *State) setUserActive(ctx context.Context, login string, active, clearEmail bool) (identity.User, error) {
	var out identity.User
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := getUser(ctx, tx, login)
		if err != nil {
			return audit{}, nil, err
		}
		if err := mayEdit(ctx, old.Source, "Operation not allowed when the instance is externally managed."); err != nil {
			return audit{}, nil, err
		}
		if old.Active == active && (!clearEmail || old.Email == "") {
			out = old
			return audit{}, nil, nil
		}
		if !active && old.Active {
			if s.removesLastAdmin(authz.Without{User: old.ID}) {
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "The last administrator user cannot be deactivated")
			}
		}
		u := old
		u.Active = active
		if clearEmail {
			u.Email = ""
		}
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return audit{}, nil, err
		}
		out = u
		action := "user.activate"
		var gone deactivation
		if !active {
			action = "user.deactivate"
		}
		if !active && old.Active {
			if gone, err = s.deactivate(ctx, tx, u); err != nil {
				return audit{}, nil, err
			}
		}
		apply := func() {
			s.index.PutUser(out)
			gone.apply(s, out.ID)
		}
		after := map[string]any{"user": viewUser(u), "tokensRevoked": len(gone.tokens), "groupsLeft": len(gone.groups), "grantsRemoved": len(gone.grants)}
		return audit{Action: action, Target: "user:" + login, Before: viewUser(old), After: after}, apply, nil
	})
	return out, err
}

// deactivation is what deactivating a user took away.
type deactivation struct {
	tokens   []int64
	groups   []int64
	grants   []identity.Grant
	sessions func()
}

// deactivate revokes every live token of u (kept for audit, never to work
// again: reactivating the account must not revive a leaked token) and, for
// a local user, removes its memberships and direct grants as SonarQube does.
// A managed user keeps them: its source owns them and re-syncs them.
func (s *State) deactivate(ctx context.Context, tx store.Tx, u identity.User) (deactivation, error) {
	var d deactivation
	// Its sessions end for good: reactivating the account (or re-creating
	// its login) starts with none.
	var err error
	if d.sessions, _, err = s.endUserSessions(ctx, tx, u.ID); err != nil {
		return d, err
	}
	uid := u.ID
	ts, _, err := tx.ListTokens(ctx, store.TokenFilter{UserID: &uid})
	if err != nil {
		return d, err
	}
	for _, t := range ts {
		t.RevokedAt = s.now()
		t.PrevHash, t.PrevValidUntil = nil, time.Time{}
		if err := tx.UpdateToken(ctx, t); err != nil {
			return d, err
		}
		d.tokens = append(d.tokens, t.ID)
	}
	if u.Source.Managed() {
		return d, nil
	}
	ms, err := tx.ListMemberships(ctx, u.ID, 0)
	if err != nil {
		return d, err
	}
	for _, m := range ms {
		if _, err := tx.RemoveMember(ctx, m.UserID, m.GroupID); err != nil {
			return d, err
		}
		d.groups = append(d.groups, m.GroupID)
	}
	sub := identity.UserSubject(u.ID)
	gs, err := tx.ListGrants(ctx, store.GrantFilter{Subject: &sub})
	if err != nil {
		return d, err
	}
	for _, g := range gs {
		if _, err := tx.RemoveGrant(ctx, g); err != nil {
			return d, err
		}
		d.grants = append(d.grants, g)
	}
	return d, nil
}

func (d deactivation) apply(s *State, userID int64) {
	if d.sessions != nil {
		d.sessions()
	}
	for _, id := range d.tokens {
		s.index.RemoveToken(id)
	}
	for _, g := range d.groups {
		s.index.RemoveMember(userID, g)
	}
	for _, g := range d.grants {
		s.index.RemoveGrant(g)
	}
}

// SetPassword replaces a local user's password. When previous is non-nil it
// must match the current password.
func (s *State) SetPassword(ctx context.Context, login, pw string, previous *string) error {
	if err := checkPasswordRules(pw); err != nil {
		return err
	}
	h, err := s.hashPassword(ctx, pw)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		u, err := getUser(ctx, tx, login)
		if err != nil {
			return audit{}, nil, err
		}
		if u.Source != identity.SourceLocal {
			return audit{}, nil, identity.ManagedError(u.Source, "Password cannot be changed when external authentication is used")
		}
		if u.Provider != "" {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Password cannot be changed when external authentication is used")
		}
		if previous != nil {
			if u.PasswordHash == "" || password.Verify(u.PasswordHash, *previous) != nil {
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Incorrect password")
			}
			if *previous == pw {
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Password must be different from old password")
			}
		}
		u.PasswordHash = h
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return audit{}, nil, err
		}
		// A new password ends every sign-in made with the old one.
		apply, n, err := s.endUserSessions(ctx, tx, u.ID)
		if err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "user.change_password", Target: "user:" + login, After: map[string]int{"sessionsEnded": n}}, apply, nil
	})
}

func checkPasswordRules(pw string) error {
	if len(pw) < MinPasswordLen {
		return identity.Errorf(identity.ErrInvalid, "Password must be at least %d characters long", MinPasswordLen)
	}
	if len(pw) > 1024 {
		return identity.Errorf(identity.ErrInvalid, "Password is too long")
	}
	return nil
}

// errBadCredentials is deliberately the same for an unknown login and a wrong
// password.
var errBadCredentials = identity.Errorf(identity.ErrUnauthenticated, "Authentication failed")

// errNoSignUp refuses the first sign-in of an account its source may not
// create.
var errNoSignUp = identity.Errorf(identity.ErrUnauthenticated, "You have no account in Gatehouse yet, and this sign-in does not create accounts: ask an administrator to create yours")

// ErrBusy is returned when too many password checks run at once; the caller
// should answer "try again" (429) rather than queue without bound.
var ErrBusy = identity.Errorf(identity.ErrUnavailable, "Too many sign-ins at once. Please try again in a moment.")

// CheckPassword authenticates a user by login and password: a local user
// by its password hash; a directory user (LDAP), or a login unknown here
// while a directory is connected, by the directory, which creates the user
// on its first sign-in and syncs its groups. It is not throttled: adapters
// sign people in with [State.SignIn].
func (s *State) CheckPassword(ctx context.Context, login, pw string) (authz.Principal, identity.User, error) {
	p, u, _, err := s.checkPassword(ctx, login, pw)
	return p, u, err
}

// checkPassword is CheckPassword; known reports whether login names an
// account (for the audit log of a failure).
func (s *State) checkPassword(ctx context.Context, login, pw string) (_ authz.Principal, _ identity.User, known bool, _ error) {
	if !identity.ValidText(login) || !identity.ValidText(pw) {
		// No account has such a login: a failed sign-in, decided before
		// the store or a directory is asked.
		return authz.Principal{}, identity.User{}, false, errBadCredentials
	}
	u, err := s.store.GetUserByLogin(ctx, login)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return authz.Principal{}, identity.User{}, false, err
	}
	known = u.ID != 0
	if (u.ID == 0 && s.hasDirectories()) || (u.ID != 0 && s.directory(u.Source) != nil) {
		p, du, err := s.signInDirectory(ctx, u, login, pw)
		return p, du, known || du.ID != 0, err
	}
	// Every path spends one hash, so that timing reveals neither which
	// logins exist nor which have no password (managed users).
	hash := u.PasswordHash
	if hash == "" {
		hash = dummyHash
	}
	verr, err := s.verifyPassword(ctx, hash, pw)
	if err != nil {
		return authz.Principal{}, identity.User{}, known, err
	}
	if u.ID == 0 || u.PasswordHash == "" || verr != nil || !u.Active {
		return authz.Principal{}, identity.User{}, known, errBadCredentials
	}
	p, err := s.index.UserPrincipal(u.ID)
	return p, u, known, err
}

// verifyPassword runs one bounded argon2id check: it waits at most a second
// for a slot, then gives up with ErrBusy. verr is the check's verdict.
func (s *State) verifyPassword(ctx context.Context, hash, pw string) (verr, err error) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case s.kdf <- struct{}{}:
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.kdf }()
	return password.Verify(hash, pw), nil
}

// hashPassword hashes under the same bound as verifyPassword.
func (s *State) hashPassword(ctx context.Context, pw string) (string, error) {
	select {
	case s.kdf <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.kdf }()
	return password.Hash(pw)
}

var dummyHash = func() string {
	h, _ := password.Hash("gatehouse-timing-equaliser")
	return h
}()

// RecordLogin stores the time of an interactive sign-in. It writes that one
// column: a full-row write could undo a concurrent deactivation.
func (s *State) RecordLogin(ctx context.Context, userID int64) error {
	return s.store.Tx(ctx, func(tx store.Tx) error { return tx.TouchUserLogin(ctx, userID, s.now()) })
}

// UserGroups returns the explicit groups of a user, sorted by name.
func (s *State) UserGroups(ctx context.Context, userID int64) ([]identity.Group, error) {
	ms, err := s.store.ListMemberships(ctx, userID, 0)
	if err != nil {
		return nil, err
	}
	gs := make([]identity.Group, 0, len(ms))
	for _, m := range ms {
		g, err := s.store.GetGroup(ctx, m.GroupID)
		if err != nil {
			return nil, err
		}
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b identity.Group) int { return compareFold(a.Name, b.Name) })
	return gs, nil
}

func getUser(ctx context.Context, r store.Reader, login string) (identity.User, error) {
	u, err := r.GetUserByLogin(ctx, login)
	if errors.Is(err, identity.ErrNotFound) {
		return u, identity.Errorf(identity.ErrNotFound, "User '%s' has not been found", login)
	}
	return u, err
}
