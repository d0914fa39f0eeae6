package saml

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/internal/sso/claims"
)

// The test IdP is built on crewjam/saml's IdentityProvider primitives
// (NewIdpAuthnRequest, Validate, NewIdpInitiatedRequest and
// DefaultAssertionMaker), so the AuthnRequest Gatehouse sends is validated as
// a real IdP would, and on goxmldsig and xmlenc for signing and encrypting,
// so each test can break exactly one thing about an otherwise good response.

const (
	testSPBase = "https://gatehouse.test/sso/saml/entra"
	testACSURL = testSPBase + "/acs"
	testMDURL  = testSPBase + "/metadata"
)

// Entra ID's claim URIs, as its default claims for a non-gallery app.
const (
	claimEmail     = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	claimName      = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimGivenName = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	claimSurname   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	claimGroups    = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	claimObjectID  = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	claimDisplay   = "http://schemas.microsoft.com/identity/claims/displayname"
	claimTenantID  = "http://schemas.microsoft.com/identity/claims/tenantid"
)

func uriAttr(name string, values ...string) saml.Attribute {
	a := saml.Attribute{Name: name}
	for _, v := range values {
		a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
	}
	return a
}

func basicAttr(name string, values ...string) saml.Attribute {
	a := uriAttr(name, values...)
	a.NameFormat = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	return a
}

// entraAttributes is what Entra ID sends for a user in two groups.
func entraAttributes() []saml.Attribute {
	return []saml.Attribute{
		uriAttr(claimTenantID, "72f988bf-86f1-41af-91ab-2d7cd011db47"),
		uriAttr(claimObjectID, "2b1c5a3e-93f4-4b8e-8d57-6f0e1a2b3c4d"),
		uriAttr(claimDisplay, "Ada Lovelace"),
		uriAttr(claimGroups, "e3b0c442-98fc-1c14-9afb-f4c8996fb924", "5feceb66-ffc8-6f38-d952-786c6d696c79"),
		uriAttr(claimEmail, "ada@contoso.example"),
		uriAttr(claimGivenName, "Ada"),
		uriAttr(claimSurname, "Lovelace"),
		uriAttr(claimName, "ada@contoso.example"),
	}
}

// oktaAttributes is what an Okta app with an attribute statement for
// email/firstName/lastName and a group attribute statement "groups" sends.
func oktaAttributes() []saml.Attribute {
	return []saml.Attribute{
		basicAttr("email", "grace@example.okta.test"),
		basicAttr("firstName", "Grace"),
		basicAttr("lastName", "Hopper"),
		basicAttr("groups", "Everyone", "sonar-admins"),
	}
}

// keyPair is a generated key and certificate, made once per test binary:
// RSA key generation dominates the cost of these tests.
type keyPair struct {
	keyPEM, certPEM []byte
	key             *rsa.PrivateKey
	cert            *x509.Certificate
}

var testKeys = sync.OnceValue(func() [3]keyPair {
	var out [3]keyPair
	for i, cn := range []string{"gatehouse.test", "idp.test", "attacker.test"} {
		k, c, err := GenerateKeyPair(cn)
		if err != nil {
			panic(err)
		}
		key, cert, err := parseKeyPair(k, c)
		if err != nil {
			panic(err)
		}
		out[i] = keyPair{keyPEM: k, certPEM: c, key: key.(*rsa.PrivateKey), cert: cert}
	}
	return out
})

func spKeys() keyPair       { return testKeys()[0] }
func idpKeys() keyPair      { return testKeys()[1] }
func attackerKeys() keyPair { return testKeys()[2] }

// testClock is the time for both the IdP and the SP, moved by tests.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

