// Package tlscheck reads the certificate an endpoint presents: its expiry,
// the days left, its issuer and whether it verifies. It completes a TLS
// handshake and sends nothing else. An expired or untrusted certificate is
// still reported (that is the point of the check), with why it does not
// verify.
package tlscheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math"
	"net"
	"syscall"
	"time"
)

// Cert describes the leaf certificate of one endpoint.
type Cert struct {
	Endpoint string // host:port as configured
	Subject  string // common name, else the first DNS name
	Issuer   string // issuer common name, else organisation
	DNSNames []string
	NotAfter time.Time
	// DaysLeft is the whole days from now to NotAfter, negative once expired.
	DaysLeft int
	// Verified is true when the chain verifies for the host at now;
	// VerifyError says why not ("certificate has expired", …).
	Verified    bool
	VerifyError string
}

// Checker dials endpoints. Roots nil means the system roots.
type Checker struct {
	Roots *x509.CertPool
}

// Check handshakes with endpoint (host:port; port 443 when missing) and
// reports its certificate at now.
func (c Checker) Check(ctx context.Context, endpoint string, now time.Time) (Cert, error) {
	out := Cert{Endpoint: endpoint}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		host, port = endpoint, "443"
	}
	if host == "" {
		return out, &Error{Msg: "not a host:port endpoint"}
	}
	d := tls.Dialer{
		NetDialer: &net.Dialer{},
		// Verification is done below, by hand, so that an expired or
		// untrusted certificate is still read and reported.
		Config: &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // read-only inspection, nothing is sent
	}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return out, wrap(err)
	}
	defer conn.Close()
	state := conn.(*tls.Conn).ConnectionState()
	if len(state.PeerCertificates) == 0 {
		return out, &Error{Msg: "no certificate presented"}
	}
	leaf := state.PeerCertificates[0]
	out.Subject = leaf.Subject.CommonName
	if out.Subject == "" && len(leaf.DNSNames) > 0 {
		out.Subject = leaf.DNSNames[0]
	}
	out.Issuer = leaf.Issuer.CommonName
	if out.Issuer == "" && len(leaf.Issuer.Organization) > 0 {
		out.Issuer = leaf.Issuer.Organization[0]
	}
	out.DNSNames = leaf.DNSNames
	out.NotAfter = leaf.NotAfter
	out.DaysLeft = int(math.Floor(leaf.NotAfter.Sub(now).Hours() / 24))

	inter := x509.NewCertPool()
	for _, ic := range state.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	_, verr := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: c.Roots, Intermediates: inter, CurrentTime: now})
	out.Verified = verr == nil
	if verr != nil {
		out.VerifyError = verifyReason(verr)
	}
	return out, nil
}

func verifyReason(err error) string {
	var (
		inv x509.CertificateInvalidError
		hn  x509.HostnameError
		ua  x509.UnknownAuthorityError
	)
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "certificate has expired or is not yet valid"
	case errors.As(err, &inv):
		return "certificate is invalid"
	case errors.As(err, &hn):
		return "certificate is not valid for this host"
	case errors.As(err, &ua):
		return "certificate is signed by an unknown authority"
	}
	return "certificate does not verify"
}

// Error is a failed check whose message is safe to show.
type Error struct {
	Msg string
	Err error
}

// Error returns the message, safe to show.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func wrap(err error) error {
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Msg: "no TLS handshake in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Msg: "cancelled", Err: err}
	case errors.As(err, &dns):
		return &Error{Msg: "host not found (DNS)", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Msg: "connection refused", Err: err}
	}
	return &Error{Msg: "TLS handshake failed", Err: err}
}
