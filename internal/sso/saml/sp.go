package saml

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/internal/sso/claims"
)

// Defaults for Config.
const (
	// DefaultClockSkew is how far the IdP's clock may be from Gatehouse's.
	// Servers on NTP agree within a second; 90 s covers a badly synchronised
	// one (and a slow MFA round trip landing just after NotBefore) while
	// keeping a stolen assertion usable for as short a time as possible. It
	// equals crewjam/saml's MaxIssueDelay (the longest it lets pass between
	// IssueInstant and receipt), and is half of its MaxClockSkew (180 s,
	// Shibboleth's figure), which is the upper bound of Config.ClockSkew.
	DefaultClockSkew = 90 * time.Second
	// DefaultMaxResponseBytes bounds a decoded SAML response. A signed,
	// encrypted Entra ID response with a few hundred group ids is around
	// 30 KiB; 256 KiB leaves room for large group lists and stays cheap to
	// refuse.
	DefaultMaxResponseBytes = 256 << 10
	// DefaultMetadataTimeout bounds fetching IdP metadata with the default
	// HTTP client.
	DefaultMetadataTimeout = 30 * time.Second
	// maxMetadataBytes bounds IdP metadata. One IdP's metadata is a few KiB
	// (Entra ID's, with its certificates, about 20 KiB).
	maxMetadataBytes = 4 << 20
	// formOverheadBytes is what the ACS form may carry besides SAMLResponse:
	// RelayState (80 bytes by the spec, often more) and field names.
	formOverheadBytes = 16 << 10
)

