package saml

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// forgetful accepts every id, so a benchmark can post one response again.
type forgetful struct{}

func (forgetful) Remember(context.Context, string, time.Time) (bool, error) { return true, nil }

// BenchmarkFinish measures the ACS for one response: form and base64
// decoding, the DTD scan, crewjam/saml's verification (RSA-SHA256
// signatures, RSA-OAEP + AES-GCM decryption) and the checks after it.
func BenchmarkFinish(b *testing.B) {
	for _, bc := range []struct {
		name string
		o    opts
	}{
		{"encrypted, response and assertion signed", opts{}},
		{"plaintext, assertion signed", opts{plaintext: true, unsignedResponse: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ts := newTestSP(b, func(c *Config) { c.AllowIdPInitiated = true; c.Replay = forgetful{} })
			body := ts.idp.respond(ts.idp.idpInitiated("/"), bc.o).Encode()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, testACSURL, strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if _, _, err := ts.Finish(httptest.NewRecorder(), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
