package saml

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fuzzSP is an SP accepting IdP-initiated responses from the test IdP, so
// the fuzzer reaches signature verification and the checks after it
// without a request cookie.
func fuzzSP(f *testing.F) *testSP {
	f.Helper()
	return newTestSP(f, func(c *Config) { c.AllowIdPInitiated = true })
}

// checkFinishError fails unless err is nil or an *Error with a known code.
func checkFinishError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || e != err {
		t.Fatalf("Finish returned %T %v, want *Error", err, err)
	}
	switch e.Code {
	case ErrMalformed, ErrTooLarge, ErrBadSignature, ErrUnsigned, ErrExpired, ErrNotYetValid,
		ErrReplayed, ErrAudience, ErrDestination, ErrIssuer, ErrInResponseTo, ErrIdPInitiatedOff,
		ErrStatus, ErrUnavailable:
	default:
		t.Fatalf("Finish refused with unexpected code %q: %s", e.Code, e.Detail)
	}
	if e.Detail == "" {
		t.Fatalf("refusal %q has no Detail", e.Code)
	}
}

// FuzzFinish feeds arbitrary documents to the ACS as the decoded SAML
// response. Seeds: testdata/fuzz/FuzzFinish (checked in: DTDs, entity
// bombs, wrapped and tampered responses) and a valid response made now.
func FuzzFinish(f *testing.F) {
	ts := fuzzSP(f)
	for _, o := range []opts{{}, {plaintext: true}, {plaintext: true, unsignedResponse: true}} {
		form := ts.idp.respond(ts.idp.idpInitiated("/"), o)
		raw, err := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		form := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(doc)}, "RelayState": {"/"}}
		r := httptest.NewRequest(http.MethodPost, testACSURL, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, _, err := ts.Finish(httptest.NewRecorder(), r)
		checkFinishError(t, err)
	})
}

// FuzzFinishForm feeds arbitrary request bodies to the ACS: the form and
// base64 decoding in front of the XML.
func FuzzFinishForm(f *testing.F) {
	ts := fuzzSP(f)
	f.Add(ts.idp.respond(ts.idp.idpInitiated("/"), opts{}).Encode())
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, testACSURL, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, _, err := ts.Finish(httptest.NewRecorder(), r)
		checkFinishError(t, err)
	})
}
