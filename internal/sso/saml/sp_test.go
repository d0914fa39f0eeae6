package saml

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

// wantCode fails unless err is an *Error with code.
func wantCode(t *testing.T, err error, code ErrorCode) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("Finish accepted the response, want refusal %q", code)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Finish returned %T %v, want *Error", err, err)
	}
	if e.Code != code {
		t.Fatalf("Finish refused with %q (%s), want %q", e.Code, e.Detail, code)
	}
	if e.Detail == "" {
		t.Fatalf("refusal %q has no Detail", code)
	}
	return e
}

func wantAttrs(attrs []saml.Attribute) map[string][]string {
	m := map[string][]string{}
	for _, a := range attrs {
		for _, v := range a.Values {
			m[a.Name] = append(m[a.Name], v.Value)
		}
	}
	return m
}

func TestSPInitiatedSignIn(t *testing.T) {
	tests := []struct {
		name  string
		attrs func() []saml.Attribute
		o     opts
	}{
		{"entra encrypted, assertion and response signed", entraAttributes, opts{}},
		{"entra plaintext, assertion and response signed", entraAttributes, opts{plaintext: true}},
		{"assertion signed only", entraAttributes, opts{plaintext: true, unsignedResponse: true}},
		{"encrypted assertion signed only", entraAttributes, opts{unsignedResponse: true}},
		{"response signed only", entraAttributes, opts{plaintext: true, unsignedAssertion: true}},
		{"okta attribute names", oktaAttributes, opts{plaintext: true, unsignedResponse: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestSP(t, nil)
			ts.idp.attrs = tt.attrs()
			req, cookies := ts.start("/projects?id=x")
			form := ts.idp.respond(req, tt.o)
			res := ts.post(form, cookies)
			if res.err != nil {
				t.Fatalf("Finish: %v", res.err)
			}
			c := res.claims
			if c.Protocol != "saml" || c.Issuer != ts.idp.metadataURL() || c.Subject != "ada@contoso.example" {
				t.Fatalf("claims = %+v", c)
			}
			if want := wantAttrs(tt.attrs()); !reflect.DeepEqual(c.Attributes, want) {
				t.Fatalf("attributes = %v\nwant %v", c.Attributes, want)
			}
			if res.relay != "/projects?id=x" {
				t.Fatalf("relay state = %q", res.relay)
			}
			// The request cookie is cleared once used.
			var cleared bool
			for _, ck := range res.rec.Result().Cookies() {
				if strings.HasPrefix(ck.Name, requestCookiePrefix) && ck.MaxAge < 0 {
					cleared = true
				}
			}
			if !cleared {
				t.Fatalf("the request cookie was not cleared: %v", res.rec.Result().Header["Set-Cookie"])
			}
		})
	}
}

func TestEntraGroupsKeepAllValues(t *testing.T) {
	ts := newTestSP(t, nil)
	req, cookies := ts.start("")
	res := ts.post(ts.idp.respond(req, opts{}), cookies)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := res.claims.Attributes[claimGroups]; len(got) != 2 {
		t.Fatalf("groups = %v", got)
	}
	if got := res.claims.First(claimEmail); got != "ada@contoso.example" {
		t.Fatalf("email = %q", got)
	}
}

func TestStart(t *testing.T) {
	ts := newTestSP(t, nil)
	rec := httptest.NewRecorder()
	if err := ts.Start(rec, httptest.NewRequest(http.MethodGet, testSPBase+"/login", nil), "/dashboard"); err != nil {
		t.Fatal(err)
	}
	res := rec.Result()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if q.Get("SAMLRequest") == "" || q.Get("RelayState") != "/dashboard" || q.Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" || q.Get("Signature") == "" {
		t.Fatalf("redirect query = %v", q)
	}
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	c := cookies[0]
	if !strings.HasPrefix(c.Name, requestCookiePrefix) || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteNoneMode || c.Path != "/sso/saml/entra/acs" || c.MaxAge <= 0 {
		t.Fatalf("request cookie = %+v", c)
	}
	// The IdP validates the signed request (ts.start does it too).
	req := ts.idp.authnRequest(loc.String())
	if req.Request.AssertionConsumerServiceURL != testACSURL || req.Request.Issuer.Value != testMDURL {
		t.Fatalf("AuthnRequest = %+v", req.Request)
	}
	if f := req.Request.NameIDPolicy.Format; f != nil && *f != "" {
		t.Fatalf("NameIDPolicy Format = %q, want none (unspecified)", *f)
	}
}