// Config configures one SAML service provider: one SSO connection to one
// IdP.
type Config struct {
	// EntityID is the SP entity id the IdP knows Gatehouse by (Entra ID's
	// "Identifier", Okta's "Audience URI"); default MetadataURL.
	EntityID string
	// MetadataURL is the absolute URL where Gatehouse serves this SP's
	// metadata.
	MetadataURL string
	// ACSURL is the absolute assertion consumer service URL (HTTP-POST
	// binding): Entra ID's "Reply URL", Okta's "Single sign-on URL".
	ACSURL string
	// IdPMetadataURL or IdPMetadataXML (exactly one) is the IdP's metadata:
	// its entity id, SSO endpoint and signing certificates.
	IdPMetadataURL string
	IdPMetadataXML []byte
	// KeyPEM and CertPEM are the SP key pair (PKCS#8 or PKCS#1 key, X.509
	// certificate), as GenerateKeyPair makes them: AuthnRequests are signed
	// with it, IdPs may encrypt assertions to it, and the request cookies are
	// authenticated with a key derived from it.
	KeyPEM, CertPEM []byte
	// AllowIdPInitiated accepts unsolicited responses (the user starts from
	// the IdP's app launcher). Off, only responses to a request this browser
	// started with Start are accepted.
	AllowIdPInitiated bool
	// ClockSkew is how far the IdP's clock may be ahead of or behind
	// Gatehouse's when checking NotBefore, NotOnOrAfter and IssueInstant;
	// default DefaultClockSkew, at most crewjam/saml's saml.MaxClockSkew
	// (180 s), which it applies itself. Independently of it, crewjam/saml
	// refuses an assertion issued more than saml.MaxIssueDelay (90 s) before
	// it arrives, so an IdP clock that far behind fails every sign-in.
	ClockSkew time.Duration
	// MaxResponseBytes bounds the decoded SAML response; default
	// DefaultMaxResponseBytes. Larger ones are refused before parsing.
	MaxResponseBytes int64
	// NameIDFormat is the NameID format requested in AuthnRequests and
	// advertised in the metadata; default unspecified, so the IdP sends the
	// format it is configured with (a transient NameID would change at every
	// sign-in and could not identify a user).
	NameIDFormat string
	// HTTPClient fetches IdP metadata; default a client with
	// DefaultMetadataTimeout.
	HTTPClient *http.Client
	// Replay remembers assertion ids until they expire; nil: in memory,
	// bounded (NewMemoryReplayCache), which serves one process only.
	Replay ReplayCache
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// SP is a SAML service provider for one IdP. It is safe for concurrent use.
type SP struct {
	sp                *saml.ServiceProvider
	acsURL            url.URL
	entityID          string
	idpEntityID       string
	allowIdPInitiated bool
	skew              time.Duration
	maxBytes          int64
	replay            ReplayCache
	now               func() time.Time
	tracker           *requestTracker
}

// nowClock is a clockwork.Clock whose Now is Config.Now, so crewjam/saml
// and goxmldsig check times against the same clock as this package.
type nowClock struct {
	clockwork.Clock
	now func() time.Time
}

func (c nowClock) Now() time.Time { return c.now() }

// New checks cfg, reads the SP key pair and fetches (IdPMetadataURL) or
// parses (IdPMetadataXML) the IdP metadata. A configuration problem is an
// *Error with code ErrConfig, a metadata problem one with ErrMetadata.
func New(ctx context.Context, cfg Config) (*SP, error) {
	metadataURL, err := absoluteURL("MetadataURL", cfg.MetadataURL)
	if err != nil {
		return nil, err
	}
	acsURL, err := absoluteURL("ACSURL", cfg.ACSURL)
	if err != nil {
		return nil, err
	}
	key, cert, err := parseKeyPair(cfg.KeyPEM, cfg.CertPEM)
	if err != nil {
		return nil, &Error{Code: ErrConfig, Detail: err.Error(), Err: err}
	}
	skew := cfg.ClockSkew
	switch {
	case skew == 0:
		skew = DefaultClockSkew
	case skew < 0 || skew > saml.MaxClockSkew:
		return nil, errorf(ErrConfig, "ClockSkew %s is not between 0 and %s", skew, saml.MaxClockSkew)
	}
	maxBytes := cfg.MaxResponseBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResponseBytes
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	replay := cfg.Replay
	if replay == nil {
		replay = NewMemoryReplayCache(0, now)
	}
	nameIDFormat := saml.NameIDFormat(cfg.NameIDFormat)
	if nameIDFormat == "" {
		nameIDFormat = saml.UnspecifiedNameIDFormat
	}

	idp, err := loadIdPMetadata(ctx, cfg)
	if err != nil {
		return nil, err
	}

	entityID := cfg.EntityID
	if entityID == "" {
		entityID = metadataURL.String()
	}
	sp := &saml.ServiceProvider{
		EntityID:                         entityID,
		Key:                              key,
		Certificate:                      cert,
		MetadataURL:                      *metadataURL,
		AcsURL:                           *acsURL,
		IDPMetadata:                      idp,
		AuthnNameIDFormat:                nameIDFormat,
		AllowIDPInitiated:                cfg.AllowIdPInitiated,
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		Clock:                            dsig.NewFakeClock(nowClock{Clock: clockwork.NewRealClock(), now: now}),
		// Replay is checked by Finish, after this package's own checks, with
		// the caller's context.
		ReplayCache: nil,
	}
	if signatureMethod := signatureMethodFor(key); signatureMethod != "" {
		sp.SignatureMethod = signatureMethod
	}
	der, err := spKeyDER(key)
	if err != nil {
		return nil, &Error{Code: ErrConfig, Detail: "KeyPEM: " + err.Error(), Err: err}
	}
	return &SP{
		sp:                sp,
		acsURL:            *acsURL,
		entityID:          entityID,
		idpEntityID:       idp.EntityID,
		allowIdPInitiated: cfg.AllowIdPInitiated,
		skew:              skew,
		maxBytes:          maxBytes,
		replay:            replay,
		now:               now,
		tracker:           newRequestTracker(der, entityID, acsURL.String(), acsURL.Path, acsURL.Scheme == "https", now),
	}, nil
}

func absoluteURL(field, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errorf(ErrConfig, "%s is required", field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &Error{Code: ErrConfig, Detail: fmt.Sprintf("%s: %v", field, err), Err: err}
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errorf(ErrConfig, "%s %q is not an absolute http(s) URL", field, raw)
	}
	return u, nil
}

// IdPEntityID returns the IdP's entity id from its metadata, which the
// Issuer of every accepted response is.
func (sp *SP) IdPEntityID() string { return sp.idpEntityID }

// EntityID returns this SP's entity id, the audience assertions must name.
func (sp *SP) EntityID() string { return sp.entityID }

// IdPSSOURL returns the IdP's SSO endpoint (HTTP-Redirect binding) that
// Start sends browsers to.
func (sp *SP) IdPSSOURL() string {
	return sp.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding)
}

