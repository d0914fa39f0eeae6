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

type ownTokensData struct {
	Rows                            []tokenRow
	Name, Type, ProjectKey          string
	Expiry                          expiryChoice
	MayScanGlobally                 bool
	CreatedName, CreatedSecret      string // the shown-once result
	CreatedType, CreatedExpiry      string
	CreatedProject, CreatedForLogin string
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
	d := ownTokensData{Rows: rows, Type: string(identity.TokenUser), Expiry: newExpiry(u.st.Now(), "90"),
		MayScanGlobally: u.st.CheckTokenRight(p.principal, identity.TokenGlobalAnalysis, "") == nil}
	return d, err
}

func (u *UI) ownTokens(p *pageCall) error {
	d, err := u.ownTokensData(p)
	if err != nil {
		return err
	}
	return p.show("account_tokens", "My tokens", d)
}

// analysisTokenProject resolves the project of a project analysis token:
// one the user may scan, else "not found" (no existence leak).
func (u *UI) analysisTokenProject(p *pageCall, key string) (int64, error) {
	if key == "" {
		return 0, identity.Errorf(identity.ErrInvalid, "A projectKey is needed when creating Project Analysis Token")
	}
	pr, err := u.st.Store().GetProjectByKey(p.ctx, key)
	if err != nil || u.st.CheckTokenRight(p.principal, identity.TokenProjectAnalysis, key) != nil {
		return 0, identity.Errorf(identity.ErrNotFound, "Project key '%s' not found, or you may not analyse it", key)
	}
	return pr.ID, nil
}

func (u *UI) generateOwnToken(p *pageCall) error {
	f := p.r.PostForm
	d, err := u.ownTokensData(p)
	if err != nil {
		return err
	}
	d.Name, d.Type, d.ProjectKey = strings.TrimSpace(f.Get("name")), f.Get("type"), strings.TrimSpace(f.Get("projectKey"))
	fail := func(err error) error { return p.showError("account_tokens", "My tokens", d, err) }
	exp, at, err := readExpiry(f, u.st.Now())
	d.Expiry = exp
	if err != nil {
		return fail(err)
	}
	typ := identity.TokenType(d.Type)
	n := state.NewUserToken{UserID: p.principal.UserID, Name: d.Name, Type: typ, ExpiresAt: at}
	if typ == identity.TokenProjectAnalysis {
		if n.ProjectID, err = u.analysisTokenProject(p, d.ProjectKey); err != nil {
			return fail(err)
		}
	}
	if err := u.st.CheckTokenRight(p.principal, typ, d.ProjectKey); err != nil {
		return fail(err)
	}
	secret, t, err := u.st.GenerateUserToken(p.ctx, n)
	if err != nil {
		return fail(err)
	}
	// The secret is in this answer only (Cache-Control: no-store); the
	// list the page shows next has only its name.
	d, err = u.ownTokensData(p)
	if err != nil {
		return err
	}
	d.CreatedName, d.CreatedSecret, d.CreatedType, d.CreatedExpiry = t.Name, secret, tokenTypeLabel(t.Type), dayOrNever(t.ExpiresAt)
	if typ == identity.TokenProjectAnalysis {
		d.CreatedProject = strings.TrimSpace(f.Get("projectKey"))
	}
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
