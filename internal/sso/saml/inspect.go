package saml

import (
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
)

// preview is what Finish reads from a response before crewjam/saml verifies
// it: only to refuse early and to explain a refusal, never to accept.
type preview struct {
	inResponseTo string
	destination  string
	// signed: the Response or a plaintext Assertion carries a ds:Signature.
	signed    bool
	encrypted bool
	status    string // e.g. "Responder/RequestDenied: user not assigned"
	hasStatus bool
	success   bool // the top-level StatusCode is Success
}

// inspect parses the response (already checked for DTDs) and refuses one
// that is not a samlp:Response or that carries no signature at all.
func inspect(raw []byte) (preview, *Error) {
	var p preview
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(raw); err != nil {
		return p, &Error{Code: ErrMalformed, Detail: "not well-formed XML: " + err.Error(), Err: err}
	}
	root := doc.Root()
	if root == nil {
		return p, errorf(ErrMalformed, "the SAML response has no root element")
	}
	if root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return p, errorf(ErrMalformed, "the root element is {%s}%s, not a SAML 2.0 protocol Response", truncate(root.NamespaceURI(), 80), truncate(root.Tag, 40))
	}
	p.inResponseTo = root.SelectAttrValue("InResponseTo", "")
	p.destination = root.SelectAttrValue("Destination", "")
	for _, child := range root.ChildElements() {
		switch {
		case child.Tag == "Signature" && child.NamespaceURI() == nsDSig:
			p.signed = true
		case child.Tag == "Assertion" && child.NamespaceURI() == nsAssertion:
			for _, c := range child.ChildElements() {
				if c.Tag == "Signature" && c.NamespaceURI() == nsDSig {
					p.signed = true
				}
			}
		case child.Tag == "EncryptedAssertion" && child.NamespaceURI() == nsAssertion:
			p.encrypted = true
		case child.Tag == "Status" && child.NamespaceURI() == nsProtocol:
			p.hasStatus = true
			p.status = statusText(child)
			if code := child.SelectElement("StatusCode"); code != nil {
				p.success = code.SelectAttrValue("Value", "") == saml.StatusSuccess
			}
		}
	}
	if !p.hasStatus {
		return p, errorf(ErrMalformed, "the Response has no Status")
	}
	if !p.success {
		// Error responses carry no assertion, and IdPs that sign only
		// assertions (Entra ID's default) send them unsigned; the admin
		// needs the IdP's reason either way. It is a refusal, so trusting
		// the text costs nothing but the text.
		d := "the IdP refused the sign-in: " + p.status
		if !p.signed {
			d += " (unsigned response)"
		}
		return p, errorf(ErrStatus, "%s", d)
	}
	if !p.signed && !p.encrypted {
		return p, errorf(ErrUnsigned, "neither the Response nor its Assertion is signed; configure the IdP to sign the assertion or the response (Entra ID: \"Sign SAML assertion\"; Okta: signed assertions are the default)")
	}
	return p, nil
}

// statusText renders a samlp:Status as "Requester/InvalidNameIDPolicy:
// message", short status URIs without their common prefix.
func statusText(status *etree.Element) string {
	var codes []string
	code := status.SelectElement("StatusCode")
	for code != nil && len(codes) < 3 {
		v := code.SelectAttrValue("Value", "")
		codes = append(codes, strings.TrimPrefix(v, "urn:oasis:names:tc:SAML:2.0:status:"))
		code = code.SelectElement("StatusCode")
	}
	s := truncate(strings.Join(codes, "/"), 200)
	if msg := status.SelectElement("StatusMessage"); msg != nil && strings.TrimSpace(msg.Text()) != "" {
		s += ": " + truncate(strings.TrimSpace(msg.Text()), 300)
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// classify turns a crewjam/saml refusal into an *Error. The most specific
// reason wins: crewjam attaches several kinds to some errors.
func (sp *SP) classify(err error, p preview, pending []string) *Error {
	detail := err.Error()
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		detail = ire.PrivateErr.Error()
	}
	detail = truncate(detail, 500)
	wrap := func(code ErrorCode, d string) *Error { return &Error{Code: code, Detail: d, Err: err} }

	var badStatus saml.ErrBadStatus
	switch {
	case errors.As(err, &badStatus):
		s := p.status
		if s == "" {
			s = badStatus.Status
		}
		return wrap(ErrStatus, "the IdP refused the sign-in: "+s)
	case strings.Contains(detail, "signature element not present"):
		// crewjam/saml's unexported errSignatureElementNotPresent: an
		// EncryptedAssertion that decrypted to an unsigned assertion, in an
		// unsigned Response.
		return wrap(ErrUnsigned, "neither the Response nor its Assertion is signed ("+detail+")")
	case errors.Is(err, saml.ErrInvalidSignature):
		switch {
		case errors.Is(err, saml.ErrUntrustedCertificate):
			return wrap(ErrBadSignature, "signed with a certificate that is not in the IdP metadata (has the IdP's signing certificate changed? refresh the metadata): "+detail)
		case errors.Is(err, saml.ErrCertificateNotValidNow):
			return wrap(ErrBadSignature, "signed with an IdP certificate that is expired or not yet valid: "+detail)
		}
		return wrap(ErrBadSignature, "the signature does not verify: "+detail)
	case errors.Is(err, saml.ErrAssertionReplayed):
		return wrap(ErrReplayed, detail)
	case errors.Is(err, saml.ErrExpired):
		return wrap(ErrExpired, fmt.Sprintf("the response is no longer valid (%s); an assertion must arrive within %s of being issued, so if a fresh sign-in fails this way, check the IdP's and Gatehouse's clocks", detail, saml.MaxIssueDelay))
	case errors.Is(err, saml.ErrNotYetValid):
		return wrap(ErrNotYetValid, detail+"; check the IdP's and Gatehouse's clocks")
	case errors.Is(err, saml.ErrAudienceMismatch):
		return wrap(ErrAudience, fmt.Sprintf("%s; the IdP must send this SP's entity id %q as the audience (Entra ID: Identifier; Okta: Audience URI)", detail, sp.entityID))
	case errors.Is(err, saml.ErrDestinationMismatch):
		return wrap(ErrDestination, fmt.Sprintf("%s; the IdP must post to %s (Entra ID: Reply URL; Okta: Single sign-on URL)", detail, sp.acsURL.String()))
	case errors.Is(err, saml.ErrIssuerMismatch):
		return wrap(ErrIssuer, fmt.Sprintf("%s; the response must come from %q", detail, sp.idpEntityID))
	case errors.Is(err, saml.ErrRequestIDMismatch):
		if p.inResponseTo == "" && !sp.allowIdPInitiated {
			return wrap(ErrIdPInitiatedOff, "the response is unsolicited (IdP-initiated) and IdP-initiated sign-in is off for this connection")
		}
		if len(pending) == 0 {
			return wrap(ErrInResponseTo, "the response answers a sign-in this browser did not start here, or one older than "+requestTTL.String()+"; start the sign-in again ("+detail+")")
		}
		return wrap(ErrInResponseTo, "the response answers another sign-in than the one this browser started: "+detail)
	case errors.Is(err, saml.ErrDecryptionFailed):
		return wrap(ErrMalformed, "cannot decrypt the assertion with this SP's key (was it encrypted to another certificate?): "+detail)
	}
	// ErrMalformedMessage, ErrMissingElement, ErrUnsupported and anything
	// crewjam/saml left unclassified.
	return wrap(ErrMalformed, detail)
}
