package saml_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/sso/saml"
)

// Example wires one SAML connection's three endpoints. The SSO adapter does
// this per connection, keeps the *saml.SP (New fetches the IdP metadata),
// and passes one shared ReplayCache to all of them.
func Example() {
	ctx := context.Background()
	keyPEM, certPEM, err := saml.GenerateKeyPair("gatehouse.example.com")
	if err != nil {
		panic(err)
	}
	replay := saml.NewMemoryReplayCache(0, nil)
	sp, err := saml.New(ctx, saml.Config{
		MetadataURL:    "https://gatehouse.example.com/sso/saml/entra/metadata",
		ACSURL:         "https://gatehouse.example.com/sso/saml/entra/acs",
		IdPMetadataURL: "https://login.microsoftonline.com/TENANT/federationmetadata/2007-06/federationmetadata.xml?appid=APP",
		KeyPEM:         keyPEM,
		CertPEM:        certPEM,
		Replay:         replay,
	})
	if err != nil {
		var e *saml.Error
		if errors.As(err, &e) {
			slog.Error("SAML connection not usable", "code", e.Code, "detail", e.Detail)
		}
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sso/saml/entra/metadata", func(w http.ResponseWriter, r *http.Request) {
		md, err := sp.Metadata()
		if err != nil {
			http.Error(w, "metadata unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(md)
	})
	mux.HandleFunc("GET /sso/saml/entra/login", func(w http.ResponseWriter, r *http.Request) {
		if err := sp.Start(w, r, "/projects"); err != nil {
			http.Error(w, "cannot start sign-in", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /sso/saml/entra/acs", func(w http.ResponseWriter, r *http.Request) {
		c, relayState, err := sp.Finish(w, r)
		var e *saml.Error
		if errors.As(err, &e) {
			http.Error(w, "sign-in refused: "+e.Detail, http.StatusBadRequest)
			return
		}
		_ = c          // map attributes, match the user, open a session
		_ = relayState // validate: same-site path only
	})
}
