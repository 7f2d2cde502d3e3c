// Package pagerduty wraps go-pagerduty for the bot: who is on call, schedule
// overrides, incidents and the escalation policy, with retries on 429 and 5xx
// that honour ratelimit-reset / Retry-After (go-pagerduty itself never retries;
// reference/integrations.md §0.1). It returns its own small types, never
// go-pagerduty's.
package pagerduty

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
)

// DefaultAPIURL is PagerDuty's REST base URL (EU: https://api.eu.pagerduty.com).
const DefaultAPIURL = "https://api.pagerduty.com"

// Client is a PagerDuty REST client.
type Client struct {
	pd *pd.Client
	// base is the REST base URL without a trailing slash, for the raw
	// read-modify-write requests that must keep fields go-pagerduty does not model.
	base string
}

// Options configure a Client.
type Options struct {
	Token   string
	BaseURL string // PAGERDUTY_API_URL; default DefaultAPIURL
	// Transport is the underlying transport (metrics counting); default http.DefaultTransport.
	Transport http.RoundTripper
	// MaxRetries bounds retries of one call on 429/5xx (default 4).
	MaxRetries int
	// MaxWait caps one wait between retries (default 30s).
	MaxWait time.Duration
	// Sleep waits between retries; tests pass a recorder. Default: a timer
	// that stops early when the request's context ends.
	Sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Client.
func New(o Options) *Client {
	if o.BaseURL == "" {
		o.BaseURL = DefaultAPIURL
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 4
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	base := o.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := pd.NewClient(o.Token, pd.WithAPIEndpoint(o.BaseURL))
	c.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &retryTransport{base: base, max: o.MaxRetries, maxWait: o.MaxWait, sleep: o.Sleep}}
	return &Client{pd: c, base: strings.TrimRight(o.BaseURL, "/")}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryTransport retries 429 and 5xx responses and connection errors,
// waiting for Retry-After or ratelimit-reset when given, else exponential
// backoff with jitter. Bodies are rewound through GetBody.
type retryTransport struct {
	base    http.RoundTripper
	max     int
	maxWait time.Duration
	sleep   func(ctx context.Context, d time.Duration) error
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.GetBody == nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		body = b
	}
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 || body != nil {
			r = req.Clone(req.Context())
			switch {
			case req.GetBody != nil:
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = b
			case body != nil:
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
		}
		resp, err := t.base.RoundTrip(r)
		retryable := err != nil || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		if !retryable || attempt >= t.max {
			return resp, err
		}
		wait := backoff(attempt)
		if resp != nil {
			if d, ok := retryAfter(resp.Header); ok {
				wait = d
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		if wait > t.maxWait {
			wait = t.maxWait
		}
		if err := t.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << attempt
	return d + time.Duration(rand.Int64N(int64(d/4)+1))
}

// retryAfter reads Retry-After (seconds) or PagerDuty's ratelimit-reset (seconds).
func retryAfter(h http.Header) (time.Duration, bool) {
	for _, k := range []string{"Retry-After", "Ratelimit-Reset"} {
		if v := h.Get(k); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return time.Duration(n) * time.Second, true
			}
		}
	}
	return 0, false
}