// newTestClock starts at the real time: the test keys' certificates are
// generated valid from an hour before now, so a fixed date would fall outside
// them on a later day.
func newTestClock() *testClock {
	return &testClock{now: time.Now().UTC().Truncate(time.Second)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testIdP is an IdP served by httptest (metadata and SSO URL), whose
// responses tests build with respond.
type testIdP struct {
	t      testing.TB
	clock  *testClock
	srv    *httptest.Server
	idp    *saml.IdentityProvider
	spMD   *saml.EntityDescriptor
	nameID string
	attrs  []saml.Attribute
}

func newTestIdP(t testing.TB, clock *testClock) *testIdP {
	t.Helper()
	ti := &testIdP{t: t, clock: clock, nameID: "ada@contoso.example", attrs: entraAttributes()}
	mux := http.NewServeMux()
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	base, _ := url.Parse(ti.srv.URL)
	keys := idpKeys()
	ti.idp = &saml.IdentityProvider{
		Key:                     keys.key,
		Certificate:             keys.cert,
		MetadataURL:             *base.JoinPath("metadata"),
		SSOURL:                  *base.JoinPath("sso"),
		ServiceProviderProvider: ti,
		Clock:                   dsig.NewFakeClock(nowClock{Clock: clockwork.NewRealClock(), now: clock.Now}),
	}
	mux.HandleFunc("GET /metadata", func(w http.ResponseWriter, r *http.Request) {
		buf, err := xml.MarshalIndent(ti.idp.Metadata(), "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(buf)
	})
	return ti
}

func (ti *testIdP) metadataURL() string { return ti.srv.URL + "/metadata" }

func (ti *testIdP) metadataXML() []byte {
	buf, err := xml.MarshalIndent(ti.idp.Metadata(), "", "  ")
	if err != nil {
		ti.t.Fatal(err)
	}
	return buf
}

// GetServiceProvider implements saml.ServiceProviderProvider with the one SP
// registered by register.
func (ti *testIdP) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	if ti.spMD == nil || ti.spMD.EntityID != id {
		return nil, os.ErrNotExist
	}
	return ti.spMD, nil
}

// register gives the IdP the SP's metadata, as an admin uploads it.
func (ti *testIdP) register(sp *SP) {
	ti.t.Helper()
	md, err := sp.Metadata()
	if err != nil {
		ti.t.Fatal(err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		ti.t.Fatalf("SP metadata does not parse: %v\n%s", err, md)
	}
	ti.spMD = &ed
}

// opts break one thing about an otherwise good response.
type opts struct {
	// assertion is applied to the assertion before it is signed.
	assertion func(a *saml.Assertion)
	// response is applied to the Response before it is signed.
	response func(r *saml.Response)
	// unsignedAssertion / unsignedResponse leave out that signature.
	unsignedAssertion, unsignedResponse bool
	// plaintext sends the assertion unencrypted (the default encrypts it to
	// the SP's certificate, as the SP metadata offers).
	plaintext bool
	// signer signs instead of the IdP's key (untrusted certificate).
	signer *keyPair
	// tamper edits the final Response element, after signing.
	tamper func(el *etree.Element)
	// raw replaces the final Response XML.
	raw func([]byte) []byte
}

// authnRequest parses and validates the AuthnRequest in the redirect URL
// the SP sent the browser to, as the IdP does.
func (ti *testIdP) authnRequest(location string) *saml.IdpAuthnRequest {
	ti.t.Helper()
	if !strings.HasPrefix(location, ti.idp.SSOURL.String()+"?") {
		ti.t.Fatalf("SP redirected to %q, not the IdP SSO URL %s", location, ti.idp.SSOURL.String())
	}
	r := httptest.NewRequest(http.MethodGet, location, nil)
	req, err := saml.NewIdpAuthnRequest(ti.idp, r)
	if err != nil {
		ti.t.Fatalf("IdP cannot read the AuthnRequest: %v", err)
	}
	if err := req.Validate(); err != nil {
		ti.t.Fatalf("IdP refuses the AuthnRequest: %v", err)
	}
	return req
}

// idpInitiated starts an IdP-initiated sign-in to the registered SP.
func (ti *testIdP) idpInitiated(relayState string) *saml.IdpAuthnRequest {
	ti.t.Helper()
	r := httptest.NewRequest(http.MethodGet, ti.srv.URL+"/apps/gatehouse", nil)
	req, err := ti.idp.NewIdpInitiatedRequest(r, ti.spMD.EntityID, relayState)
	if err != nil {
		ti.t.Fatal(err)
	}
	return req
}

// respond makes the assertion for req and returns the form the browser
// posts to the ACS.
func (ti *testIdP) respond(req *saml.IdpAuthnRequest, o opts) url.Values {
	ti.t.Helper()
	session := &saml.Session{
		ID:           "session-1",
		CreateTime:   ti.clock.Now().Add(-time.Minute),
		ExpireTime:   ti.clock.Now().Add(time.Hour),
		Index:        "_session-index-1",
		NameID:       ti.nameID,
		NameIDFormat: string(saml.EmailAddressNameIDFormat),
	}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		ti.t.Fatal(err)
	}
	req.Assertion.AttributeStatements = []saml.AttributeStatement{{Attributes: ti.attrs}}
	if o.assertion != nil {
		o.assertion(req.Assertion)
	}
	signer := idpKeys()
	if o.signer != nil {
		signer = *o.signer
	}

	assertionEl := req.Assertion.Element()
	if !o.unsignedAssertion {
		req.Assertion.Signature = ti.signature(assertionEl, signer)
		assertionEl = req.Assertion.Element()
	}
	if !o.plaintext {
		assertionEl = ti.encrypt(assertionEl)
	}

	response := &saml.Response{
		Destination:  req.ACSEndpoint.Location,
		ID:           fmt.Sprintf("id-resp-%d", ti.clock.Now().UnixNano()),
		InResponseTo: req.Request.ID,
		IssueInstant: ti.clock.Now(),
		Version:      "2.0",
		Issuer: &saml.Issuer{
			Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity",
			Value:  ti.idp.MetadataURL.String(),
		},
		Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}},
	}
	if o.response != nil {
		o.response(response)
	}
	responseEl := response.Element()
	responseEl.AddChild(assertionEl)
	if !o.unsignedResponse {
		response.Signature = ti.signature(responseEl, signer)
		responseEl = response.Element()
		responseEl.AddChild(assertionEl)
	}
	if o.tamper != nil {
		o.tamper(responseEl)
	}
	doc := etree.NewDocument()
	doc.SetRoot(responseEl)
	buf, err := doc.WriteToBytes()
	if err != nil {
		ti.t.Fatal(err)
	}
	if o.raw != nil {
		buf = o.raw(buf)
	}
	return url.Values{
		"SAMLResponse": {base64.StdEncoding.EncodeToString(buf)},
		"RelayState":   {req.RelayState},
	}
}