// IdPSigningCertificates returns the certificates in the IdP metadata that
// responses may be signed with, for showing their subjects and expiry to
// the admin (an IdP rotates them; Entra ID every three years by default).
func (sp *SP) IdPSigningCertificates() []*x509.Certificate {
	var certs []*x509.Certificate
	for _, d := range sp.sp.IDPMetadata.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
				if err != nil {
					continue
				}
				if c, err := x509.ParseCertificate(der); err == nil {
					certs = append(certs, c)
				}
			}
		}
	}
	return certs
}

// Metadata returns this SP's metadata XML, for the IdP admin to upload or
// for the IdP to fetch from Config.MetadataURL.
func (sp *SP) Metadata() ([]byte, error) {
	md := sp.sp.Metadata()
	buf, err := xml.MarshalIndent(md, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode SP metadata: %w", err)
	}
	return append([]byte(xml.Header), buf...), nil
}

// Start begins an SP-initiated sign-in: it redirects the browser to the
// IdP's SSO endpoint with an AuthnRequest (HTTP-Redirect binding, signed)
// carrying relayState, and remembers the request id in a cookie scoped to
// the ACS path so that Finish accepts only the response to it. The caller
// validates relayState (same-site paths only) before and after.
func (sp *SP) Start(w http.ResponseWriter, r *http.Request, relayState string) error {
	return sp.StartWith(w, r, relayState, StartOptions{})
}

// StartOptions adjust one AuthnRequest.
type StartOptions struct {
	// ForceAuthn asks the IdP to authenticate the user again even if it has
	// a session, so an admin running a test sign-in can sign in as a test
	// user rather than as themselves.
	ForceAuthn bool
}

// StartWith is Start with options.
func (sp *SP) StartWith(w http.ResponseWriter, r *http.Request, relayState string, o StartOptions) error {
	ssoURL := sp.IdPSSOURL()
	if ssoURL == "" {
		return errorf(ErrMetadata, "the IdP metadata has no SingleSignOnService with the HTTP-Redirect binding")
	}
	req, err := sp.sp.MakeAuthenticationRequest(ssoURL, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return fmt.Errorf("saml: make AuthnRequest: %w", err)
	}
	if o.ForceAuthn {
		force := true
		req.ForceAuthn = &force
	}
	redirect, err := req.Redirect(relayState, sp.sp)
	if err != nil {
		return fmt.Errorf("saml: encode AuthnRequest: %w", err)
	}
	sp.tracker.remember(w, r, req.ID)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirect.String(), http.StatusFound)
	return nil
}

// Finish is the assertion consumer service (HTTP-POST binding). It checks
// the posted response and returns the claims (Protocol "saml", Issuer,
// Subject = NameID, Attributes name → values exactly as sent) and the
// RelayState as sent, which the caller must validate. Every refusal is an
// *Error. Finish reads r.Body itself, bounded by Config.MaxResponseBytes, so
// the caller must not parse the form first.
func (sp *SP) Finish(w http.ResponseWriter, r *http.Request) (claims.Claims, string, error) {
	c, relayState, err := sp.finish(w, r)
	if err != nil {
		return claims.Claims{}, "", err
	}
	return c, relayState, nil
}