func TestStartKeepsFewPendingRequests(t *testing.T) {
	ts := newTestSP(t, nil)
	var jar []*http.Cookie
	for range maxPendingRequests + 3 {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, testSPBase+"/login", nil)
		for _, c := range jar {
			r.AddCookie(c)
		}
		if err := ts.Start(rec, r, ""); err != nil {
			t.Fatal(err)
		}
		ts.clock.Advance(time.Second)
		jar = applyCookies(jar, rec.Result().Cookies())
	}
	if len(jar) != maxPendingRequests {
		t.Fatalf("%d pending request cookies, want %d", len(jar), maxPendingRequests)
	}
}

// applyCookies is a minimal cookie jar: set, replace or delete by name.
func applyCookies(jar, set []*http.Cookie) []*http.Cookie {
	for _, s := range set {
		kept := jar[:0]
		for _, c := range jar {
			if c.Name != s.Name {
				kept = append(kept, c)
			}
		}
		jar = kept
		if s.MaxAge >= 0 {
			jar = append(jar, s)
		}
	}
	return jar
}

func TestIdPInitiated(t *testing.T) {
	t.Run("allowed", func(t *testing.T) {
		ts := newTestSP(t, func(c *Config) { c.AllowIdPInitiated = true })
		res := ts.post(ts.idp.respond(ts.idp.idpInitiated("/projects"), opts{}), nil)
		if res.err != nil {
			t.Fatal(res.err)
		}
		if res.claims.Subject != "ada@contoso.example" || res.relay != "/projects" {
			t.Fatalf("claims %+v relay %q", res.claims, res.relay)
		}
	})
	t.Run("off", func(t *testing.T) {
		ts := newTestSP(t, nil)
		res := ts.post(ts.idp.respond(ts.idp.idpInitiated(""), opts{}), nil)
		wantCode(t, res.err, ErrIdPInitiatedOff)
	})
	t.Run("allowed, but an InResponseTo must still match", func(t *testing.T) {
		ts := newTestSP(t, func(c *Config) { c.AllowIdPInitiated = true })
		req, _ := ts.start("")
		res := ts.post(ts.idp.respond(req, opts{}), nil) // no request cookie
		wantCode(t, res.err, ErrInResponseTo)
	})
}

func TestReplay(t *testing.T) {
	t.Run("IdP-initiated response posted twice", func(t *testing.T) {
		ts := newTestSP(t, func(c *Config) { c.AllowIdPInitiated = true })
		form := ts.idp.respond(ts.idp.idpInitiated(""), opts{})
		if res := ts.post(form, nil); res.err != nil {
			t.Fatal(res.err)
		}
		ts.clock.Advance(10 * time.Second)
		wantCode(t, ts.post(form, nil).err, ErrReplayed)
	})
	t.Run("SP-initiated response posted twice with the request cookie", func(t *testing.T) {
		ts := newTestSP(t, nil)
		req, cookies := ts.start("")
		form := ts.idp.respond(req, opts{})
		if res := ts.post(form, cookies); res.err != nil {
			t.Fatal(res.err)
		}
		wantCode(t, ts.post(form, cookies).err, ErrReplayed)
	})
}

