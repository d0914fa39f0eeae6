package ui

import (
	"errors"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (u *UI) userRoutes() []route {
	return []route{
		{"GET /users", adminOnly, u.users},
		{"GET /users/new", adminOnly, u.newUserPage},
		{"POST /users/new", adminOnly, u.createUser},
		{"GET /users/{login}", adminOnly, u.userPage},
		{"POST /users/{login}/update", adminOnly, u.updateUser},
		{"POST /users/{login}/deactivate", adminOnly, u.deactivateUser},
		{"POST /users/{login}/groups/add", adminOnly, u.addUserGroup},
		{"POST /users/{login}/groups/remove", adminOnly, u.removeUserGroup},
		{"POST /users/{login}/tokens/new", adminOnly, u.generateUserToken},
		{"POST /users/{login}/tokens/revoke", adminOnly, u.revokeUserToken},
	}
}

type userRow struct {
	User   identity.User
	Groups []string
}

type usersData struct {
	Query       string
	Deactivated bool
	Rows        []userRow
	Pager       pager
}

func (u *UI) users(p *pageCall) error {
	q := p.r.URL.Query()
	d := usersData{Query: strings.TrimSpace(q.Get("q")), Deactivated: q.Get("deactivated") == "true"}
	active := !d.Deactivated
	pg := pageOf(q)
	users, total, err := u.st.Store().ListUsers(p.ctx, store.UserFilter{Query: d.Query, Active: &active, Page: pg})
	if err != nil {
		return err
	}
	ids := make([]int64, len(users))
	for i, us := range users {
		ids[i] = us.ID
	}
	groups, err := u.st.GroupNamesByUser(p.ctx, ids)
	if err != nil {
		return err
	}
	for _, us := range users {
		d.Rows = append(d.Rows, userRow{User: us, Groups: groups[us.ID]})
	}
	d.Pager = newPager("/users", q, pg, total)
	return p.show("users", "Users", d)
}

type newUserData struct {
	Login, Name, Email string
}

func (u *UI) newUserPage(p *pageCall) error {
	return p.show("user_new", "Create a local user", newUserData{})
}

func (u *UI) createUser(p *pageCall) error {
	f := p.r.PostForm
	d := newUserData{Login: strings.TrimSpace(f.Get("login")), Name: strings.TrimSpace(f.Get("name")), Email: strings.TrimSpace(f.Get("email"))}
	if f.Get("password") != f.Get("password2") {
		return p.showError("user_new", "Create a local user", d, identity.Errorf(identity.ErrInvalid, "The two passwords differ."))
	}
	us, err := u.st.CreateLocalUser(p.ctx, state.NewUser{Login: d.Login, Name: d.Name, Email: d.Email, Password: f.Get("password")})
	if err != nil {
		return p.showError("user_new", "Create a local user", d, err)
	}
	return p.done("/users/"+url.PathEscape(us.Login), "User "+us.Login+" created.")
}

type userData struct {
	User      identity.User
	Self      bool
	Name      string // the name and e-mail form's values
	Email     string
	Groups    []identity.Group
	Tokens    []identity.Token
	TokenMore int // tokens beyond the first page
	TokenForm tokenForm
	createdToken
}

func (u *UI) loadUser(p *pageCall) (identity.User, error) {
	login := p.r.PathValue("login")
	us, err := u.st.Store().GetUserByLogin(p.ctx, login)
	if errors.Is(err, identity.ErrNotFound) {
		return us, identity.Errorf(identity.ErrNotFound, "User '%s' doesn't exist", login)
	}
	return us, err
}

func (u *UI) userPage(p *pageCall) error {
	us, err := u.loadUser(p)
	if err != nil {
		return err
	}
	d, err := u.userData(p, us)
	if err != nil {
		return err
	}
	return p.show("user", us.Login, d)
}

func (u *UI) userData(p *pageCall, us identity.User) (userData, error) {
	d := userData{User: us, Self: us.ID == p.principal.UserID, Name: us.Name, Email: us.Email, TokenForm: u.blankTokenForm()}
	var err error
	if d.Groups, err = u.st.UserGroups(p.ctx, us.ID); err != nil {
		return d, err
	}
	uid := us.ID
	ts, total, err := u.st.Store().ListTokens(p.ctx, store.TokenFilter{UserID: &uid, Page: store.Page{Number: 1, Size: 100}})
	if err != nil {
		return d, err
	}
	d.Tokens, d.TokenMore = ts, total-len(ts)
	return d, nil
}

// updateUser changes a user's name and e-mail through the state's
// UpdateUser, as api/users/update does: the state refuses a managed
// user's, naming its source.
func (u *UI) updateUser(p *pageCall) error {
	us, err := u.st.ActiveUser(p.ctx, p.r.PathValue("login"))
	if err != nil {
		return err
	}
	name, email := strings.TrimSpace(p.r.PostForm.Get("name")), strings.TrimSpace(p.r.PostForm.Get("email"))
	if _, err := u.st.UpdateUser(p.ctx, us.Login, state.UserUpdate{Name: &name, Email: &email}); err != nil {
		d, lerr := u.userData(p, us)
		if lerr != nil {
			return lerr
		}
		d.Name, d.Email = name, email
		return p.showError("user", us.Login, d, err)
	}
	return p.done("/users/"+url.PathEscape(us.Login), "Name and e-mail of "+us.Login+" saved.")
}

func (u *UI) deactivateUser(p *pageCall) error {
	us, err := u.st.DeactivateUser(p.ctx, p.r.PathValue("login"))
	if err != nil {
		return err
	}
	// The state ends the user's sessions on every replica.
	return p.done("/users/"+url.PathEscape(us.Login), "User "+us.Login+" deactivated: its tokens are revoked and its sessions ended.")
}

func (u *UI) addUserGroup(p *pageCall) error {
	login, group := p.r.PathValue("login"), strings.TrimSpace(p.r.PostForm.Get("group"))
	if err := u.st.AddMember(p.ctx, group, login); err != nil {
		return err
	}
	return p.done("/users/"+url.PathEscape(login), login+" added to "+group+".")
}

func (u *UI) removeUserGroup(p *pageCall) error {
	login, group := p.r.PathValue("login"), p.r.PostForm.Get("group")
	if err := u.st.RemoveMember(p.ctx, group, login); err != nil {
		return err
	}
	return p.done("/users/"+url.PathEscape(login), login+" removed from "+group+".")
}

// generateUserToken generates a user token for the page's user, as
// api/user_tokens/generate with login=… does for an administrator; the
// secret is in this answer only.
func (u *UI) generateUserToken(p *pageCall) error {
	us, err := u.loadUser(p)
	if err != nil {
		return err
	}
	var tf tokenForm
	created, err := u.generateToken(p, us, &tf)
	d, lerr := u.userData(p, us)
	if lerr != nil {
		return lerr
	}
	if err != nil {
		d.TokenForm = tf
		return p.showError("user", us.Login, d, err)
	}
	d.createdToken = created
	return p.show("user", us.Login, d)
}

func (u *UI) revokeUserToken(p *pageCall) error {
	us, err := u.loadUser(p)
	if err != nil {
		return err
	}
	name := p.r.PostForm.Get("name")
	if err := u.st.RevokeUserToken(p.ctx, us.ID, name); err != nil {
		return err
	}
	return p.done("/users/"+url.PathEscape(us.Login), "Token "+name+" of "+us.Login+" revoked.")
}
