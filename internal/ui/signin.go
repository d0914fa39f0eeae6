package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// signInCookie holds the sign-in form's anti-forgery token: before a
// session exists, the form's hidden field must echo this cookie (a forged
// sign-in would put a victim in the attacker's account).
const signInCookie = "gatehouse-signin"

type signInData struct {
	Login string
	Next  string
	Token string
	// SSO are the enabled SSO connections, each its login URL with the
	// return path (the adapter keeps it on this server, as safeNext does).
	SSO []state.SSOSignInChoice
}

// safeNext keeps a redirect after sign-in on this server: a path, never
// another site ("//evil", "/\evil").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/signin") {
		return "/"
	}
	return next
}

func (u *UI) signInPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := u.sess.Authenticate(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	u.showSignIn(w, r, http.StatusOK, signInData{Next: next}, "")
}

func (u *UI) showSignIn(w http.ResponseWriter, r *http.Request, status int, d signInData, errMsg string) {
	d.Token = randomString(24)
	d.SSO = u.ssoChoices(r, d.Next)
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: d.Token, Path: "/signin", MaxAge: 3600,
		HttpOnly: true, Secure: u.cookieSecure(r), SameSite: http.SameSiteStrictMode})
	u.render(w, r, status, "signin", &view{Title: "Sign in", Error: errMsg, Data: d})
}

// ssoChoices are the sign-in page's SSO buttons; none without the
// adapter, and none (logged) when the store cannot list them: the local
// form still works.
func (u *UI) ssoChoices(r *http.Request, next string) []state.SSOSignInChoice {
	if u.opts.SSO == nil {
		return nil
	}
	cs, err := u.st.SSOSignInChoices(r.Context(), func(name string) string {
		login, _, _, _ := u.opts.SSO.Endpoints(name)
		return login
	})
	if err != nil {
		u.log.WarnContext(r.Context(), "ui: list SSO connections for the sign-in page", "err", err)
		return nil
	}
	if next != "/" {
		for i := range cs {
			cs[i].LoginURL += "?return_to=" + url.QueryEscape(next)
		}
	}
	return cs
}

func (u *UI) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		u.showSignIn(w, r, http.StatusBadRequest, signInData{}, "The form could not be read.")
		return
	}
	d := signInData{Login: r.PostForm.Get("login"), Next: safeNext(r.PostForm.Get("next"))}
	ck, err := r.Cookie(signInCookie)
	if err != nil || !sameOrigin(r) || !equal(r.PostForm.Get(csrfField), ck.Value) {
		u.showSignIn(w, r, http.StatusForbidden, d, identity.Message(errForged))
		return
	}
	if d.Login == "" || r.PostForm.Get("password") == "" {
		u.showSignIn(w, r, http.StatusBadRequest, d, "Enter your login and your password.")
		return
	}
	if _, err := u.sess.SignIn(w, r, d.Login, r.PostForm.Get("password")); err != nil {
		status, msg := u.message(r.Context(), r, err)
		if errors.Is(err, identity.ErrUnavailable) && w.Header().Get("Retry-After") != "" {
			status = http.StatusTooManyRequests
		}
		u.showSignIn(w, r, status, d, msg)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: "", Path: "/signin", MaxAge: -1, HttpOnly: true, Secure: u.cookieSecure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (u *UI) signOut(p *pageCall) error {
	if err := u.sess.EndSession(p.w, p.r.WithContext(p.ctx)); err != nil {
		return err
	}
	http.Redirect(p.w, p.r, "/signin", http.StatusSeeOther)
	return nil
}
