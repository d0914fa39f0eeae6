package gitlabsim

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"
)

var pickUser = template.Must(template.New("pick").Parse(`<!doctype html>
<title>GitLab simulator: sign in</title>
<h1>Sign in to the GitLab simulator as</h1>
<ul>{{range .Users}}<li><a href="{{$.Base}}&amp;login={{.Username}}">{{.Username}}</a> ({{.Name}})</li>{{end}}</ul>
`))

// authorize is GitLab's /oauth/authorize for the authorization-code flow.
// The user signing in is the login parameter (a simulator convenience), the
// user set with [Server.SignIn], or else picked on a page listing users.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.RLock()
	ix := s.ix
	s.mu.RUnlock()
	app := ix.apps[q.Get("client_id")]
	if app == nil {
		badRequest(w, "invalid_client")
		return
	}
	redirect := q.Get("redirect_uri")
	if q.Get("response_type") != "code" || redirect == "" || (len(app.RedirectURIs) > 0 && !slices.Contains(app.RedirectURIs, redirect)) {
		badRequest(w, "invalid_request: The redirect URI included is not valid.")
		return
	}
	login := q.Get("login")
	if login == "" {
		s.omu.Lock()
		login = s.signedIn
		s.omu.Unlock()
	}
	if login == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		users := ix.users
		if len(users) > 50 {
			users = users[:50]
		}
		_ = pickUser.Execute(w, map[string]any{"Users": users, "Base": template.URL(r.URL.Path + "?" + r.URL.RawQuery)})
		return
	}
	if u := ix.userByName[login]; u == nil || u.State != "active" {
		badRequest(w, "access_denied: unknown or blocked user")
		return
	}
	code := randomToken(16)
	s.omu.Lock()
	s.codes[code] = oauthGrant{user: login, client: app.ClientID, redirect: redirect, scope: q.Get("scope")}
	s.omu.Unlock()
	to, err := url.Parse(redirect)
	if err != nil {
		badRequest(w, "invalid_request")
		return
	}
	tq := to.Query()
	tq.Set("code", code)
	if st := q.Get("state"); st != "" {
		tq.Set("state", st)
	}
	to.RawQuery = tq.Encode()
	http.Redirect(w, r, to.String(), http.StatusFound)
}

// token is GitLab's /oauth/token for the authorization_code grant.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.RLock()
	app := s.ix.apps[id]
	s.mu.RUnlock()
	if app == nil || app.Secret != secret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	code := r.PostForm.Get("code")
	s.omu.Lock()
	g, found := s.codes[code]
	delete(s.codes, code) // a code is good once
	s.omu.Unlock()
	if !found || g.client != id || g.redirect != r.PostForm.Get("redirect_uri") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."})
		return
	}
	access := randomToken(32)
	s.omu.Lock()
	s.oauthTokens[access] = g
	s.omu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": 7200,
		"refresh_token": randomToken(32), "scope": g.scope, "created_at": time.Now().Unix(),
	})
}
