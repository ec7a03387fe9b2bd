package testkit

// Certificates for the SMTP sink's TLS: a CA made up for one test (a
// private relay's) and self-signed certificates like the "snakeoil" one of
// a stock Debian Postfix.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a certificate authority made up for one test.
type CA struct {
	Cert *x509.Certificate
	PEM  []byte // the CA certificate, PEM-encoded (what --smtp-ca reads)
	key  *ecdsa.PrivateKey
}

// NewCA makes a new authority.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := certTemplate("testkit CA")
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &CA{Cert: cert, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}
}

// Pool is a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue makes a server certificate for hosts (names or IP addresses)
// signed by the CA.
func (ca *CA) Issue(tb testing.TB, hosts ...string) tls.Certificate {
	tb.Helper()
	return issueCert(tb, hosts, ca.Cert, ca.key)
}

// SelfSignedCert makes a server certificate for hosts signed by its own
// key, like the "snakeoil" certificate of a stock Debian Postfix: nothing
// can verify it.
func SelfSignedCert(tb testing.TB, hosts ...string) tls.Certificate {
	tb.Helper()
	return issueCert(tb, hosts, nil, nil)
}

func issueCert(tb testing.TB, hosts []string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := certTemplate(hosts[0])
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatalf("create certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func certTemplate(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

// ServeTLS restarts s (same address) speaking TLS with cert: offering
// STARTTLS, or with implicit from the first byte, as on port 465.
func (s *SMTPServer) ServeTLS(tb testing.TB, cert tls.Certificate, implicit bool) {
	tb.Helper()
	s.Stop()
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.ImplicitTLS = implicit
	if err := s.Start(); err != nil {
		tb.Fatalf("restart SMTP server with TLS: %v", err)
	}
}