// shiftTimes moves every time of the assertion by d.
func shiftTimes(d time.Duration) func(a *saml.Assertion) {
	return func(a *saml.Assertion) {
		a.IssueInstant = a.IssueInstant.Add(d)
		a.Conditions.NotBefore = a.Conditions.NotBefore.Add(d)
		a.Conditions.NotOnOrAfter = a.Conditions.NotOnOrAfter.Add(d)
		for i := range a.Subject.SubjectConfirmations {
			scd := a.Subject.SubjectConfirmations[i].SubjectConfirmationData
			scd.NotOnOrAfter = scd.NotOnOrAfter.Add(d)
		}
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name string
		o    opts
		// after runs between the IdP's answer and the post.
		after func(ts *testSP)
		code  ErrorCode
	}{
		{name: "tampered attribute in a signed assertion", code: ErrBadSignature, o: opts{plaintext: true, unsignedResponse: true, tamper: func(el *etree.Element) {
			v := el.FindElement(".//AttributeValue")
			v.SetText("admin@contoso.example")
		}}},
		{name: "tampered NameID in a signed response", code: ErrBadSignature, o: opts{plaintext: true, unsignedAssertion: true, tamper: func(el *etree.Element) {
			el.FindElement(".//NameID").SetText("admin@contoso.example")
		}}},
		{name: "signature value altered", code: ErrBadSignature, o: opts{plaintext: true, tamper: func(el *etree.Element) {
			sv := el.FindElement("./Signature/SignatureValue")
			b := []byte(sv.Text())
			if b[10] == 'A' {
				b[10] = 'B'
			} else {
				b[10] = 'A'
			}
			sv.SetText(string(b))
		}}},
		{name: "signed by a key not in the IdP metadata", code: ErrBadSignature, o: opts{signer: ptr(attackerKeys())}},
		{name: "unsigned plaintext assertion", code: ErrUnsigned, o: opts{plaintext: true, unsignedAssertion: true, unsignedResponse: true}},
		{name: "unsigned encrypted assertion", code: ErrUnsigned, o: opts{unsignedAssertion: true, unsignedResponse: true}},
		{name: "signature removed from a signed assertion", code: ErrUnsigned, o: opts{plaintext: true, unsignedResponse: true, tamper: func(el *etree.Element) {
			a := el.FindElement("./Assertion")
			a.RemoveChild(a.FindElement("./Signature"))
		}}},
		{name: "expired assertion", code: ErrExpired, o: opts{assertion: shiftTimes(-10 * time.Minute)}},
		{name: "assertion posted after it expired", code: ErrExpired, after: func(ts *testSP) { ts.clock.Advance(5 * time.Minute) }},
		{name: "assertion not yet valid", code: ErrNotYetValid, o: opts{assertion: func(a *saml.Assertion) {
			a.Conditions.NotBefore = a.IssueInstant.Add(10 * time.Minute)
		}}},
		{name: "wrong audience", code: ErrAudience, o: opts{assertion: func(a *saml.Assertion) {
			a.Conditions.AudienceRestrictions[0].Audience.Value = "https://other.example/saml"
		}}},
		{name: "no audience restriction", code: ErrAudience, o: opts{assertion: func(a *saml.Assertion) {
			a.Conditions.AudienceRestrictions = nil
		}}},
		{name: "wrong destination", code: ErrDestination, o: opts{response: func(r *saml.Response) {
			r.Destination = "https://other.example/acs"
		}}},
		{name: "wrong recipient", code: ErrDestination, o: opts{assertion: func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://other.example/acs"
		}}},
		{name: "wrong issuer", code: ErrIssuer, o: opts{assertion: func(a *saml.Assertion) {
			a.Issuer.Value = "https://sts.windows.net/other/"
		}, response: func(r *saml.Response) { r.Issuer = nil }}},
		{name: "response to another request", code: ErrInResponseTo, o: opts{response: func(r *saml.Response) {
			r.InResponseTo = "id-someone-elses"
		}, assertion: func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = "id-someone-elses"
		}}},
		{name: "IdP said no", code: ErrStatus, o: opts{response: func(r *saml.Response) {
			r.Status = saml.Status{
				StatusCode:    saml.StatusCode{Value: saml.StatusRequester, StatusCode: &saml.StatusCode{Value: saml.StatusRequestDenied}},
				StatusMessage: &saml.StatusMessage{Value: "AADSTS50105: the signed in user is not assigned to a role for the application"},
			}
		}}},
		{name: "IdP said no, unsigned error response", code: ErrStatus, o: opts{unsignedResponse: true, response: func(r *saml.Response) {
			r.Status = saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusResponder}}
		}, raw: func(b []byte) []byte {
			// An error response carries no assertion.
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(b); err != nil {
				panic(err)
			}
			root := doc.Root()
			root.RemoveChild(root.FindElement("./EncryptedAssertion"))
			out, _ := doc.WriteToBytes()
			return out
		}}},
		{name: "DOCTYPE", code: ErrMalformed, o: opts{raw: func(b []byte) []byte {
			return append([]byte(`<?xml version="1.0"?><!DOCTYPE Response [<!ENTITY x "y">]>`), b...)
		}}},
		{name: "external entity", code: ErrMalformed, o: opts{raw: func(b []byte) []byte {
			return append([]byte(`<!DOCTYPE r SYSTEM "file:///etc/passwd">`), b...)
		}}},
		{name: "processing instruction", code: ErrMalformed, o: opts{raw: func(b []byte) []byte {
			return append([]byte(`<?xml-stylesheet href="x"?>`), b...)
		}}},
		{name: "not XML", code: ErrMalformed, o: opts{raw: func(b []byte) []byte { return b[:len(b)/2] }}},
		{name: "not a Response", code: ErrMalformed, o: opts{raw: func([]byte) []byte {
			return []byte(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`)
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestSP(t, nil)
			req, cookies := ts.start("")
			form := ts.idp.respond(req, tt.o)
			if tt.after != nil {
				tt.after(ts)
			}
			e := wantCode(t, ts.post(form, cookies).err, tt.code)
			t.Logf("%s: %s", e.Code, e.Detail)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestBillionLaughs(t *testing.T) {
	ts := newTestSP(t, func(c *Config) { c.AllowIdPInitiated = true })
	doc := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0"><samlp:Status>&lol4;</samlp:Status></samlp:Response>`
	form := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(doc))}}
	e := wantCode(t, ts.post(form, nil).err, ErrMalformed)
	if !strings.Contains(e.Detail, "DTD") {
		t.Fatalf("detail = %q, want it to name the DTD", e.Detail)
	}
}

