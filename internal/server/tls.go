package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// certReloader serves the certificate of --tls-cert/--tls-key and swaps
// in a new one on Reload (SIGHUP), so a renewed certificate is served
// without a restart. A bad new pair leaves the one in service.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
}

// newCertReloader loads the pair once; an error is a start-up failure.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	c, err := loadCertificate(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cur.Store(c)
	r.warnExpiry(c)
	return r, nil
}

// Reload reads the files again and serves the new pair from the next
// handshake on; on error the old pair stays and the error says why.
func (r *certReloader) Reload() error {
	c, err := loadCertificate(r.certFile, r.keyFile)
	if err != nil {
		r.log.Error("TLS certificate not reloaded; the previous one is still served", "err", err)
		return err
	}
	r.cur.Store(c)
	r.log.Info("TLS certificate reloaded", "cert", r.certFile, "subject", c.Leaf.Subject.String(), "notAfter", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	r.warnExpiry(c)
	return nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

func (r *certReloader) warnExpiry(c *tls.Certificate) {
	if left := time.Until(c.Leaf.NotAfter); left < 0 {
		r.log.Warn("the TLS certificate has expired: clients will refuse it; renew it and send SIGHUP", "cert", r.certFile, "notAfter", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	} else if left < 14*24*time.Hour {
		r.log.Warn("the TLS certificate expires soon; renew it and send SIGHUP", "cert", r.certFile, "notAfter", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// tlsConfig is the server's TLS configuration: TLS 1.2 at least, the
// certificate from the reloader.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}
}

// loadCertificate reads a PEM certificate chain and its key, and says in
// words what is wrong with them.
func loadCertificate(certFile, keyFile string) (*tls.Certificate, error) {
	for _, f := range []struct{ path, what, opt string }{
		{certFile, "certificate", "--tls-cert, GATEHOUSE_TLS_CERT"},
		{keyFile, "key", "--tls-key, GATEHOUSE_TLS_KEY"},
	} {
		if _, err := os.ReadFile(f.path); err != nil {
			switch {
			case errors.Is(err, os.ErrNotExist):
				return nil, fmt.Errorf("TLS %s file %s (%s) does not exist", f.what, f.path, f.opt)
			case errors.Is(err, os.ErrPermission):
				return nil, fmt.Errorf("TLS %s file %s (%s) is not readable by this user (uid %d): fix its permissions", f.what, f.path, f.opt, os.Getuid())
			}
			return nil, fmt.Errorf("TLS %s file %s (%s): %w", f.what, f.path, f.opt, err)
		}
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "failed to find any PEM data in certificate input"), strings.Contains(msg, "failed to find certificate PEM data"):
			return nil, fmt.Errorf("TLS certificate file %s (--tls-cert, GATEHOUSE_TLS_CERT) holds no PEM certificate (-----BEGIN CERTIFICATE-----)", certFile)
		case strings.Contains(msg, "failed to find any PEM data in key input"), strings.Contains(msg, "failed to find PEM block with type ending in \"PRIVATE KEY\""):
			return nil, fmt.Errorf("TLS key file %s (--tls-key, GATEHOUSE_TLS_KEY) holds no PEM private key (-----BEGIN … PRIVATE KEY-----)", keyFile)
		case strings.Contains(msg, "private key does not match public key"):
			return nil, fmt.Errorf("the TLS key %s (--tls-key) does not belong to the certificate %s (--tls-cert): give the key the certificate was issued for", keyFile, certFile)
		}
		return nil, fmt.Errorf("TLS certificate %s and key %s (--tls-cert, --tls-key): %w", certFile, keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate file %s (--tls-cert): %w", certFile, err)
		}
	}
	return &c, nil
}