// signature signs el (enveloped, exclusive C14N, RSA-SHA256, as
// crewjam/saml's IdP does) and returns the Signature element.
func (ti *testIdP) signature(el *etree.Element, kp keyPair) *etree.Element {
	ti.t.Helper()
	ks := dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{kp.cert.Raw}, PrivateKey: kp.key, Leaf: kp.cert})
	ctx := dsig.NewDefaultSigningContext(ks)
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		ti.t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		ti.t.Fatal(err)
	}
	return signed.ChildElements()[len(signed.ChildElements())-1]
}

// encrypt wraps the assertion in an EncryptedAssertion for the SP's
// certificate (RSA-OAEP, AES-256-GCM).
func (ti *testIdP) encrypt(assertionEl *etree.Element) *etree.Element {
	ti.t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(assertionEl.Copy())
	buf, err := doc.WriteToBytes()
	if err != nil {
		ti.t.Fatal(err)
	}
	enc := xmlenc.OAEP()
	enc.BlockCipher = xmlenc.AES256GCM
	enc.DigestMethod = &xmlenc.SHA256
	data, err := enc.Encrypt(spKeys().cert, buf, nil)
	if err != nil {
		ti.t.Fatal(err)
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	el := etree.NewElement("saml:EncryptedAssertion")
	el.AddChild(data)
	return el
}

// testSP is the SP under test with its IdP and clock.
type testSP struct {
	*SP
	t     testing.TB
	idp   *testIdP
	clock *testClock
}

func newTestSP(t testing.TB, edit func(*Config)) *testSP {
	t.Helper()
	clock := newTestClock()
	ti := newTestIdP(t, clock)
	keys := spKeys()
	cfg := Config{
		MetadataURL:    testMDURL,
		ACSURL:         testACSURL,
		IdPMetadataURL: ti.metadataURL(),
		KeyPEM:         keys.keyPEM,
		CertPEM:        keys.certPEM,
		Now:            clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	sp, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ti.register(sp)
	return &testSP{SP: sp, t: t, idp: ti, clock: clock}
}

// start runs Start and returns the IdP's view of the request and the
// cookies the browser keeps.
func (ts *testSP) start(relayState string) (*saml.IdpAuthnRequest, []*http.Cookie) {
	ts.t.Helper()
	rec := httptest.NewRecorder()
	if err := ts.Start(rec, httptest.NewRequest(http.MethodGet, testSPBase+"/login", nil), relayState); err != nil {
		ts.t.Fatalf("Start: %v", err)
	}
	res := rec.Result()
	if res.StatusCode != http.StatusFound {
		ts.t.Fatalf("Start answered %d, want 302", res.StatusCode)
	}
	return ts.idp.authnRequest(res.Header.Get("Location")), res.Cookies()
}

// result is what Finish answered.
type result struct {
	claims claims.Claims
	relay  string
	err    error
	rec    *httptest.ResponseRecorder
}

// post sends form to the ACS with cookies and runs Finish.
func (ts *testSP) post(form url.Values, cookies []*http.Cookie) result {
	ts.t.Helper()
	return ts.postBody(form.Encode(), cookies)
}

func (ts *testSP) postBody(body string, cookies []*http.Cookie) result {
	ts.t.Helper()
	r := httptest.NewRequest(http.MethodPost, testACSURL, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	c, relay, err := ts.Finish(rec, r)
	return result{claims: c, relay: relay, err: err, rec: rec}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func x509MarshalPKCS1(k keyPair) []byte { return x509.MarshalPKCS1PrivateKey(k.key) }
