package ui

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (u *UI) ownTokenRoutes() []route {
	return []route{
		{"GET /account/tokens", signedIn, u.ownTokens},
		{"POST /account/tokens/new", signedIn, u.generateOwnToken},
		{"POST /account/tokens/revoke", signedIn, u.revokeOwnToken},
	}
}

// tokenRow is a token in a list, with its project's key when it has one.
type tokenRow struct {
	Token      identity.Token
	ProjectKey string
	Expired    bool
}

// tokenForm is a user token form's values as sent.
type tokenForm struct {
	Name, Type, ProjectKey string
	Expiry                 expiryChoice
	MayScanGlobally        bool
}

// createdToken is the shown-once result of a generation.
type createdToken struct {
	CreatedName, CreatedSecret      string
	CreatedType, CreatedExpiry      string
	CreatedProject, CreatedForLogin string
}

type ownTokensData struct {
	Rows []tokenRow
	tokenForm
	createdToken
}

func (u *UI) tokenRows(ctx context.Context, ts []identity.Token) ([]tokenRow, error) {
	now := u.st.Now()
	keys := map[int64]string{}
	out := make([]tokenRow, 0, len(ts))
	for _, t := range ts {
		r := tokenRow{Token: t, Expired: t.Expired(now)}
		if t.ProjectID != 0 {
			k, ok := keys[t.ProjectID]
			if !ok {
				if p, err := u.st.Store().GetProject(ctx, t.ProjectID); err == nil {
					k = p.Key
				}
				keys[t.ProjectID] = k
			}
			r.ProjectKey = k
		}
		out = append(out, r)
	}
	return out, nil
}

func (u *UI) ownTokensData(p *pageCall) (ownTokensData, error) {
	uid := p.principal.UserID
	ts, _, err := u.st.Store().ListTokens(p.ctx, store.TokenFilter{UserID: &uid, Types: state.UserTokenTypes, Page: store.Page{Number: 1, Size: 500}})
	if err != nil {
		return ownTokensData{}, err
	}
	rows, err := u.tokenRows(p.ctx, ts)
	d := ownTokensData{Rows: rows, tokenForm: u.blankTokenForm()}
	d.MayScanGlobally = u.st.CheckTokenRight(p.principal, identity.TokenGlobalAnalysis, "") == nil
	return d, err
}

func (u *UI) ownTokens(p *pageCall) error {
	d, err := u.ownTokensData(p)
	if err != nil {
		return err
	}
	return p.show("account_tokens", "My tokens", d)
}

func (u *UI) blankTokenForm() tokenForm {
	return tokenForm{Type: string(identity.TokenUser), Expiry: newExpiry(u.st.Now(), "90")}
}

// generateToken generates a user-bound token for owner from the token form
// in the request, on the path of api/user_tokens/generate with
// login=owner (state.IssueUserToken). tf gets the form's values.
func (u *UI) generateToken(p *pageCall, owner identity.User, tf *tokenForm) (createdToken, error) {
	f := p.r.PostForm
	tf.Name, tf.Type, tf.ProjectKey = strings.TrimSpace(f.Get("name")), f.Get("type"), strings.TrimSpace(f.Get("projectKey"))
	exp, at, err := readExpiry(f, u.st.Now())
	tf.Expiry = exp
	if err != nil {
		return createdToken{}, err
	}
	typ := identity.TokenType(tf.Type)
	req := state.UserTokenRequest{Owner: owner, Name: tf.Name, Type: typ, ExpiresAt: at}
	if typ == identity.TokenProjectAnalysis {
		req.ProjectKey = tf.ProjectKey
	}
	secret, t, err := u.st.IssueUserToken(p.ctx, p.principal, req)
	if err != nil {
		return createdToken{}, err
	}
	c := createdToken{CreatedName: t.Name, CreatedSecret: secret, CreatedType: tokenTypeLabel(t.Type), CreatedExpiry: dayOrNever(t.ExpiresAt), CreatedForLogin: owner.Login}
	if typ == identity.TokenProjectAnalysis {
		c.CreatedProject = tf.ProjectKey
	}
	return c, nil
}

func (u *UI) generateOwnToken(p *pageCall) error {
	d, err := u.ownTokensData(p)
	if err != nil {
		return err
	}
	created, err := u.generateToken(p, identity.User{ID: p.principal.UserID, Login: p.login}, &d.tokenForm)
	if err != nil {
		return p.showError("account_tokens", "My tokens", d, err)
	}
	// The secret is in this answer only (Cache-Control: no-store); the
	// list the page shows next has only its name.
	if d, err = u.ownTokensData(p); err != nil {
		return err
	}
	d.createdToken = created
	return p.show("account_tokens", "My tokens", d)
}

func dayOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.DateOnly)
}

func (u *UI) revokeOwnToken(p *pageCall) error {
	name := p.r.PostForm.Get("name")
	if err := u.st.RevokeUserToken(p.ctx, p.principal.UserID, name); err != nil {
		return err
	}
	return p.done("/account/tokens", "Token "+name+" revoked.")
}
