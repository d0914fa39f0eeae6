package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/webapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Sessions signs browsers in and out. The Web API implements it
// ([webapi.API]), so the UI and the API share one session cookie.
type Sessions interface {
	Authenticate(r *http.Request) (webapi.BrowserSession, bool)
	SignIn(w http.ResponseWriter, r *http.Request, login, password string) (identity.User, error)
	EndSession(w http.ResponseWriter, r *http.Request) error
}

// Options configures the UI.
type Options struct {
	Logger *slog.Logger
	// SecureCookies marks the UI's own cookies (sign-in form token, notices)
	// Secure on plain HTTP too, as for the Web API's session cookies.
	SecureCookies bool
	// Provisioner is the provisioning engine behind the GitLab and LDAP
	// pages, as the Web API's provisioning actions use it; nil when no
	// pull source is wired.
	Provisioner webapi.Provisioner
	// SSO is the SSO adapter behind the SSO page's endpoints and test
	// sign-in; nil without one.
	SSO SSOAdmin
	// LDAPTest looks a login up in the configured directory for the LDAP
	// page's "test a login"; it answers false when no directory is
	// configured. It is the Web API's api/ldap/test function.
	LDAPTest webapi.DirectoryTester
}

// SSOAdmin is what the SSO page needs of the SSO adapter (internal/sso):
// the URLs an IdP is given, an SP key pair for a new SAML connection, and
// test sign-ins. *sso.Handler implements it.
type SSOAdmin interface {
	Endpoints(name string) (login, metadata, acs, callback string)
	NewSPKeyPair(name string) (keyPEM, certPEM []byte, err error)
	BeginTest(ctx context.Context, name string) (string, error)
}

// UI is the admin web UI's handler set.
type UI struct {
	st    *state.State
	sess  Sessions
	log   *slog.Logger
	opts  Options
	pages map[string]*template.Template
}

// New builds the UI over st, signing browsers in through sess.
func New(st *state.State, sess Sessions, opts Options) (*UI, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	u := &UI{st: st, sess: sess, log: opts.Logger, opts: opts, pages: map[string]*template.Template{}}
	// Files named _*.html are the layout and the pieces every page may use.
	shared, err := fs.Glob(templateFS, "templates/_*.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, append(slices.Clone(shared), n)...)
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	return u, nil
}

// access is who may open a page.
type access int

const (
	signedIn  access = iota // any signed-in user
	adminOnly               // global administrators
	// projectAdmin: global administrators and the administrators of the
	// project {key} of the path (state.MayEditPermissions, the Web API's
	// rule for api/permissions/* with a projectKey).
	projectAdmin
	// projectCreator: global administrators and holders of Create
	// Projects (state.MayCreateProjects, api/projects/create's rule).
	projectCreator
)

// Register adds the UI's pages to mux, beside the Web API's routes.
func (u *UI) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", u.secure(http.StripPrefix("/static/", cacheFor(files, time.Hour))))
	mux.Handle("GET /signin", u.secure(http.HandlerFunc(u.signInPage)))
	mux.Handle("POST /signin", u.secure(http.HandlerFunc(u.signIn)))
	mux.Handle("POST /signout", u.page(signedIn, u.signOut))
	mux.Handle("GET /{$}", u.page(signedIn, u.home))
	for _, r := range u.routes() {
		mux.Handle(r.pattern, u.page(r.access, r.handle))
	}
	// Any other path outside the API: a page, not the mux's plain text.
	mux.Handle("/", u.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", Error: "There is no page at this address."})
	})))
}

// route is one page of the UI.
type route struct {
	pattern string
	access  access
	handle  func(p *pageCall) error
}

func (u *UI) routes() []route {
	var rs []route
	rs = append(rs, u.userRoutes()...)
	rs = append(rs, u.groupRoutes()...)
	rs = append(rs, u.projectRoutes()...)
	rs = append(rs, u.templateRoutes()...)
	rs = append(rs, u.ownTokenRoutes()...)
	rs = append(rs, u.orgTokenRoutes()...)
	rs = append(rs, u.explainRoutes()...)
	rs = append(rs, u.auditRoutes()...)
	rs = append(rs, u.scimRoutes()...)
	rs = append(rs, u.gitlabRoutes()...)
	rs = append(rs, u.ldapRoutes()...)
	rs = append(rs, u.ssoRoutes()...)
	return rs
}