func (sp *SP) finish(w http.ResponseWriter, r *http.Request) (claims.Claims, string, *Error) {
	if r.Method != http.MethodPost {
		return claims.Claims{}, "", errorf(ErrMalformed, "the SAML response must be POSTed (HTTP-POST binding), not sent with %s", r.Method)
	}
	form, err := sp.readForm(w, r)
	if err != nil {
		return claims.Claims{}, "", err
	}
	relayState := form.Get("RelayState")
	encoded := form.Get("SAMLResponse")
	if encoded == "" {
		return claims.Claims{}, "", errorf(ErrMalformed, "the form has no SAMLResponse")
	}
	// Base64 as IdPs send it may be wrapped in lines (Shibboleth, ADFS at
	// 76 columns), which DecodeString skips; allow for that here and check
	// the exact size after decoding.
	if int64(base64.StdEncoding.DecodedLen(len(encoded))) > sp.maxBytes+sp.maxBytes/16+4 {
		return claims.Claims{}, "", errorf(ErrTooLarge, "the SAML response is larger than %d bytes", sp.maxBytes)
	}
	raw, decErr := base64.StdEncoding.DecodeString(encoded)
	if decErr != nil {
		return claims.Claims{}, "", &Error{Code: ErrMalformed, Detail: "SAMLResponse is not base64: " + decErr.Error(), Err: decErr}
	}
	if int64(len(raw)) > sp.maxBytes {
		return claims.Claims{}, "", errorf(ErrTooLarge, "the SAML response is larger than %d bytes", sp.maxBytes)
	}
	c, err := sp.verify(r.Context(), w, r, raw)
	if err != nil {
		return claims.Claims{}, "", err
	}
	return c, relayState, nil
}

// readForm reads the url-encoded form, bounded before anything is parsed.
// The body limit allows for percent-encoding ('+', '/', '=' and line breaks
// take three bytes each); the decoded response is checked exactly later.
func (sp *SP) readForm(w http.ResponseWriter, r *http.Request) (url.Values, *Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, errorf(ErrMalformed, "the request has no body; the IdP must POST the SAMLResponse form")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, errorf(ErrMalformed, "the request body is %q, not an application/x-www-form-urlencoded form (HTTP-POST binding)", truncate(ct, 80))
		}
	}
	limit := 2*int64(base64.StdEncoding.EncodedLen(int(sp.maxBytes))) + formOverheadBytes
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errorf(ErrTooLarge, "the request body is larger than %d bytes (the SAML response may be at most %d bytes)", limit, sp.maxBytes)
		}
		return nil, &Error{Code: ErrMalformed, Detail: "cannot read the request body: " + err.Error(), Err: err}
	}
	form, err := url.ParseQuery(string(data))
	if err != nil {
		return nil, &Error{Code: ErrMalformed, Detail: "the request body is not a URL-encoded form: " + err.Error(), Err: err}
	}
	if len(form["SAMLResponse"]) > 1 || len(form["RelayState"]) > 1 {
		return nil, errorf(ErrMalformed, "the form repeats SAMLResponse or RelayState")
	}
	if form.Has("SAMLart") {
		return nil, errorf(ErrMalformed, "the HTTP-Artifact binding is not supported; configure the IdP to use HTTP-POST")
	}
	return form, nil
}

// verify checks the decoded response and returns its claims.
func (sp *SP) verify(ctx context.Context, w http.ResponseWriter, r *http.Request, raw []byte) (claims.Claims, *Error) {
	if err := checkNoDTD(raw); err != nil {
		return claims.Claims{}, &Error{Code: ErrMalformed, Detail: err.Error(), Err: err}
	}
	pre, perr := inspect(raw)
	if perr != nil {
		return claims.Claims{}, perr
	}
	if pre.inResponseTo == "" && !sp.allowIdPInitiated {
		return claims.Claims{}, errorf(ErrIdPInitiatedOff, "the response is unsolicited (IdP-initiated: no InResponseTo) and IdP-initiated sign-in is off for this connection; start the sign-in from Gatehouse or turn IdP-initiated sign-in on")
	}

	pending := sp.tracker.pending(r)
	// The Destination must be exactly the ACS URL: pass it as the URL the
	// response was received at.
	assertion, err := sp.sp.ParseXMLResponse(raw, pending, sp.acsURL)
	if err != nil {
		return claims.Claims{}, sp.classify(err, pre, pending)
	}
	if e := sp.checkTimes(assertion); e != nil {
		return claims.Claims{}, e
	}
	fresh, err := sp.replay.Remember(ctx, assertion.ID, replayDeadline(assertion))
	switch {
	case err != nil:
		return claims.Claims{}, &Error{Code: ErrUnavailable, Detail: "cannot record the assertion id against replay: " + err.Error(), Err: err}
	case !fresh:
		return claims.Claims{}, errorf(ErrReplayed, "assertion %q was already used to sign in", assertion.ID)
	}
	sp.tracker.forget(w, pre.inResponseTo)
	return claimsOf(assertion), nil
}

