// Package saml is Gatehouse's SAML 2.0 service provider: the protocol half of
// SAML single sign-on, which the SSO adapter (internal/sso) drives for each
// configured SAML connection. It builds on github.com/crewjam/saml for the
// messages, XML signatures (russellhaering/goxmldsig) and encryption, and
// adds the policy Gatehouse requires on top of it:
//
//   - the response arrives with the HTTP-POST binding only (no artifact
//     resolution, so a posted form never makes Gatehouse call out; the
//     fields of HTTP-POST-SimpleSign are ignored and XML signatures are
//     still required), and is
//     refused before any XML parsing when it is larger than
//     [Config.MaxResponseBytes] or carries a DTD or entity declaration;
//   - the Response or its Assertion must be signed by a certificate in the
//     IdP metadata; an unsigned one is refused ([ErrUnsigned]) by this package
//     before crewjam/saml sees it, and crewjam/saml verifies the signature;
//   - Destination, Recipient and the audience must name this SP, the Issuer
//     must be the IdP of the metadata, and the assertion must be valid now
//     within [Config.ClockSkew];
//   - each assertion id is remembered until the assertion expires
//     ([ReplayCache]), so a captured response is accepted once;
//   - an SP-initiated response must answer a request this browser started
//     ([SP.Start] sets a signed, HttpOnly cookie scoped to the ACS path), and
//     an IdP-initiated (unsolicited) one is accepted only when
//     [Config.AllowIdPInitiated] is set.
//
// Every refusal [SP.Finish] returns is an [*Error] whose [ErrorCode] says
// what failed and whose Detail says why, for the admin running a test
// sign-in. A successful sign-in yields a [claims.Claims] with the attributes
// exactly as the IdP sent them; mapping them to a user is the adapter's job.
//
// A typical use, one SP per connection:
//
//	sp, err := saml.New(ctx, saml.Config{
//		MetadataURL:    "https://gatehouse.example.com/sso/saml/entra/metadata",
//		ACSURL:         "https://gatehouse.example.com/sso/saml/entra/acs",
//		IdPMetadataURL: "https://login.microsoftonline.com/<tenant>/federationmetadata/2007-06/federationmetadata.xml?appid=<app>",
//		KeyPEM:         keyPEM,
//		CertPEM:        certPEM,
//	})
//	// GET  …/metadata: w.Write(sp.Metadata())
//	// GET  …/login:    sp.Start(w, r, "/projects")
//	// POST …/acs:      c, relayState, err := sp.Finish(w, r)
package saml
