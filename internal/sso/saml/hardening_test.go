package saml

import (
	"encoding/base64"
	"testing"

	"github.com/beevik/etree"
)

// TestDOCTYPERefusedBeforeCrewjam shows why checkNoDTD exists: crewjam/saml
// v0.6.3 accepts a signed response preceded by a DOCTYPE with entity
// declarations (its round-trip validation lets directives through), so it is
// Gatehouse's own check that refuses it, before any tree is built.
func TestDOCTYPERefusedBeforeCrewjam(t *testing.T) {
	ts := newTestSP(t, func(c *Config) { c.AllowIdPInitiated = true })
	form := ts.idp.respond(ts.idp.idpInitiated(""), opts{plaintext: true})
	raw, err := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	doc := append([]byte(`<!DOCTYPE Response [<!ENTITY x "y">]>`), raw...)
	_, libErr := ts.sp.ParseXMLResponse(doc, nil, ts.acsURL)
	t.Logf("crewjam/saml alone: err = %v", libErr)

	form.Set("SAMLResponse", base64.StdEncoding.EncodeToString(doc))
	wantCode(t, ts.post(form, nil).err, ErrMalformed)
}

// TestCommentInNameID is the 2018 comment-truncation attack (CVE-2017-11427
// and kin): a comment inserted into a signed NameID leaves the signature
// valid (exclusive C14N drops comments), and a parser that reads only the
// first text node would see another user. The subject must be the whole
// signed value or the response refused.
func TestCommentInNameID(t *testing.T) {
	ts := newTestSP(t, nil)
	ts.idp.nameID = "ada@contoso.example.attacker.test"
	req, cookies := ts.start("")
	form := ts.idp.respond(req, opts{plaintext: true, unsignedResponse: true, tamper: func(el *etree.Element) {
		n := el.FindElement(".//NameID")
		n.SetText("ada@contoso.example")
		n.AddChild(etree.NewComment(""))
		n.AddChild(etree.NewText(".attacker.test"))
	}})
	res := ts.post(form, cookies)
	if res.err == nil && res.claims.Subject != "ada@contoso.example.attacker.test" {
		t.Fatalf("subject = %q: truncated at the comment", res.claims.Subject)
	}
	t.Logf("subject %q, err %v", res.claims.Subject, res.err)
}

// TestSignatureWrapping tries the classic XML signature wrapping moves:
// a forged assertion beside (or instead of) the signed one.
func TestSignatureWrapping(t *testing.T) {
	forge := func(el *etree.Element) *etree.Element {
		evil := el.FindElement("./Assertion").Copy()
		evil.CreateAttr("ID", "id-evil")
		if s := evil.FindElement("./Signature"); s != nil {
			evil.RemoveChild(s)
		}
		evil.FindElement(".//NameID").SetText("admin@contoso.example")
		return evil
	}
	tests := []struct {
		name   string
		o      opts
		tamper func(el *etree.Element)
	}{
		{"forged assertion before the signed one", opts{plaintext: true, unsignedResponse: true}, func(el *etree.Element) {
			evil := forge(el)
			el.InsertChildAt(el.FindElement("./Assertion").Index(), evil)
		}},
		{"forged assertion after the signed one", opts{plaintext: true, unsignedResponse: true}, func(el *etree.Element) {
			el.AddChild(forge(el))
		}},
		{"signed assertion moved into Extensions", opts{plaintext: true, unsignedResponse: true}, func(el *etree.Element) {
			signed := el.FindElement("./Assertion")
			evil := forge(el)
			el.RemoveChild(signed)
			ext := etree.NewElement("samlp:Extensions")
			ext.AddChild(signed)
			el.InsertChildAt(1, ext)
			el.AddChild(evil)
		}},
		{"NameID changed in a signed response", opts{plaintext: true, unsignedAssertion: true}, func(el *etree.Element) {
			a := el.FindElement("./Assertion")
			a.FindElement(".//NameID").SetText("admin@contoso.example")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestSP(t, nil)
			req, cookies := ts.start("")
			o := tt.o
			o.tamper = tt.tamper
			res := ts.post(ts.idp.respond(req, o), cookies)
			if res.err == nil {
				if res.claims.Subject != "ada@contoso.example" {
					t.Fatalf("forged subject accepted: %q", res.claims.Subject)
				}
				return
			}
			t.Logf("refused: %v", res.err)
		})
	}
}

// TestRelayStateReturnedAsSent: Finish hands the RelayState back untouched;
// limiting it to same-site paths is the adapter's job.
func TestRelayStateReturnedAsSent(t *testing.T) {
	ts := newTestSP(t, func(c *Config) { c.AllowIdPInitiated = true })
	for _, rs := range []string{"", "/projects", "https://evil.example/", "//evil.example", "javascript:alert(1)"} {
		form := ts.idp.respond(ts.idp.idpInitiated(rs), opts{})
		res := ts.post(form, nil)
		if res.err != nil {
			t.Fatal(res.err)
		}
		if res.relay != rs {
			t.Fatalf("relay = %q, want %q as sent (the adapter validates it)", res.relay, rs)
		}
	}
}