// contentSecurityPolicy allows scripts, styles and images from the server
// only: no inline script or style, no framing, forms post back here.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the headers every UI answer carries.
func (u *UI) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func cacheFor(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

// pageCall is one request for a signed-in page.
type pageCall struct {
	ctx       context.Context
	w         http.ResponseWriter
	r         *http.Request
	ui        *UI
	principal authz.Principal
	login     string
	csrf      string
	admin     bool
}

// isAdmin reports whether p holds global admin: the Web API's question,
// asked of the same index.
func (u *UI) isAdmin(p authz.Principal) bool {
	return u.st.Index().Decide(p, identity.PermAdmin, "").Allowed
}

// page wraps a signed-in page: the session, the access check, the CSRF
// check of every POST, the audit actor, and the answer to an error.
func (u *UI) page(level access, h func(p *pageCall) error) http.Handler {
	return u.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, ok := u.sess.Authenticate(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			u.render(w, r, http.StatusUnauthorized, "error", &view{Title: "Signed out", Error: "Your session has ended. Sign in again."})
			return
		}
		p := &pageCall{w: w, r: r, ui: u, principal: s.Principal, csrf: s.CSRF,
			login: u.st.Index().Login(s.Principal.UserID)}
		p.admin = u.isAdmin(s.Principal)
		p.ctx = state.WithActor(r.Context(), state.Actor{Name: "user:" + p.login, UserID: s.Principal.UserID, RequestID: "ui-" + randomString(9)})
		if level == adminOnly && !p.admin {
			u.fail(p, identity.Errorf(identity.ErrForbidden, "This page is for administrators: you need the Administer System permission."))
			return
		}
		if level == projectAdmin && !u.st.MayEditPermissions(s.Principal, r.PathValue("key")) {
			u.fail(p, identity.Errorf(identity.ErrForbidden, "This page is for the project's administrators: you need the Administer permission on it, or Administer System."))
			return
		}
		if level == projectCreator && !u.st.MayCreateProjects(s.Principal) {
			u.fail(p, identity.Errorf(identity.ErrForbidden, "Creating a project needs the Create Projects permission, or Administer System."))
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				u.fail(p, identity.Errorf(identity.ErrInvalid, "The form could not be read."))
				return
			}
			if !sameOrigin(r) || !equal(r.PostForm.Get(csrfField), s.CSRF) {
				u.fail(p, errForged)
				return
			}
		}
		if err := h(p); err != nil {
			u.fail(p, err)
		}
	}))
}

// csrfField is the hidden field every form carries.
const csrfField = "csrf"

var errForged = identity.Errorf(identity.ErrForbidden, "The form was not sent from this page (its security token is missing or stale). Reload the page and try again.")

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sameOrigin refuses a form posted from another site when the browser
// says where it came from (every current browser does on POST).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	ou, err := url.Parse(o)
	return err == nil && ou.Host == r.Host
}

// statusOf maps the domain's error kinds to HTTP statuses: the one place
// where they meet the UI.
func statusOf(err error) int {
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, identity.ErrAlreadyExists), errors.Is(err, identity.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, identity.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, identity.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, identity.ErrThrottled):
		return http.StatusTooManyRequests
	case errors.Is(err, identity.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// message is the text shown for err; a 500's cause goes to the log only.
func (u *UI) message(ctx context.Context, r *http.Request, err error) (int, string) {
	status := statusOf(err)
	if status >= 500 && status != http.StatusServiceUnavailable {
		u.log.ErrorContext(ctx, "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
		return status, "An error has occurred. Please contact your administrator."
	}
	return status, identity.Message(err)
}

// fail answers a page's error with the error page.
func (u *UI) fail(p *pageCall, err error) {
	status, msg := u.message(p.ctx, p.r, err)
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		p.w.Header().Set("Retry-After", strconv.FormatInt(identity.RetrySeconds(identity.RetryAfter(err)), 10))
	}
	title := http.StatusText(status)
	u.render(p.w, p.r, status, "error", p.view(title, nil, msg))
}

// view is what every template gets.
type view struct {
	Title  string
	Login  string // signed-in user; "" on the sign-in page
	Admin  bool
	CSRF   string
	Path   string
	Notice string // the result of the previous action
	Error  string
	Data   any
}

// view builds the template data of a signed-in page.
func (p *pageCall) view(title string, data any, errMsg string) *view {
	return &view{Title: title, Login: p.login, Admin: p.admin, CSRF: p.csrf, Path: p.r.URL.Path,
		Notice: p.ui.takeNotice(p.w, p.r), Error: errMsg, Data: data}
}

// show renders a page with status 200.
func (p *pageCall) show(name, title string, data any) error {
	p.ui.render(p.w, p.r, http.StatusOK, name, p.view(title, data, ""))
	return nil
}

// showError renders a page again with an error (a form with its values).
func (p *pageCall) showError(name, title string, data any, err error) error {
	status, msg := p.ui.message(p.ctx, p.r, err)
	p.ui.render(p.w, p.r, status, name, p.view(title, data, msg))
	return nil
}

// done redirects after a successful change, with a notice for the next
// page (POST, then redirect, then GET: a reload repeats nothing).
func (p *pageCall) done(to, notice string) error {
	p.ui.setNotice(p.w, p.r, notice)
	http.Redirect(p.w, p.r, to, http.StatusSeeOther)
	return nil
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t := u.pages[name]
	var buf bytes.Buffer
	if t == nil {
		u.log.Error("ui: no template", "name", name)
		http.Error(w, "An error has occurred.", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		u.log.ErrorContext(r.Context(), "ui: render", "page", name, "err", err)
		http.Error(w, "An error has occurred.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// noticeCookie carries a one-line result ("User alice created") to the
// page a change redirects to.
const noticeCookie = "gatehouse-notice"

func (u *UI) cookieSecure(r *http.Request) bool {
	return r.TLS != nil || r.URL.Scheme == "https" || u.opts.SecureCookies
}

func (u *UI) setNotice(w http.ResponseWriter, r *http.Request, msg string) {
	if msg == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: noticeCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(msg)), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: u.cookieSecure(r), SameSite: http.SameSiteStrictMode})
}

func (u *UI) takeNotice(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(noticeCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: noticeCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: u.cookieSecure(r), SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) > 300 {
		return ""
	}
	return string(b)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (u *UI) home(p *pageCall) error {
	if p.r.Method != http.MethodGet {
		return identity.Errorf(identity.ErrNotFound, "There is no page at this address.")
	}
	return p.show("home", "Gatehouse", nil)
}