func TestBadForms(t *testing.T) {
	big := strings.Repeat("A", 2*base64.StdEncoding.EncodedLen(DefaultMaxResponseBytes)+formOverheadBytes+10)
	tests := []struct {
		name string
		body string
		code ErrorCode
	}{
		{"no SAMLResponse", "RelayState=x", ErrMalformed},
		{"bad base64", "SAMLResponse=%21%21%21not-base64", ErrMalformed},
		{"body over the limit", "SAMLResponse=" + big, ErrTooLarge},
		{"decoded response over the limit", "SAMLResponse=" + strings.Repeat("A", base64.StdEncoding.EncodedLen(DefaultMaxResponseBytes+100)), ErrTooLarge},
		{"repeated SAMLResponse", "SAMLResponse=PGEvPg%3D%3D&SAMLResponse=PGEvPg%3D%3D", ErrMalformed},
		{"artifact binding", "SAMLart=AAQAAMFbLinlXaCM", ErrMalformed},
		{"bad form encoding", "SAMLResponse=%zz", ErrMalformed},
		{"base64 of garbage", "SAMLResponse=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("hello"))), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestSP(t, nil)
			wantCode(t, ts.postBody(tt.body, nil).err, tt.code)
		})
	}
	t.Run("GET", func(t *testing.T) {
		ts := newTestSP(t, nil)
		_, _, err := ts.Finish(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, testACSURL+"?SAMLResponse=x", nil))
		wantCode(t, err, ErrMalformed)
	})
	t.Run("multipart body", func(t *testing.T) {
		ts := newTestSP(t, nil)
		r := httptest.NewRequest(http.MethodPost, testACSURL, strings.NewReader("--x\r\n"))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		_, _, err := ts.Finish(httptest.NewRecorder(), r)
		wantCode(t, err, ErrMalformed)
	})
	t.Run("line-wrapped base64 just under MaxResponseBytes", func(t *testing.T) {
		// A response of the same shape from another SP measures the size.
		ts := newTestSP(t, nil)
		req, _ := ts.start("")
		form := ts.idp.respond(req, opts{})
		raw, _ := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
		ts2 := newTestSP(t, func(c *Config) { c.MaxResponseBytes = int64(len(raw)) })
		req, cookies := ts2.start("")
		form = ts2.idp.respond(req, opts{})
		enc := form.Get("SAMLResponse")
		var wrapped strings.Builder
		for len(enc) > 76 {
			wrapped.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		wrapped.WriteString(enc)
		form.Set("SAMLResponse", wrapped.String())
		if res := ts2.post(form, cookies); res.err != nil {
			t.Fatalf("refused: %v", res.err)
		}
	})
	t.Run("smaller MaxResponseBytes", func(t *testing.T) {
		ts := newTestSP(t, func(c *Config) { c.MaxResponseBytes = 2 << 10 })
		req, cookies := ts.start("")
		wantCode(t, ts.post(ts.idp.respond(req, opts{}), cookies).err, ErrTooLarge)
	})
}

