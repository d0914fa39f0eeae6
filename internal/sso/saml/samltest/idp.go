// Package samltest is a SAML identity provider for tests of what drives a
// Gatehouse SAML SP end to end: crewjam/saml's IdentityProvider serving
// metadata and the SSO endpoint (it validates the AuthnRequest as a real
// IdP would, signs and encrypts the assertion), with the user and the
// attributes a test sets, and a browser helper that carries the response
// form to the ACS. It listens on 127.0.0.1 only.
package samltest

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crewjam/saml"

	gsaml "github.com/gatehouse-dev/gatehouse/internal/sso/saml"
)

// Entra ID's claim URIs, as its default claims for a non-gallery app.
const (
	ClaimName        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	ClaimEmail       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	ClaimGivenName   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	ClaimSurname     = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	ClaimDisplayName = "http://schemas.microsoft.com/identity/claims/displayname"
	ClaimObjectID    = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	ClaimGroups      = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	ClaimTenantID    = "http://schemas.microsoft.com/identity/claims/tenantid"
)

// EntraAttributes are the attributes Entra ID sends by default for a user.
func EntraAttributes(upn, mail, displayName, objectID string, groups ...string) map[string][]string {
	a := map[string][]string{
		ClaimName: {upn}, ClaimDisplayName: {displayName}, ClaimObjectID: {objectID},
		ClaimTenantID: {"72f988bf-86f1-41af-91ab-2d7cd011db47"},
	}
	if mail != "" {
		a[ClaimEmail] = []string{mail}
	}
	if len(groups) > 0 {
		a[ClaimGroups] = groups
	}
	return a
}

// IdP is a running test identity provider.
type IdP struct {
	srv *httptest.Server
	idp *saml.IdentityProvider

	mu     sync.Mutex
	sps    map[string]*saml.EntityDescriptor
	nameID string
	attrs  map[string][]string
}

// New starts an IdP.
func New() (*IdP, error) {
	keyPEM, certPEM, err := gsaml.GenerateKeyPair("idp.test")
	if err != nil {
		return nil, err
	}
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(certPEM)
	if kb == nil || cb == nil {
		return nil, errors.New("samltest: the generated key pair is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("samltest: want an RSA key, got %T", k)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	p := &IdP{sps: map[string]*saml.EntityDescriptor{}, nameID: "ada@contoso.example"}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	base, _ := url.Parse(p.srv.URL)
	p.idp = &saml.IdentityProvider{Key: key, Certificate: cert, MetadataURL: *base.JoinPath("metadata"), SSOURL: *base.JoinPath("sso"),
		ServiceProviderProvider: p, SessionProvider: p}
	mux.HandleFunc("GET /metadata", func(w http.ResponseWriter, _ *http.Request) {
		buf, err := xml.MarshalIndent(p.idp.Metadata(), "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(buf)
	})
	mux.HandleFunc("/sso", p.idp.ServeSSO)
	return p, nil
}

// Close stops the IdP.
func (p *IdP) Close() { p.srv.Close() }

// MetadataURL is where the IdP serves its metadata.
func (p *IdP) MetadataURL() string { return p.srv.URL + "/metadata" }

// SetUser sets who signs in next: the NameID and the attributes.
func (p *IdP) SetUser(nameID string, attrs map[string][]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nameID, p.attrs = nameID, attrs
}

// Register fetches an SP's metadata, as an admin gives it to the IdP.
func (p *IdP) Register(ctx context.Context, spMetadataURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, spMetadataURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("samltest: SP metadata: %s: %s", resp.Status, body)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(body, &ed); err != nil {
		return fmt.Errorf("samltest: SP metadata: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sps[ed.EntityID] = &ed
	return nil
}

// GetServiceProvider implements saml.ServiceProviderProvider.
func (p *IdP) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ed := p.sps[id]; ed != nil {
		return ed, nil
	}
	return nil, os.ErrNotExist
}

// GetSession implements saml.SessionProvider: the user set by SetUser is
// signed in.
func (p *IdP) GetSession(_ http.ResponseWriter, _ *http.Request, _ *saml.IdpAuthnRequest) *saml.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, len(p.attrs))
	for n := range p.attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	var attrs []saml.Attribute
	for _, n := range names {
		a := saml.Attribute{Name: n, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}
		for _, v := range p.attrs[n] {
			a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		attrs = append(attrs, a)
	}
	now := time.Now()
	return &saml.Session{ID: "session-1", CreateTime: now.Add(-time.Minute), ExpireTime: now.Add(time.Hour), Index: "_index-1",
		NameID: p.nameID, NameIDFormat: string(saml.EmailAddressNameIDFormat), CustomAttributes: attrs}
}

var (
	formAction   = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formResponse = regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)
	formRelay    = regexp.MustCompile(`name="RelayState" value="([^"]*)"`)
)

// SignIn runs a browser's SP-initiated sign-in: GET loginURL (Gatehouse
// redirects to this IdP, which answers the auto-posting form), then POST
// the form to the ACS. It returns the ACS's answer without following its
// redirect. The client's cookie jar carries the cookies.
func SignIn(c *http.Client, loginURL string) (*http.Response, error) {
	action, form, err := Form(c, loginURL)
	if err != nil {
		return nil, err
	}
	return Post(c, action, form)
}

// Form runs the first half of SignIn: it returns the ACS URL and the form
// the IdP's page would post there.
func Form(c *http.Client, loginURL string) (string, url.Values, error) {
	resp, err := c.Get(loginURL)
	if err != nil {
		return "", nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", nil, err
	}
	action, samlResponse, relay := formAction.FindSubmatch(body), formResponse.FindSubmatch(body), formRelay.FindSubmatch(body)
	if action == nil || samlResponse == nil {
		return "", nil, fmt.Errorf("samltest: no response form from the IdP (%s): %s", resp.Status, body)
	}
	form := url.Values{"SAMLResponse": {html.UnescapeString(string(samlResponse[1]))}}
	if relay != nil {
		form.Set("RelayState", html.UnescapeString(string(relay[1])))
	}
	return html.UnescapeString(string(action[1])), form, nil
}

// Post posts form to the ACS as the browser does, without following the
// answer's redirect.
func Post(c *http.Client, action string, form url.Values) (*http.Response, error) {
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return nc.Post(action, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}
