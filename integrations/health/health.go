// Package health checks an HTTP health endpoint once, on a fresh connection,
// and reports its status and the DNS, connect, TLS, first-byte and total
// timings measured through net/http/httptrace (the runbook's curl -w load
// check). Results never carry the URL's credentials or query string.
package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxBody bounds what is read of the answer.
const maxBody = 64 << 10

// maxFields bounds the top-level fields of a JSON answer that are reported.
const maxFields = 8

// Timings are the phases of one request. A phase that did not happen (no
// DNS for an IP address, no TLS for http) is zero.
type Timings struct {
	DNS       time.Duration
	Connect   time.Duration
	TLS       time.Duration
	FirstByte time.Duration // from the start until the first response byte
	Total     time.Duration // from the start until the body was read
}

// Result is one health check.
type Result struct {
	// Target is the URL without credentials, query or fragment.
	Target     string
	StatusCode int
	Status     string // "200 OK"
	Timings    Timings
	Bytes      int64
	// Fields are scalar top-level fields of a JSON answer ("status": "ok"),
	// sorted by name, at most 8, values shortened.
	Fields []Field
}

// Field is one top-level field of a JSON health answer.
type Field struct{ Name, Value string }

// OK reports whether the endpoint answered 2xx.
func (r Result) OK() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// Checker checks one configured URL.
type Checker struct {
	url    *url.URL
	target string
	tls    *tls.Config
}

// New returns a Checker of rawURL (http or https). tlsConfig may be nil
// (system roots); tests pass the test server's roots.
func New(rawURL string, tlsConfig *tls.Config) (*Checker, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the health URL is not an http(s) URL")
	}
	return &Checker{url: u, target: Redact(u), tls: tlsConfig}, nil
}

// Target is the checked URL as shown: no credentials, query or fragment.
func (c *Checker) Target() string { return c.target }

// Redact returns u without userinfo, query and fragment.
func Redact(u *url.URL) string {
	cp := *u
	cp.User = nil
	cp.RawQuery = ""
	cp.ForceQuery = false
	cp.Fragment = ""
	cp.RawFragment = ""
	return cp.String()
}

// Check sends one GET on a new connection and measures it. ctx bounds it.
func (c *Checker) Check(ctx context.Context) (Result, error) {
	res := Result{Target: c.target}
	var (
		mu                                             sync.Mutex
		start                                          = time.Now()
		dnsStart, dnsDone, connStart, connDone         time.Time
		tlsStart, tlsDone, firstByte                   time.Time
		firstConnStart, firstDNSStart, firstTLSStarted bool
	)
	trace := &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) {
			mu.Lock()
			defer mu.Unlock()
			if !firstDNSStart {
				dnsStart, firstDNSStart = time.Now(), true
			}
		},
		DNSDone: func(httptrace.DNSDoneInfo) { mu.Lock(); dnsDone = time.Now(); mu.Unlock() },
		ConnectStart: func(string, string) {
			mu.Lock()
			defer mu.Unlock()
			if !firstConnStart {
				connStart, firstConnStart = time.Now(), true
			}
		},
		ConnectDone: func(string, string, error) { mu.Lock(); connDone = time.Now(); mu.Unlock() },
		TLSHandshakeStart: func() {
			mu.Lock()
			defer mu.Unlock()
			if !firstTLSStarted {
				tlsStart, firstTLSStarted = time.Now(), true
			}
		},
		TLSHandshakeDone:     func(tls.ConnectionState, error) { mu.Lock(); tlsDone = time.Now(); mu.Unlock() },
		GotFirstResponseByte: func() { mu.Lock(); firstByte = time.Now(); mu.Unlock() },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, c.url.String(), nil)
	if err != nil {
		return res, &Error{Msg: "cannot build the request", Err: err}
	}
	req.Header.Set("User-Agent", "oncallbot-diagnostics")
	req.Header.Set("Accept", "application/json, */*")
	// A fresh transport per check: a reused connection would hide DNS,
	// connect and TLS times.
	tr := &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DisableKeepAlives: true,
		TLSClientConfig:   c.tls,
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return res, wrap(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	end := time.Now()
	if err != nil {
		return res, wrap(err)
	}
	mu.Lock()
	defer mu.Unlock()
	res.StatusCode = resp.StatusCode
	res.Status = resp.Status
	res.Bytes = int64(len(body))
	res.Timings = Timings{
		DNS:       span(dnsStart, dnsDone),
		Connect:   span(connStart, connDone),
		TLS:       span(tlsStart, tlsDone),
		FirstByte: span(start, firstByte),
		Total:     end.Sub(start),
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") || json.Valid(body) {
		res.Fields = fields(body)
	}
	return res, nil
}

func span(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return 0
	}
	return b.Sub(a)
}

// fields returns the scalar top-level fields of a JSON object.
func fields(body []byte) []Field {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil
	}
	var out []Field
	for k, raw := range obj {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			continue
		}
		switch x := v.(type) {
		case string:
			out = append(out, Field{Name: short(k, 40), Value: short(x, 60)})
		case float64, bool:
			out = append(out, Field{Name: short(k, 40), Value: fmt.Sprint(x)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) > maxFields {
		out = out[:maxFields]
	}
	return out
}

func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Error is a failed check whose message is safe to show (no URL, no body).
type Error struct {
	Msg string
	Err error
}

// Error returns the message, safe to show.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func wrap(err error) error {
	var (
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		hn   x509.HostnameError
		inv  x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Msg: "no answer in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Msg: "cancelled", Err: err}
	case errors.As(err, &dns):
		return &Error{Msg: "host not found (DNS)", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Msg: "connection refused", Err: err}
	case errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &inv), errors.As(err, &cert):
		return &Error{Msg: "TLS certificate not accepted", Err: err}
	}
	return &Error{Msg: "request failed", Err: err}
}
