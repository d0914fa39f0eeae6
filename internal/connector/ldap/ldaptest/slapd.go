// Package ldaptest starts a throwaway OpenLDAP slapd for tests and
// benchmarks: its own cn=config in a temporary directory, the memberOf
// overlay, a tiny Active Directory schema (sAMAccountName,
// userAccountControl), optional StartTLS with a self-signed certificate, and
// data loaded online with ldapadd so that memberOf is filled.
//
// It needs the Debian packages slapd and ldap-utils. Without them a test is
// skipped, except under CI=true, where a missing slapd fails the test: CI
// installs them, so their absence there is a broken machine, not a choice.
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fixed names of the test directory.
const (
	BaseDN        = "dc=example,dc=org"
	AdminDN       = "cn=admin," + BaseDN
	AdminPassword = "adminpw"
	// BindDN is a service account that may read the directory, as a
	// deployment's ldap.bindDn would be.
	BindDN       = "cn=svc-bind,ou=services," + BaseDN
	BindPassword = "bindpw"
)

// Options shape the server.
type Options struct {
	// TLS enables StartTLS with a self-signed certificate for 127.0.0.1;
	// its PEM is in Server.CAFile.
	TLS bool
	// SizeLimit caps the entries one search returns to users other than
	// the root DN (0: slapd's default of 500). Paged searches are not
	// capped in total, as on a real server configured for paging.
	SizeLimit int
	// PagedTotalLimited applies SizeLimit to paged searches in total too,
	// as OpenLDAP does by default.
	PagedTotalLimited bool
	// LDIF files loaded after start, in order (paths relative to the
	// caller's directory, typically testdata/…).
	LDIF []string
}

// Server is a running slapd.
type Server struct {
	URL    string // ldap://127.0.0.1:<port>
	CAFile string // the self-signed certificate, with Options.TLS
	Dir    string

	tb   testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	bin  string
}

// Available reports whether slapd and the LDAP client tools are installed.
func Available() bool {
	_, err1 := slapdPath()
	_, err2 := exec.LookPath("ldapadd")
	return err1 == nil && err2 == nil
}

func slapdPath() (string, error) {
	if p, err := exec.LookPath("slapd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/slapd", "/usr/local/sbin/slapd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("slapd not found")
}

// Require skips tb when slapd is not installed, or fails it under CI=true.
func Require(tb testing.TB) {
	tb.Helper()
	if Available() {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("slapd and ldap-utils are required under CI=true (apt-get install -y slapd ldap-utils)")
	}
	tb.Skip("slapd or ldap-utils not installed (apt-get install -y slapd ldap-utils)")
}

// Start starts a slapd with opts and stops it when tb ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	Require(tb)
	bin, _ := slapdPath()
	dir := tb.TempDir()
	s := &Server{Dir: dir, tb: tb, bin: bin}
	for _, d := range []string{"slapd.d", "db", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	if opts.TLS {
		s.CAFile = filepath.Join(dir, "cert.pem")
		if err := writeCert(s.CAFile, filepath.Join(dir, "key.pem")); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "config.ldif")
	if err := os.WriteFile(cfg, []byte(configLDIF(dir, opts)), 0o600); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(filepath.Dir(bin), "slapadd"), "-n0", "-F", filepath.Join(dir, "slapd.d"), "-l", cfg).CombinedOutput(); err != nil {
		// slapadd is slapd itself under another name on Debian.
		if out2, err2 := exec.Command(bin, "-T", "add", "-n0", "-F", filepath.Join(dir, "slapd.d"), "-l", cfg).CombinedOutput(); err2 != nil {
			tb.Fatalf("slapadd config: %v\n%s\n%s", err, out, out2)
		}
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		s.URL = "ldap://127.0.0.1:" + strconv.Itoa(port)
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("start slapd: %v", lastErr)
	}
	tb.Cleanup(s.Stop)
	s.Add(tb, baseLDIF)
	for _, f := range opts.LDIF {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		s.Add(tb, string(b))
	}
	return s
}

// start launches slapd in the foreground (-d 0) and waits until it answers.
func (s *Server) start() error {
	log, err := os.OpenFile(filepath.Join(s.Dir, "slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "-F", filepath.Join(s.Dir, "slapd.d"), "-h", s.URL+"/", "-d", "0")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	host := strings.TrimPrefix(s.URL, "ldap://")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(s.Dir, "slapd.log"))
			return fmt.Errorf("slapd exited: %s", lastLines(b, 5))
		default:
		}
		if c, err := net.DialTimeout("tcp", host, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("slapd did not answer on %s within 10s", s.URL)
}

// Stop stops slapd (SIGTERM) and waits for it; a stopped server stays
// stopped until Restart. Stop is idempotent.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Restart starts a stopped server again on the same address with its data.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.start(); err != nil {
		tb.Fatalf("restart slapd: %v", err)
	}
}

// Add loads LDIF records (ldapadd, as the root DN).
func (s *Server) Add(tb testing.TB, ldif string) {
	tb.Helper()
	s.tool(tb, "ldapadd", ldif)
}

// Modify applies LDIF change records (ldapmodify, as the root DN).
func (s *Server) Modify(tb testing.TB, ldif string) {
	tb.Helper()
	s.tool(tb, "ldapmodify", ldif)
}

func (s *Server) tool(tb testing.TB, name, ldif string) {
	tb.Helper()
	cmd := exec.Command(name, "-x", "-H", s.URL, "-D", AdminDN, "-w", AdminPassword)
	cmd.Stdin = strings.NewReader(ldif)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\n%s", name, err, out.String())
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost, valid for a day.
func writeCert(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

func configLDIF(dir string, opts Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: cn=config\nobjectClass: olcGlobal\ncn: config\nolcPidFile: %s/run/slapd.pid\n", dir)
	if opts.TLS {
		fmt.Fprintf(&b, "olcTLSCertificateFile: %s/cert.pem\nolcTLSCertificateKeyFile: %s/key.pem\n", dir, dir)
	}
	b.WriteString(`
dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: cn={4}ad,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: {4}ad
olcAttributeTypes: ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.55555.1.1 NAME 'adAccount' AUXILIARY MAY ( userAccountControl $ sAMAccountName ) )

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
`)
	fmt.Fprintf(&b, "olcSuffix: %s\nolcRootDN: %s\nolcRootPW: %s\nolcDbDirectory: %s/db\n", BaseDN, AdminDN, AdminPassword, dir)
	b.WriteString("olcDbMaxSize: 1073741824\nolcDbNoSync: TRUE\nolcDbIndex: objectClass,uid,member,uniqueMember,memberUid,sAMAccountName eq\n")
	if opts.SizeLimit > 0 {
		total := "unlimited"
		if opts.PagedTotalLimited {
			total = "hard"
		}
		fmt.Fprintf(&b, "olcLimits: {0}users size.soft=%d size.hard=%d size.prtotal=%s\n", opts.SizeLimit, opts.SizeLimit, total)
	}
	b.WriteString(`olcAccess: {0}to attrs=userPassword by self =xw by anonymous auth by * none
olcAccess: {1}to * by users read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
`)
	return b.String()
}

// baseLDIF is the skeleton every server gets: the suffix, three OUs and the
// bind service account.
const baseLDIF = `dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: ou=services,dc=example,dc=org
objectClass: organizationalUnit
ou: services

dn: cn=svc-bind,ou=services,dc=example,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: svc-bind
userPassword: bindpw
`