// claimsOf returns what the assertion states about the user.
func claimsOf(a *saml.Assertion) claims.Claims {
	c := claims.Claims{
		Protocol:   "saml",
		Issuer:     a.Issuer.Value,
		Attributes: map[string][]string{},
	}
	if a.Subject != nil && a.Subject.NameID != nil {
		c.Subject = a.Subject.NameID.Value
	}
	for _, st := range a.AttributeStatements {
		for _, attr := range st.Attributes {
			values := c.Attributes[attr.Name]
			for _, v := range attr.Values {
				if v.NameID != nil {
					values = append(values, v.NameID.Value)
					continue
				}
				values = append(values, v.Value)
			}
			if values == nil {
				values = []string{}
			}
			c.Attributes[attr.Name] = values
		}
	}
	return c
}

// checkTimes applies Config.ClockSkew, which is at most crewjam/saml's
// MaxClockSkew, so that its own (wider) bound has already passed.
func (sp *SP) checkTimes(a *saml.Assertion) *Error {
	now := sp.now()
	if a.IssueInstant.Add(-sp.skew).After(now) {
		return errorf(ErrNotYetValid, "the assertion was issued at %s, in the future by more than the allowed clock skew (%s); check the IdP's and Gatehouse's clocks", stamp(a.IssueInstant), sp.skew)
	}
	if cond := a.Conditions; cond != nil {
		if !cond.NotBefore.IsZero() && cond.NotBefore.Add(-sp.skew).After(now) {
			return errorf(ErrNotYetValid, "the assertion is valid only from %s (NotBefore), beyond the allowed clock skew (%s); check the IdP's and Gatehouse's clocks", stamp(cond.NotBefore), sp.skew)
		}
		if !cond.NotOnOrAfter.IsZero() && !now.Before(cond.NotOnOrAfter.Add(sp.skew)) {
			return errorf(ErrExpired, "the assertion expired at %s (NotOnOrAfter, allowing %s clock skew)", stamp(cond.NotOnOrAfter), sp.skew)
		}
	}
	// crewjam/saml accepted one bearer confirmation; require one that is
	// still valid within our skew.
	var latest time.Time
	if a.Subject != nil {
		for _, sc := range a.Subject.SubjectConfirmations {
			if sc.Method == "urn:oasis:names:tc:SAML:2.0:cm:bearer" && sc.SubjectConfirmationData != nil && sc.SubjectConfirmationData.NotOnOrAfter.After(latest) {
				latest = sc.SubjectConfirmationData.NotOnOrAfter
			}
		}
	}
	if !now.Before(latest.Add(sp.skew)) {
		return errorf(ErrExpired, "the assertion's subject confirmation expired at %s (NotOnOrAfter, allowing %s clock skew)", stamp(latest), sp.skew)
	}
	return nil
}