func TestClockSkew(t *testing.T) {
	tests := []struct {
		name  string
		skew  time.Duration
		shift time.Duration // IdP clock minus SP clock
		code  ErrorCode     // "" = accepted
	}{
		{"IdP 60s ahead, default skew", 0, 60 * time.Second, ""},
		{"IdP 60s ahead, skew 30s", 30 * time.Second, 60 * time.Second, ErrNotYetValid},
		{"IdP 120s ahead, default skew", 0, 120 * time.Second, ErrNotYetValid},
		{"IdP 50s behind, default skew", 0, -50 * time.Second, ""},
		{"IdP 50s behind, skew 10s", 10 * time.Second, -50 * time.Second, ErrExpired},
		{"IdP 100s behind, default skew", 0, -100 * time.Second, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestSP(t, func(c *Config) { c.ClockSkew = tt.skew })
			req, cookies := ts.start("")
			form := ts.idp.respond(req, opts{assertion: func(a *saml.Assertion) {
				// An assertion valid for 30 s from issue, as the IdP's
				// clock sees it.
				issued := ts.clock.Now().Add(tt.shift)
				a.IssueInstant = issued
				a.Conditions.NotBefore = issued
				a.Conditions.NotOnOrAfter = issued.Add(30 * time.Second)
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = issued.Add(30 * time.Second)
			}})
			res := ts.post(form, cookies)
			if tt.code == "" {
				if res.err != nil {
					t.Fatalf("refused: %v", res.err)
				}
				return
			}
			wantCode(t, res.err, tt.code)
		})
	}
}

func TestMetadata(t *testing.T) {
	ts := newTestSP(t, nil)
	buf, err := ts.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	var md saml.EntityDescriptor
	if err := xml.Unmarshal(buf, &md); err != nil {
		t.Fatal(err)
	}
	if md.EntityID != testMDURL || len(md.SPSSODescriptors) != 1 {
		t.Fatalf("metadata = %s", buf)
	}
	d := md.SPSSODescriptors[0]
	if len(d.AssertionConsumerServices) != 1 || d.AssertionConsumerServices[0].Binding != saml.HTTPPostBinding || d.AssertionConsumerServices[0].Location != testACSURL {
		t.Fatalf("ACS = %+v", d.AssertionConsumerServices)
	}
	if d.WantAssertionsSigned == nil || !*d.WantAssertionsSigned || d.AuthnRequestsSigned == nil || !*d.AuthnRequestsSigned {
		t.Fatalf("signing flags = %v %v", d.WantAssertionsSigned, d.AuthnRequestsSigned)
	}
	uses := map[string]bool{}
	for _, kd := range d.KeyDescriptors {
		uses[kd.Use] = true
	}
	if !uses["signing"] || !uses["encryption"] {
		t.Fatalf("key descriptors = %+v", d.KeyDescriptors)
	}
	if len(d.NameIDFormats) != 1 || d.NameIDFormats[0] != saml.UnspecifiedNameIDFormat {
		t.Fatalf("NameID formats = %v", d.NameIDFormats)
	}

	ts2 := newTestSP(t, func(c *Config) { c.EntityID = "urn:gatehouse:entra" })
	buf, _ = ts2.Metadata()
	if !strings.Contains(string(buf), `entityID="urn:gatehouse:entra"`) {
		t.Fatalf("EntityID not used: %s", buf)
	}
	req, cookies := ts2.start("")
	if res := ts2.post(ts2.idp.respond(req, opts{}), cookies); res.err != nil {
		t.Fatalf("sign-in with a custom entity id: %v", res.err)
	}
}

