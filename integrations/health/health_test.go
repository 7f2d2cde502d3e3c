package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckTLSWithTimings(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/health" {
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok","db":"ok","uptime":1234,"deps":{"qdrant":"ok"}}`)
	}))
	defer srv.Close()
	cfg := &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	u := strings.Replace(srv.URL, "https://", "https://user:hunter2@", 1) + "/health?token=s3cret"
	c, err := New(u, cfg)
	require.NoError(t, err)
	require.Equal(t, srv.URL+"/health", c.Target())

	res, err := c.Check(context.Background())
	require.NoError(t, err)
	require.True(t, res.OK())
	require.Equal(t, "200 OK", res.Status)
	require.Equal(t, srv.URL+"/health", res.Target)
	require.Equal(t, []Field{{"db", "ok"}, {"status", "ok"}, {"uptime", "1234"}}, res.Fields)
	tm := res.Timings
	require.Zero(t, tm.DNS, "an IP address needs no DNS")
	require.Positive(t, tm.Connect)
	require.Positive(t, tm.TLS)
	require.Positive(t, tm.FirstByte)
	require.GreaterOrEqual(t, tm.Total, tm.FirstByte)
	require.GreaterOrEqual(t, tm.FirstByte, tm.Connect+tm.TLS)
	require.NotContains(t, fmt.Sprintf("%+v", res), "hunter2")
	require.NotContains(t, fmt.Sprintf("%+v", res), "s3cret")
}

func TestCheckDNSAndStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "down")
	}))
	defer srv.Close()
	c, err := New(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), nil)
	require.NoError(t, err)
	res, err := c.Check(context.Background())
	require.NoError(t, err)
	require.False(t, res.OK())
	require.Equal(t, 503, res.StatusCode)
	require.Positive(t, res.Timings.DNS)
	require.Zero(t, res.Timings.TLS)
	require.Empty(t, res.Fields)
}

func TestCheckFailures(t *testing.T) {
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	defer untrusted.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	// Only the timeout case has a short deadline: a loaded CI machine may
	// take longer than that for a TLS handshake under -race.
	tests := []struct {
		name, url, want string
		timeout         time.Duration
	}{
		{"timeout", slow.URL, "no answer in time", 200 * time.Millisecond},
		{"untrusted certificate", untrusted.URL, "TLS certificate not accepted", 10 * time.Second},
		{"refused", closedURL + "/health?key=abc", "connection refused", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.url, nil)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			_, err = c.Check(ctx)
			require.EqualError(t, err, tt.want)
		})
	}
	_, err := New("file:///etc/passwd", nil)
	require.Error(t, err)
}