// replayDeadline is when crewjam/saml stops accepting the assertion anyway:
// MaxIssueDelay after its IssueInstant, or earlier if a NotOnOrAfter says so.
// Until then its id must be remembered.
func replayDeadline(a *saml.Assertion) time.Time {
	deadline := a.IssueInstant.Add(saml.MaxIssueDelay)
	if a.Conditions != nil && !a.Conditions.NotOnOrAfter.IsZero() {
		if d := a.Conditions.NotOnOrAfter.Add(saml.MaxClockSkew); d.Before(deadline) {
			deadline = d
		}
	}
	// A little past the deadline, so clock steps never open a gap.
	return deadline.Add(time.Minute)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// signatureMethodFor returns the SHA-256 signature method for key.
func signatureMethodFor(key any) string {
	switch key.(type) {
	case *rsa.PrivateKey:
		return dsig.RSASHA256SignatureMethod
	case *ecdsa.PrivateKey:
		return dsig.ECDSASHA256SignatureMethod
	}
	return ""
}

// loadIdPMetadata fetches or parses the IdP metadata and checks it has what
// a sign-in needs.
func loadIdPMetadata(ctx context.Context, cfg Config) (*saml.EntityDescriptor, error) {
	var data []byte
	switch {
	case cfg.IdPMetadataURL != "" && len(cfg.IdPMetadataXML) > 0:
		return nil, errorf(ErrConfig, "set one of IdPMetadataURL and IdPMetadataXML, not both")
	case cfg.IdPMetadataURL != "":
		var err error
		data, err = fetchMetadata(ctx, cfg.HTTPClient, cfg.IdPMetadataURL)
		if err != nil {
			return nil, err
		}
	case len(cfg.IdPMetadataXML) > 0:
		data = cfg.IdPMetadataXML
	default:
		return nil, errorf(ErrConfig, "IdPMetadataURL or IdPMetadataXML is required")
	}
	if len(data) > maxMetadataBytes {
		return nil, errorf(ErrMetadata, "the IdP metadata is larger than %d bytes", maxMetadataBytes)
	}
	if err := checkNoDTD(data); err != nil {
		return nil, &Error{Code: ErrMetadata, Detail: "IdP metadata: " + err.Error(), Err: err}
	}
	md, err := samlsp.ParseMetadata(data)
	if err != nil {
		return nil, &Error{Code: ErrMetadata, Detail: "IdP metadata: " + err.Error(), Err: err}
	}
	if md.EntityID == "" {
		return nil, errorf(ErrMetadata, "the IdP metadata has no entityID")
	}
	if len(md.IDPSSODescriptors) == 0 {
		return nil, errorf(ErrMetadata, "the metadata of %q has no IDPSSODescriptor: it is not an IdP's", md.EntityID)
	}
	hasRedirect, hasCert := false, false
	for _, d := range md.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			if s.Binding == saml.HTTPRedirectBinding && s.Location != "" {
				hasRedirect = true
			}
		}
		for _, kd := range d.KeyDescriptors {
			if (kd.Use == "" || kd.Use == "signing") && len(kd.KeyInfo.X509Data.X509Certificates) > 0 {
				hasCert = true
			}
		}
	}
	if !hasRedirect {
		return nil, errorf(ErrMetadata, "the metadata of %q has no SingleSignOnService with the HTTP-Redirect binding", md.EntityID)
	}
	if !hasCert {
		return nil, errorf(ErrMetadata, "the metadata of %q has no signing certificate, so no response could be verified", md.EntityID)
	}
	return md, nil
}

func fetchMetadata(ctx context.Context, client *http.Client, rawURL string) ([]byte, error) {
	if client == nil {
		client = &http.Client{Timeout: DefaultMetadataTimeout}
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errorf(ErrConfig, "IdPMetadataURL %q is not an absolute http(s) URL", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &Error{Code: ErrConfig, Detail: "IdPMetadataURL: " + err.Error(), Err: err}
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := client.Do(req)
	if err != nil {
		return nil, &Error{Code: ErrMetadata, Detail: "cannot fetch the IdP metadata: " + err.Error(), Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, errorf(ErrMetadata, "fetching the IdP metadata from %s answered HTTP %d", u.Redacted(), resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return nil, &Error{Code: ErrMetadata, Detail: "cannot read the IdP metadata: " + err.Error(), Err: err}
	}
	if len(data) > maxMetadataBytes {
		return nil, errorf(ErrMetadata, "the IdP metadata at %s is larger than %d bytes", u.Redacted(), maxMetadataBytes)
	}
	return bytes.TrimSpace(data), nil
}