func TestNewErrors(t *testing.T) {
	clock := newTestClock()
	ti := newTestIdP(t, clock)
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	keys := spKeys()
	base := func() Config {
		return Config{MetadataURL: testMDURL, ACSURL: testACSURL, IdPMetadataXML: ti.metadataXML(), KeyPEM: keys.keyPEM, CertPEM: keys.certPEM}
	}
	spMetadata := func() []byte {
		ts := newTestSP(t, nil)
		b, _ := ts.Metadata()
		return b
	}()
	tests := []struct {
		name string
		edit func(*Config)
		code ErrorCode
	}{
		{"no ACS URL", func(c *Config) { c.ACSURL = "" }, ErrConfig},
		{"relative ACS URL", func(c *Config) { c.ACSURL = "/sso/acs" }, ErrConfig},
		{"no metadata URL", func(c *Config) { c.MetadataURL = "" }, ErrConfig},
		{"no IdP metadata", func(c *Config) { c.IdPMetadataXML = nil }, ErrConfig},
		{"both IdP metadata", func(c *Config) { c.IdPMetadataURL = ti.metadataURL() }, ErrConfig},
		{"no key", func(c *Config) { c.KeyPEM = nil }, ErrConfig},
		{"certificate of another key", func(c *Config) { c.CertPEM = idpKeys().certPEM }, ErrConfig},
		{"skew too large", func(c *Config) { c.ClockSkew = time.Hour }, ErrConfig},
		{"metadata URL answers 404", func(c *Config) { c.IdPMetadataXML = nil; c.IdPMetadataURL = notFound.URL }, ErrMetadata},
		{"metadata URL unreachable", func(c *Config) { c.IdPMetadataXML = nil; c.IdPMetadataURL = "http://127.0.0.1:1/metadata" }, ErrMetadata},
		{"metadata not XML", func(c *Config) { c.IdPMetadataXML = []byte("{}") }, ErrMetadata},
		{"metadata with DOCTYPE", func(c *Config) {
			c.IdPMetadataXML = append([]byte(`<!DOCTYPE x [<!ENTITY a "b">]>`), c.IdPMetadataXML...)
		}, ErrMetadata},
		{"SP metadata instead of IdP's", func(c *Config) { c.IdPMetadataXML = spMetadata }, ErrMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.edit(&cfg)
			_, err := New(t.Context(), cfg)
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("New: %v, want code %q", err, tt.code)
			}
		})
	}
	t.Run("metadata by XML", func(t *testing.T) {
		if _, err := New(t.Context(), base()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPKCS1Key(t *testing.T) {
	k := spKeys()
	pkcs1 := pemBlock("RSA PRIVATE KEY", x509MarshalPKCS1(k))
	if _, _, err := parseKeyPair(pkcs1, k.certPEM); err != nil {
		t.Fatal(err)
	}
}

// TestIdPCertificateRollover: during a rollover the IdP metadata lists the
// old and the new signing certificate, and a response signed with either is
// accepted; one signed with neither is not.
func TestIdPCertificateRollover(t *testing.T) {
	ts := newTestSP(t, nil)
	next := attackerKeys() // stands in for the IdP's next certificate
	ts.idp.idp.ExtraCertificates = append(ts.idp.idp.ExtraCertificates, next.cert)
	cfg := Config{
		MetadataURL: testMDURL, ACSURL: testACSURL, IdPMetadataXML: ts.idp.metadataXML(),
		KeyPEM: spKeys().keyPEM, CertPEM: spKeys().certPEM, Now: ts.clock.Now,
	}
	sp, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.SP = sp
	for _, signer := range []keyPair{idpKeys(), next} {
		req, cookies := ts.start("")
		if res := ts.post(ts.idp.respond(req, opts{signer: &signer}), cookies); res.err != nil {
			t.Fatalf("signed with %s: %v", signer.cert.Subject.CommonName, res.err)
		}
	}
	other := spKeys()
	req, cookies := ts.start("")
	wantCode(t, ts.post(ts.idp.respond(req, opts{signer: &other}), cookies).err, ErrBadSignature)
}

func TestStartWithForceAuthn(t *testing.T) {
	ts := newTestSP(t, nil)
	rec := httptest.NewRecorder()
	if err := ts.StartWith(rec, httptest.NewRequest(http.MethodGet, testSPBase+"/test", nil), "/admin/sso/test", StartOptions{ForceAuthn: true}); err != nil {
		t.Fatal(err)
	}
	req := ts.idp.authnRequest(rec.Result().Header.Get("Location"))
	if req.Request.ForceAuthn == nil || !*req.Request.ForceAuthn {
		t.Fatalf("ForceAuthn = %v", req.Request.ForceAuthn)
	}
	res := ts.post(ts.idp.respond(req, opts{}), rec.Result().Cookies())
	if res.err != nil || res.relay != "/admin/sso/test" {
		t.Fatalf("Finish: %v, relay %q", res.err, res.relay)
	}
}

func TestIdPAccessors(t *testing.T) {
	ts := newTestSP(t, nil)
	if got, want := ts.IdPSSOURL(), ts.idp.idp.SSOURL.String(); got != want {
		t.Fatalf("IdPSSOURL = %q, want %q", got, want)
	}
	if got := ts.IdPEntityID(); got != ts.idp.metadataURL() {
		t.Fatalf("IdPEntityID = %q", got)
	}
	if got := ts.EntityID(); got != testMDURL {
		t.Fatalf("EntityID = %q", got)
	}
	certs := ts.IdPSigningCertificates()
	if len(certs) != 1 || !certs[0].Equal(idpKeys().cert) {
		t.Fatalf("IdP signing certificates = %v", certs)
	}
}
