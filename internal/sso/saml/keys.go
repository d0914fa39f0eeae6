package saml

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// keyBits is the size of the RSA keys GenerateKeyPair makes. RSA, not ECDSA,
// because XML encryption (IdPs encrypting assertions to the SP) needs an RSA
// key, and every IdP verifies RSA-SHA256 request signatures.
const keyBits = 2048

// certValidity is how long a generated SP certificate is valid. IdPs treat
// the SP certificate in metadata as a key container and most ignore its
// dates; a long validity spares admins a rollover they gain nothing from.
const certValidity = 10 * 365 * 24 * time.Hour

// GenerateKeyPair makes a new SP key pair: an RSA key (PKCS#8 PEM) and a
// self-signed certificate for it (PEM) whose subject common name is
// commonName, to put in Config.KeyPEM and Config.CertPEM.
func GenerateKeyPair(commonName string) (keyPEM, certPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("generate SP key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generate SP certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create SP certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode SP key: %w", err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return keyPEM, certPEM, nil
}

// parseKeyPair reads the SP key (PKCS#8 or PKCS#1 PEM) and certificate (PEM)
// and checks that they belong together.
func parseKeyPair(keyPEM, certPEM []byte) (crypto.Signer, *x509.Certificate, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, nil, errors.New("KeyPEM holds no PEM block")
	}
	var key crypto.Signer
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("KeyPEM: %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("KeyPEM: %w", err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			key = k
		case *ecdsa.PrivateKey:
			key = k
		default:
			return nil, nil, fmt.Errorf("KeyPEM: a %T key cannot sign SAML messages; use RSA or ECDSA", k)
		}
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("KeyPEM: %w", err)
		}
		key = k
	default:
		return nil, nil, fmt.Errorf("KeyPEM: a %q PEM block is not a private key (want PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}

	block, _ = pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, errors.New("CertPEM holds no CERTIFICATE PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CertPEM: %w", err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, errors.New("CertPEM is not the certificate of KeyPEM")
	}
	return key, cert, nil
}
