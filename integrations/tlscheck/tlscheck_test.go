package tlscheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// certServer starts an HTTPS server whose certificate, issued by a test CA,
// expires at notAfter. It returns the server's host:port and the CA pool.
func certServer(t *testing.T, notAfter time.Time) (string, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Issuing CA", Organization: []string{"Test Org"}},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "api.test"},
		DNSNames: []string{"api.test", "localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return strings.TrimPrefix(srv.URL, "https://"), pool
}

func TestCheckReportsDaysLeftAndIssuer(t *testing.T) {
	now := time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)
	notAfter := now.Add(10*24*time.Hour + 3*time.Hour)
	addr, roots := certServer(t, notAfter)
	endpoint := strings.Replace(addr, "127.0.0.1", "localhost", 1)

	c, err := Checker{Roots: roots}.Check(context.Background(), endpoint, now)
	require.NoError(t, err)
	require.Equal(t, Cert{
		Endpoint: endpoint, Subject: "api.test", Issuer: "Test Issuing CA", DNSNames: []string{"api.test", "localhost"},
		NotAfter: notAfter, DaysLeft: 10, Verified: true,
	}, c)

	// The same certificate seen after it expired: still read, not verified.
	c, err = Checker{Roots: roots}.Check(context.Background(), endpoint, notAfter.Add(36*time.Hour))
	require.NoError(t, err)
	require.Equal(t, -2, c.DaysLeft)
	require.False(t, c.Verified)
	require.Equal(t, "certificate has expired or is not yet valid", c.VerifyError)

	// Against the system roots the test CA is unknown.
	c, err = Checker{}.Check(context.Background(), endpoint, now)
	require.NoError(t, err)
	require.False(t, c.Verified)
	require.Equal(t, "certificate is signed by an unknown authority", c.VerifyError)
	require.Equal(t, 10, c.DaysLeft)
}

func TestCheckFailures(t *testing.T) {
	// A listener that accepts and never answers the handshake.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Checker{}.Check(ctx, ln.Addr().String(), time.Now())
	require.EqualError(t, err, "no TLS handshake in time")
	require.Less(t, time.Since(start), 2*time.Second)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := closed.Addr().String()
	closed.Close()
	_, err = Checker{}.Check(context.Background(), addr, time.Now())
	require.EqualError(t, err, "connection refused")
}
